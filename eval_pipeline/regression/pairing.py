"""Pair a candidate run with its baseline, sample by sample, and test every row of the report.

In: the candidate's and the baseline's long-format score rows (``SCORE_COLUMNS``) and a
:class:`~eval_pipeline.project.regression_config.RegressionConfig`. Out: the per-sample pairs
(:func:`per_sample`, :func:`pair_runs`), one uncorrected test row per (suite, eval_set, family, metric,
segment, measure) (:func:`tested_rows`: exact McNemar / paired t for pass rates, the continuous test for
mean values; :func:`pass_rate_row`, :func:`value_row`), and the rows of an earlier baseline night that
measure what the baseline run measured (:func:`same_evidence`). The gate's correction and verdicts are
:mod:`eval_pipeline.regression.gating`'s; :mod:`eval_pipeline.regression.compare` assembles the report.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from eval_pipeline.history.sql import SEGMENT_ALL
from eval_pipeline.project.regression_config import RegressionConfig
from eval_pipeline.project.regression_schema import GROUP_KEYS, row_direction
from eval_pipeline.regression.gating import family_measures
from eval_pipeline.regression.paired_tests import (
    effect_interval,
    paired_location_test,
    paired_t,
    stratified_exact,
)


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
    return g.agg(
        pass_frac=("passed_f", "mean"),
        k=("passed_f", "count"),
        value=("value", "mean"),
        nonbinary=("nonbinary", "any"),
        category=("category", "first"),
    ).reset_index()


def pair_runs(candidate: pd.DataFrame, baseline: pd.DataFrame) -> pd.DataFrame:
    """Inner join of the two runs' per-sample rows on the shared samples (suffixes ``_c`` / ``_b``)."""
    c = per_sample(candidate)
    b = per_sample(baseline)
    m = c.merge(b, on=GROUP_KEYS + ["sample_id"], suffixes=("_c", "_b"), how="inner")
    m["category"] = m["category_c"]
    return m


def tested_rows(
    pairs: pd.DataFrame, cfg: RegressionConfig, pooled: pd.DataFrame | None = None
) -> list[dict[str, Any]]:
    """Test every (group, segment, measure) of a paired frame; verdicts without correction yet.

    ``pooled``: the same pairing with the baseline's earlier nights added to the baseline side (see
    :func:`regression_report`); pass/fail rows are tested on it, mean-value rows on ``pairs``.
    A metric gets a ``mean_value`` row only when its *raw* values are not all 0/1 (per-sample means
    of a binary check with repeats are fractions, but the evidence is the 0/1 rows: one test)."""
    rows: list[dict[str, Any]] = []
    pooled_groups = (
        dict(iter(pooled.groupby(GROUP_KEYS, sort=True, dropna=False))) if pooled is not None else {}
    )
    for keys, grp in pairs.groupby(GROUP_KEYS, sort=True, dropna=False):
        segments = [(SEGMENT_ALL, grp)]
        if cfg.segments and grp["category"].nunique() > 1:
            segments += [(str(s), sg) for s, sg in grp.groupby("category", sort=True)]
        continuous = bool(grp["nonbinary_c"].any() or grp["nonbinary_b"].any())
        metric = str(keys[3])
        in_family = family_measures(cfg, str(keys[1]), metric, continuous)
        pgrp = pooled_groups.get(keys)
        for segment, sg in segments:
            base = dict(zip(GROUP_KEYS, keys)) | {"segment": segment}
            gated = segment == SEGMENT_ALL or cfg.gate_segments
            psg = (
                sg
                if pgrp is None
                else (pgrp if segment == SEGMENT_ALL else pgrp[pgrp["category"] == segment])
            )
            graded = psg.dropna(subset=["pass_frac_c", "pass_frac_b"])
            if len(graded):
                row = base | pass_rate_row(graded, cfg)
                if segment != SEGMENT_ALL:  # a segment's meaningful effect is larger (and so is its noise)
                    row["min_effect"] = max(cfg.min_effect, cfg.min_effect_segment)
                rows.append(row | {"direction": "higher", "gating": gated and "pass_rate" in in_family})
            if continuous:
                valued = sg.dropna(subset=["value_c", "value_b"])
                direction = row_direction(cfg, str(keys[1]), metric)
                if len(valued):
                    rows.append(
                        base
                        | value_row(valued, cfg, metric, direction, str(keys[2]))
                        | {
                            "direction": direction,
                            # a row whose direction is unknown never gates: "worse" is not defined
                            "gating": gated and "mean_value" in in_family and direction != "unknown",
                        }
                    )
    return rows


