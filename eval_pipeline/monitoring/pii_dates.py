"""Calendar dates in traffic text that may be dates of birth, by the ``redaction.dates`` policy.

In: a text, the policy and the reference year (the traffic day's). Out: :func:`find_dates` ->
``(start, end, entity)`` spans of full calendar dates (day, month and year, numeric or with a
month name in English, German or French), each checked to be a real date.

Policies (``redaction.dates`` in ``data/monitoring.yaml``):

* ``birth_like`` (default): a full date whose year is 14 to 120 years before the reference year is
  a possible date of birth (``[DOB]``), with or without a "birth" cue nearby
  (``Please update my details: 13/07/1948.``). Recent dates (a payment last week) stay.
* ``all``: every full date is redacted: birth-like years as ``[DOB]``, others as ``[DATE]``.
* ``none``: only dates after a birth cue (``born``, ``DOB``, ``date of birth``, ``geboren``,
  ``né le``: the ``date_of_birth`` pattern of :mod:`.pii_recognizers`); no other date.

Dates after a birth cue are found by that pattern under every policy.
"""

from __future__ import annotations

import re
from datetime import date

DATE_POLICIES = ("birth_like", "all", "none")
MIN_AGE, MAX_AGE = 14, 120

_MONTHS = {
    **{
        m: i + 1
        for i, names in enumerate(
            [
                ("january", "jan", "januar", "janvier", "jänner"),
                ("february", "feb", "februar", "février", "fevrier", "févr"),
                ("march", "mar", "märz", "maerz", "mars"),
                ("april", "apr", "avril", "avr"),
                ("may", "mai"),
                ("june", "jun", "juni", "juin"),
                ("july", "jul", "juli", "juillet", "juil"),
                ("august", "aug", "août", "aout"),
                ("september", "sep", "sept", "septembre"),
                ("october", "oct", "oktober", "okt", "octobre"),
                ("november", "nov", "novembre"),
                ("december", "dec", "dezember", "dez", "décembre", "decembre", "déc"),
            ]
        )
        for m in names
    }
}
_MON = r"(?P<mon>[A-Za-zÄäÉéÛûô]{3,9})"
_YEAR = r"(?P<y>(?:1[89]|20)\d\d)"
_RXS = [
    # 13/07/1948, 07-13-1948, 13.07.1948
    re.compile(rf"(?<![\d./\-])(?P<v>(?P<a>\d{{1,2}})[./\-](?P<b>\d{{1,2}})[./\-]{_YEAR})(?![\d])"),
    # 1948-07-13
    re.compile(r"(?<![\d./\-])(?P<v>(?P<y>(?:1[89]|20)\d\d)-(?P<b>\d{1,2})-(?P<a>\d{1,2}))(?![\d\-])"),
    # 13 July 1948, 13. Juli 1948, 13th of July, 1948
    re.compile(rf"\b(?P<v>(?P<d>\d{{1,2}})(?:st|nd|rd|th|er)?\.?\s+(?:of\s+)?{_MON}\.?,?\s+{_YEAR})\b"),
    # July 13, 1948
    re.compile(rf"\b(?P<v>{_MON}\.?\s+(?P<d>\d{{1,2}})(?:st|nd|rd|th)?,?\s+{_YEAR})\b"),
]
PREFILTER = r"(?:1[89]|20)\d\d"  # RE2, vectorized: only texts with a year-like number are parsed


def _real(y: int, m: int, d: int) -> bool:
    try:
        date(y, m, d)
    except ValueError:
        return False
    return True


def _valid(m: re.Match[str]) -> int | None:
    """The year of a real calendar date matched by one of the patterns, else None."""
    y = int(m.group("y"))
    gd = m.groupdict()
    if gd.get("mon") is not None:
        month = _MONTHS.get(gd["mon"].lower())
        return y if month and _real(y, month, int(gd["d"])) else None
    a, b = int(m.group("a")), int(m.group("b"))
    if m.re is _RXS[1]:  # ISO: year-month-day
        return y if _real(y, b, a) else None
    return y if _real(y, b, a) or _real(y, a, b) else None  # day/month or month/day


def find_dates(text: str, policy: str, year: int) -> list[tuple[int, int, str]]:
    """``(start, end, entity)`` of the full dates the policy redacts: ``DATE_OF_BIRTH`` for a year
    14-120 years before ``year``, ``DATE`` for any other (``all`` only); nothing under ``none``."""
    if policy == "none":
        return []
    out: list[tuple[int, int, str]] = []
    for rx in _RXS:
        for m in rx.finditer(text):
            y = _valid(m)
            if y is None:
                continue
            birth_like = year - MAX_AGE <= y <= year - MIN_AGE
            if birth_like or policy == "all":
                out.append((m.start("v"), m.end("v"), "DATE_OF_BIRTH" if birth_like else "DATE"))
    return out
