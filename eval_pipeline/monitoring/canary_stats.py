"""Stratified, session-clustered, anytime-valid comparison of a rate between canary and production.

In: per-request rows of one rate metric over the looks of a rollout (the outcome ``y``, the look
(hour) index, canary or production, the session id), the metric's mixture scale ``tau`` and the level.
Out: per look the stratified difference, its cluster-robust variance, the always-valid p-value and
confidence sequence (mSPRT), and the minimal detectable effect (MDE) at the information so far.

Why: canary and production serve different hours in different proportions (a 1% -> 50% ramp, a
daily traffic cycle), and the rates themselves move with the hour of day; pooled cumulative cohorts
then differ even for an identical model. Requests also come in sessions, which are correlated.

* Within-hour comparison, combined across hours (stratified, Cochran-Mantel-Haenszel weights
  ``w_h = n_c n_p / (n_c + n_p)``): ``D_k = sum_h<=k w_h (p_c,h - p_p,h) / sum_h<=k w_h``. The hour's
  base rate cancels in every term, so the ramp and the cycle cannot create a difference.
* Variance: the linearisation of ``D_k`` summed per session (the cluster), squared and added, with the
  small-sample factor ``G / (G - 1)`` (the CR1 sandwich estimator, as statsmodels' ``cov_type="cluster"``);
  sessions may span hours. It is floored by the independent-request binomial variance at the pooled rate
  (kept half an event off 0 and 1), so arms without events (rare safety violations) still have one.
* Anytime validity: the normal-mixture SPRT of :func:`eval_pipeline.monitoring.sequential.msprt_normal`
  on ``(D_k, v_k)`` (Johari et al. 2017). CMH weights equal inverse-variance weights when the
  per-request variance is the same in every hour, so ``D_k / v_k`` has (approximately) independent
  increments, the martingale the mixture needs.
* MDE: the smallest true difference the test would flag at this look with 80% probability,
  ``boundary(v_k) + z_0.8 sqrt(v_k)`` (the boundary is the confidence-sequence half-width at the level).
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import stats
from scipy.optimize import brentq

POWER = 0.80


def msprt_normal(
    d: npt.ArrayLike, v: npt.ArrayLike, tau: npt.ArrayLike, alpha: float, ok: npt.ArrayLike
) -> dict[str, np.ndarray]:
    """Normal-mixture SPRT of ``theta = 0`` from estimates ``d`` with variance ``v`` (last axis = looks).

    ``ok`` marks looks with evidence (elsewhere: Lambda = 1, interval [-1, 1]). Returns ``p_value``
    (always valid, non-increasing), ``ci_low`` / ``ci_high`` (confidence sequence at ``1 - alpha``),
    ``half`` (its half-width = the rejection boundary on ``|d|``) and ``log_lr``."""
    d, v, tau2 = (np.asarray(a, dtype=float) for a in (d, v, np.asarray(tau, dtype=float) ** 2))
    ok = np.asarray(ok, dtype=bool) & (v > 0) & (tau2 > 0)
    v = np.where(ok, v, 1.0)
    d = np.where(ok, d, 0.0)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        log_lr = np.where(ok, 0.5 * np.log(v / (v + tau2)) + tau2 * d**2 / (2 * v * (v + tau2)), 0.0)
        half = np.sqrt(2 * v * (v + tau2) / tau2 * (math.log(1 / alpha) + 0.5 * np.log((v + tau2) / v)))
    half = np.where(ok, half, np.inf)
    p = np.minimum.accumulate(np.minimum(1.0, np.exp(-log_lr)), axis=-1)
    return {
        "p_value": p,
        "ci_low": np.clip(d - half, -1.0, 1.0),
        "ci_high": np.clip(d + half, -1.0, 1.0),
        "half": half,
        "log_lr": log_lr,
    }


def stratified_rate(
    y: np.ndarray,
    look: np.ndarray,
    is_canary: np.ndarray,
    cluster: np.ndarray,
    k: int,
    tau: float,
    alpha: float,
    min_n: int = 50,
) -> dict[str, np.ndarray]:
    """Per look ``0..k-1`` (cumulative): ``diff`` (canary - production, stratified by look), ``var``
    (session-clustered), ``n_c`` / ``n_p`` (cumulative requests), ``x_c`` / ``x_p`` (events),
    ``p_value``, ``ci_low`` / ``ci_high`` (always valid at ``alpha``), ``mde`` (80% power) and
    ``design_effect`` (clustered / independent variance). ``y``: 0/1 outcome of each request in the
    metric's denominator; ``cluster``: integer session codes (each request its own when unknown).
    A look carries evidence once both arms have ``min_n`` requests."""
    y = np.asarray(y, dtype=float)
    look = np.asarray(look, dtype=int)
    c = np.asarray(is_canary, dtype=bool)
    cluster = np.asarray(cluster, dtype=int)
    n_hc = np.bincount(look[c], minlength=k)[:k].astype(float)
    n_hp = np.bincount(look[~c], minlength=k)[:k].astype(float)
    x_hc = np.bincount(look[c], weights=y[c], minlength=k)[:k]
    x_hp = np.bincount(look[~c], weights=y[~c], minlength=k)[:k]
    with np.errstate(divide="ignore", invalid="ignore"):
        p_hc = np.where(n_hc > 0, x_hc / n_hc, 0.0)
        p_hp = np.where(n_hp > 0, x_hp / n_hp, 0.0)
        w = np.where((n_hc > 0) & (n_hp > 0), n_hc * n_hp / (n_hc + n_hp), 0.0)
    W = np.cumsum(w)
    D = np.cumsum(w * (p_hc - p_hp))
    # linearised contribution of each request, summed per (session, look); sessions may span looks
    n_own = np.where(c, n_hc[look], n_hp[look])
    p_own = np.where(c, p_hc[look], p_hp[look])
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.where(n_own > 0, np.where(c, 1.0, -1.0) * w[look] * (y - p_own) / n_own, 0.0)
    order = np.lexsort((look, cluster))
    cl, lk, av = cluster[order], look[order], a[order]
    key_change = np.r_[True, (cl[1:] != cl[:-1]) | (lk[1:] != lk[:-1])]
    starts = np.flatnonzero(key_change)
    sums = np.add.reduceat(av, starts) if len(av) else np.zeros(0)
    ecl, elk = cl[starts], lk[starts]
    new_cluster = np.r_[True, ecl[1:] != ecl[:-1]] if len(ecl) else np.zeros(0, bool)
    run = np.cumsum(sums)
    base = np.maximum.accumulate(np.where(new_cluster, np.arange(len(sums)), 0))  # first entry of the cluster
    prev = (run - sums) - (run[base] - sums[base])  # the cluster's sum over earlier looks
    delta = 2 * prev * sums + sums**2  # increase of sum_s S_s(k)^2 when this entry joins
    ss = np.cumsum(np.bincount(elk, weights=delta, minlength=k)[:k])
    first_seen = np.bincount(elk[new_cluster], minlength=k)[:k]
    G = np.cumsum(first_seen).astype(float)
    nc_cum, np_cum = np.cumsum(n_hc), np.cumsum(n_hp)
    xc_cum, xp_cum = np.cumsum(x_hc), np.cumsum(x_hp)
    with np.errstate(divide="ignore", invalid="ignore"):
        diff = np.where(W > 0, D / W, np.nan)
        v_cl = np.where((W > 0) & (G > 1), ss * G / np.maximum(G - 1, 1) / W**2, np.nan)
        tot = nc_cum + np_cum
        half_event = 0.5 / np.maximum(tot, 1)
        pooled = np.clip((xc_cum + xp_cum) / np.maximum(tot, 1), half_event, 1 - half_event)
        v_ind = np.where(W > 0, pooled * (1 - pooled) / W, np.nan)
        v = np.fmax(v_cl, v_ind)
    ok = (nc_cum >= min_n) & (np_cum >= min_n) & np.isfinite(v)
    r = msprt_normal(diff, np.where(ok, v, 1.0), tau, alpha, ok)
    mde = np.where(ok, r["half"] + stats.norm.ppf(POWER) * np.sqrt(np.where(ok, v, 1.0)), np.inf)
    with np.errstate(divide="ignore", invalid="ignore"):
        deff = np.where(ok, v / v_ind, np.nan)
    return {
        "diff": np.where(ok, diff, np.nan),
        "var": np.where(ok, v, np.nan),
        "n_c": nc_cum,
        "n_p": np_cum,
        "x_c": xc_cum,
        "x_p": xp_cum,
        "p_value": r["p_value"],
        "ci_low": r["ci_low"],
        "ci_high": r["ci_high"],
        "mde": mde,
        "design_effect": deff,
    }


def mde_at(v: float, tau: float, alpha: float) -> float:
    """The MDE (80% power) of a look with variance ``v`` (see the module docstring)."""
    half = math.sqrt(2 * v * (v + tau**2) / tau**2 * (math.log(1 / alpha) + 0.5 * math.log((v + tau**2) / v)))
    return half + stats.norm.ppf(POWER) * math.sqrt(v)


def hours_to_power(
    var: np.ndarray, j: int, target: float, tau: float, alpha: float, recent: int = 6
) -> float:
    """Hours more at the traffic of the last ``recent`` looks until the MDE reaches ``target`` (inf when
    information does not grow; 0 when it already does). ``var``: the variance per look; ``j``: this look."""

    v = float(var[j]) if np.isfinite(var[j]) else float("nan")
    if not np.isfinite(v) or target <= 0:
        return float("inf")
    if mde_at(v, tau, alpha) <= target:
        return 0.0
    i0 = max(0, j - recent)
    past = float(var[i0]) if np.isfinite(var[i0]) and j > i0 else float("nan")
    rate = (1 / v - 1 / past) / (j - i0) if np.isfinite(past) else 1 / v / (j + 1)
    if rate <= 0:
        return float("inf")
    lo, hi = 1e-16, v
    if mde_at(lo, tau, alpha) > target:
        return float("inf")
    v_star = math.exp(
        brentq(lambda lv: mde_at(math.exp(lv), tau, alpha) - target, math.log(lo), math.log(hi))
    )
    return float(math.ceil((1 / v_star - 1 / v) / rate))


def arms_frame(both: pd.DataFrame, canary: str, look: np.ndarray) -> pd.DataFrame:
    """Canary and production hourly rows with their look index ``_look``, arm ``_canary`` and session
    code ``_cluster`` (a request without a session id is its own session)."""
    sess = both["session_hash"].astype(str) if "session_hash" in both else pd.Series("", index=both.index)
    missing = sess.isin(["", "nan", "None"]).to_numpy()
    codes = pd.factorize(sess)[0]
    codes = np.where(missing, codes.max(initial=0) + 1 + np.arange(len(both)), codes)
    return both.assign(_look=look, _canary=(both["model_version"] == canary).to_numpy(), _cluster=codes)


def rate_looks(
    a: pd.DataFrame, num: str, den: str, k: int, tau: float, alpha: float, min_n: int
) -> dict[str, np.ndarray]:
    """:func:`stratified_rate` of the rate ``num`` among the rows with ``den`` (``"one"``: every row)
    over the rows of :func:`arms_frame`."""
    keep = np.ones(len(a), dtype=bool) if den == "one" else a[den].to_numpy(dtype=bool)
    s = a[keep]
    return stratified_rate(
        s[num].to_numpy(dtype=bool),
        s["_look"].to_numpy(),
        s["_canary"].to_numpy(),
        s["_cluster"].to_numpy(),
        k,
        tau,
        alpha,
        min_n,
    )
