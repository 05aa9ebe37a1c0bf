"""Replaying the sequential gate from stored score rows (regression/sequential_replay.py): what a run scores next,
when it stops, and the report rows' verdicts it sets. The detection suite's simulated nights as score rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from eval_pipeline.regression.sequential_replay import (
    SequentialNotPossible,
    SequentialOptions,
    apply_verdicts,
    first_units,
    replay,
    summary_line,
)
from eval_pipeline_tests.benchmarks import detection as det
from eval_pipeline_tests.benchmarks import detection_sim as ds

OPTS = SequentialOptions(seed=3, chunk=60)


def _frames(drop: float, seed: int = 5):
    sc = det.Scenario("x", "compare", drop=drop)
    base_nights, cand, _ = det.nights(sc, np.random.default_rng(seed), every=False)
    base = det.effective_baseline(sc, base_nights)[0]
    return ds.score_frames(cand, "cand", "d"), ds.score_frames(base, "prod", "d")


def _only(frame: pd.DataFrame, units) -> pd.DataFrame:
    keep = set(units)
    return frame[(frame["eval_set"] + "/" + frame["sample_id"]).isin(keep)]


def test_a_run_asks_for_the_next_units_then_stops_and_a_replay_is_the_same():
    cand, base = _frames(0.15)
    cfg = det.suite().regression_config()
    units = sorted(set(base["eval_set"] + "/" + base["sample_id"]))
    scored = first_units(units, OPTS)
    assert len(scored) == 60 and scored == first_units(units, OPTS)  # reproducible
    for _ in range(30):  # what run --sequential does: score what it asks for, replay
        out = replay(_only(cand, scored), base, cfg, OPTS)
        if out.state == "stopped":
            break
        assert out.next_units and not set(out.next_units) & set(scored)
        scored = scored + out.next_units
    assert out.state == "stopped" and out.blocked and out.used == len(scored) < len(units)
    assert any(r["status"] == "regression" and "exact_match" in r["name"] for r in out.rows)
    again = replay(_only(cand, scored), base, cfg, OPTS)
    assert again.to_dict() == out.to_dict()
    # scoring more than the gate asked for changes nothing: it stops at the same look
    assert replay(cand, base, cfg, OPTS).used == out.used
    assert summary_line(out.to_dict() | {"verdict": "blocked", "saved_usd": None}).startswith(
        f"sequential gate: blocked after {out.used} of {len(units)} samples"
    )


def test_the_report_rows_say_the_sequential_verdict():
    cand, base = _frames(0.15)
    cfg = det.suite().regression_config()
    out = replay(cand, base, cfg, OPTS)
    rows = pd.DataFrame(
        [
            {"suite": "sim", "eval_set": "answers", "metric": "exact_match", "segment": "__all__",
             "measure": "pass_rate", "gating": True, "verdict": "no_change", "p_worse": 0.5},
            {"suite": "sim", "eval_set": "answers", "metric": "valid_json", "segment": "__all__",
             "measure": "pass_rate", "gating": True, "verdict": "regression", "p_worse": 0.001},
            {"suite": "sim", "eval_set": "answers", "metric": "latency", "segment": "__all__",
             "measure": "mean_value", "gating": False, "verdict": "regression", "p_worse": 0.001},
        ]
    )  # fmt: skip
    got = apply_verdicts(rows, out, cfg, OPTS)
    # blocked at a look: the e-process's row blocks, a gated row the looks did not block does not; drill-down keeps
    assert list(got["verdict"]) == ["regression", "no_change", "regression"]
    pending = replay(_only(cand, first_units(sorted(set(base["eval_set"] + "/" + base["sample_id"])), OPTS)),
                     base, cfg, OPTS)  # fmt: skip
    assert pending.state == "continue"
    assert list(apply_verdicts(rows, pending, cfg, OPTS)["verdict"]) == [
        "insufficient_data", "insufficient_data", "regression"
    ]  # fmt: skip


def test_a_gated_mean_value_row_is_refused_by_name():
    cand, base = _frames(0.0)
    cfg = det.suite().regression_config()
    cfg.blocking_metrics = dict(cfg.blocking_metrics) | {"summaries": ["cosine:mean_value"]}
    with pytest.raises(SequentialNotPossible, match="summaries:cosine.mean_value"):
        replay(cand, base, cfg, OPTS)
