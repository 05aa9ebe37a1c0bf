"""Candidate vs baseline: paired per-sample tests, effect sizes, one gated family, verdicts.

In: the candidate's and the baseline's long-format score rows (``SCORE_COLUMNS``).
Out: a :class:`RegressionReport` whose rows say, per (suite, eval_set, family, metric,
segment, measure), the test, n, effect with its interval, p / adjusted p, direction,
whether the row gates the release, and a verdict.

Tests (one per piece of evidence):

* ``pass_rate``: McNemar's exact test (statsmodels) when every sample has one graded
  repeat on each side; with k > 1 repeats the per-sample pass fractions (the sample is
  the unit, so repeats of one sample are not counted as independent) are compared with
  the Wilcoxon signed-rank test, **exact** (sign-flip enumeration of the tie-corrected
  statistic, ``scipy.stats.permutation_test``) when at most ``EXACT_MAX_NONZERO``
  differences are non-zero, tie-corrected normal approximation above.
* ``mean_value``: the same paired test on per-sample mean values, only for metrics whose
  raw values are not 0/1 (a binary check with repeats gets its ``pass_rate`` row only).

Direction: every metric has one (:func:`metric_direction`); "worse" is a drop for
higher-is-better metrics and a rise for lower-is-better ones (``*_spread``,
``judge_unparseable``, ``judge_refusal``, latency, cost, counts). Auxiliary metrics
(those, and ``check.suffix`` diagnostics) are tested in their own direction but never gate.

Two p-values per row: ``p_value`` two-sided (descriptive; improvements and drill-down rows) and
``p_worse`` one-sided, "is the candidate worse in the metric's direction?" (McNemar: ``binomtest(n_worse,
n_worse + n_better, 0.5, alternative="greater")``; Wilcoxon / sign-flip with the matching one-sided
alternative). The gate asks only that one-sided question, so gated rows are decided on ``p_worse``.

Multiplicity (what the release gate acts on): the **gated family** is, per eval set, the overall
(segment ``__all__``) rows of the metrics its **blocking thresholds** name (``RegressionConfig.blocking_metrics``,
derived by ``Suite.regression_config``: ``pass_rate`` (the composite) -> the pass rate of every check / thresholded judge dimension in it,
``<check>.pass_rate`` -> that check, ``cosine_pass_rate`` / ``mean_cosine`` -> cosine pass rate / mean,
``<dimension>.mean`` -> that dimension's mean), else one primary row per eval set; declared
``primary_metrics`` override; without suite information every non-auxiliary metric's row (pass rate for
pass/fail checks, mean value for continuous scores). It is corrected as one family (their ``p_worse`` -> ``p_gate``) with
``gate_procedure`` (default Holm: family-wise error <= alpha, i.e. the chance that the gate
blocks on any false row is at most alpha; ``"bh"`` gives Benjamini-Hochberg, which equals
that bound only under the global null). Segment rows and auxiliary rows are drill-down:
Benjamini-Hochberg within their own family, labelled but ``gating=False`` - unless the suite
opts in with ``gate_segments: true``, which puts segment rows into the gated family.

A gated row is a **regression** when ``p_gate`` < alpha *and* the effect is at least ``min_effect``
worse in the metric's direction; a drill-down row when its (two-sided, BH) ``p_adjusted`` < alpha and
the same effect rule; **improvement**: ``p_adjusted`` < alpha and at least ``min_effect`` better;
**insufficient_data** below ``min_pairs`` shared samples; otherwise **no_change**.

Why this module is long: it is the whole decision path of the regression gate (tests, directions,
gate family, verdicts, report), kept in one file so a reviewer can read it top to bottom; the
paired-test primitives are the candidates to move out next.
:func:`gate_rows` returns the rows that block.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from eval_pipeline.history.sql import SEGMENT_ALL

VERDICTS = ("regression", "improvement", "no_change", "insufficient_data")
GATE_PROCEDURES = ("holm", "bh", "bonferroni")
EXACT_MAX_NONZERO = 13  # up to this many non-zero paired differences: exact sign-flip enumeration (2^n)
PERMUTATION_MAX_NONZERO = 50  # up to this many: Monte Carlo sign-flip p-value (valid: (hits+1)/(B+1))
PERMUTATION_RESAMPLES = 4999
GROUP_KEYS = ["suite", "eval_set", "family", "metric"]
REPORT_COLUMNS = [
    "suite", "eval_set", "family", "metric", "segment", "measure", "test", "n_pairs", "repeats",
    "baseline", "candidate", "effect", "ci_low", "ci_high", "n_worse", "n_better",
    "p_value", "p_adjusted", "p_worse", "p_gate", "min_effect", "direction", "gating", "verdict",
]
_LOWER_TOKENS = {"spread", "unparseable", "refusal", "latency", "cost", "count", "tokens"}
_AUX_HIGHER = {"position_consistency"}


def metric_direction(metric: str) -> str:
    """Direction of a metric's *value*: ``"lower"`` is better for spreads, judge failures
    (``judge_unparseable`` / ``judge_refusal``), latency, cost, token and other counts; else ``"higher"``.
    (A ``pass_rate`` row is always higher-is-better: passing is good.)"""
    m = str(metric)
    tokens = set(re.split(r"[._]", m.lower()))
    return "lower" if tokens & _LOWER_TOKENS or m.startswith("n_") else "higher"


def is_auxiliary(metric: str) -> bool:
    """Auxiliary (diagnostic) metrics are tested in their own direction but never gate: lower-is-better
    metrics, judge self-consistency and ``check.suffix`` diagnostic rows."""
    m = str(metric)
    return metric_direction(m) == "lower" or m in _AUX_HIGHER or "." in m


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
        gate_procedure: correction of the gated family: ``"holm"`` (default, family-wise error <= alpha),
            ``"bonferroni"`` or ``"bh"`` (Benjamini-Hochberg).
        gate_segments: put segment rows into the gated family (default: drill-down only).
        primary_metrics: ``{eval_set: metric}``; an eval set listed here gates on that metric's overall row only
            (its other metrics become drill-down), which makes the gated family smaller and the gate more
            powerful for the declared headline metric; it overrides ``blocking_metrics``.
        blocking_metrics: ``{eval_set: ["<metric>:<measure>", ...]}``, the regression rows that gate for that eval
            set (``Suite.regression_config`` derives it from the eval set's **blocking thresholds**, falling back to
            one primary row per eval set; see ``project.suites.gated_rows``). Every other row of that eval set is
            drill-down. An eval set in neither mapping (a report built without its suite) gates on every
            non-auxiliary metric.
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
    gate_procedure: str = "holm"
    gate_segments: bool = False
    primary_metrics: dict[str, str] = field(default_factory=dict)
    blocking_metrics: dict[str, list[str]] = field(default_factory=dict)
    n_resamples: int = 2000
    seed: int = 0

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None, where: str = "regression") -> "RegressionConfig":
        """Build from a config mapping; unknown keys / bad values raise naming ``where.<key>``."""
        data = dict(data or {})
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise RegressionConfigError(f"{where}.{unknown[0]}", f"unknown key (allowed: {', '.join(sorted(known))})")
        defaults = cls()
        for key, value in data.items():
            want = type(getattr(defaults, key))
            ok = (isinstance(value, (int, float)) and not isinstance(value, bool)) if want is float else (
                isinstance(value, want) and (want is bool or not isinstance(value, bool)))
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
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in self.primary_metrics.items()):
            bad("primary_metrics", "give a mapping eval_set -> metric name, e.g. {answers: exact_match}")
        if not all(isinstance(k, str) and isinstance(v, list) and all(isinstance(x, str) and ":" in x for x in v)
                   for k, v in self.blocking_metrics.items()):
            bad("blocking_metrics", "give a mapping eval_set -> list of '<metric>:<measure>', e.g. {answers: ['exact_match:pass_rate']}")


# ---------------------------------------------------------------------------
# Test primitives (thin wrappers over statsmodels / scipy)
# ---------------------------------------------------------------------------

def mcnemar_exact(baseline_pass: np.ndarray, candidate_pass: np.ndarray,
                  alternative: str = "two-sided") -> tuple[int, int, float]:
    """McNemar's exact test on paired pass/fail outcomes.

    Returns ``(n_worse, n_better, p_value)`` where ``n_worse`` counts samples the
    baseline passed and the candidate failed. ``alternative="two-sided"``: statsmodels
    ``mcnemar(exact=True)``; ``"worse"``: one-sided, the candidate fails more often -
    ``scipy.stats.binomtest(n_worse, n_worse + n_better, 0.5, alternative="greater")`` on the
    discordant pairs; ``"better"``: the mirror image.
    """
    from scipy import stats
    from statsmodels.stats.contingency_tables import mcnemar

    b = np.asarray(baseline_pass, dtype=bool)
    c = np.asarray(candidate_pass, dtype=bool)
    table = [[int(np.sum(b & c)), int(np.sum(b & ~c))], [int(np.sum(~b & c)), int(np.sum(~b & ~c))]]
    worse, better = table[0][1], table[1][0]
    if worse + better == 0:
        return 0, 0, 1.0
    if alternative == "two-sided":
        return worse, better, float(mcnemar(table, exact=True).pvalue)
    if alternative not in ("worse", "better"):
        raise ValueError(f"alternative={alternative!r}: use 'two-sided', 'worse' or 'better'")
    k = worse if alternative == "worse" else better
    return worse, better, float(stats.binomtest(k, worse + better, 0.5, alternative="greater").pvalue)


def paired_location_test(diff: np.ndarray, method: str = "wilcoxon", n_resamples: int = 2000,
                         seed: int = 0, alternative: str = "two-sided") -> float:
    """p-value that paired differences are centred on 0.

    ``alternative``: ``"two-sided"`` (default), ``"less"`` (the differences tend to be negative)
    or ``"greater"``, as in scipy. ``wilcoxon``: signed-rank test on the non-zero differences
    (``zero_method="wilcox"``), statistic T+ with mid-ranks. With at most :data:`EXACT_MAX_NONZERO`
    of them the p-value is exact (all 2^n sign flips enumerated, ``scipy.stats.permutation_test``);
    up to :data:`PERMUTATION_MAX_NONZERO` a Monte Carlo sign-flip p-value (valid at any n); above
    that scipy's tie-corrected normal approximation. So ties (e.g. pass fractions of 3 repeats)
    never make a small test anti-conservative. ``sign_flip``: ``scipy.stats.permutation_test`` of
    the mean (exact when 2^n <= ``n_resamples``). All-zero differences give p = 1.
    """
    from scipy import stats

    if alternative not in ("two-sided", "less", "greater"):
        raise ValueError(f"alternative={alternative!r}: use 'two-sided', 'less' or 'greater'")
    d = np.asarray(diff, dtype=float)
    d = d[~np.isnan(d)]
    if d.size == 0 or np.all(d == 0):
        return 1.0
    if method == "wilcoxon":
        nz = d[d != 0]
        if nz.size == 1:  # exact over the 2 sign flips: two-sided both are as extreme; one-sided 1/2 or 1
            if alternative == "two-sided":
                return 1.0
            return 0.5 if (nz[0] < 0) == (alternative == "less") else 1.0
        if nz.size <= PERMUTATION_MAX_NONZERO:
            ranks = stats.rankdata(np.abs(nz))  # mid-ranks; |d| is unchanged by any sign flip

            def t_plus(x, axis=-1):
                return np.sum(ranks * (x > 0), axis=axis)

            b = 2 ** nz.size if nz.size <= EXACT_MAX_NONZERO else PERMUTATION_RESAMPLES
            res = stats.permutation_test((nz,), t_plus, permutation_type="samples", n_resamples=b,
                                         alternative=alternative, vectorized=True, batch=2 ** 14,
                                         rng=np.random.default_rng(seed))
            return float(min(1.0, res.pvalue))
        return float(stats.wilcoxon(nz, zero_method="wilcox", alternative=alternative, method="approx").pvalue)
    if method == "sign_flip":
        res = stats.permutation_test(
            (d,), np.mean, permutation_type="samples", n_resamples=n_resamples,
            alternative=alternative, rng=np.random.default_rng(seed),
        )
        return float(res.pvalue)
    raise ValueError(f"unknown paired test {method!r}: use 'wilcoxon' or 'sign_flip'")


def effect_interval(diff: np.ndarray, level: float = 0.95, method: str = "t", n_resamples: int = 2000,
                    seed: int = 0) -> tuple[float, float, float]:
    """Mean paired difference and its confidence interval: ``(effect, low, high)``.

    ``t``: statsmodels ``DescrStatsW(diff).tconfint_mean``; ``bootstrap``:
    ``scipy.stats.bootstrap`` (BCa) of the mean difference.
    """
    from scipy import stats
    from statsmodels.stats.weightstats import DescrStatsW

    d = np.asarray(diff, dtype=float)
    d = d[~np.isnan(d)]
    if d.size == 0:
        return float("nan"), float("nan"), float("nan")
    eff = float(d.mean())
    if d.size < 2 or np.all(d == d[0]):
        return eff, eff, eff
    if method == "t":
        lo, hi = DescrStatsW(d).tconfint_mean(alpha=1 - level)
    else:
        res = stats.bootstrap((d,), np.mean, confidence_level=level, n_resamples=n_resamples,
                              method="BCa", rng=np.random.default_rng(seed))
        lo, hi = res.confidence_interval
    return eff, float(lo), float(hi)


def bh_adjust(p_values, alpha: float = 0.05) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (statsmodels ``multipletests(method="fdr_bh")``); NaN stays NaN."""
    return adjust(p_values, "bh", alpha)


