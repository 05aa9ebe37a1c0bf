"""The bedrock, http and python providers against their loopback targets (real boto3, real aiohttp,
a real Python function): answers, tool calls with refused names mapped back, usage and cost, the
provider's retry signals, clear errors, secrets never shown, store keys per endpoint."""

from __future__ import annotations

import threading
import time

import pytest

from eval_pipeline.inference.bedrock_provider import BedrockProvider
from eval_pipeline.inference.http_provider import HttpProvider
from eval_pipeline.inference.limits import RetryPolicy
from eval_pipeline.inference.python_provider import PythonProvider
from eval_pipeline.inference.runner import run_requests
from eval_pipeline.inference.store import ResponseStore
from eval_pipeline.inference.targets import build_provider, key_name
from eval_pipeline.inference.types import ModelRequest
from eval_pipeline.project.endpoints import BedrockEndpoint, HttpEndpoint, PythonEndpoint
from eval_pipeline_tests.support.servers.anthropic_server import ServerConfig
from eval_pipeline_tests.support.servers.bedrock_server import BedrockTestServer
from eval_pipeline_tests.support.servers.fixtures import module_server
from eval_pipeline_tests.support.servers.http_app import ENDPOINT, SupportApp
from eval_pipeline_tests.support.tools import ORDER_LOOKUP

AWS_KEY_ID = "AKIATESTPROVIDERS"
APP_TOKEN = "app-token-SECRET-123"
MODEL = "us.meta.llama3-1-8b-instruct-v1:0"
PRICES = {MODEL: {"input": 0.2, "output": 0.4}, "support-app": {"input": 0.0, "output": 0.0}}
FAST = RetryPolicy(initial_backoff_s=0.01)


def _req(sid, text, model=MODEL, **kw):
    return ModelRequest(sid, model, [{"role": "user", "content": text}], params={"max_tokens": 40}, **kw)


bedrock = module_server("bedrock", BedrockTestServer, api_key=AWS_KEY_ID)


app = module_server("app", SupportApp, api_key=APP_TOKEN)


