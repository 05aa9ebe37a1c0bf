"""Which golden rows a run sends: a sequential run's looks so far.

In: a golden frame (``golden_frame``: ``eval_set``, ``sample_id``, ...) and the units to keep (``eval_set/sample_id``,
what ``eval-pipeline run --sequential`` asks for one look at a time). Out: those rows.
"""

from __future__ import annotations

import pandas as pd


def keep_units(frame: pd.DataFrame, only: list[str]) -> pd.DataFrame:
    """The rows whose ``eval_set/sample_id`` is in ``only``; every row when ``only`` is empty."""
    if not only:
        return frame
    unit = frame["eval_set"].astype(str) + "/" + frame["sample_id"].astype(str)
    return frame[unit.isin(set(only))].reset_index(drop=True)