def pass_rate_row(g: pd.DataFrame, cfg: RegressionConfig) -> dict[str, Any]:
    bp, cp = g["pass_frac_b"].to_numpy(), g["pass_frac_c"].to_numpy()
    kb, kc = g["k_b"].to_numpy().astype(int), g["k_c"].to_numpy().astype(int)
    single = bool((kc == 1).all() and (kb == 1).all())
    d = cp - bp
    support_two_sided: (
        np.ndarray | None
    )  # the p-values the exact test can attain (None: the t-test's, continuous)
    support_worse: np.ndarray | None
    if single:
        # one draw a side: exact McNemar (the stratified exact test with one draw a side), exact under the null
        # "no worse on the task distribution": the (baseline, candidate) pairs of the samples are i.i.d.
        xc, xb = np.rint(cp * kc).astype(int), np.rint(bp * kb).astype(int)
        worse, better, p, support_two_sided = stratified_exact(xc, kc, xb, kb)
        p_worse, support_worse = stratified_exact(xc, kc, xb, kb, alternative="worse")[2:]
        test = "mcnemar_exact"
    else:
        # repeats or pooled nights: a sample's draws need not be exchangeable (a different model at temperature 0,
        # correlated repeats), so the sample is the unit: paired t-test of the per-sample pass-fraction difference
        worse, better = int(np.sum(d < 0)), int(np.sum(d > 0))
        p, p_worse = paired_t(d), paired_t(d, "less")
        support_two_sided = support_worse = None
        test = "paired_t"
    tested = paired_row("pass_rate", test, g, bp, cp, cfg, (worse, better, p, p_worse), cfg.min_effect)
    return tested | {"_support_worse": support_worse, "_support_two_sided": support_two_sided}


def value_row(
    g: pd.DataFrame, cfg: RegressionConfig, metric: str, direction: str, family: str = ""
) -> dict[str, Any]:
    bv, cv = g["value_b"].to_numpy(), g["value_c"].to_numpy()
    d = cv - bv
    p = paired_location_test(d, cfg.continuous_test, cfg.n_resamples, cfg.seed)
    lower = direction == "lower"
    if direction == "unknown":  # no side is "worse": the two-sided p-value, never gated
        p_worse = p
    else:
        worse_side = "greater" if lower else "less"
        p_worse = paired_location_test(
            d, cfg.continuous_test, cfg.n_resamples, cfg.seed, alternative=worse_side
        )
    default_min = cfg.min_effect_judge if family == "judge" else cfg.min_effect_value
    worse, better = (d > 0, d < 0) if lower else (d < 0, d > 0)
    outcome = (int(worse.sum()), int(better.sum()), p, p_worse)
    min_effect = cfg.min_effect_by_metric.get(metric, default_min)
    return paired_row("mean_value", cfg.continuous_test, g, bv, cv, cfg, outcome, min_effect)


def paired_row(
    measure: str,
    test: str,
    g: pd.DataFrame,
    baseline: np.ndarray,
    candidate: np.ndarray,
    cfg: RegressionConfig,
    outcome: tuple[int, int, float, float],
    min_effect: float,
) -> dict[str, Any]:
    """One tested row of the report: the per-sample ``baseline`` and ``candidate`` values of the pairs
    ``g`` (with their ``k_b`` / ``k_c`` draws), the effect (mean of candidate - baseline) and its
    interval (``cfg.ci_method``), and the test's ``outcome``: (samples worse, samples better,
    two-sided p, one-sided p of "worse")."""
    worse, better, p, p_worse = outcome
    eff, lo, hi = effect_interval(
        candidate - baseline, cfg.ci_level, cfg.ci_method, cfg.n_resamples, cfg.seed
    )
    return {
        "measure": measure,
        "test": test,
        "n_pairs": len(g),
        "repeats": int(max(g["k_c"].max(), g["k_b"].max())),
        "baseline": float(baseline.mean()),
        "candidate": float(candidate.mean()),
        "effect": eff,
        "ci_low": lo,
        "ci_high": hi,
        "n_worse": worse,
        "n_better": better,
        "p_value": p,
        "p_worse": p_worse,
        "min_effect": min_effect,
        "baseline_draws": float(g["k_b"].mean()),
    }


def same_evidence(night: pd.DataFrame, baseline: pd.DataFrame) -> pd.DataFrame:
    """The rows of an earlier baseline night that measure what the baseline run measured: the same (suite,
    eval set, family, metric, sample) and, where recorded, the same evaluator (a changed check or judge is
    other evidence)."""
    if night is None or not len(night) or baseline is None or not len(baseline):
        return night.iloc[0:0] if night is not None else pd.DataFrame()
    on = GROUP_KEYS + ["sample_id"]
    if "evaluator_hash" in night.columns and "evaluator_hash" in baseline.columns:
        on = on + ["evaluator_hash"]
    keys = baseline[on].drop_duplicates()
    return night.merge(keys, on=on, how="inner")[list(night.columns)]