# ---------------------------------------------------------------------------
# Pairing
# ---------------------------------------------------------------------------

def per_sample(scores: pd.DataFrame) -> pd.DataFrame:
    """Collapse repeats: one row per (suite, eval_set, family, metric, sample_id).

    ``pass_frac`` = share of graded repeats that passed (NaN if none graded,
    e.g. every repeat was an infrastructure error), ``value`` = mean value,
    ``k`` = graded repeats, ``nonbinary`` = some raw value is neither 0 nor 1.
    """
    df = scores.copy()
    df["passed_f"] = df["passed"].astype("Float64").astype(float)
    df["value"] = pd.to_numeric(df["value"], errors="coerce").astype(float)
    df["nonbinary"] = df["value"].notna() & ~df["value"].isin([0.0, 1.0])
    if "category" not in df:
        df["category"] = None
    df["category"] = df["category"].fillna("(none)").astype(str)
    g = df.groupby(GROUP_KEYS + ["sample_id"], sort=False, dropna=False)
    return g.agg(pass_frac=("passed_f", "mean"), k=("passed_f", "count"), value=("value", "mean"),
                 nonbinary=("nonbinary", "any"), category=("category", "first")).reset_index()


def pair_runs(candidate: pd.DataFrame, baseline: pd.DataFrame) -> pd.DataFrame:
    """Inner join of the two runs' per-sample rows on the shared samples (suffixes ``_c`` / ``_b``)."""
    c = per_sample(candidate)
    b = per_sample(baseline)
    m = c.merge(b, on=GROUP_KEYS + ["sample_id"], suffixes=("_c", "_b"), how="inner")
    m["category"] = m["category_c"]
    return m


