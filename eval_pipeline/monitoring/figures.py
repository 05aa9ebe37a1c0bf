"""What the daily monitoring assets report, apart from Dagster: plain figures and tables per step.

In: the day's stored sample, its scores, the metrics frame and alert outcomes, the judge tally.
Out: ``(numbers, tables)`` (and markdown notes) per step, which ``defs/monitoring`` wraps as asset
metadata with :func:`eval_pipeline.defs.metadata.as_metadata`: a table is ``(frame, max rows,
digits, text when empty)``.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from eval_pipeline.monitoring.day import previous_days
from eval_pipeline.monitoring.feedback import control_chart, metrics_by_day
from eval_pipeline.monitoring.profile import failure_mode_distribution, profile_sample
from eval_pipeline.monitoring.scoring import pass_rate
from eval_pipeline.project.monitoring import MonitoringConfig

Tables = dict[str, tuple[pd.DataFrame | None, int, int, str]]
NO_SCORES = "No scores: no sampled traffic or no invariants configured for its prompt templates."


def online_figures(
    sample: pd.DataFrame, scores: pd.DataFrame, tally: dict[str, Any]
) -> tuple[dict[str, Any], Tables]:
    """``online_scores``: counts, the automated pass rate, latency / TTFT, judge cost; failure modes
    and latency profiles."""
    rate, n = pass_rate(scores)
    numbers: dict[str, Any] = {
        "dagster/row_count": len(scores),
        "n_requests": len(sample),
        "automated_pass_rate": None if n == 0 else round(rate, 4),
    }
    tables: Tables = {}
    if len(scores):
        fm = failure_mode_distribution(scores, by=("eval_set", "metric"))
        tables["failure_modes"] = (fm.rename(columns={"eval_set": "prompt_template"}), 20, 4, NO_SCORES)
    else:
        numbers["failure_modes"] = NO_SCORES
    if len(sample):
        prof = profile_sample(sample)
        tables["latency_by_template"] = (prof["by_template"], 30, 3, "none")
        tables["latency_by_input_length"] = (prof["by_length_bucket"], 30, 3, "none")
        ttft = prof["overall"]["ttft_p50"]
        numbers["latency_p99_s"] = round(prof["overall"]["latency_p99"], 4)
        numbers["ttft_p50_s"] = round(ttft, 4) if ttft == ttft else None
    if tally:
        numbers.update(
            judge_requests=tally["requests"],
            judge_api_calls=tally["api_calls"],
            judge_cost_usd=tally["cost_usd"],
        )
    return numbers, tables


def previous_metrics(history: pd.DataFrame, day: str, cfg: MonitoringConfig) -> list[dict[str, Any]]:
    """The metrics of the ``debounce.m - 1`` days before ``day`` (oldest first; ``{}`` for a missing day)."""
    if cfg.debounce.m <= 1:
        return []
    by_day = metrics_by_day(history)
    return [by_day.get(d, {}) for d in previous_days(day, max(cfg.debounce.m - 1, 0))]


def _metric_rows(frame: pd.DataFrame) -> pd.DataFrame:
    if frame.empty:
        return frame
    f = frame.copy()
    f["95% CI"] = [
        ("-" if pd.isna(lo) else f"[{lo:.3f}, {hi:.3f}]") for lo, hi in zip(f["ci_low"], f["ci_high"])
    ]
    return f[["model_version", "metric", "value", "95% CI", "count", "nobs"]]


def feedback_figures(
    frame: pd.DataFrame, n_requests: int, alerts: pd.DataFrame, notes: dict[str, Any], reference_days: int
) -> tuple[dict[str, Any], Tables, dict[str, str]]:
    """``feedback_metrics``: counts and firing alerts; the metrics and alerts tables; the notes."""
    firing = alerts[alerts["firing"] != "none"] if len(alerts) else alerts
    numbers = {
        "dagster/row_count": len(frame),
        "n_requests": n_requests,
        "n_alerts_firing": len(firing),
        "reference_days": reference_days,
    }
    tables: Tables = {
        "metrics": (_metric_rows(frame), 40, 4, "No traffic today: no metrics."),
        "alerts": (alerts, 20, 4, "No thresholds evaluated (no data)."),
    }
    md = {"notes": "\n".join(f"- {k}: {v}" for k, v in notes.items()) or "none"}
    return numbers, tables, md


def p_charts(history: pd.DataFrame, metrics: dict[str, Any], day: str) -> list[tuple[str, pd.DataFrame]]:
    """``(heading, chart rows)`` of the thumbs-down and regenerate p-charts (center from the reference days)."""
    out = []
    for metric in ("thumbs_down_rate", "regenerate_rate"):
        cc = control_chart(history, metrics, day, metric)
        if len(cc):
            heading = f"**{metric}** (p-chart, center from the reference days)"
            out.append((heading, cc[["x", "value", "center", "lcl", "ucl", "out_of_control"]]))
    return out
