"""Verbosity bias: the length-controlled win rate and the score-vs-length association.

Against the test server's scripted judges (``support/servers/scripted_judges.py``) through the real SDK provider:
a judge preferring the longer answer regardless of quality has a raw win rate well above 0.5 and a
length-controlled one near 0.5 with the flag set; a quality-driven judge has both near its true rate.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from eval_pipeline.evaluators import judge as J
from eval_pipeline.evaluators.judge import length_control as L
from eval_pipeline.inference.store import ResponseStore
from eval_pipeline.project.suites import EvalSet
from eval_pipeline.scoring.thresholds import set_metrics
from eval_pipeline_tests.support.judge import samples_frame, server_executor
from eval_pipeline_tests.support.servers.anthropic_server import AnthropicTestServer
from eval_pipeline_tests.support.servers.scripted_judges import QUALITY_SLOPE, scripted_judge

PAIRWISE = {"model": "x", "mode": "pairwise", "repeats": 1, "dimensions": [{"name": "overall"}]}
N_PAIRS = 80


@pytest.fixture(scope="module")
def server():
    with AnthropicTestServer(judge_hook=scripted_judge) as srv:
        yield srv


def executor(srv, tmp_path):
    return server_executor(srv, ResponseStore(tmp_path / "store"))


def _text(i: int, words: int, q: float, who: str) -> str:
    return f"[q={q:.2f}] {who} answer {i}: " + " ".join(f"w{k}" for k in range(words))


def pairs(candidate_q, baseline_q, seed=0):
    """Candidate answers longer than the baseline on average (+12 words), lengths independent of quality."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(N_PAIRS):
        lc, lb = int(rng.integers(10, 50)) + 12, int(rng.integers(10, 50))
        rows.append(
            {
                "response_text": _text(i, lc, candidate_q[i], "cand"),
                "baseline_text": _text(i, lb, baseline_q[i], "base"),
            }
        )
    return samples_frame(rows, pairwise=True)


def eval_set(judge_cfg, thresholds=()):
    return EvalSet(
        name="faq", family="judge", task="t", source="x.jsonl", judge=judge_cfg, thresholds=list(thresholds)
    )


def test_length_judge_raw_high_lc_near_half_flagged(server, tmp_path):
    cfg_dict = {**PAIRWISE, "model": "claude-length-judge"}
    samples = pairs([0.5] * N_PAIRS, [0.5] * N_PAIRS)  # equal quality: the true quality win rate is 0.5
    rows, _ = J.score(samples, J.JudgeConfig(**cfg_dict), executor(server, tmp_path))
    s = J.summarize_pairwise(rows)
    lc = s["length_control"]
    assert s["win_rate"] > 0.7, s["win_rate"]
    assert abs(lc["lc_win_rate"] - 0.5) < 0.12, lc
    assert lc["lc_win_rate_ci"][0] < 0.5 < lc["lc_win_rate_ci"][1]
    assert lc["length_bias"] and lc["length_p"] < 0.05 and lc["n"] == N_PAIRS
    # in the set metrics (run artifact): a suite may gate on the LC figure
    es = eval_set(
        cfg_dict,
        [{"metric": "lc_win_rate", "min": 0.6, "blocking": True}, {"metric": "win_rate", "min": 0.6}],
    )
    m = set_metrics(rows, es)
    assert m["lc_win_rate"]["length_bias"] is True and m["lc_win_rate"]["ci_low"] is not None
    assert m["win_rate"]["value"] > 0.7 and m["lc_win_rate"]["value"] < 0.62
    from eval_pipeline.project.suites import Suite
    from eval_pipeline.scoring.thresholds import apply_thresholds

    suite = Suite(name="s", eval_sets=[es])
    res = {r.metric: r for r in apply_thresholds(suite, es, m)}
    assert res["win_rate"].passed and not res["lc_win_rate"].passed and res["lc_win_rate"].enforced_blocking