def _test_rows(pairs: pd.DataFrame, cfg: RegressionConfig) -> list[dict[str, Any]]:
    """Test every (group, segment, measure) of a paired frame; verdicts without correction yet.

    A metric gets a ``mean_value`` row only when its *raw* values are not all 0/1 (per-sample means
    of a binary check with repeats are fractions, but the evidence is the 0/1 rows: one test)."""
    rows: list[dict[str, Any]] = []
    for keys, grp in pairs.groupby(GROUP_KEYS, sort=True, dropna=False):
        segments = [(SEGMENT_ALL, grp)]
        if cfg.segments and grp["category"].nunique() > 1:
            segments += [(str(s), sg) for s, sg in grp.groupby("category", sort=True)]
        continuous = bool(grp["nonbinary_c"].any() or grp["nonbinary_b"].any())
        metric = str(keys[3])
        in_family = _family_measures(cfg, str(keys[1]), metric, continuous)
        for segment, sg in segments:
            base = dict(zip(GROUP_KEYS, keys)) | {"segment": segment}
            gated = segment == SEGMENT_ALL or cfg.gate_segments
            graded = sg.dropna(subset=["pass_frac_c", "pass_frac_b"])
            if len(graded):
                rows.append(base | _pass_rate_row(graded, cfg)
                            | {"direction": "higher", "gating": gated and "pass_rate" in in_family})
            if continuous:
                valued = sg.dropna(subset=["value_c", "value_b"])
                if len(valued):
                    rows.append(base | _value_row(valued, cfg, metric)
                                | {"direction": metric_direction(metric), "gating": gated and "mean_value" in in_family})
    return rows


