"""AnthropicProvider + runner against the Anthropic-compatible test server, through the real SDK."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from eval_pipeline.inference import (
    AnthropicProvider,
    ErrorRateExceeded,
    ModelRequest,
    ResponseStore,
    RetryPolicy,
    RunTiming,
    check_error_rate,
    run_requests,
    summarize,
)
from eval_pipeline_tests.support.servers.anthropic_server import AnthropicTestServer, ServerConfig
from eval_pipeline_tests.support.servers.fixtures import module_server

KEY = "test-key-inference"
PRICES = {
    "claude-good": {"input": 1.0, "output": 5.0, "cache_read": 0.1, "cache_write": 1.25},
    "claude-degraded": {"input": 1.0, "output": 5.0},
}
FAST_RETRY = RetryPolicy(max_attempts=4, initial_backoff_s=0.01, max_backoff_s=0.05)
VERDICT_TOOL = {
    "name": "record_verdict",
    "description": "Record the verdict",
    "input_schema": {
        "type": "object",
        "properties": {
            "score": {"type": "integer", "minimum": 1, "maximum": 5},
            "verdict": {"enum": ["pass", "fail"]},
            "reasoning": {"type": "string"},
        },
        "required": ["score", "verdict", "reasoning"],
    },
}


server = module_server("server", AnthropicTestServer, api_key=KEY, latency_s=0.01)


@pytest.fixture
def srv(server):
    """The shared server with a fresh config and zeroed counters."""
    server.config = ServerConfig(api_key=KEY, latency_s=0.01, retry_after_s=0.05)
    server.responder = None
    server.judge_hook = None
    server.reset_stats()
    return server


def provider(srv, **kw):
    kw.setdefault("retry", FAST_RETRY)
    kw.setdefault("max_concurrency", 8)
    kw.setdefault("prices", PRICES)
    return AnthropicProvider(kw.pop("api_key", KEY), base_url=srv.base_url, **kw)


def requests(n, model="claude-good", prefix="question", **kw):
    return [
        ModelRequest(
            sample_id=f"s{i:03d}",
            model=model,
            messages=[{"role": "user", "content": f"{prefix} {i}."}],
            params={"max_tokens": 64},
            **kw,
        )
        for i in range(n)
    ]


FAULT_CATEGORY = {
    "rate_limit": "rate_limited",
    "overloaded": "overloaded",
    "server_error": "api_error",
    "drop": "connection",
    "malformed": "api_error",
    "slow": "timeout",
}


@pytest.mark.parametrize("stream", [True, False])
@pytest.mark.parametrize("fault", sorted(FAULT_CATEGORY))
def test_each_fault_is_retried_and_recovers(srv, fault, stream):
    srv.config.fault_script_by_match = {"question 1.": [fault]}
    # the slow answer (3 s) must time out; a normal one (10 ms) must not, even on a busy CI machine (a 0.4 s
    # timeout once turned a scheduler pause on the retry into a third attempt)
    srv.config.slow_s = 3.0
    p = provider(srv, stream=stream, request_timeout_s=1.0)
    out = run_requests(p, requests(3), None)
    assert [r.sample_id for r in out] == ["s000", "s001", "s002"]
    assert all(r.error_category is None and r.text for r in out), [r.error_message for r in out]
    assert out[1].attempts == 2 and out[0].attempts == 1
    assert srv.by_fault[fault] == 1
    assert srv.total == 4


@pytest.mark.parametrize("fault", sorted(FAULT_CATEGORY))
def test_persistent_fault_is_categorized_and_run_continues(srv, fault):
    srv.config.fault_script_by_match = {"question 2.": [fault] * 10}
    srv.config.slow_s = (
        3.0  # times out; the healthy requests (10 ms) have a second of margin on a busy machine
    )
    p = provider(srv, retry=RetryPolicy(max_attempts=2, initial_backoff_s=0.01), request_timeout_s=1.0)
    out = run_requests(p, requests(4), None)
    bad = out[2]
    assert bad.error_category == FAULT_CATEGORY[fault]
    assert bad.is_infra_error and bad.attempts == 2 and bad.text is None
    assert all(r.error_category is None for i, r in enumerate(out) if i != 2)


def test_rate_limit_honors_retry_after_ms(srv):
    srv.config.retry_after_s = 0.3
    srv.config.fault_script_by_match = {"question 0.": ["rate_limit"]}
    p = provider(srv)
    t0 = time.perf_counter()
    out = run_requests(p, requests(1), None)
    assert out[0].error_category is None and out[0].attempts == 2
    assert time.perf_counter() - t0 >= 0.3


def test_auth_error_not_retried_and_key_not_in_message(srv):
    p = provider(srv, api_key="wrong-key-abc123")
    out = run_requests(p, requests(2), None)
    assert all(r.error_category == "api_error" and r.attempts == 1 for r in out)
    assert "401" in out[0].error_message and "wrong-key-abc123" not in out[0].error_message
    assert srv.by_status["401"] == 2


def test_second_run_makes_zero_requests(srv, tmp_path):
    reqs = requests(20)
    first = run_requests(provider(srv), reqs, ResponseStore(tmp_path / "store"))
    assert srv.total == 20 and not any(r.cached for r in first)
    srv.reset_stats()
    second = run_requests(provider(srv), reqs, ResponseStore(tmp_path / "store"))
    assert srv.total == 0
    assert all(r.cached for r in second)
    assert [r.text for r in second] == [r.text for r in first]
    assert sum(r.cost_usd for r in first) > 0
    assert sum(r.cost_usd for r in second) == pytest.approx(sum(r.cost_usd for r in first))
    s = summarize(second)
    assert (
        s["cache_hits"] == 20 and s["api_calls"] == 0 and s["cost_usd_cached"] == pytest.approx(s["cost_usd"])
    )


def test_repeats_get_distinct_keys_and_answers(srv, tmp_path):
    reqs = [
        ModelRequest(
            sample_id="s",
            model="claude-good",
            messages=[{"role": "user", "content": "tell me a story"}],
            params={"max_tokens": 64, "temperature": 1.0},
            repeat=k,
        )
        for k in range(3)
    ]
    out = run_requests(provider(srv), reqs, ResponseStore(tmp_path))
    assert all(r.error_category is None for r in out), out[0].error_message
    assert len({r.cache_key for r in out}) == 3
    assert len({r.text for r in out}) == 3
    srv.reset_stats()
    again = run_requests(provider(srv), reqs, ResponseStore(tmp_path))
    assert srv.total == 0 and [r.text for r in again] == [r.text for r in out]


def test_infra_errors_are_not_stored_and_rerun_retries_them(srv, tmp_path):
    srv.config.fault_script_by_match = {"question 3.": ["overloaded"] * 2}
    p = provider(srv, retry=RetryPolicy(max_attempts=2, initial_backoff_s=0.01))
    out = run_requests(p, requests(5), ResponseStore(tmp_path))
    assert out[3].error_category == "overloaded"
    srv.config.fault_script_by_match = {}  # the outage is over
    srv.reset_stats()
    again = run_requests(provider(srv), requests(5), ResponseStore(tmp_path))
    assert srv.total == 1 and srv.by_user_text == {"question 3.": 1}
    assert again[3].error_category is None and not again[3].cached
    assert all(r.cached for i, r in enumerate(again) if i != 3)


def test_ordering_with_mixed_hits_and_misses(srv, tmp_path):
    store = ResponseStore(tmp_path)
    reqs = requests(10)
    run_requests(provider(srv), reqs[::2], store)
    out = run_requests(provider(srv), reqs, store)
    assert [r.sample_id for r in out] == [r.sample_id for r in reqs]
    assert [r.cached for r in out] == [i % 2 == 0 for i in range(10)]


def test_streaming_measures_ttft(srv):
    srv.config.latency_s = 0.2
    srv.config.ttft_fraction = 0.25
    out = run_requests(
        provider(srv, stream=True), requests(3, prefix="a long enough question to answer"), None
    )
    for r in out:
        assert 0.04 <= r.ttft_s < 0.15, r.ttft_s
        assert r.latency_s >= 0.19 and r.latency_s > r.ttft_s + 0.1
        assert r.output_tokens_per_s and r.output_tokens_per_s > 0
        assert r.request_id and r.request_id.startswith("req_")
    unary = run_requests(provider(srv, stream=False), requests(1), None)[0]
    assert unary.ttft_s is None and unary.latency_s >= 0.19


@pytest.mark.parametrize("stream", [True, False])
def test_tool_use_input_is_parsed(srv, stream):
    reqs = requests(
        3,
        prefix="judge this answer",
        tools=[VERDICT_TOOL],
        tool_choice={"type": "tool", "name": "record_verdict"},
    )
    out = run_requests(provider(srv, stream=stream), reqs, None)
    for r in out:
        assert r.error_category is None and r.stop_reason == "tool_use"
        assert set(r.tool_input) == {"score", "verdict", "reasoning"}
        assert 1 <= r.tool_input["score"] <= 5 and r.tool_input["verdict"] in ("pass", "fail")
    srv.judge_hook = lambda body: {"score": 5, "verdict": "pass", "reasoning": "hooked"}
    hooked = run_requests(provider(srv, stream=stream), reqs[:1], None)[0]
    assert hooked.tool_input == {"score": 5, "verdict": "pass", "reasoning": "hooked"}


def test_malformed_tool_output_is_a_stored_model_error(srv, tmp_path):
    srv.config.fault_script_by_match = {"judge this answer 1.": ["malformed_tool"]}
    reqs = requests(
        2,
        prefix="judge this answer",
        tools=[VERDICT_TOOL],
        tool_choice={"type": "tool", "name": "record_verdict"},
    )
    out = run_requests(provider(srv), reqs, ResponseStore(tmp_path))
    assert out[0].error_category is None
    assert out[1].error_category == "malformed_tool_output" and "input_schema" in out[1].error_message
    assert not out[1].is_infra_error
    srv.reset_stats()
    run_requests(provider(srv), reqs, ResponseStore(tmp_path))
    assert srv.total == 0  # a model answer, even a malformed one, is stored


def test_refusal_max_tokens_and_empty_are_categorized(srv):
    srv.config.refuse_matching = ["forbidden"]
    srv.responder = lambda body: "" if "silent" in json.dumps(body["messages"]) else None
    reqs = [
        ModelRequest(
            "r", "claude-good", [{"role": "user", "content": "forbidden topic"}], params={"max_tokens": 50}
        ),
        ModelRequest(
            "m", "claude-good", [{"role": "user", "content": "a question " * 30}], params={"max_tokens": 2}
        ),
        ModelRequest(
            "e", "claude-good", [{"role": "user", "content": "silent please"}], params={"max_tokens": 50}
        ),
    ]
    out = run_requests(provider(srv), reqs, None)
    assert [r.error_category for r in out] == ["refusal", "max_tokens", "empty"]
    assert out[0].stop_reason == "refusal" and out[1].text and len(out[1].text) <= 8
    assert not any(r.is_infra_error for r in out)


def test_degraded_model_is_less_accurate(srv):
    labels = ["billing", "shipping", "returns", "account"]
    key = {f"ticket {i}:": labels[i % 4] for i in range(80)}
    srv.config.answer_key = key

    def reqs(model):
        return [
            ModelRequest(
                f"t{i}",
                model,
                [{"role": "user", "content": f"ticket {i}: something happened. Labels: {', '.join(labels)}"}],
                params={"max_tokens": 20},
            )
            for i in range(80)
        ]

    acc = {}
    for model in ("claude-good", "claude-degraded"):
        out = run_requests(provider(srv, max_concurrency=16), reqs(model), None)
        acc[model] = sum(r.text == labels[i % 4] for i, r in enumerate(out)) / 80
        assert all(r.text in labels for r in out)
    assert acc["claude-good"] >= 0.85 and acc["claude-degraded"] <= 0.75
    assert acc["claude-good"] - acc["claude-degraded"] >= 0.2


def test_concurrency_bound_and_cost(srv):
    srv.config.latency_s = 0.05
    out = run_requests(provider(srv, max_concurrency=5), requests(30), None)
    assert srv.max_in_flight <= 5 and srv.max_in_flight >= 4
    r = out[0]
    assert r.cost_usd == pytest.approx((r.input_tokens * 1.0 + r.output_tokens * 5.0) / 1e6)
    s = summarize(out)
    assert s["samples"] == 30 and s["errors_by_category"] == {}
    assert s["latency_s"]["p50"] <= s["latency_s"]["p95"] <= s["latency_s"]["p99"]
    assert s["input_tokens"] == sum(x.input_tokens for x in out)


def test_prompt_cache_tokens_are_priced(srv):
    system = [
        {
            "type": "text",
            "text": "You are a careful classifier. " * 40,
            "cache_control": {"type": "ephemeral"},
        }
    ]
    reqs = [
        ModelRequest(
            f"c{i}",
            "claude-good",
            [{"role": "user", "content": f"q{i}"}],
            system=None,
            params={"max_tokens": 20, "system": system},
        )
        for i in range(2)
    ]
    p = provider(srv, max_concurrency=1)
    out = run_requests(p, reqs, None)
    assert out[0].cache_creation_tokens > 0 and out[1].cache_read_tokens > 0
    r = out[1]
    assert r.cost_usd == pytest.approx(
        (r.input_tokens * 1.0 + r.output_tokens * 5.0 + r.cache_read_tokens * 0.1) / 1e6
    )


def test_progress_callback_and_timing(srv):
    seen = []
    timing = RunTiming()
    run_requests(provider(srv), requests(25), None, progress=seen.append, progress_every=10, timing=timing)
    assert [p.done for p in seen] == [10, 20, 25]
    assert seen[-1].total == 25 and timing.api_calls == 25 and timing.span_s > 0


def test_run_requests_inside_a_running_loop(srv):
    async def caller():
        return run_requests(provider(srv), requests(3), None)

    out = asyncio.run(caller())
    assert [r.error_category for r in out] == [None, None, None]


def test_error_rate_ceiling(srv):
    srv.config.fault_script_by_match = {f"question {i}.": ["rate_limit"] * 5 for i in range(3)}
    p = provider(srv, retry=RetryPolicy(max_attempts=1))
    out = run_requests(p, requests(20), None)
    with pytest.raises(ErrorRateExceeded) as exc:
        check_error_rate(out, 0.05)
    assert "3 of 20" in str(exc.value) and "rate_limited=3" in str(exc.value)
    assert check_error_rate(out, 0.2)["infra_errors"] == 3
