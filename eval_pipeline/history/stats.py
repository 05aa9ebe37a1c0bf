"""Candidate vs baseline: paired per-sample tests, effect sizes, FDR control, verdicts.

The one entry point is :func:`regression_report`. It pairs the candidate's and
the baseline's per-sample scores on the samples both runs graded, and for each
(suite, eval_set, family, metric, segment) tests:

* ``pass_rate``: McNemar's exact test (statsmodels) when every sample has one
  graded repeat on each side; with k > 1 repeats the per-sample pass fractions
  are compared with the Wilcoxon signed-rank test (scipy; zero differences are
  dropped, which mirrors McNemar ignoring concordant pairs).
* ``mean_value``: Wilcoxon signed-rank (default) or a sign-flip permutation test
  (``scipy.stats.permutation_test``) on the per-sample differences, for
  continuous scores (cosine, judge scores). Skipped for 0/1 check values.

Effect = paired mean difference (candidate - baseline) with a t interval on
the differences (``statsmodels`` ``DescrStatsW.tconfint_mean``) or a paired
bootstrap interval (``scipy.stats.bootstrap``). P-values are adjusted with
Benjamini-Hochberg (``multipletests(method="fdr_bh")``). Default scope
``"tiered"``: one BH family for the overall rows of every metric (the gate),
a second for all segment rows (the drill-down), so testing five segments does
not dilute the overall test's power; ``"report"`` puts every row in one BH
family, ``"family"`` one per metric family (deterministic / similarity / judge). A row is a **regression** when the
adjusted p < alpha *and* the effect is at least ``min_effect`` worse;
**improvement** symmetrically; **insufficient_data** below ``min_pairs``
shared samples; otherwise **no_change**.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from eval_pipeline.history.sql import SEGMENT_ALL

VERDICTS = ("regression", "improvement", "no_change", "insufficient_data")
GROUP_KEYS = ["suite", "eval_set", "family", "metric"]
REPORT_COLUMNS = [
    "suite", "eval_set", "family", "metric", "segment", "measure", "test", "n_pairs", "repeats",
    "baseline", "candidate", "effect", "ci_low", "ci_high", "n_worse", "n_better",
    "p_value", "p_adjusted", "min_effect", "verdict",
]


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
        segments: also test each category segment, not only the overall row.
        fdr_scope: ``"tiered"`` (BH across overall rows, separately across segment rows), ``"report"``
            (BH across every row) or ``"family"`` (BH within each metric family).
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
    fdr_scope: str = "tiered"
    n_resamples: int = 2000
    seed: int = 0

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None, where: str = "regression") -> "RegressionConfig":
        """Build from a config mapping; unknown keys / bad values raise naming ``where.<key>``."""
        data = dict(data or {})
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"{where}: unknown key(s) {unknown}; allowed: {sorted(known)}")
        cfg = cls(**data)
        cfg.validate(where)
        return cfg

    def validate(self, where: str = "regression") -> None:
        """Raise ``ValueError`` naming the offending key and the fix."""
        if not 0 < self.alpha < 1:
            raise ValueError(f"{where}.alpha={self.alpha!r}: must be in (0, 1), e.g. 0.05")
        if not 0 < self.ci_level < 1:
            raise ValueError(f"{where}.ci_level={self.ci_level!r}: must be in (0, 1), e.g. 0.95")
        if self.min_effect < 0 or self.min_effect_value < 0:
            raise ValueError(f"{where}.min_effect: must be >= 0 (a fraction: 0.03 = 3 points)")
        if self.min_effect >= 1:
            raise ValueError(f"{where}.min_effect={self.min_effect!r}: give a fraction (0.03 = 3 points), not points")
        if self.ci_method not in ("t", "bootstrap"):
            raise ValueError(f"{where}.ci_method={self.ci_method!r}: use 't' or 'bootstrap'")
        if self.continuous_test not in ("wilcoxon", "sign_flip"):
            raise ValueError(f"{where}.continuous_test={self.continuous_test!r}: use 'wilcoxon' or 'sign_flip'")
        if self.fdr_scope not in ("tiered", "report", "family"):
            raise ValueError(f"{where}.fdr_scope={self.fdr_scope!r}: use 'tiered', 'report' or 'family'")
        if self.min_pairs < 1:
            raise ValueError(f"{where}.min_pairs={self.min_pairs!r}: must be >= 1")


# ---------------------------------------------------------------------------
# Test primitives (thin wrappers over statsmodels / scipy)
# ---------------------------------------------------------------------------

def mcnemar_exact(baseline_pass: np.ndarray, candidate_pass: np.ndarray) -> tuple[int, int, float]:
    """McNemar's exact test on paired pass/fail outcomes.

    Returns ``(n_worse, n_better, p_value)`` where ``n_worse`` counts samples the
    baseline passed and the candidate failed. Two-sided, statsmodels ``mcnemar(exact=True)``.
    """
    from statsmodels.stats.contingency_tables import mcnemar

    b = np.asarray(baseline_pass, dtype=bool)
    c = np.asarray(candidate_pass, dtype=bool)
    table = [[int(np.sum(b & c)), int(np.sum(b & ~c))], [int(np.sum(~b & c)), int(np.sum(~b & ~c))]]
    worse, better = table[0][1], table[1][0]
    if worse + better == 0:
        return 0, 0, 1.0
    return worse, better, float(mcnemar(table, exact=True).pvalue)


def paired_location_test(diff: np.ndarray, method: str = "wilcoxon", n_resamples: int = 2000,
                         seed: int = 0) -> float:
    """Two-sided p-value that paired differences are centred on 0.

    ``wilcoxon``: ``scipy.stats.wilcoxon(zero_method="wilcox")``; ``sign_flip``:
    ``scipy.stats.permutation_test`` of the mean with random sign flips.
    All-zero differences give p = 1.
    """
    from scipy import stats

    d = np.asarray(diff, dtype=float)
    d = d[~np.isnan(d)]
    if d.size == 0 or np.all(d == 0):
        return 1.0
    if method == "wilcoxon":
        return float(stats.wilcoxon(d, zero_method="wilcox", alternative="two-sided").pvalue)
    if method == "sign_flip":
        res = stats.permutation_test(
            (d,), np.mean, permutation_type="samples", n_resamples=n_resamples,
            alternative="two-sided", rng=np.random.default_rng(seed),
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
    from statsmodels.stats.multitest import multipletests

    p = np.asarray(p_values, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = ~np.isnan(p)
    if ok.any():
        out[ok] = multipletests(p[ok], alpha=alpha, method="fdr_bh")[1]
    return out


# ---------------------------------------------------------------------------
# Pairing
# ---------------------------------------------------------------------------

def per_sample(scores: pd.DataFrame) -> pd.DataFrame:
    """Collapse repeats: one row per (suite, eval_set, family, metric, sample_id).

    ``pass_frac`` = share of graded repeats that passed (NaN if none graded,
    e.g. every repeat was an infrastructure error), ``value`` = mean value,
    ``k`` = graded repeats.
    """
    df = scores.copy()
    df["passed_f"] = df["passed"].astype("Float64").astype(float)
    df["value"] = pd.to_numeric(df["value"], errors="coerce").astype(float)
    if "category" not in df:
        df["category"] = None
    df["category"] = df["category"].fillna("(none)").astype(str)
    g = df.groupby(GROUP_KEYS + ["sample_id"], sort=False, dropna=False)
    return g.agg(pass_frac=("passed_f", "mean"), k=("passed_f", "count"), value=("value", "mean"),
                 category=("category", "first")).reset_index()


def pair_runs(candidate: pd.DataFrame, baseline: pd.DataFrame) -> pd.DataFrame:
    """Inner join of the two runs' per-sample rows on the shared samples (suffixes ``_c`` / ``_b``)."""
    c = per_sample(candidate)
    b = per_sample(baseline)
    m = c.merge(b, on=GROUP_KEYS + ["sample_id"], suffixes=("_c", "_b"), how="inner")
    m["category"] = m["category_c"]
    return m


