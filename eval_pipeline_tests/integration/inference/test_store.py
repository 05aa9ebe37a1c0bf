"""Response store, resume after a crash, replay, secrecy of the API key, limiter units."""

from __future__ import annotations

import asyncio
import json
import logging
import time

import pytest

from eval_pipeline.inference import (
    AdaptiveLimiter,
    AnthropicProvider,
    ModelRequest,
    ReplayMissError,
    ReplayProvider,
    ResponseStore,
    RetryPolicy,
    check_error_rate,
    request_key,
    run_requests,
    summarize,
)
from eval_pipeline.inference.limits import TokenBucket
from eval_pipeline_tests.support.killed_run import kill_when_stored
from eval_pipeline_tests.support.servers.anthropic_server import AnthropicTestServer, ServerConfig
from eval_pipeline_tests.support.servers.fixtures import module_server

SECRET = "sk-ant-api03-SECRETSECRET-do-not-leak-7f3a"


server = module_server("server", AnthropicTestServer, api_key=SECRET, latency_s=0.01)


@pytest.fixture
def srv(server):
    server.config = ServerConfig(api_key=SECRET, latency_s=0.01, retry_after_s=0.02)
    server.reset_stats()
    return server


def reqs(n, prefix="item"):
    return [
        ModelRequest(
            f"id-{i:04d}",
            "claude-good",
            [{"role": "user", "content": f"{prefix} {i}."}],
            params={"max_tokens": 32},
        )
        for i in range(n)
    ]


def test_key_components():
    base = reqs(1)[0]
    k = request_key("anthropic", base)
    same = ModelRequest("other-sample-id", base.model, base.messages, params=dict(base.params))
    assert request_key("anthropic", same) == k  # content-addressed, not by sample id
    for changed in (
        ModelRequest(base.sample_id, base.model, base.messages, params=base.params, repeat=1),
        ModelRequest(base.sample_id, base.model, base.messages, params=base.params, epoch="2026-01-01"),
        ModelRequest(base.sample_id, "claude-degraded", base.messages, params=base.params),
        ModelRequest(base.sample_id, base.model, base.messages, params={"max_tokens": 33}),
        ModelRequest(base.sample_id, base.model, base.messages, system="be brief", params=base.params),
        ModelRequest(
            base.sample_id, base.model, [{"role": "user", "content": "item 0!"}], params=base.params
        ),
    ):
        assert request_key("anthropic", changed) != k
    assert request_key("replay-other", base) != k


def test_resumed_run_calls_only_missing_samples(srv, tmp_path):
    """A process killed mid-run keeps what it stored; the rerun calls only the rest."""
    srv.config.latency_s = 0.05
    store_dir = tmp_path / "store"
    n = 60
    script = f"""
import sys
from eval_pipeline.inference import AnthropicProvider, ModelRequest, ResponseStore, run_requests
reqs = [ModelRequest(f"id-{{i:04d}}", "claude-good", [{{"role": "user", "content": f"item {{i}}."}}], params={{"max_tokens": 32}}) for i in range(60)]
p = AnthropicProvider(sys.argv[1], base_url={srv.base_url!r}, max_concurrency=2)
run_requests(p, reqs, ResponseStore({str(store_dir)!r}))
"""
    stored = kill_when_stored(script, store_dir, 10, 20, 0.05, SECRET)
    assert 10 <= stored < n, stored
    shard = next(store_dir.glob("responses-*.jsonl"))
    with open(shard, "a") as fh:  # a torn line, as if the writer died in the middle of it
        fh.write('{"sample_id": "id-9999", "cache_key": "abc", "te')
    store = ResponseStore(store_dir)
    already = len(store)
    assert already >= 10
    srv.reset_stats()
    out = run_requests(AnthropicProvider(SECRET, base_url=srv.base_url, max_concurrency=8), reqs(n), store)
    assert srv.total == n - already
    assert sum(r.cached for r in out) == already
    assert all(r.error_category is None for r in out)


def test_replay_serves_stored_and_reports_misses(srv, tmp_path):
    store = ResponseStore(tmp_path)
    live = run_requests(AnthropicProvider(SECRET, base_url=srv.base_url), reqs(3), store)
    srv.reset_stats()
    replayed = run_requests(ReplayProvider(), reqs(3), ResponseStore(tmp_path))
    assert (
        srv.total == 0
        and [r.text for r in replayed] == [r.text for r in live]
        and all(r.cached for r in replayed)
    )
    with pytest.raises(ReplayMissError) as exc:
        run_requests(ReplayProvider(), reqs(15), ResponseStore(tmp_path))
    msg = str(exc.value)
    assert "12 of 15" in msg and "id-0003, id-0004" in msg and "id-0014" not in msg  # first ten only
    assert exc.value.missing_ids[:2] == ["id-0003", "id-0004"] and len(exc.value.missing_ids) == 12


def test_api_key_never_in_logs_files_repr_or_errors(srv, tmp_path, caplog, capfd):
    caplog.set_level(logging.DEBUG)  # the SDK and httpx log request details at DEBUG
    srv.config.fault_script_by_match = {
        "item 1.": ["rate_limit"],
        "item 2.": ["server_error"] * 5,
        "item 3.": ["malformed"],
    }
    store = ResponseStore(tmp_path / "store")
    p = AnthropicProvider(
        SECRET, base_url=srv.base_url, retry=RetryPolicy(max_attempts=2, initial_backoff_s=0.01)
    )
    out = run_requests(p, reqs(6), store)
    wrong = AnthropicProvider(SECRET + "-wrong", base_url=srv.base_url)
    out += run_requests(wrong, reqs(1, "other"), store)
    assert out[2].error_category == "api_error" and out[-1].error_category == "api_error"
    logging.getLogger("eval_pipeline.inference").info("provider=%r", p)
    texts = [
        caplog.text,
        repr(p),
        repr(wrong),
        repr(store),
        json.dumps(summarize(out)),
        capfd.readouterr().out,
    ]
    texts += [json.dumps(r.to_row()) for r in out]
    texts += [f.read_text() for f in (tmp_path / "store").rglob("*") if f.is_file()]
    with pytest.raises(Exception) as exc:
        check_error_rate(out, 0.0)
    texts.append(str(exc.value))
    assert "sk-ant-api03" not in "\n".join(texts)
    assert "SECRETSECRET" not in "\n".join(texts)
    assert len(caplog.records) > 5  # the logs were really captured


