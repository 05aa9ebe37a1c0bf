"""Verbosity bias: how much of a judge's verdict is the answer's length, and the figure without it.

In: per-sample judge outcomes and answer lengths (plain arrays), or judge score rows, which carry the
lengths as the auxiliary metrics :data:`LENGTH_METRIC` (words of the graded answer),
:data:`BASELINE_LENGTH_METRIC` (words of the pairwise baseline answer) and
:data:`REFERENCE_LENGTH_METRIC` (words of the reference answer). Out: flat dicts with n, intervals,
the test used and a flag:

* :func:`length_controlled_win_rate` - pairwise, AlpacaEval 2.0 style: a logistic regression
  (statsmodels GLM, binomial family, fractional outcome: a tie is 0.5; robust HC1 standard
  errors) of the candidate's outcome on the standardized length difference (candidate - baseline,
  in words). The length-controlled win rate is the predicted win probability at a length difference
  of 0 (``expit(intercept)``) with a Wald (delta-method) 95 % interval on the logit scale;
  ``length_bias`` is True when the length coefficient's Wald test has p < ``alpha``: length alone
  explains a significant part of the preference.
* :func:`length_association` - pointwise, per rubric dimension: Spearman's rho of score vs answer
  length with a 95 % paired bootstrap interval (scipy) and its p-value; when p < ``alpha``, a
  length-adjusted mean: the OLS prediction (statsmodels, HC1) of the score at the reference-answer
  length (mean words of the references; without references, the mean answer length, which leaves the
  mean unchanged) with its 95 % interval.
* :func:`summarize_length_pairwise` / :func:`summarize_length_pointwise` - the same from score rows.

A judge with no length preference gives ``lc_win_rate`` close to ``win_rate``; a judge that prefers
the longer answer regardless of quality gives a raw win rate above the length-controlled one when
the candidate is longer.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from eval_pipeline.evaluators.calibration_metrics import bootstrap_interval, finite_pairs, spearman_along_axis

LENGTH_METRIC = "response_word_count"
BASELINE_LENGTH_METRIC = "baseline_word_count"
REFERENCE_LENGTH_METRIC = "reference_word_count"
LENGTH_METRICS = (LENGTH_METRIC, BASELINE_LENGTH_METRIC, REFERENCE_LENGTH_METRIC)
ALPHA = 0.05
MIN_PAIRS = 10  # below this the regression is not fitted (lc = raw, no interval)


def word_count(text: Any) -> int | None:
    """Whitespace-separated words of an answer (None for a missing answer)."""
    if text is None or (isinstance(text, float) and math.isnan(text)):
        return None
    return len(str(text).split())


def _wilson(successes: float, n: int) -> tuple[float, float]:
    from statsmodels.stats.proportion import proportion_confint  # noqa: PLC0415 - keeps statsmodels out of `import eval_pipeline.definitions`

    lo, hi = proportion_confint(successes, n, alpha=ALPHA, method="wilson")
    return float(lo), float(hi)


def length_controlled_win_rate(
    outcomes: npt.ArrayLike, length_diff: npt.ArrayLike, alpha: float = ALPHA
) -> dict[str, Any]:
    """Length-controlled win rate of a candidate (outcome 1 win / 0.5 tie / 0 loss per pair).

    ``length_diff`` = candidate minus baseline length per pair. Returns ``n``, ``win_rate`` (raw
    mean) with its Wilson ``win_rate_ci``, ``lc_win_rate`` with ``lc_win_rate_ci``,
    ``length_coef`` (logit change per standard deviation of the length difference), ``length_p``
    (robust Wald test), ``length_bias`` (``length_p < alpha``), ``mean_length_diff`` and ``test``.
    With fewer than :data:`MIN_PAIRS` pairs, constant lengths or all outcomes equal the model is
    not fitted: ``lc_win_rate`` is the raw rate and the reason is in ``test``.
    """
    import statsmodels.api as sm
    from scipy.special import expit  # noqa: PLC0415 - keeps scipy out of `eval-pipeline run`'s start-up (inference/warmup.py loads it during the requests)
    from scipy.stats import norm  # noqa: PLC0415 - keeps scipy out of `eval-pipeline run`'s start-up (inference/warmup.py loads it during the requests)

    y, d = finite_pairs(outcomes, length_diff)
    n = int(len(y))
    out: dict[str, Any] = {
        "n": n,
        "win_rate": math.nan,
        "win_rate_ci": (math.nan, math.nan),
        "lc_win_rate": math.nan,
        "lc_win_rate_ci": (math.nan, math.nan),
        "length_coef": math.nan,
        "length_p": math.nan,
        "length_bias": False,
        "mean_length_diff": float(d.mean()) if n else math.nan,
        "alpha": alpha,
    }
    if n == 0:
        out["test"] = "no pairs"
        return out
    out["win_rate"] = float(y.mean())
    out["win_rate_ci"] = _wilson(float(y.sum()), n)
    sd = float(d.std(ddof=1)) if n > 1 else 0.0
    if n < MIN_PAIRS or sd == 0 or np.ptp(y) == 0:
        why = (
            f"fewer than {MIN_PAIRS} pairs"
            if n < MIN_PAIRS
            else "all length differences equal"
            if sd == 0
            else "all outcomes equal"
        )
        out.update(
            lc_win_rate=out["win_rate"],
            lc_win_rate_ci=out["win_rate_ci"],
            test=f"not fitted ({why}): raw rate, Wilson interval",
        )
        return out
    x = sm.add_constant(d / sd)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit = sm.GLM(y, x, family=sm.families.Binomial()).fit(cov_type="HC1")
        b0, b1 = (float(v) for v in fit.params)
        se0, se1 = (float(v) for v in fit.bse)
        if not all(map(math.isfinite, (b0, b1, se0, se1))) or abs(b1) > 20:
            raise ValueError("separation")
    except Exception:  # (quasi-)perfect separation: length decides every verdict
        out.update(
            lc_win_rate=out["win_rate"],
            lc_win_rate_ci=out["win_rate_ci"],
            length_bias=True,
            test="not fitted (the length difference separates the outcomes: length decides the verdicts): raw rate",
        )
        return out
    z = float(norm.ppf(1 - alpha / 2))
    p1 = float(fit.pvalues[1])
    out.update(
        lc_win_rate=float(expit(b0)),
        lc_win_rate_ci=(float(expit(b0 - z * se0)), float(expit(b0 + z * se0))),
        length_coef=b1,
        length_coef_ci=(b1 - z * se1, b1 + z * se1),
        length_p=p1,
        length_bias=bool(p1 < alpha),
        length_sd=sd,
        test="logistic regression (statsmodels GLM binomial, fractional outcome, HC1) of outcome on length "
        "difference / sd; LC = expit(intercept), Wald interval; length_bias = Wald p < alpha on the length coefficient",
    )
    return out


def length_association(
    scores: npt.ArrayLike,
    lengths: npt.ArrayLike,
    reference_length: float | None = None,
    alpha: float = ALPHA,
    seed: int = 0,
) -> dict[str, Any]:
    """Association of pointwise scores with answer length and, when significant, a length-adjusted mean.

    Returns ``n``, ``spearman`` with ``spearman_ci`` (paired percentile bootstrap, 1000 resamples),
    ``spearman_p`` (scipy), ``length_bias`` (p < ``alpha``), ``mean``, and when biased
    ``adjusted_mean`` / ``adjusted_mean_ci``: the OLS prediction of the score at ``reference_length``
    (default: the mean answer length), else ``adjusted_mean`` = ``mean``.
    """
    import statsmodels.api as sm
    from scipy.stats import spearmanr  # noqa: PLC0415 - keeps scipy out of `eval-pipeline run`'s start-up (inference/warmup.py loads it during the requests)

    s, ln = finite_pairs(scores, lengths)
    n = int(len(s))
    out: dict[str, Any] = {
        "n": n,
        "mean": float(s.mean()) if n else math.nan,
        "spearman": math.nan,
        "spearman_ci": (math.nan, math.nan),
        "spearman_p": math.nan,
        "length_bias": False,
        "adjusted_mean": float(s.mean()) if n else math.nan,
        "adjusted_mean_ci": (math.nan, math.nan),
        "reference_length": reference_length,
        "alpha": alpha,
        "test": "Spearman (scipy) with a paired bootstrap interval; adjusted mean = OLS prediction at the reference length",
    }
    if n < 3 or np.ptp(s) == 0 or np.ptp(ln) == 0:
        return out
    res = spearmanr(s, ln)
    out["spearman"], out["spearman_p"] = float(res.statistic), float(res.pvalue)
    out["spearman_ci"] = bootstrap_interval(spearman_along_axis, s, ln, seed=seed, vectorized=True)
    out["length_bias"] = bool(out["spearman_p"] < alpha)
    ref = (
        float(ln.mean())
        if reference_length is None or math.isnan(reference_length)
        else float(reference_length)
    )
    out["reference_length"] = ref
    fit = sm.OLS(s, sm.add_constant(ln)).fit(cov_type="HC1")
    pred = fit.get_prediction(np.array([[1.0, ref]])).summary_frame(alpha=alpha)
    if out["length_bias"]:
        out["adjusted_mean"] = float(pred["mean"].iat[0])
        out["adjusted_mean_ci"] = (float(pred["mean_ci_lower"].iat[0]), float(pred["mean_ci_upper"].iat[0]))
    out["length_slope"] = float(fit.params[1])
    return out


def _per_sample(rows: pd.DataFrame, metric: str) -> pd.Series:
    r = rows[(rows["metric"] == metric) & rows["value"].notna()]
    if r.empty:
        return pd.Series(dtype=float)
    keys = r["eval_set"].astype(str) + "\x1f" + r["sample_id"].astype(str) + "\x1f" + r["repeat"].astype(str)
    return pd.Series(r["value"].astype(float).to_numpy(), index=keys.to_numpy())


def summarize_length_pairwise(rows: pd.DataFrame, alpha: float = ALPHA) -> dict[str, Any]:
    """:func:`length_controlled_win_rate` over judge score rows (``pairwise_win`` + the two lengths)."""
    win = _per_sample(rows, "pairwise_win")
    diff = _per_sample(rows, LENGTH_METRIC) - _per_sample(rows, BASELINE_LENGTH_METRIC)
    joined = pd.concat([win.rename("y"), diff.rename("d")], axis=1, join="inner").dropna()
    return length_controlled_win_rate(joined["y"].to_numpy(), joined["d"].to_numpy(), alpha=alpha)


def summarize_length_pointwise(
    rows: pd.DataFrame, dimensions: Sequence[str], alpha: float = ALPHA
) -> dict[str, dict[str, Any]]:
    """:func:`length_association` per dimension over judge score rows."""
    lengths = _per_sample(rows, LENGTH_METRIC)
    refs = _per_sample(rows, REFERENCE_LENGTH_METRIC)
    ref = float(refs.mean()) if len(refs) else None
    out = {}
    for dim in dimensions:
        joined = pd.concat(
            [_per_sample(rows, dim).rename("s"), lengths.rename("l")], axis=1, join="inner"
        ).dropna()
        out[dim] = length_association(joined["s"].to_numpy(), joined["l"].to_numpy(), ref, alpha=alpha)
    return out