def _is_binary(values: pd.Series) -> bool:
    v = values.dropna()
    return len(v) == 0 or bool(v.isin([0.0, 1.0]).all())


def _test_rows(pairs: pd.DataFrame, cfg: RegressionConfig) -> list[dict[str, Any]]:
    """Test every (group, segment, measure) of a paired frame; verdicts without FDR yet."""
    rows: list[dict[str, Any]] = []
    for keys, grp in pairs.groupby(GROUP_KEYS, sort=True, dropna=False):
        segments = [(SEGMENT_ALL, grp)]
        if cfg.segments and grp["category"].nunique() > 1:
            segments += [(str(s), sg) for s, sg in grp.groupby("category", sort=True)]
        continuous = not _is_binary(grp["value_c"]) or not _is_binary(grp["value_b"])
        for segment, sg in segments:
            base = dict(zip(GROUP_KEYS, keys)) | {"segment": segment}
            graded = sg.dropna(subset=["pass_frac_c", "pass_frac_b"])
            if len(graded):
                rows.append(base | _pass_rate_row(graded, cfg))
            if continuous:
                valued = sg.dropna(subset=["value_c", "value_b"])
                if len(valued):
                    rows.append(base | _value_row(valued, cfg, str(keys[3])))
    return rows


def _pass_rate_row(g: pd.DataFrame, cfg: RegressionConfig) -> dict[str, Any]:
    bp, cp = g["pass_frac_b"].to_numpy(), g["pass_frac_c"].to_numpy()
    single = bool((g["k_c"] == 1).all() and (g["k_b"] == 1).all())
    d = cp - bp
    if single:
        worse, better, p = mcnemar_exact(bp >= 0.5, cp >= 0.5)
        test = "mcnemar_exact"
    else:
        worse, better = int(np.sum(d < 0)), int(np.sum(d > 0))
        p = paired_location_test(d, cfg.continuous_test, cfg.n_resamples, cfg.seed)
        test = f"{cfg.continuous_test}_pass_frac"
    eff, lo, hi = effect_interval(d, cfg.ci_level, cfg.ci_method, cfg.n_resamples, cfg.seed)
    repeats = int(max(g["k_c"].max(), g["k_b"].max()))
    return dict(measure="pass_rate", test=test, n_pairs=len(g), repeats=repeats,
                baseline=float(bp.mean()), candidate=float(cp.mean()), effect=eff, ci_low=lo, ci_high=hi,
                n_worse=worse, n_better=better, p_value=p, min_effect=cfg.min_effect)


