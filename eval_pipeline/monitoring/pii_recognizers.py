"""The recognizers behind the PII redactor, each with a cheap RE2 pre-filter.

In: a :class:`~.pii_config.RedactionConfig`. Out: :func:`build_recognizers` -> a list of
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

Why this module is long: it grew past 450 lines when the tree was first formatted with ruff
(line length 110); splitting it is part of the layout work in issue 23.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # presidio pulls in transformers / torch: imported when a redactor is built, not at load
    from presidio_analyzer import RecognizerResult

from eval_pipeline.monitoring.pii_config import RedactionConfig


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


def _result(entity: str, start: int, end: int, score: float) -> RecognizerResult:
    """A presidio ``RecognizerResult`` (imported lazily: the definitions load without presidio)."""
    from presidio_analyzer import RecognizerResult

    return RecognizerResult(entity, start, end, score)


def _presidio(rec, entity: str) -> Callable[[str], list[RecognizerResult]]:
    def find(text: str) -> list[RecognizerResult]:
        return rec.analyze(text, [entity], None)

    return find


def _min_digits(
    find: Callable[[str], list[RecognizerResult]], n: int
) -> Callable[[str], list[RecognizerResult]]:
    """Keep only spans with at least ``n`` digits (libphonenumber accepts short service numbers)."""

    def f(text: str) -> list[RecognizerResult]:
        return [r for r in find(text) if sum(c.isdigit() for c in text[r.start : r.end]) >= n]

    return f


def _pattern(
    rx: re.Pattern, entity: str, score: float, group: int | str = "v", ok: Callable[[str], bool] | None = None
) -> Callable[[str], list[RecognizerResult]]:
    def find(text: str) -> list[RecognizerResult]:
        out = []
        for m in rx.finditer(text):
            s, e = m.span(group)
            if s < 0 or (ok and not ok(m.group(group))):
                continue
            out.append(_result(entity, s, e, score))
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
def _tld_extract():
    import tldextract

    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)  # bundled snapshot: never fetches


def _email_recognizer():
    from presidio_analyzer.predefined_recognizers import EmailRecognizer

    class OfflineEmailRecognizer(EmailRecognizer):
        def validate_result(self, pattern_text: str):  # noqa: D102
            return _tld_extract()(pattern_text).fqdn != ""

    return OfflineEmailRecognizer()


_NUM = r"(?:number|no\.?|num\.?|nr\.?|#)"
_DATE = (
    r"\d{1,2}[./\-]\d{1,2}[./\-](?:19|20)\d{2}|(?:19|20)\d{2}-\d{1,2}-\d{1,2}"
    r"|\d{1,2}(?:st|nd|rd|th)?\s+(?:of\s+)?[A-Z][a-zé]{2,8}\.?,?\s+(?:19|20)\d{2}"
    r"|[A-Z][a-z]{2,8}\.?\s+\d{1,2}(?:st|nd|rd|th)?,?\s+(?:19|20)\d{2}"
)
DOB_RX = re.compile(
    r"(?i:\b(?:born|date\s+of\s+birth|birth\s*date|birthdate|birthday|d\.?o\.?b\.?|geboren|n[ée]e?\s+le)\b)"
    rf"[^\w\n]{{0,3}}(?:(?i:is|was|on|am|:|the)\W{{0,3}}){{0,3}}(?P<v>{_DATE})"
)
ACCOUNT_RX = re.compile(
    rf"(?i:\b(?:account|acct|a/c|konto(?:nummer)?|compte|sort\s+code)\b(?:\s+{_NUM})?)"
    r"(?:\s*(?i:is|:|-|=))?\s*(?P<v>\d[\d \-]{4,20}\d)\b"
)
PASSPORT_RX = re.compile(
    rf"(?i:\b(?:passport|reisepass|passeport|pasaporte|passaporto)\b(?:\s+{_NUM})?)"
    r"(?:\s*(?i:is|:|-|=))?\s*(?P<v>(?=[A-Z0-9]*\d)[A-Z0-9]{6,10})\b"
)
# Phone numbers in the shape users type that libphonenumber rejects as unassigned (e.g. US area code
# 293) or with a trunk "(0)" after the country code: NANP shapes and "+<cc>" + 2-5 digit groups.
PHONE_SHAPE_RX = re.compile(
    r"(?P<v>\+\d{1,3}[ .\-]?(?:\(0\))?\(?\d{1,4}\)?(?:[ .\-]?\d{2,4}){2,4}(?:\b|(?=[xX]\d))"
    r"|(?:\b(?:1|001)[ .\-])?(?:\(\b[2-9]\d{2}\)|\b[2-9]\d{2})[ .\-]?\d{3}[ .\-]\d{4}(?:\b|(?=[xX]\d))"
    r"|\(0\d{2,5}\)\s?\d{2,9}(?:[ .\-]\d{2,5}){0,2}(?:\b|(?=[xX]\d))"
    # national format with a trunk 0 ("0466 12018"), bare 10-digit NANP numbers ("7295868430"); not
    # inside a longer run of digit groups (card-like references stay)
    r"|(?<!\d[ \-])(?<![\d\-])(?:0\d{2,5}[ /\-]?\d{4,8}|[2-9]\d{2}[2-9]\d{6})(?![ \-]?\d))"
)
PHONE_PREFILTER = r"\d(?:[ \t().\-/]{0,3}\d){6,}"  # seven digits or more, in groups
_PHONE_RUN = re.compile(PHONE_PREFILTER)
_CAP = r"[A-ZÀ-ÖØ-Þ][\w'’\-]*"
_PARTICLE = r"(?:van|von|de|der|den|du|le|la|di|da|del|dos|ten|ter|zu)"
NAME_CONTEXT_RX = re.compile(
    r"(?i:\b(?:my\s+name\s+is|name\s+is|name:|this\s+is|i\s+am|i'm|signed|regards,?|thanks,?|cheers,?|"
    r"mr\.?|mrs\.?|ms\.?|miss|dr\.?|sincerely,?|account\s+holder:?|holder\s+is|recipient\s+is|beneficiary:?|"
    r"payee|my\s+(?:husband|wife|partner|son|daughter|mother|father|mum|mom|dad|friend|"
    r"brother|sister|landlord|colleague)|called|named|mister))\s+"
    rf"(?P<v>{_CAP}(?:\s+(?:{_PARTICLE}\s+){{0,2}}{_CAP}){{0,3}})"
)
# "<Name> <Surname> here": a sign-off at the start
NAME_HERE_RX = re.compile(rf"^\W*(?P<v>{_CAP}(?:\s+(?:{_PARTICLE}\s+){{0,2}}{_CAP}){{1,3}})\s+here\b")
# two or more capitalised words inside a sentence ("... to Josephine Holt but ...")
NAME_PAIR_RX = re.compile(rf"(?<=[\w,]\s)(?P<v>{_CAP}(?:\s+(?:{_PARTICLE}\s+){{0,2}}{_CAP}){{1,3}})")
_NOT_NAMES = {
    "I",
    "The",
    "My",
    "A",
    "An",
    "It",
    "There",
    "Here",
    "Not",
    "Very",
    "So",
    "Just",
    "Still",
    "Also",
    "Trying",
    "Having",
    "Looking",
    "Unable",
    "In",
    "On",
    "At",
    "From",
    "Calling",
    "Writing",
    "You",
    "Your",
    "Please",
    "Thanks",
    "Thank",
    "Hi",
    "Hello",
    "Dear",
    "Can",
    "Could",
    "Why",
    "What",
    "How",
    "When",
    "Where",
    "Is",
    "Are",
    "Do",
    "Does",
    "Did",
    "Will",
    "Would",
    "Should",
    "ATM",
    "PIN",
    "OK",
    "App",
    "Card",
    "Bank",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
}

_STREET_WORDS = (
    r"street|st|road|rd|avenue|ave|lane|ln|drive|dr|court|ct|boulevard|blvd|way|place|pl|square|sq|terrace|"
    r"crescent|close|grove|gardens|park|parkway|row|walk|hill|mews|circle|trail|highway|hwy|route|"
    r"stra(?:ß|ss)e|str\.?|weg|gasse|platz|allee|ring|damm|ufer|chaussee|"
    r"straat|laan|plein|gracht|singel|kade|dijk|"
    r"rue|avenue|boulevard|bd|chemin|all[ée]e|impasse|quai|cours|rond-point|"
    r"calle|avenida|paseo|plaza|carrer|via|viale|piazza|corso|vicolo|largo"
)
_CAPW = r"[A-ZÀ-ÖØ-Þ][\w'’\-]+"  # a capitalised word of two letters or more ("I" is not a street)
_SW = rf"(?i:{_STREET_WORDS})\b"
_DE_COMPOUND = r"[\w\-]+(?:stra(?:ß|ss)e|str\.|weg|gasse|platz|allee|ring|damm|ufer)"
ADDRESS_RXS = [
    # number first: "77763 Tony Village Suite 690", "8, avenue Manon Gillet", "221B Baker Street"
    re.compile(
        rf"\b(?P<v>\d{{1,5}}[A-Za-z]?,?\s+(?:(?:{_CAPW}|{_SW}|{_PARTICLE}|d'|l')\.?\s+){{0,5}}"
        rf"(?:{_CAPW}|{_SW})"
        r"(?:,?\s+(?i:apt\.?|apartment|suite|unit|flat|#)\s*\w+)?)"
    ),
    # street word first / German compounds: "Agnes-Wesack-Straße 26-83", "Hauptstr. 5/1", "Calle Mayor 3"
    re.compile(
        rf"(?P<v>\b(?:(?:{_CAPW}[\s\-])*{_SW}|{_DE_COMPOUND})\.?(?:\s+{_CAPW}|\s+{_PARTICLE}){{0,4}}"
        r"\s+\d{1,5}[a-zA-Z]?(?:\s*[-/]\s*\d{1,5}[a-zA-Z]?)?)\b"
    ),
    # "Flat 7, ..." / "Apt. 5" / "Studio 3"
    re.compile(r"\b(?P<v>(?i:flat|apartment|apt\.?|suite|unit|studio)\s+\d+[A-Za-z]?)\b"),
    # postcode + town: "66907 Werdau", "75001 Paris", "1012 AB Amsterdam"
    re.compile(
        rf"\b(?P<v>\d{{4,5}}(?:\s?[A-Z]{{2}})?\s+(?:{_CAPW}|{_PARTICLE})(?:[\s\-](?:{_CAPW}|{_PARTICLE}|sur|en|am|an|bei)){{0,4}})"
    ),
    # US town, state zip: "Port Judy, NV 12345"
    re.compile(rf"(?P<v>(?:{_CAPW}\s+){{0,3}}{_CAPW},?\s+[A-Z]{{2}}\s+\d{{5}}(?:-\d{{4}})?)\b"),
    # UK postcode: "S6 7LJ", "SW1A 1AA"
    re.compile(r"\b(?P<v>[A-Z]{1,2}\d[A-Z\d]?\s*\d[A-Z]{2})\b"),
]
# a street without a number ("rue de Pasquier"): an address piece only next to another one
ADDRESS_PART_RX = re.compile(
    rf"\b(?P<v>(?i:rue|avenue|boulevard|chemin|all[ée]e|impasse|place|quai|route|calle|avenida|paseo|via|viale|piazza|corso)"
    rf"\s+(?:(?:{_PARTICLE}|d'|l')\s*)*{_CAP}(?:\s+{_CAP}){{0,3}})"
)
ADDRESS_PREFILTER = r"\d.*\p{Lu}|\p{Lu}.*\d"  # a digit and a capital letter
# The street-word-first pattern (ADDRESS_RXS[1]) tries its leading word loop at every position: ~100 us
# per text in Python. It runs only on texts where this RE2 guard (vectorized) finds its tail, a street
# word followed by up to four words and a number; every ADDRESS_RXS[1] match contains one (the classes
# are supersets of Python's Unicode \w / \s / \d, the German compound suffixes are listed).
_NW = r"[^\p{L}\p{N}_]"
STREET_FIRST_PREFILTER = (
    rf"(?i:{_STREET_WORDS}|stra(?:ß|ss)e|str\.|weg|gasse|platz|allee|ring|damm|ufer)\.?"
    rf"(?:{_NW}+[A-ZÀ-ÖØ-Þ][\p{{L}}\p{{N}}_'’\-]+|{_NW}+{_PARTICLE}){{0,4}}{_NW}+\p{{Nd}}"
)
PERSON_PREFILTER = (
    r"\p{Lu}[\p{Ll}'’\-]+\s+(?:\p{Ll}{1,3}\s+){0,2}\p{Lu}\p{Ll}"
    r"|(?i:name|this is|i am|i'm|signed|regards|thanks|cheers|mrs?|ms|miss|dr|sincerely|holder|"
    r"recipient|beneficiary|payee|husband|wife|partner|son|daughter|mother|father|mum|mom|dad|friend|"
    r"brother|sister|landlord|colleague|called|named|mister)\W+\p{Lu}"
)


def _trim_degrees(text: str, start: int, end: int) -> int:
    """End of a name match without its trailing degrees / generation marks (``B`` of ``B.Sc.``,
    ``MBA``, ``II``: upper-case words that would void the name); the span growth of
    :mod:`.pii_extend` adds them back whole."""
    words = list(re.finditer(r"\S+", text[start:end]))
    while len(words) > 1 and (
        words[-1].group(0).isupper() or text[start + words[-1].end() : end + 1][:1] == "."
    ):
        words.pop()
    return start + words[-1].end() if words else end


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
        recs.append(
            Recognizer("email", "EMAIL_ADDRESS", "@", _presidio(_email_recognizer(), "EMAIL_ADDRESS"))
        )
    if "iban" in want:
        recs.append(
            Recognizer("iban", "IBAN_CODE", r"(?i)\b[a-z]{2}\d{2}", _presidio(IbanRecognizer(), "IBAN_CODE"))
        )
    if "card" in want:
        recs.append(
            Recognizer(
                "card",
                "CREDIT_CARD",
                r"\d(?:[ \-]?\d){11,18}",
                _presidio(CreditCardRecognizer(), "CREDIT_CARD"),
            )
        )
        recs.append(
            Recognizer(
                "card_luhn",
                "CREDIT_CARD",
                r"\d(?:[ \-]?\d){11,18}",
                _pattern(
                    re.compile(r"(?<![\d\-])(?P<v>\d(?:[ \-]?\d){11,18})(?![\d\-])"),
                    "CREDIT_CARD",
                    0.9,
                    ok=_card_ok,
                ),
                source="project",
            )
        )
    if "ssn" in want:
        recs.append(
            Recognizer(
                "ssn", "US_SSN", r"\d{3}[ .\-]?\d{2}[ .\-]?\d{4}", _presidio(UsSsnRecognizer(), "US_SSN")
            )
        )
    if "ip" in want:
        recs.append(
            Recognizer(
                "ip",
                "IP_ADDRESS",
                r"\d\.\d+\.\d|[0-9A-Fa-f]:[0-9A-Fa-f]*:",
                _presidio(IpRecognizer(), "IP_ADDRESS"),
            )
        )
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
                if not _PHONE_RUN.search(text):
                    break
                hits = find(text)
                for h in hits:
                    text = text[: h.start] + " " * (h.end - h.start) + text[h.end :]
                out += hits
            return out

        recs.append(Recognizer("phone", "PHONE_NUMBER", PHONE_PREFILTER, phones, masked=True))
        recs.append(
            Recognizer(
                "phone_shape",
                "PHONE_NUMBER",
                r"\d{3}\)?[ .\-]?\d{3}[ .\-]\d{4}|\+\d|\(0\d|\b0\d{2,5}[ /\-]?\d{4}|\b[2-9]\d{9}\b",
                _pattern(PHONE_SHAPE_RX, "PHONE_NUMBER", 0.4),
                source="project",
            )
        )
    if "date_of_birth" in want:
        recs.append(
            Recognizer(
                "date_of_birth",
                "DATE_OF_BIRTH",
                r"(?i)(?:born|birth|d\.?o\.?b|geboren|n[ée]e? le)\D{0,30}\d",
                _pattern(DOB_RX, "DATE_OF_BIRTH", 0.85),
                source="project",
            )
        )
    if "date_of_birth" in want and cfg.dates != "none":
        from datetime import date

        from eval_pipeline.monitoring.pii_dates import PREFILTER, find_dates

        def dates(text: str) -> list[RecognizerResult]:
            ref = year() if year is not None else date.today().year
            return [_result(e, a, b, 0.6) for a, b, e in find_dates(text, cfg.dates, ref)]

        recs.append(Recognizer("dates", "DATE_OF_BIRTH", PREFILTER, dates, source="project"))
    if "account_number" in want:
        recs.append(
            Recognizer(
                "account_number",
                "ACCOUNT_NUMBER",
                r"(?i)(?:account|acct|a/c|konto|compte|sort code)\D{0,20}\d",
                _pattern(ACCOUNT_RX, "ACCOUNT_NUMBER", 0.7),
                source="project",
            )
        )
    if "passport" in want:
        recs.append(
            Recognizer(
                "passport",
                "PASSPORT",
                r"(?i)(?:passport|reisepass|passeport|pasaporte|passaporto)\W.{0,20}\d",
                _pattern(PASSPORT_RX, "PASSPORT", 0.7),
                source="project",
            )
        )
    if "person" in want:

        def names(text: str) -> list[RecognizerResult]:
            out = []
            for rx, score in ((NAME_CONTEXT_RX, 0.6), (NAME_HERE_RX, 0.6), (NAME_PAIR_RX, 0.5)):
                for m in rx.finditer(text):
                    end = _trim_degrees(text, m.start("v"), m.end("v"))
                    words = [w for w in text[m.start("v") : end].split() if w[:1].isupper()]
                    if len(words) < (2 if rx is not NAME_CONTEXT_RX else 1) or any(
                        w.strip(".,") in _NOT_NAMES or w.isupper() for w in words
                    ):
                        continue
                    out.append(_result("PERSON", m.start("v"), end, score))
            return out

        recs.append(Recognizer("person_context", "PERSON", PERSON_PREFILTER, names, source="project"))
    if "address" in want:

        def address_spans(rxs: list[re.Pattern], parts: bool) -> Callable[[str], list[RecognizerResult]]:
            def addresses(text: str) -> list[RecognizerResult]:
                out = []
                for rx in rxs:
                    for m in rx.finditer(text):
                        words = m.group("v").split()
                        if len(words) > 1 and words[0][:1].isdigit() and words[1].strip(".,") in _NOT_NAMES:
                            continue  # "11 February", "3 Monday": a date, not a house number and street
                        if any(c.isupper() for c in m.group("v")):
                            out.append(_result("ADDRESS", m.start("v"), m.end("v"), 0.6))
                for m in ADDRESS_PART_RX.finditer(text) if parts else ():
                    out.append(_result("ADDRESS_PART", m.start("v"), m.end("v"), 0.6))
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


# Mid-sentence capitalised word (or two capitalised words at the start): the texts NER runs on.
NER_PREFILTER = r"[\p{Ll}\p{N},;:)]\s+\p{Lu}\p{Ll}|^\W*\p{Lu}\p{Ll}+\s+\p{Lu}\p{Ll}|[\p{Ll}]\s+\p{Lu}{2,}\b"
_NER_LABELS = {"PERSON": "PERSON", "GPE": "LOCATION", "LOC": "LOCATION", "FAC": "LOCATION"}


@lru_cache(maxsize=1)
def country_names() -> frozenset[str]:
    """Lower-cased country / region names (libphonenumber's English region names) and a few aliases:
    places too coarse to identify anyone, so NER LOCATION spans equal to one are kept."""
    import phonenumbers
    from phonenumbers.geocoder import _region_display_name  # libphonenumber's own region names

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
                spans.append(_result(kind, ent.start_char, ent.end_char, 0.85))
            out.append(spans)
        return out


@lru_cache(maxsize=4)
def load_ner(model: str):
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
