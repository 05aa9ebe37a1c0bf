"""What ``canary_analysis`` stores, alerts and shows for one hour, apart from Dagster.

In: the hourly rows of the lookback window and the canary config. Out: :func:`analyze_hour` (the
production version and a :class:`~.canary.CanaryResult` per canary serving this hour),
:func:`verdict_rows` (the ``canary_verdicts`` table), :func:`verdict_alert` (the alert payload of a
promote / roll back verdict) and :func:`canary_figures` (the asset's figures and tables).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from eval_pipeline.monitoring.canary import (
    CanaryResult,
    analyze_canary,
    canaries,
    production_version,
    rollout_hours,
)
from eval_pipeline.project.canary import CanaryConfig

METRIC_TABLE = [
    "metric",
    "status",
    "effect",
    "ci_low",
    "ci_high",
    "min_effect",
    "p_value",
    "naive_p",
    "level",
    "n_canary",
    "n_production",
    "test",
]


def analyze_hour(
    rows: pd.DataFrame, hour: str, hours: list[str], cfg: CanaryConfig
) -> tuple[str | None, list[CanaryResult]]:
    """The production version (configured, else most traffic over the lookback window) and the
    result of every canary serving this hour."""
    prod = production_version(rows, cfg) if len(rows) else None
    if prod is None:
        return None, []
    return prod, [
        analyze_canary(rows, canary, prod, rollout_hours(rows, canary, hours), cfg)
        for canary in canaries(rows, prod, hour)
    ]


def verdict_rows(results: list[CanaryResult], hour: str) -> pd.DataFrame:
    """One row per canary of this hour: its verdict, deciding metrics, severity and test."""
    return pd.DataFrame(
        [
            {
                "hour": hour,
                "canary": r.canary,
                "production": r.production,
                "verdict": r.verdict,
                "deciding": ", ".join(r.deciding),
                "severity": r.severity,
                "n_looks": r.n_looks,
                "bonferroni_m": r.m,
                "alpha": r.alpha,
                "reason": r.reason,
            }
            for r in results
        ],
        columns=[
            "hour",
            "canary",
            "production",
            "verdict",
            "deciding",
            "severity",
            "n_looks",
            "bonferroni_m",
            "alpha",
            "reason",
        ],
    )


def verdict_alert(r: CanaryResult, hour: str, report: str, ui_url: str) -> dict[str, Any]:
    """The alert of a promote / roll back verdict: the deciding metrics' rows and where to look."""
    return {
        "kind": "canary_verdict",
        "hour": hour,
        "canary": r.canary,
        "production": r.production,
        "verdict": r.verdict,
        "deciding_metrics": r.deciding,
        "severity": r.severity,
        "reason": r.reason,
        "n_looks": r.n_looks,
        "report": report,
        "metrics": r.metrics[r.metrics.metric.isin(r.deciding)].to_dict("records"),
        "url": f"{ui_url}/assets/canary_analysis",
    }


def canary_figures(
    prod: str | None, results: list[CanaryResult], verdicts: pd.DataFrame
) -> tuple[dict[str, Any], dict[str, tuple[pd.DataFrame, int, int, str]]]:
    """``(numbers, tables)`` of ``canary_analysis``: the verdicts, and per canary its verdict line,
    metrics table and hourly story."""
    numbers: dict[str, Any] = {"production": prod or "none", "n_canaries": len(results)}
    tables = {"verdicts": (verdicts, 20, 4, "no canary served traffic this hour")}
    for r in results:
        numbers[f"{r.canary}: verdict"] = (
            f"{r.verdict} ({r.reason}; look {r.n_looks}, alpha {r.alpha} / m={r.m})"
        )
        tables[f"{r.canary}: metrics"] = (r.metrics[METRIC_TABLE], 20, 5, "none")
        story = r.story.assign(deciding=r.story["deciding"].map(", ".join))
        tables[f"{r.canary}: hourly story"] = (story, 72, 4, "none")
    return numbers, tables