def _value_row(g: pd.DataFrame, cfg: RegressionConfig, metric: str) -> dict[str, Any]:
    bv, cv = g["value_b"].to_numpy(), g["value_c"].to_numpy()
    d = cv - bv
    p = paired_location_test(d, cfg.continuous_test, cfg.n_resamples, cfg.seed)
    eff, lo, hi = effect_interval(d, cfg.ci_level, cfg.ci_method, cfg.n_resamples, cfg.seed)
    return dict(measure="mean_value", test=cfg.continuous_test, n_pairs=len(g),
                repeats=int(max(g["k_c"].max(), g["k_b"].max())),
                baseline=float(bv.mean()), candidate=float(cv.mean()), effect=eff, ci_low=lo, ci_high=hi,
                n_worse=int(np.sum(d < 0)), n_better=int(np.sum(d > 0)), p_value=p,
                min_effect=cfg.min_effect_by_metric.get(metric, cfg.min_effect_value))


def _verdicts(df: pd.DataFrame, cfg: RegressionConfig) -> pd.DataFrame:
    """Apply BH within the configured scope, then the significance + minimum-effect rule."""
    df = df.copy()
    enough = df["n_pairs"] >= cfg.min_pairs
    df["p_adjusted"] = np.nan
    if cfg.fdr_scope == "report":
        scopes = [df.index[enough]]
    else:
        by = "family" if cfg.fdr_scope == "family" else df["segment"] == SEGMENT_ALL
        scopes = [g.index[enough.loc[g.index]] for _, g in df.groupby(by)]
    for idx in scopes:
        if len(idx):
            df.loc[idx, "p_adjusted"] = bh_adjust(df.loc[idx, "p_value"].to_numpy(), cfg.alpha)
    sig = df["p_adjusted"] < cfg.alpha
    df["verdict"] = "no_change"
    df.loc[sig & (df["effect"] <= -df["min_effect"]), "verdict"] = "regression"
    df.loc[sig & (df["effect"] >= df["min_effect"]), "verdict"] = "improvement"
    df.loc[~enough, "verdict"] = "insufficient_data"
    return df


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

    @property
    def regressions(self) -> pd.DataFrame:
        return self.rows[self.rows["verdict"] == "regression"]

    @property
    def improvements(self) -> pd.DataFrame:
        return self.rows[self.rows["verdict"] == "improvement"]

    @property
    def has_regression(self) -> bool:
        return bool(len(self.regressions))

    def summary(self) -> dict[str, Any]:
        """Small JSON-able summary (for Dagster metadata)."""
        counts = {v: int((self.rows["verdict"] == v).sum()) for v in VERDICTS}
        return {
            "status": self.status, "message": self.message,
            "candidate": str(self.candidate) if self.candidate else None,
            "baseline": str(self.baseline) if self.baseline else None,
            "baseline_reason": self.baseline_reason, "rows": len(self.rows), **counts,
            "alpha": self.config.alpha, "min_effect": self.config.min_effect,
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
        cols = ["verdict", "suite", "family", "metric", "segment", "measure", "n_pairs",
                "baseline", "candidate", "effect", "ci_low", "ci_high", "p_adjusted"]
        return head + markdown_table(df[cols], max_rows=max_rows)


def _empty_rows() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in REPORT_COLUMNS})


