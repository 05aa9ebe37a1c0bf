"""The one-sided gate: the gated p-value is the one-sided exact McNemar (or Wilcoxon in the metric's direction),
discrete Holm over the gated family, the whole gate's false block rate within alpha, and pooled baseline nights."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from eval_pipeline.project.regression_config import RegressionConfig
from eval_pipeline.regression.compare import regression_report, report_dict
from eval_pipeline.regression.paired_tests import paired_location_test
from eval_pipeline.release.decision import regression_gate
from eval_pipeline_tests.support import simulate as sim
from eval_pipeline_tests.support.gate_inputs import score_rows


# --------------------------------------------------------------------------- one-sided gate
def _mcnemar_runs(n_worse: int, n_better: int, n_same: int = 200, metric: str = "m"):
    """Paired single-repeat pass/fail runs with the given discordant counts (the rest pass on both sides)."""
    base = np.r_[np.ones(n_worse, bool), np.zeros(n_better, bool), np.ones(n_same, bool)]
    cand = np.r_[np.zeros(n_worse, bool), np.ones(n_better, bool), np.ones(n_same, bool)]
    return (
        score_rows(cand.astype(float), cand, metric, "deterministic"),
        score_rows(base.astype(float), base, metric, "deterministic"),
    )


def test_gated_p_value_is_the_one_sided_exact_mcnemar():
    c, b = _mcnemar_runs(15, 6)
    row = regression_report(c, b).rows.iloc[0]
    assert row["test"] == "mcnemar_exact"
    # exact one-sided = P(X >= 15), X ~ Binomial(21, 1/2), from scipy's binomial test here
    assert row["p_worse"] == pytest.approx(stats.binomtest(15, 21, 0.5, alternative="greater").pvalue)
    # two-sided, descriptive: the exact two-sided binomial test
    assert row["p_value"] == pytest.approx(stats.binomtest(6, 21, 0.5).pvalue)
    # 9 points worse: two-sided p = 0.078 (no_change as a two-sided row), one-sided p = 0.039 < 0.05: blocks; alone
    # in its family the discrete Holm adjusted p-value is the p-value itself
    assert row["p_value"] > 0.05 and row["p_gate"] == pytest.approx(row["p_worse"]) and row["p_gate"] < 0.05
    assert row["verdict"] == "regression" and row["gating"]
    assert not regression_gate(report_dict(regression_report(c, b)))["passed"]


def test_discrete_holm_spends_the_slack_of_discrete_tests_that_holm_wastes():
    """Two gated pass/fail checks. Check A: 5 of 5 discordant samples got worse, exact p = 1/32 = 0.031.
    Check B: 3 discordant samples; the smallest p-value it can attain is 1/8, so it can never be rejected at
    0.031 and costs A nothing: discrete Holm p_gate(A) = 0.031 + 0 < 0.05 (blocks, a true 5-point loss on
    100 samples); plain Holm doubles it to 0.0625 (passes) - the power loss of issue 10's detection figure."""
    from eval_pipeline.regression.paired_tests import adjust, binomial_support, discrete_holm

    ca, ba = _mcnemar_runs(5, 0, n_same=95, metric="a")
    cb, bb = _mcnemar_runs(2, 1, n_same=97, metric="b")
    cfg = RegressionConfig(min_effect=0.02)
    rows = regression_report(pd.concat([ca, cb]), pd.concat([ba, bb]), cfg).rows.set_index("metric")
    assert rows.loc["a", "p_worse"] == pytest.approx(1 / 32) and rows.loc["b", "p_worse"] == pytest.approx(
        0.5
    )
    assert rows.loc["a", "p_gate"] == pytest.approx(1 / 32) and rows.loc["a", "verdict"] == "regression"
    assert rows.loc["b", "p_gate"] == pytest.approx(0.5) and rows.loc["b", "verdict"] == "no_change"
    holm = regression_report(
        pd.concat([ca, cb]), pd.concat([ba, bb]), RegressionConfig(min_effect=0.02, gate_procedure="holm")
    )
    assert (
        holm.rows.set_index("metric").loc["a", "p_gate"] == pytest.approx(2 / 32) and not holm.has_regression
    )
    # the procedure itself: supports from scipy's binomial, Holm when every test is continuous (statsmodels)
    np.testing.assert_allclose(binomial_support(3), [1 / 8, 1 / 2, 7 / 8, 1.0])
    np.testing.assert_allclose(binomial_support(4, "two-sided"), [2 / 16, 10 / 16, 1.0])
    from statsmodels.stats.multitest import multipletests

    p = np.array([0.01, 0.04, 0.03, 0.2, 0.02])
    np.testing.assert_allclose(discrete_holm(p, [None] * 5), multipletests(p, method="holm")[1])
    np.testing.assert_allclose(adjust(p, "discrete_holm"), multipletests(p, method="holm")[1])
    # by hand: sorted 1/32 (support n=5), 0.2 (continuous), 0.5 (n=3): step 1 = 1/32 + F_cont(1/32) + F_3(1/32)
    # = 1/32 + 1/32 + 0; step 2 = 0.2 + F_3(0.2) = 0.2 + 1/8; step 3 = 0.5
    got = discrete_holm([0.5, 1 / 32, 0.2], [binomial_support(3), binomial_support(5), None])
    np.testing.assert_allclose(got, [0.5, 2 / 32, 0.2 + 1 / 8])
    with pytest.raises(ValueError, match="supports"):
        discrete_holm([0.1, 0.2], [None])


