"""What a live provider makes of an answer (``inference/live.py``: ``LiveProvider.response`` of a
``WireAnswer``; ``inference/providers.py``: ``error_response``): token counts in ``TOKEN_FIELDS`` order
priced by the table, tool calls checked, model-side outcomes, and a failure that records no answer."""

from __future__ import annotations

import pytest

from eval_pipeline.inference.live import LiveProvider, WireAnswer
from eval_pipeline.inference.providers import TOKEN_FIELDS, error_response
from eval_pipeline.inference.types import ModelRequest
from eval_pipeline.inference.wire import BEDROCK_STOP, OPENAI_STOP, anthropic_stop

PRICES = {"m": {"input": 1.0, "output": 10.0, "cache_read": 0.5, "cache_write": 2.0}}  # USD per million
TOOL = {"name": "route", "input_schema": {"type": "object", "required": ["label"]}}


def _request(**kw) -> ModelRequest:
    return ModelRequest(
        sample_id="s1", model="m", messages=[{"role": "user", "content": "q"}], repeat=2, **kw
    )


def test_the_token_counts_land_in_their_fields_and_are_priced_each_at_its_rate():
    answer = WireAnswer("hi", None, "end_turn", (1_000, 2_000, 3_000, 4_000), "req-1", ttft=0.1)
    resp = LiveProvider(prices=PRICES).response(_request(), "key", answer, 1.1)
    assert [getattr(resp, f) for f in TOKEN_FIELDS] == [1_000, 2_000, 3_000, 4_000]
    assert resp.cost_usd == pytest.approx((1_000 * 1.0 + 2_000 * 10.0 + 3_000 * 0.5 + 4_000 * 2.0) / 1e6)
    assert (resp.sample_id, resp.repeat, resp.model, resp.cache_key) == ("s1", 2, "m", "key")
    assert (resp.text, resp.request_id, resp.latency_s, resp.ttft_s) == ("hi", "req-1", 1.1, 0.1)
    assert resp.output_tokens_per_s == pytest.approx(2_000 / 1.0)  # generation time: latency - TTFT
    assert resp.error_category is None and not resp.cached
    batch = LiveProvider(prices=PRICES).response(_request(), "key", answer, None, batch=True)
    assert batch.cost_usd == pytest.approx(resp.cost_usd / 2) and batch.output_tokens_per_s is None


def test_tool_calls_are_checked_against_the_request_tools():
    ok = {"id": "c1", "name": "route", "arguments": {"label": "billing"}}
    resp = LiveProvider().response(_request(tools=[TOOL]), "k", WireAnswer(None, [ok], "tool_use"), 0.2)
    assert resp.tool_input == {"label": "billing"} and resp.tool_calls == [ok]
    assert resp.error_category is None
    bad = {"id": "c1", "name": "route", "arguments": {}}
    resp = LiveProvider().response(_request(tools=[TOOL]), "k", WireAnswer(None, [bad], "tool_use"), 0.2)
    assert resp.error_category == "malformed_tool_output" and "label" in resp.error_message


@pytest.mark.parametrize(
    ("text", "stop", "category"),
    [("", "end_turn", "empty"), ("cut", "max_tokens", "max_tokens"), ("no", "refusal", "refusal")],
)
def test_model_side_outcomes(text, stop, category):
    resp = LiveProvider().response(_request(), "k", WireAnswer(text, [], stop), 0.3)
    assert resp.error_category == category and resp.text == (text or None) and resp.tool_calls is None


def test_a_failure_records_no_answer_and_the_request_identity():
    resp = error_response(_request(), "k", "rate_limited", "429", attempts=3, request_id="r", latency_s=2.0)
    assert (resp.sample_id, resp.repeat, resp.model, resp.cache_key) == ("s1", 2, "m", "k")
    assert (resp.error_category, resp.error_message, resp.attempts, resp.request_id) == (
        "rate_limited",
        "429",
        3,
        "r",
    )
    assert resp.latency_s == 2.0 and resp.is_infra_error
    assert resp.text is None and resp.stop_reason is None and resp.ttft_s is None and resp.cost_usd == 0.0
    assert all(getattr(resp, f) == 0 for f in TOKEN_FIELDS) and not resp.cached


def test_vendor_stop_reasons_in_the_messages_vocabulary():
    assert anthropic_stop(OPENAI_STOP, "length") == "max_tokens"
    assert anthropic_stop(BEDROCK_STOP, "guardrail_intervened") == "refusal"
    assert anthropic_stop(OPENAI_STOP, "something_new") == "something_new"  # unknown: as it is
    assert anthropic_stop(OPENAI_STOP, None) is None
