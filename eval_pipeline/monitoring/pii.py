"""PII redaction for traffic text: Presidio recognizers, libphonenumber and a spaCy NER model.

In: an array-like of strings and a :class:`~eval_pipeline.project.redaction.RedactionConfig` (``redaction:`` of
``data/monitoring.yaml``). Out: the redacted Arrow array and the number of redactions per text
(:meth:`Redactor.redact_array`), or the detected spans (:meth:`Redactor.analyze`). Every path that
stores traffic text (stored sample, hourly canary rows, shadow candidate answers, malformed-line
reports and the logs quoting them) goes through :func:`redactor_for`, the one place a redactor is
built; the recognizers are listed in :mod:`.pii_recognizers`.

Modes: ``full`` (default) = structured recognizers + NER (PERSON, LOCATION; addresses join NER
places with the address patterns); ``structured`` = no NER, for very large days.

How it is fast: an array is dictionary-encoded and each distinct text is analyzed once (a day's
traffic repeats greetings, templated prompts and answers); each recognizer has an RE2 pre-filter
(and optionally a second RE2 ``guard``) that runs vectorized in Arrow over all texts;
the (Python) recognizer runs only on the texts its pre-filter matched. NER runs only on texts with a
mid-sentence capitalised word that no pattern explained (``NER_PREFILTER``), in ``nlp.pipe`` batches
with only the ``ner`` component enabled. Overlapping detections are merged (the longer span wins), then spliced out
(Presidio's ``AnonymizerEngine`` did the same at a quarter of the redaction time, so it is not used).

Replacement: ``token`` -> ``[PERSON]``; ``hash`` -> ``[PERSON:<8 hex>]``, an HMAC-SHA256 of the
normalized value keyed by the salt in ``hash_salt_env`` and the day, so equal values are equal
within a day and unlinkable across days; the salt is read from the environment, never stored.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import re2
import regex

from eval_pipeline.monitoring.pii_extend import extend_spans
from eval_pipeline.monitoring.pii_ner import NER_PREFILTER, NerRecognizer, country_names
from eval_pipeline.monitoring.pii_recognizers import build_recognizers
from eval_pipeline.project.redaction import ENTITIES, ExtraPattern, RedactionConfig  # noqa: F401 (re-export)

if TYPE_CHECKING:  # presidio pulls in transformers / torch: imported when a redactor is built, not at load
    from presidio_analyzer import RecognizerResult

Replacer = Callable[[str, str], str]  # (value, entity type) -> replacement

TOKENS = {etype: token for etype, token in ENTITIES.values()} | {"DATE": "[DATE]"}  # DATE: dates: all
_NER_RX = regex.compile(NER_PREFILTER)
# what may separate two pieces of one address: commas, spaces, and up to four capitalised words (a town)
_RE2_QUIET = re2.Options()
_RE2_QUIET.log_errors = False
_DEDUPE_MIN = 64  # arrays at least this long are dictionary-encoded so each distinct text is analyzed once
_MERGE_GAP = re.compile(r"^[\s,]*(?:[A-ZÀ-ÖØ-Þ][\w'’\-]*[\s,]+){0,4}$")


def _to_arrow(texts: Any) -> pa.Array:
    if isinstance(texts, pa.ChunkedArray):
        texts = texts.combine_chunks()
    if not isinstance(texts, pa.Array):
        if hasattr(texts, "array") and hasattr(texts.array, "__arrow_array__"):
            texts = pa.array(texts.array)
        else:
            texts = pa.array(
                list(texts) if not isinstance(texts, (list, np.ndarray)) else texts, type=pa.string()
            )
    if isinstance(texts, pa.ChunkedArray):  # e.g. a Series built by pd.concat
        texts = texts.combine_chunks()
    if not (pa.types.is_string(texts.type) or pa.types.is_large_string(texts.type)):
        texts = texts.cast(pa.string())
    return pc.fill_null(texts, "")


def _rows(mask: pa.Array) -> np.ndarray:
    return np.flatnonzero(mask.to_numpy(zero_copy_only=False))


class Redactor:
    """Finds and replaces PII in many texts at once; build once and reuse (:func:`redactor_for` caches)."""

    def __init__(self, config: RedactionConfig | dict[str, Any] | None = None, day: str | None = None):

        if isinstance(config, dict):
            config = RedactionConfig.model_validate(config)
        self.config = cfg = config or RedactionConfig()
        self.day = day
        self.recognizers = build_recognizers(cfg, (lambda: int(day[:4])) if day else None)
        self._union = "|".join(f"(?:{r.prefilter})" for r in self.recognizers)
        want = {ENTITIES[e][0] for e in cfg.entities}
        ner_types: set[str] = {t for t in ("PERSON", "LOCATION") if t in want}
        if "ADDRESS" in want:
            ner_types.add("LOCATION")  # joined with address patterns; a lone place stays LOCATION-or-nothing
        self.ner = (
            NerRecognizer(cfg.ner_model, cfg.ner_batch_size, ner_types)
            if cfg.uses_ner and ner_types
            else None
        )
        self._keep_location = "LOCATION" in want
        self._want = want
        self._allow = {a.lower() for a in cfg.allow_list}
        # RE2 (linear time), the syntax they are validated in: a user pattern never backtracks
        self._extra = [(p, re2.compile(p.regex, options=_RE2_QUIET)) for p in cfg.extra_patterns]
        if cfg.replacement == "hash" and not os.environ.get(cfg.hash_salt_env):
            raise ValueError(
                f"redaction.replacement: hash needs a secret salt in ${cfg.hash_salt_env} "
                "(the salt is read from the environment and never stored)"
            )
        self._rep: Replacer | None = None

    # ------------------------------------------------------------------ detection
    def analyze(self, texts: Any) -> list[list[RecognizerResult]]:
        """Detected spans (Presidio ``RecognizerResult``: entity_type, start, end, score) per text,
        after threshold, allow-list, address joining and overlap resolution."""
        arr = _to_arrow(texts)
        found = self._analyze(arr, arr.to_pylist() if len(arr) < 64 else None)
        return [list(found.get(i, ())) for i in range(len(arr))]

    def _analyze(self, arr: pa.Array, pylist: list[str] | None) -> dict[int, list[RecognizerResult]]:
        """Spans of the texts of ``arr`` that have any, by row (sparse: 1M empty lists cost more than
        the analysis of a day's clean texts). Each distinct text is analyzed once (traffic repeats
        itself: greetings, templated prompts and answers); rows get copies of their text's span list."""
        if pylist is None and len(arr) >= _DEDUPE_MIN:
            enc = pc.dictionary_encode(arr)
            if len(enc.dictionary) < len(arr):
                codes = enc.indices.to_numpy(zero_copy_only=False)
                spans_u = self._analyze_distinct(enc.dictionary, None)
                if not spans_u:
                    return {}
                hit = np.zeros(len(enc.dictionary), dtype=bool)
                hit[list(spans_u)] = True
                return {i: list(spans_u[codes[i]]) for i in np.flatnonzero(hit[codes]).tolist()}
        return self._analyze_distinct(arr, pylist)

    def _analyze_distinct(self, arr: pa.Array, pylist: list[str] | None) -> dict[int, list[RecognizerResult]]:
        len(arr)
        found: dict[int, list[RecognizerResult]] = {}
        cache: dict[int, str] = {}

        def text(i: int) -> str:
            if pylist is not None:
                return pylist[i]
            t = cache.get(i)
            if t is None:
                t = cache[i] = arr[i].as_py()
            return t

        thr = self.config.score_threshold
        if self.recognizers:
            # one RE2 pass with the union of the pre-filters, then each pre-filter on the survivors only
            cand = _rows(pc.match_substring_regex(arr, self._union))
            sub = arr.take(pa.array(cand, type=pa.int64())) if len(cand) else None
            for rec in self.recognizers if len(cand) else ():
                assert sub is not None  # taken whenever there are candidates
                js = _rows(pc.match_substring_regex(sub, rec.prefilter))
                if rec.guard is not None and len(js):
                    js = js[
                        _rows(pc.match_substring_regex(sub.take(pa.array(js, type=pa.int64())), rec.guard))
                    ]
                for j in js:
                    i = int(cand[j])
                    t = _blank(text(i), found.get(i, ())) if rec.masked else text(i)
                    hits = [r for r in rec.find(t) if r.score >= thr]
                    if hits:
                        found.setdefault(i, []).extend(hits)
        for p, rx in self._extra:
            for i in _rows(pc.match_substring_regex(arr, p.regex)):
                from presidio_analyzer import RecognizerResult

                hits = [
                    RecognizerResult(f"EXTRA:{p.token}", m.start(), m.end(), 1.0)
                    for m in rx.finditer(text(int(i)))
                ]
                found.setdefault(int(i), []).extend(hits)
        if self.ner is not None:
            # NER only where a capitalised word is left that no pattern explained already
            idx = [int(i) for i in _rows(pc.match_substring_regex(arr, NER_PREFILTER))]
            idx = [i for i in idx if i not in found or _NER_RX.search(_blank(text(i), found[i]))]
            if idx:
                for i, spans in zip(idx, self.ner.find_many([text(i) for i in idx])):
                    if spans:
                        found.setdefault(i, []).extend(spans)
        out: dict[int, list[RecognizerResult]] = {}
        for i, spans in found.items():
            kept = self._finish(text(i), spans)
            if kept:
                out[i] = kept
        return out

    def _allowed(self, value: str) -> bool:
        """An allow-listed term, a country, or a span holding an allow-listed word (``Mastercard ATM``)."""

        v = value.strip(" .,").lower()
        if v in self._allow or v in country_names() or (v.startswith("the ") and v[4:] in country_names()):
            return True
        return any(w in self._allow for w in v.split()) and len(v.split()) <= 3

    def _finish(self, text: str, spans: list[RecognizerResult]) -> list[RecognizerResult]:
        spans = [s for s in spans if not self._allowed(text[s.start : s.end])]
        spans = extend_spans(text, _join_addresses(text, spans), self._allow)
        if not self._keep_location:
            spans = [s for s in spans if s.entity_type != "LOCATION"]
        return _resolve(spans)

    # ---------------------------------------------------------------- replacement
    def _replacer(self) -> Replacer:
        """``value, entity_type -> replacement``: the token, or the token with a daily HMAC of the value."""
        if self.config.replacement == "token":
            return lambda value, etype: _token(etype)
        key = f"{os.environ.get(self.config.hash_salt_env, '')}:{self.day or _today()}".encode()

        def hashed(value: str, etype: str) -> str:
            norm = re.sub(r"[\s\-.]", "", value).lower()
            digest = hmac.new(key, norm.encode("utf-8"), hashlib.sha256).hexdigest()[:8]
            return f"{_token(etype)[:-1]}:{digest}]"

        return hashed

    def _replace(self, text: str, spans: list[RecognizerResult]) -> str:
        """Splice the replacements into ``text`` (spans are non-overlapping after :func:`_resolve`)."""
        if self._rep is None:
            self._rep = self._replacer()
        out, pos = [], 0
        for s in sorted(spans, key=lambda s: s.start):
            out += [text[pos : s.start], self._rep(text[s.start : s.end], s.entity_type)]
            pos = s.end
        out.append(text[pos:])
        return "".join(out)

    def redact_array(self, texts: Any) -> tuple[pa.Array, np.ndarray]:
        """Redact an array-like of strings. Returns ``(redacted Arrow array, redactions per text)``.

        Nulls become empty strings.
        """
        arr = _to_arrow(texts)
        if len(arr) == 0:
            return arr, np.zeros(0, dtype=np.int64)
        return self._apply(arr, self._analyze(arr, None))

    def redact_columns(self, *columns: Any) -> list[tuple[pa.Array, np.ndarray]]:
        """Redact aligned columns of the same rows (a request's input and output): a value found in
        one column of a row is also redacted wherever it appears in the row's other columns, so an
        answer that echoes an account number without its context word does not keep it."""
        from presidio_analyzer import RecognizerResult

        arrs = [_to_arrow(c) for c in columns]
        spans = [self._analyze(a, None) if len(a) else {} for a in arrs]
        rows = sorted({i for sp in spans for i in sp})
        for i in rows:
            texts = [a[i].as_py() for a in arrs]
            values = {
                (t[s.start : s.end], s.entity_type) for t, sp in zip(texts, spans) for s in sp.get(i, ())
            }
            for c, t in enumerate(texts):
                extra = [
                    RecognizerResult(e, a, a + len(v), 1.0)
                    for v, e in values
                    if len(v.strip()) >= 3
                    for a in _find_all(t, v)
                ]
                if extra:
                    spans[c][i] = _resolve(list(spans[c].get(i, ())) + extra)
        return [
            self._apply(a, sp) if len(a) else (a, np.zeros(0, dtype=np.int64)) for a, sp in zip(arrs, spans)
        ]

    def _apply(self, arr: pa.Array, spans: dict[int, list[RecognizerResult]]) -> tuple[pa.Array, np.ndarray]:
        counts = np.zeros(len(arr), dtype=np.int64)
        rows = sorted(i for i, s in spans.items() if s)
        if not rows:
            return arr, counts
        new_vals = [self._replace(arr[i].as_py(), spans[i]) for i in rows]
        counts[rows] = [len(spans[i]) for i in rows]
        mask = np.zeros(len(arr), dtype=bool)
        mask[rows] = True
        arr = pc.replace_with_mask(arr, pa.array(mask), pa.array(new_vals, type=arr.type))
        return arr, counts

    def redact_text(self, text: str | None) -> str:
        """Redact one string (same code path as :meth:`redact_array`)."""
        out, _ = self.redact_array([text])
        redacted: str = out[0].as_py()  # pyarrow ships no types
        return redacted

    def redact_series(self, texts: Iterable[str]) -> tuple[list[str], np.ndarray]:
        """Like :meth:`redact_array` but returns a Python list (convenient for small inputs)."""
        out, counts = self.redact_array(list(texts))
        return out.to_pylist(), counts


