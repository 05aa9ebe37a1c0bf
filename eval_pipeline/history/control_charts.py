"""Control charts for daily metric series: Shewhart, p-chart, EWMA, CUSUM, and debouncing.

Every chart takes a series (one point per run/day), estimates the in-control
centre and spread from a *baseline window* (the first ``baseline`` points, or
explicit ``center`` / ``sigma``, e.g. from an A/A noise floor) and returns a
DataFrame with one row per point:

``x, value, statistic, center, lcl, ucl, out_of_control, direction``

``statistic`` is what is compared with the limits (the value itself for
Shewhart / p-chart, the smoothed value for EWMA, the larger one-sided sum for
CUSUM). ``direction`` is ``"low"``/``"high"``/``""``.

Note on p-charts for fixed golden sets: re-running the same samples, the day-
to-day variance of a pass rate is ``sum p_i (1 - p_i) / n**2``, *smaller* than the
binomial ``p (1 - p) / n`` the p-chart assumes (samples differ in difficulty),
so p-chart limits are conservative (wide). A Shewhart/EWMA chart with ``sigma``
from the A/A noise floor (:func:`eval_pipeline.noise.aa_noise.aa_noise_floor`)
has tighter, honest limits.

Limits are never zero-width: a p-chart floors ``p`` at ``0.5 / n`` (and ``1 - 0.5 / n``), and
:func:`binomial_baseline` gives the binomial sigma ``sqrt(p (1 - p) / n)`` of a pass-rate series
(with the same floor) for the value charts, so seven perfect days do not make a 0.98 day an alarm.
``center_se`` (the standard error of an estimated centre) widens every chart's limits: a centre
estimated from 7 days is itself noisy, and ignoring that inflates false alarms.

The limit formulas are textbook arithmetic on numpy / pandas (pandas ``ewm``
for the EWMA); there is no maintained scipy/statsmodels implementation of
control charts to wrap.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

CHART_COLUMNS = ["x", "value", "statistic", "center", "lcl", "ucl", "out_of_control", "direction"]


def _baseline_stats(
    values: np.ndarray, baseline: int, center: float | None, sigma: float | None
) -> tuple[float, float]:
    """Centre and sigma; a zero sigma (a constant baseline) becomes NaN: no limits, nothing flagged,
    rather than zero-width limits that flag any change (pass ``sigma``, e.g. :func:`binomial_baseline`)."""
    base = values[: max(int(baseline), 0)]
    base = base[~np.isnan(base)]
    c = float(center) if center is not None else (float(base.mean()) if base.size else float("nan"))
    s = float(sigma) if sigma is not None else (float(base.std(ddof=1)) if base.size > 1 else float("nan"))
    return c, (s if s > 0 else float("nan"))


def binomial_baseline(
    n_passed: npt.ArrayLike, n: npt.ArrayLike, baseline: int = 7
) -> tuple[float, float, float]:
    """``(center, sigma, center_se)`` of a pass-rate series from its baseline points' counts.

    ``center`` = pooled pass rate of the first ``baseline`` points; ``sigma`` = binomial standard
    deviation of one point, ``sqrt(p (1 - p) / n_med)`` with ``n_med`` the median baseline ``n`` and
    ``p`` clipped to ``[0.5 / n_med, 1 - 0.5 / n_med]`` (never 0); ``center_se`` = standard error of
    the centre, ``sqrt(p (1 - p) / N)`` with ``N`` the baseline's total ``n``. NaNs when no counts.
    """
    k = np.asarray(n_passed, dtype=float)[: max(int(baseline), 1)]
    m = np.asarray(n, dtype=float)[: max(int(baseline), 1)]
    ok = ~(np.isnan(k) | np.isnan(m)) & (m > 0)
    if not ok.any():
        return float("nan"), float("nan"), float("nan")
    k, m = k[ok], m[ok]
    c = float(k.sum() / m.sum())
    n_med = float(np.median(m))
    p = min(max(c, 0.5 / n_med), 1 - 0.5 / n_med)
    return c, float(np.sqrt(p * (1 - p) / n_med)), float(np.sqrt(p * (1 - p) / m.sum()))


def _frame(
    x: Iterable[Any] | None,
    values: np.ndarray,
    stat: npt.ArrayLike,
    center: np.ndarray,
    lcl: npt.ArrayLike,
    ucl: npt.ArrayLike,
) -> pd.DataFrame:
    stat = np.asarray(stat, dtype=float)
    low, high = stat < lcl, stat > ucl
    return pd.DataFrame(
        {
            "x": list(x) if x is not None else np.arange(len(values)),
            "value": values,
            "statistic": stat,
            "center": center,
            "lcl": lcl,
            "ucl": ucl,
            "out_of_control": low | high,
            "direction": np.where(low, "low", np.where(high, "high", "")),
        }
    )


def shewhart_chart(
    values: npt.ArrayLike,
    *,
    baseline: int = 7,
    n_sigma: float = 3.0,
    center: float | None = None,
    sigma: float | None = None,
    center_se: float = 0.0,
    x: Iterable[Any] | None = None,
) -> pd.DataFrame:
    """Individuals chart: flag points outside ``center +/- n_sigma * sqrt(sigma**2 + center_se**2)``.

    ``center`` / ``sigma`` default to the mean / standard deviation of the first ``baseline`` points.
    """
    v = np.asarray(values, dtype=float)
    c, s = _baseline_stats(v, baseline, center, sigma)
    s = float(np.hypot(s, center_se or 0.0))
    return _frame(
        x, v, v, np.full(v.shape, c), np.full(v.shape, c - n_sigma * s), np.full(v.shape, c + n_sigma * s)
    )


def p_chart(
    n_passed: npt.ArrayLike,
    n: npt.ArrayLike,
    *,
    baseline: int = 7,
    n_sigma: float = 3.0,
    center: float | None = None,
    center_se: float = 0.0,
    x: Iterable[Any] | None = None,
) -> pd.DataFrame:
    """p-chart for pass rates with per-point sample size ``n``:
    ``p +/- n_sigma * sqrt(p' (1 - p') / n_t + center_se**2)``.

    ``center`` defaults to the pooled pass rate of the first ``baseline`` points; ``p'`` is the centre
    clipped to ``[0.5 / n_t, 1 - 0.5 / n_t]`` so a perfect baseline never gives zero-width limits.
    Limits are clipped to [0, 1].
    """
    k = np.asarray(n_passed, dtype=float)
    m = np.asarray(n, dtype=float)
    rate = np.divide(k, m, out=np.full(k.shape, np.nan), where=m > 0)
    b = max(int(baseline), 1)
    c = float(center) if center is not None else float(k[:b].sum() / max(m[:b].sum(), 1))
    with np.errstate(divide="ignore", invalid="ignore"):
        pf = np.clip(c, 0.5 / m, 1 - 0.5 / m)
        half = n_sigma * np.sqrt(pf * (1 - pf) / m + (center_se or 0.0) ** 2)
    return _frame(x, rate, rate, np.full(k.shape, c), np.clip(c - half, 0, 1), np.clip(c + half, 0, 1))


def ewma_chart(
    values: npt.ArrayLike,
    *,
    baseline: int = 7,
    lam: float = 0.2,
    L: float = 3.0,
    center: float | None = None,
    sigma: float | None = None,
    center_se: float = 0.0,
    x: Iterable[Any] | None = None,
) -> pd.DataFrame:
    """EWMA chart for slow drift: ``z_t = lam * x_t + (1 - lam) * z_{t-1}``, ``z_0 = center``.

    Time-varying limits ``center +/- L * sqrt(sigma**2 * lam / (2 - lam) * (1 - (1 - lam)**(2 t))
    + center_se**2)``.
    """
    v = np.asarray(values, dtype=float)
    c, s = _baseline_stats(v, baseline, center, sigma)
    z = pd.Series(np.concatenate([[c], v])).ewm(alpha=lam, adjust=False, ignore_na=True).mean().to_numpy()[1:]
    t = np.arange(1, v.size + 1)
    half = L * np.sqrt(s**2 * lam / (2 - lam) * (1 - (1 - lam) ** (2 * t)) + (center_se or 0.0) ** 2)
    return _frame(x, v, z, np.full(v.shape, c), c - half, c + half)


def cusum_chart(
    values: npt.ArrayLike,
    *,
    baseline: int = 7,
    k: float = 0.5,
    h: float = 5.0,
    center: float | None = None,
    sigma: float | None = None,
    center_se: float = 0.0,
    x: Iterable[Any] | None = None,
) -> pd.DataFrame:
    """Tabular CUSUM in sigma units: ``S+_t = max(0, S+_{t-1} + z_t - k)``, ``S-`` likewise; flag when > ``h``.

    The reference value is ``k`` sigma plus the centre's own uncertainty (``center_se``, in sigma units),
    so a centre that happens to be estimated high does not accumulate into a false alarm.

    ``statistic`` is the signed larger sum (negative = downward drift); limits are ``+/- h``.
    """
    v = np.asarray(values, dtype=float)
    c, s = _baseline_stats(v, baseline, center, sigma)
    z = (v - c) / s if s and s > 0 else np.zeros_like(v)
    k = k + (center_se or 0.0) / s if s and s > 0 else k
    hi = np.zeros(v.size)
    lo = np.zeros(v.size)
    for i, zi in enumerate(np.nan_to_num(z)):
        hi[i] = max(0.0, (hi[i - 1] if i else 0.0) + zi - k)
        lo[i] = max(0.0, (lo[i - 1] if i else 0.0) - zi - k)
    stat = np.where(lo > hi, -lo, hi)
    return _frame(x, v, stat, np.zeros(v.shape), np.full(v.shape, -h), np.full(v.shape, h))


CHARTS: dict[str, Callable[..., pd.DataFrame]] = {
    "shewhart": shewhart_chart,
    "ewma": ewma_chart,
    "cusum": cusum_chart,
}


def segmented_chart(
    build: Callable[[pd.DataFrame], pd.DataFrame],
    frame: pd.DataFrame,
    segments: npt.ArrayLike,
    *,
    baseline: int = 7,
) -> pd.DataFrame:
    """A chart that breaks where the measuring instrument changed (e.g. a judge change).

    ``build(sub_frame) -> chart frame`` is run on each run of equal ``segments`` values separately, so
    every segment has its own centre and limits from its own first ``baseline`` points; the frames are
    concatenated with ``segment`` and ``judge_change`` (True at the first point of every later segment:
    the chart's marker). The baseline points of a later segment are never flagged (they set its limits)."""
    seg = np.asarray(segments)
    parts: list[pd.DataFrame] = []
    for s in pd.unique(seg):
        idx = np.flatnonzero(seg == s)
        ch = build(frame.iloc[idx]).reset_index(drop=True)
        ch["segment"] = int(s)
        ch["judge_change"] = False
        if parts:
            ch.loc[0, "judge_change"] = True
            base = np.arange(len(ch)) < baseline
            ch.loc[base, "out_of_control"] = False
            ch.loc[base, "direction"] = ""
        parts.append(ch)
    return pd.concat(parts, ignore_index=True) if parts else build(frame)


def debounce(flags: npt.ArrayLike, k: int = 2, m: int = 3) -> np.ndarray:
    """Sustained breaches: True at point t when at least ``k`` of the last ``m`` points (t included) are flagged."""
    if not 1 <= k <= m:
        raise ValueError(f"debounce needs 1 <= k <= m, got k={k}, m={m}")
    f = np.asarray(flags, dtype=float)
    return pd.Series(f).rolling(m, min_periods=1).sum().to_numpy() >= k
