"""Message Batches mode against the test server's batches endpoints, through the real SDK."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest

from eval_pipeline.inference import (
    AnthropicProvider,
    ModelRequest,
    ResponseStore,
    RetryPolicy,
    RunTiming,
    run_requests,
    summarize,
)
from eval_pipeline.inference.batches import BatchLedger, BatchOptions
from eval_pipeline.inference.guard import EndpointRejected
from eval_pipeline.inference.providers import compute_cost, validate_prices
from eval_pipeline.storage import keys
from eval_pipeline_tests.support.cli_env import answer_golden
from eval_pipeline_tests.support.servers.anthropic_server import AnthropicTestServer, ServerConfig
from eval_pipeline_tests.support.servers.fixtures import module_server

KEY = "test-key-batches"
PRICES = {"claude-good": {"input": 1.0, "output": 5.0}}
LABELS = "Intents: billing, card_lost, refund, greeting"
ANSWERS = {f"message q{i} ": ["billing", "card_lost", "refund", "greeting"][i % 4] for i in range(12)}
FAST = BatchOptions(poll_interval_s=0.02, log_every_s=0.0)


server = module_server("server", AnthropicTestServer, api_key=KEY)


@pytest.fixture
def srv(server):
    server.config = ServerConfig(api_key=KEY, latency_s=0.0, answer_key=dict(ANSWERS))
    server.reset_stats()
    return server


def provider(srv):
    return AnthropicProvider(
        KEY,
        base_url=srv.base_url,
        prices=PRICES,
        max_concurrency=4,
        retry=RetryPolicy(max_attempts=2, initial_backoff_s=0.01, max_backoff_s=0.02),
    )


def requests(n=12):
    return [
        ModelRequest(
            f"s{i}",
            "claude-good",
            [{"role": "user", "content": f"{LABELS}\n\nCustomer message q{i} please"}],
            system="Route the message.",
            params={"max_tokens": 20, "temperature": 0.0},
        )
        for i in range(n)
    ]


def test_batch_run_gives_the_same_answers_as_live_at_half_the_cost(srv, tmp_path):
    live = run_requests(provider(srv), requests(), ResponseStore(tmp_path / "live"))
    assert srv.stats()["batches_created"] == 0
    timing = RunTiming()
    logs = []
    batch = run_requests(
        provider(srv),
        requests(),
        ResponseStore(tmp_path / "batch"),
        timing=timing,
        batch=BatchOptions(poll_interval_s=0.02, log_every_s=0.0, log=logs.append),
    )
    assert srv.stats()["batches_created"] == 1 and srv.stats()["batch_requests"] == 12
    assert [(r.sample_id, r.text, r.error_category, r.input_tokens, r.output_tokens) for r in batch] == [
        (r.sample_id, r.text, r.error_category, r.input_tokens, r.output_tokens) for r in live
    ]
    # the answers are graded the same: exact match against the answer key
    score = [r.text == ANSWERS[f"message q{i} "] for i, r in enumerate(batch)]
    assert score == [r.text == ANSWERS[f"message q{i} "] for i, r in enumerate(live)] and sum(score) >= 8
    assert all(r.batch_id and r.latency_s is None and r.ttft_s is None for r in batch)
    assert all(r.batch_id is None and r.latency_s is not None for r in live)
    for b, lv in zip(batch, live):
        assert lv.cost_usd > 0 and b.cost_usd == pytest.approx(0.5 * lv.cost_usd)
    assert summarize(batch)["cost_usd"] == pytest.approx(0.5 * summarize(live)["cost_usd"])
    assert summarize(batch)["batch_answers"] == 12 and summarize(batch)["latency_s"]["p50"] is None
    assert timing.batch.created and any("submitted batch" in m for m in logs)
    # stored like live answers: a rerun makes no call and creates no batch
    again = run_requests(provider(srv), requests(), ResponseStore(tmp_path / "batch"), batch=FAST)
    assert all(r.cached for r in again) and srv.stats()["batches_created"] == 1
    # the ledger is closed once the results are read
    assert BatchLedger(tmp_path / "batch").open_batches() == []


def test_batch_discount_and_default_cache_prices_in_the_price_table():
    prices = validate_prices(PRICES)
    assert prices["claude-good"]["cache_read"] == pytest.approx(0.1) and prices["claude-good"][
        "cache_write"
    ] == pytest.approx(1.25)
    full = compute_cost(prices, "claude-good", 1000, 100, 200, 300)
    assert full == pytest.approx((1000 * 1.0 + 100 * 5.0 + 200 * 0.1 + 300 * 1.25) / 1e6)
    assert compute_cost(prices, "claude-good", 1000, 100, 200, 300, batch=True) == pytest.approx(0.5 * full)


def test_batches_are_chunked_within_the_limits(srv, tmp_path):
    opts = BatchOptions(poll_interval_s=0.02, max_requests=5)
    timing = RunTiming()
    out = run_requests(provider(srv), requests(12), ResponseStore(tmp_path), batch=opts, timing=timing)
    assert srv.stats()["batches_created"] == 3 and len(timing.batch.created) == 3
    assert all(r.text for r in out)
    with pytest.raises(ValueError, match="max_requests"):
        BatchOptions(max_requests=100_001)


def test_errored_and_expired_requests_are_retried(srv, tmp_path):
    srv.config.batch_outcome_by_match = {
        "message q1 ": ["errored"],  # retried in a second batch, succeeds there
        "message q2 ": ["expired", "expired"],  # expired twice: sent live
        "message q3 ": ["errored_invalid"],  # a bad request: not retried
        "message q4 ": ["canceled"],  # someone cancelled the batch: an api_error answer, not stored
    }
    timing = RunTiming()
    store = ResponseStore(tmp_path)
    out = run_requests(provider(srv), requests(6), store, batch=FAST, timing=timing)
    st = timing.batch
    assert srv.stats()["batches_created"] == 2 and st.retried_as_batch == 2 and st.sent_live == 1
    assert st.failed == {"errored": 2, "expired": 2, "canceled": 1}
    assert out[1].text and out[1].batch_id == st.created[1]
    assert out[2].text and out[2].batch_id is None and out[2].latency_s is not None  # the live answer
    assert out[3].error_category == "api_error" and "invalid_request_error" in out[3].error_message
    assert out[4].error_category == "api_error" and "canceled" in out[4].error_message
    assert out[0].text and out[5].text
    # the failures are not stored: a rerun asks for q3 and q4 again (q4 now succeeds)
    srv.config.batch_outcome_by_match = {"message q3 ": ["errored_invalid"]}
    again = run_requests(provider(srv), requests(6), ResponseStore(tmp_path), batch=FAST)
    assert [r.cached for r in again] == [True, True, True, False, False, True] and again[4].text


def test_live_fallback_can_be_turned_off(srv, tmp_path):
    srv.config.batch_outcome_by_match = {"message q0 ": ["expired", "expired"]}
    out = run_requests(
        provider(srv),
        requests(2),
        ResponseStore(tmp_path),
        batch=BatchOptions(poll_interval_s=0.02, then_live=False),
    )
    assert out[0].error_category == "api_error" and "expired" in out[0].error_message and out[1].text
    assert srv.stats()["total"] == 0  # no live call


KILLED_RUN = f"""
import sys
from eval_pipeline.inference import AnthropicProvider, ModelRequest, ResponseStore, run_requests
from eval_pipeline.inference.batches import BatchOptions
reqs = [ModelRequest(f"s{{i}}", "claude-good", [{{"role": "user", "content": f"{LABELS}\\n\\nCustomer message q{{i}} please"}}],
                     system="Route the message.", params={{"max_tokens": 20, "temperature": 0.0}}) for i in range(12)]