def _find_all(text: str, value: str) -> list[int]:
    """Start offsets of the non-overlapping occurrences of ``value`` in ``text``, left to right
    (what ``re.finditer(re.escape(value), text)`` finds, without compiling a pattern per value)."""
    out, pos = [], text.find(value)
    while pos >= 0:
        out.append(pos)
        pos = text.find(value, pos + len(value))
    return out


def _blank(text: str, spans: Iterable[RecognizerResult]) -> str:
    """``text`` with the characters of ``spans`` replaced by spaces (offsets unchanged)."""
    for s in spans:
        text = text[: s.start] + " " * (s.end - s.start) + text[s.end :]
    return text


def _token(entity_type: str) -> str:
    return entity_type.split(":", 1)[1] if entity_type.startswith("EXTRA:") else TOKENS[entity_type]


def _today() -> str:
    return datetime.now(UTC).date().isoformat()


def _join_addresses(text: str, spans: list[RecognizerResult]) -> list[RecognizerResult]:
    """Address pieces (pattern spans and NER places) that touch or are separated only by commas and
    spaces become one ADDRESS span; a NER place next to no address piece stays LOCATION."""
    from presidio_analyzer import RecognizerResult

    parts = ("ADDRESS", "LOCATION", "ADDRESS_PART")
    addr = sorted([s for s in spans if s.entity_type in parts], key=lambda s: s.start)
    if not any(s.entity_type == "ADDRESS" for s in addr):
        return [s for s in spans if s.entity_type != "ADDRESS_PART"]
    rest = [s for s in spans if s.entity_type not in parts]
    groups: list[list[RecognizerResult]] = []
    end = -1
    for s in addr:
        if groups and (s.start <= end or _MERGE_GAP.match(text[end : s.start])):
            groups[-1].append(s)
        else:
            groups.append([s])
        end = max(end, s.end) if len(groups[-1]) > 1 else s.end
    for g in groups:
        if any(s.entity_type == "ADDRESS" for s in g):
            rest.append(
                RecognizerResult(
                    "ADDRESS", min(s.start for s in g), max(s.end for s in g), max(s.score for s in g)
                )
            )
        else:
            rest.extend(s for s in g if s.entity_type == "LOCATION")
    return rest


