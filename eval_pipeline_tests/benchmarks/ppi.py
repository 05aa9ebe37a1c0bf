"""Benchmark: PPI++ judge pass rates corrected by human labels (coverage and width, synthetic).

Synthetic data, per seed: ``--judged`` samples (1,000) with a true pass / fail drawn at a pass rate
of ``--rate`` (0.70); a judge biased by ``--bias`` (+10 points: it passes 99% of the true passes and
enough of the true failures to report 0.80); ``--labelled`` of the samples (100), drawn uniformly,
carry the human label (= the truth). Per seed, three 95% intervals for the true pass rate:
PPI++ (:func:`eval_pipeline.evaluators.ppi.ppi_mean`, power-tuned lambda), human-only (the 100
labels, CLT) and the raw judge (all 1,000 verdicts, CLT). Reported: coverage of each over
``--seeds`` seeds (Wilson 95% interval of the coverage), mean width of PPI++ over mean width of
human-only, mean lambda; and, for context, the same for a weaker judge (90% / bias +10) and for
a 1-5 score mean.

Targets (issue 28): coverage >= 0.93; width <= 0.8x human-only. Last line:
``ppi coverage=<x> width_vs_human=<y> raw_judge_coverage=<z>``.
"""

from __future__ import annotations

import argparse

import numpy as np


def _judge(truth: np.ndarray, rate: float, bias: float, tpr: float, rng: np.random.Generator) -> np.ndarray:
    """A judge with E[verdict] = rate + bias: passes ``tpr`` of the true passes, ``fpr`` of the failures."""
    fpr = (rate + bias - rate * tpr) / (1 - rate)
    if not 0 <= fpr <= 1:
        raise ValueError(f"no judge with tpr={tpr} has bias {bias} at rate {rate}")
    u = rng.random(len(truth))
    return np.where(truth == 1, u < tpr, u < fpr).astype(float)


def simulate(
    seeds: int, judged: int, labelled: int, rate: float, bias: float, tpr: float, seed0: int = 0
) -> dict:
    """Coverage and widths of PPI++, human-only and raw-judge 95% intervals over ``seeds`` seeds."""
    from eval_pipeline.evaluators.ppi import ppi_mean

    cov = {"ppi": 0, "human": 0, "judge": 0}
    width = {"ppi": 0.0, "human": 0.0}
    lams = []
    for s in range(seeds):
        rng = np.random.default_rng(seed0 + s)
        truth = (rng.random(judged) < rate).astype(float)
        verdict = _judge(truth, rate, bias, tpr, rng)
        lab = np.zeros(judged, dtype=bool)
        lab[rng.choice(judged, labelled, replace=False)] = True
        e = ppi_mean(truth[lab], verdict[lab], verdict[~lab])
        cov["ppi"] += e.ci_low <= rate <= e.ci_high
        cov["human"] += e.human[1] <= rate <= e.human[2]
        cov["judge"] += e.judge[1] <= rate <= e.judge[2]
        width["ppi"] += e.width
        width["human"] += e.human[2] - e.human[1]
        lams.append(e.lam)
    return {
        "coverage": cov["ppi"] / seeds,
        "human_coverage": cov["human"] / seeds,
        "raw_judge_coverage": cov["judge"] / seeds,
        "width_vs_human": width["ppi"] / width["human"],
        "ppi_width": width["ppi"] / seeds,
        "human_width": width["human"] / seeds,
        "lam": float(np.mean(lams)),
        "covered": cov["ppi"],
    }


def _scores_mean(seeds: int, judged: int, labelled: int) -> dict:
    """A 1-5 rubric mean: true scores, a judge that adds +0.4 on average with noise."""
    from eval_pipeline.evaluators.ppi import ppi_mean

    levels, probs = np.array([1, 2, 3, 4, 5]), np.array([0.05, 0.1, 0.25, 0.35, 0.25])
    mean = float(levels @ probs)  # the population mean of the true scores (3.65)
    covered = 0
    ratio = 0.0
    for s in range(seeds):
        rng = np.random.default_rng(10_000 + s)
        truth = rng.choice(levels, size=judged, p=probs).astype(float)
        verdict = np.clip(
            truth + rng.choice([0, 1], size=judged, p=[0.6, 0.4]) + rng.normal(0, 0.3, judged), 1, 5
        )
        lab = np.zeros(judged, dtype=bool)
        lab[rng.choice(judged, labelled, replace=False)] = True
        e = ppi_mean(truth[lab], verdict[lab], verdict[~lab])
        covered += e.ci_low <= mean <= e.ci_high
        ratio += e.width / (e.human[2] - e.human[1])
    return {"coverage": covered / seeds, "width_vs_human": ratio / seeds}


def main(argv: list[str] | None = None) -> None:
    from statsmodels.stats.proportion import proportion_confint

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=1000)
    ap.add_argument("--judged", type=int, default=1000)
    ap.add_argument("--labelled", type=int, default=100)
    ap.add_argument("--rate", type=float, default=0.70)
    ap.add_argument("--bias", type=float, default=0.10)
    ap.add_argument("--tpr", type=float, default=0.99, help="share of true passes the judge passes")
    args = ap.parse_args(argv)

    r = simulate(args.seeds, args.judged, args.labelled, args.rate, args.bias, args.tpr)
    lo, hi = proportion_confint(r["covered"], args.seeds, alpha=0.05, method="wilson")
    print(
        f"Synthetic: {args.judged} judged samples, {args.labelled} with a human label (uniform), true pass rate "
        f"{args.rate:.2f}, judge bias {args.bias:+.2f} (passes {args.tpr:.0%} of true passes), {args.seeds} seeds"
    )
    print(
        f"  PPI++       coverage {r['coverage']:.3f} [{lo:.3f}, {hi:.3f}]  mean width {r['ppi_width']:.4f}  "
        f"mean lambda {r['lam']:.2f}  (target coverage >= 0.93: {'MET' if r['coverage'] >= 0.93 else 'NOT MET'})"
    )
    print(
        f"  human only  coverage {r['human_coverage']:.3f}  mean width {r['human_width']:.4f}  -> PPI++ width "
        f"{r['width_vs_human']:.3f}x (target <= 0.80: {'MET' if r['width_vs_human'] <= 0.8 else 'NOT MET'})"
    )
    print(
        f"  raw judge   coverage {r['raw_judge_coverage']:.3f}  (all {args.judged} verdicts, no correction)"
    )
    weak = simulate(
        max(args.seeds // 4, 50), args.judged, args.labelled, args.rate, args.bias, 0.90, seed0=5_000
    )
    print(
        f"  context: a weaker judge (passes 90% of true passes, same bias): coverage {weak['coverage']:.3f}, "
        f"width {weak['width_vs_human']:.3f}x human-only, lambda {weak['lam']:.2f} ({max(args.seeds // 4, 50)} seeds)"
    )
    sm = _scores_mean(max(args.seeds // 4, 50), args.judged, args.labelled)
    print(
        f"  context: a 1-5 score mean, judge +0.4 on average: coverage {sm['coverage']:.3f}, "
        f"width {sm['width_vs_human']:.3f}x human-only"
    )
    print(
        f"ppi coverage={r['coverage']:.3f} width_vs_human={r['width_vs_human']:.3f} "
        f"raw_judge_coverage={r['raw_judge_coverage']:.3f}"
    )


if __name__ == "__main__":
    main()
