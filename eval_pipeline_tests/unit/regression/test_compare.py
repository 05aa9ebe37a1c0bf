"""The regression report: verdict logic, the gated family, composite rows, baselines (the paired tests themselves: test_paired_tests.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from eval_pipeline.project.regression_config import RegressionConfig
from eval_pipeline.regression.baselines import RunRef, select_baseline
from eval_pipeline.regression.compare import regression_report
from eval_pipeline.regression.paired_tests import (
    bh_adjust,
)
from eval_pipeline_tests.support import simulate as sim


def _runs(base_pass, cand_pass, *, values_b=None, values_c=None, categories=None, family="deterministic"):
    n = len(base_pass)
    cats = categories if categories is not None else ["c"] * n

    def frame(passed, values):
        return pd.DataFrame(
            {
                "suite": "s",
                "eval_set": "e",
                "sample_id": [f"x{i}" for i in range(n)],
                "repeat": 0,
                "family": family,
                "metric": "m",
                "value": np.asarray(passed, float) if values is None else values,
                "passed": pd.array(passed, dtype="boolean"),
                "category": cats,
                "infra_error": None,
            }
        )

    return frame(cand_pass, values_c), frame(base_pass, values_b)


def test_injected_regression_is_flagged_and_unchanged_candidate_is_not():
    rng = np.random.default_rng(11)
    p = sim.sample_pass_probabilities(800, mean=0.8, concentration=0.5, rng=rng)
    cats = np.array(["a", "b"])[np.arange(800) % 2]
    base = sim.score_frame(sim.draw_outcomes(p, 1, rng), categories=cats)
    regressed = sim.score_frame(sim.draw_outcomes(sim.shift_probabilities(p, -0.10), 1, rng), categories=cats)
    same = sim.score_frame(sim.draw_outcomes(p, 1, rng), categories=cats)
    bad = regression_report(
        regressed, base, candidate=RunRef("2024-01-02", "new"), baseline=RunRef("2024-01-01", "prod")
    )
    assert bad.status == "ok" and bad.has_regression
    overall = bad.rows[bad.rows["segment"] == "__all__"].iloc[0]
    assert overall["verdict"] == "regression" and overall["test"] == "mcnemar_exact"
    assert overall["ci_low"] < overall["effect"] < overall["ci_high"] < 0
    assert set(bad.rows["segment"]) == {"__all__", "a", "b"}
    ok = regression_report(same, base)
    assert not ok.has_regression
    assert set(ok.rows["verdict"]) <= {"no_change", "improvement"}


def test_min_effect_improvement_and_insufficient_data():
    n = 5000
    base = np.ones(n, bool)
    cand = base.copy()
    cand[:100] = False  # 2-point drop: highly significant but below the 3-point minimum
    c, b = _runs(base, cand)
    assert regression_report(c, b).rows.iloc[0]["verdict"] == "no_change"
    assert regression_report(c, b, RegressionConfig(min_effect=0.01)).rows.iloc[0]["verdict"] == "regression"
    # improvement: candidate fixes 200 of 1000 failures
    base2 = np.r_[np.ones(500, bool), np.zeros(500, bool)]
    cand2 = base2.copy()
    cand2[500:700] = True
    c2, b2 = _runs(base2, cand2)
    assert regression_report(c2, b2).rows.iloc[0]["verdict"] == "improvement"
    c3, b3 = _runs(base2[:10], cand2[:10])
    assert regression_report(c3, b3).rows.iloc[0]["verdict"] == "insufficient_data"
    assert (
        "NOT TESTED, too few shared samples" in regression_report(c3, b3).message
    )  # said, not a silent pass


def test_repeats_use_the_per_sample_paired_t_test_and_infra_errors_are_dropped():
    rng = np.random.default_rng(5)
    p = sim.sample_pass_probabilities(300, rng=rng)
    base = sim.score_frame(sim.draw_outcomes(p, 3, rng))
    cand = sim.score_frame(sim.draw_outcomes(sim.shift_probabilities(p, -0.12), 3, rng))
    cand["passed"] = cand["passed"].astype("boolean")
    cand.loc[cand["sample_id"] == "s00000", "passed"] = pd.NA  # every repeat an infra error
    rep = regression_report(cand, base)
    row = rep.rows.iloc[0]
    assert row["test"] == "paired_t" and row["repeats"] == 3
    assert row["n_pairs"] == 299 and row["baseline_draws"] == 3
    assert row["verdict"] == "regression"


def test_continuous_scores_get_a_mean_value_row():
    rng = np.random.default_rng(8)
    n = 200
    vb = rng.uniform(2, 5, n)
    vc = vb - 0.4 + rng.normal(0, 0.3, n)
    c, b = _runs(vb >= 3, vc >= 3, values_b=vb, values_c=vc, family="judge")
    rep = regression_report(c, b, RegressionConfig(min_effect_by_metric={"m": 0.2}))
    mv = rep.rows[rep.rows["measure"] == "mean_value"].iloc[0]
    assert mv["test"] == "t" and mv["min_effect"] == 0.2 and mv["verdict"] == "regression"
    assert mv["p_value"] == pytest.approx(stats.ttest_1samp(vc - vb, 0).pvalue)
    wil = regression_report(c, b, RegressionConfig(continuous_test="wilcoxon"))
    assert wil.rows[wil.rows["measure"] == "mean_value"].iloc[0]["p_value"] == pytest.approx(
        stats.wilcoxon(vc - vb).pvalue
    )


def test_first_run_without_baseline_is_not_an_error():
    c, _ = _runs(np.ones(30, bool), np.ones(30, bool))
    rep = regression_report(c, None, candidate=RunRef("2024-01-01", "v1"))
    assert rep.status == "no_baseline" and "no baseline yet" in rep.message
    assert rep.rows.empty and not rep.has_regression
    assert "no baseline yet" in rep.to_markdown()
    assert select_baseline(pd.DataFrame(columns=["date", "model_version"]), RunRef("2024-01-01", "v1")) == (
        None,
        "no earlier runs",
    )


def test_live_candidate_is_never_compared_with_a_non_live_baseline():
    """A run whose answers were replayed / synthetic (run.json live_answers_only false) never decides a live
    candidate's gate (before: the production version's replayed run on the same date was chosen)."""
    runs = pd.DataFrame(
        {
            "date": ["2024-01-01", "2024-01-02", "2024-01-02"],
            "model_version": ["prod", "prod", "cand"],
            "passed": [True, True, None],
            "live_answers_only": [True, False, True],
        }
    )
    ref, why = select_baseline(runs, RunRef("2024-01-02", "cand"), "prod")
    assert ref == RunRef("2024-01-01", "prod") and "NOT LIVE" not in why
    only_replay = runs.assign(live_answers_only=[False, False, True])
    assert select_baseline(only_replay, RunRef("2024-01-02", "cand"), "prod")[0] is None
    demo = runs.assign(
        live_answers_only=[False, False, False]
    )  # the demo: replay vs replay is allowed, and said
    ref, why = select_baseline(demo, RunRef("2024-01-02", "cand"), "prod")
    assert ref == RunRef("2024-01-02", "prod") and "NOT LIVE" in why
    unknown = runs.drop(columns="live_answers_only")  # artifacts from before the flag: unchanged behaviour
    assert select_baseline(unknown, RunRef("2024-01-02", "cand"), "prod")[0] == RunRef("2024-01-02", "prod")


def test_non_live_runs_are_listed_from_ops_history():
    from eval_pipeline.history.runs import non_live_runs

    ops = pd.DataFrame(
        {
            "date": ["d1", "d1", "d2", "d2"],
            "model_version": ["a", "a", "a", "b"],
            "eval_set": ["__all__", "x", "__all__", "__all__"],
            "n_live": [10, 5, 0, 8],
            "n_replay": [0, 0, 10, 0],
            "n_synthetic": [0, 0, 0, 2],
        }
    )
    got = non_live_runs(ops)
    assert got[["date", "model_version"]].values.tolist() == [["d2", "a"], ["d2", "b"]]
    assert non_live_runs(ops.iloc[:2]).empty


def test_select_baseline_prefers_production_then_last_passing_run():
    runs = pd.DataFrame(
        {
            "date": ["2024-01-01", "2024-01-02", "2024-01-02", "2024-01-03", "2024-01-03"],
            "model_version": ["prod", "prod", "cand", "prod", "cand"],
            "passed": [True, False, True, True, None],
        }
    )
    cand = RunRef("2024-01-03", "cand")
    assert select_baseline(runs, cand, "prod")[0] == RunRef("2024-01-03", "prod")
    daily = RunRef("2024-01-03", "prod")  # production's own daily run: its last passing run before today
    assert select_baseline(runs, daily, "prod")[0] == RunRef("2024-01-01", "prod")
    assert select_baseline(runs, cand)[0] == RunRef("2024-01-02", "cand")


def test_config_errors_name_the_key():
    with pytest.raises(ValueError, match=r"regression\.min_effect: 3: give a fraction"):
        RegressionConfig.from_dict({"min_effect": 3})
    with pytest.raises(ValueError, match="unknown key"):
        RegressionConfig.from_dict({"alpah": 0.1})


def test_gate_family_is_discrete_holm_over_overall_rows_and_segments_are_bh_drill_down():
    rng = np.random.default_rng(21)
    p = sim.sample_pass_probabilities(600, rng=rng)
    cats = np.array(list("abc"))[np.arange(600) % 3]
    frames = {}
    for side, probs in (("b", p), ("c", sim.shift_probabilities(p, -0.04))):
        frames[side] = pd.concat(
            [
                sim.score_frame(sim.draw_outcomes(probs, 1, rng), categories=cats, metric=m)
                for m in ("m1", "m2", "m3")
            ]
        )
    rep = regression_report(
        frames["c"], frames["b"], RegressionConfig(gate_procedure="holm", gate_segments=False)
    )
    rows = rep.rows
    composite = (
        rows["metric"] == "pass_rate"
    ).to_numpy()  # all three checks passed: drill-down without a suite
    overall = (rows["segment"] == "__all__").to_numpy() & ~composite
    assert overall.sum() == 3 and (~overall & ~composite).sum() == 9 and composite.sum() == 4
    assert rows["gating"].to_numpy().tolist() == overall.tolist()
    from statsmodels.stats.multitest import multipletests

    np.testing.assert_allclose(
        rows["p_adjusted"][overall], multipletests(rows["p_value"][overall], method="holm")[1]
    )
    seg = (rows["segment"] != "__all__").to_numpy()
    np.testing.assert_allclose(rows["p_adjusted"][seg], bh_adjust(rows["p_value"][seg]))
    assert rep.summary()["gate_procedure"] == "holm" and rep.summary()["gate_family_size"] == 3
    # the default, discrete Holm: the same family, never a larger adjusted p-value than Holm, and the same
    # drill-down rows
    dflt = regression_report(frames["c"], frames["b"], RegressionConfig(gate_segments=False))
    assert dflt.summary()["gate_procedure"] == "discrete_holm" and dflt.summary()["gate_family_size"] == 3
    assert (dflt.rows["gating"] == rows["gating"]).all()
    assert (dflt.rows["p_gate"][overall] <= rows["p_gate"][overall] + 1e-12).all()
    assert (dflt.rows["p_adjusted"][overall] <= rows["p_adjusted"][overall] + 1e-12).all()
    np.testing.assert_allclose(dflt.rows["p_adjusted"][seg], rows["p_adjusted"][seg])
    opt_in = regression_report(
        frames["c"], frames["b"], RegressionConfig(gate_segments=True, gate_procedure="holm")
    ).rows
    gated = opt_in["metric"] != "pass_rate"
    assert opt_in["gating"].tolist() == gated.tolist()
    np.testing.assert_allclose(
        opt_in["p_adjusted"][gated], multipletests(opt_in["p_value"][gated], method="holm")[1]
    )


def test_declared_primary_metric_is_the_only_gated_row_of_its_eval_set():
    rng = np.random.default_rng(31)
    p = sim.sample_pass_probabilities(600, rng=rng)
    frames = {
        side: pd.concat(
            [
                sim.score_frame(sim.draw_outcomes(sim.shift_probabilities(p, d), 1, rng), metric=m)
                for m, d in (("main", 0.0), ("side", -0.15 if side == "c" else 0.0))
            ]
        )
        for side in ("b", "c")
    }
    default = regression_report(frames["c"], frames["b"], RegressionConfig(segments=False))
    assert default.has_regression and default.summary()["gate_family_size"] == 2
    primary = regression_report(
        frames["c"], frames["b"], RegressionConfig(segments=False, primary_metrics={"golden": "main"})
    )
    rows = primary.rows.set_index("metric")
    assert bool(rows.loc["main", "gating"]) and not bool(rows.loc["side", "gating"])
    assert rows.loc["side", "verdict"] == "regression" and not primary.has_regression  # drill-down only
    assert (
        primary.summary()["gate_family_size"] == 1
        and "primary metric of golden: main" in primary.summary()["gate"]
    )
    with pytest.raises(ValueError, match=r"regression\.primary_metrics"):
        RegressionConfig.from_dict({"primary_metrics": ["main"]})


def _two_check_frames(drop_main: float, drop_side: float, seed: int = 37):
    rng = np.random.default_rng(seed)
    p = sim.sample_pass_probabilities(600, rng=rng)
    return {
        side: pd.concat(
            [
                sim.score_frame(
                    sim.draw_outcomes(sim.shift_probabilities(p, d if side == "c" else 0.0), 1, rng), metric=m
                )
                for m, d in (("main", drop_main), ("side", drop_side))
            ]
        )
        for side in ("b", "c")
    }


def _suite(*thresholds):
    from eval_pipeline.project.suites import EvalSet, Suite, Threshold

    es = EvalSet(
        name="golden",
        family="deterministic",
        task="t",
        source="x.jsonl",
        checks=[{"type": "exact_match", "name": "main"}, {"type": "valid_json", "name": "side"}],
        thresholds=[Threshold(**t) for t in thresholds],
    )
    return Suite(name="s", eval_sets=[es])


def test_gated_family_is_what_the_blocking_thresholds_name():
    """A drop only in a metric no blocking threshold names is drill-down; a drop in the blocking threshold's metric
    blocks. (Before: every non-auxiliary metric was gated, so the side-check drop blocked.)"""
    side_drop = _two_check_frames(0.0, -0.15)
    suite = _suite(
        {"metric": "main.pass_rate", "min": 0.5, "blocking": True},  # only the main check gates
        {"metric": "side.pass_rate", "min": 0.5},
    )  # not blocking: drill-down
    cfg = suite.regression_config()
    assert cfg.blocking_metrics == {"golden": ["main:pass_rate"]}
    rep = regression_report(side_drop["c"], side_drop["b"], cfg)
    rows = rep.rows[rep.rows["segment"] == "__all__"].set_index("metric")
    assert rows.loc["side", "verdict"] == "regression" and not bool(rows.loc["side", "gating"])
    assert not rep.has_regression
    assert [r.split("/", 1)[1] for r in rep.summary()["gate_family"]] == ["golden:main.pass_rate"]
    assert rep.summary()["gate_family_size"] == 1
    # The composite pass_rate (every check must pass) is made of both checks: a drop in either breaks it, so
    # both rows gate (before: only the first check's row did, and the side-check drop never blocked).
    composite = _suite({"metric": "pass_rate", "min": 0.5, "blocking": True})
    assert composite.regression_config().blocking_metrics == {"golden": ["main:pass_rate", "side:pass_rate"]}
    for drop, metric in ((side_drop, "side"), (_two_check_frames(-0.15, 0.0), "main")):
        rep = regression_report(drop["c"], drop["b"], composite.regression_config())
        assert rep.has_regression and list(rep.gate_regressions["metric"]) == [metric]
        assert rep.summary()["gate_family_size"] == 2
    assert _suite().regression_config().blocking_metrics == {
        "golden": ["main:pass_rate"]
    }  # no blocking threshold
    blocking_side = _suite({"metric": "side.pass_rate", "min": 0.5, "blocking": True})
    rep = regression_report(side_drop["c"], side_drop["b"], blocking_side.regression_config())
    assert rep.has_regression and list(rep.gate_regressions["metric"]) == ["side"]
    # declared primary metrics override the thresholds
    from eval_pipeline.project.suites import Suite

    base = _suite({"metric": "pass_rate", "min": 0.5, "blocking": True})
    over = Suite(name="s", eval_sets=base.eval_sets, regression={"primary_metrics": {"golden": "side"}})
    assert regression_report(side_drop["c"], side_drop["b"], over.regression_config()).has_regression


def test_composite_row_is_the_share_of_samples_passing_every_check():
    """The composite regression row (drill-down) compares exactly the outcome the quality gate's ``pass_rate``
    measures, so the report shows the eval set's pass rate next to its checks."""
    from eval_pipeline.regression.composite import with_composite_pass

    f = _two_check_frames(-0.15, -0.10)
    rep = regression_report(
        f["c"], f["b"], _suite({"metric": "pass_rate", "min": 0.5, "blocking": True}).regression_config()
    )
    row = rep.rows[(rep.rows["metric"] == "pass_rate") & (rep.rows["segment"] == "__all__")].iloc[0]
    for side, col in (("c", "candidate"), ("b", "baseline")):
        wide = f[side].pivot_table(
            index=["sample_id", "repeat"], columns="metric", values="passed", aggfunc="first"
        )
        assert row[col] == pytest.approx(float(wide.astype(bool).all(axis=1).mean()))
    assert row["n_pairs"] == f["c"]["sample_id"].nunique() and not bool(row["gating"])
    twice = with_composite_pass(with_composite_pass(f["c"]))  # idempotent: recomputed, never doubled
    assert (twice["metric"] == "pass_rate").sum() == len(f["c"].drop_duplicates(["sample_id", "repeat"]))


