"""The recognizers behind the PII redactor, each with a cheap RE2 pre-filter.

In: a :class:`~eval_pipeline.project.redaction.RedactionConfig`. Out: :func:`build_recognizers` -> a list of
:class:`Recognizer` (``name``, ``entity``, ``prefilter`` RE2 pattern, ``find(text) -> spans``), and
:class:`NerRecognizer` (the spaCy model, full mode). A recognizer only runs on the texts whose
pre-filter matches (vectorized in Arrow), so clean texts cost one RE2 scan per recognizer.

Maintained libraries do the work wherever they cover the entity:

================  ==============================================================================
entity            by
================  ==============================================================================
EMAIL_ADDRESS     Presidio ``EmailRecognizer`` (TLD check against tldextract's bundled snapshot, offline)
PHONE_NUMBER      Presidio ``PhoneRecognizer`` = libphonenumber's ``PhoneNumberMatcher`` for each
                  declared locale (valid numbers only; ``+<cc>`` numbers in any locale)
CREDIT_CARD       Presidio ``CreditCardRecognizer`` (Luhn), plus a 12-19 digit Luhn pattern for the
                  Maestro / 19-digit numbers its pattern does not span
IBAN_CODE         Presidio ``IbanRecognizer`` (country format + mod-97 checksum)
US_SSN            Presidio ``UsSsnRecognizer`` (invalid area/group/serial numbers rejected)
IP_ADDRESS        Presidio ``IpRecognizer`` (validated by :mod:`ipaddress`)
PERSON, LOCATION  spaCy ``en_core_web_sm`` NER (PERSON; GPE/LOC/FAC, countries and continents kept)
================  ==============================================================================

The project's own patterns, only where nothing maintained covers the entity (Presidio's passport
and bank-account recognizers score too low without its NLP context step, which needs the full
spaCy pipeline, far too slow here): dates of birth after a birth context word (``born``, ``date of
birth``, ``DOB``, ``geboren``, ``né le``), account numbers / sort codes after ``account`` /
``sort code``, passport numbers after ``passport``, names after an introduction (``my name is``,
``this is``, ``regards,``), and street addresses (house number + street words, street-type words of
en/de/fr/nl/es/it, postcode + town). Full dates without a birth cue follow ``redaction.dates``
(:mod:`.pii_dates`); spans then grow over phone extensions, titles, degrees, neighbouring names and
the town after a street (:mod:`.pii_extend`).

The project's patterns are in :mod:`.pii_patterns`; the NER recognizer in :mod:`.pii_ner`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from eval_pipeline.monitoring.pii_dates import PREFILTER, find_dates

if TYPE_CHECKING:  # presidio pulls in transformers / torch: imported when a redactor is built, not at load
    from presidio_analyzer import EntityRecognizer, RecognizerResult
    from tldextract import TLDExtract

from eval_pipeline.monitoring.pii_patterns import (
    ACCOUNT_PREFILTER,
    ACCOUNT_RX,
    ADDRESS_PART_RX,
    ADDRESS_PREFILTER,
    ADDRESS_RXS,
    CARD_PREFILTER,
    CARD_RX,
    DOB_PREFILTER,
    DOB_RX,
    IBAN_PREFILTER,
    IP_PREFILTER,
    NAME_CONTEXT_RX,
    NAME_HERE_RX,
    NAME_PAIR_RX,
    NOT_NAMES,
    PASSPORT_PREFILTER,
    PASSPORT_RX,
    PERSON_PREFILTER,
    PHONE_PREFILTER,
    PHONE_RUN,
    PHONE_SHAPE_PREFILTER,
    PHONE_SHAPE_RX,
    SSN_PREFILTER,
    STREET_FIRST_PREFILTER,
    trim_degrees,
)
from eval_pipeline.project.redaction import RedactionConfig


@dataclass
class Recognizer:
    """One entity finder: ``prefilter`` (RE2, Arrow) selects candidate texts, ``find`` returns spans."""

    name: str
    entity: str
    prefilter: str
    find: Callable[[str], list[RecognizerResult]]
    source: str = "presidio"
    masked: bool = False  # runs on the text with the spans found so far blanked out (phone numbers)
    # a second RE2 pattern, run only on the texts ``prefilter`` matched (too costly inside the union
    # of all pre-filters: it would push RE2 off its DFA for every text)
    guard: str | None = None


def presidio_result(entity: str, start: int, end: int, score: float) -> RecognizerResult:
    """A presidio ``RecognizerResult`` (imported lazily: the definitions load without presidio)."""
    from presidio_analyzer import RecognizerResult

    return RecognizerResult(entity, start, end, score)


def _presidio(rec: EntityRecognizer, entity: str) -> Callable[[str], list[RecognizerResult]]:
    def find(text: str) -> list[RecognizerResult]:
        # these recognizers use no NLP artifacts; presidio annotates the argument without None
        return rec.analyze(text, [entity], None)  # type: ignore[arg-type]

    return find


def _min_digits(
    find: Callable[[str], list[RecognizerResult]], n: int
) -> Callable[[str], list[RecognizerResult]]:
    """Keep only spans with at least ``n`` digits (libphonenumber accepts short service numbers)."""

    def f(text: str) -> list[RecognizerResult]:
        return [r for r in find(text) if sum(c.isdigit() for c in text[r.start : r.end]) >= n]

    return f


def _pattern(
    rx: re.Pattern[str],
    entity: str,
    score: float,
    group: int | str = "v",
    ok: Callable[[str], bool] | None = None,
) -> Callable[[str], list[RecognizerResult]]:
    def find(text: str) -> list[RecognizerResult]:
        out = []
        for m in rx.finditer(text):
            s, e = m.span(group)
            if s < 0 or (ok and not ok(m.group(group))):
                continue
            out.append(presidio_result(entity, s, e, score))
        return out

    return find


def luhn_valid(digits: str) -> bool:
    """Luhn checksum of a string of digits (non-digits are ignored)."""
    ds = [int(c) for c in digits if c.isdigit()]
    if not ds:
        return False
    total = 0
    for i, d in enumerate(reversed(ds)):
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def _card_ok(m: str) -> bool:
    """13-19 digits, or 12 with a Maestro prefix (50, 56-69), passing the Luhn check."""
    digits = re.sub(r"\D", "", m)
    maestro12 = len(digits) == 12 and (digits[:2] == "50" or "56" <= digits[:2] <= "69")
    return (13 <= len(digits) <= 19 or maestro12) and luhn_valid(digits)


@lru_cache(maxsize=1)
def _tld_extract() -> TLDExtract:
    import tldextract  # noqa: PLC0415 - keeps tldextract out of `import eval_pipeline.definitions`

    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)  # bundled snapshot: never fetches


def _email_recognizer() -> EntityRecognizer:
    from presidio_analyzer.predefined_recognizers import EmailRecognizer

    class OfflineEmailRecognizer(EmailRecognizer):
        def validate_result(self, pattern_text: str) -> bool:  # noqa: D102
            return _tld_extract()(pattern_text).fqdn != ""

    return OfflineEmailRecognizer()


def _maintained(name: str, entity: str, prefilter: str, recognizer: Any) -> Recognizer:
    """A recognizer of a maintained library (a Presidio recognizer) for ``entity``."""
    return Recognizer(name, entity, prefilter, _presidio(recognizer, entity))


def _project(
    name: str,
    entity: str,
    prefilter: str,
    rx: re.Pattern[str],
    score: float,
    ok: Callable[[str], bool] | None = None,
) -> Recognizer:
    """A recognizer of the project's own pattern ``rx`` (its ``v`` group is the span)."""
    return Recognizer(name, entity, prefilter, _pattern(rx, entity, score, ok=ok), source="project")


