"""The ``eval_history`` step apart from Dagster: refresh the history, read it back, say what it holds.

In: a warehouse root, the local DuckDB path, the written report and alert URIs. Out:
:func:`refresh_and_read` (the refresh result and the ``score_history`` / ``ops_history`` frames),
:func:`history_figures` (the asset's figures, JSON, markdown and paths: row counts, dates
re-aggregated or reused, the latest date's alerts, the runs whose answers were not live).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from eval_pipeline.history import aggregate, runs
from eval_pipeline.history.sources import HistorySources
from eval_pipeline.regression.markdown import markdown_table

NOT_LIVE = (
    "NOT LIVE - these runs used replayed or synthetic answers; a live candidate is never compared with them:"
)
EMPTY = "No scored runs yet: history is empty (it fills as evaluation partitions are materialized)."


def refresh_and_read(con: Any, root: str, db_path: str) -> tuple[Any, pd.DataFrame, pd.DataFrame]:
    """Refresh the history of every complete run under ``root``; ``(refresh, scores, ops)``."""
    sources = HistorySources.for_root(root, complete_runs_only=True)
    refresh = aggregate.refresh_history(con, sources, db_path=db_path, parquet_dir=f"{root}/history")
    hist = runs.open_history(db_path)
    try:
        return (
            refresh,
            hist.execute("SELECT * FROM score_history").df(),
            hist.execute("SELECT * FROM ops_history").df(),
        )
    finally:
        hist.close()


def history_figures(
    refresh: Any, ops: pd.DataFrame, current_alerts: pd.DataFrame, report_bytes: int
) -> tuple[dict[str, Any], dict[str, Any], dict[str, str]]:
    """``(numbers, json, markdown)`` of ``eval_history``."""
    non_live = runs.non_live_runs(ops)
    numbers: dict[str, Any] = {
        "dagster/row_count": int(refresh.row_counts.get("score_history", 0)),
        "refresh_seconds": round(refresh.seconds, 3),
        "dates_reaggregated": len(refresh.dates_aggregated),
        "dates_reused": len(refresh.dates_reused),
        "dates_removed": len(refresh.dates_removed),
        "html_report_mb": round(report_bytes / 1e6, 2),
        "n_alerts_latest_date": len(current_alerts),
        "n_non_live_runs": len(non_live),
    }
    if refresh.empty:
        numbers["note"] = EMPTY
    md = {
        "alerts_latest_date": markdown_table(current_alerts)
        if len(current_alerts)
        else "No alerts on the latest date.",
        "non_live_runs": f"{NOT_LIVE}\n\n{markdown_table(non_live)}"
        if len(non_live)
        else "Every recorded answer was live.",
    }
    return numbers, {"row_counts": refresh.row_counts}, md