def _family_measures(cfg: RegressionConfig, eval_set: str, metric: str, continuous: bool) -> set[str]:
    """Measures of ``metric`` that are in the gated family: the declared primary metric, else the eval set's
    ``blocking_metrics`` rows, else (no suite information) every non-auxiliary metric - pass rate for pass/fail
    checks, mean value for continuous scores."""
    natural = "mean_value" if continuous else "pass_rate"
    primary = cfg.primary_metrics.get(eval_set)
    if primary is not None:
        return {natural} if metric == primary else set()
    if eval_set in cfg.blocking_metrics:
        return {m.split(":", 1)[1] for m in cfg.blocking_metrics[eval_set] if m.split(":", 1)[0] == metric}
    return set() if is_auxiliary(metric) else {natural}


def _pass_rate_row(g: pd.DataFrame, cfg: RegressionConfig) -> dict[str, Any]:
    bp, cp = g["pass_frac_b"].to_numpy(), g["pass_frac_c"].to_numpy()
    single = bool((g["k_c"] == 1).all() and (g["k_b"] == 1).all())
    d = cp - bp
    if single:
        worse, better, p = mcnemar_exact(bp >= 0.5, cp >= 0.5)
        p_worse = mcnemar_exact(bp >= 0.5, cp >= 0.5, alternative="worse")[2]
        test = "mcnemar_exact"
    else:
        worse, better = int(np.sum(d < 0)), int(np.sum(d > 0))
        p = paired_location_test(d, cfg.continuous_test, cfg.n_resamples, cfg.seed)
        p_worse = paired_location_test(d, cfg.continuous_test, cfg.n_resamples, cfg.seed, alternative="less")
        test = f"{cfg.continuous_test}_pass_frac"
    eff, lo, hi = effect_interval(d, cfg.ci_level, cfg.ci_method, cfg.n_resamples, cfg.seed)
    repeats = int(max(g["k_c"].max(), g["k_b"].max()))
    return dict(measure="pass_rate", test=test, n_pairs=len(g), repeats=repeats,
                baseline=float(bp.mean()), candidate=float(cp.mean()), effect=eff, ci_low=lo, ci_high=hi,
                n_worse=worse, n_better=better, p_value=p, p_worse=p_worse, min_effect=cfg.min_effect)