def test_a_candidate_that_improves_a_lot_never_produces_a_gated_regression():
    rng = np.random.default_rng(7)
    c, b = _mcnemar_runs(2, 60)  # candidate fixes 60 failures, breaks 2
    rep = regression_report(c, b)
    row = rep.rows.iloc[0]
    assert row["verdict"] == "improvement" and row["p_worse"] > 0.99 and not rep.has_regression
    # continuous scores, both directions: a judge score that rises / a spread that falls is never gated as worse
    n = 300
    vb = rng.uniform(1, 4, n)
    up = pd.concat(
        [
            score_rows(vb + 1.0 + rng.normal(0, 0.2, n), [None] * n, "helpfulness"),
            score_rows(np.zeros(n), [None] * n, "helpfulness_spread"),
        ]
    )
    down = pd.concat(
        [
            score_rows(vb, [None] * n, "helpfulness"),
            score_rows(np.full(n, 2.0), [None] * n, "helpfulness_spread"),
        ]
    )
    rep2 = regression_report(up, down)
    assert set(rep2.rows["verdict"]) == {"improvement"} and (rep2.rows["p_worse"] > 0.99).all()
    assert not rep2.has_regression
    gated = rep2.rows[rep2.rows["gating"]]
    assert gated["metric"].tolist() == ["helpfulness"] and gated["p_gate"].iloc[0] > 0.99


def test_one_sided_wilcoxon_matches_scipy_and_sign_flip_in_the_metric_direction():
    rng = np.random.default_rng(5)
    d = rng.normal(-0.2, 1.0, 80)
    assert paired_location_test(d, alternative="less") == pytest.approx(
        stats.wilcoxon(d, alternative="less").pvalue
    )
    assert paired_location_test(d, alternative="greater") == pytest.approx(
        stats.wilcoxon(d, alternative="greater").pvalue
    )
    small = np.r_[
        -2.0, -1, -1, -3, -0.5, 1, 2, np.zeros(5)
    ]  # exact: P(T+ <= observed T+) over 2^7 sign flips
    nz = small[small != 0]
    ranks = stats.rankdata(np.abs(nz))
    observed = ranks[nz > 0].sum()
    exact_less = np.mean(
        [sum(r for r, s in zip(ranks, bits) if s) <= observed for bits in np.ndindex(*(2,) * 7)]
    )
    assert paired_location_test(small, alternative="less") == pytest.approx(exact_less)
    assert paired_location_test(small, alternative="less") < paired_location_test(small) / 2 + 1e-12
    assert paired_location_test(np.r_[-1.0, 0, 0], alternative="less") == 0.5
    assert paired_location_test(np.r_[-1.0, 0, 0], alternative="greater") == 1.0


def test_one_sided_gate_keeps_the_whole_gate_false_block_rate_within_alpha():
    """A/A (same model, fresh draws) on 4 gated checks: one-sided exact McNemar + discrete Holm, as the gate does,
    blocks at most 5 % of equally good candidates (upper bound of its rate checked with a binomial test), and a
    5-point drop in one check is blocked more often than with plain Holm on the same draws."""
    from eval_pipeline.regression.paired_tests import adjust, binomial_support, mcnemar_exact

    rng = np.random.default_rng(12)

    def gate(shift: float) -> tuple[bool, bool]:
        p, sup = [], []
        for k in range(4):
            probs = sim.sample_pass_probabilities(300, 0.8, 0.5, rng)
            b = sim.draw_outcomes(probs, 1, rng)[:, 0]
            c = sim.draw_outcomes(sim.shift_probabilities(probs, shift) if k == 0 else probs, 1, rng)[:, 0]
            worse, better, pw = mcnemar_exact(b, c, alternative="worse")
            p.append(pw)
            sup.append(binomial_support(worse + better))
        return bool((adjust(p, "discrete_holm", supports=sup) < 0.05).any()), bool(
            (adjust(p, "holm") < 0.05).any()
        )

    sims = 800
    aa = [gate(0.0) for _ in range(sims)]
    blocked = sum(d for d, _ in aa)
    assert (
        blocked / sims <= 0.05 and stats.binomtest(blocked, sims, 0.05, alternative="greater").pvalue > 0.05
    )
    assert blocked > 0  # not vacuous: the gate does fire on noise sometimes, just not more than alpha
    assert blocked >= sum(h for _, h in aa)  # discrete Holm rejects whenever Holm does
    drop = [gate(-0.05) for _ in range(200)]
    assert sum(d for d, _ in drop) > sum(h for _, h in drop)


