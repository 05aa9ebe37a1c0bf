"""LLM-as-judge: config validation, prompts, verdict tool, keys, pointwise and pairwise scoring."""

from __future__ import annotations

import re

import jsonschema
import pandas as pd
import pytest
from statsmodels.stats.proportion import proportion_confint

from eval_pipeline.evaluators import judge as J
from eval_pipeline.project.schemas import SCORE_COLUMNS
from eval_pipeline_tests.support.judge import FakeExecutor, samples_frame, user_text

RUBRIC = {
    "model": "claude-sonnet-4-5",
    "mode": "pointwise",
    "repeats": 3,
    "use_reference": True,
    "dimensions": [
        {
            "name": "accuracy",
            "description": "Factually correct vs the reference",
            "scale": [1, 5],
            "threshold": 3.5,
        },
        {"name": "helpfulness", "scale": [1, 5], "threshold": 3.5},
        {"name": "tone", "scale": [1, 5], "threshold": 4},
    ],
    "min_calibration": {"agreement_within_one": 0.8, "spearman": 0.85},
}


def cfg(**changes):
    data = {**RUBRIC, **changes}
    return J.validate_judge_config(data)


# ----------------------------------------------------------------------------- config
def test_config_loads_seed_shape():
    c = cfg()
    assert [d.name for d in c.dimensions] == ["accuracy", "helpfulness", "tone"]
    assert c.dimension("tone").threshold == 4 and c.dimension("tone").scale == (1, 5)
    assert c.min_calibration.required() == {"agreement_within_one": 0.8, "spearman": 0.85}


@pytest.mark.parametrize(
    "change, path_fragment",
    [
        ({"dimensions": [{"name": "accuracy", "scale": [1, 5], "threshold": 7}]}, "judge.dimensions.0"),
        ({"dimensions": [{"name": "accuracy", "scale": [5, 1]}]}, "judge.dimensions.0"),
        ({"dimensions": [{"name": "a"}, {"name": "a"}]}, "judge.dimensions"),
        ({"dimensions": [{"name": "reasoning"}]}, "judge.dimensions.0.name"),
        ({"dimensions": [{"name": "has space"}]}, "judge.dimensions.0.name"),
        ({"dimensions": [{"name": "a", "treshold": 3}]}, "judge.dimensions.0.treshold"),
        ({"mode": "listwise"}, "judge.mode"),
        ({"repeats": 0}, "judge.repeats"),
        ({"min_calibration": {"spearman": 1.5}}, "judge.min_calibration.spearman"),
        ({"judge_model": "x"}, "judge.judge_model"),
    ],
)
def test_bad_config_names_key_path(change, path_fragment):
    with pytest.raises(ValueError) as exc:
        cfg(**change)
    assert path_fragment in str(exc.value)


# ----------------------------------------------------------------------------- prompt + tool
def test_verdict_tool_schema_enforces_scale():
    tool = J.verdict_tool(cfg())
    assert tool["name"] == "record_verdict"
    schema = tool["input_schema"]
    v = jsonschema.Draft202012Validator(schema)
    assert v.is_valid({"reasoning": "ok", "accuracy": 5, "helpfulness": 1, "tone": 3})
    assert not v.is_valid({"reasoning": "ok", "accuracy": 6, "helpfulness": 1, "tone": 3})
    assert not v.is_valid({"reasoning": "ok", "accuracy": 5, "helpfulness": 1})
    assert not v.is_valid({"reasoning": "ok", "accuracy": "5", "helpfulness": 1, "tone": 3})
    assert not v.is_valid({"reasoning": "ok", "accuracy": 5, "helpfulness": 1, "tone": 3, "extra": 1})
    pair = J.verdict_tool(cfg(mode="pairwise"))["input_schema"]
    assert pair["properties"]["winner"]["enum"] == ["A", "B", "tie"]