def _value_row(g: pd.DataFrame, cfg: RegressionConfig, metric: str) -> dict[str, Any]:
    bv, cv = g["value_b"].to_numpy(), g["value_c"].to_numpy()
    d = cv - bv
    p = paired_location_test(d, cfg.continuous_test, cfg.n_resamples, cfg.seed)
    worse_side = "greater" if metric_direction(metric) == "lower" else "less"
    p_worse = paired_location_test(d, cfg.continuous_test, cfg.n_resamples, cfg.seed, alternative=worse_side)
    eff, lo, hi = effect_interval(d, cfg.ci_level, cfg.ci_method, cfg.n_resamples, cfg.seed)
    lower = metric_direction(metric) == "lower"
    return dict(measure="mean_value", test=cfg.continuous_test, n_pairs=len(g),
                repeats=int(max(g["k_c"].max(), g["k_b"].max())),
                baseline=float(bv.mean()), candidate=float(cv.mean()), effect=eff, ci_low=lo, ci_high=hi,
                n_worse=int(np.sum(d > 0) if lower else np.sum(d < 0)),
                n_better=int(np.sum(d < 0) if lower else np.sum(d > 0)), p_value=p, p_worse=p_worse,
                min_effect=cfg.min_effect_by_metric.get(metric, cfg.min_effect_value))