def test_pooled_baseline_nights_keep_the_false_block_rate_and_raise_power():
    """4 gated checks, the baseline's last 7 nights pooled per sample (exact stratified test + discrete Holm, as the
    gate does): A/A blocks at most 5 %; a 5-point drop in one check is blocked more often than against the baseline
    night alone (exact McNemar) on the same draws."""
    from eval_pipeline.regression.paired_tests import (
        adjust,
        binomial_support,
        mcnemar_exact,
        stratified_exact,
    )

    rng = np.random.default_rng(13)
    n = 300
    ones = np.ones(n, int)

    def gate(shift: float) -> tuple[bool, bool]:
        pooled, one = ([], []), ([], [])
        for k in range(4):
            probs = sim.sample_pass_probabilities(n, 0.8, 0.5, rng)
            nights = sim.draw_outcomes(probs, 7, rng)  # samples x nights of the baseline version
            c = sim.draw_outcomes(sim.shift_probabilities(probs, shift) if k == 0 else probs, 1, rng)[:, 0]
            _, _, p, sup = stratified_exact(
                c.astype(int), ones, nights.sum(axis=1), 7 * ones, alternative="worse"
            )
            pooled[0].append(p)
            pooled[1].append(sup)
            worse, better, p1 = mcnemar_exact(nights[:, 0], c, alternative="worse")
            one[0].append(p1)
            one[1].append(binomial_support(worse + better))
        return (
            bool((adjust(pooled[0], "discrete_holm", supports=pooled[1]) < 0.05).any()),
            bool((adjust(one[0], "discrete_holm", supports=one[1]) < 0.05).any()),
        )

    aa = [gate(0.0)[0] for _ in range(600)]
    assert sum(aa) / 600 <= 0.05 and stats.binomtest(sum(aa), 600, 0.05, alternative="greater").pvalue > 0.05
    assert sum(aa) > 0
    drop = [gate(-0.05) for _ in range(150)]
    assert sum(p for p, _ in drop) > sum(o for _, o in drop) + 10


def test_pooled_nights_only_add_the_baseline_runs_samples_and_evaluators():
    """An earlier night pools only the samples the baseline run has, scored by the same evaluator; the report
    names the nights it pooled and mean-value rows stay on the baseline night."""
    c, b = _mcnemar_runs(12, 2)  # 214 samples
    night = b.copy()
    extra = night.head(30).assign(
        sample_id=[f"extra{i}" for i in range(30)]
    )  # samples the baseline run does not have
    night = pd.concat([night, extra], ignore_index=True)
    other_eval = b.assign(evaluator_hash="changed-check")  # the same check, re-defined: other evidence
    for frame in (c, b, night):
        frame["evaluator_hash"] = "v1"
    b["draw"] = "night0-" + b["sample_id"]
    night["draw"] = "night1-" + night["sample_id"]  # fresh draws (fresh_samples_daily)
    other_eval["draw"] = "night2-" + other_eval["sample_id"]
    from eval_pipeline.regression.baselines import RunRef

    rep = regression_report(
        c,
        b,
        baseline_pool=[night, other_eval],
        pool_runs=[RunRef("2024-01-01", "prod"), RunRef("2023-12-31", "prod")],
    )
    row = rep.rows.iloc[0]
    assert rep.baseline_pool == ["prod@2024-01-01"] and "prod@2024-01-01" in rep.message
    assert (row["test"], row["repeats"], row["n_pairs"]) == ("paired_t", 2, 214)
    vals = pd.concat(
        [
            score_rows(np.linspace(1, 5, 60), [None] * 60, "helpfulness"),
            score_rows(np.ones(60), [None] * 60, "x"),
        ]
    )
    rep2 = regression_report(vals, vals, baseline_pool=[vals.assign(value=vals["value"] - 1.0)])
    assert rep2.rows.set_index("metric").loc["helpfulness", "baseline"] == pytest.approx(
        3.0
    )  # the baseline night only
