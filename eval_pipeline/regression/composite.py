"""The composite pass/fail outcome behind an eval set's ``pass_rate`` threshold, as score rows.

In: long-format score rows (``SCORE_COLUMNS``). Out: the same rows plus one ``pass_rate`` row per
(deterministic or pointwise-judge eval set with two or more components, sample, repeat): passed = every graded main check (deterministic) /
every thresholded dimension (judge) passed. Auxiliary rows (``check.suffix``, ``*_spread``, judge failure counts:
``passed`` is None there) and infrastructure errors are ignored; a sample whose every judge repeat failed is
already a failure of each thresholded dimension, so it fails the composite too.

Why: a blocking ``pass_rate >= x`` threshold is about this outcome, so the regression gate tests it as one
row (one test per piece of evidence) instead of one row per component, which would make the gated family,
and the Holm correction, grow with the number of checks.
"""

from __future__ import annotations

import pandas as pd

COMPOSITE_PASS_METRIC = "pass_rate"
COMPOSITE_FAMILIES = ("deterministic", "judge")
_KEYS = ["date", "model_version", "suite", "eval_set", "family", "sample_id", "repeat"]


def with_composite_pass(scores: pd.DataFrame, min_components: int = 2) -> pd.DataFrame:
    """``scores`` plus the composite ``pass_rate`` rows (recomputed: existing composite rows are replaced) of the
    eval sets with at least ``min_components`` components (the noise floor uses 1: its thresholds look it up)."""
    if scores is None or len(scores) == 0:
        return scores
    base = scores[scores["metric"].astype(str) != COMPOSITE_PASS_METRIC]
    metric = base["metric"].astype(str)
    part = base[
        base["family"].isin(COMPOSITE_FAMILIES)
        & ~metric.str.contains(".", regex=False)
        & base["passed"].notna()
        & base["infra_error"].isna()
    ]
    # only eval sets with two or more components: with one, the composite IS that check (one test per evidence)
    n_comp = part.groupby(["suite", "eval_set", "family"], dropna=False)["metric"].transform("nunique")
    part = part[n_comp >= min_components]
    if part.empty:
        return base.reset_index(drop=True)
    keys = [
        k for k in (*_KEYS, "draw") if k in part.columns
    ]  # draw: the answer's identity (regression.draws)
    has_cat = "category" in part.columns
    agg = {"passed": ("passed", lambda s: bool(s.astype(bool).all())), "n_parts": ("metric", "size")}
    if has_cat:
        agg["category"] = ("category", "first")
    comp = part.groupby(keys, as_index=False, sort=True, dropna=False).agg(**agg)
    comp = comp.assign(
        metric=COMPOSITE_PASS_METRIC,
        value=comp["passed"].astype(float),
        infra_error=None,
        reason=comp["n_parts"].map(lambda k: f"composite of {k} graded check(s) / dimension(s)"),
    )
    for col in scores.columns:
        if col not in comp.columns:
            comp[col] = None
    return pd.concat([base, comp[list(scores.columns)]], ignore_index=True)