def adjust(p_values, procedure: str = "bh", alpha: float = 0.05) -> np.ndarray:
    """Adjusted p-values of one family (statsmodels ``multipletests``: ``holm``, ``bonferroni`` or
    ``bh`` = ``fdr_bh``); NaN stays NaN."""
    if procedure not in GATE_PROCEDURES:
        raise ValueError(f"procedure={procedure!r}: use one of {list(GATE_PROCEDURES)}")
    p = np.asarray(p_values, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = ~np.isnan(p)
    if ok.any():
        out[ok] = _adjusted(p[ok], procedure)
    return out


def _adjusted(p: np.ndarray, procedure: str) -> np.ndarray:
    """The adjusted p-values of statsmodels ``multipletests(method=holm|bonferroni|fdr_bh)[1]``, vectorized
    (multipletests runs a garbage collection per call; a test checks the equality)."""
    m = p.size
    if procedure == "bonferroni":
        return np.minimum(p * m, 1.0)
    order = np.argsort(p, kind="mergesort")
    ps = p[order]
    if procedure == "holm":
        adj = np.minimum(np.maximum.accumulate((m - np.arange(m)) * ps), 1.0)
    else:  # bh
        adj = np.minimum(np.minimum.accumulate((ps * m / np.arange(1, m + 1))[::-1])[::-1], 1.0)
    out = np.empty(m)
    out[order] = adj
    return out


def _verdicts(df: pd.DataFrame, cfg: RegressionConfig, procedure: str | None = None) -> pd.DataFrame:
    """Correct each family, then the significance + minimum-effect rule, in each row's direction.

    * ``p_adjusted``: the two-sided ``p_value`` corrected within the row's family (gated family:
      ``cfg.gate_procedure``; drill-down families - segments, auxiliary overall rows - BH). Descriptive;
      decides ``improvement`` on every row and ``regression`` on drill-down rows.
    * ``p_gate`` (gated rows only): the one-sided ``p_worse`` ("is the candidate worse in the metric's
      direction?", the question the gate asks) corrected over the gated family with ``cfg.gate_procedure``.
      A gated row is a ``regression`` iff ``p_gate < alpha`` and the effect is >= ``min_effect`` worse:
      with Holm the chance that any gated row of an equally good candidate blocks is <= alpha.
    """
    df = df.copy()
    gate_procedure = procedure or cfg.gate_procedure
    alpha = df["_alpha"].astype(float) if "_alpha" in df else pd.Series(cfg.alpha, index=df.index)
    enough = df["n_pairs"] >= df["_min_pairs"] if "_min_pairs" in df else df["n_pairs"] >= cfg.min_pairs
    df["p_adjusted"] = np.nan
    df["p_gate"] = np.nan
    gating = df["gating"].astype(bool)
    families = {
        "gate": (gating, gate_procedure),
        "segments": (~gating & (df["segment"] != SEGMENT_ALL), "bh"),
        "auxiliary": (~gating & (df["segment"] == SEGMENT_ALL), "bh"),
    }
    for mask, procedure in families.values():
        idx = df.index[mask & enough]
        if len(idx):
            df.loc[idx, "p_adjusted"] = adjust(df.loc[idx, "p_value"].to_numpy(), procedure, cfg.alpha)
    gate_idx = df.index[gating & enough]
    if len(gate_idx):
        df.loc[gate_idx, "p_gate"] = adjust(df.loc[gate_idx, "p_worse"].to_numpy(), gate_procedure, cfg.alpha)
    df.loc[~enough, "gating"] = False
    gated = df["gating"].astype(bool)
    sig = df["p_adjusted"] < alpha
    sig_worse = np.where(gated, df["p_gate"] < alpha, sig)
    sign = np.where(df["direction"] == "lower", -1.0, 1.0)
    better = df["effect"].astype(float) * sign  # > 0: the candidate is better in the metric's direction
    df["verdict"] = "no_change"
    df.loc[sig_worse & (better <= -df["min_effect"]), "verdict"] = "regression"
    df.loc[sig & (better >= df["min_effect"]), "verdict"] = "improvement"
    df.loc[~enough, "verdict"] = "insufficient_data"
    return df


def gate_rows(rows: pd.DataFrame) -> pd.DataFrame:
    """The rows that block a release: gated rows with a ``regression`` verdict."""
    if rows is None or len(rows) == 0:
        return pd.DataFrame(columns=REPORT_COLUMNS)
    gating = rows["gating"].fillna(False).astype(bool) if "gating" in rows else pd.Series(True, index=rows.index)
    return rows[gating & (rows["verdict"] == "regression")]


def gate_family(rows: pd.DataFrame) -> list[str]:
    """The gated family's rows as ``suite/eval_set:metric.measure[segment]`` (for the summary and check metadata)."""
    if rows is None or len(rows) == 0 or "gating" not in rows:
        return []
    g = rows[rows["gating"].fillna(False).astype(bool)]
    return [f"{r['suite']}/{r['eval_set']}:{r['metric']}.{r['measure']}"
            + ("" if r["segment"] == SEGMENT_ALL else f"[{r['segment']}]") for _, r in g.iterrows()]


def gate_description(cfg: RegressionConfig) -> str:
    """One line saying what the gate tests and how it is corrected (for the report metadata)."""
    proc = {"holm": "Holm (family-wise error <= alpha)", "bonferroni": "Bonferroni (family-wise error <= alpha)",
            "bh": "Benjamini-Hochberg (FDR <= alpha; family-wise only under the global null)"}[cfg.gate_procedure]
    scope = "overall and segment rows" if cfg.gate_segments else "overall rows (segments are drill-down)"
    what = []
    if cfg.primary_metrics:
        what.append("the declared primary metric of " + ", ".join(f"{k}: {v}" for k, v in sorted(cfg.primary_metrics.items())))
    rest = {k: v for k, v in cfg.blocking_metrics.items() if k not in cfg.primary_metrics}
    if rest:
        what.append("the metrics the blocking thresholds name (else one primary row) of "
                    + "; ".join(f"{k}: {', '.join(v)}" for k, v in sorted(rest.items())))
    what.append("every non-auxiliary metric of any other eval set (pass rate for pass/fail checks, mean for "
                "continuous scores)" if what else "every non-auxiliary metric (pass rate for pass/fail checks, mean "
                "for continuous scores)")
    return (f"one-sided paired tests (candidate worse in the metric's direction: McNemar exact = binomial test on "
            f"the discordant pairs, Wilcoxon signed-rank exact/sign-flip for few non-zero differences), {proc} over "
            f"the {scope} of {'; '.join(what)}; other rows are drill-down (two-sided, BH, never block), "
            f"alpha={cfg.alpha}; regression = p_gate < alpha and >= {cfg.min_effect * 100:g} points worse; "
            f"p_value / p_adjusted are two-sided (descriptive, improvements, drill-down)")


# ---------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class RunRef:
    """One run: a date and a model version."""

    date: str
    model_version: str

    def __str__(self) -> str:
        return f"{self.model_version}@{self.date}"


@dataclass
class RegressionReport:
    """Result of :func:`regression_report`.

    ``status`` is ``"ok"``, ``"no_baseline"`` (first run: nothing to compare to,
    not an error) or ``"no_overlap"`` (baseline exists but shares no graded samples).
    ``rows`` has :data:`REPORT_COLUMNS`, one row per (suite, eval_set, family,
    metric, segment, measure).
    """

    status: str
    message: str
    candidate: RunRef | None
    baseline: RunRef | None
    rows: pd.DataFrame
    config: RegressionConfig
    baseline_reason: str = ""
    suite_configs: dict[str, RegressionConfig] = field(default_factory=dict)

    @property
    def regressions(self) -> pd.DataFrame:
        return self.rows[self.rows["verdict"] == "regression"]

    @property
    def improvements(self) -> pd.DataFrame:
        return self.rows[self.rows["verdict"] == "improvement"]

    @property
    def gate_regressions(self) -> pd.DataFrame:
        """Regression rows that block the release (the gated family, see :func:`gate_rows`)."""
        return gate_rows(self.rows)

    @property
    def has_regression(self) -> bool:
        """True when the gate blocks: a gated row is a regression (drill-down rows never block)."""
        return bool(len(self.gate_regressions))

    def summary(self) -> dict[str, Any]:
        """Small JSON-able summary (for Dagster metadata)."""
        counts = {v: int((self.rows["verdict"] == v).sum()) for v in VERDICTS}
        return {
            "status": self.status, "message": self.message,
            "candidate": str(self.candidate) if self.candidate else None,
            "baseline": str(self.baseline) if self.baseline else None,
            "baseline_reason": self.baseline_reason, "rows": len(self.rows), **counts,
            "gate_regressions": int(len(self.gate_regressions)),
            "gate_family": gate_family(self.rows),
            "gate_family_size": int(self.rows["gating"].fillna(False).astype(bool).sum()) if len(self.rows) else 0,
            "gate_procedure": self.config.gate_procedure, "gate_segments": self.config.gate_segments,
            "gate": gate_description(self.config),
            "alpha": self.config.alpha, "min_effect": self.config.min_effect,
            "suite_configs": {s: gate_description(c) for s, c in self.suite_configs.items()},
        }

    def to_markdown(self, max_rows: int = 25, only_changes: bool = False) -> str:
        """Markdown table of the most important rows (regressions first), for metadata / PR comments."""
        from eval_pipeline.history.report import markdown_table

        head = f"**{self.status}**: {self.message}\n\n"
        if self.rows.empty:
            return head.rstrip() + "\n"
        order = {"regression": 0, "improvement": 1, "insufficient_data": 2, "no_change": 3}
        df = self.rows.assign(_o=self.rows["verdict"].map(order)).sort_values(["_o", "p_adjusted", "effect"])
        if only_changes:
            df = df[df["verdict"].isin(["regression", "improvement"])]
        cols = ["verdict", "gating", "suite", "family", "metric", "segment", "measure", "test", "n_pairs",
                "baseline", "candidate", "effect", "ci_low", "ci_high", "p_adjusted", "p_gate"]
        return head + markdown_table(df[cols], max_rows=max_rows)


def _empty_rows() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in REPORT_COLUMNS})


