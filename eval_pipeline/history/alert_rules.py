"""The alert rules' configuration: which rules run, their thresholds, debouncing and severities.

In: the ``alerts:`` mapping of the project config (or nothing: the seed defaults). Out:
:class:`AlertRules` (validated; every error names ``alerts.<key>`` and the fix) and
:func:`quality_alerts_description`, the one-sentence summary of the rules with their figures.
The rules themselves run in :mod:`eval_pipeline.history.alerts`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from eval_pipeline.history.control_charts import CHARTS

RULES = (
    "pass_rate_drop",
    "dimension_below_threshold",
    "latency_p95_increase",
    "cost_increase",
    "control_chart",
)


@dataclass
class DimensionThreshold:
    """Minimum for one metric: ``field`` is ``mean_value`` (e.g. judge score) or ``pass_rate``."""

    min: float
    field: str = "mean_value"


@dataclass
class AlertRules:
    """Alert configuration; every field has the seed default. Fractions: 0.03 = 3 points / 3 %."""

    trailing_days: int = 7
    min_trailing_points: int = 3
    pass_rate_drop: float = 0.03
    trend_alpha: float = 0.05
    dimension_thresholds: dict[str, DimensionThreshold] = field(default_factory=dict)
    consecutive_days: int = 2
    latency_p95_increase: float = 0.20
    quality_gain: float = 0.01
    cost_increase: float = 0.25
    debounce_k: int = 2
    debounce_m: int = 3
    control_chart: str | None = "ewma"
    control_window: int = 30
    control_baseline_points: int = 7
    control_sigma: float | None = None
    include_segments: bool = False
    severity: dict[str, str] = field(
        default_factory=lambda: {
            "pass_rate_drop": "ERROR",
            "dimension_below_threshold": "ERROR",
            "latency_p95_increase": "WARN",
            "cost_increase": "WARN",
            "control_chart": "WARN",
        }
    )

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None, where: str = "alerts") -> AlertRules:
        """From a config mapping. ``dimension_thresholds`` values may be a number (minimum of
        ``mean_value``) or ``{min: .., field: mean_value|pass_rate}``. Errors name ``where.<key>``."""
        data = dict(data or {})
        unknown = sorted(set(data) - set(cls.__dataclass_fields__))
        if unknown:
            raise ValueError(
                f"{where}: unknown key(s) {unknown}; allowed: {sorted(cls.__dataclass_fields__)}"
            )
        dims = {}
        for metric, spec in (data.pop("dimension_thresholds", None) or {}).items():
            if isinstance(spec, (int, float)):
                dims[metric] = DimensionThreshold(float(spec))
            elif isinstance(spec, dict) and "min" in spec:
                dims[metric] = DimensionThreshold(float(spec["min"]), spec.get("field", "mean_value"))
            else:
                raise ValueError(
                    f"{where}.dimension_thresholds.{metric}: give a number or "
                    f"{{min: <number>, field: mean_value|pass_rate}}, got {spec!r}"
                )
        sev = dict(cls().severity) | dict(data.pop("severity", None) or {})
        rules = cls(dimension_thresholds=dims, severity=sev, **data)
        rules.validate(where)
        return rules

    def validate(self, where: str = "alerts") -> None:
        """Raise ``ValueError`` naming the bad key and the fix."""
        if not 1 <= self.debounce_k <= self.debounce_m:
            raise ValueError(
                f"{where}.debounce_k/debounce_m: need 1 <= k <= m, got {self.debounce_k}/{self.debounce_m}"
            )
        if self.control_chart not in (None, "p_chart", *CHARTS):
            raise ValueError(
                f"{where}.control_chart={self.control_chart!r}: use one of {['p_chart', *CHARTS]} or null"
            )
        for k, v in self.severity.items():
            if k not in RULES or v not in ("WARN", "ERROR"):
                raise ValueError(
                    f"{where}.severity.{k}={v!r}: rule must be one of {RULES}, severity WARN or ERROR"
                )
        for m, t in self.dimension_thresholds.items():
            if t.field not in ("mean_value", "pass_rate"):
                raise ValueError(
                    f"{where}.dimension_thresholds.{m}.field={t.field!r}: use mean_value or pass_rate"
                )
        if not 0 < self.trend_alpha < 1:
            raise ValueError(f"{where}.trend_alpha: must be in (0, 1), got {self.trend_alpha}")
        for name in ("pass_rate_drop", "latency_p95_increase", "cost_increase"):
            if getattr(self, name) < 0:
                raise ValueError(f"{where}.{name}: must be >= 0 (a fraction)")


def quality_alerts_description(rules: AlertRules | None = None) -> str:
    """What the ``quality_alerts`` check tests, in one sentence with the figures of ``rules`` (default:
    the seed defaults)."""
    r = rules or AlertRules()
    return (
        f"Alerts on the latest date: a pass rate > {r.pass_rate_drop * 100:g} points below its trailing "
        f"{r.trailing_days}-day average at one-sided p < {r.trend_alpha:g}, a dimension below its threshold "
        f"{r.consecutive_days} days running, p95 latency up > {r.latency_p95_increase:.0%} or cost up > "
        f"{r.cost_increase:.0%}, or a {r.control_chart or 'no'} control-chart point out of limits, "
        f"each debounced ({r.debounce_k} of the last {r.debounce_m} points)."
    )
