"""The judge path end to end: real SDK provider + response store against the Anthropic-compatible test server.

Covers tool-use verdicts, malformed tool output (retried under a new key, then
``judge_unparseable``), refusals (``judge_refusal``, not retried), store reuse on rerun, and
re-judging when the rubric changes.
"""

from __future__ import annotations

import pandas as pd
import pytest

from eval_pipeline.evaluators import calibration as C
from eval_pipeline.evaluators import judge as J
from eval_pipeline.inference.store import ResponseStore
from eval_pipeline_tests.support.judge import samples_frame, server_executor
from eval_pipeline_tests.support.servers.anthropic_server import AnthropicTestServer, ServerConfig, user_text

CFG = J.JudgeConfig(
    model="claude-sonnet-4-5",
    repeats=2,
    max_attempts=3,
    dimensions=[
        {"name": "accuracy", "scale": [1, 5], "threshold": 3.5},
        {"name": "tone", "scale": [1, 5], "threshold": 4},
    ],
)


def judge_hook(body):
    """The server-side judge: scores by a marker in the answer; pairwise picks the GOOD answer's slot."""
    text = user_text(body)
    props = body["tools"][0]["input_schema"]["properties"]
    if "winner" in props:
        a = text.split("## Answer A\n", 1)[1].split("\n\n## Answer B\n", 1)[0]
        return {"reasoning": "content-based", "winner": "A" if "GOOD" in a else "B"}
    score = 5 if "GOOD" in text else 2
    return {
        "reasoning": f"server judge saw {'GOOD' if score == 5 else 'weak'}",
        "accuracy": score,
        "tone": score,
    }


@pytest.fixture()
def server():
    cfg = ServerConfig(
        fault_script_by_match={
            "ANS-MALFORMED-ONCE GOOD": ["malformed_tool"],  # first attempt broken, the retry is fine
            "ANS-MALFORMED-ALWAYS": ["malformed_tool"] * 50,
        },
        refuse_matching=["ANS-REFUSE"],
    )
    with AnthropicTestServer(cfg, judge_hook=judge_hook) as srv:
        yield srv


def test_pointwise_judge_against_test_server(server, tmp_path):
    store = ResponseStore(tmp_path / "store")
    execute = server_executor(server, store)
    samples = samples_frame(
        [
            {"response_text": "ANS-GOOD"},
            {"response_text": "ANS-weak"},
            {"response_text": "ANS-MALFORMED-ONCE GOOD"},
            {"response_text": "ANS-MALFORMED-ALWAYS"},
            {"response_text": "ANS-REFUSE"},
        ]
    )
    rows, verdicts = J.score(samples, CFG, execute)

    def get(sid, m):
        return rows[(rows.sample_id == sid) & (rows.metric == m)].iloc[0]

    assert get("s0", "accuracy").value == 5 and bool(get("s0", "accuracy").passed)
    assert "server judge saw GOOD" in get("s0", "accuracy").reason
    assert get("s1", "tone").value == 2 and not bool(get("s1", "tone").passed)

    # malformed once: the first attempt of the first repeat is retried under a new key and succeeds
    once = verdicts[verdicts.sample_id == "s2"].sort_values("judge_repeat")
    assert (once.status == "ok").all() and once.attempts.tolist() == [2, 1]
    assert get("s2", "accuracy").value == 5 and get("s2", "judge_unparseable").value == 0

    # malformed always: max_attempts tries per repeat, then judge_unparseable, never a score
    always = verdicts[verdicts.sample_id == "s3"]
    assert (always.status == "judge_unparseable").all() and (always.attempts == 3).all()
    assert "input_schema" in always.message.iat[0] or "invalid verdict" in always.message.iat[0]
    assert get("s3", "judge_unparseable").value == 2 and pd.isna(get("s3", "accuracy").value)
    assert get("s3", "accuracy").passed is False  # no verdict at all: counted as a failure, not dropped

    # refusal: counted, not retried
    refused = verdicts[verdicts.sample_id == "s4"]
    assert (refused.status == "judge_refusal").all() and (refused.attempts == 1).all()
    assert (
        get("s4", "judge_refusal").value == 2 and get("s4", "accuracy").passed is False
    )  # counted as a failure

    calls = server.stats()["total"]
    assert calls == 2 + 2 + 3 + 6 + 2  # s0, s1, s2 (one retry), s3 (3 attempts x 2), s4
    summary = J.summarize_pointwise(rows, CFG)
    assert summary["judge_unparseable"] == 2 and summary["judge_refusal"] == 2

    # rerun: everything comes from the store, same verdicts, no new server calls
    rows2, verdicts2 = J.score(samples, CFG, execute)
    assert server.stats()["total"] == calls
    pd.testing.assert_frame_equal(rows.reset_index(drop=True), rows2.reset_index(drop=True))

    # a rubric change re-judges (new keys): every valid or refused verdict is asked again
    changed = CFG.model_copy(
        update={"dimensions": [CFG.dimensions[0], J.JudgeDimension(name="tone", threshold=3)]}
    )
    rows3, _ = J.score(samples.iloc[:1], changed, execute)
    assert server.stats()["total"] == calls + 2
    assert rows3.evaluator_hash.iat[0] != rows.evaluator_hash.iat[0]
    assert bool(rows3[rows3.metric == "tone"].passed.iat[0])


def test_pairwise_judge_against_test_server(server, tmp_path):
    execute = server_executor(server, ResponseStore(tmp_path / "store"))
    cfg = CFG.model_copy(update={"mode": "pairwise", "repeats": 1})
    samples = samples_frame(
        [
            {"response_text": "candidate GOOD", "baseline_text": "baseline"},
            {"response_text": "candidate", "baseline_text": "baseline GOOD"},
            {"response_text": "candidate ANS-REFUSE", "baseline_text": "baseline"},
        ],
        pairwise=True,
    )
    rows, verdicts = J.score(samples, cfg, execute)
    win = rows[rows.metric == "pairwise_win"].set_index("sample_id").value
    assert win["s0"] == 1.0 and win["s1"] == 0.0 and pd.isna(win["s2"])
    assert rows[(rows.sample_id == "s2") & (rows.metric == "judge_refusal")].value.iat[0] == 2
    assert server.stats()["total"] == 6  # 3 samples x 2 orders
    s = J.summarize_pairwise(rows)
    assert s["n"] == 2 and s["win_rate"] == 0.5 and s["position_consistency"] == 1.0


def test_calibration_run_against_test_server(server, tmp_path):
    """Calibration goes through the same provider path; the synthetic judge is not calibrated -> gate fails."""
    execute = server_executor(server, ResponseStore(tmp_path / "store"))
    res = C.run_calibration(execute, CFG.model_copy(update={"repeats": 1}), ["llmbar_pairwise"], n=6)
    m = res.metrics["llmbar_pairwise"]
    assert m["n"] == 6 and 0.0 <= m["position_consistency"] <= 1.0
    assert server.stats()["total"] == 12
    ok, reasons = C.calibration_gate(res.metrics, {"pairwise_accuracy": 0.99, "position_consistency": 0.99})
    assert ok is (m["pairwise_accuracy"] >= 0.99 and m["position_consistency"] >= 0.99)
