"""Canary benchmark: false rollbacks of A/A canaries and detection of a degraded one, hourly looks.

``python -m eval_pipeline_tests.benchmarks.canary`` simulates 500 rollouts of 24 hourly looks with
2,000 requests per hour, 10% of them on the canary (200 / 1,800 per hour):

* A/A: the canary equals production on every metric. Target: false rollback <= 5% (the configured
  alpha) over every look and every metric; the naive rate (a fixed-sample 5% test on every metric at
  every look, no sequential correction, no Bonferroni) is printed next to it.
* degraded: thumbs-down among rated requests 10% -> 15%, everything else equal. Target: rolled back
  within 24 h in >= 90% of rollouts; median hours to detection printed.

Metrics simulated (per request, independent): rated 40% (thumbs-down 10% of rated), regenerate 5%,
copy 15%, task completion 40%, invariant failure 2%, safety violation 0.2%, error 1%; latency
log-normal (median 1.2 s, sigma 0.35), TTFT = latency x 0.25 x U(0.6, 1.4). Rates are simulated as
hourly binomial counts (the mSPRT only sees counts); latency cohorts are capped at
``max_latency_values`` per arm and look as in :func:`eval_pipeline.monitoring.canary.analyze_canary`
(here an equal share of every hour: the values are iid, so this is a random subsample, as the
request-hash subsample is). The decision rule is the one of ``analyze_canary`` vectorized over
rollouts with the same :mod:`eval_pipeline.monitoring.sequential` functions
(``eval_pipeline_tests/test_monitoring_canary.py`` checks both give the same verdicts).
"""

from __future__ import annotations

import sys
import time

import numpy as np

from eval_pipeline.monitoring import sequential as seq
from eval_pipeline.monitoring.canary import CanaryConfig

RATES = {  # metric -> (per-request probability, denominator)
    "thumbs_down_rate": (0.10, "rated"),
    "regenerate_rate": (0.05, "one"),
    "copy_rate": (0.15, "one"),
    "task_completion_rate": (0.40, "one"),
    "invariant_failure_rate": (0.02, "one"),
    "safety_violation_rate": (0.002, "one"),
    "error_rate": (0.01, "one"),
}
RATED = 0.40
LATENCY = {
    "latency_p95": ("latency_s", 0.95),
    "latency_p99": ("latency_s", 0.99),
    "ttft_p95": ("ttft_s", 0.95),
}


