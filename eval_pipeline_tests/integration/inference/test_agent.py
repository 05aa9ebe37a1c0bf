"""The agent loop (inference/agent.py) and conversation requests against the Anthropic test server,
through the real SDK: tool results fed back, every step stored and replayable, a killed run resumed
with nothing asked twice."""

from __future__ import annotations

import json
from pathlib import Path

from eval_pipeline.inference import AnthropicProvider, ModelRequest, ResponseStore, RetryPolicy
from eval_pipeline.inference.agent import AgentSpec, run_agent_loops
from eval_pipeline.inference.providers import ReplayProvider
from eval_pipeline_tests.support.killed_run import kill_when_stored
from eval_pipeline_tests.support.servers.anthropic_server import AnthropicTestServer, ServerConfig
from eval_pipeline_tests.support.servers.fixtures import module_server

KEY = "test-key-agent"
REPO = Path(__file__).resolve().parents[3]
FAST_RETRY = RetryPolicy(max_attempts=2, initial_backoff_s=0.01, max_backoff_s=0.05)
LOOKUP = {
    "name": "orders.lookup",
    "description": "Look up an order",
    "input_schema": {
        "type": "object",
        "properties": {"order_id": {"type": "string"}},
        "required": ["order_id"],
    },
}
CHANGE = {
    "name": "orders.change",
    "description": "Change an order",
    "input_schema": {
        "type": "object",
        "properties": {"order_id": {"type": "string"}, "size": {"type": "string"}},
        "required": ["order_id"],
    },
}


server = module_server("server", AnthropicTestServer, api_key=KEY)


def _agent_request(i: int) -> ModelRequest:
    return ModelRequest(
        f"agent-{i}",
        "claude-good",
        [{"role": "user", "content": f"Make order {i} a large one."}],
        params={"max_tokens": 64},
        tools=[LOOKUP, CHANGE],
    )


def _conversation_request(i: int) -> ModelRequest:
    return ModelRequest(
        f"conv-{i}",
        "claude-good",
        [
            {"role": "user", "content": f"Hi, I have a question about order {i}."},
            {"role": "assistant", "content": "Sure, what would you like to know?"},
            {"role": "user", "content": "When does it arrive?"},
        ],
        system="You are a support agent.",
        params={"max_tokens": 64},
    )


def test_agent_loop_feeds_scripted_results_back_and_stores_every_step(server, tmp_path):
    server.config = ServerConfig(
        api_key=KEY,
        tool_script_by_match={
            "order 1 a large": [
                [{"name": "orders.lookup", "input": {"order_id": "1"}}],
                [{"name": "orders.change", "input": {"order_id": "1", "size": "large"}}],
                "Done: order 1 is now large.",
            ]
        },
    )
    seen: list[dict] = []
    server.responder = lambda body: seen.append(body)
    server.reset_stats()
    spec = AgentSpec(
        max_steps=5,
        scripted=[
            {
                "name": "orders.lookup",
                "arguments": {"order_id": "1"},
                "result": {"status": "placed", "size": "small"},
            },
            {"name": "orders.change", "result": "ok"},
        ],
    )
    provider = AnthropicProvider(KEY, base_url=server.base_url, retry=FAST_RETRY)
    with ResponseStore(tmp_path / "store") as store:
        [out] = run_agent_loops(provider, [_agent_request(1)], [spec], store)
    assert server.total == 3 and out.error_category is None
    assert out.text == "Done: order 1 is now large."
    assert [c["name"] for c in out.tool_calls] == ["orders.lookup", "orders.change"]
    assert len(out.trajectory) == 3 and out.trajectory[0]["tool_results"][0]["content"] == json.dumps(
        {"size": "small", "status": "placed"}
    )
    # the results went back on the wire as tool_result blocks answering the tool_use ids
    fed = seen[1]["messages"][-1]["content"][0]
    assert fed["type"] == "tool_result" and fed["tool_use_id"] == out.tool_calls[0]["id"]
    assert out.input_tokens > 0 and out.latency_s is not None

    # replayed from the store with no call; and max_steps cuts the loop short
    server.reset_stats()
    with ResponseStore(tmp_path / "store") as store:
        [again] = run_agent_loops(ReplayProvider("anthropic"), [_agent_request(1)], [spec], store)
        [short] = run_agent_loops(
            provider, [_agent_request(1)], [AgentSpec(max_steps=2, scripted=spec.scripted)], store
        )
    assert (
        server.total == 0 and again.cached and again.tool_calls == out.tool_calls and again.text == out.text
    )
    assert len(short.trajectory) == 2 and short.trajectory[-1]["tool_calls"]  # stopped with a call pending


def test_unmatched_tool_call_gets_an_error_result(server):
    server.config = ServerConfig(api_key=KEY, agent_tool_steps=1)
    server.responder = None
    seen: list[dict] = []
    server.responder = lambda body: seen.append(body)
    provider = AnthropicProvider(KEY, base_url=server.base_url, retry=FAST_RETRY)
    [out] = run_agent_loops(provider, [_agent_request(2)], [AgentSpec(max_steps=3)])
    assert len(out.trajectory) == 2 and out.text.startswith("Synthetic final answer")
    fed = seen[1]["messages"][-1]["content"][0]
    assert fed["is_error"] is True and "no result for orders.lookup" in fed["content"]


