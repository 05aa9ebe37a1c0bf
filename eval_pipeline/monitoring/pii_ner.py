"""The NER recognizer of the PII redactor's full mode: spaCy ``en_core_web_sm``, only its ``ner`` component.

In: texts that pass :data:`NER_PREFILTER` (a mid-sentence capitalised word). Out: PERSON and
LOCATION spans per text (:class:`NerRecognizer`); a LOCATION equal to a country or region name
(:func:`country_names`, too coarse to identify anyone) is kept in the text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING

from eval_pipeline.monitoring.pii_recognizers import presidio_result

if TYPE_CHECKING:
    from presidio_analyzer import RecognizerResult
    from spacy.language import Language

# Mid-sentence capitalised word (or two capitalised words at the start): the texts NER runs on.
NER_PREFILTER = r"[\p{Ll}\p{N},;:)]\s+\p{Lu}\p{Ll}|^\W*\p{Lu}\p{Ll}+\s+\p{Lu}\p{Ll}|[\p{Ll}]\s+\p{Lu}{2,}\b"
_NER_LABELS = {"PERSON": "PERSON", "GPE": "LOCATION", "LOC": "LOCATION", "FAC": "LOCATION"}


@lru_cache(maxsize=1)
def country_names() -> frozenset[str]:
    """Lower-cased country / region names (libphonenumber's English region names) and a few aliases:
    places too coarse to identify anyone, so NER LOCATION spans equal to one are kept."""
    import phonenumbers  # noqa: PLC0415 - keeps phonenumbers out of `import eval_pipeline.definitions`
    from phonenumbers.geocoder import _region_display_name  # libphonenumber's own region names  # noqa: PLC0415 - keeps phonenumbers out of `import eval_pipeline.definitions`

    names = {_region_display_name(r, "en").lower() for r in phonenumbers.SUPPORTED_REGIONS}
    names |= {r.lower() for r in phonenumbers.SUPPORTED_REGIONS}
    names |= {
        "usa",
        "us",
        "u.s.",
        "u.s.a.",
        "uk",
        "u.k.",
        "america",
        "britain",
        "great britain",
        "england",
        "scotland",
        "wales",
        "europe",
        "asia",
        "africa",
        "eu",
        "the united states",
        "the us",
        "the uk",
        "the usa",
        "the eu",
        "the states",
        "north america",
        "south america",
        "latin america",
        "the netherlands",
        "holland",
        "metro",
        "the metro",
    }
    return frozenset(n for n in names if n)


@dataclass
class NerRecognizer:
    """spaCy NER (only the ``ner`` component runs) over the texts that pass :data:`NER_PREFILTER`."""

    model: str
    batch_size: int = 256
    entities: set[str] = field(default_factory=lambda: {"PERSON", "LOCATION"})

    def find_many(self, texts: list[str]) -> list[list[RecognizerResult]]:
        nlp = load_ner(self.model)
        countries = country_names()
        out: list[list[RecognizerResult]] = []
        for doc in nlp.pipe(texts, batch_size=self.batch_size):
            spans = []
            for ent in doc.ents:
                kind = _NER_LABELS.get(ent.label_)
                if kind is None or kind not in self.entities:
                    continue
                if kind == "LOCATION" and ent.text.lower().strip(" .") in countries:
                    continue
                spans.append(presidio_result(kind, ent.start_char, ent.end_char, 0.85))
            out.append(spans)
        return out


@lru_cache(maxsize=4)
def load_ner(model: str) -> Language:
    """The installed spaCy pipeline package ``model`` with only its NER path enabled (loaded once per process)."""
    import spacy

    try:
        # en_core_web_sm's NER has its own embedding layer: without the shared tok2vec it finds the
        # same entities, ~1.4x faster
        return spacy.load(
            model, exclude=["tok2vec", "tagger", "parser", "attribute_ruler", "lemmatizer", "senter"]
        )
    except OSError as exc:
        raise RuntimeError(
            f"NER model {model!r} is not installed: it is a pinned dependency in pyproject.toml "
            f"(pip install -e .), or set redaction.mode: structured in data/monitoring.yaml ({exc})"
        ) from None
