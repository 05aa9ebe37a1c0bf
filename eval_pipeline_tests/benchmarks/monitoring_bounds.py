"""Benchmark of the monitoring bounds at small n: drift alarms on quiet days, rare-rate bounds.

In: simulated SYNTHETIC days. Out: printed rows and a last line
``monitoring_bounds drift_alarms_per_30d_n50=.. drift_any_level_per_30d_n50=.. safety_bound_exceed_max=..
calibration_exceed_max_n20=..``.

* Drift: ``seeds`` histories of 30 quiet days; every day 50 requests and a 7-day reference window of
  350, all from one distribution (input length log-normal, 6 categories with shares 40/25/15/10/7/3 %,
  texts from a 300-word vocabulary for the embedding clusters). Each day goes through the project's
  :func:`eval_pipeline.monitoring.drift_report.compute_drift` (default config; hashing embedder). Counted:
  days with a ``significant`` level on any feature (what the ``no_significant_drift`` check fails
  on) and days with any level (moderate or significant), per 30 days, with a Poisson 95% interval.
* Calibration: 400 sets of 20 labels; the share whose 95% lower bound is above the population value
  (promised <= 2.5 %), per metric (:func:`calibration_exceedance`).
* Rare-rate bound: at a true safety-violation rate exactly at the warn level (0.1 %), the chance the
  day's one-sided 97.5 % lower bound reaches it (promised <= 2.5 %), computed exactly over the
  binomial counts for n = 200 ... 20,000, for the project's bound
  (:func:`eval_pipeline.monitoring.feedback.clopper_pearson`) and, for comparison, Wilson and Jeffreys.

Run: ``python -m eval_pipeline_tests.benchmarks.monitoring_bounds [--seeds 20]``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
from scipy import stats

CATS = ["billing", "account", "shipping", "returns", "tech", "other"]
SHARES = np.array([0.40, 0.25, 0.15, 0.10, 0.07, 0.03])
WORDS = [f"w{i}" for i in range(300)]


def _day(rng, n: int) -> pd.DataFrame:
    cat = rng.choice(len(CATS), n, p=SHARES)
    zipf = 1 / np.arange(1, len(WORDS) + 1)
    texts = [" ".join(rng.choice(WORDS, 8, p=zipf / zipf.sum()).tolist() + [CATS[c]] * 2) for c in cat]
    return pd.DataFrame(
        {
            "input_chars": np.round(np.exp(rng.normal(5.0, 0.6, n))),
            "category": np.array(CATS)[cat],
            "input_redacted": texts,
        }
    )


def drift_quiet_alarms(
    n: int = 50, seeds: int = 20, days: int = 30, embeddings: bool = True, seed: int = 0
) -> dict:
    """Quiet-day drift levels per 30 days through ``compute_drift`` (see the module docstring)."""
    from eval_pipeline.monitoring.drift_report import compute_drift
    from eval_pipeline.monitoring.embedders import hashing_embedder
    from eval_pipeline.project.monitoring import load_monitoring_config

    cfg = load_monitoring_config()
    embed = hashing_embedder() if embeddings else None
    rng = np.random.default_rng(seed)
    sig = anylvl = 0
    for _ in range(seeds):
        for _d in range(days):
            out = compute_drift(_day(rng, n), _day(rng, 7 * n), ["ref"], cfg, embed)
            levels = {r.level for r in out.results}
            sig += "significant" in levels
            anylvl += bool(levels - {"none"})
    scale = 30 / days / seeds

    def ci(k):
        lo = stats.chi2.ppf(0.025, 2 * k) / 2 if k else 0.0
        return lo * scale, stats.chi2.ppf(0.975, 2 * k + 2) / 2 * scale

    return {
        "significant": sig * scale,
        "significant_ci": ci(sig),
        "any": anylvl * scale,
        "any_ci": ci(anylvl),
    }


def rare_rate_exceedance(n: int, level: float = 0.001) -> dict[str, float]:
    """P(one-sided 97.5% lower bound >= level) at a true rate of exactly ``level``, exact over the counts."""
    from statsmodels.stats.proportion import proportion_confint

    from eval_pipeline.monitoring.feedback import clopper_pearson

    ks = np.arange(0, int(n * level * 10) + 25)
    pmf = stats.binom.pmf(ks, n, level)
    out = {"project": float(pmf[np.array([clopper_pearson(int(k), n).ci_low for k in ks]) >= level].sum())}
    for m in ("wilson", "jeffreys"):
        out[m] = float(pmf[proportion_confint(ks, n, alpha=0.05, method=m)[0] >= level].sum())
    return out


def calibration_exceedance(n: int = 20, sets: int = 400, seed: int = 0) -> dict[str, float]:
    """Share of ``sets`` simulated label sets of ``n`` items whose 95% lower bound (the project's
    :func:`eval_pipeline.evaluators.calibration_metrics.rating_agreement`) is above the population
    value (promised <= 0.025). Human ratings 1-5 (10/15/25/30/20 %), judge = human + N(0.2, 0.9)
    rounded and clipped; population values from 200,000 items."""
    from eval_pipeline.evaluators.calibration_metrics import rating_agreement

    rng = np.random.default_rng(seed)

    def draw(m):
        h = rng.choice(np.arange(1, 6), m, p=[0.1, 0.15, 0.25, 0.3, 0.2]).astype(float)
        return h, np.clip(np.round(h + rng.normal(0.2, 0.9, m)), 1, 5)

    names = ["exact_agreement", "agreement_within_one", "weighted_kappa", "spearman"]
    truth = rating_agreement(*draw(200_000), (1, 5), ci=False)
    hits = dict.fromkeys(names, 0)
    for s in range(sets):
        r = rating_agreement(*draw(n), (1, 5), seed=s)
        for m in names:
            hits[m] += bool(r[f"{m}_ci_low"] > truth[m])
    return {m: hits[m] / sets for m in names} | {f"truth_{m}": float(truth[m]) for m in names}


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--sets", type=int, default=400, help="label sets of the calibration rows")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    d = drift_quiet_alarms(50, seeds=args.seeds)
    print(
        f"drift on quiet days, n=50 today vs 350 reference, {args.seeds} x 30 days through compute_drift: "
        f"significant {d['significant']:.2f} per 30 days [{d['significant_ci'][0]:.2f}, {d['significant_ci'][1]:.2f}], "
        f"any level {d['any']:.2f} [{d['any_ci'][0]:.2f}, {d['any_ci'][1]:.2f}] (ideal <= 1.5 = 5% of days)"
    )
    print("safety rate at exactly the warn level 0.1%: P(lower bound >= level), promised <= 0.025")
    print(f"{'n':>7s} {'project (exact)':>16s} {'wilson':>8s} {'jeffreys':>9s}")
    worst = 0.0
    for n in (200, 500, 1000, 2000, 3000, 5000, 10000, 20000):
        r = rare_rate_exceedance(n)
        worst = max(worst, r["project"])
        print(f"{n:7d} {r['project']:16.4f} {r['wilson']:8.4f} {r['jeffreys']:9.4f}")
    c = calibration_exceedance(20, sets=args.sets)
    print(
        f"calibration, 20 labels, {args.sets} label sets: P(95% lower bound > population value), promised <= 0.025"
    )
    for m in ("exact_agreement", "agreement_within_one", "weighted_kappa", "spearman"):
        print(f"  {m:22s} population {c['truth_' + m]:.3f}  exceedance {c[m]:.4f}")
    cal_worst = max(c[m] for m in ("exact_agreement", "agreement_within_one", "weighted_kappa", "spearman"))
    print(f"{time.perf_counter() - t0:.0f} s")
    print(
        f"monitoring_bounds drift_alarms_per_30d_n50={d['significant']:.3f} "
        f"drift_any_level_per_30d_n50={d['any']:.3f} safety_bound_exceed_max={worst:.4f} "
        f"calibration_exceed_max_n20={cal_worst:.4f}"
    )
    return {"drift": d, "safety_bound_exceed_max": worst, "calibration": c}


if __name__ == "__main__":
    main()
