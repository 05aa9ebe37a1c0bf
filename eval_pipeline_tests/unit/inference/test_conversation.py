"""Golden conversation rows -> Anthropic messages (inference/conversation.py) and build_requests."""

from __future__ import annotations

import pandas as pd
import pytest

from eval_pipeline.inference.conversation import ConversationError, row_tools, to_messages, transcript
from eval_pipeline.inference.prompts import build_requests
from eval_pipeline.project.loader import load_project

CONVO = {
    "messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Where is order A7?"},
        {
            "role": "assistant",
            "content": "Let me look.",
            "tool_calls": [{"id": "t1", "name": "orders.lookup", "arguments": {"order_id": "A7"}}],
        },
        {"role": "tool", "tool_call_id": "t1", "content": {"status": "shipped"}},
        {"role": "assistant", "content": "It has shipped."},
        {"role": "user", "content": "When does it arrive?"},
    ]
}


def test_roles_become_anthropic_messages_and_the_template_wraps_the_last_turn():
    system, msgs = to_messages(CONVO, "You are a support bot.", "Customer: When does it arrive?", "row x")
    assert system == "You are a support bot.\n\nBe brief."
    assert [m["role"] for m in msgs] == ["user", "assistant", "user", "assistant", "user"]
    assert msgs[1]["content"][1] == {
        "type": "tool_use",
        "id": "t1",
        "name": "orders.lookup",
        "input": {"order_id": "A7"},
    }
    assert msgs[2]["content"] == [
        {"type": "tool_result", "tool_use_id": "t1", "content": '{"status": "shipped"}'}
    ]
    assert msgs[-1] == {"role": "user", "content": "Customer: When does it arrive?"}
    # two user turns in a row are merged into one message of text blocks
    _, merged = to_messages(
        {"messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]}, None, "B", "row"
    )
    assert merged == [
        {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "B"}]}
    ]
    assert transcript(CONVO).startswith("[system] Be brief.\n\n[user] Where is order A7?")


@pytest.mark.parametrize(
    ("messages", "message"),
    [
        (
            [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}],
            "must end with a user turn",
        ),
        ([], "must end with a user turn"),
        ([{"role": "robot", "content": "hi"}], r"input.messages\[0\] must be an object with 'role'"),
        ([{"role": "tool", "content": "x"}, {"role": "user", "content": "q"}], "needs 'tool_call_id'"),
        ([{"role": "assistant", "content": "x"}, {"role": "user", "content": "q"}], "first non-system turn"),
    ],
)
def test_bad_conversations_name_the_sample_and_the_fix(messages, message):
    with pytest.raises(ConversationError, match=message) as e:
        to_messages({"messages": messages}, None, "q", "golden.jsonl, sample s9")
    assert "sample s9" in str(e.value)


def test_row_tools_are_checked():
    assert row_tools({"tools": [{"name": "a.b", "input_schema": {"type": "object"}}]}) is not None
    with pytest.raises(ConversationError, match=r"input.tools\[0\] needs a non-empty string 'name'"):
        row_tools({"tools": [{"description": "x"}]}, "sample s1")


def _one_turn_golden() -> pd.DataFrame:
    """One golden row whose input is a one-message conversation ("hi")."""
    messages = [{"role": "user", "content": "hi"}]
    return pd.DataFrame(
        [{"sample_id": "c1", "input": {"messages": messages}, "metadata": {}, "expected": "x"}]
    )


def test_build_requests_for_conversation_and_tool_rows_of_the_demo_suite():
    project = load_project()
    suite = project.suites["customer_support"]
    mv = project.registry.production
    es = next(e for e in suite.eval_sets if e.name == "next_turn")
    golden = _one_turn_golden()
    [req] = build_requests(golden, suite, es, mv, "2026-11-20")
    assert req.messages == [{"role": "user", "content": "hi"}] and "conversation partner" in req.system
    assert req.tools is None and req.static_prefix_chars == 0
    es = next(e for e in suite.eval_sets if e.name == "tool_calls")
    tools = [
        {"name": "api.weather", "description": "w", "input_schema": {"type": "object", "properties": {}}}
    ]
    golden = pd.DataFrame(
        [
            {
                "sample_id": "b1",
                "input": {"messages": [{"role": "user", "content": "weather?"}], "tools": tools},
                "metadata": {},
                "expected": [],
            }
        ]
    )
    [req] = build_requests(golden, suite, es, mv, "2026-11-20")
    assert req.tools == tools and req.messages[-1]["content"] == "weather?"


