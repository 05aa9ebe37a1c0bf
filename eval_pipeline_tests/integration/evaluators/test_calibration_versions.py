"""Calibration with uncertainty and versions: min_calibration is met on the interval's lower bound (or
the point estimate when configured); a calibration holds for one judge model + rubric + prompt; a
judge change makes the judge warn instead of block, and the config-change sensor asks for re-calibration."""

from __future__ import annotations

import json

from eval_pipeline.evaluators import calibration as C
from eval_pipeline.evaluators import judge as J
from eval_pipeline.evaluators.calibration_metrics import rating_agreement
from eval_pipeline.project.suites import EvalSet, Suite
from eval_pipeline.scoring.thresholds import apply_thresholds

# 30 items: quadratic-weighted kappa 0.706 (clears 0.7), bootstrap 95% interval about [0.48, 0.84] (does not).
HUMAN = [5, 4, 3, 2, 2, 1, 1, 1, 1, 5, 4, 5, 3, 4, 5, 4, 4, 3, 3, 5, 2, 5, 4, 1, 2, 5, 3, 1, 4, 4]
JUDGE = [3, 4, 2, 1, 1, 2, 1, 1, 1, 5, 4, 4, 2, 3, 4, 5, 5, 4, 3, 5, 4, 5, 4, 1, 4, 3, 3, 3, 2, 5]
JUDGE_CFG = {
    "model": "claude-quality-judge",
    "dimensions": [{"name": "helpful", "threshold": 3}],
    "min_calibration": {"weighted_kappa": 0.7},
}


def payload(cfg: J.JudgeConfig, metrics) -> dict:
    return {
        "judge_model": cfg.model,
        "metrics": metrics,
        "calibration_versions": [C.calibration_version(cfg)],
        "live_verdicts_only": True,
    }


def test_30_items_point_kappa_clears_lower_bound_does_not_keeps_judge_non_blocking():
    m = {"ratings/helpful": rating_agreement(HUMAN, JUDGE, (1, 5))}
    e = m["ratings/helpful"]
    assert e["n"] == 30 and e["weighted_kappa"] > 0.7 > e["weighted_kappa_ci_low"]
    cfg = J.JudgeConfig(**JUDGE_CFG)
    ok, note = C.may_block(payload(cfg, m), cfg)
    assert not ok and "lower bound" in note and "n=30" in note
    es = EvalSet(
        name="faq",
        family="judge",
        task="t",
        source="x.jsonl",
        judge=JUDGE_CFG,
        thresholds=[{"metric": "helpful.mean", "min": 4.5, "blocking": True}],
    )
    res = apply_thresholds(
        Suite(name="s", eval_sets=[es]), es, {"helpful.mean": {"value": 3.0, "n": 30}}, ok, note
    )
    assert (
        not res[0].passed
        and res[0].blocking
        and not res[0].enforced_blocking
        and "warning only" in res[0].note
    )
    # explicitly configured to use the point estimate: the same calibration lets the judge block
    point = J.JudgeConfig(**{**JUDGE_CFG, "calibration_gate": "point"})
    assert C.may_block(payload(point, m), point) == (True, "calibrated (point estimate)")
    assert C.calibration_gate(m, point.min_calibration, use="point")[0]
    assert not C.calibration_gate(m, point.min_calibration)[0]


def test_judge_change_invalidates_calibration_until_recalibrated():
    cfg = J.JudgeConfig(**{**JUDGE_CFG, "min_calibration": {"weighted_kappa": 0.2}})
    m = {"ratings/helpful": rating_agreement(HUMAN, JUDGE, (1, 5))}
    stored = payload(cfg, m)
    assert C.may_block(stored, cfg) == (True, "calibrated")
    for changed in (
        cfg.model_copy(update={"model": "gpt-4o"}),
        cfg.model_copy(update={"dimensions": [J.JudgeDimension(name="helpful", threshold=4)]}),
    ):
        ok, note = C.may_block(stored, changed)
        assert not ok and "judge changed since calibration" in note
    # a custom prompt is part of the version too
    prompt = J.PromptTemplate(system="be strict", user="{{ response }}")
    assert C.calibration_version(cfg, prompt) != C.calibration_version(cfg)
    # repeats / thresholds of the gate do not change a verdict: same version
    assert C.calibration_version(cfg.model_copy(update={"repeats": 5})) == C.calibration_version(cfg)


def test_sensor_requests_recalibration_on_judge_change():
    from eval_pipeline.defs.sensors import make_cursor, read_cursor, recalibration_request

    before = {"claude-quality-judge": ["aaaa"]}
    prev = read_cursor(make_cursor({}, {}, before))
    assert recalibration_request(prev, before, "d1") is None
    req = recalibration_request(prev, {"claude-quality-judge": ["bbbb"]}, "d2")
    assert req is not None and req.job_name == "calibration_job" and req.tags["eval/kind"] == "recalibration"
    assert "claude-quality-judge" in req.tags["eval/reason"]
    assert recalibration_request(prev, {**before, "gpt-4o": ["cccc"]}, "d3") is not None  # a new judge model
    assert (
        recalibration_request(read_cursor(make_cursor({}, {})), before, "d4") is None
    )  # older cursor: record only


def test_project_judge_versions_cover_each_panel_member(tmp_path):
    from eval_pipeline.project.loader import load_project
    from eval_pipeline_tests.unit.project.test_model_families import _project

    p = load_project(_project(tmp_path, {"model": None, "models": ["gpt-4o", "gemini-2.0-pro"]}))
    v = C.project_judge_versions(p)
    assert sorted(v) == ["gemini-2.0-pro", "gpt-4o"] and all(len(x) == 1 for x in v.values())
    assert v["gpt-4o"] != v["gemini-2.0-pro"]
    assert json.dumps(v)  # cursor-serializable


def test_three_review_labels_are_reported_but_do_not_decide_whether_the_judge_blocks():
    cfg = J.JudgeConfig(**{**JUDGE_CFG, "min_calibration": {"weighted_kappa": 0.2}})
    m = {
        "ratings/helpful": rating_agreement(HUMAN, JUDGE, (1, 5)),
        "human_review/helpful": rating_agreement([5, 1, 3], [1, 5, 3], (1, 5)),  # 3 labels, disagreeing
    }
    assert m["human_review/helpful"]["n"] == 3 and m["human_review/helpful"]["weighted_kappa"] < 0.2
    held = payload(cfg, m) | {"reported_only": ["human_review/helpful"]}
    assert C.may_block(held, cfg) == (True, "calibrated")
    ok, note = C.may_block(payload(cfg, m), cfg)  # the same entry, deciding: the judge would only warn
    assert not ok and "human_review/helpful" in note and "n=3" in note