def test_killed_run_with_conversations_and_agents_resumes_without_asking_twice(server, tmp_path):
    """A process killed mid-run keeps its stored steps; the rerun asks only for the rest."""
    server.config = ServerConfig(api_key=KEY, latency_s=0.05, agent_tool_steps=3)
    server.responder = None
    server.reset_stats()
    store_dir = tmp_path / "store"
    n = 8  # 8 conversations (1 call each) + 8 agents (3 tool steps + the final answer = 4 calls each)
    script = f"""
import sys
sys.path.insert(0, {str(REPO)!r})
from eval_pipeline.inference import AnthropicProvider, ResponseStore
from eval_pipeline.inference.agent import AgentSpec, run_agent_loops
from eval_pipeline_tests.integration.inference.test_agent import _agent_request, _conversation_request
reqs = [_conversation_request(i) for i in range({n})] + [_agent_request(i) for i in range({n})]
specs = [None] * {n} + [AgentSpec(max_steps=6, scripted=[{{"name": "orders.lookup", "result": "shipped"}}])] * {n}
p = AnthropicProvider({KEY!r}, base_url={server.base_url!r}, max_concurrency=2)
run_agent_loops(p, reqs, specs, ResponseStore({str(store_dir)!r}))
"""
    stored = kill_when_stored(script, store_dir, 12, 30, 0.02)
    total_calls = n + 4 * n
    assert 12 <= stored < total_calls, stored
    store = ResponseStore(store_dir)
    already = len(store)
    server.reset_stats()
    reqs = [_conversation_request(i) for i in range(n)] + [_agent_request(i) for i in range(n)]
    specs = [None] * n + [
        AgentSpec(max_steps=6, scripted=[{"name": "orders.lookup", "result": "shipped"}])
    ] * n
    out = run_agent_loops(
        AnthropicProvider(KEY, base_url=server.base_url, max_concurrency=8), reqs, specs, store
    )
    assert server.total == total_calls - already  # every stored step served, none asked twice
    assert all(r.error_category is None for r in out)
    assert all(len(r.trajectory) == 4 and r.text for r in out[n:])
    assert all(r.trajectory is None and r.text for r in out[:n])
    # a third run pays nothing
    server.reset_stats()
    run_agent_loops(AnthropicProvider(KEY, base_url=server.base_url), reqs, specs, ResponseStore(store_dir))
    assert server.total == 0


def test_simulated_user_carries_the_conversation_until_done_stored_and_checked(server, tmp_path):
    from eval_pipeline.evaluators.deterministic import Sample, score_sample, validate_check_specs
    from eval_pipeline.inference.agent import SimulatedUser
    from eval_pipeline.inference.conversation import trajectory_text

    def responder(body):
        if "simulating a customer" in (body.get("system") or ""):
            assert "learn the delivery date" in body["system"]
            answered = sum(
                1 for m in body["messages"] if m["role"] == "user" and m["content"].startswith("Answer")
            )
            return "Thanks. And when does it arrive?" if answered < 2 else "[DONE]"
        users = sum(1 for m in body["messages"] if m["role"] == "user")
        return f"Answer {users}."

    server.config = ServerConfig(api_key=KEY)
    server.responder = responder
    server.reset_stats()
    provider = AnthropicProvider(KEY, base_url=server.base_url, retry=FAST_RETRY)
    spec = AgentSpec(
        max_steps=1, simulate=SimulatedUser("claude-user-sim", "learn the delivery date", max_turns=3)
    )
    req = _conversation_request(1)
    with ResponseStore(tmp_path / "store") as store:
        [out] = run_agent_loops(provider, [req], [spec], store)
    assert server.total == 4  # assistant, user, assistant, user ([DONE])
    roles = [s.get("role", "assistant") for s in out.trajectory]
    assert roles == ["assistant", "simulated_user", "assistant", "simulated_user"]
    assert out.text == "Answer 3." and out.model == "claude-good"  # the assistant's last turn
    assert "[user] Thanks. And when does it arrive?\n[assistant] Answer 3." in trajectory_text(out.trajectory)

    checks = validate_check_specs(
        [
            {"type": "turns", "min": 2, "max": 3},
            {"type": "every_turn", "check": {"type": "regex", "pattern": "^Answer"}},
            {"type": "every_turn", "check": {"type": "contains_all", "values": ["3"]}, "name": "all3"},
        ],
        where="test",
    )
    rows = {
        r["metric"]: (r["passed"], r["reason"])
        for r in score_sample(Sample("s", text=out.text, trajectory=out.trajectory), checks)
    }
    assert rows["turns"][0] and rows["every_turn"][0]
    assert rows["all3"] == (False, "turn 1 of 2: missing ['3']")

    server.reset_stats()  # rerun: every turn (both sides) from the store
    with ResponseStore(tmp_path / "store") as store:
        [again] = run_agent_loops(provider, [req], [spec], store)
    assert server.total == 0 and again.trajectory == out.trajectory
    # the user model on its own endpoint: its turns go there, the assistant's stay here
    user_srv = AnthropicTestServer(ServerConfig(api_key=KEY), responder=responder).start()
    try:
        server.reset_stats()
        own = AgentSpec(
            max_steps=1,
            simulate=SimulatedUser(
                "claude-user-sim",
                "learn the delivery date",
                max_turns=3,
                provider=AnthropicProvider(KEY, base_url=user_srv.base_url, retry=FAST_RETRY),
            ),
        )
        [routed] = run_agent_loops(provider, [_conversation_request(3)], [own])
        assert server.total == 2 and user_srv.total == 2 and routed.text == "Answer 3."
    finally:
        user_srv.stop()
    # max_turns=1: one assistant turn, no simulated user
    server.reset_stats()
    one = AgentSpec(
        max_steps=1, simulate=SimulatedUser("claude-user-sim", "learn the delivery date", max_turns=1)
    )
    [short] = run_agent_loops(provider, [_conversation_request(2)], [one])
    assert server.total == 1 and len(short.trajectory) == 1