def test_custom_prompt_renders_and_strict_undefined_fails_at_load(tmp_path):
    good = tmp_path / "judge.yaml"
    good.write_text(
        "system: Grade {{ dimensions | length }} dimensions.\nuser: 'Q: {{ input_text }} A: {{ response }} R: {{ reference }}'\n"
    )
    c = cfg(prompt="judge.yaml")
    tpl = J.load_prompt(c, base_dir=tmp_path)
    system, user = J.render_prompt(
        tpl, J._prompt_context(c, input_value="hi", expected="ref", response="resp")
    )
    assert system == "Grade 3 dimensions." and user == "Q: hi A: resp R: ref"

    bad = tmp_path / "bad.yaml"
    bad.write_text("system: s\nuser: '{{ respons }}'\n")
    with pytest.raises(ValueError, match=r"bad\.yaml: key 'user'.*respons"):
        J.load_prompt(cfg(prompt="bad.yaml"), base_dir=tmp_path)
    with pytest.raises(FileNotFoundError, match="judge.prompt"):
        J.load_prompt(cfg(prompt="missing.yaml"), base_dir=tmp_path)


def test_prompt_sandbox_blocks_attribute_escape(tmp_path):
    evil = tmp_path / "evil.yaml"
    evil.write_text("system: s\nuser: \"{{ ''.__class__.__mro__[1].__subclasses__() }}\"\n")
    with pytest.raises(ValueError) as exc:
        J.load_prompt(cfg(prompt="evil.yaml"), base_dir=tmp_path)
    assert "evil.yaml" in str(exc.value) and "unsafe" in str(exc.value).lower()


def test_reference_only_when_use_reference():
    with_ref = J.render_prompt(
        J.DEFAULT_POINTWISE, J._prompt_context(cfg(), input_value="q", expected="THE-REF", response="r")
    )[1]
    no_ref = J.render_prompt(
        J.DEFAULT_POINTWISE,
        J._prompt_context(cfg(use_reference=False), input_value="q", expected="THE-REF", response="r"),
    )[1]
    assert "THE-REF" in with_ref and "THE-REF" not in no_ref


def test_evaluator_hash_tracks_rubric_model_prompt_not_repeats():
    base = J.evaluator_hash(cfg())
    assert J.evaluator_hash(cfg()) == base
    assert J.evaluator_hash(cfg(repeats=5, max_attempts=5)) == base
    assert J.evaluator_hash(cfg(model="claude-haiku-4-5")) != base
    dims = [dict(d) for d in RUBRIC["dimensions"]]
    dims[2]["threshold"] = 3
    assert J.evaluator_hash(cfg(dimensions=dims)) != base
    dims[2]["description"] = "be polite"
    assert J.evaluator_hash(cfg(dimensions=dims)) != base
    other_prompt = J.PromptTemplate(system="x", user=J.DEFAULT_POINTWISE.user)
    assert J.evaluator_hash(cfg(), other_prompt) != base


# ----------------------------------------------------------------------------- pointwise
def scripted(scores_by_text):
    """Responder: the score for a request is looked up by a marker in the user message, per judge repeat."""

    def responder(req):
        text = user_text(req)
        for marker, per_repeat in scores_by_text.items():
            if marker in text:
                s = per_repeat[req.repeat % len(per_repeat)]
                return {
                    "tool_input": {
                        "reasoning": f"because {marker}",
                        "accuracy": s,
                        "helpfulness": s,
                        "tone": s,
                    }
                }
        raise AssertionError(f"unexpected prompt {text[:80]}")

    return responder