def regression_report(
    candidate_scores: pd.DataFrame,
    baseline_scores: pd.DataFrame | None,
    config: RegressionConfig | dict[str, RegressionConfig] | None = None,
    *,
    candidate: RunRef | None = None,
    baseline: RunRef | None = None,
    baseline_reason: str = "",
    suite_configs: dict[str, RegressionConfig] | None = None,
) -> RegressionReport:
    """Compare a candidate run with its baseline, sample by sample.

    Args:
        candidate_scores: long-format score rows of the candidate run (``SCORE_COLUMNS``; at least
            suite, eval_set, sample_id, family, metric, value, passed, category).
        baseline_scores: the same for the baseline run, or ``None`` / empty on a first run.
        config: thresholds and methods (:class:`RegressionConfig`), or a ``{suite: RegressionConfig}`` mapping
            (taken as ``suite_configs``).
        candidate, baseline: run identities, only for messages.
        suite_configs: per-suite options (a suite's ``regression:`` YAML section); a suite not in it uses
            ``config``. Each suite's rows are tested with its own options (min effect, tests, segments,
            ``gate_segments``, alpha); the gated rows of all suites form ONE family, corrected with the common
            ``gate_procedure`` (Holm when the suites disagree), each row compared with its suite's alpha -
            so the whole gate's false-block rate is at most the largest alpha.

    Returns:
        A :class:`RegressionReport`; ``status="no_baseline"`` with an explanatory message when
        there is nothing to compare to yet.
    """
    if isinstance(config, dict):  # {suite: RegressionConfig}: each suite's ``regression:`` section
        suite_configs, config = {**config, **(suite_configs or {})}, None
    cfg = config or RegressionConfig()
    cfg.validate()
    if baseline_scores is None or len(baseline_scores) == 0:
        msg = ("no baseline yet: this is the first scored run"
               + (f" ({candidate})" if candidate else "")
               + "; it becomes the baseline once it passes or is configured as the production model version")
        return RegressionReport("no_baseline", msg, candidate, None, _empty_rows(), cfg, baseline_reason,
                                dict(suite_configs or {}))
    pairs = pair_runs(candidate_scores, baseline_scores)
    rows: list[dict[str, Any]] = []
    configs = dict(suite_configs or {})
    for c in configs.values():
        c.validate()
    for suite_name, sp in (pairs.groupby("suite", sort=True) if len(pairs) else []):
        scfg = configs.get(str(suite_name), cfg)
        rows += [r | {"_alpha": scfg.alpha, "_min_pairs": scfg.min_pairs} for r in _test_rows(sp, scfg)]
    present = sorted(set(pairs["suite"].astype(str))) if len(pairs) else []
    if len(present) == 1 and present[0] in configs:
        cfg = configs[present[0]]  # one suite (the usual case): its options are the report's options
    used = {configs.get(s, cfg).gate_procedure for s in present} or {cfg.gate_procedure}
    procedure = used.pop() if len(used) == 1 else "holm"
    if not rows:
        msg = f"baseline {baseline or ''} shares no graded samples with the candidate; nothing to compare"
        return RegressionReport("no_overlap", msg.replace("  ", " "), candidate, baseline, _empty_rows(), cfg,
                                baseline_reason, configs)
    df = _verdicts(pd.DataFrame(rows), cfg, procedure)[REPORT_COLUMNS]
    n_reg, n_imp = int((df["verdict"] == "regression").sum()), int((df["verdict"] == "improvement").sum())
    n_gate, n_block = int(df["gating"].sum()), int(len(gate_rows(df)))
    msg = (f"{candidate or 'candidate'} vs {baseline or 'baseline'}: {n_block} blocking regression(s) among "
           f"{n_gate} gated comparisons ({cfg.gate_procedure}, alpha={cfg.alpha}, min effect "
           f"{cfg.min_effect * 100:g} points); {n_reg} regression(s), {n_imp} improvement(s) over all {len(df)} "
           f"rows incl. drill-down")
    return RegressionReport("ok", msg, candidate, baseline, df.reset_index(drop=True), cfg, baseline_reason, configs)


