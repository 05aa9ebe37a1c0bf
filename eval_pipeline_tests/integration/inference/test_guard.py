"""Issue 24 rows on the runner: identical requests paid once, a hanging endpoint stops in bounded time
naming it, a wrong key stops after the first few 401s, the retry budget, secrets never stored, and the
progress counters (done / in flight / retried). Real SDK against the loopback test server."""

from __future__ import annotations

import time

import pytest

from eval_pipeline.inference import AnthropicProvider, ModelRequest, run_requests
from eval_pipeline.inference.guard import (
    EndpointRejected,
    EndpointUnresponsive,
    RetryBudgetExhausted,
    StepBudget,
    StepGuard,
)
from eval_pipeline.inference.limits import RetryPolicy
from eval_pipeline.inference.store import ResponseStore
from eval_pipeline_tests.support.servers.anthropic_server import AnthropicTestServer, ServerConfig
from eval_pipeline_tests.support.servers.fixtures import module_server

KEY = "test-key-guard-0123456789"


server = module_server("server", AnthropicTestServer, api_key=KEY)


@pytest.fixture
def srv(server):
    server.config = ServerConfig(api_key=KEY, latency_s=0.01)
    server.responder = None
    server.reset_stats()
    return server


def reqs(texts, model="claude-good"):
    return [
        ModelRequest(f"s{i}", model, [{"role": "user", "content": t}], params={"max_tokens": 20})
        for i, t in enumerate(texts)
    ]


def provider(srv, key=KEY, **kw):
    kw.setdefault("retry", RetryPolicy(initial_backoff_s=0.01, max_backoff_s=0.05))
    return AnthropicProvider(key, base_url=srv.base_url, max_concurrency=4, **kw)


def test_identical_requests_in_one_run_are_sent_once(srv, tmp_path):
    # Two eval sets sharing a task and golden set (the same 10 requests twice) plus equal inputs.
    texts = [f"question {i % 4}" for i in range(10)] * 2
    out = run_requests(provider(srv), reqs(texts), ResponseStore(tmp_path))
    assert srv.stats()["total"] == 4  # distinct keys, not 20
    assert [r.sample_id for r in out] == [f"s{i}" for i in range(20)]
    assert all(r.text for r in out) and sum(not r.cached for r in out) == 4
    assert out[0].text == out[4].text == out[10].text


def test_wrong_api_key_stops_after_a_few_401s_and_says_so(srv, tmp_path):
    with pytest.raises(EndpointRejected) as e:
        run_requests(provider(srv, key="wrong-key-123456"), reqs([f"q{i}" for i in range(300)]))
    msg = str(e.value)
    assert f"authentication failed at {srv.base_url}" in msg and "ANTHROPIC_API_KEY" in msg
    assert srv.stats()["total"] <= 4 + 3  # the first few (concurrency 4), never all 300
    assert e.value.exit_kind == "config"


def test_model_not_found_stops_early(srv):
    srv.config.missing_models = ["claude-nope"]
    with pytest.raises(EndpointRejected, match="model not found at .*check the model id"):
        run_requests(provider(srv), reqs([f"q{i}" for i in range(100)], model="claude-nope"))
    assert srv.stats()["total"] <= 7


def test_hanging_endpoint_fails_in_bounded_time_naming_it(srv):
    srv.config.fault_probabilities = {"slow": 1.0}
    srv.config.slow_s = 3600
    p = provider(srv, request_timeout_s=0.5)
    t0 = time.monotonic()
    with pytest.raises(EndpointUnresponsive) as e:
        run_requests(p, reqs([f"q{i}" for i in range(20)]), budget=StepBudget(stall_timeout_s=1.0))
    waited = time.monotonic() - t0
    assert waited < 5
    assert srv.base_url in str(e.value) and "no response for" in str(e.value)
    assert e.value.exit_kind == "infra"


def test_retry_budget_bounds_a_failing_step(srv):
    srv.config.fault_probabilities = {"server_error": 1.0}
    guard = StepGuard()
    with pytest.raises(RetryBudgetExhausted, match="retry budget used up at"):
        run_requests(
            provider(srv), reqs([f"q{i}" for i in range(50)]), budget=StepBudget(max_retries=10), guard=guard
        )
    assert guard.retried == 10
    assert srv.stats()["total"] <= 10 + 4 + 4  # first attempts in flight + the budget


def test_throttling_does_not_use_the_retry_budget(srv):
    """429s ask the client to slow down: their retries are counted but do not stop the step; a budget
    of 1 is still enough for 30 requests of which about half are first answered 429."""
    srv.config.fault_probabilities = {"rate_limit": 0.5}
    srv.config.retry_after_s = 0.05
    guard = StepGuard()
    out = run_requests(
        provider(srv), reqs([f"t{i}" for i in range(30)]), budget=StepBudget(max_retries=1), guard=guard
    )
    assert all(r.error_category is None for r in out), [r.error_message for r in out if r.error_category]
    assert guard.retried > 1 and guard.failed_retries == 0 and guard.tripped is None


def test_progress_reports_in_flight_and_retried_while_waiting(srv):
    srv.config.latency_s = 0.6
    # Matched on this test's own prompt: a request the previous test left in flight must not consume it.
    srv.config.fault_script_by_match = {"progress-probe-a": ["server_error"]}
    seen = []
    run_requests(
        provider(srv),
        reqs(["progress-probe-a", "progress-probe-b"]),
        progress=seen.append,
        progress_interval_s=0.2,
    )
    assert any(p.in_flight > 0 and p.done == 0 for p in seen)
    assert seen[-1].done == 2 and seen[-1].retried == 1 and seen[-1].sent == 3


def test_the_api_key_echoed_by_the_model_is_never_stored(srv, tmp_path, monkeypatch):
    monkeypatch.setenv("EVAL_SECRET_ENV_VARS", "MY_DB_PASSWORD")
    monkeypatch.setenv("MY_DB_PASSWORD", "hunter2-db-password")
    srv.responder = lambda body: f"your key is {KEY} and the password hunter2-db-password"
    store = ResponseStore(tmp_path)
    out = run_requests(provider(srv), reqs(["echo"]), store)
    assert KEY not in out[0].text and "hunter2-db-password" not in out[0].text
    assert "[REDACTED]" in out[0].text
    store.close()
    blob = "".join(p.read_text() for p in tmp_path.rglob("*") if p.is_file() and p.suffix == ".jsonl")
    assert blob and KEY not in blob and "hunter2-db-password" not in blob


def test_a_silent_endpoint_stops_at_the_stall_timeout_before_any_request_timeout(srv):
    srv.config.fault_probabilities = {"slow": 1.0}
    srv.config.slow_s = 3600
    t0 = time.monotonic()
    with pytest.raises(EndpointUnresponsive, match="request\\(s\\) in flight"):
        run_requests(
            provider(srv, request_timeout_s=60), reqs(["a", "b"]), budget=StepBudget(stall_timeout_s=1.0)
        )
    assert time.monotonic() - t0 < 5