def test_pointwise_median_spread_and_threshold():
    samples = samples_frame(
        [
            {"response_text": "ANS-GOOD"},
            {"response_text": "ANS-SPLIT"},
            {"response_text": "ANS-BAD"},
        ]
    )
    ex = FakeExecutor(scripted({"ANS-GOOD": [5, 4, 5], "ANS-SPLIT": [2, 5, 4], "ANS-BAD": [1, 2, 1]}))
    rows, verdicts = J.score(samples, cfg(), ex)
    assert list(rows.columns) == SCORE_COLUMNS + [
        "judge_model",
        "rubric_hash",
    ]  # + the judge identity (history)
    assert set(rows.judge_model) == {cfg().model} and rows.rubric_hash.nunique() == 1
    assert len(ex.requests) == 9 and ex.batches == [9]

    def get(sid, m):
        return rows[(rows.sample_id == sid) & (rows.metric == m)].iloc[0]

    assert get("s0", "accuracy").value == 5 and bool(get("s0", "accuracy").passed)
    assert get("s1", "accuracy").value == 4 and get("s1", "accuracy_spread").value == 3
    assert bool(get("s1", "accuracy").passed) and bool(get("s1", "tone").passed)  # median 4 >= 4
    assert get("s2", "helpfulness").value == 1 and get("s2", "helpfulness").passed is False
    assert get("s1", "accuracy_spread").passed is None
    assert "because ANS-SPLIT" in get("s1", "accuracy").reason
    assert set(rows.family) == {"judge"} and rows.evaluator_hash.nunique() == 1
    assert rows.evaluator_hash.iat[0] == J.evaluator_hash(cfg())
    assert (rows[rows.metric == "judge_unparseable"].value == 0).all()
    assert rows.date.iat[0] == "2025-01-01" and rows.eval_set.iat[0] == "faq"
    # every request forces the tool and carries the hash in its key
    h = J.evaluator_hash(cfg())
    for r in ex.requests:
        assert r.tool_choice == {"type": "tool", "name": "record_verdict"}
        assert r.tools[0]["name"] == "record_verdict" and h in r.epoch
    assert sorted({r.repeat for r in ex.requests}) == [0, 1, 2]
    summary = J.summarize_pointwise(rows, cfg())
    acc = summary["dimensions"]["accuracy"]
    assert acc["n"] == 3 and acc["pass_rate"] == pytest.approx(2 / 3)
    lo, hi = proportion_confint(2, 3, method="wilson")
    assert acc["ci"] == (pytest.approx(lo), pytest.approx(hi))
    assert summary["all_pass_rate"] == pytest.approx(2 / 3)


def test_changing_rubric_changes_request_keys():
    samples = samples_frame([{"response_text": "ANS-GOOD"}])
    ex1 = FakeExecutor(scripted({"ANS-GOOD": [5]}))
    ex2 = FakeExecutor(scripted({"ANS-GOOD": [5]}))
    J.score(samples, cfg(repeats=1), ex1)
    dims = [dict(d) for d in RUBRIC["dimensions"]]
    dims[0]["threshold"] = 4.5
    rows2, _ = J.score(samples, cfg(repeats=1, dimensions=dims), ex2)
    assert ex1.requests[0].epoch != ex2.requests[0].epoch
    assert rows2.evaluator_hash.iat[0] == J.evaluator_hash(cfg(dimensions=dims))


def test_invalid_verdict_is_retried_with_new_key_then_unparseable():
    samples = samples_frame([{"response_text": "ANS-FLAKY"}, {"response_text": "ANS-BROKEN"}])

    def responder(req):
        text = user_text(req)
        if "ANS-FLAKY" in text and req.epoch.endswith(":a0"):
            return {
                "tool_input": {"reasoning": "x", "accuracy": 9, "helpfulness": 3, "tone": 3}
            }  # out of scale
        if "ANS-BROKEN" in text:
            return {
                "tool_input": None,
                "text": "I think 4/5",
                "stop_reason": "end_turn",
                "error_category": "malformed_tool_output",
            }
        return {"tool_input": {"reasoning": "fine", "accuracy": 4, "helpfulness": 4, "tone": 4}}

    ex = FakeExecutor(responder)
    rows, verdicts = J.score(samples, cfg(max_attempts=3), ex)
    flaky = verdicts[verdicts.sample_id == "s0"]
    assert (flaky.status == "ok").all() and (flaky.attempts == 2).all()
    broken = verdicts[verdicts.sample_id == "s1"]
    assert (broken.status == "judge_unparseable").all() and (broken.attempts == 3).all()
    assert "no record_verdict tool call" in broken.message.iat[0]
    # each retry used a fresh key
    keys = [(user_text(r), r.epoch, r.repeat) for r in ex.requests]
    assert len(keys) == len(set(keys)) == 15  # s0: 3 repeats x 2 attempts, s1: 3 x 3
    un = rows[(rows.sample_id == "s1") & (rows.metric == "judge_unparseable")].iloc[0]
    assert un.value == 3
    acc = rows[(rows.sample_id == "s1") & (rows.metric == "accuracy")].iloc[0]
    assert pd.isna(acc.value)  # null, not a fake score
    assert (
        acc.passed is False and "judge_unparseable=3" in acc.reason and "counted as a failure" in acc.reason
    )
    assert J.summarize_pointwise(rows, cfg())["judge_unparseable"] == 3


