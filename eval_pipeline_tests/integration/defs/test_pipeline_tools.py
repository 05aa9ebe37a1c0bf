"""A conversation eval set, a BFCL tool-calling eval set and an agent eval set through the Dagster
assets (golden_samples -> model_responses -> deterministic_scores), against the Anthropic test
server answering from an answer key of tool_use blocks; a rerun asks nothing."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
import yaml

from eval_pipeline.defs.partitions import MODEL_VERSION_PARTITIONS, eval_partition_key
from eval_pipeline.project.loader import load_project
from eval_pipeline.project.paths import PROJECT_ROOT
from eval_pipeline_tests.e2e.test_pipeline import API_KEY, _resources, materialize
from eval_pipeline_tests.support.servers.anthropic_server import AnthropicTestServer, ServerConfig
from eval_pipeline_tests.unit.evaluators.deterministic.test_tool_calls import expected_calls

DATE = "2026-11-03"
ORDER_TOOLS = [
    {
        "name": "orders.lookup",
        "description": "Look up an order by id",
        "input_schema": {
            "type": "object",
            "properties": {"order_id": {"type": "string"}},
            "required": ["order_id"],
        },
    },
    {
        "name": "orders.change_size",
        "description": "Change the size of an order",
        "input_schema": {
            "type": "object",
            "properties": {"order_id": {"type": "string"}, "size": {"type": "string"}},
            "required": ["order_id", "size"],
        },
    },
]


def _data(tmp: Path) -> Path:
    d = tmp / "data"
    shutil.copytree(
        PROJECT_ROOT / "data", d, ignore=shutil.ignore_patterns("recordings", "calibration", "*.md")
    )
    orders = [
        {
            "id": f"order-{i}",
            "input": {
                "messages": [{"role": "user", "content": f"Please make order A{i} a large."}],
                "tool_results": [
                    {
                        "name": "orders.lookup",
                        "arguments": {"order_id": f"A{i}"},
                        "result": {"size": "small"},
                    },
                    {"name": "orders.change_size", "result": "ok"},
                ],
            },
            "expected": [{"orders.change_size": {"order_id": [f"A{i}"], "size": ["large"]}}],
        }
        for i in range(3)
    ]
    (d / "golden" / "orders.jsonl").write_text("".join(json.dumps(o) + "\n" for o in orders))
    suite = {
        "name": "agents",
        "description": "tool calls and conversations",
        "eval_sets": [
            {
                "name": "bfcl_calls",
                "family": "deterministic",
                "task": "call_tools",
                "source": "golden/bfcl_tool_calls.jsonl",
                "sample": {"n": 12, "seed": 1},
                "checks": [{"type": "tool_calls_match"}],
            },
            {
                "name": "next_turn",
                "family": "deterministic",
                "task": "next_turn",
                "source": "golden/topicalchat_next_turn.jsonl",
                "sample": {"n": 5, "seed": 1},
                "checks": [{"type": "length", "min_chars": 1}],
            },
            {
                "name": "order_agent",
                "family": "deterministic",
                "task": "call_tools",
                "source": "golden/orders.jsonl",
                "tools": ORDER_TOOLS,
                "agent": {"max_steps": 4},
                "checks": [
                    {"type": "tool_order", "tools": ["orders.lookup", "orders.change_size"], "mode": "exact"},
                    {"type": "max_steps", "max": 3},
                ],
            },
        ],
    }
    (d / "suites" / "agents.yaml").write_text(yaml.safe_dump(suite, sort_keys=False))
    models = yaml.safe_load((d / "models.yaml").read_text())
    models["models"].append(
        {
            "name": "agent-bot",
            "provider": "anthropic",
            "model": "claude-haiku-4-5",
            "params": {"max_tokens": 200, "temperature": 0.0},
            "prompts": {"call_tools": "prompts/call_tools_v1.yaml", "next_turn": "prompts/next_turn_v1.yaml"},
            "suites": ["agents"],
        }
    )
    (d / "models.yaml").write_text(yaml.safe_dump(models, sort_keys=False))
    return d


@pytest.fixture
def instance():
    with dg.instance_for_test() as inst:
        yield inst


def test_conversation_bfcl_and_agent_eval_sets_through_the_assets(tmp_path, instance):
    data, wh = _data(tmp_path), tmp_path / "wh"
    project = load_project(data)
    mv = project.registry.by_name("agent-bot")
    golden_rows = [
        json.loads(x) for x in (data / "golden" / "bfcl_tool_calls.jsonl").read_text().splitlines()
    ]
    script = {}
    for n, row in enumerate(golden_rows):
        calls = [{"name": c["name"], "input": c["arguments"]} for c in expected_calls(row["expected"])]
        if n % 5 == 0:  # every fifth row: the model picks another tool
            other = next(t["name"] for t in row["input"]["tools"] if t["name"] != calls[0]["name"])
            calls = [{"name": other, "input": {}}]
        script[row["input"]["messages"][-1]["content"]] = [calls]
    for i in range(3):
        script[f"make order A{i} a large"] = [
            [{"name": "orders.lookup", "input": {"order_id": f"A{i}"}}],
            [{"name": "orders.change_size", "input": {"order_id": f"A{i}", "size": "large"}}],
            f"Order A{i} is now large.",
        ]
    server = AnthropicTestServer(ServerConfig(api_key=API_KEY, tool_script_by_match=script)).start()
    try:
        instance.add_dynamic_partitions(MODEL_VERSION_PARTITIONS.name, [mv.key])
        resources = _resources(data, wh, server)
        key = eval_partition_key(DATE, mv.key)
        selection = ["golden_samples", "model_responses", "deterministic_scores"]
        result = materialize(selection=selection, partition_key=key, instance=instance, resources=resources)
        assert result.success
        calls = server.stats()["total"]
        assert calls == 12 + 5 + 3 * 3  # one call per BFCL row and conversation, three steps per agent

        part = f"date={DATE}/model_version={mv.key}/data.parquet"
        responses = pd.read_parquet(wh / "responses" / part)
        scores = pd.read_parquet(wh / "scores" / "family=deterministic" / part)

        bfcl = scores[(scores["eval_set"] == "bfcl_calls") & (scores["metric"] == "tool_calls_match")]
        assert len(bfcl) == 12
        picked = {r["id"]: n for n, r in enumerate(golden_rows)}
        wrong = {sid for sid in bfcl["sample_id"] if picked[sid] % 5 == 0}
        assert set(bfcl.loc[~bfcl["passed"].astype(bool), "sample_id"]) == wrong
        assert bfcl.loc[bfcl["sample_id"].isin(wrong), "reason"].str.contains("called").all()

        nt = responses[responses["eval_set"] == "next_turn"]
        assert len(nt) == 5 and nt["text"].notna().all()
        assert scores[(scores["eval_set"] == "next_turn")]["passed"].astype(bool).all()

        agents = responses[responses["eval_set"] == "order_agent"].sort_values("sample_id")
        steps = [json.loads(t) for t in agents["trajectory_json"]]
        assert [len(s) for s in steps] == [3, 3, 3]
        assert steps[0][0]["tool_results"][0]["content"] == json.dumps({"size": "small"})
        ag = scores[scores["eval_set"] == "order_agent"]
        assert ag["passed"].astype(bool).all(), ag[["metric", "reason"]]

        # a rerun of the partition asks nothing
        result = materialize(selection=selection, partition_key=key, instance=instance, resources=resources)
        assert result.success and server.stats()["total"] == calls
    finally:
        server.stop()
