"""``--date`` of ``run`` / ``demo``: a real date inside the evaluable range, or a clear error (exit 2).

In: the text given. Out: the ISO date, or a ValueError naming the flag, the range
(``EVAL_START_DATE`` .. today in ``EVAL_TIMEZONE``) and the fix. Plain Python.
"""

from __future__ import annotations

import datetime as dt
import os
from zoneinfo import ZoneInfo


def evaluable_range(today: dt.date | None = None) -> tuple[dt.date, dt.date]:
    """(first, last) date partition: ``EVAL_START_DATE`` (default 2026-10-01) .. today in ``EVAL_TIMEZONE``."""
    start = dt.date.fromisoformat(os.environ.get("EVAL_START_DATE", "2026-10-01"))
    tz = ZoneInfo(os.environ.get("EVAL_TIMEZONE", "UTC"))
    return start, today or dt.datetime.now(tz).date()


def check_date(text: str, flag: str = "--date", today: dt.date | None = None) -> str:
    """``text`` as YYYY-MM-DD if it is a date partition that exists; else a ValueError saying why and what to do."""
    try:
        day = dt.date.fromisoformat(text)
        if len(text) != 10:
            raise ValueError
    except ValueError:
        raise ValueError(f"{flag} {text!r} is not a date: write it as YYYY-MM-DD (e.g. 2026-11-22)") from None
    first, last = evaluable_range(today)
    if not first <= day <= last:
        raise ValueError(
            f"{flag} {text} is outside the dates that can be evaluated, {first} .. {last} "
            f"(EVAL_START_DATE .. today in {os.environ.get('EVAL_TIMEZONE', 'UTC')}): pick a date in that range"
            + (", or set EVAL_START_DATE earlier" if day < first else "")
        )
    return day.isoformat()