def _resolve(spans: list[RecognizerResult]) -> list[RecognizerResult]:
    """Non-overlapping spans: the longer (then higher-scoring) span wins an overlap; overlapping
    spans of different entities are merged under the winner's type, so nothing partly survives."""
    from presidio_analyzer import RecognizerResult

    out: list[RecognizerResult] = []
    for s in sorted(spans, key=lambda s: (s.start, -(s.end - s.start), -s.score)):
        if out and s.start < out[-1].end:
            last = out[-1]
            if s.end > last.end:
                keep = last if (last.end - last.start, last.score) >= (s.end - s.start, s.score) else s
                out[-1] = RecognizerResult(keep.entity_type, last.start, s.end, max(last.score, s.score))
            continue
        out.append(s)
    return out


_CACHE: dict[tuple[str, str | None], Redactor] = {}


def redactor_for(config: RedactionConfig | dict[str, Any] | None = None, day: str | None = None) -> Redactor:
    """The redactor of a configuration (and day, for hash replacement), built once per process.

    This is the one place the monitoring steps get a redactor from (recognizers and the NER model
    load once)."""
    if isinstance(config, dict) or config is None:
        config = RedactionConfig.model_validate(config or {})
    key = (config.model_dump_json(), day if config.replacement == "hash" else None)
    red = _CACHE.get(key)
    if red is None:
        red = _CACHE[key] = Redactor(config, day)
    return red


def redact_text(text: str | None, config: RedactionConfig | dict[str, Any] | None = None) -> str:
    """Convenience: redact one string with the default (or given) configuration."""
    return redactor_for(config).redact_text(text)