def test_agent_specs_resolve_the_simulated_user_and_the_goal():
    from types import SimpleNamespace

    from eval_pipeline.inference.agent import agent_specs
    from eval_pipeline.inference.types import ModelRequest
    from eval_pipeline.project.tools import SimulateSettings

    project = load_project()
    es = SimpleNamespace(
        agent=None, simulate=SimulateSettings(user="support-bot-v2", goal_from="metadata.goal", max_turns=4)
    )
    golden = pd.DataFrame(
        [
            {"sample_id": "a", "input": "hi", "metadata": {"goal": "get a refund"}, "expected": None},
            {"sample_id": "b", "input": "hi", "metadata": {}, "expected": None},
        ]
    )
    reqs = [ModelRequest("a", "m", [{"role": "user", "content": "hi"}])]
    [spec] = agent_specs(es, golden, reqs, "suite.yaml: eval set x", project.registry)
    assert spec.simulate.model == "claude-3-5-haiku-latest" and spec.simulate.goal == "get a refund"
    assert spec.simulate.max_turns == 4 and spec.max_steps == 1
    with pytest.raises(ValueError, match=r"sample b: no goal at metadata.goal"):
        agent_specs(es, golden, [ModelRequest("b", "m", [])], "suite.yaml: eval set x", project.registry)
    es.simulate = SimulateSettings(user="nobody", max_turns=2)
    with pytest.raises(ValueError, match="simulate.user 'nobody' is not a model version"):
        agent_specs(es, golden, reqs, "suite.yaml: eval set x", project.registry)
    with pytest.raises(ValueError, match="input.<key>"):
        SimulateSettings(user="x", goal_from="goal")


def fake_backend(name, arguments, sample_id):
    """A tool backend the suite names (agent.tool_results: module:function)."""
    if name == "fail":
        raise RuntimeError("backend down")
    return {"tool": name, "sample": sample_id, **arguments}


def test_tool_results_from_a_named_function_and_model_version_tools():
    from eval_pipeline.inference.agent import AgentSpec, import_tool_fn
    from eval_pipeline.project.tools import ToolSpec

    fn = import_tool_fn(f"{__name__}:fake_backend", "suite.yaml: agent.tool_results")
    spec = AgentSpec(scripted=[{"name": "lookup", "arguments": {"id": 1}, "result": "scripted"}], tool_fn=fn)
    assert spec.result("lookup", {"id": 1}, "s") == ("scripted", False)  # the row's script first
    assert spec.result("lookup", {"id": 2}, "s") == ({"tool": "lookup", "sample": "s", "id": 2}, False)
    value, is_error = spec.result("fail", {}, "s")
    assert is_error and "backend down" in value
    for bad, msg in (("no_colon", "give 'package.module:function'"), ("nosuch.module:f", "cannot import")):
        with pytest.raises(ValueError, match=msg):
            import_tool_fn(bad, "suite.yaml: agent.tool_results")

    project = load_project()
    suite = project.suites["customer_support"]
    mv = project.registry.production
    key = mv.key
    mv2 = mv.model_copy(update={"tools": [ToolSpec(name="kb.search", input_schema={"type": "object"})]})
    mv2._prompt_texts, mv2._prompt_paths = mv._prompt_texts, mv._prompt_paths
    assert mv2.key != key  # declaring tools is a new model version
    es = next(e for e in suite.eval_sets if e.name == "next_turn")
    golden = _one_turn_golden()
    [req] = build_requests(golden, suite, es, mv2, "2026-11-20")
    assert [t["name"] for t in req.tools] == ["kb.search"]
    with pytest.raises(ValueError, match="type: object"):
        ToolSpec(name="x", input_schema={"type": "string"})