def test_refusal_and_infra_errors_are_counted_not_scored():
    samples = samples_frame(
        [
            {"response_text": "ANS-REFUSE"},
            {"response_text": "ANS-RATE"},
            {"response_text": None, "error_category": "timeout"},
            {"response_text": None, "error_category": "refusal"},
            {"response_text": "ANS-PARTIAL"},
        ]
    )

    def responder(req):
        text = user_text(req)
        if "ANS-REFUSE" in text:
            return {"stop_reason": "refusal", "error_category": "refusal", "text": "I can't help"}
        if "ANS-RATE" in text:
            return {"error_category": "rate_limited", "error_message": "429 after retries"}
        if "ANS-PARTIAL" in text and req.repeat == 1:
            return {"stop_reason": "refusal", "error_category": "refusal"}
        return {"tool_input": {"reasoning": "ok", "accuracy": 4, "helpfulness": 4, "tone": 5}}

    ex = FakeExecutor(responder)
    rows, verdicts = J.score(samples, cfg(), ex)

    def get(sid, m):
        return rows[(rows.sample_id == sid) & (rows.metric == m)].iloc[0]

    # refusal: not retried, counted
    assert len([r for r in ex.requests if "ANS-REFUSE" in user_text(r)]) == 3
    assert (
        get("s0", "judge_refusal").value == 3 and get("s0", "accuracy").passed is False
    )  # counted, a failure
    assert pd.isna(get("s0", "accuracy").infra_error)
    # judge infra error: infra, never a score
    assert get("s1", "accuracy").infra_error == "rate_limited" and get("s1", "accuracy").passed is None
    # response infra error: judge not called
    assert not any("question 2" in user_text(r) for r in ex.requests)
    assert get("s2", "accuracy").infra_error == "timeout" and get("s2", "accuracy").passed is None
    # model produced no text: worst score, failed
    assert get("s3", "accuracy").value == 1 and get("s3", "accuracy").passed is False
    # partial: median over the valid repeats, the refusal counted
    assert get("s4", "tone").value == 5 and get("s4", "judge_refusal").value == 1
    assert "2/3 judge repeats valid" in get("s4", "tone").reason
    s = J.summarize_pointwise(rows, cfg())
    assert s["judge_refusal"] == 4 and s["infra_errors"] == 2


# ----------------------------------------------------------------------------- pairwise
def pair_cfg(**kw):
    return cfg(mode="pairwise", **kw)


def winner_by_content(better_marker):
    """A position-robust judge: picks whichever answer slot holds ``better_marker``."""

    def responder(req):
        text = user_text(req)
        a = text.split("## Answer A")[1].split("## Answer B")[0]
        b = text.split("## Answer B")[1]
        if better_marker in a:
            return {"tool_input": {"reasoning": "A better", "winner": "A"}}
        if better_marker in b:
            return {"tool_input": {"reasoning": "B better", "winner": "B"}}
        return {"tool_input": {"reasoning": "same", "winner": "tie"}}

    return responder


def test_pairwise_both_orders_and_win_rate():
    samples = samples_frame(
        [
            {"response_text": "CAND-BETTER", "baseline_text": "base"},
            {"response_text": "cand", "baseline_text": "BASE-BETTER"},
            {"response_text": "cand", "baseline_text": "base"},
            {"response_text": "CAND-BETTER again", "baseline_text": "base"},
        ],
        pairwise=True,
    )

    def better(req):
        return winner_by_content("BETTER")(req)

    ex = FakeExecutor(better)
    rows, verdicts = J.score(samples, pair_cfg(repeats=1), ex)
    assert len(ex.requests) == 8
    orders = {r.epoch.rsplit(":", 2)[-2] for r in ex.requests}
    assert orders == {"AB", "BA"}
    win = rows[rows.metric == "pairwise_win"].set_index("sample_id").value
    assert win.to_dict() == {"s0": 1.0, "s1": 0.0, "s2": 0.5, "s3": 1.0}
    assert (rows[rows.metric == "position_consistency"].value == 1.0).all()
    s = J.summarize_pairwise(rows)
    assert (s["wins"], s["ties"], s["losses"]) == (2, 1, 1)
    assert s["win_rate"] == pytest.approx(2.5 / 4)
    lo, hi = proportion_confint(2.5, 4, method="wilson")
    assert s["win_rate_ci"] == (pytest.approx(lo), pytest.approx(hi))
    assert s["position_consistency"] == 1.0


