"""A judge panel against the test server's scripted judges: independent scoring, mean / majority,
Krippendorff's alpha per dimension, disagreements to the review queue; one judge stays the default."""

from __future__ import annotations

import numpy as np
import pytest

from eval_pipeline.evaluators import judge as J
from eval_pipeline.evaluators.judge.panel import DISAGREEMENT_METRIC, panel_agreement
from eval_pipeline.noise.review import select_for_review
from eval_pipeline.project.suites import EvalSet
from eval_pipeline.scoring.thresholds import set_metrics
from eval_pipeline_tests.integration.evaluators.judge.test_length_control import executor, server  # noqa: F401  (module-scoped server fixture)
from eval_pipeline_tests.support.judge import samples_frame

DIMS = [{"name": "helpful", "scale": [1, 5], "threshold": 3}]
QUALITY = ["claude-quality-judge", "gpt-quality-judge"]


def frame(n=30, seed=0):
    rng = np.random.default_rng(seed)
    return samples_frame(
        [{"response_text": f"[q={q:.2f}] answer {i}"} for i, q in enumerate(rng.uniform(0, 1, n))]
    )


def expected_quality_score(text):
    q = float(text.split("]")[0].removeprefix("[q="))
    return int(np.floor(1 + q * 4 + 0.5))


def test_panel_with_contrarian_low_agreement_disagreements_queued(server, tmp_path):  # noqa: F811
    cfg = J.JudgeConfig(models=[*QUALITY, "gemini-contrarian-judge"], repeats=1, dimensions=DIMS)
    samples = frame()
    rows, _ = J.score(samples, cfg, executor(server, tmp_path))
    helpful = rows[rows.metric == "helpful"].set_index("sample_id")["value"]
    truth = samples.set_index("sample_id")["response_text"].map(expected_quality_score)
    assert np.allclose(helpful, (2 * truth + (6 - truth)) / 3)  # mean of two quality judges and the mirror
    m = set_metrics(
        rows, EvalSet(name="faq", family="judge", task="t", source="x.jsonl", judge=cfg.model_dump())
    )
    a = m["helpful.panel_alpha"]
    assert a["value"] < 0.3 and a["n"] == 30 and a["ci_low"] <= a["value"] <= a["ci_high"]
    dis = rows[rows.metric == DISAGREEMENT_METRIC]
    assert len(dis) == 30 and (dis["value"] > 0).sum() >= 15
    assert m["panel_disagreements"]["value"] == int((dis["value"] > 0).sum())
    queue = select_for_review(samples, rows, cfg)
    flagged = queue[queue["reasons"].map(lambda rs: any(r.startswith("judges_disagree") for r in rs))]
    assert set(flagged["sample_id"]) == set(dis.loc[dis["value"] > 0, "sample_id"])
    assert "gemini-contrarian-judge=" in next(
        r for r in flagged["reasons"].iat[0] if r.startswith("judges_disagree")
    )


def test_panel_majority_and_agreeing_judges(server, tmp_path):  # noqa: F811
    samples = frame(20, seed=1)
    maj = J.JudgeConfig(
        models=[*QUALITY, "gemini-contrarian-judge"], aggregate="majority", repeats=1, dimensions=DIMS
    )
    rows, _ = J.score(samples, maj, executor(server, tmp_path))
    truth = samples.set_index("sample_id")["response_text"].map(expected_quality_score)
    assert (rows[rows.metric == "helpful"].set_index("sample_id")["value"] == truth).all()  # 2 of 3 win
    agree = J.JudgeConfig(models=[*QUALITY, "mistral-quality-judge"], repeats=1, dimensions=DIMS)
    rows2, _ = J.score(samples, agree, executor(server, tmp_path))
    m = set_metrics(
        rows2, EvalSet(name="faq", family="judge", task="t", source="x.jsonl", judge=agree.model_dump())
    )
    assert m["helpful.panel_alpha"]["value"] == pytest.approx(1.0) and m["panel_disagreements"]["value"] == 0
    assert (
        select_for_review(samples, rows2, agree)["reasons"]
        .map(lambda rs: any("judges_disagree" in r for r in rs))
        .sum()
        == 0
    )


def test_pairwise_panel_and_single_judge_default(server, tmp_path):  # noqa: F811
    rng = np.random.default_rng(2)
    samples = samples_frame(
        [
            {
                "response_text": f"[q={rng.uniform():.2f}] c{i}",
                "baseline_text": f"[q={rng.uniform():.2f}] b{i}",
            }
            for i in range(24)
        ],
        pairwise=True,
    )
    dims = [{"name": "overall"}]
    cfg = J.JudgeConfig(
        models=["claude-quality-judge", "gemini-contrarian-judge"],
        mode="pairwise",
        repeats=1,
        dimensions=dims,
    )
    rows, per = J.score(samples, cfg, executor(server, tmp_path))
    wins = rows[rows.metric == "pairwise_win"]["value"]
    assert set(wins) == {0.5}  # the mirror judge always picks the other answer: every mean is a draw
    agree = panel_agreement(
        {
            m: per[per["evaluator_hash"] == h]
            for m, h in ((m, J.evaluator_hash(cfg.single(m))) for m in cfg.judge_models)
        },
        cfg,
    )
    assert agree["pairwise_win"]["alpha"] < 0 and agree["pairwise_win"]["n"] == 24
    assert (rows[rows.metric == DISAGREEMENT_METRIC]["value"] == 1).all()
    single = J.JudgeConfig(model="claude-quality-judge", mode="pairwise", repeats=1, dimensions=dims)
    assert not single.is_panel and single.judge_models == ["claude-quality-judge"]
    r1, _ = J.score(samples, single, executor(server, tmp_path))
    assert DISAGREEMENT_METRIC not in set(r1.metric) and not r1.metric.str.startswith("vote.").any()
    with pytest.raises(ValueError):
        J.JudgeConfig(models=["only-one"], dimensions=dims)