def test_threshold_metrics_map_to_regression_rows():
    from eval_pipeline.project.suites import EvalSet, Threshold, gated_rows

    judge = {
        "model": "j",
        "dimensions": [{"name": "accuracy", "threshold": 3.5}, {"name": "tone", "threshold": 3.5}],
    }
    sim_set = EvalSet(
        name="f",
        family="similarity",
        task="t",
        source="x.jsonl",
        thresholds=[
            Threshold(metric="cosine_pass_rate", min=0.7, blocking=True),
            Threshold(metric="mean_cosine", min=0.6),
        ],
    )
    assert gated_rows(sim_set) == ["cosine:pass_rate"]
    assert gated_rows(EvalSet(name="f", family="similarity", task="t", source="x.jsonl")) == [
        "cosine:mean_value"
    ]
    j = EvalSet(
        name="q",
        family="judge",
        task="t",
        source="x.jsonl",
        judge=judge,
        thresholds=[Threshold(metric="tone.mean", min=3, blocking=True)],
    )
    assert gated_rows(j) == ["tone:mean_value"]
    assert gated_rows(
        EvalSet(
            name="q",
            family="judge",
            task="t",
            source="x.jsonl",
            judge=judge,
            thresholds=[Threshold(metric="pass_rate", min=0.7, blocking=True)],
        )
    ) == ["accuracy:pass_rate", "tone:pass_rate"]
    assert gated_rows(EvalSet(name="q", family="judge", task="t", source="x.jsonl", judge=judge)) == [
        "accuracy:mean_value"
    ]