def regression_report(
    candidate_scores: pd.DataFrame,
    baseline_scores: pd.DataFrame | None,
    config: RegressionConfig | None = None,
    *,
    candidate: RunRef | None = None,
    baseline: RunRef | None = None,
    baseline_reason: str = "",
) -> RegressionReport:
    """Compare a candidate run with its baseline, sample by sample.

    Args:
        candidate_scores: long-format score rows of the candidate run (``SCORE_COLUMNS``; at least
            suite, eval_set, sample_id, family, metric, value, passed, category).
        baseline_scores: the same for the baseline run, or ``None`` / empty on a first run.
        config: thresholds and methods (:class:`RegressionConfig`).
        candidate, baseline: run identities, only for messages.

    Returns:
        A :class:`RegressionReport`; ``status="no_baseline"`` with an explanatory message when
        there is nothing to compare to yet.
    """
    cfg = config or RegressionConfig()
    cfg.validate()
    if baseline_scores is None or len(baseline_scores) == 0:
        msg = ("no baseline yet: this is the first scored run"
               + (f" ({candidate})" if candidate else "")
               + "; it becomes the baseline once it passes or is configured as the production model version")
        return RegressionReport("no_baseline", msg, candidate, None, _empty_rows(), cfg, baseline_reason)
    pairs = pair_runs(candidate_scores, baseline_scores)
    rows = _test_rows(pairs, cfg) if len(pairs) else []
    if not rows:
        msg = f"baseline {baseline or ''} shares no graded samples with the candidate; nothing to compare"
        return RegressionReport("no_overlap", msg.replace("  ", " "), candidate, baseline, _empty_rows(), cfg,
                                baseline_reason)
    df = _verdicts(pd.DataFrame(rows), cfg)[REPORT_COLUMNS]
    n_reg, n_imp = int((df["verdict"] == "regression").sum()), int((df["verdict"] == "improvement").sum())
    msg = (f"{candidate or 'candidate'} vs {baseline or 'baseline'}: {n_reg} regression(s), {n_imp} improvement(s) "
           f"over {len(df)} comparisons (BH alpha={cfg.alpha}, min effect {cfg.min_effect * 100:g} points)")
    return RegressionReport("ok", msg, candidate, baseline, df.reset_index(drop=True), cfg, baseline_reason)


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
            "rows": report.rows.replace({np.nan: None}).to_dict(orient="records")}
