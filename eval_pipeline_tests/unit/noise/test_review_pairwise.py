"""Pairwise review items: which judged pairs reach the queue (position-inconsistent, split repeats, failures), the
preferred answer stored by the review server (A / B / tie, only on a pairwise item) and read back into calibration
as the pairwise agreement entry ``human_review/preference`` (a human tie is counted, not compared)."""

from __future__ import annotations

import pandas as pd
import pytest
from starlette.testclient import TestClient

from eval_pipeline.evaluators.review_calibration import review_calibration
from eval_pipeline.noise import review_server as rs
from eval_pipeline.noise.review_pairwise import select_pairwise_for_review
from eval_pipeline.project.judge import JudgeConfig
from eval_pipeline.storage.warehouse import Warehouse
from eval_pipeline_tests.support.review_fixtures import DATE, MV, item, pair_item, write_queue

CFG = JudgeConfig(model="judge-x", mode="pairwise", dimensions=[{"name": "overall"}])


def _rows(sample: str, win: float, consistency: float, unparseable: int = 0) -> list[dict]:
    base = {
        "family": "judge",
        "suite": "s",
        "eval_set": "pairs",
        "sample_id": sample,
        "repeat": 0,
        "evaluator_hash": "h",
    }
    return [
        {**base, "metric": "pairwise_win", "value": win, "reason": f"outcomes for {sample}"},
        {**base, "metric": "position_consistency", "value": consistency, "reason": ""},
        {**base, "metric": "judge_unparseable", "value": float(unparseable), "reason": ""},
    ]


def test_flipped_split_and_failed_pairs_are_queued_with_both_answers():
    rows = pd.DataFrame(
        _rows("clear", 1.0, 1.0)
        + _rows("flipped", 1.0, 0.5)
        + _rows("split", 0.5, 1.0)
        + _rows("failed", 0.0, 1.0, 2)
        + _rows("no-baseline", 0.5, 0.5)
    )
    ids = ["clear", "flipped", "split", "failed", "no-baseline"]
    samples = pd.DataFrame(
        {
            "eval_set": "pairs",
            "sample_id": ids,
            "repeat": 0,
            "input": "q",
            "expected": None,
            "category": "c",
            "response_text": [f"cand {s}" for s in ids],
        }
    )
    baseline = samples.iloc[:4].assign(response_text=lambda d: "base " + d["sample_id"])
    got = select_pairwise_for_review(samples, rows, CFG, baseline)
    assert list(got["sample_id"]) == [
        "failed",
        "flipped",
        "split",
    ]  # clear: nothing to review; no baseline: not shown
    by = got.set_index("sample_id")
    assert (
        by.at["flipped", "reasons"][0].startswith("position_inconsistent")
        and by.at["flipped", "judge_preference"] == "A"
    )
    assert by.at["split", "judge_preference"] == "tie" and by.at["failed", "judge_preference"] == "B"
    assert "judge_failed: 2 order call(s) judge_unparseable" in by.at["failed", "reasons"]
    assert by.at["split", "response_text"] == "cand split" and by.at["split", "baseline_text"] == "base split"
    assert set(got["kind"]) == {"pairwise"}
    with pytest.raises(ValueError, match="pairwise"):
        select_pairwise_for_review(
            samples, rows, JudgeConfig(model="j", dimensions=[{"name": "x"}]), baseline
        )


def test_preferred_answer_is_stored_and_read_back_as_pairwise_agreement(tmp_path):
    write_queue(tmp_path / "wh", [pair_item(1, "A"), pair_item(2, "B"), pair_item(3, "A"), item(4)])
    store = rs.ReviewStore(Warehouse.from_url(str(tmp_path / "wh")), tmp_path / "data" / "reviews")
    client = TestClient(rs.create_app(store), base_url="http://127.0.0.1")
    queue = f"{DATE}_{MV}"

    def label(rid, **body):
        return client.post("/api/label", json={"queue": queue, "review_id": rid, "human_label": {}, **body})

    pair = "customer_support/faq_pairwise/s{}/r0"
    assert label(pair.format(1), human_preference="C").status_code == 422
    assert (
        label("customer_support/faq_answer_quality/s4/r0", human_preference="A").status_code == 422
    )  # pointwise
    for i, pref in ((1, "A"), (2, "A"), (3, "tie")):
        assert label(pair.format(i), human_preference=pref).status_code == 200
    rc = review_calibration(tmp_path / "data")
    entry = rc.metrics["human_review/preference"]
    assert (
        entry["n"] == 2 and entry["pairwise_accuracy"] == 0.5
    )  # agrees on s1, not on s2; the human tie is counted
    assert rc.summary["human_ties"] == 1 and rc.summary["n_per_dimension"] == {"preference": 2}
    assert rc.reported_only == ["human_review/preference"]


def test_review_items_queue_a_pairwise_eval_set_with_the_baselines_answer(tmp_path):
    """The review_queue asset's step (noise.floor.review_items) on the demo project with faq_answer_quality made
    pairwise: the baseline's graded answer of the same date becomes answer B; without a baseline nothing is shown."""
    import shutil

    from eval_pipeline.noise import floor as nf
    from eval_pipeline.project.loader import load_project
    from eval_pipeline.project.paths import PROJECT_ROOT

    data = tmp_path / "data"
    shutil.copytree(
        PROJECT_ROOT / "data", data, ignore=shutil.ignore_patterns("recordings", "synthetic", "reviews")
    )
    suite = data / "suites" / "customer_support.yaml"
    text = suite.read_text()
    assert "      mode: pointwise\n" in text
    suite.write_text(text.replace("      mode: pointwise\n", "      mode: pairwise\n", 1))
    project = load_project(data)
    mv = next(m for m in project.registry.models if not m.production and m.nightly)
    rows = pd.DataFrame(_rows("covidfaq-0001", 1.0, 0.5)).assign(
        suite="customer_support", eval_set="faq_answer_quality"
    )
    graded = pd.DataFrame(
        {
            "suite": "customer_support",
            "eval_set": "faq_answer_quality",
            "sample_id": ["covidfaq-0001"],
            "repeat": 0,
            "input": "q",
            "expected": "r",
            "category": "c",
            "response_text": "candidate says",
        }
    )
    base = graded.assign(response_text="production says")
    items = nf.review_items(project, mv, graded, rows, None, base)
    assert len(items) == 1 and items["kind"].iat[0] == "pairwise"
    assert (items["response_text"].iat[0], items["baseline_text"].iat[0]) == (
        "candidate says",
        "production says",
    )
    assert nf.review_items(project, mv, graded, rows, None, None).empty
