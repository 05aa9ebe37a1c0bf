"""One call for the daily monitoring asset: read -> sample + redact -> profile -> feedback metrics.

Evaluator scores (deterministic invariants, judge rubric) and drift against a reference window
need other assets' outputs and are computed by the caller with :mod:`.profile`,
:mod:`.feedback` and :mod:`.drift`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date as date_type
from typing import Any

import pandas as pd

from eval_pipeline.monitoring.feedback import (
    MetricValue,
    evaluate_thresholds,
    feedback_metrics,
    p99_latency_ratio,
)
from eval_pipeline.monitoring.pii import RedactionConfig, Redactor
from eval_pipeline.monitoring.profile import profile_sample
from eval_pipeline.monitoring.sampling import build_stored_sample
from eval_pipeline.monitoring.traffic import malformed_summary, read_traffic_day
from eval_pipeline.project.monitoring import AlertThresholds


@dataclass
class DayResult:
    """Everything the daily asset stores or shows (no raw text)."""

    day: str
    n_read: int
    sample: pd.DataFrame  # SAMPLE_COLUMNS
    errors: list[dict[str, Any]]  # malformed lines {file, line, error}
    profile: dict[str, Any]
    metrics: dict[str, Any]  # name -> MetricValue (or float for p99_latency_ratio)
    alerts: list[Any] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """Small JSON-able summary for asset metadata."""
        return {
            "day": self.day,
            "n_read": self.n_read,
            "n_sampled": len(self.sample),
            **malformed_summary(self.errors),
            "metrics": {
                k: (v.to_dict() if isinstance(v, MetricValue) else v) for k, v in self.metrics.items()
            },
            "alerts": [a.to_dict() for a in self.alerts],
            "latency": self.profile["overall"],
        }


def process_day(
    prefix: str,
    day: str | date_type,
    rate: float,
    salt: str = "",
    redaction: RedactionConfig | dict | None = None,
    thresholds: AlertThresholds | dict | None = None,
    baseline_p99_s: float | None = None,
    filesystem: Any = None,
) -> DayResult:
    """Read one day under ``prefix``, keep the privacy-safe sample, profile it and evaluate the
    feedback / latency thresholds (safety violations come from evaluator scores: add
    ``feedback.safety_violation_rate(...)`` to ``metrics`` and call ``evaluate_thresholds`` again)."""
    frame, errors = read_traffic_day(prefix, day, filesystem=filesystem)
    n_read = len(frame)
    sample = build_stored_sample(frame, rate, salt, Redactor(redaction))
    del frame  # raw text leaves memory here
    metrics: dict[str, Any] = dict(feedback_metrics(sample)) if len(sample) else {}
    if baseline_p99_s and len(sample):
        metrics["p99_latency_ratio"] = p99_latency_ratio(sample["latency_s"], baseline_p99_s)
    th = (
        thresholds
        if isinstance(thresholds, AlertThresholds) or thresholds is None
        else AlertThresholds.model_validate(thresholds)
    )
    return DayResult(
        day=str(day),
        n_read=n_read,
        sample=sample,
        errors=errors,
        profile=profile_sample(sample) if len(sample) else {"n": 0, "overall": {}},
        metrics=metrics,
        alerts=evaluate_thresholds(metrics, th),
    )