# ---------------------------------------------------------------------------
# Baseline selection
# ---------------------------------------------------------------------------

def select_baseline(
    runs: pd.DataFrame,
    candidate: RunRef,
    production_model_version: str | None = None,
) -> tuple[RunRef | None, str]:
    """Choose the baseline run for ``candidate`` from known runs (columns date, model_version[, passed]).

    1. A configured production model version other than the candidate's: its latest run on or
       before the candidate's date that did not fail (same date preferred: same golden set).
    2. Otherwise the last passing run before the candidate's date, preferring the candidate's own
       model version (``passed`` true; when no run records a pass/fail, any earlier run).

    Returns ``(run or None, reason)``; ``None`` means "no baseline yet".
    """
    if runs is None or len(runs) == 0:
        return None, "no earlier runs"
    df = runs.copy()
    df["date"] = df["date"].astype(str)
    if "passed" not in df:
        df["passed"] = None
    df = df[~((df["date"] == candidate.date) & (df["model_version"] == candidate.model_version))]
    not_failed = df["passed"].map(lambda v: v is None or (isinstance(v, float) and np.isnan(v)) or bool(v))
    if production_model_version and production_model_version != candidate.model_version:
        prod = df[(df["model_version"] == production_model_version) & (df["date"] <= candidate.date) & not_failed]
        if len(prod):
            row = prod.sort_values("date").iloc[-1]
            return RunRef(row["date"], row["model_version"]), "production model version"
    earlier = df[df["date"] < candidate.date]
    passed = earlier[earlier["passed"].map(lambda v: v is True or v == 1)]
    pool = passed if len(passed) else earlier[not_failed.loc[earlier.index]]
    why = "last passing run" if len(passed) else "last run (no pass/fail recorded)"
    if not len(pool):
        return None, "no earlier passing run"
    for mv in (production_model_version, candidate.model_version):
        same = pool[pool["model_version"] == mv] if mv else pool.iloc[0:0]
        if len(same):
            row = same.sort_values("date").iloc[-1]
            return RunRef(row["date"], row["model_version"]), f"{why} of {mv}"
    row = pool.sort_values(["date", "model_version"]).iloc[-1]
    return RunRef(row["date"], row["model_version"]), why


def report_dict(report: RegressionReport) -> dict[str, Any]:
    """JSON-able form of a report (summary + rows + config)."""
    return {"summary": report.summary(), "config": asdict(report.config),
            "suite_configs": {s: asdict(c) for s, c in report.suite_configs.items()},
            "rows": report.rows.replace({np.nan: None}).to_dict(orient="records")}
