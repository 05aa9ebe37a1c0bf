"""Day-to-day-variance test for the pass-rate trend rule.

In: one series' dates and daily pass rates (one point per day), the trailing window in calendar days.
Out: one-sided p-values of "today is below what the trailing days predict" (NaN without enough days).

Why: the two-proportion score test in :func:`eval_pipeline.history.alerts.lower_test` treats the
trailing days' pooled counts as one binomial sample of the same rate. When the provider drifts from
day to day (a shared shift of every sample's pass probability, the rule's realistic violation),
the daily rates vary more than binomially, and that test fires on ordinary days.

Test: a t prediction interval for a new day from the ``m`` trailing daily rates,
``t = (x_today - mean) / (s * sqrt(1 + 1/m))`` with ``m - 1`` degrees of freedom (scipy ``t``).
Its variance ``s^2`` is the observed day-to-day variance, so binomial noise and day-level drift are
both in it; it assumes the trailing days and today are exchangeable draws around one level
(roughly normal; equal weights per day, which is exact when every day has the same n).
The trend rule uses ``max(score-test p, prediction p)`` (a day breaches only when both are
significant): the score test protects the case where the few trailing days happen to agree
exactly (``s = 0``), the prediction test the drifting case.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd


def prediction_p(
    dates: npt.ArrayLike, rates: npt.ArrayLike, days: int, min_points: int = 3, lag: int = 0
) -> np.ndarray:
    """One-sided p of "rate below the trailing ``days``-day prediction interval" for every point.

    The reference days of the point on date ``d`` are those in ``[d - lag - days, d - lag)``: with
    ``lag = debounce_m - 1`` the days of a debounce window share one reference that they are not part
    of, so a real drop does not widen its own yardstick. NaN where fewer than ``max(min_points, 2)``
    reference days exist; 0 when the reference rates are all equal and today is below them (the score
    test then decides). Dates must be sorted."""

    from scipy import stats  # noqa: PLC0415 - keeps scipy out of `eval-pipeline run`'s start-up (inference/warmup.py loads it during the requests)

    x = np.asarray(rates, dtype=float)
    d = pd.to_datetime(np.asarray(dates)).to_numpy()
    hi = np.searchsorted(d, d - np.timedelta64(lag, "D"), side="left")
    lo = np.searchsorted(d, d - np.timedelta64(lag + days, "D"), side="left")
    out = np.full(len(x), np.nan)
    for i in range(len(x)):
        ref = x[lo[i] : hi[i]]
        ref = ref[~np.isnan(ref)]
        m = ref.size
        if m < max(min_points, 2) or np.isnan(x[i]):
            continue
        mean, sd = ref.mean(), ref.std(ddof=1)
        flat = -np.inf if x[i] < mean else np.inf
        t = (x[i] - mean) / (sd * np.sqrt(1 + 1 / m)) if sd > 0 else flat
        out[i] = stats.t.cdf(t, df=m - 1)
    return out


def combined_p(score_p: np.ndarray, pred_p: np.ndarray) -> np.ndarray:
    """``max`` of the two p-values (intersection-union: significant only when both are); NaN in the
    prediction p (too few days) falls back to the score test."""
    score_p, pred_p = np.asarray(score_p, dtype=float), np.asarray(pred_p, dtype=float)
    return np.where(np.isnan(pred_p), score_p, np.fmax(score_p, pred_p))
