"""Prompt caching: cache_control on the static prefix, cache token prices, hit rate and the
latency / TTFT split of hits vs misses in the inference metadata and in ops_history."""

from __future__ import annotations

import json

import duckdb
import pandas as pd
import pytest

from eval_pipeline.inference import AnthropicProvider, ModelRequest, run_requests, summarize
from eval_pipeline.inference.prompts import static_prefix_chars
from eval_pipeline_tests.support.servers.anthropic_server import AnthropicTestServer, ServerConfig
from eval_pipeline_tests.support.servers.fixtures import module_server

KEY = "test-key-caching"
PRICES = {"claude-good": {"input": 1.0, "output": 5.0}}  # cache prices default to 0.1x / 1.25x input
LABELS = "Intents: " + ", ".join(f"label_{i:02d}" for i in range(77))


server = module_server("server", AnthropicTestServer, api_key=KEY)


@pytest.fixture
def srv(server):
    server.config = ServerConfig(api_key=KEY, latency_s=0.1, ttft_fraction=0.5, cache_hit_ttft_factor=0.3)
    server._cached_prefixes.clear()
    server.responder = None
    server.reset_stats()
    return server


def routing_requests(n: int, cache: bool) -> list[ModelRequest]:
    users = [f"{LABELS}\n\nCustomer message: question number {i}" for i in range(n)]
    prefix = static_prefix_chars(users)
    return [
        ModelRequest(
            f"s{i}",
            "claude-good",
            [{"role": "user", "content": u}],
            system="You route bank support messages.",
            params={"max_tokens": 20},
            cache_prompt=cache,
            static_prefix_chars=prefix if cache else 0,
        )
        for i, u in enumerate(users)
    ]


def test_static_prefix_is_the_shared_lines():
    users = [f"{LABELS}\n\nCustomer message: q{i}" for i in range(3)]
    assert users[0][: static_prefix_chars(users)] == f"{LABELS}\n\n"
    assert static_prefix_chars(users[:1]) == 0 and static_prefix_chars(["a b", "a c"]) == 0


def test_second_request_with_the_same_prefix_reads_the_cache(srv):
    bodies = []
    srv.responder = lambda body: bodies.append(body) or None
    p = AnthropicProvider(KEY, base_url=srv.base_url, prices=PRICES, max_concurrency=1)
    out = run_requests(p, routing_requests(4, cache=True), None)
    # the static prefix is marked: system block and the label-list block of the user message
    assert bodies[0]["system"][0]["cache_control"] == {"type": "ephemeral"}
    first_block = bodies[0]["messages"][0]["content"][0]
    assert first_block["text"] == f"{LABELS}\n\n" and first_block["cache_control"] == {"type": "ephemeral"}
    assert "cache_control" not in bodies[0]["messages"][0]["content"][1]
    assert out[0].cache_creation_tokens > 0 and out[0].cache_read_tokens == 0 and not out[0].cache_hit
    assert all(r.cache_read_tokens == out[0].cache_creation_tokens and r.cache_hit for r in out[1:])
    r = out[1]
    assert r.cost_usd == pytest.approx(
        (r.input_tokens * 1.0 + r.output_tokens * 5.0 + r.cache_read_tokens * 0.1) / 1e6
    )
    w = out[0]
    assert w.cost_usd == pytest.approx(
        (w.input_tokens * 1.0 + w.output_tokens * 5.0 + w.cache_creation_tokens * 1.25) / 1e6
    )
    split = summarize(out)["prompt_cache"]
    assert split["n"] == 4 and split["hits"] == 3 and split["hit_rate"] == pytest.approx(0.75)
    lo, hi = split["hit_rate_ci95"]
    assert lo < 0.75 < hi
    assert split["ttft_p50_hit"] < split["ttft_p50_miss"]  # faster first token on a hit (0.015 s vs 0.05 s)


