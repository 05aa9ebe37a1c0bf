"""Anytime-valid sequential gate (issue 28 item 1, plain module): its false-block rate under optional stopping,
early stops for large drops and equal candidates, scoring only the samples an open row needs, the alpha split with
the fixed gate. Seconds."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from eval_pipeline.project.regression_config import RegressionConfig
from eval_pipeline.regression.sequential import (
    BELOW_MDE,
    NO_WORSE,
    OPEN,
    REGRESSION,
    RowTally,
    SequentialGate,
    conditional_power,
    final_config,
    final_levels,
    gated_drops,
    random_order,
    row_levels,
    run_known,
)


def _drops(rng, rows: int, n: int, worse: float, better: float) -> np.ndarray:
    """Per-sample drops in {-1, 0, 1}: 1 (baseline passed, candidate failed) with ``worse``, -1 with ``better``."""
    u = rng.random((rows, n))
    return np.where(u < worse, 1.0, np.where(u < worse + better, -1.0, 0.0))


def _gate(members, min_effect, level, beta=1e-12, final=0.005, z=1.0, gamma=0.5) -> SequentialGate:
    rows = members.shape[0]
    full = np.ones(rows)
    return SequentialGate(members, min_effect * full, level * full, beta * full, final * full, z, gamma)


def test_an_equal_candidate_is_blocked_at_most_level_over_every_look():
    """400 A/A runs of one row, a look after every 20 samples (25 looks), level 0.05, never settled early (z huge):
    the e-process may be inspected at every look and the chance of ANY block stays <= 0.05; a one-sided exact
    binomial test at 0.05 at each look, on the same data, blocks far more often (optional stopping)."""
    rng = np.random.default_rng(1)
    n, blocked, naive = 500, 0, 0
    for _ in range(400):
        d = _drops(rng, 1, n, 0.05, 0.05)
        gate = run_known(_gate(np.ones((1, n), bool), 0.0, 0.05, z=1e9), d, np.arange(n), chunk=20)
        blocked += gate.blocked
        cw, cb = np.cumsum(d[0] > 0)[19::20], np.cumsum(d[0] < 0)[19::20]
        naive += bool((stats.binom.sf(cw - 1, cw + cb, 0.5) <= 0.05).any())
    assert blocked / 400 <= 0.05, blocked
    assert naive / 400 > 0.09, naive  # 0.115 with this seed: twice the level


def test_a_large_drop_blocks_early_and_an_equal_candidate_settles_early():
    rng = np.random.default_rng(2)
    n, members = 500, np.ones((2, 500), bool)
    used = []
    for _ in range(40):  # a 13-point drop on both rows
        gate = run_known(_gate(members, 0.03, 0.005), _drops(rng, 2, n, 0.15, 0.02), rng.permutation(n))
        assert gate.blocked and (gate.status == REGRESSION).any() and not gate.needs_final
        used.append(gate.used)
    assert np.mean(used) < 0.5 * n
    # the same answers (a replayed baseline): every sample agrees -> both rows shown no worse / below the MDE
    gate = run_known(_gate(members, 0.03, 0.005, beta=0.05), np.zeros((2, n)), np.arange(n))
    assert not gate.blocked and gate.used <= 0.3 * n
    assert set(gate.status) <= {NO_WORSE, BELOW_MDE}
    # an equal candidate with 8 % discordance settles before the end on most runs, and never blocks here
    used = [run_known(_gate(members, 0.03, 0.005), _drops(rng, 2, n, 0.04, 0.04), rng.permutation(n)).used
            for _ in range(40)]  # fmt: skip
    assert np.mean(used) < 0.75 * n


def test_only_samples_of_open_rows_are_scored_and_frozen_rows_cannot_block():
    """An overall row and two segments (100 members each): a segment whose members keep looking worse stays open,
    the overall row and the other segment settle; then only the open segment's members are scored, every other
    row is frozen, and the run ends needing the fixed gate for the open segment alone."""
    n = 500
    seg_a, seg_b = np.zeros(n, bool), np.zeros(n, bool)
    seg_a[:100], seg_b[100:200] = True, True
    members = np.stack([np.ones(n, bool), seg_a, seg_b])
    d = np.zeros(n)
    d[:100:4] = 1.0  # a quarter of segment a is worse: a 25-point drop there, 5 points overall
    d[200::10] = -1.0  # improvements elsewhere: the overall drop is -1 point
    drops = np.tile(d, (3, 1))
    gate = _gate(members, np.array([0.03, 0.10, 0.10]), 1e-9, final=np.array([0.01, 0.001, 0.001]))
    run_known(gate, drops, random_order(n, np.random.default_rng(3)), chunk=50)
    assert not gate.blocked
    assert gate.status[1] == OPEN and gate.needs_final
    assert gate.frozen[0] and gate.frozen[2] and not gate.frozen[1]
    assert gate.scored[:100].all() and gate.used < n  # every member of the open segment, not every sample
    with pytest.raises(ValueError, match="added twice"):
        gate.add(np.array([0]), drops[:, :1])
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        g = _gate(members, 0.03, 0.01)
        g.add(np.array([1]), drops[:, :1] * 2)


def test_conditional_power_and_the_split_of_alpha():
    cfg = RegressionConfig()
    segment = np.array([False, False, True, True, True])
    level, beta = row_levels(cfg, segment, beta=0.2, early_share=0.3)
    assert level[:2] == pytest.approx([0.05 * 0.3 * 0.6 / 2] * 2)
    assert level[2:] == pytest.approx([0.05 * 0.3 * 0.4 / 3] * 3)
    assert level.sum() == pytest.approx(0.05 * 0.3) and beta.sum() == pytest.approx(0.2)
    assert final_levels(cfg, segment, 0.3) == pytest.approx(level / 0.3 * 0.7)
    assert final_config(cfg, 0.3).alpha == pytest.approx(0.035) and cfg.alpha == 0.05
    # conditional power against a simulation of the remaining 250 samples (drop 5 points, 9 % discordance)
    rng = np.random.default_rng(4)
    S, Q, k, n, m, lv = 8.0, 20.0, 250, 500, 0.03, 0.003
    rest = _drops(rng, 20000, n - k, 0.07, 0.02)
    s_n, q_n = S + rest.sum(1), Q + np.abs(rest).sum(1)
    sim = np.mean((s_n >= m * n) & (s_n / np.sqrt(q_n) >= stats.norm.isf(lv)))
    assert conditional_power(RowTally(S, Q, k, n, m, lv), 0.05) == pytest.approx(sim, abs=0.05)
    # nothing left: decided by what was seen
    assert conditional_power(RowTally(S, Q, n, n, m, lv), 0.05) == 0.0


def test_gated_drops_from_score_rows_match_the_gate_family_and_stop_a_big_drop_early():
    """From two runs' score rows (the detection suite's simulated nights as the evaluators write them): the gated
    family of the fixed gate (7 pass-rate rows + 35 category segments) over 3 x 500 units (one per eval set and
    sample: one request each), the same per-sample drops, and a 10-point drop of exact_match blocked early; with
    part of the candidate scored, only those units count as scored."""
    from eval_pipeline_tests.benchmarks import detection as det
    from eval_pipeline_tests.benchmarks import detection_sim as ds

    cfg = det.suite().regression_config()
    sc = det.Scenario("10", "compare", drop=0.10)
    base_nights, cand, _ = det.nights(sc, np.random.default_rng(5), every=False)
    base = det.effective_baseline(sc, base_nights)[0]
    g = gated_drops(ds.score_frames(cand, "cand", "d"), ds.score_frames(base, "prod", "d"), cfg)
    assert len(g.names) == 42 and g.segment.sum() == 35 and not g.left_out
    assert "sim/answers:exact_match.pass_rate" in g.names and len(g.order) == 1500 and g.scored.all()
    row = g.names.index("sim/answers:exact_match.pass_rate")
    want = base["passed"][0, :, 0].astype(float) - cand["passed"][0, :, 0]
    assert g.drops[row].sum() == want.sum() and g.masks[row].sum() == 500
    assert all(u.startswith("answers/") for u in np.array(g.order)[g.masks[row]])
    level, beta = row_levels(cfg, g.segment)
    gate = SequentialGate(g.masks, g.min_effect, level, beta, final_levels(cfg, g.segment))
    run_known(gate, g.drops, np.arange(len(g.order)))
    assert gate.blocked and gate.used <= 500
    assert gate.status[row] == REGRESSION
    frame = ds.score_frames(cand, "cand", "d")
    part = gated_drops(frame[frame["sample_id"] < "s00100"], ds.score_frames(base, "prod", "d"), cfg)
    assert part.scored.sum() == 300 and part.masks.shape == g.masks.shape
