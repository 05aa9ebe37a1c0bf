"""Anytime-valid sequential gate (issue 28 item 1, plain module): its false-block rate under optional stopping,
early stops for large drops and identical candidates, the alpha split with the fixed gate. Vectorised, seconds."""

from __future__ import annotations

import numpy as np
import pytest

from eval_pipeline.project.regression_config import RegressionConfig
from eval_pipeline.regression.sequential import final_config, random_order, row_levels, sequential_gate


def _drops(rng, seeds: int, rows: int, n: int, worse: float, better: float) -> np.ndarray:
    """Per-sample drops in {-1, 0, 1}: 1 (baseline passed, candidate failed) with ``worse``, -1 with ``better``."""
    u = rng.random((seeds, rows, n))
    return np.where(u < worse, 1.0, np.where(u < worse + better, -1.0, 0.0))


def test_an_equal_candidate_is_blocked_at_most_level_over_every_look():
    """2,000 A/A runs of one row, a look after every 10 samples (50 looks), level 0.05: the e-process may be
    inspected at every look and the chance of ANY block stays <= 0.05 (a naive exact test at each look would not)."""
    rng = np.random.default_rng(1)
    d = _drops(rng, 2000, 1, 500, 0.05, 0.05)
    res = sequential_gate(
        d, np.ones_like(d, bool), np.array([0.0]), np.array([0.05]), np.array([1e-9]), chunk=10
    )
    rate = res.blocked.mean()
    assert rate <= 0.05, rate
    # the same data, one-sided exact binomial at 0.05 at each of the 50 looks: optional stopping inflates it
    from scipy import stats

    cw = np.cumsum(d[:, 0] > 0, axis=1)[:, 9::10]
    cb = np.cumsum(d[:, 0] < 0, axis=1)[:, 9::10]
    naive = (stats.binom.sf(cw - 1, cw + cb, 0.5) <= 0.05).any(axis=1).mean()
    assert naive > 0.12, naive


def test_a_large_drop_stops_early_and_an_identical_candidate_is_shown_no_worse():
    rng = np.random.default_rng(2)
    n, min_effect = 500, np.array([0.03, 0.03])
    level, beta = np.array([0.005, 0.005]), np.array([0.05, 0.05])
    big = _drops(rng, 200, 2, n, 0.15, 0.02)  # a 13-point drop on both rows
    res = sequential_gate(big, np.ones_like(big, bool), min_effect, level, beta)
    assert res.blocked.mean() > 0.95 and res.share_used.mean() < 0.5
    assert (res.decision[res.blocked] == 1).any(axis=-1).all()
    same = np.zeros((50, 2, n))  # the same answers (a replayed baseline): every sample agrees
    res = sequential_gate(same, np.ones_like(same, bool), min_effect, level, beta)
    assert not res.blocked.any() and (res.decision == -1).all() and res.share_used.max() < 0.5
    # a 5-point drop is not shown "no worse" at a 3-point margin (beta 0.05 bounds it even at the margin)
    mid = _drops(rng, 400, 1, n, 0.075, 0.025)
    res = sequential_gate(mid, np.ones_like(mid, bool), min_effect[:1], level[:1], beta[:1])
    assert (res.decision == -1).mean() <= 0.05


def test_segment_rows_use_only_their_samples_and_the_split_of_alpha():
    cfg = RegressionConfig()
    segment = np.array([False, False, True, True, True])
    level, beta = row_levels(cfg, segment, beta=0.2, early_share=0.3)
    assert level[:2] == pytest.approx([0.05 * 0.3 * 0.6 / 2] * 2)
    assert level[2:] == pytest.approx([0.05 * 0.3 * 0.4 / 3] * 3)
    assert level.sum() == pytest.approx(0.05 * 0.3) and beta.sum() == pytest.approx(0.2)
    assert final_config(cfg, 0.3).alpha == pytest.approx(0.035) and cfg.alpha == 0.05
    # a segment row sees its members only: a collapse in the members blocks it, non-members are ignored
    n = 500
    members = np.zeros((1, 1, n), bool)
    members[..., :100] = True
    d = np.where(members, 1.0, -1.0)  # every member worse, every other sample better
    res = sequential_gate(d, members, np.array([0.10]), np.array([0.001]), np.array([0.01]), chunk=50)
    assert res.blocked.all() and res.used[0] < n
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        sequential_gate(d * 2, members, np.array([0.1]), np.array([0.01]), np.array([0.01]))
    order = random_order(n, np.random.default_rng(0))
    assert sorted(order) == list(range(n))


def test_gated_drops_from_score_rows_match_the_gate_family_and_stop_a_big_drop_early():
    """From two runs' score rows (the detection suite's simulated nights as the evaluators write them): the gated
    family of the fixed gate (7 pass-rate rows + 35 category segments), the same per-sample drops, and a 10-point
    drop of exact_match blocked before half the samples."""
    from eval_pipeline.regression.sequential import gated_drops
    from eval_pipeline_tests.benchmarks import detection as det
    from eval_pipeline_tests.benchmarks import detection_sim as ds

    cfg = det.suite().regression_config()
    sc = det.Scenario("10", "compare", drop=0.10)
    base_nights, cand, _ = det.nights(sc, np.random.default_rng(5), every=False)
    base = det.effective_baseline(sc, base_nights)[0]
    g = gated_drops(ds.score_frames(cand, "cand", "d"), ds.score_frames(base, "prod", "d"), cfg)
    assert len(g.names) == 42 and g.segment.sum() == 35 and not g.left_out
    assert "sim/answers:exact_match.pass_rate" in g.names and len(g.order) == 500
    row = g.names.index("sim/answers:exact_match.pass_rate")
    want = base["passed"][0, :, 0].astype(float) - cand["passed"][0, :, 0]
    assert g.drops[row].sum() == want.sum() and g.masks[row].all()
    level, beta = row_levels(cfg, g.segment)
    res = sequential_gate(g.drops[None], g.masks[None], g.min_effect, level, beta)
    assert res.blocked[0] and res.share_used[0] <= 0.5
    assert res.decision[0, row] == 1