@pytest.fixture
def aws(monkeypatch):
    for k, v in {
        "AWS_ACCESS_KEY_ID": AWS_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": "secret",
        "AWS_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


def _reset(srv, **cfg):
    srv.config = ServerConfig(
        api_key=srv.config.api_key,
        latency_s=0.02,
        answer_key={"card": "card_arrival"},
        retry_after_s=0.3,
        **cfg,
    )
    srv.reset_stats()


@pytest.mark.parametrize("stream", [True, False])
def test_bedrock_converse_text_tools_usage_and_ttft(bedrock, aws, stream):
    _reset(bedrock)
    p = BedrockProvider(
        endpoint_url=bedrock.base_url, region="us-east-1", stream=stream, prices=PRICES, retry=FAST
    )
    text, tool = run_requests(
        p,
        [
            _req("a", "my card is late. Labels: card_arrival, lost", system="Route it."),
            _req(
                "b",
                "where is order 5?",
                tools=[ORDER_LOOKUP],
                tool_choice={"type": "tool", "name": "orders.lookup"},
            ),
        ],
    )
    assert text.text == "card_arrival" and text.stop_reason == "end_turn" and text.error_category is None
    assert (
        text.cost_usd == pytest.approx((text.input_tokens * 0.2 + text.output_tokens * 0.4) / 1e6)
        and text.cost_usd > 0
    )
    assert (text.ttft_s is not None and text.ttft_s <= text.latency_s) if stream else text.ttft_s is None
    assert tool.stop_reason == "tool_use" and tool.tool_calls[0]["name"] == "orders.lookup"
    assert tool.tool_input == tool.tool_calls[0]["arguments"] and 1 <= tool.tool_input["order_id"] <= 9


def test_bedrock_retries_throttling_and_reports_auth_clearly(bedrock, aws, monkeypatch):
    _reset(bedrock)
    bedrock.config.fault_script = ["rate_limit", "overloaded", "server_error"]
    p = BedrockProvider(endpoint_url=bedrock.base_url, region="us-east-1", prices=PRICES, retry=FAST)
    t0 = time.perf_counter()
    (r,) = run_requests(p, [_req("a", "my card")])
    assert (
        r.error_category is None and r.attempts == 4 and time.perf_counter() - t0 >= 0.3
    )  # Retry-After honoured
    assert bedrock.stats()["by_status"] == {"429": 1, "503": 1, "500": 1, "200": 1}
    for stream in (True, False):  # an exception event mid-stream / a broken body: retried
        bedrock.config.fault_script = ["malformed"]
        p = BedrockProvider(endpoint_url=bedrock.base_url, region="us-east-1", stream=stream, retry=FAST)
        (r,) = run_requests(p, [_req(f"m{stream}", "my card")])
        assert r.error_category is None and r.attempts == 2 and r.text
    bedrock.config.fault_script = ["rate_limit"] * 2
    (r,) = run_requests(
        BedrockProvider(endpoint_url=bedrock.base_url, region="us-east-1", retry=RetryPolicy(max_attempts=2)),
        [_req("b", "x")],
    )
    assert r.error_category == "rate_limited" and "ThrottlingException" in r.error_message
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAWRONG")
    (r,) = run_requests(BedrockProvider(endpoint_url=bedrock.base_url, region="us-east-1"), [_req("c", "x")])
    assert (
        r.error_category == "api_error" and r.attempts == 1 and "AWS authentication failed" in r.error_message
    )


def test_bedrock_key_carries_region_and_endpoint(bedrock, aws, tmp_path):
    _reset(bedrock)
    ep = BedrockEndpoint(endpoint_url=bedrock.base_url, region="us-east-1")
    assert key_name(ep) == f"bedrock:us-east-1:{bedrock.base_url}"
    assert key_name(BedrockEndpoint(region="eu-west-1")) == "bedrock:eu-west-1:aws"
    store = ResponseStore(tmp_path / "s")
    reqs = [_req(f"s{i}", f"card {i}") for i in range(4)]
    run_requests(build_provider(ep, PRICES), reqs, store)
    again = run_requests(build_provider(ep, PRICES), reqs, store)
    assert all(r.cached for r in again) and bedrock.stats()["total"] == 4


def _http(app, **over) -> HttpEndpoint:
    return HttpEndpoint(url=app.chat_url, **{**ENDPOINT, **over})


def test_http_app_template_paths_headers_from_env(app, monkeypatch):
    _reset(app)
    monkeypatch.setenv("SUPPORT_APP_TOKEN", APP_TOKEN)
    p = build_provider(_http(app), PRICES)
    assert APP_TOKEN not in repr(p) and APP_TOKEN not in p.name
    text, tool = run_requests(
        p,
        [
            _req("a", "my card is late. Labels: card_arrival, lost", model="support-app", system="Route it."),
            _req("b", "where is order 5?", model="support-app", tools=[ORDER_LOOKUP]),
        ],
    )
    assert (
        text.text == "card_arrival"
        and text.input_tokens > 0
        and text.output_tokens > 0
        and text.error_category is None
    )
    assert text.latency_s > 0 and text.ttft_s is None and len(text.request_id) == 32
    assert tool.tool_calls[0]["name"] == "orders.lookup" and tool.stop_reason == "tool_use"
    # the app got the system prompt and the canonical tool list through the template
    assert app.stats()["by_model"] == {"support-app": 2}


def test_http_errors_retries_and_the_token_is_never_shown(app, monkeypatch):
    _reset(app)
    monkeypatch.setenv("SUPPORT_APP_TOKEN", APP_TOKEN)
    app.config.fault_script = ["rate_limit", "overloaded", "malformed"]
    p = HttpProvider(_http(app), prices=PRICES, retry=FAST)
    t0 = time.perf_counter()
    (r,) = run_requests(p, [_req("a", "my card", model="support-app")])
    assert r.error_category is None and r.attempts == 4 and time.perf_counter() - t0 >= 0.3
    monkeypatch.setenv("SUPPORT_APP_TOKEN", "wrong-" + APP_TOKEN)
    (r,) = run_requests(HttpProvider(_http(app)), [_req("b", "x", model="support-app")])
    assert r.error_category == "api_error" and r.attempts == 1 and "authentication failed" in r.error_message
    assert APP_TOKEN not in r.error_message
    monkeypatch.delenv("SUPPORT_APP_TOKEN")
    with pytest.raises(ValueError, match="SUPPORT_APP_TOKEN is not set"):
        HttpProvider(_http(app))
    # a template that reads a variable that does not exist fails loudly, once (not retried)
    monkeypatch.setenv("SUPPORT_APP_TOKEN", APP_TOKEN)
    (r,) = run_requests(
        HttpProvider(_http(app, body={"q": "{{ sample_id }}"})), [_req("c", "x", model="support-app")]
    )
    assert r.error_category == "api_error" and r.attempts == 1 and "sample_id" in r.error_message


def test_http_template_is_sandboxed(app, monkeypatch):
    monkeypatch.setenv("SUPPORT_APP_TOKEN", APP_TOKEN)
    evil = "{{ messages.__class__.__mro__[1].__subclasses__() }}"
    (r,) = run_requests(HttpProvider(_http(app, body={"q": evil})), [_req("a", "x", model="support-app")])
    assert r.error_category == "api_error" and "unsafe" in r.error_message.lower()


def test_python_target_sync_and_async_bounded(monkeypatch):
    from eval_pipeline_tests.support import targets

    p = build_provider(PythonEndpoint(function="eval_pipeline_tests.support.targets:support_router"), PRICES)
    assert p.name == "python:eval_pipeline_tests.support.targets:support_router"
    msg = "Allowed intents: card_arrival, lost_or_stolen_card, exchange_rate\nMessage: someone stole my card\nIntent:"
    (r,) = run_requests(p, [_req("a", msg, model="support-app")])
    assert r.text == "lost_or_stolen_card" and r.input_tokens > 0 and r.error_category is None
    (t,) = run_requests(p, [_req("b", "order 5", model="support-app", tools=[ORDER_LOOKUP])])
    assert t.tool_calls[0]["name"] == "orders.lookup" and t.tool_input == {"order_id": 1}
    # bounded: never more than max_concurrency calls of the async target at once
    live, peak, lock = [0], [0], threading.Lock()

    async def probe(request):
        with lock:
            live[0] += 1
            peak[0] = max(peak[0], live[0])
        await __import__("asyncio").sleep(0.02)
        with lock:
            live[0] -= 1
        return "ok"

    out = run_requests(PythonProvider(probe, max_concurrency=3), [_req(f"p{i}", f"q{i}") for i in range(12)])
    assert all(r.text == "ok" for r in out) and peak[0] == 3
    monkeypatch.setattr(targets, "LATENCY_S", 0.0)


def test_python_target_errors_are_clear_and_not_retried():
    calls = []

    def broken(request):
        calls.append(1)
        raise KeyError("customer_id")

    (r,) = run_requests(PythonProvider(broken), [_req("a", "x")])
    assert r.error_category == "api_error" and r.attempts == 1 and len(calls) == 1
    assert "broken raised KeyError" in r.error_message
    (r,) = run_requests(PythonProvider(lambda req: 42), [_req("b", "x")])
    assert "returned int" in r.error_message and "return a str" in r.error_message
    with pytest.raises(ValueError, match="cannot import"):
        PythonProvider("no_such_package.mod:fn")
    with pytest.raises(ValueError, match="no callable 'nope'"):
        PythonProvider("eval_pipeline_tests.support.targets:nope")