def test_caching_cuts_input_cost_and_uncached_requests_have_no_cache_reads(srv):
    p = AnthropicProvider(KEY, base_url=srv.base_url, prices=PRICES, max_concurrency=1)
    plain = run_requests(p, routing_requests(10, cache=False), None)
    assert all(r.cache_read_tokens == 0 and r.cache_creation_tokens == 0 for r in plain)
    assert summarize(plain)["prompt_cache"]["hit_rate"] == 0.0
    cached = run_requests(p, routing_requests(10, cache=True), None)

    def input_cost(rows):
        return sum(
            r.input_tokens * 1.0 + r.cache_read_tokens * 0.1 + r.cache_creation_tokens * 1.25 for r in rows
        )

    assert input_cost(cached) < 0.4 * input_cost(plain)  # >= 60% cut on the 77-label routing prompt
    # the same answers: caching changes what is billed, not what is asked
    assert [r.text for r in cached] == [r.text for r in plain]


def test_hit_rate_and_latency_split_in_metadata_and_ops_history(srv, tmp_path):
    import dagster as dg

    from eval_pipeline.definitions import defs
    from eval_pipeline.defs.partitions import MODEL_VERSION_PARTITIONS, eval_partition_key
    from eval_pipeline.defs.resources import (
        EmbeddingResource,
        EvalConfigResource,
        LLMResource,
        WarehouseResource,
        project_resource,
    )
    from eval_pipeline.history.aggregate import refresh_history
    from eval_pipeline.history.sources import HistorySources
    from eval_pipeline.project.loader import load_project
    from eval_pipeline_tests.support.orchestration import edit_yaml, small_data

    data = small_data(tmp_path / "data", n_samples=6, model_names=("bot-a",))
    edit_yaml(data / "models.yaml", lambda d: d["models"][0].update(cache_prompt=True))
    mv = load_project(data).registry.by_name("bot-a")
    assert mv.cache_prompt
    wh = tmp_path / "wh"
    resources = {
        "eval_config": EvalConfigResource(data_dir=str(data)),
        "project": project_resource,
        "warehouse": WarehouseResource(url=str(wh)),
        "llm": LLMResource(provider="anthropic", api_key=KEY, base_url=srv.base_url, max_concurrency=1),
        "embeddings": EmbeddingResource(),
    }
    date = "2026-11-03"
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(MODEL_VERSION_PARTITIONS.name, [mv.key])
        result = dg.materialize(
            [*defs.assets, *defs.asset_checks],
            selection=["golden_samples", "model_responses"],
            partition_key=eval_partition_key(date, mv.key),
            instance=instance,
            resources=resources,
        )
    assert result.success
    meta = result.asset_materializations_for_node("model_responses")[0].metadata
    assert meta["prompt_cache_hit_rate"].value == pytest.approx(5 / 6)
    by_template = meta["prompt_cache"].value["by_prompt_template"]
    ((name, split),) = by_template.items()
    assert name.startswith("routing (") and split["n"] == 6 and split["hits"] == 5
    assert split["ttft_p50_hit"] < split["ttft_p50_miss"]
    assert "prompt cache hit rate" in meta["summary"].value

    con = duckdb.connect()
    refresh_history(
        con,
        HistorySources.for_root(wh),
        db_path=wh / "history" / "history.duckdb",
        parquet_dir=str(wh / "history"),
    )
    ops = (
        duckdb.connect(str(wh / "history" / "history.duckdb"), read_only=True)
        .execute("SELECT * FROM ops_history WHERE eval_set = 'routing'")
        .df()
    )
    row = ops.iloc[0]
    assert (
        row["n_cache_hit"] == 5
        and row["cache_hit_rate"] == pytest.approx(5 / 6)
        and row["cache_read_tokens"] > 0
    )
    assert row["ttft_p50_cache_hit"] < row["ttft_p50_cache_miss"] and row["n_batch"] == 0
    responses = pd.read_parquet(wh / f"responses/date={date}/model_version={mv.key}/data.parquet")
    assert (responses["cache_read_tokens"] > 0).sum() == 5
    json.dumps(meta["prompt_cache"].value)  # plain JSON
