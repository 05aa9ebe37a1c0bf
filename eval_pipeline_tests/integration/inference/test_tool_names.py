"""ModelResponse.tool_calls: every tool_use block of an Anthropic answer (streamed, unary), tool names
the API refuses mapped both ways, and the store round trip. Real SDK against the loopback server."""

from __future__ import annotations

import re

import pytest

from eval_pipeline.inference import AnthropicProvider, ModelRequest, ResponseStore, RetryPolicy, run_requests
from eval_pipeline.inference.tool_names import ANTHROPIC_TOOL_NAME, BEDROCK_TOOL_NAME, ToolNameMap
from eval_pipeline_tests.support.servers.anthropic_server import AnthropicTestServer, ServerConfig
from eval_pipeline_tests.support.servers.fixtures import module_server

KEY = "test-key-tools"
FAST_RETRY = RetryPolicy(max_attempts=2, initial_backoff_s=0.01, max_backoff_s=0.05)
TOOLS = [
    {
        "name": "api.weather",
        "description": "Weather for a city",
        "input_schema": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "unit": {"type": "string"}},
            "required": ["city"],
        },
    },
    {
        "name": "api_weather",  # collides with the mapped form of api.weather
        "description": "Another tool",
        "input_schema": {"type": "object", "properties": {"q": {"type": "string"}}},
    },
]


server = module_server("server", AnthropicTestServer, api_key=KEY)


def test_tool_name_map_is_deterministic_collision_free_and_reversible():
    names = ["api.weather", "api_weather", "ChaDri.change_drink", "x" * 80, "ok-name", "1abc"]
    m = ToolNameMap(names)
    wires = [m.wire(n) for n in names]
    assert len(set(wires)) == len(names)
    assert all(ANTHROPIC_TOOL_NAME.match(w) for w in wires)
    assert m.wire("api_weather") == "api_weather" and m.wire("ok-name") == "ok-name"  # valid: unchanged
    assert m.wire("api.weather") != "api_weather"
    assert [m.canonical(w) for w in wires] == names
    assert ToolNameMap(reversed(names)).wire("api.weather") == m.wire("api.weather")
    b = ToolNameMap(names, BEDROCK_TOOL_NAME)
    assert all(BEDROCK_TOOL_NAME.match(b.wire(n)) for n in names)
    assert ToolNameMap(["a", "b_c"]).identity


@pytest.mark.parametrize("stream", [True, False])
def test_tool_calls_parallel_blocks_with_canonical_names_and_store_round_trip(server, tmp_path, stream):
    server.config = ServerConfig(
        api_key=KEY,
        tool_script_by_match={
            "weather in Paris": [
                [
                    {"name": "api.weather", "input": {"city": "Paris"}},
                    {"name": "api_weather", "input": {"q": "rain"}},
                ],
                "It is sunny.",
            ]
        },
    )
    seen: list[dict] = []
    server.responder = lambda body: seen.append(body)  # None: the default responder answers
    provider = AnthropicProvider(KEY, base_url=server.base_url, retry=FAST_RETRY, stream=stream)
    req = ModelRequest(
        "s1", "claude-good", [{"role": "user", "content": "What is the weather in Paris?"}], tools=TOOLS
    )
    with ResponseStore(tmp_path / "store") as store:
        [resp] = run_requests(provider, [req], store)
    # the wire carried only names the API accepts
    assert all(re.match(r"^[a-zA-Z0-9_-]{1,64}$", t["name"]) for t in seen[0]["tools"])
    assert resp.error_category is None, resp.error_message
    assert [c["name"] for c in resp.tool_calls] == ["api.weather", "api_weather"]
    assert resp.tool_calls[0]["arguments"] == {"city": "Paris"}
    assert all(c["id"].startswith("toolu_") for c in resp.tool_calls)
    assert resp.tool_input == {"city": "Paris"}
    # the store gives the same calls back, and a rerun pays nothing
    before = server.total
    with ResponseStore(tmp_path / "store") as store:
        [again] = run_requests(provider, [req], store)
    assert server.total == before and again.cached
    assert again.tool_calls == resp.tool_calls

    # the conversation continues with the calls in canonical form; the provider renames them on the wire
    follow = ModelRequest(
        "s1",
        "claude-good",
        [
            req.messages[0],
            {
                "role": "assistant",
                "content": [
                    {"type": "tool_use", "id": c["id"], "name": c["name"], "input": c["arguments"]}
                    for c in resp.tool_calls
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": c["id"], "content": "ok"} for c in resp.tool_calls
                ],
            },
        ],
        tools=TOOLS,
    )
    [final] = run_requests(provider, [follow])
    assert final.text == "It is sunny." and final.tool_calls is None
    sent = seen[-1]["messages"][1]["content"]
    assert {b["name"] for b in sent} == {t["name"] for t in seen[-1]["tools"]}
