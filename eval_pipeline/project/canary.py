"""The canary's metric table and its ``canary:`` configuration in ``data/monitoring.yaml``.

In: the ``canary:`` mapping (every key optional). Out: :class:`CanaryConfig` (validated, pydantic)
and, through :meth:`CanaryConfig.metric_defs`, the table of :class:`MetricDef` (what each metric
counts, its harm direction, minimum and critical effect, whether it gates the verdict) with the
config's overrides applied. The analysis that uses them is :mod:`.canary`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


@dataclass(frozen=True)
class MetricDef:
    """What one canary metric measures: ``kind`` rate (``num`` / ``den`` columns) or latency
    (``col``, quantile ``q``); ``harm`` the worse direction; ``effect`` the unit of the minimum effect
    (``relative`` to production's rate, ``absolute`` difference, ``ratio`` of quantiles)."""

    kind: Literal["rate", "latency"]
    num: str = ""
    den: str = ""
    col: str = ""
    q: float = 0.0
    harm: Literal["higher", "lower"] = "higher"
    effect: Literal["relative", "absolute", "ratio"] = "relative"
    min_effect: float = 0.15
    critical_effect: float = 0.25
    gate: bool = True


METRICS: dict[str, MetricDef] = {
    "thumbs_down_rate": MetricDef("rate", "fb_thumbs_down", "rated", min_effect=0.15, critical_effect=0.25),
    "regenerate_rate": MetricDef("rate", "fb_regenerate", "one", min_effect=0.20, critical_effect=0.35),
    "copy_rate": MetricDef("rate", "fb_copy", "one", harm="lower", min_effect=0.15, critical_effect=0.25),
    "task_completion_rate": MetricDef(
        "rate", "fb_task_completed", "one", harm="lower", min_effect=0.10, critical_effect=0.25
    ),
    "invariant_failure_rate": MetricDef(
        "rate", "invariant_failed", "invariant_checked", min_effect=0.20, critical_effect=0.35
    ),
    "safety_violation_rate": MetricDef(
        "rate",
        "safety_violation",
        "safety_checked",
        effect="absolute",
        min_effect=0.001,
        critical_effect=0.005,
    ),
    "error_rate": MetricDef(
        "rate", "error", "one", effect="absolute", min_effect=0.005, critical_effect=0.02
    ),
    "latency_p95": MetricDef(
        "latency", col="latency_s", q=0.95, effect="ratio", min_effect=1.5, critical_effect=3.0
    ),
    "latency_p99": MetricDef(
        "latency", col="latency_s", q=0.99, effect="ratio", min_effect=2.0, critical_effect=5.0
    ),
    "ttft_p95": MetricDef(
        "latency", col="ttft_s", q=0.95, effect="ratio", min_effect=2.0, critical_effect=5.0
    ),
    "session_continuation_rate": MetricDef(
        "rate", "continued", "one", harm="lower", min_effect=0.15, critical_effect=0.25, gate=False
    ),
}


class CanaryMetricConfig(BaseModel):
    """Override of one metric's minimum / critical effect, or whether it gates the verdict."""

    model_config = ConfigDict(extra="forbid")
    min_effect: float | None = Field(None, gt=0)
    critical_effect: float | None = Field(None, gt=0)
    gate: bool | None = None


class CanaryConfig(BaseModel):
    """``canary:`` in ``data/monitoring.yaml``. Every key is optional."""

    model_config = ConfigDict(extra="forbid")
    production_model_version: str | None = Field(
        None, description="null: the version with most traffic in the window"
    )
    alpha: float = Field(0.05, gt=0, lt=1, description="false-rollback rate over the whole rollout")
    planned_looks: int = Field(48, ge=1, description="hours the latency alpha spending is spread over")
    min_looks: int = Field(6, ge=1, description="hours before a canary can be promoted")
    min_n: int = Field(50, ge=1, description="fewer requests in an arm: the look carries no evidence")
    lookback_hours: int = Field(72, ge=1, le=24 * 14, description="longest rollout analysed")
    short_window_hours: int = Field(1, ge=1)
    long_window_hours: int = Field(24, ge=1)
    max_latency_values: int = Field(
        2000, ge=100, description="latency values per arm and look (hash subsample)"
    )
    metrics: dict[str, CanaryMetricConfig] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _known(self) -> CanaryConfig:
        unknown = sorted(set(self.metrics) - set(METRICS))
        if unknown:
            raise ValueError(f"unknown canary metrics {unknown}; known: {sorted(METRICS)}")
        return self

    def metric_defs(self) -> dict[str, MetricDef]:
        """The metric table with this config's overrides applied."""
        out = {}
        for name, d in METRICS.items():
            o = self.metrics.get(name)
            out[name] = replace(
                d, **{k: v for k, v in (o.model_dump() if o else {}).items() if v is not None}
            )
        return out
