"""Markdown tables for Dagster metadata and reports: the regression report's rows, the history's alerts.

In: a DataFrame. Out: a small GitHub-style markdown table (:func:`markdown_table`). It lives with the
regression report, its first user on the path; ``history/`` (beside the path) renders its tables with it too.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd


def _fmt(v: Any) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v).replace("|", "\\|").replace("\n", " ")


def markdown_table(df: pd.DataFrame, max_rows: int = 25) -> str:
    """A small GitHub-style markdown table of the first ``max_rows`` rows (notes how many were cut)."""
    if df is None or df.empty:
        return "_(no rows)_\n"
    cols = list(df.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for rec in df.head(max_rows).itertuples(index=False):
        lines.append("| " + " | ".join(_fmt(v) for v in rec) + " |")
    if len(df) > max_rows:
        lines.append(f"\n_{len(df) - max_rows} more row(s) not shown_")
    return "\n".join(lines) + "\n"