def test_store_survives_reopen_and_concurrent_writers(tmp_path, srv):
    a, b = ResponseStore(tmp_path), ResponseStore(tmp_path)
    ra = run_requests(AnthropicProvider(SECRET, base_url=srv.base_url), reqs(3, "a"), a)
    rb = run_requests(AnthropicProvider(SECRET, base_url=srv.base_url), reqs(3, "b"), b)
    assert len(list(tmp_path.glob("responses-*.jsonl"))) == 2  # one shard per writer
    assert a.refresh() == 3 and len(a) == 6  # a sees b's lines
    c = ResponseStore(tmp_path)
    assert (
        len(c) == 6
        and c.get(ra[0].cache_key)["text"] == ra[0].text
        and c.get(rb[2].cache_key)["text"] == rb[2].text
    )


def test_store_rejects_infra_errors(tmp_path):
    from eval_pipeline.inference.providers import error_response

    store = ResponseStore(tmp_path)
    r = reqs(1)[0]
    assert store.put(error_response(r, "k1", "rate_limited", "429")) is False
    assert len(store) == 0 and not list(tmp_path.glob("*.jsonl"))


def test_adaptive_limiter_backs_off_and_recovers():
    async def scenario():
        lim = AdaptiveLimiter(20, cooldown_s=0.0, decrease_factor=0.5, throttle_threshold=0.0)
        await lim.acquire()
        lim.release(True)
        assert lim.limit == 10
        await lim.acquire()
        lim.release(True)
        assert lim.limit == 5
        for _ in range(400):
            await lim.acquire()
            lim.release(False)
        assert lim.limit == 20
        # bursts of throttles inside one cooldown count once
        lim2 = AdaptiveLimiter(20, cooldown_s=60, decrease_factor=0.9, throttle_threshold=0.0)
        for _ in range(10):
            await lim2.acquire()
            lim2.release(True)
        assert lim2.limit == pytest.approx(18) and lim2.decreases == 1
        # sporadic throttles (10%) do not shrink the limit; sustained ones (60%) do
        lim3 = AdaptiveLimiter(32, cooldown_s=0.0)
        for i in range(300):
            await lim3.acquire()
            lim3.release(i % 10 == 0)
        assert lim3.limit == 32 and lim3.decreases == 0
        for i in range(100):
            await lim3.acquire()
            lim3.release(i % 5 < 3)
        assert lim3.decreases > 0 and lim3.limit < 32

    asyncio.run(scenario())


def test_adaptive_limiter_bounds_and_prioritizes_retries():
    async def scenario():
        lim = AdaptiveLimiter(2)
        await lim.acquire()
        await lim.acquire()
        order = []

        async def waiter(name, prio):
            await lim.acquire(prio)
            order.append(name)

        tasks = [asyncio.create_task(waiter("fresh", 1)), asyncio.create_task(waiter("retry", 0))]
        await asyncio.sleep(0)
        assert lim.in_flight == 2 and order == []
        lim.release(None)
        await asyncio.sleep(0)
        assert order == ["retry"]
        lim.release(None)
        await asyncio.gather(*tasks)
        assert order == ["retry", "fresh"] and lim.peak_in_flight == 2

    asyncio.run(scenario())


def test_token_bucket_waits_for_refill():
    async def scenario():
        bucket = TokenBucket(per_minute=600)  # 10 per second, burst of 600
        bucket.level = 0.0
        t0 = time.perf_counter()
        await bucket.take(3)
        return time.perf_counter() - t0

    waited = asyncio.run(scenario())
    assert 0.25 <= waited < 0.6


def test_client_side_request_rate_limit(srv):
    p = AnthropicProvider(SECRET, base_url=srv.base_url, requests_per_minute=600)

    async def run():
        from eval_pipeline.inference import arun_requests

        await p.astart()
        p._state.rate.requests.level = 0.0  # start with an empty bucket: 10 requests/s from now on
        t0 = time.perf_counter()
        await arun_requests(p, reqs(5), None)
        await p.aclose()
        return time.perf_counter() - t0

    assert asyncio.run(run()) >= 0.4


def test_retry_policy_delays():
    pol = RetryPolicy(initial_backoff_s=0.5, multiplier=2, max_backoff_s=3, jitter=0.5)
    assert 0.25 <= pol.delay(1, None) <= 0.5
    assert 1.0 <= pol.delay(3, None) <= 2.0
    assert 1.5 <= pol.delay(10, None) <= 3.0
    assert 1.0 <= pol.delay(1, 1.0) <= 1.05  # retry-after is honoured (never shorter)


def test_bad_price_table_names_the_key():
    with pytest.raises(ValueError, match=r"prices\['m'\]\['output'\]"):
        AnthropicProvider("k", prices={"m": {"input": 1.0, "output": -2}})
    with pytest.raises(ValueError, match="unknown field"):
        AnthropicProvider("k", prices={"m": {"input": 1.0, "output": 2, "cached": 1}})
