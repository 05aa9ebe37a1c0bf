"""Canary benchmark: false rollbacks of A/A canaries under real traffic, power, and "cannot decide yet".

``python -m eval_pipeline_tests.benchmarks.canary [--aa-seeds 200] [--seeds 100]`` drives SYNTHETIC
per-request rollouts (:mod:`.canary_traffic`) through the project's own
:func:`eval_pipeline.monitoring.canary.analyze_canary` (default :class:`CanaryConfig`) and prints one
row per scenario with a 95% Wilson interval: A/A during a 1% -> 50% ramp with a +-30% daily cycle of
traffic and base rates; A/A with sessions of 8 at intra-session correlation 0.3; a 5-point
task-completion drop at 2,000 requests/hour (rolled back within 24 h); A/A at 300 requests/hour over
72 h (the share ending in "cannot decide yet"). Last line
``canary false_rollback_max=<worst A/A row> power_24h=<x> undecided_300ph=<y>``.

The vectorized :func:`simulate` / :func:`decide` below are the OLD pooled rule (cumulative cohorts,
independent requests), kept only to show what a naive hourly test does in the tests.

Their simulation (hourly binomial counts; rated 40% with thumbs-down 10% of rated, regenerate 5%,
copy 15%, task completion 40%, invariant failure 2%, safety violation 0.2%, error 1%; latency
log-normal) is used by ``unit/monitoring/test_canary.py`` through ``rows_from_sim``.
"""

from __future__ import annotations

import time

import numpy as np

from eval_pipeline.monitoring import sequential as seq
from eval_pipeline.monitoring.canary import UNDECIDED, analyze_canary
from eval_pipeline.project.canary import CanaryConfig
from eval_pipeline_tests.benchmarks.canary_traffic import CANARY, PRODUCTION, ramp, rollout_rows

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


def _run(seeds: int, seed0: int, cfg: CanaryConfig, **kw) -> dict[str, np.ndarray]:
    """Final verdict of ``seeds`` simulated rollouts through :func:`analyze_canary` (the project's path)."""
    verdicts, mdes, hours_rb = [], [], []
    for s in range(seeds):
        rows, keys = rollout_rows(seed0 + s, **kw)
        res = analyze_canary(rows, CANARY, PRODUCTION, keys, cfg)
        verdicts.append(res.verdict)
        story = res.story["verdict"].to_numpy()
        hours_rb.append(int(np.argmax(story == "roll back")) + 1 if (story == "roll back").any() else 0)
        tc = res.metrics.set_index("metric").loc["task_completion_rate"]
        mdes.append(float(tc["mde"]))
    return {
        "verdict": np.array(verdicts),
        "mde_task_completion": np.array(mdes),
        "rollback_hour": np.array(hours_rb),
    }


def _share(hits: np.ndarray) -> tuple[float, float, float]:
    from statsmodels.stats.proportion import proportion_confint

    k, n = int(hits.sum()), len(hits)
    lo, hi = proportion_confint(k, n, alpha=0.05, method="wilson")
    return k / n, float(lo), float(hi)


def main(argv: list[str] | None = None) -> dict[str, float]:
    """Scenarios through ``analyze_canary``; last line ``canary false_rollback_max=.. power_24h=.. undecided_300ph=..``."""
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--aa-seeds", type=int, default=200)
    ap.add_argument("--seeds", type=int, default=100, help="seeds of the power / undecided rows")
    args = ap.parse_args(argv)
    cfg = CanaryConfig()
    t0 = time.monotonic()
    scenarios = [
        (
            "A/A ramp 1%->50% over 24 h, +-30% daily cycle, 2000/h, 24 h",
            "aa",
            args.aa_seeds,
            dict(hours=24, per_hour=2000, share=ramp(), cycle=0.3),
        ),
        (
            "A/A sessions of 8, intra-session correlation 0.3, 10% share, 2000/h, 24 h",
            "aa",
            args.aa_seeds,
            dict(hours=24, per_hour=2000, share=0.10, session_size=8, icc=0.3),
        ),
        (
            "task completion 40% -> 35% (5 points), 10% share, 2000/h, +-30% cycle, 24 h",
            "power",
            args.seeds,
            dict(hours=24, per_hour=2000, share=0.10, cycle=0.3, effects={"task_completion_rate": 0.875}),
        ),
        ("A/A at 300/h, 10% share, 72 h", "undecided", args.seeds, dict(hours=72, per_hour=300, share=0.10)),
    ]
    out: dict[str, float] = {}
    print(
        f"Canary verdicts of simulated (SYNTHETIC) rollouts through analyze_canary, alpha={cfg.alpha}; 95% Wilson intervals"
    )
    print(
        f"{'scenario':82s} {'seeds':>5s} {'rolled back':>22s} {'promoted':>7s} {'cannot decide':>13s} {'MDE task compl.':>15s}"
    )
    aa_rows = []
    for i, (name, kind, seeds, kw) in enumerate(scenarios):
        r = _run(seeds, 1000 * (i + 1), cfg, **kw)
        rb, lo, hi = _share(r["verdict"] == "roll back")
        pr = float((r["verdict"] == "promote").mean())
        und = float((r["verdict"] == UNDECIDED).mean())
        mde = float(np.median(r["mde_task_completion"]))
        print(f"{name:82s} {seeds:5d} {rb:6.3f} [{lo:.3f}, {hi:.3f}] {pr:8.3f} {und:13.3f} {mde:15.4f}")
        if kind == "aa":
            aa_rows.append(rb)
        elif kind == "power":
            out["power_24h"] = rb
            det = r["rollback_hour"][r["rollback_hour"] > 0]
            print(f"    median hours to roll back: {float(np.median(det)) if len(det) else float('nan'):g}")
        else:
            out["undecided_300ph"] = und
    out["false_rollback_max"] = max(aa_rows)
    print(f"{time.monotonic() - t0:.0f} s")
    print(
        f"canary false_rollback_max={out['false_rollback_max']:.3f} power_24h={out['power_24h']:.3f} "
        f"undecided_300ph={out['undecided_300ph']:.3f}"
    )
    return out


if __name__ == "__main__":
    main()
