"""Benchmark: does the length-controlled win rate remove a judge's length preference?

Simulated pairwise comparisons (``--pairs`` per run, ``--runs`` runs per bias strength). Per pair:

* quality difference ``q ~ N(mu, 1)`` on the logit scale (``mu`` drawn per run from U(-1, 1), so
  true rates range over about 0.3-0.7), length difference ``d ~ N(0.5, 1)`` standard deviations
  (the candidate is longer on average), independent of quality;
* the judge prefers the candidate with probability ``expit(q + bias * d)``: ``bias`` is the judge's
  length preference in logits per standard deviation of the length difference (0 = none);
* each pair is judged as the project's pairwise judge does it (``evaluators/judge/pairwise.py``): in both
  orders (candidate shown as A, then as B), two independent verdicts, combined by the real
  ``_pair_outcome`` - both orders agree: a win (1) or a loss (0); they disagree: a tie (0.5). The judge
  here has no position preference, so the two orders are exchangeable; ``--single-order`` measures one
  verdict per pair instead (what a judge run in one order only would give).

The true quality win rate of a run is what the judge would give at equal length, over the run's
pairs: ``mean(expit(q))`` - exactly what the length-controlled estimator targets (the predicted win
probability at a length difference of 0). Reported per strength: mean absolute error of the raw and
of the length-controlled win rate against it, the mean signed error (bias) of each, the coverage of the
length-controlled 95 % interval and how often ``length_bias`` is flagged.

    python -m eval_pipeline_tests.benchmarks.judge_bias [--runs 200 --pairs 200]

Targets (issue 14): LC mean absolute error <= 0.03 at every bias strength, coverage >= 93 %.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scipy.special import expit

from eval_pipeline.evaluators.judge.length_control import length_controlled_win_rate
from eval_pipeline.evaluators.judge.pairwise import _pair_outcome

VALUE = {"candidate": 1.0, "tie": 0.5, "baseline": 0.0}

STRENGTHS = (0.0, 0.5, 1.0, 2.0)


def _both_orders(p: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Candidate-perspective outcomes of pairs judged in both orders (each order prefers the candidate
    with probability ``p``), combined by the pairwise judge's own ``_pair_outcome``."""
    ab = np.where(rng.uniform(size=len(p)) < p, "A", "B")  # candidate shown as A
    ba = np.where(rng.uniform(size=len(p)) < p, "B", "A")  # candidate shown as B
    return np.array([VALUE[_pair_outcome(x, y)[0]] for x, y in zip(ab, ba)])


def simulate(bias: float, runs: int, pairs: int, seed: int, single_order: bool = False) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    raw_err, lc_err, covered, flagged, widths = [], [], [], [], []
    for _ in range(runs):
        mu = rng.uniform(-1, 1)
        q = rng.normal(mu, 1.0, pairs)
        d = rng.normal(0.5, 1.0, pairs)
        p = expit(q + bias * d)
        y = (rng.uniform(size=pairs) < p).astype(float) if single_order else _both_orders(p, rng)
        truth = float(np.mean(expit(q)))
        r = length_controlled_win_rate(y, d * 37.0)  # in "words": the estimator standardizes itself
        lo, hi = r["lc_win_rate_ci"]
        raw_err.append(r["win_rate"] - truth)
        lc_err.append(r["lc_win_rate"] - truth)
        covered.append(lo <= truth <= hi)
        flagged.append(r["length_bias"])
        widths.append(hi - lo)
    raw_err, lc_err = np.asarray(raw_err), np.asarray(lc_err)
    return {
        "raw_mae": float(np.mean(np.abs(raw_err))),
        "lc_mae": float(np.mean(np.abs(lc_err))),
        "raw_bias": float(np.mean(raw_err)),
        "lc_bias": float(np.mean(lc_err)),
        "coverage": float(np.mean(covered)),
        "flag_rate": float(np.mean(flagged)),
        "ci_width": float(np.mean(widths)),
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--pairs", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--single-order", action="store_true", help="one verdict per pair instead of both orders")
    a = ap.parse_args(argv)
    t0 = time.time()
    how = (
        "one order per pair"
        if a.single_order
        else "both orders per pair, disagreement = tie (the project's pairwise judge)"
    )
    print(
        f"judge_bias: {a.runs} runs x {a.pairs} pairs per bias strength (logit per sd of length difference); {how}"
    )
    print("target: LC MAE <= 0.03 at every strength, LC 95% interval coverage >= 0.93")
    print(
        f"{'bias':>5} {'raw MAE':>8} {'LC MAE':>7} {'raw bias':>9} {'LC bias':>8} {'LC cover':>9} {'CI width':>9} {'flagged':>8}"
    )
    results = {}
    for i, b in enumerate(STRENGTHS):
        r = simulate(b, a.runs, a.pairs, a.seed + i, a.single_order)
        results[b] = r
        print(
            f"{b:>5.1f} {r['raw_mae']:>8.3f} {r['lc_mae']:>7.3f} {r['raw_bias']:>+9.3f} {r['lc_bias']:>+8.3f} "
            f"{r['coverage']:>9.3f} {r['ci_width']:>9.3f} {r['flag_rate']:>8.3f}"
        )
    worst_lc = max(r["lc_mae"] for r in results.values())
    worst_cov = min(r["coverage"] for r in results.values())
    raw = max(r["raw_mae"] for r in results.values())
    floor = results[0.0]["raw_mae"]
    print(
        f"worst LC MAE {worst_lc:.3f} (target <= 0.03: {'met' if worst_lc <= 0.03 else 'NOT met'}); "
        f"worst coverage {worst_cov:.3f} (target >= 0.93: {'met' if worst_cov >= 0.93 else 'NOT met'}); {time.time() - t0:.1f}s"
    )
    print(
        f"noise floor: the raw MAE of a judge with no length preference is {floor:.3f} at {a.pairs} pairs (sampling error alone); "
        f"worst |mean signed LC error| {max(abs(r['lc_bias']) for r in results.values()):.3f}"
    )
    print("last line: worst strength for each figure (raw and LC MAE: max over strengths; coverage: min)")
    print(f"judge_bias raw_error={raw:.4f} lc_error={worst_lc:.4f} lc_coverage={worst_cov:.3f}")


if __name__ == "__main__":
    main()
