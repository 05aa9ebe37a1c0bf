"""Growing detected PII spans over the neighbours that identify the same person, phone or place.

In: a text and its detected spans (Presidio ``RecognizerResult``), after address joining. Out:
:func:`extend_spans` -> the same spans, some made longer, so that no identifying piece survives
next to a token:

* ``PHONE_NUMBER``: a trailing extension (``535.915.7917x34897``, ``... ext. 12``).
* ``PERSON``: an adjacent title or degree (``Dr.``, ``Prof.``, ``Dipl.-Ing.``, ``Frau``, ``B.Eng.``,
  ``MBA``, ``II``) and an adjacent capitalised word that is not a stop word (``Isabelle [PERSON]``,
  ``[PERSON] May``), two at most on each side.
* ``ADDRESS``: the town after a comma (``[ADDRESS], Hallland``), unless it is a country.

Stop words (greetings, months, weekdays, ``Please``...) and allow-listed terms never join a span.
"""

from __future__ import annotations

import re
from collections.abc import Set as AbstractSet
from typing import TYPE_CHECKING

from eval_pipeline.monitoring.pii_ner import country_names
from eval_pipeline.monitoring.pii_patterns import NOT_NAMES, PARTICLE

if TYPE_CHECKING:  # presidio is imported when a redactor is built, not at load
    from presidio_analyzer import RecognizerResult

_UP = "A-ZÀ-ÖØ-Þ"
_PHONE_EXT = re.compile(r"[ \t]*(?i:x|ext\.?|extension|#)[ \t]*\d{1,6}(?!\d)")
TITLES = {
    "mr", "mrs", "ms", "miss", "mx", "dr", "prof", "univprof", "dipl-ing", "diplng", "ing", "herr",
    "frau", "mme", "mlle", "sir", "dame", "lady", "lord", "madame", "monsieur", "m",
}  # fmt: skip
DEGREES = {
    "bsc", "ba", "beng", "msc", "ma", "meng", "mba", "phd", "md", "dds", "dvm", "jr", "sr", "ii",
    "iii", "iv", "esq", "llb", "llm", "dphil", "mphil",
}  # fmt: skip
_MONTHS = {"January", "February", "March", "April", "May", "June", "July", "August", "September",
           "October", "November", "December"}  # fmt: skip
_STOP = (set(NOT_NAMES) - _MONTHS) | {
    "Kind", "Best", "Regards", "Many", "Cheers", "Yours", "Sincerely", "Warm", "Hey", "Send", "Add",
    "Call", "Tell", "Ask", "Pay", "Transfer", "Block", "Update", "Contact", "Help", "Check", "Thanks",
    "Bank", "Card", "Account", "Street", "Road", "Team", "Support", "Customer", "Service",
}  # fmt: skip
# a capitalised token, dots and hyphens inside ("B.Sc.", "Hans-H.", "Univ.Prof.", "O'Neil")
_TOKEN = rf"[{_UP}][\w'’\-]*(?:\.[\w\-]+)*\.?"
_RIGHT = re.compile(rf"(?P<dot>\.)?[ \t]+(?:{PARTICLE}[ \t]+)?(?P<t>{_TOKEN})")
_TAIL = re.compile(r"(?:\.-?[A-Za-zÀ-ÿ][\w\-]*)+\.?")  # the rest of "Dipl|.-Ing.", "B|.Sc."
_INITIAL = re.compile(
    rf"(?:^|[\s\-.])[{_UP}][a-z]?$"
)  # "Hans-H", "J", "Dr": a dot after it is no sentence end
_LEFT = re.compile(rf"(?<![\w'’\-.])(?P<t>{_TOKEN})[ \t]+$")
_CITY = re.compile(
    rf",[ \t]*(?P<t>[{_UP}][\w'’\-]*(?:[ \t\-](?:[{_UP}][\w'’\-]*|sur|en|am|an|bei|le|la|de|du|upon|on)){{0,3}})"
    r"(?=[ \t]*(?:[.,;:!?)]|$|[ \t]+[a-z]))"
)


def _norm(tok: str) -> str:
    return tok.replace(".", "").replace(" ", "").lower()


def _person_token(tok: str, after: str, allow: AbstractSet[str]) -> tuple[bool, int]:
    """Whether ``tok`` may join a PERSON span, and how many of its characters (a sentence-final dot
    of an ordinary word stays outside)."""
    core = tok.rstrip(".")
    if core in _STOP or tok.lower() in allow or core.lower() in allow:
        return False, 0
    if core in _MONTHS and re.match(r"[ \t]*\d", after):  # "May 5": a date, not a surname
        return False, 0
    titled = _norm(tok) in TITLES or _norm(tok) in DEGREES or "." in core
    return True, len(tok) if titled else len(core)


def _grow_person(text: str, start: int, end: int, allow: AbstractSet[str]) -> tuple[int, int]:
    tail = _TAIL.match(text, end)
    end = tail.end() if tail else end
    for _ in range(3):
        m = _RIGHT.match(text, end)
        last = text[start:end].split()[-1] if text[start:end].split() else ""
        if not m or (m.group("dot") and not (_INITIAL.search(last) or _norm(last) in TITLES)):
            break
        ok, n = _person_token(m.group("t"), text[m.end() :], allow)
        if not ok:
            break
        end = m.start("t") + n
    for _ in range(2):
        m = _LEFT.search(text[:start])
        if not m:
            break
        tok = m.group("t")
        ok, n = _person_token(tok, text[start:], allow)
        if not ok or n < len(tok):  # "Paris. Anna ...": a sentence ends before the name
            break
        start = m.start("t")
    return start, end


def _grow_address(text: str, end: int, allow: AbstractSet[str]) -> int:
    for _ in range(2):
        m = _CITY.match(text, end)
        if not m:
            break
        town = m.group("t")
        first = town.split()[0].split("-")[0]
        if first in _STOP or first in _MONTHS or town.lower() in country_names() or town.lower() in allow:
            break
        end = m.end("t")
    return end


def extend_spans(
    text: str, spans: list[RecognizerResult], allow: AbstractSet[str] = frozenset()
) -> list[RecognizerResult]:
    """The spans grown over extensions, titles, degrees, first names / surnames and towns (see module doc)."""
    from presidio_analyzer import RecognizerResult

    out = []
    for s in spans:
        start, end = s.start, s.end
        if s.entity_type == "PHONE_NUMBER":
            m = _PHONE_EXT.match(text, end)
            end = m.end() if m else end
        elif s.entity_type == "PERSON":
            start, end = _grow_person(text, start, end, allow)
        elif s.entity_type == "ADDRESS":
            end = _grow_address(text, end, allow)
        out.append(
            s if (start, end) == (s.start, s.end) else RecognizerResult(s.entity_type, start, end, s.score)
        )
    return out
