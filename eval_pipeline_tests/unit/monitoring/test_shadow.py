"""Monitoring: shadow comparison pairs for the pairwise judge and win rates per category."""

from __future__ import annotations

import pandas as pd
import pytest
from statsmodels.stats.proportion import proportion_confint

from eval_pipeline.demo.synthetic_traffic import PiiRates, SyntheticTrafficConfig, generate_frame
from eval_pipeline.monitoring.sampling import build_stored_sample
from eval_pipeline.monitoring.shadow import (
    PAIR_COLUMNS,
    build_shadow_pairs,
    shadow_decision,
    shadow_requests,
    shadow_win_rates,
)


@pytest.fixture(scope="module")
def sample():
    frame, _, _ = generate_frame(SyntheticTrafficConfig(n_rows=400, seed=8, pii=PiiRates(email=0.2)))
    return build_stored_sample(frame, rate=0.5, salt="shadow")


def test_pairs_use_redacted_text_and_mark_unanswered(sample):
    req = shadow_requests(sample)
    assert list(req.columns) == ["request_id", "prompt_template", "category", "input"]
    assert "@" not in "".join(req["input"])  # emails were redacted before the candidate sees them
    answers = {rid: f"candidate answer {i}" for i, rid in enumerate(req["request_id"][:-3])}
    pairs = build_shadow_pairs(sample, answers, candidate_version="cand@2")
    assert list(pairs.columns) == PAIR_COLUMNS and len(pairs) == len(sample)
    assert (pairs["model_version"] == "cand@2").all()
    assert pairs["baseline_text"].tolist() == sample["output_redacted"].tolist()
    assert pairs["error_category"].iloc[-3:].tolist() == ["replay_miss"] * 3
    assert pairs["error_category"].iloc[:-3].isna().all()
    assert pairs["response_text"].iloc[-1] is None or pd.isna(pairs["response_text"].iloc[-1])
    assert pairs["metadata"].iloc[0]["production_model_version"] == "prod-model@v1"
    # a frame with error categories works too
    cand = pd.DataFrame({"request_id": req["request_id"], "text": "x", "error_category": "timeout"})
    assert (build_shadow_pairs(sample, cand, "c")["error_category"] == "timeout").all()
    with pytest.raises(ValueError, match="request_id, text"):
        build_shadow_pairs(sample, pd.DataFrame({"id": [1]}), "c")


def test_pairs_have_the_columns_the_pairwise_judge_requires(sample):
    from eval_pipeline.evaluators import judge

    pairs = build_shadow_pairs(sample, {}, "c")
    required = set(judge._SAMPLE_COLUMNS) | {"baseline_text"}
    assert "response_text" in required
    assert required <= set(pairs.columns)


def test_win_rates_from_verdicts_per_category():
    pairs = pd.DataFrame({"sample_id": [f"r{i}" for i in range(10)], "category": ["a"] * 6 + ["b"] * 4})
    # a: 4 wins, 1 tie, 1 loss; b: 0 wins, 1 tie, 2 losses, 1 without verdict (not counted)
    outcomes = ["candidate"] * 4 + ["tie", "baseline"] + ["tie", "baseline", "baseline", None]
    verdicts = pd.DataFrame({"sample_id": pairs["sample_id"], "outcome": outcomes})
    wr = shadow_win_rates(verdicts, pairs).set_index("category")
    assert wr.loc["a", ["n", "wins", "ties", "losses"]].tolist() == [6, 4, 1, 1]
    assert wr.loc["a", "win_rate"] == pytest.approx(4.5 / 6)
    assert wr.loc["b", "n"] == 3 and wr.loc["b", "win_rate"] == pytest.approx(0.5 / 3)
    lo, hi = proportion_confint(5.0, 9, method="wilson")
    assert wr.loc["__all__", "win_rate"] == pytest.approx(5 / 9)
    assert (wr.loc["__all__", "ci_low"], wr.loc["__all__", "ci_high"]) == pytest.approx((lo, hi))
    with pytest.raises(ValueError, match="pairs="):
        shadow_win_rates(verdicts)


def test_win_rates_from_pairwise_scores_and_decision():
    n = 200
    scores = pd.DataFrame(
        {
            "sample_id": [f"r{i}" for i in range(n)],
            "metric": "pairwise_win",
            "value": [1.0] * 150 + [0.0] * 50,
            "category": ["a", "b"] * (n // 2),
        }
    )
    scores = pd.concat([scores, scores.assign(metric="position_consistency", value=1.0)])
    wr = shadow_win_rates(scores)
    assert wr.set_index("category").loc["__all__", "n"] == n
    d = shadow_decision(wr)
    assert d["verdict"] == "better" and d["win_rate"] == pytest.approx(0.75)
    worse = shadow_win_rates(scores.assign(value=1 - scores["value"]))
    assert shadow_decision(worse)["verdict"] == "worse"
    assert set(shadow_decision(worse)["categories_worse"]) == {"a", "b"}
    assert shadow_decision(shadow_win_rates(scores.head(10)))["verdict"] == "inconclusive"