def test_pool_runs_are_earlier_nights_of_the_baseline_version_that_did_not_fail():
    from eval_pipeline.regression.baselines import pool_runs

    runs = pd.DataFrame(
        {
            "date": [
                "2024-01-01",
                "2024-01-02",
                "2024-01-03",
                "2024-01-04",
                "2024-01-05",
                "2024-01-05",
                "2024-01-06",
            ],
            "model_version": ["prod", "prod", "prod", "prod", "prod", "cand", "prod"],
            "passed": [True, False, True, None, True, True, True],
            "live_answers_only": [True, True, False, True, True, True, True],
        }
    )
    cand, base = RunRef("2024-01-05", "cand"), RunRef("2024-01-05", "prod")
    # before the baseline's date, not failed (01-02), not replayed for a live candidate (01-03), latest first
    assert pool_runs(runs, cand, base, 7) == [RunRef("2024-01-04", "prod"), RunRef("2024-01-01", "prod")]
    assert pool_runs(runs, cand, base, 2) == [RunRef("2024-01-04", "prod")]
    assert pool_runs(runs, cand, base, 1) == [] and pool_runs(runs, cand, None, 7) == []
    demo = runs.assign(live_answers_only=False)  # a non-live candidate (the demo) may pool replayed nights
    assert RunRef("2024-01-03", "prod") in pool_runs(demo, cand, base, 7)