def simulate(
    n_rollouts: int,
    hours: int,
    per_hour: int,
    share: float,
    effects: dict[str, float] | None = None,
    seed: int = 0,
    cap: int = 2000,
) -> dict:
    """Hourly counts ``{metric: (x_c, n_c, x_p, n_p)}`` (each ``(R, hours)``) and latency values
    ``{"latency_s"|"ttft_s": [(canary (R, n_h), production (R, m_h)) per hour]}`` (at most the values a
    look can use under ``cap``). ``effects``: metric -> canary probability (default: equal)."""
    rng = np.random.default_rng(seed)
    effects = effects or {}
    R, K = n_rollouts, hours
    nc = int(round(per_hour * share))
    npr = per_hour - nc
    counts = {}
    rated_c = rng.binomial(nc, RATED, (R, K))
    rated_p = rng.binomial(npr, RATED, (R, K))
    for name, (p, den) in RATES.items():
        pc = effects.get(name, p)
        dc, dp = (rated_c, rated_p) if den == "rated" else (np.full((R, K), nc), np.full((R, K), npr))
        counts[name] = (rng.binomial(dc, pc), dc, rng.binomial(dp, p), dp)
    lat: dict[str, list] = {"latency_s": [], "ttft_s": []}
    for h in range(K):
        keep = max(1, cap // (h + 1))  # the most values of hour h any look >= h uses
        a, b = min(nc, keep), min(npr, keep)
        lc = 1.2 * np.exp(rng.normal(0, 0.35, (R, a)))
        lp = 1.2 * np.exp(rng.normal(0, 0.35, (R, b)))
        lat["latency_s"].append((lc, lp))
        lat["ttft_s"].append(
            (lc * 0.25 * rng.uniform(0.6, 1.4, (R, a)), lp * 0.25 * rng.uniform(0.6, 1.4, (R, b)))
        )
    return {"counts": counts, "latency": lat, "R": R, "K": K, "cap": cap}


def decide(sim: dict, cfg: CanaryConfig) -> dict[str, np.ndarray]:
    """``rollback_look`` / ``promote_look`` (1-based, 0 = never) and ``naive_rollback`` per rollout."""
    defs = cfg.metric_defs()
    R, K, cap = sim["R"], sim["K"], sim["cap"]
    gated = [n for n in (*RATES, *LATENCY) if defs[n].gate]
    m = len(gated)
    level = cfg.alpha / m
    inc = seq.spending_increments(cfg.planned_looks, cfg.alpha, K)
    worse, noninf, naive = {}, {}, np.zeros(R, dtype=bool)
    for name in RATES:
        d = defs[name]
        xc, nc, xp, np_ = (np.cumsum(a, axis=1) for a in sim["counts"][name])
        p0 = xp[:, 0] / np_[:, 0]
        tau = d.min_effect if d.effect == "absolute" else np.maximum(d.min_effect * p0, 1e-4)
        r = seq.msprt_two_proportions(
            xc, nc, xp, np_, tau[:, None] if np.ndim(tau) else tau, level, cfg.min_n
        )
        sign = 1.0 if d.harm == "higher" else -1.0
        harm = sign * r["diff"]
        hi = r["ci_high"] if sign > 0 else -r["ci_low"]
        scale = xp / np_ if d.effect == "relative" else 1.0
        min_abs = d.min_effect * scale
        sig = r["p_value"] <= level
        worse[name] = sig & (np.nan_to_num(harm) > 0) & (np.nan_to_num(harm, nan=-np.inf) >= min_abs)
        noninf[name] = hi < min_abs
        naive |= (
            seq.naive_two_proportions(xc, nc, xp, np_, "larger" if sign > 0 else "smaller") <= 0.05
        ).any(axis=1)
    for col in ("latency_s", "ttft_s"):
        pv = np.ones((R, K))
        ratio = {n: np.full((R, K), np.nan) for n, (c, _) in LATENCY.items() if c == col}
        hi = {n: np.full((R, K), np.nan) for n in ratio}
        for j in range(K):
            s = max(1, cap // (j + 1))
            a = np.sort(np.concatenate([h[0][:, :s] for h in sim["latency"][col][: j + 1]], axis=1), axis=1)
            b = np.sort(np.concatenate([h[1][:, :s] for h in sim["latency"][col][: j + 1]], axis=1), axis=1)
            pv[:, j] = seq.mann_whitney_greater(a, b, axis=1)
            for n in ratio:
                ratio[n][:, j], _, hi[n][:, j] = seq.quantile_ratio(
                    a, b, LATENCY[n][1], 1 - inc[j] / m, presorted=True
                )
        naive |= (pv <= 0.05).any(axis=1)
        spent = seq.spent_p_values(pv, inc, cfg.alpha)
        for n in ratio:
            d = defs[n]
            worse[n] = (spent <= level) & (ratio[n] > 1) & (ratio[n] >= d.min_effect)
            noninf[n] = hi[n] < d.min_effect
    any_worse = np.any([worse[n] for n in gated], axis=0)
    all_noninf = np.all([noninf[n] for n in gated], axis=0) & (np.arange(1, K + 1) >= cfg.min_looks)
    first_w = np.where(any_worse.any(axis=1), any_worse.argmax(axis=1) + 1, 0)
    first_p = np.where(all_noninf.any(axis=1), all_noninf.argmax(axis=1) + 1, 0)
    rollback = np.where((first_w > 0) & ((first_p == 0) | (first_w <= first_p)), first_w, 0)
    promote = np.where((first_p > 0) & ((first_w == 0) | (first_p < first_w)), first_p, 0)
    return {"rollback_look": rollback, "promote_look": promote, "naive_rollback": naive}


def main(n_rollouts: int = 500) -> dict[str, float]:
    cfg = CanaryConfig()
    t0 = time.monotonic()
    aa = decide(simulate(n_rollouts, 24, 2000, 0.10, seed=1), cfg)
    deg = decide(simulate(n_rollouts, 24, 2000, 0.10, {"thumbs_down_rate": 0.15}, seed=2), cfg)
    secs = time.monotonic() - t0
    false_rb = float((aa["rollback_look"] > 0).mean())
    naive = float(aa["naive_rollback"].mean())
    detected = deg["rollback_look"] > 0
    power = float(detected.mean())
    median = float(np.median(deg["rollback_look"][detected])) if detected.any() else float("nan")
    print(
        f"{n_rollouts} simulated rollouts x 24 hourly looks, 2000 requests/hour, 10% canary, alpha={cfg.alpha}, "
        f"{len(RATES) + len(LATENCY)} gated metrics (Bonferroni), {secs:.1f} s"
    )
    print(f"A/A false rollback      {false_rb:.3f}   (target <= 0.05)")
    print(
        f"A/A naive false rollback {naive:.3f}   (fixed 5% test per metric and look: what the sequential test avoids)"
    )
    print(f"A/A promoted within 24h {float((aa['promote_look'] > 0).mean()):.3f}")
    print(
        f"degraded thumbs-down 10%->15%: rolled back within 24h {power:.3f} (target >= 0.90), median hours to "
        f"detection {median:g}, promoted {float((deg['promote_look'] > 0).mean()):.3f} (ideal 0)"
    )
    print(
        f"canary false_rollback={false_rb:.3f} naive_false_rollback={naive:.3f} power_24h={power:.3f} "
        f"median_hours={median:g}"
    )
    return {
        "false_rollback": false_rb,
        "naive_false_rollback": naive,
        "power_24h": power,
        "median_hours": median,
    }


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 500)
