"""Sequential tests that stay valid when a canary is looked at every hour (plain numpy / scipy).

In: cumulative counts (rates) or values (latency) of a canary and of production, one entry per
hourly look. Out: per look, an always-valid p-value, an always-valid confidence interval of the
effect, and the naive fixed-sample p-value for comparison. Every function is vectorized: any leading
axes (e.g. 500 simulated rollouts) and the looks on the last axis.

Rates: mixture sequential probability ratio test (mSPRT) for a difference of two proportions,
Johari, Koomen, Pekelis, Walsh, "Peeking at A/B tests: why it matters, and what to do about it",
KDD 2017 (and Johari, Pekelis, Walsh, "Always valid inference", Operations Research 2022). With
``d = p_canary - p_production`` estimated with variance ``v`` (pooled Bernoulli variance
``p(1-p)(1/n_c + 1/n_p)``) and a normal mixture ``theta ~ N(0, tau^2)`` over the alternatives, the
mixture likelihood ratio against ``theta = theta0`` is (their eq. for the two-stream normal case, on
the information scale ``v``)::

    Lambda_n = sqrt(v / (v + tau^2)) * exp(tau^2 (d - theta0)^2 / (2 v (v + tau^2)))

Under H0 it is a nonnegative martingale (normal approximation), so by Ville's inequality
``P(exists n: Lambda_n >= 1/alpha) <= alpha``: the p-value ``p_n = min(1, min_{m<=n} 1/Lambda_m)``
is valid at every look, however often one looks. Inverting the test gives the confidence sequence
``d +- sqrt(2 v (v + tau^2) / tau^2 * (log(1/alpha) + log((v + tau^2)/v) / 2))``, which covers a
constant true difference at every look simultaneously with probability >= 1 - alpha (not
intersected over looks: a canary that degrades mid-rollout has no constant difference, and the
interval should follow the current estimate). ``tau`` is set to the metric's minimum effect (Johari et al. recommend a
mixture matched to the effects one expects to detect).

Latency: one-sided Mann-Whitney U (``scipy.stats.mannwhitneyu``) on the cumulative cohorts at each
look, with the error budget spent over ``planned_looks`` by a Lan-DeMets Pocock-type spending
function ``alpha(t) = alpha * ln(1 + (e - 1) t)``; look ``k`` tests at the increment
``alpha(k/K) - alpha((k-1)/K)``. By the union bound the false-rejection probability over all looks
is at most ``alpha`` whatever the dependence between looks; ``p * alpha / increment`` (running
minimum) is therefore a valid always-valid p-value. Quantile-ratio intervals (p95, p99) come from
binomial order-statistic intervals of each cohort (distribution free), combined by Bonferroni.
"""

from __future__ import annotations

import math
from typing import TypeAlias

import numpy as np
import numpy.typing as npt
from scipy import stats

# ``(estimate, low, high)``: floats for 1-D input, one array entry per row for 2-D input
Interval: TypeAlias = tuple[float, float, float] | tuple[np.ndarray, np.ndarray, np.ndarray]


def _running_min(a: np.ndarray) -> np.ndarray:
    return np.minimum.accumulate(a, axis=-1)


def msprt_two_proportions(
    x_c: npt.ArrayLike,
    n_c: npt.ArrayLike,
    x_p: npt.ArrayLike,
    n_p: npt.ArrayLike,
    tau: npt.ArrayLike,
    alpha: float,
    min_n: int = 50,
) -> dict[str, np.ndarray]:
    """Always-valid test and confidence sequence of ``p_c - p_p`` over looks (last axis).

    ``x_*`` / ``n_*``: cumulative successes / trials of canary and production at each look; ``tau``:
    mixture scale (absolute, same units as the difference; broadcastable); ``alpha``: level of the
    confidence sequence. Looks where an arm has fewer than ``min_n`` trials carry no evidence
    (Lambda = 1, interval [-1, 1]). The pooled rate is kept half an event away from 0 and 1, so arms
    without any event (e.g. no safety violation) still bound the difference.

    Returns arrays of the looks' shape: ``diff``, ``p_value`` (always valid, non-increasing),
    ``ci_low`` / ``ci_high`` (always-valid 1 - alpha), ``log_lr``.
    """
    x_c, n_c, x_p, n_p = (np.asarray(a, dtype=float) for a in (x_c, n_c, x_p, n_p))
    tau2 = np.asarray(tau, dtype=float) ** 2
    with np.errstate(divide="ignore", invalid="ignore"):
        pc, pp = x_c / n_c, x_p / n_p
        # pooled rate kept off 0 and 1 by half an event, so all-zero arms still give a (narrow) interval
        half_event = 0.5 / (n_c + n_p)
        pooled = np.clip((x_c + x_p) / (n_c + n_p), half_event, 1 - half_event)
        v = pooled * (1 - pooled) * (1 / n_c + 1 / n_p)
        ok = (n_c >= min_n) & (n_p >= min_n) & (v > 0) & (tau2 > 0)
        v = np.where(ok, v, 1.0)
        d = np.where(ok, pc - pp, 0.0)
        log_lr = 0.5 * np.log(v / (v + tau2)) + tau2 * d**2 / (2 * v * (v + tau2))
        log_lr = np.where(ok, log_lr, 0.0)
        half = np.sqrt(2 * v * (v + tau2) / tau2 * (math.log(1 / alpha) + 0.5 * np.log((v + tau2) / v)))
    half = np.where(ok, half, np.inf)
    p_value = _running_min(np.minimum(1.0, np.exp(-log_lr)))
    lo, hi = np.clip(d - half, -1.0, 1.0), np.clip(d + half, -1.0, 1.0)
    return {
        "diff": np.where(ok, pc - pp, np.nan),
        "p_value": p_value,
        "ci_low": lo,
        "ci_high": hi,
        "log_lr": log_lr,
    }


