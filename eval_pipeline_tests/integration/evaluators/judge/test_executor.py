"""A judge with ``batch: true`` (Message Batches) or ``cache_prompt: true`` (prompt caching), through the
real SDK against the test server, with the executor the Dagster assets use (``judge/executor.py``)."""

from __future__ import annotations

import pandas as pd
import pytest

from eval_pipeline.evaluators import judge as J
from eval_pipeline.evaluators.judge.executor import store_executor
from eval_pipeline.evaluators.judge.requests import evaluator_hash
from eval_pipeline.inference.anthropic_provider import AnthropicProvider
from eval_pipeline.inference.batches import BatchOptions
from eval_pipeline.inference.limits import RetryPolicy
from eval_pipeline.inference.runner import prompt_cache_split
from eval_pipeline.inference.store import ResponseStore
from eval_pipeline_tests.integration.evaluators.judge.test_judge_server import CFG, judge_hook
from eval_pipeline_tests.support.judge import samples_frame
from eval_pipeline_tests.support.servers.anthropic_server import AnthropicTestServer, ServerConfig

PRICES = {CFG.model: {"input": 3.0, "output": 15.0}}
FAST = BatchOptions(poll_interval_s=0.02, log_every_s=0.0)
SAMPLES = samples_frame(
    [{"response_text": t} for t in ("ANS-GOOD", "ANS-weak", "ANS-GOOD too", "ANS-weak too")]
)
SHOWN = ["sample_id", "metric", "value", "passed", "evaluator_hash"]


@pytest.fixture()
def server():
    with AnthropicTestServer(ServerConfig(latency_s=0.0), judge_hook=judge_hook) as srv:
        yield srv


def provider(srv):
    return AnthropicProvider(
        api_key="test-key",
        base_url=srv.base_url,
        prices=PRICES,
        max_concurrency=1,
        retry=RetryPolicy(max_attempts=2, initial_backoff_s=0.01),
        request_timeout_s=10,
    )


def test_batch_judge_gives_the_live_verdicts_at_half_the_cost_and_reruns_for_free(server, tmp_path):
    live_seen, batch_seen = [], []
    live = store_executor(provider(server), ResponseStore(tmp_path / "live"), on_responses=live_seen.extend)
    rows_live, _ = J.score(SAMPLES, CFG, live)
    assert server.stats()["batches_created"] == 0

    cfg = CFG.model_copy(update={"batch": True})
    assert evaluator_hash(cfg) == evaluator_hash(
        CFG
    )  # how verdicts are paid for is not part of what they are
    store = ResponseStore(tmp_path / "batch")
    batched = store_executor(provider(server), store, batch_options=FAST, on_responses=batch_seen.extend)
    rows_batch, _ = J.score(SAMPLES, cfg, batched)
    stats = server.stats()
    assert stats["batches_created"] == 1 and stats["batch_requests"] == len(SAMPLES) * CFG.repeats
    pd.testing.assert_frame_equal(
        rows_batch[SHOWN].reset_index(drop=True), rows_live[SHOWN].reset_index(drop=True)
    )
    assert all(
        r.batch_id and r.latency_s is None and r.ttft_s is None for r in batch_seen
    )  # not measured, not invented
    assert sum(r.cost_usd for r in batch_seen) == pytest.approx(0.5 * sum(r.cost_usd for r in live_seen))

    # the verdicts are stored like live ones: a rerun makes no call and submits no batch
    total = stats["total"]
    again, _ = J.score(SAMPLES, cfg, store_executor(provider(server), store, batch_options=FAST))
    assert server.stats()["batches_created"] == 1 and server.stats()["total"] == total
    pd.testing.assert_frame_equal(
        again[SHOWN].reset_index(drop=True), rows_batch[SHOWN].reset_index(drop=True)
    )


def test_cache_prompt_judge_reads_its_rubric_prefix_from_the_cache_with_the_same_verdicts(server, tmp_path):
    cfg = CFG.model_copy(update={"cache_prompt": True})
    seen = []
    store = ResponseStore(tmp_path / "store")
    rows, _ = J.score(SAMPLES, cfg, store_executor(provider(server), store, on_responses=seen.extend))
    split = prompt_cache_split(seen)
    # one request at a time: the first writes the cached prefix (system prompt + verdict tool), every later one reads it
    assert split["n"] == len(SAMPLES) * CFG.repeats and split["hits"] == split["n"] - 1
    assert split["cache_read_tokens"] > 0 and split["cache_creation_tokens"] > 0
    assert seen[0].cache_creation_tokens > 0 and all(r.cache_read_tokens > 0 for r in seen[1:])
    cost_cached = sum(r.cost_usd for r in seen)

    # caching changes neither the verdicts nor their keys: the uncached judge is served from the same store
    calls = server.stats()["total"]
    plain_seen = []
    plain, _ = J.score(SAMPLES, CFG, store_executor(provider(server), store, on_responses=plain_seen.extend))
    assert server.stats()["total"] == calls and all(r.cached for r in plain_seen)
    pd.testing.assert_frame_equal(plain[SHOWN].reset_index(drop=True), rows[SHOWN].reset_index(drop=True))
    # and uncached it costs more (a fresh store: every request pays the full input price)
    fresh_seen = []
    J.score(
        SAMPLES,
        CFG,
        store_executor(provider(server), ResponseStore(tmp_path / "fresh"), on_responses=fresh_seen.extend),
    )
    assert prompt_cache_split(fresh_seen)["hits"] == 0 and sum(r.cost_usd for r in fresh_seen) > cost_cached
