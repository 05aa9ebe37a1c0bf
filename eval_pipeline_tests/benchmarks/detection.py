"""Detection-quality benchmark: power and false-alarm rate of each regression / alert rule.

Simulation (``eval_pipeline.history.simulate``): N golden samples, each with its
own pass probability p_i ~ Beta(0.8 c, 0.2 c) (sample difficulty; small c = most
samples almost always right or wrong, some borderline). Every run re-draws every
outcome from p_i, so two runs of the same model disagree on a share of samples
(the A/A disagreement rate, printed). A *regressed* candidate shifts every p_i on
the logit scale so the mean pass probability drops by exactly 5 points; a *null*
candidate keeps p_i. Samples fall in 5 categories (segments).

Rules measured (detection = the rule flags a regression for the metric family):
  paired_mcnemar      regression_report defaults: McNemar exact on the overall row and on each of
                      the 5 segments, tiered BH (overall rows one family, segment rows another),
                      regression = adjusted p < 0.05 and drop >= 3 points, in any row  (PRIMARY)
  paired_flat_bh      the same with one BH family over overall + segment rows (fdr_scope="report")
  paired_overall      the same, overall row only (no segments)
  trend_drop          pass rate > 3 pts below trailing 7-day average, debounced 2 of 3 days;
                      7 baseline days then 3 candidate days (daily fresh draws of the same samples)
  ewma_chart          EWMA chart (sigma from the 7 baseline days), debounced 2 of 3
  p_chart             binomial p-chart, debounced 2 of 3

Then power of the paired rule for other N and repeats per sample (k repeats ->
Wilcoxon on per-sample pass fractions) and for other noise levels.

    python -m eval_pipeline_tests.benchmarks.detection [--seeds 200] [--n 500] [--quick]
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from eval_pipeline.history import simulate as sim
from eval_pipeline.history.alerts import AlertRules, evaluate_alerts
from eval_pipeline.history.stats import (
    RegressionConfig, effect_interval, mcnemar_exact, paired_location_test, regression_report,
)

MEAN = 0.80
DROP = 0.05
CONCENTRATION = 0.5  # Beta(0.4, 0.1): expected A/A disagreement ~10.7 %
BASELINE_DAYS, CANDIDATE_DAYS = 7, 3
TARGET_POWER, TARGET_FA = 0.80, 0.05


def _daily_history(p_base: np.ndarray, p_cand: np.ndarray, rng: np.random.Generator) -> pd.DataFrame:
    """score_history-like rows: BASELINE_DAYS of the baseline model then CANDIDATE_DAYS of the candidate."""
    rates = [sim.draw_outcomes(p_base, 1, rng).mean() for _ in range(BASELINE_DAYS)]
    rates += [sim.draw_outcomes(p_cand, 1, rng).mean() for _ in range(CANDIDATE_DAYS)]
    n = len(p_base)
    rates = np.asarray(rates)
    return pd.DataFrame({
        "date": pd.date_range("2024-01-01", periods=len(rates)).strftime("%Y-%m-%d"), "model_version": "m",
        "suite": "sim", "eval_set": "golden", "family": "deterministic", "metric": "correct",
        "segment": "__all__", "pass_rate": rates, "n_graded": n, "n_passed": np.round(rates * n),
        "mean_value": rates,
    })


TREND_RULES = {
    "trend_drop": AlertRules(control_chart=None),
    "ewma_chart": AlertRules(control_chart="ewma", pass_rate_drop=1.0, control_baseline_points=BASELINE_DAYS),
    "p_chart": AlertRules(control_chart="p_chart", pass_rate_drop=1.0, control_baseline_points=BASELINE_DAYS),
}


def _trend_fired(hist: pd.DataFrame, rules: AlertRules) -> bool:
    alerts = evaluate_alerts(hist, rules=rules)
    first_candidate_day = hist["date"].iloc[BASELINE_DAYS]
    return bool((alerts["date"] >= first_candidate_day).any())


def main_rules(n: int, seeds: int, rng: np.random.Generator) -> tuple[pd.DataFrame, float]:
    """Power / false alarms of every rule at sample size ``n``; returns (table, mean A/A disagreement)."""
    cats = np.array(list("abcde"))[np.arange(n) % 5]
    paired = {"paired_mcnemar": RegressionConfig(), "paired_flat_bh": RegressionConfig(fdr_scope="report"),
              "paired_overall": RegressionConfig(segments=False)}
    hits = {r: {"regressed": 0, "null": 0} for r in [*paired, *TREND_RULES]}
    disagreement = []
    for _ in range(seeds):
        p = sim.sample_pass_probabilities(n, MEAN, CONCENTRATION, rng)
        q = sim.shift_probabilities(p, -DROP)
        base_out = sim.draw_outcomes(p, 1, rng)
        base = sim.score_frame(base_out, categories=cats)
        for name, probs in (("regressed", q), ("null", p)):
            cand_out = sim.draw_outcomes(probs, 1, rng)
            if name == "null":
                disagreement.append(float(np.mean(cand_out != base_out)))
            cand = sim.score_frame(cand_out, categories=cats)
            for rule, cfg in paired.items():
                hits[rule][name] += regression_report(cand, base, cfg).has_regression
            hist = _daily_history(p, probs, rng)
            for rule, rules in TREND_RULES.items():
                hits[rule][name] += _trend_fired(hist, rules)
    table = pd.DataFrame([{"rule": r, "power_5pt": h["regressed"] / seeds, "false_alarm": h["null"] / seeds}
                          for r, h in hits.items()])
    return table, float(np.mean(disagreement))


def _paired_rule(base: np.ndarray, cand: np.ndarray, alpha=0.05, min_effect=0.03) -> bool:
    """The paired overall rule on outcome matrices (samples x repeats), via the same primitives."""
    if base.shape[1] == 1:
        _, _, pv = mcnemar_exact(base[:, 0], cand[:, 0])
    else:
        pv = paired_location_test(cand.mean(1) - base.mean(1))
    eff = effect_interval(cand.mean(1) - base.mean(1))[0]
    return pv < alpha and eff <= -min_effect


def power_grid(ns, repeats, concentrations, seeds: int, rng: np.random.Generator) -> pd.DataFrame:
    """Power / false alarms of the paired overall rule for each N x repeats x noise level."""
    rows = []
    for c in concentrations:
        for n in ns:
            for k in repeats:
                hit = {"regressed": 0, "null": 0}
                dis = []
                for _ in range(seeds):
                    p = sim.sample_pass_probabilities(n, MEAN, c, rng)
                    base = sim.draw_outcomes(p, k, rng)
                    reg = sim.draw_outcomes(sim.shift_probabilities(p, -DROP), k, rng)
                    null = sim.draw_outcomes(p, k, rng)
                    dis.append(np.mean(base[:, 0] != null[:, 0]))
                    hit["regressed"] += _paired_rule(base, reg)
                    hit["null"] += _paired_rule(base, null)
                rows.append({"aa_disagreement": round(float(np.mean(dis)), 3), "n": n, "repeats": k,
                             "power_5pt": hit["regressed"] / seeds, "false_alarm": hit["null"] / seeds})
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=200)
    ap.add_argument("--n", type=int, default=500)
    ap.add_argument("--quick", action="store_true", help="skip the N / repeats / noise grid")
    args = ap.parse_args(argv)
    rng = np.random.default_rng(20240601)
    t0 = time.perf_counter()
    table, dis = main_rules(args.n, args.seeds, rng)
    print(f"# detection benchmark: N={args.n} samples, {args.seeds} seeds, mean pass prob {MEAN}, "
          f"Beta concentration {CONCENTRATION}, regression = {DROP * 100:.0f}-point logit-scale drop")
    print(f"A/A disagreement rate (two runs, same model): {dis:.3f}   (target >= 0.08)")
    print(f"targets: power >= {TARGET_POWER:.2f}, false alarm <= {TARGET_FA:.2f} per metric family")
    with pd.option_context("display.width", 120):
        print(table.to_string(index=False))
    if not args.quick:
        grid = power_grid(ns=(500, 1000, 2000), repeats=(1, 3), concentrations=(CONCENTRATION,),
                          seeds=args.seeds, rng=rng)
        noise = power_grid(ns=(args.n, 2 * args.n), repeats=(1, 3), concentrations=(0.25, 1.0, 3.0),
                           seeds=args.seeds, rng=rng)
        print("\n# paired overall rule vs N and repeats per sample (k > 1: Wilcoxon on per-sample pass fractions)")
        print(grid.to_string(index=False))
        print("\n# paired overall rule vs noise level (A/A disagreement), N and repeats")
        print(noise.to_string(index=False))
    print(f"\nelapsed {time.perf_counter() - t0:.1f} s")
    prim = table.set_index("rule").loc["paired_mcnemar"]
    print(f"detection power_5pt={prim['power_5pt']:.3f} false_alarm={prim['false_alarm']:.3f}")


if __name__ == "__main__":
    main()
