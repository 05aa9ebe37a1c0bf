"""Trustworthy release gate (issue 10 part 2): direction, family-wise error, small/tied samples,
one test per piece of evidence, clustered intervals, failed verdicts, and the gate function."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from eval_pipeline.evaluators import judge
from eval_pipeline.evaluators import metrics as M
from eval_pipeline.project.regression_config import RegressionConfig
from eval_pipeline.project.regression_schema import metric_direction
from eval_pipeline.regression.compare import regression_report, report_dict
from eval_pipeline.regression.paired_tests import paired_location_test
from eval_pipeline.release.decision import regression_gate, release_decision
from eval_pipeline_tests.support import simulate as sim


def _frame(values, passed, metric, family="judge", n_rep=1, cats=None):
    n = len(values) // n_rep
    return pd.DataFrame(
        {
            "suite": "s",
            "eval_set": "e",
            "sample_id": np.repeat([f"x{i}" for i in range(n)], n_rep),
            "repeat": np.tile(np.arange(n_rep), n),
            "family": family,
            "metric": metric,
            "value": np.asarray(values, float),
            "passed": pd.array(passed, dtype="boolean"),
            "category": cats if cats is not None else "c",
            "infra_error": None,
        }
    )


# --------------------------------------------------------------------------- direction
def test_lower_spread_and_fewer_refusals_are_never_a_regression():
    rng = np.random.default_rng(1)
    n = 300
    spread_b = rng.integers(1, 3, n).astype(float)  # baseline judge inconsistent: spread 1-2
    refusal_b = rng.integers(1, 3, n).astype(float)
    c = pd.concat(
        [_frame(np.zeros(n), [None] * n, "accuracy_spread"), _frame(np.zeros(n), [None] * n, "judge_refusal")]
    )
    b = pd.concat(
        [_frame(spread_b, [None] * n, "accuracy_spread"), _frame(refusal_b, [None] * n, "judge_refusal")]
    )
    rep = regression_report(c, b)
    rows = rep.rows.set_index("metric")
    assert (rows["direction"] == "lower").all()
    assert set(rows["verdict"]) == {"improvement"}  # today: "regression" (effect < 0 read as worse)
    assert not rep.has_regression and regression_gate(report_dict(rep))["passed"]
    # the other way round (judge less consistent) is labelled a regression but is auxiliary: never gates
    worse = regression_report(b, c)
    assert set(worse.rows["verdict"]) == {"regression"} and not worse.rows["gating"].any()
    assert not worse.has_regression
    assert metric_direction("helpfulness") == "higher" and metric_direction("latency_p95_s") == "lower"
    assert metric_direction("cost_per_sample") == "lower" and metric_direction("judge_unparseable") == "lower"


# --------------------------------------------------------------------------- family-wise error
def _segment_a_drop():
    """Candidate and baseline frames of 1,000 samples in 5 segments: segment a drops 30 points, overall 6."""
    n = 1000
    cats = np.array(list("abcde"))[np.arange(n) % 5]
    base = np.ones(n, bool)
    cand = base.copy()
    cand[cats == "a"] = np.r_[np.zeros(60, bool), np.ones(140, bool)]
    return (
        _frame(cand.astype(float), cand, "m", "deterministic", cats=cats),
        _frame(base.astype(float), base, "m", "deterministic", cats=cats),
    )


def test_segment_collapse_blocks_by_default_and_gate_segments_false_turns_it_off():
    c, b = _segment_a_drop()
    rep = regression_report(
        c, b, RegressionConfig(min_effect=0.07)
    )  # overall -6 points < 7: the overall row passes
    seg = rep.rows[rep.rows["segment"] == "a"].iloc[0]
    assert seg["verdict"] == "regression" and seg["gating"] and seg["min_effect"] == 0.10
    assert rep.has_regression and not regression_gate(report_dict(rep))["passed"]  # main: released
    assert rep.gate_regressions["segment"].tolist() == ["a"]
    # the segment rows spend segment_alpha_share (0.4) of alpha: p_gate >= the row's own p / 0.4
    gated_seg = rep.rows[rep.rows["gating"] & (rep.rows["segment"] != "__all__")]
    assert len(gated_seg) == 5
    assert (gated_seg["p_gate"] >= np.minimum(1.0, gated_seg["p_worse"] / 0.4) - 1e-12).all()
    off = regression_report(c, b, RegressionConfig(min_effect=0.07, gate_segments=False))
    assert not off.has_regression and regression_gate(report_dict(off))["passed"]
    seg_off = off.rows[off.rows["segment"] == "a"].iloc[0]
    assert seg_off["verdict"] == "regression" and not seg_off["gating"]  # drill-down only
    assert "discrete Holm" in rep.summary()["gate"] and "Zhu & Guo 2019" in rep.summary()["gate"]


# --------------------------------------------------------------------------- small / tied samples
def test_five_samples_dropping_from_3_of_3_to_2_of_3_get_the_exact_p_value():
    d = np.r_[np.full(5, -1 / 3), np.zeros(10)]
    assert stats.wilcoxon(d, zero_method="wilcox").pvalue == pytest.approx(
        0.0253, abs=1e-3
    )  # the old approximation
    assert paired_location_test(d) == pytest.approx(0.0625)  # 2 / 2^5: exact sign-flip
    base = np.ones((15, 3), bool)
    cand = base.copy()
    cand[:5, 0] = False
    c = sim.score_frame(cand)
    b = sim.score_frame(base)
    row = regression_report(c, b, RegressionConfig(min_pairs=5)).rows.iloc[0]
    # repeats: the sample is the unit, paired t-test of the per-sample pass fractions (no symmetry assumed)
    assert row["test"] == "paired_t"
    assert row["p_value"] == pytest.approx(stats.ttest_1samp(d, 0).pvalue)
    assert row["p_worse"] == pytest.approx(stats.ttest_1samp(d, 0, alternative="less").pvalue)


def test_nominal_5_percent_size_is_not_exceeded_with_few_tied_samples():
    rng = np.random.default_rng(3)
    rej = tot = 0
    for _ in range(1500):
        p = rng.beta(0.4, 0.1, 12)
        a, b = rng.binomial(3, p) / 3, rng.binomial(3, p) / 3  # A/A pass fractions of 3 repeats
        if np.all(a == b):
            continue
        tot += 1
        rej += paired_location_test(a - b) < 0.05
    size = rej / tot
    # the exact test is conservative; an upper 95 % bound of its size stays within 5 %
    assert stats.binomtest(rej, tot, 0.05, alternative="greater").pvalue > 0.05 and size <= 0.05


# --------------------------------------------------------------------------- one test per evidence
def test_binary_check_with_repeats_is_tested_once():
    rng = np.random.default_rng(4)
    p = sim.sample_pass_probabilities(200, rng=rng)
    rep = regression_report(
        sim.score_frame(sim.draw_outcomes(p, 3, rng)),
        sim.score_frame(sim.draw_outcomes(p, 3, rng)),
        RegressionConfig(segments=False),
    )
    assert rep.rows["measure"].tolist() == ["pass_rate"]  # today also a duplicate mean_value row


# --------------------------------------------------------------------------- clustered samples
def test_pass_rate_interval_with_repeats_covers_the_true_rate():
    rng = np.random.default_rng(0)
    cover_new = cover_wilson = 0
    sims = 600
    for _ in range(sims):
        p = sim.sample_pass_probabilities(50, 0.8, 0.5, rng)  # true rate 0.8, 5 repeats per sample
        out = sim.draw_outcomes(p, 5, rng)
        m = M.proportion_metric(out.reshape(-1), clusters=np.repeat(np.arange(50), 5))
        cover_new += m["ci_low"] <= 0.8 <= m["ci_high"]
        lo, hi = M.wilson_interval(int(out.sum()), out.size)
        cover_wilson += lo <= 0.8 <= hi
    assert cover_new / sims >= 0.93
    assert cover_wilson / sims < 0.85  # the independence assumption under-covers badly
    many = M.eval_set_metrics(sim.score_frame(out))["pass_rate"]
    assert (many["ci_low"], many["ci_high"]) == (m["ci_low"], m["ci_high"]) and many["n_clusters"] == 50
    one = M.eval_set_metrics(sim.score_frame(sim.draw_outcomes(p, 1, rng)))["pass_rate"]
    assert (one["ci_low"], one["ci_high"]) == pytest.approx(M.wilson_interval(round(one["value"] * 50), 50))


# --------------------------------------------------------------------------- failed verdicts
def _verdicts(statuses, score=4):
    rows = []
    for i, sts in enumerate(statuses):
        for r, s in enumerate(sts):
            ok = s == judge.STATUS_OK
            rows.append(
                {
                    "row": i,
                    "sample_id": f"x{i}",
                    "repeat": 0,
                    "judge_repeat": r,
                    "status": s,
                    "scores": {"accuracy": score} if ok else None,
                    "reasoning": "r" if ok else None,
                    "attempts": 1,
                    "cost_usd": 0.0,
                    "cached": False,
                    "message": None if ok else s,
                }
            )
    return pd.DataFrame(rows, columns=judge.VERDICT_COLUMNS)


def test_sample_whose_every_judge_repeat_failed_counts_as_a_failure():
    cfg = judge.validate_judge_config(
        {"model": "j", "repeats": 3, "dimensions": [{"name": "accuracy", "scale": [1, 5], "threshold": 3.5}]}
    )
    ok, bad = (
        [judge.STATUS_OK] * 3,
        [judge.STATUS_UNPARSEABLE, judge.STATUS_REFUSAL, judge.STATUS_UNPARSEABLE],
    )
    samples = pd.DataFrame(
        {
            "sample_id": ["x0", "x1", "x2", "x3"],
            "repeat": 0,
            "category": "c",
            "response_text": "a",
            "error_category": None,
        }
    )
    rows = judge.aggregate_pointwise(
        samples, _verdicts([ok, ok, ok, bad]), cfg, keys={"eval_set": "e", "suite": "s"}
    )
    s = judge.summarize_pointwise(rows, cfg)
    assert s["all_pass_rate"] == pytest.approx(3 / 4) and s["n_samples"] == 4  # today 1.0 over 3
    assert s["dimensions"]["accuracy"]["pass_rate"] == pytest.approx(3 / 4)
    assert s["dimensions"]["accuracy"]["n_no_verdict"] == 1
    assert M.eval_set_metrics(rows)["judge.accuracy.pass_rate"]["value"] == pytest.approx(3 / 4)


# --------------------------------------------------------------------------- the gate function
def test_release_decision_combines_quality_gate_and_gated_regressions():
    rng = np.random.default_rng(11)
    p = sim.sample_pass_probabilities(800, rng=rng)
    base = sim.score_frame(sim.draw_outcomes(p, 1, rng))
    bad = report_dict(
        regression_report(sim.score_frame(sim.draw_outcomes(sim.shift_probabilities(p, -0.1), 1, rng)), base)
    )
    good = report_dict(regression_report(sim.score_frame(sim.draw_outcomes(p, 1, rng)), base))
    thr = {"suite": "s", "eval_set": "e", "metric": "pass_rate", "passed": True, "enforced_blocking": True}
    art_ok = {"eval_sets": [{"thresholds": [thr]}]}
    art_fail = {"eval_sets": [{"thresholds": [{**thr, "passed": False}]}]}
    assert release_decision(art_ok, good)["approved"]
    assert not release_decision(art_ok, bad)["approved"]
    d = release_decision(art_fail, good)
    assert not d["approved"] and d["quality_gate"]["blocking_failures"] == ["s/e:pass_rate"]
    assert release_decision(art_ok, {"summary": {"status": "no_baseline"}, "rows": []})["approved"]


# --------------------------------------------------------------------------- one-sided gate
def _mcnemar_runs(n_worse: int, n_better: int, n_same: int = 200, metric: str = "m"):
    """Paired single-repeat pass/fail runs with the given discordant counts (the rest pass on both sides)."""
    base = np.r_[np.ones(n_worse, bool), np.zeros(n_better, bool), np.ones(n_same, bool)]
    cand = np.r_[np.zeros(n_worse, bool), np.ones(n_better, bool), np.ones(n_same, bool)]
    return (
        _frame(cand.astype(float), cand, metric, "deterministic"),
        _frame(base.astype(float), base, metric, "deterministic"),
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
            _frame(vb + 1.0 + rng.normal(0, 0.2, n), [None] * n, "helpfulness"),
            _frame(np.zeros(n), [None] * n, "helpfulness_spread"),
        ]
    )
    down = pd.concat(
        [_frame(vb, [None] * n, "helpfulness"), _frame(np.full(n, 2.0), [None] * n, "helpfulness_spread")]
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
        [_frame(np.linspace(1, 5, 60), [None] * 60, "helpfulness"), _frame(np.ones(60), [None] * 60, "x")]
    )
    rep2 = regression_report(vals, vals, baseline_pool=[vals.assign(value=vals["value"] - 1.0)])
    assert rep2.rows.set_index("metric").loc["helpfulness", "baseline"] == pytest.approx(
        3.0
    )  # the baseline night only


# --------------------------------------------------------------------------- suite YAML `regression:`
def _suite_yaml(tmp_path, regression: dict | None) -> Path:
    import yaml

    (tmp_path / "suites").mkdir(exist_ok=True)
    (tmp_path / "golden").mkdir(exist_ok=True)
    (tmp_path / "golden" / "g.jsonl").write_text('{"id": "1", "input": "hi", "expected": "x"}\n')
    suite = {
        "name": "s",
        "eval_sets": [
            {
                "name": "e",
                "family": "deterministic",
                "task": "t",
                "source": "golden/g.jsonl",
                "checks": [{"type": "exact_match", "name": "m"}],
            }
        ],
    }  # the rows' metric
    if regression is not None:
        suite["regression"] = regression
    p = tmp_path / "suites" / "s.yaml"
    p.write_text(yaml.safe_dump(suite))
    return p


def test_suite_regression_section_reaches_the_report_and_gate_segments_blocks(tmp_path):
    from eval_pipeline.project.suites import load_suite

    c, b = _segment_a_drop()
    opted = load_suite(
        _suite_yaml(tmp_path, {"gate_segments": True, "min_effect": 0.07}),
        tmp_path,
        validate_evaluators=False,
    )
    cfg = opted.regression_config()
    assert cfg.gate_segments and cfg.min_effect == 0.07 and cfg.alpha == 0.05
    rep = regression_report(c, b, {"s": cfg})  # the mapping the regression_report asset passes
    assert rep.has_regression and rep.summary()["gate_segments"] is True
    assert rep.gate_regressions["segment"].tolist() == ["a"]
    assert not regression_gate(report_dict(rep))["passed"]
    assert report_dict(rep)["suite_configs"]["s"]["gate_segments"] is True
    plain = load_suite(
        _suite_yaml(tmp_path, {"min_effect": 0.07, "gate_segments": False}),
        tmp_path,
        validate_evaluators=False,
    )
    assert not regression_report(
        c, b, {"s": plain.regression_config()}
    ).has_regression  # segments: drill-down only
    default = load_suite(_suite_yaml(tmp_path, None), tmp_path, validate_evaluators=False)
    # no regression section: default options; the gated family is the suite's primary row (its one check = the composite)
    assert default.regression_config() == RegressionConfig(blocking_metrics={"e": ["m:pass_rate"]})


@pytest.mark.parametrize(
    "section, key, needle",
    [
        ({"gate_segmnts": True}, "regression.gate_segmnts", "unknown key"),
        ({"alpha": 1.5}, "regression.alpha", "must be in (0, 1)"),
        ({"gate_procedure": "fdr"}, "regression.gate_procedure", "use one of"),
        ({"gate_segments": "yes"}, "regression.gate_segments", "is not a bool"),
    ],
)
def test_bad_regression_section_fails_at_load_naming_file_and_key(tmp_path, section, key, needle):
    from eval_pipeline.project.errors import ConfigError
    from eval_pipeline.project.suites import load_suite

    p = _suite_yaml(tmp_path, section)
    with pytest.raises(ConfigError) as ei:
        load_suite(p, tmp_path, validate_evaluators=False)
    msg = str(ei.value)
    assert str(p) in msg and key in msg and needle in msg and ei.value.key == key
