"""Pinned judge hashes and request keys: a refactor of the judge must not re-judge stored verdicts.

The values below were computed with ``evaluators/judge.py`` before it became a package. If one
changes, every stored judge response misses the cache and the run re-judges (and the recorded
demo stops replaying). Change them only together with a deliberate ``JUDGE_VERSION`` bump.
"""

from __future__ import annotations

from eval_pipeline.evaluators import judge as J
from eval_pipeline.project.hashing import request_key
from eval_pipeline_tests.support.judge import FakeExecutor, samples_frame

# The judge block of the faq_answer_quality eval set in data/suites/customer_support.yaml.
SEED_JUDGE = {
    "model": "claude-sonnet-4-5",
    "mode": "pointwise",
    "repeats": 3,
    "use_reference": True,
    "dimensions": [
        {
            "name": "accuracy",
            "description": "Facts agree with the reference answer; nothing invented.",
            "scale": [1, 5],
            "threshold": 3.5,
        },
        {
            "name": "helpfulness",
            "description": "Answers the question directly and completely.",
            "scale": [1, 5],
            "threshold": 3.5,
        },
        {
            "name": "tone",
            "description": "Plain, calm, respectful language.",
            "scale": [1, 5],
            "threshold": 3.5,
        },
    ],
    "min_calibration": {"agreement_within_one": 0.8, "spearman": 0.85},
}
PAIR_JUDGE = {**SEED_JUDGE, "mode": "pairwise", "repeats": 1, "temperature": 0.5}


def _responder(req):
    if "winner" in req.tools[0]["input_schema"]["properties"]:
        return {"tool_input": {"reasoning": "r", "winner": "A"}}
    return {"tool_input": {"reasoning": "ok", "accuracy": 4, "helpfulness": 4, "tone": 4}}


def test_pointwise_evaluator_hash_and_request_keys_are_pinned():
    config = J.validate_judge_config(SEED_JUDGE)
    assert J.evaluator_hash(config) == "f065857084ede96b"
    ex = FakeExecutor(_responder)
    rows, _ = J.score(samples_frame([{"response_text": "Wash your hands.", "repeat": 1}]), config, ex)
    assert set(rows.evaluator_hash) == {"f065857084ede96b"}
    assert [r.epoch for r in ex.requests] == ["judge:f065857084ede96b:sr1:a0"] * 3
    assert [r.repeat for r in ex.requests] == [0, 1, 2]
    # the stored-response key covers the rendered prompt, tool and params, not only the epoch
    assert (
        request_key("anthropic", ex.requests[0])
        == "d9fbeab41bfc064f7350713b737210188931f18f8f7cc6574d25f47da9a847f7"
    )


def test_pairwise_evaluator_hash_and_request_keys_are_pinned():
    config = J.validate_judge_config(PAIR_JUDGE)
    assert J.evaluator_hash(config) == "5594de0ed6eb8d92"
    ex = FakeExecutor(_responder)
    J.score(samples_frame([{"response_text": "Wash your hands."}], pairwise=True), config, ex)
    assert [r.epoch for r in ex.requests] == [
        "judge:5594de0ed6eb8d92:sr0:AB:a0",
        "judge:5594de0ed6eb8d92:sr0:BA:a0",
    ]
    assert [request_key("anthropic", r) for r in ex.requests] == [
        "293e1363e75baa160339cac9f617f10f9bdb7abf5c34db8ef79188dd3b55e714",
        "d156eca0efb8e0a41bf5fb035c17a1907e18f493b450eed494310beb8b6c1d4e",
    ]


def test_judge_call_key_is_the_epoch_without_the_attempt():
    assert J.judge_call_key("abc", 2) == "judge:abc:sr2"
    assert J.judge_call_key("abc", 0, "BA") == "judge:abc:sr0:BA"
