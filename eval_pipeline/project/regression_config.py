"""The ``regression:`` options of a suite: alpha, minimum effects, tests, the gated family's correction.

In: a mapping from ``suites/*.yaml`` (``regression:``). Out: a validated :class:`RegressionConfig`, or a
:class:`RegressionConfigError` naming the key (``regression.alpha``) and the fix.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Corrections of the gated family (implemented by the paired tests of the regression stage).
GATE_PROCEDURES = ("discrete_holm", "holm", "bh", "bonferroni")
CONTINUOUS_TESTS = ("t", "wilcoxon", "sign_flip")
DIRECTIONS = ("higher", "lower", "unknown")


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
        min_effect_value: smallest mean-value change that counts for continuous metrics other than judge
            dimensions (e.g. cosine, in its own units).
        min_effect_judge: smallest change of a judge dimension's mean that counts, in **scale points**
            (default 0.25: a quarter point on a 1-5 scale); ``min_effect_by_metric`` overrides it per dimension.
        min_effect_by_metric: per-metric override of ``min_effect_value`` / ``min_effect_judge`` (e.g.
            ``{"helpfulness": 0.5}``).
        min_effect_segment: smallest pass-rate change of a *segment* row that blocks (default 0.10 = 10 points;
            a segment has a fifth of the samples or fewer, so its noise and its meaningful effect are larger).
        min_pairs: fewer shared samples than this -> ``insufficient_data``.
        ci_level: confidence level of the effect interval.
        ci_method: ``"t"`` (t interval on paired differences) or ``"bootstrap"`` (paired BCa bootstrap).
        continuous_test: ``"t"`` (default: paired t-test of the mean per-sample difference, valid for any
            repeats on either side because each sample is one unit), ``"wilcoxon"`` (signed-rank; assumes the
            per-sample differences are symmetric, which unequal repeats break) or ``"sign_flip"``.
        segments: also test each category segment (drill-down rows), not only the overall row.
        gate_procedure: correction of the gated family: ``"discrete_holm"`` (default: Holm over the p-values each
            exact McNemar row can attain, family-wise error <= alpha and never less powerful than Holm),
            ``"holm"``, ``"bonferroni"`` or ``"bh"`` (Benjamini-Hochberg).
        gate_segments: segment rows of the gated metrics gate too (default true), inside the same family-wise
            error budget: the gated family is split, overall rows get ``1 - segment_alpha_share`` of alpha and
            segment rows the rest (each part discrete Holm; the Bonferroni inequality over the two parts keeps the
            chance of any false block <= alpha), and a segment row blocks only at ``min_effect_segment`` or more.
            ``false``: segment rows are drill-down and the overall rows get the whole alpha.
        segment_alpha_share: the share of alpha spent on segment rows when ``gate_segments`` (default 0.4: the
            35 segment rows of 7 gated metrics rarely use it under the null - a segment needs 10 points - so the gate's
            measured false-block rate stays well inside alpha while a collapsed category is caught; ``benchmarks.detection``).
        directions: ``{eval_set: {metric: "higher" | "lower" | "unknown"}}``, the direction of a metric's value,
            derived by ``Suite.regression_config`` from the thresholds (a ``max:`` bound = lower is better, a
            ``min:`` bound = higher is better, both or contradicting = unknown) and from a judge dimension's
            ``higher_is_better``; a metric not listed takes its name's direction (``metric_direction``). A row whose
            direction is unknown never gates.
        primary_metrics: ``{eval_set: metric}``; an eval set listed here gates on that metric's overall row only
            (its other metrics become drill-down), which makes the gated family smaller and the gate more
            powerful for the declared headline metric; it overrides ``blocking_metrics``.
        blocking_metrics: ``{eval_set: ["<metric>:<measure>", ...]}``, the regression rows that gate for that eval
            set (``Suite.regression_config`` derives it from the eval set's **blocking thresholds**, falling back to
            one primary row per eval set; see ``project.suites.gated_rows``). Every other row of that eval set is
            drill-down. An eval set in neither mapping (a report built without its suite) gates on every
            non-auxiliary metric.
        baseline_nights: 1 (default) = the gate compares the candidate with the baseline run alone - the same-night
            paired comparison, valid when the provider drifts from night to night, when the baseline's answers are
            replayed from the response store, and when the candidate is a different model. More than 1 pools the
            baseline's earlier nights into the pass/fail rows, counting **distinct draws only** (a store hit of an
            earlier night is that night's draw, so replayed nights add nothing; ``fresh_samples_daily`` gives fresh
            draws), tested with the per-sample paired t-test; pooling assumes the provider does NOT drift between
            nights (``docs/gate.md`` shows what drift does to it).
        sequential: ``eval-pipeline run`` decides this suite with the sequential gate (as ``--sequential``: samples
            in a random order, a look every ``--chunk``, paying only for what the gate needs; docs/sequential.md).
        n_resamples: resamples for bootstrap / permutation.
        seed: random seed for bootstrap / permutation (reproducible reports).
    """

    alpha: float = 0.05
    min_effect: float = 0.03
    min_effect_value: float = 0.03
    min_effect_judge: float = 0.25
    min_effect_segment: float = 0.10
    min_effect_by_metric: dict[str, float] = field(default_factory=dict)
    min_pairs: int = 20
    ci_level: float = 0.95
    ci_method: str = "t"
    continuous_test: str = "t"
    segments: bool = True
    gate_procedure: str = "discrete_holm"
    gate_segments: bool = True
    segment_alpha_share: float = 0.4
    directions: dict[str, dict[str, str]] = field(default_factory=dict)
    primary_metrics: dict[str, str] = field(default_factory=dict)
    blocking_metrics: dict[str, list[str]] = field(default_factory=dict)
    baseline_nights: int = 1
    sequential: bool = False
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
        if self.continuous_test not in CONTINUOUS_TESTS:
            bad("continuous_test", "use 't' (paired t-test, default), 'wilcoxon' or 'sign_flip'")
        if self.min_effect_judge < 0:
            bad("min_effect_judge", "must be >= 0 (judge scale points, e.g. 0.25)")
        if not 0 <= self.min_effect_segment < 1:
            bad("min_effect_segment", "give a fraction in [0, 1) (0.10 = 10 points)")
        if not 0 < self.segment_alpha_share < 1:
            bad("segment_alpha_share", "must be in (0, 1), e.g. 0.4")
        if not all(
            isinstance(k, str)
            and isinstance(v, dict)
            and all(isinstance(m, str) and d in DIRECTIONS for m, d in v.items())
            for k, v in self.directions.items()
        ):
            bad("directions", "give a mapping eval_set -> {metric: 'higher' | 'lower' | 'unknown'}")
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
