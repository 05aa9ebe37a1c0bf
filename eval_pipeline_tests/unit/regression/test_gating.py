"""Trustworthy release gate (issue 10 part 2): direction, family-wise error, small/tied samples,
one test per piece of evidence, clustered intervals, failed verdicts, the gate function, and the suite's
``regression:`` section (the one-sided gate and its error rates: test_gating_one_sided.py)."""

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
from eval_pipeline_tests.support.gate_inputs import one_set_suite, score_rows


# --------------------------------------------------------------------------- direction
def test_lower_spread_and_fewer_refusals_are_never_a_regression():
    rng = np.random.default_rng(1)
    n = 300
    spread_b = rng.integers(1, 3, n).astype(float)  # baseline judge inconsistent: spread 1-2
    refusal_b = rng.integers(1, 3, n).astype(float)
    c = pd.concat(
        [
            score_rows(np.zeros(n), [None] * n, "accuracy_spread"),
            score_rows(np.zeros(n), [None] * n, "judge_refusal"),
        ]
    )
    b = pd.concat(
        [
            score_rows(spread_b, [None] * n, "accuracy_spread"),
            score_rows(refusal_b, [None] * n, "judge_refusal"),
        ]
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
        score_rows(cand.astype(float), cand, "m", "deterministic", cats=cats),
        score_rows(base.astype(float), base, "m", "deterministic", cats=cats),
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


# --------------------------------------------------------------------------- suite YAML `regression:`
def _suite_yaml(tmp_path, regression: dict | None) -> Path:
    """A deterministic eval set whose one check is the rows' metric ``m``; ``regression:`` when given."""
    extra = {} if regression is None else {"regression": regression}
    checks = [{"type": "exact_match", "name": "m"}]
    return one_set_suite(tmp_path, {"family": "deterministic", "checks": checks}, **extra)


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
