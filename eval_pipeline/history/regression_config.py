"""The ``regression:`` options of a suite: alpha, minimum effects, tests, the gated family's correction.

In: a mapping from ``suites/*.yaml`` (``regression:``). Out: a validated :class:`RegressionConfig`, or a
:class:`RegressionConfigError` naming the key (``regression.alpha``) and the fix.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from eval_pipeline.history.paired_tests import GATE_PROCEDURES


class RegressionConfigError(ValueError):
    """A bad ``regression:`` option; ``key`` is its path (``regression.alpha``), ``reason`` the fix."""

    def __init__(self, key: str, reason: str):
        self.key, self.reason = key, reason
        super().__init__(f"{key}: {reason}")


@dataclass
class RegressionConfig:
    """Knobs of :func:`regression_report` (all have sensible defaults).

    Attributes:
        alpha: false-discovery rate for Benjamini-Hochberg (and the significance level).
        min_effect: smallest pass-rate change that counts, as a fraction (0.03 = 3 points).
        min_effect_value: smallest mean-value change that counts for continuous metrics.
        min_effect_by_metric: per-metric override of ``min_effect_value`` (e.g. ``{"helpfulness": 0.2}``
            for a 1-5 judge scale).
        min_pairs: fewer shared samples than this -> ``insufficient_data``.
        ci_level: confidence level of the effect interval.
        ci_method: ``"t"`` (t interval on paired differences) or ``"bootstrap"`` (paired BCa bootstrap).
        continuous_test: ``"wilcoxon"`` or ``"sign_flip"`` (paired permutation test of the mean).
        segments: also test each category segment (drill-down rows), not only the overall row.
        gate_procedure: correction of the gated family: ``"discrete_holm"`` (default: Holm over the p-values each
            exact McNemar row can attain, family-wise error <= alpha and never less powerful than Holm),
            ``"holm"``, ``"bonferroni"`` or ``"bh"`` (Benjamini-Hochberg).
        gate_segments: put segment rows into the gated family (default: drill-down only).
        primary_metrics: ``{eval_set: metric}``; an eval set listed here gates on that metric's overall row only
            (its other metrics become drill-down), which makes the gated family smaller and the gate more
            powerful for the declared headline metric; it overrides ``blocking_metrics``.
        blocking_metrics: ``{eval_set: ["<metric>:<measure>", ...]}``, the regression rows that gate for that eval
            set (``Suite.regression_config`` derives it from the eval set's **blocking thresholds**, falling back to
            one primary row per eval set; see ``project.suites.gated_rows``). Every other row of that eval set is
            drill-down. An eval set in neither mapping (a report built without its suite) gates on every
            non-auxiliary metric.
        baseline_nights: pass/fail rows compare the candidate with this many nights of the baseline's model version
            (the baseline run and the ``baseline_nights - 1`` latest earlier runs of that version that did not fail,
            on the samples and evaluators the baseline run has; exact stratified test). 1 = the baseline run only.
            More nights shrink the baseline's share of the noise: with 7, a 5-point drop at N = 500 is blocked
            about 0.9 of the time instead of 0.77 at the same false-block rate (``benchmarks/detection``).
        n_resamples: resamples for bootstrap / permutation.
        seed: random seed for bootstrap / permutation (reproducible reports).
    """

    alpha: float = 0.05
    min_effect: float = 0.03
    min_effect_value: float = 0.03
    min_effect_by_metric: dict[str, float] = field(default_factory=dict)
    min_pairs: int = 20
    ci_level: float = 0.95
    ci_method: str = "t"
    continuous_test: str = "wilcoxon"
    segments: bool = True
    gate_procedure: str = "discrete_holm"
    gate_segments: bool = False
    primary_metrics: dict[str, str] = field(default_factory=dict)
    blocking_metrics: dict[str, list[str]] = field(default_factory=dict)
    baseline_nights: int = 7
    n_resamples: int = 2000
    seed: int = 0

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None, where: str = "regression") -> RegressionConfig:
        """Build from a config mapping; unknown keys / bad values raise naming ``where.<key>``."""
        data = dict(data or {})
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise RegressionConfigError(
                f"{where}.{unknown[0]}", f"unknown key (allowed: {', '.join(sorted(known))})"
            )
        defaults = cls()
        for key, value in data.items():
            want = type(getattr(defaults, key))
            ok = (
                (isinstance(value, (int, float)) and not isinstance(value, bool))
                if want is float
                else (isinstance(value, want) and (want is bool or not isinstance(value, bool)))
            )
            if not ok:
                raise RegressionConfigError(f"{where}.{key}", f"{value!r} is not a {want.__name__}")
        cfg = cls(**data)
        cfg.validate(where)
        return cfg

    def validate(self, where: str = "regression") -> None:
        """Raise :class:`RegressionConfigError` (a ``ValueError``) naming the offending key and the fix."""

        def bad(key: str, reason: str) -> None:
            raise RegressionConfigError(f"{where}.{key}", f"{getattr(self, key)!r}: {reason}")

        if not 0 < self.alpha < 1:
            bad("alpha", "must be in (0, 1), e.g. 0.05")
        if not 0 < self.ci_level < 1:
            bad("ci_level", "must be in (0, 1), e.g. 0.95")
        if self.min_effect < 0:
            bad("min_effect", "must be >= 0 (a fraction: 0.03 = 3 points)")
        if self.min_effect_value < 0:
            bad("min_effect_value", "must be >= 0")
        if self.min_effect >= 1:
            bad("min_effect", "give a fraction (0.03 = 3 points), not points")
        if self.ci_method not in ("t", "bootstrap"):
            bad("ci_method", "use 't' or 'bootstrap'")
        if self.continuous_test not in ("wilcoxon", "sign_flip"):
            bad("continuous_test", "use 'wilcoxon' or 'sign_flip'")
        if self.gate_procedure not in GATE_PROCEDURES:
            bad("gate_procedure", f"use one of {list(GATE_PROCEDURES)}")
        if self.min_pairs < 1:
            bad("min_pairs", "must be >= 1")
        if not 1 <= self.baseline_nights <= 60:
            bad("baseline_nights", "must be 1 (the baseline run only) to 60, e.g. 7")
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in self.primary_metrics.items()):
            bad("primary_metrics", "give a mapping eval_set -> metric name, e.g. {answers: exact_match}")
        if not all(
            isinstance(k, str) and isinstance(v, list) and all(isinstance(x, str) and ":" in x for x in v)
            for k, v in self.blocking_metrics.items()
        ):
            bad(
                "blocking_metrics",
                "give a mapping eval_set -> list of '<metric>:<measure>', e.g. {answers: ['exact_match:pass_rate']}",
            )