def test_quality_judge_raw_and_lc_near_true_rate(server, tmp_path):
    rng = np.random.default_rng(1)
    cq = rng.uniform(0.3, 0.9, N_PAIRS)
    bq = rng.uniform(0.2, 0.8, N_PAIRS)
    samples = pairs(cq, bq)
    rows, _ = J.score(
        samples, J.JudgeConfig(**{**PAIRWISE, "model": "claude-quality-judge"}), executor(server, tmp_path)
    )
    s = J.summarize_pairwise(rows)
    cq2, bq2 = np.round(cq, 2), np.round(bq, 2)
    true_rate = float(np.mean(1 / (1 + np.exp(-QUALITY_SLOPE * (cq2 - bq2)))))
    lc = s["length_control"]
    assert abs(s["win_rate"] - true_rate) < 0.12
    assert abs(lc["lc_win_rate"] - true_rate) < 0.12
    assert lc["lc_win_rate_ci"][0] < true_rate < lc["lc_win_rate_ci"][1]
    assert not lc["length_bias"], lc


def test_lc_unit_bias_removed_and_no_bias_unchanged():
    rng = np.random.default_rng(3)
    n = 400
    d = rng.normal(10, 15, n)  # candidate longer on average
    q = rng.normal(0.0, 1.0, n)
    y_biased = (rng.uniform(size=n) < 1 / (1 + np.exp(-(q + 0.08 * d)))).astype(float)
    truth = float(np.mean(1 / (1 + np.exp(-q))))
    r = L.length_controlled_win_rate(y_biased, d)
    assert r["win_rate"] - truth > 0.1
    assert abs(r["lc_win_rate"] - truth) < 0.05 and r["length_bias"]
    y_fair = (rng.uniform(size=n) < 1 / (1 + np.exp(-q))).astype(float)
    r2 = L.length_controlled_win_rate(y_fair, d)
    assert abs(r2["lc_win_rate"] - r2["win_rate"]) < 0.04 and not r2["length_bias"]
    # too few pairs / constant lengths: not fitted, said so
    r3 = L.length_controlled_win_rate([1, 0, 1], [3, 1, 2])
    assert "not fitted" in r3["test"] and r3["lc_win_rate"] == pytest.approx(2 / 3)


def test_pointwise_length_association_and_adjusted_mean(server, tmp_path):
    cfg = J.JudgeConfig(
        model="claude-length-judge",
        repeats=1,
        dimensions=[{"name": "helpful", "scale": [1, 5], "threshold": 3}],
    )
    rng = np.random.default_rng(5)
    rows_in = [
        {"response_text": " ".join(["w"] * int(rng.integers(1, 45))), "expected": "w w w w w"}
        for _ in range(40)
    ]
    rows, _ = J.score(samples_frame(rows_in), cfg, executor(server, tmp_path))
    s = J.summarize_pointwise(rows, cfg)
    la = s["length_association"]["helpful"]
    assert la["spearman"] > 0.8 and la["spearman_ci"][0] > 0.5 and la["length_bias"] and la["n"] == 40
    # adjusted to the reference answers' length (5 words): the length judge scores that 1
    assert la["reference_length"] == 5 and la["adjusted_mean"] < la["mean"] - 0.8
    assert la["adjusted_mean_ci"][0] < la["adjusted_mean"] < la["adjusted_mean_ci"][1]
    m = set_metrics(rows, eval_set(cfg.model_dump()))
    assert m["helpful.length_spearman"]["length_bias"] is True
    assert m["helpful.length_adjusted_mean"]["value"] == pytest.approx(la["adjusted_mean"])
    # the quality judge on the same lengths: no association, adjusted mean = mean
    qcfg = cfg.model_copy(update={"model": "claude-quality-judge"})
    rows_q = [{"response_text": f"[q={rng.uniform():.2f}] " + r["response_text"]} for r in rows_in]
    rq, _ = J.score(samples_frame(rows_q), qcfg, executor(server, tmp_path))
    laq = J.summarize_pointwise(rq, qcfg)["length_association"]["helpful"]
    assert not laq["length_bias"] and laq["adjusted_mean"] == pytest.approx(laq["mean"])
    assert not math.isnan(laq["spearman"])