def naive_two_proportions(
    x_c: npt.ArrayLike,
    n_c: npt.ArrayLike,
    x_p: npt.ArrayLike,
    n_p: npt.ArrayLike,
    alternative: str = "larger",
) -> np.ndarray:
    """Fixed-sample score test of two proportions at each look (statsmodels), ignoring repeated looks.

    What a naive hourly check does; used to show how often it rolls back an A/A canary."""
    from statsmodels.stats.proportion import test_proportions_2indep  # noqa: PLC0415 - keeps statsmodels out of `import eval_pipeline.definitions`

    x_c, n_c, x_p, n_p = (np.asarray(a, dtype=float) for a in (x_c, n_c, x_p, n_p))
    with np.errstate(divide="ignore", invalid="ignore"):
        res = test_proportions_2indep(x_c, n_c, x_p, n_p, method="score", alternative=alternative)
    p = np.asarray(res.pvalue, dtype=float)
    return np.where(np.isfinite(p), p, 1.0)


def spending_increments(planned_looks: int, alpha: float, n_looks: int | None = None) -> np.ndarray:
    """Error spent at each look 1..n_looks: Pocock-type Lan-DeMets ``alpha ln(1 + (e-1) t)``, t = k/K.
    Looks beyond ``planned_looks`` get 0 (the budget is used up)."""
    n = planned_looks if n_looks is None else n_looks
    t = np.minimum(np.arange(0, n + 1) / planned_looks, 1.0)
    spent = alpha * np.log1p((math.e - 1) * t)
    return np.diff(spent)


def mann_whitney_greater(canary: np.ndarray, production: np.ndarray, axis: int = -1) -> np.ndarray:
    """One-sided Mann-Whitney U p-value that the canary's values are stochastically larger (scipy;
    vectorized over the other axes)."""
    return np.asarray(
        stats.mannwhitneyu(canary, production, alternative="greater", axis=axis).pvalue, dtype=float
    )


def spent_p_values(p_per_look: np.ndarray, increments: np.ndarray, alpha: float) -> np.ndarray:
    """Always-valid p-values of an alpha-spending scheme: running min of ``p_k * alpha / increment_k``
    (capped at 1). Rejecting when it is <= alpha rejects exactly when some look's p_k <= increment_k."""
    inc = np.asarray(increments, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        scaled = np.where(inc > 0, np.asarray(p_per_look) * alpha / inc, 1.0)
    return _running_min(np.minimum(1.0, scaled))


def quantile_interval(values: np.ndarray, q: float, level: float, presorted: bool = False) -> Interval:
    """``(estimate, low, high)`` of the ``q`` quantile along the last axis: a distribution-free binomial
    order-statistic interval with coverage >= ``level`` (``scipy.stats.binom``). 1-D input gives
    floats; 2-D input (rows of equal length, no NaN) gives arrays (one per row)."""
    x = np.asarray(values, dtype=float)
    if x.ndim == 1:
        x = x[np.isfinite(x)]
    if not presorted:
        x = np.sort(x, axis=-1)
    n = x.shape[-1]
    if n == 0:
        return float("nan"), float("nan"), float("nan")
    g = (1 - level) / 2
    lo_rank = int(stats.binom.ppf(g, n, q))  # number of values below the lower bound
    hi_rank = int(stats.binom.ppf(1 - g, n, q)) + 1
    lo = x[..., lo_rank - 1] if lo_rank >= 1 else np.zeros(x.shape[:-1])
    hi = x[..., hi_rank - 1] if hi_rank <= n else np.full(x.shape[:-1], math.inf)
    est = np.quantile(x, q, axis=-1)
    if x.ndim == 1:
        return float(est), float(lo), float(hi)
    return est, lo, hi


def quantile_ratio(
    canary: np.ndarray, production: np.ndarray, q: float, level: float, presorted: bool = False
) -> Interval:
    """``(ratio, low, high)`` of canary / production ``q`` quantiles (last axis); each cohort's interval
    at ``1 - (1 - level)/2`` so the ratio interval has coverage >= ``level`` (Bonferroni)."""
    each = 1 - (1 - level) / 2
    c, c_lo, c_hi = quantile_interval(canary, q, each, presorted)
    p, p_lo, p_hi = quantile_interval(production, q, each, presorted)
    with np.errstate(divide="ignore", invalid="ignore"):
        ok = (np.asarray(p) > 0) & (np.asarray(p_lo) > 0)
        out = (
            np.where(ok, np.divide(c, p), np.nan),
            np.where(ok, np.divide(c_lo, p_hi), np.nan),
            np.where(ok, np.divide(c_hi, p_lo), np.nan),
        )
    ratio, low, high = out
    return (float(ratio), float(low), float(high)) if np.ndim(ratio) == 0 else out