run_requests(AnthropicProvider("{KEY}", base_url=sys.argv[1]), reqs, ResponseStore(sys.argv[2]), batch=BatchOptions(poll_interval_s=0.05))
"""


def test_killed_run_reattaches_to_its_batch(srv, tmp_path):
    srv.config.batch_delay_s = 60.0  # the first run's batch does not end while it lives
    proc = subprocess.Popen([sys.executable, "-c", KILLED_RUN, srv.base_url, str(tmp_path)])
    try:
        deadline = time.time() + 60
        while (
            not list((tmp_path / keys.BATCH_LEDGER).glob(keys.BATCH_RECORD_GLOB)) and time.time() < deadline
        ):
            assert proc.poll() is None, "the first run ended before submitting"
            time.sleep(0.05)
        assert srv.stats()["batches_created"] == 1
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    record = json.loads(next((tmp_path / keys.BATCH_LEDGER).glob(keys.BATCH_RECORD_GLOB)).read_text())
    assert record["closed"] is False and len(record["custom_ids"]) == 12
    for b in srv.batches.values():  # the batch finishes while nobody watches
        b["ends_at"] = time.time()
    timing = RunTiming()
    out = run_requests(provider(srv), requests(), ResponseStore(tmp_path), batch=FAST, timing=timing)
    assert srv.stats()["batches_created"] == 1, "the rerun submitted again instead of re-attaching"
    assert timing.batch.attached == [record["batch_id"]] and timing.batch.created == []
    assert all(r.text and r.batch_id == record["batch_id"] for r in out)


def test_wrong_key_at_batch_create_stops_at_once_and_sends_nothing_more(srv, tmp_path):
    wrong = AnthropicProvider("wrong-key-123456", base_url=srv.base_url, prices=PRICES)
    opts = BatchOptions(poll_interval_s=0.02, max_requests=5)  # 3 batches' worth of requests
    with pytest.raises(EndpointRejected) as e:
        run_requests(wrong, requests(12), ResponseStore(tmp_path), batch=opts)
    assert f"authentication failed at {srv.base_url}: check ANTHROPIC_API_KEY" in str(e.value)
    assert "wrong-key-123456" not in str(e.value) and e.value.exit_kind == "config"
    stats = srv.stats()
    assert stats["batch_calls"] == {"create": 1}, "a rejected key was used again for batches"
    assert stats["total"] == 0, "requests were sent live after the key was rejected"
    assert BatchLedger(tmp_path).open_batches() == []


def test_key_revoked_while_polling_stops_with_the_same_error(srv, tmp_path):
    srv.config.batch_delay_s = 5.0

    def revoke(message):  # the key stops working right after the batch was accepted
        if message.startswith("submitted batch"):
            srv.config.api_key = "rotated-key"

    opts = BatchOptions(poll_interval_s=0.02, log=revoke)
    with pytest.raises(EndpointRejected) as e:
        run_requests(provider(srv), requests(12), ResponseStore(tmp_path), batch=opts)
    assert f"authentication failed at {srv.base_url}: check ANTHROPIC_API_KEY" in str(e.value)
    stats = srv.stats()
    assert stats["batch_calls"]["create"] == 1 and stats["total"] == 0
    assert stats["batch_calls"]["retrieve"] == 1, "polling went on with a rejected key"
    # the accepted batch stays open in the ledger: a rerun with a working key re-attaches to it
    assert len(BatchLedger(tmp_path).open_batches()) == 1


def test_pipeline_batch_run_writes_the_same_rows_and_scores_as_live(srv, tmp_path):
    """Through Dagster: model_responses with the run config ``batch: true`` writes the rows a live run
    writes (latency null), and the deterministic scores are identical."""
    import dagster as dg
    import pandas as pd

    from eval_pipeline.definitions import defs
    from eval_pipeline.defs.partitions import MODEL_VERSION_PARTITIONS, eval_partition_key
    from eval_pipeline.defs.resources import (
        EmbeddingResource,
        EvalConfigResource,
        LLMResource,
        WarehouseResource,
        project_resource,
    )
    from eval_pipeline.project.loader import load_project
    from eval_pipeline_tests.support.orchestration import small_data

    data = small_data(tmp_path / "data", n_samples=6, model_names=("bot-a",))
    mv = load_project(data).registry.by_name("bot-a")
    answer_golden(srv, data)
    date = "2026-11-02"
    frames = {}
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(MODEL_VERSION_PARTITIONS.name, [mv.key])
        for mode in ("live", "batch"):
            wh = tmp_path / f"wh-{mode}"
            resources = {
                "eval_config": EvalConfigResource(data_dir=str(data)),
                "project": project_resource,
                "warehouse": WarehouseResource(url=str(wh)),
                "llm": LLMResource(provider="anthropic", api_key=KEY, base_url=srv.base_url),
                "embeddings": EmbeddingResource(),
            }
            config = {
                "ops": {
                    "model_responses": {"config": {"batch": mode == "batch", "batch_poll_interval_s": 0.02}}
                }
            }
            result = dg.materialize(
                [*defs.assets, *defs.asset_checks],
                selection=["golden_samples", "model_responses", "deterministic_scores"],
                partition_key=eval_partition_key(date, mv.key),
                instance=instance,
                resources=resources,
                run_config=config,
            )
            assert result.success
            part = f"date={date}/model_version={mv.key}/data.parquet"
            frames[mode] = (
                pd.read_parquet(wh / "responses" / part),
                pd.read_parquet(wh / "scores" / "family=deterministic" / part),
            )
            if mode == "batch":
                meta = result.asset_materializations_for_node("model_responses")[0].metadata
                assert meta["batch_answers"].value == 6 and meta["batch"].value["batches_created"] == 1
    (live_r, live_s), (batch_r, batch_s) = frames["live"], frames["batch"]
    assert srv.stats()["batches_created"] == 1
    same = ["sample_id", "text", "error_category", "input_tokens", "output_tokens", "cache_key"]
    pd.testing.assert_frame_equal(live_r[same], batch_r[same])
    assert (
        batch_r["latency_s"].isna().all()
        and batch_r["ttft_s"].isna().all()
        and live_r["latency_s"].notna().all()
    )
    assert batch_r["cost_usd"].sum() == pytest.approx(0.5 * live_r["cost_usd"].sum())
    cols = [c for c in live_s.columns if c not in ("latency_s", "ttft_s", "cost_usd")]
    pd.testing.assert_frame_equal(live_s[cols], batch_s[cols])