def build_recognizers(cfg: RedactionConfig, year: Callable[[], int] | None = None) -> list[Recognizer]:
    """The structured recognizers for the configured entities (NER is separate: :class:`NerRecognizer`).

    ``year`` gives the reference year of the date policy (the traffic day's; default: this year)."""
    from presidio_analyzer.predefined_recognizers import (
        CreditCardRecognizer,
        IbanRecognizer,
        IpRecognizer,
        PhoneRecognizer,
        UsSsnRecognizer,
    )

    want = set(cfg.entities)
    recs: list[Recognizer] = []
    if "email" in want:
        recs.append(_maintained("email", "EMAIL_ADDRESS", "@", _email_recognizer()))
    if "iban" in want:
        recs.append(_maintained("iban", "IBAN_CODE", IBAN_PREFILTER, IbanRecognizer()))
    if "card" in want:
        recs.append(_maintained("card", "CREDIT_CARD", CARD_PREFILTER, CreditCardRecognizer()))
        recs.append(_project("card_luhn", "CREDIT_CARD", CARD_PREFILTER, CARD_RX, 0.9, ok=_card_ok))
    if "ssn" in want:
        recs.append(_maintained("ssn", "US_SSN", SSN_PREFILTER, UsSsnRecognizer()))
    if "ip" in want:
        recs.append(_maintained("ip", "IP_ADDRESS", IP_PREFILTER, IpRecognizer()))
    if "phone" in want:
        per_region = [
            _min_digits(_presidio(PhoneRecognizer(supported_regions=[r], leniency=1), "PHONE_NUMBER"), 7)
            for r in cfg.locales
        ]

        def phones(text: str) -> list[RecognizerResult]:
            """libphonenumber region by region; numbers found are blanked, and the loop stops as soon as
            no phone-like digit run is left (a ``+<cc>`` number is found by the first region)."""
            out: list[RecognizerResult] = []
            for find in per_region:
                if not PHONE_RUN.search(text):
                    break
                hits = find(text)
                for h in hits:
                    text = text[: h.start] + " " * (h.end - h.start) + text[h.end :]
                out += hits
            return out

        recs.append(Recognizer("phone", "PHONE_NUMBER", PHONE_PREFILTER, phones, masked=True))
        recs.append(_project("phone_shape", "PHONE_NUMBER", PHONE_SHAPE_PREFILTER, PHONE_SHAPE_RX, 0.4))
    if "date_of_birth" in want:
        recs.append(_project("date_of_birth", "DATE_OF_BIRTH", DOB_PREFILTER, DOB_RX, 0.85))
    if "date_of_birth" in want and cfg.dates != "none":

        def dates(text: str) -> list[RecognizerResult]:
            ref = year() if year is not None else date.today().year
            return [presidio_result(e, a, b, 0.6) for a, b, e in find_dates(text, cfg.dates, ref)]

        recs.append(Recognizer("dates", "DATE_OF_BIRTH", PREFILTER, dates, source="project"))
    if "account_number" in want:
        recs.append(_project("account_number", "ACCOUNT_NUMBER", ACCOUNT_PREFILTER, ACCOUNT_RX, 0.7))
    if "passport" in want:
        recs.append(_project("passport", "PASSPORT", PASSPORT_PREFILTER, PASSPORT_RX, 0.7))
    if "person" in want:

        def names(text: str) -> list[RecognizerResult]:
            out = []
            for rx, score in ((NAME_CONTEXT_RX, 0.6), (NAME_HERE_RX, 0.6), (NAME_PAIR_RX, 0.5)):
                for m in rx.finditer(text):
                    end = trim_degrees(text, m.start("v"), m.end("v"))
                    words = [w for w in text[m.start("v") : end].split() if w[:1].isupper()]
                    if len(words) < (2 if rx is not NAME_CONTEXT_RX else 1) or any(
                        w.strip(".,") in NOT_NAMES or w.isupper() for w in words
                    ):
                        continue
                    out.append(presidio_result("PERSON", m.start("v"), end, score))
            return out

        recs.append(Recognizer("person_context", "PERSON", PERSON_PREFILTER, names, source="project"))
    if "address" in want:

        def address_spans(rxs: list[re.Pattern[str]], parts: bool) -> Callable[[str], list[RecognizerResult]]:
            def addresses(text: str) -> list[RecognizerResult]:
                out = []
                for rx in rxs:
                    for m in rx.finditer(text):
                        words = m.group("v").split()
                        if len(words) > 1 and words[0][:1].isdigit() and words[1].strip(".,") in NOT_NAMES:
                            continue  # "11 February", "3 Monday": a date, not a house number and street
                        if any(c.isupper() for c in m.group("v")):
                            out.append(presidio_result("ADDRESS", m.start("v"), m.end("v"), 0.6))
                for m in ADDRESS_PART_RX.finditer(text) if parts else ():
                    out.append(presidio_result("ADDRESS_PART", m.start("v"), m.end("v"), 0.6))
                return out

            return addresses

        recs.append(
            Recognizer(
                "address",
                "ADDRESS",
                ADDRESS_PREFILTER,
                address_spans([rx for k, rx in enumerate(ADDRESS_RXS) if k != 1], True),
                source="project",
            )
        )
        recs.append(
            Recognizer(
                "address_street_first",
                "ADDRESS",
                ADDRESS_PREFILTER,
                address_spans([ADDRESS_RXS[1]], False),
                source="project",
                guard=STREET_FIRST_PREFILTER,
            )
        )
    # masked recognizers (phone numbers) last: they only see the digits nothing else explained
    return [r for r in recs if not r.masked] + [r for r in recs if r.masked]