def test_pairwise_position_bias_becomes_tie():
    samples = samples_frame([{"response_text": "CAND-BETTER"}, {"response_text": "x"}], pairwise=True)
    always_a = FakeExecutor(lambda req: {"tool_input": {"reasoning": "first is best", "winner": "A"}})
    rows, verdicts = J.score(samples, pair_cfg(repeats=3), always_a)
    assert (verdicts.outcome == "tie").all() and not verdicts.position_consistent.any()
    s = J.summarize_pairwise(rows)
    assert s["win_rate"] == 0.5 and s["ties"] == 2 and s["position_consistency"] == 0.0


def test_pairwise_unparseable_and_refusal_counted():
    samples = samples_frame(
        [{"response_text": "ANS-BROKEN"}, {"response_text": "ANS-REFUSE"}, {"response_text": "ok"}],
        pairwise=True,
    )

    def responder(req):
        text = user_text(req)
        if "ANS-BROKEN" in text:
            return {"tool_input": {"reasoning": "x", "winner": "C"}}
        if "ANS-REFUSE" in text:
            return {"stop_reason": "refusal", "error_category": "refusal"}
        return {"tool_input": {"reasoning": "x", "winner": "tie"}}

    ex = FakeExecutor(responder)
    rows, verdicts = J.score(samples, pair_cfg(repeats=2, max_attempts=2), ex)

    def get(sid, m):
        return rows[(rows.sample_id == sid) & (rows.metric == m)].iloc[0]

    assert get("s0", "judge_unparseable").value == 4  # 2 repeats x 2 orders
    assert pd.isna(get("s0", "pairwise_win").value)
    assert get("s1", "judge_refusal").value == 4
    assert get("s2", "pairwise_win").value == 0.5
    assert "winner" in verdicts[verdicts.sample_id == "s0"].message.iat[0]
    s = J.summarize_pairwise(rows)
    assert s["n"] == 1 and s["judge_unparseable"] == 4 and s["judge_refusal"] == 4


def test_mode_mismatch_and_missing_columns_are_clear():
    samples = samples_frame([{}])
    with pytest.raises(ValueError, match="pairwise"):
        J.judge_pointwise_verdicts(samples, pair_cfg(), FakeExecutor(lambda r: {}))
    with pytest.raises(ValueError, match=re.escape("missing column(s) ['baseline_text']")):
        J.judge_pairwise_verdicts(samples, pair_cfg(), FakeExecutor(lambda r: {}))


def test_pairwise_win_rate_interval_is_clustered_by_sample_with_repeats():
    """30 samples x 4 response repeats, each sample's repeats identical (win or loss): the evidence is 30
    samples, not 120 rows. The interval must be about as wide as a Wilson interval over 30 (before: Wilson
    over 120 rows, about half as wide, covering the true rate far less often than 95%)."""
    import numpy as np
    from statsmodels.stats.proportion import proportion_confint

    wins = np.repeat([1.0] * 18 + [0.0] * 12, 4)
    rows = pd.DataFrame(
        {
            "family": "judge",
            "metric": "pairwise_win",
            "value": wins,
            "eval_set": "e",
            "suite": "s",
            "sample_id": np.repeat([f"s{i}" for i in range(30)], 4),
            "repeat": np.tile(range(4), 30),
        }
    )
    s = J.summarize_pairwise(rows)
    lo, hi = s["win_rate_ci"]
    lo30, hi30 = proportion_confint(18, 30, method="wilson")
    lo120, hi120 = proportion_confint(72, 120, method="wilson")
    assert s["win_rate"] == 0.6 and "cluster" in s["interval_method"]
    assert (hi - lo) > 1.5 * (hi120 - lo120) and (hi - lo) == pytest.approx(hi30 - lo30, rel=0.2)
