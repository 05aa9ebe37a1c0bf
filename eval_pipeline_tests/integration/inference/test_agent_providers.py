"""The agent loop (tool call -> tool result -> next step) through every provider's wire format: the
tool_use / tool_result history is converted to OpenAI's and Bedrock's forms and back, every step is
stored, and a rerun replays the whole trajectory from the store."""

from __future__ import annotations

import pytest

from eval_pipeline.inference.agent import AgentSpec, run_agent_loops
from eval_pipeline.inference.store import ResponseStore
from eval_pipeline.inference.targets import build_provider
from eval_pipeline.inference.types import ModelRequest
from eval_pipeline.project.endpoints import BedrockEndpoint, HttpEndpoint, OpenAIEndpoint
from eval_pipeline_tests.support.servers.anthropic_server import ServerConfig
from eval_pipeline_tests.support.servers.fixtures import module_server
from eval_pipeline_tests.support.servers.http_app import ENDPOINT
from eval_pipeline_tests.support.servers.vendors import VendorsServer
from eval_pipeline_tests.support.tools import ORDER_CANCEL, ORDER_LOOKUP

KEY = "sk-agent-SECRET"
TOOLS = [ORDER_LOOKUP, ORDER_CANCEL]


server = module_server("server", VendorsServer, api_key=KEY)


def _endpoint(provider, srv):
    if provider == "openai":
        return OpenAIEndpoint(base_url=srv.openai_base_url, api_key_env="AGENT_KEY")
    if provider == "bedrock":
        return BedrockEndpoint(endpoint_url=srv.base_url, region="us-east-1")
    return HttpEndpoint(url=srv.chat_url, **ENDPOINT)


@pytest.mark.parametrize("provider", ["openai", "bedrock", "http"])
def test_three_tool_steps_then_an_answer_and_a_free_rerun(server, provider, tmp_path, monkeypatch):
    for k, v in {
        "AGENT_KEY": KEY,
        "AWS_ACCESS_KEY_ID": KEY,
        "AWS_SECRET_ACCESS_KEY": "s",
        "AWS_REGION": "us-east-1",
        "SUPPORT_APP_TOKEN": KEY,
    }.items():
        monkeypatch.setenv(k, v)
    server.config = ServerConfig(api_key=KEY, agent_tool_steps=3)
    server.reset_stats()
    reqs = [
        ModelRequest(
            f"s{i}",
            "agent-model",
            [{"role": "user", "content": f"cancel my order {i}"}],
            tools=TOOLS,
            params={"max_tokens": 100},
        )
        for i in range(3)
    ]
    specs = [
        AgentSpec(max_steps=5, scripted=[{"name": "orders.lookup", "result": {"status": "shipped"}}])
    ] * 3
    store = ResponseStore(tmp_path / "store")
    out = run_agent_loops(build_provider(_endpoint(provider, server), {}), reqs, specs, store)
    for r in out:
        assert r.error_category is None and len(r.trajectory) == 4, (provider, r.error_message)
        assert [c["name"] for c in r.tool_calls] == ["orders.lookup", "orders.cancel", "orders.lookup"]
        assert r.text.startswith("Synthetic final answer after 3 tool steps")
        assert r.trajectory[0]["tool_results"][0]["content"] == '{"status": "shipped"}'
    assert server.stats()["total"] == 12
    again = run_agent_loops(build_provider(_endpoint(provider, server), {}), reqs, specs, store)
    assert server.stats()["total"] == 12 and [r.text for r in again] == [r.text for r in out]
