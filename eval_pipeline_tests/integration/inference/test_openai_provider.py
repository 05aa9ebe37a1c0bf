"""The openai provider: the real ``openai`` SDK against the OpenAI-compatible loopback server.

Streaming with usage, tools in function format (a dotted tool name mapped both ways), retries after
429 honouring retry-after, 503 / 500 retried, 401 not retried with the key never shown, malformed
streams retried, store keys that carry the endpoint, the registry's endpoint validation.
"""

from __future__ import annotations

import time

import pytest

from eval_pipeline.inference.limits import RetryPolicy
from eval_pipeline.inference.openai_provider import OpenAIProvider
from eval_pipeline.inference.runner import run_requests
from eval_pipeline.inference.store import ResponseStore
from eval_pipeline.inference.targets import build_provider, key_name
from eval_pipeline.inference.types import ModelRequest
from eval_pipeline.project.endpoints import OpenAIEndpoint
from eval_pipeline_tests.support.servers.anthropic_server import ServerConfig
from eval_pipeline_tests.support.servers.fixtures import module_server
from eval_pipeline_tests.support.servers.openai_server import OpenAITestServer
from eval_pipeline_tests.support.tools import ORDER_LOOKUP

KEY = "sk-openai-test-SECRET"
MODEL = "gpt-4o-mini"
PRICES = {MODEL: {"input": 0.15, "output": 0.6}}


server = module_server("server", OpenAITestServer, api_key=KEY)


@pytest.fixture
def srv(server):
    server.config = ServerConfig(
        api_key=KEY, latency_s=0.02, answer_key={"card": "card_arrival"}, retry_after_s=0.3
    )
    server.reset_stats()
    return server


def _req(sid: str, text: str, **kw) -> ModelRequest:
    return ModelRequest(sid, MODEL, [{"role": "user", "content": text}], params={"max_tokens": 40}, **kw)


def _provider(srv, **kw) -> OpenAIProvider:
    kw.setdefault("retry", RetryPolicy(initial_backoff_s=0.01))
    return OpenAIProvider(KEY, base_url=srv.openai_base_url, prices=PRICES, **kw)


@pytest.mark.parametrize("stream", [True, False])
def test_text_and_tool_call_with_usage_cost_and_ttft(srv, stream):
    reqs = [
        _req("a", "my card is late. Labels: card_arrival, lost", system="Route it."),
        _req(
            "b",
            "where is order 5?",
            tools=[ORDER_LOOKUP],
            tool_choice={"type": "tool", "name": "orders.lookup"},
        ),
    ]
    text, tool = run_requests(_provider(srv, stream=stream), reqs)
    assert text.text == "card_arrival" and text.stop_reason == "end_turn" and text.error_category is None
    assert text.input_tokens > 0 and text.output_tokens > 0
    assert text.cost_usd == pytest.approx((text.input_tokens * 0.15 + text.output_tokens * 0.6) / 1e6)
    assert (text.ttft_s is not None and 0 < text.ttft_s <= text.latency_s) if stream else text.ttft_s is None
    assert text.request_id.startswith("req_")
    # the server saw a valid wire name; the answer names the tool as declared
    assert tool.stop_reason == "tool_use" and tool.error_category is None
    assert 1 <= tool.tool_input["order_id"] <= 9
    assert (
        tool.tool_calls[0]["name"] == "orders.lookup" and tool.tool_calls[0]["arguments"] == tool.tool_input
    )
    assert text.tool_calls is None


def test_conversation_with_tool_results_reaches_the_server_in_openai_form(srv):
    seen = []
    srv.responder = lambda body: seen.append(body) or "done"
    history = [
        {"role": "user", "content": "where is order 5?"},
        {
            "role": "assistant",
            "content": [
                {"type": "tool_use", "id": "call_1", "name": "orders.lookup", "input": {"order_id": 5}}
            ],
        },
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "call_1", "content": "shipped"}]},
    ]
    try:
        (r,) = run_requests(
            _provider(srv),
            [ModelRequest("c", MODEL, history, tools=[ORDER_LOOKUP], params={"max_tokens": 20})],
        )
    finally:
        srv.responder = None
    assert r.text == "done"
    # the server translated the OpenAI messages back: the tool call (wire name) and its result
    msgs = seen[0]["messages"]
    assert msgs[1]["content"][0]["type"] == "tool_use" and msgs[1]["content"][0]["name"] == "orders_lookup"
    assert msgs[2]["content"][0] == {"type": "tool_result", "tool_use_id": "call_1", "content": "shipped"}


def test_retries_honour_retry_after_and_errors_are_clear(srv):
    srv.config.fault_script = ["rate_limit", "overloaded", "server_error"]
    t0 = time.perf_counter()
    (r,) = run_requests(_provider(srv), [_req("a", "my card")])
    waited = time.perf_counter() - t0
    assert r.error_category is None and r.attempts == 4
    assert waited >= 0.3  # the 429's retry-after (0.3 s) was waited, not the 10 ms backoff
    assert srv.stats()["by_status"] == {"429": 1, "503": 1, "500": 1, "200": 1}
    srv.config.fault_script = ["malformed"]
    (r,) = run_requests(_provider(srv), [_req("b", "my card")])
    assert r.error_category is None and r.attempts == 2  # a broken stream chunk is retried
    (r,) = run_requests(OpenAIProvider("wrong-" + KEY, base_url=srv.openai_base_url), [_req("c", "my card")])
    assert r.error_category == "api_error" and r.attempts == 1 and "authentication failed" in r.error_message
    assert KEY not in r.error_message and KEY not in repr(OpenAIProvider(KEY))
    srv.config.fault_script = ["rate_limit"] * 3
    (r,) = run_requests(_provider(srv, retry=RetryPolicy(max_attempts=2)), [_req("d", "my card")])
    assert r.error_category == "rate_limited" and r.attempts == 2


def test_store_keys_carry_the_endpoint(srv, tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    ep = OpenAIEndpoint(base_url=srv.openai_base_url)
    other = OpenAIEndpoint(base_url=srv.openai_base_url + "/")  # the same endpoint, spelled differently
    assert key_name(ep) == key_name(other) == f"openai:{srv.openai_base_url}"
    assert key_name(OpenAIEndpoint()) == "openai:https://api.openai.com/v1"
    store = ResponseStore(tmp_path / "store")
    reqs = [_req(f"s{i}", f"my card {i}") for i in range(5)]
    first = run_requests(build_provider(ep, PRICES), reqs, store)
    assert srv.stats()["total"] == 5 and all(r.error_category is None for r in first)
    again = run_requests(build_provider(other, PRICES), reqs, store)
    assert srv.stats()["total"] == 5 and all(r.cached for r in again)  # nothing paid twice
    replay = run_requests(build_provider(ep, PRICES, replay=True), reqs, store)
    assert [r.text for r in replay] == [r.text for r in first]
    monkeypatch.delenv("OPENAI_API_KEY")
    with pytest.raises(ValueError, match="OPENAI_API_KEY"):
        build_provider(ep, PRICES)


def test_a_wrong_key_stops_the_step_after_a_few_rejections(srv):
    from eval_pipeline.inference.guard import EndpointRejected

    p = OpenAIProvider("wrong-" + KEY, base_url=srv.openai_base_url, max_concurrency=2)
    with pytest.raises(EndpointRejected) as e:
        run_requests(p, [_req(f"s{i}", f"q{i}") for i in range(20)])
    assert srv.openai_base_url in str(e.value) and "HTTP 401" in str(e.value) and KEY not in str(e.value)
    assert srv.stats()["total"] < 20  # nothing more was sent once the guard tripped
