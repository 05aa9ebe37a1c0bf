"""The scripted model: what the test server answers to a request, deterministic in the request.

In: an Anthropic-shaped request body (every vendor server translates its own shape to it first).
Out: an :class:`Answer`: refusals, agent steps (scripted or default), tool calls fitting the tool's schema
(or the judge hook's), answer-key labels at the model's accuracy, or a synthetic text.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

# The answer-key helpers are the package's (eval-pipeline serve-model uses the same ones).
from eval_pipeline.mock_server.answers import parse_labels, synth_from_schema
from eval_pipeline.mock_server.answers import system_text as _system_text
from eval_pipeline.mock_server.answers import unit as _unit
from eval_pipeline_tests.support.servers.anthropic_server.config import (
    DEGRADED_ACCURACY,
    GOOD_ACCURACY,
    REFUSAL_TEXT,
    Answer,
    ServerConfig,
)
from eval_pipeline_tests.support.servers.anthropic_server.prompt_cache import without_cache_marks

if TYPE_CHECKING:
    from eval_pipeline_tests.support.servers.anthropic_server.core import ScriptedServer


def _text(message: dict[str, Any]) -> str:
    """A message's text: its string content, or its text blocks joined by newlines."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    return "\n".join(
        b.get("text", "") for b in content or [] if isinstance(b, dict) and b.get("type") == "text"
    )


def user_text(body: dict[str, Any]) -> str:
    """Concatenated text of the last user message."""
    users = [m for m in body.get("messages") or [] if m.get("role") == "user"]
    return _text(users[-1]) if users else ""


def _first_user_text(body: dict[str, Any]) -> str:
    users = [m for m in body.get("messages") or [] if m.get("role") == "user"]
    return _text(users[0]) if users else ""


class DefaultResponder:
    """Deterministic scripted model: good / degraded variants, answer key, labels, judge tool calls."""

    def __init__(self, server: ScriptedServer):
        self.server = server

    def accuracy(self, model: str) -> float:
        cfg = self.server.config
        if model in cfg.model_accuracy:
            return cfg.model_accuracy[model]
        return DEGRADED_ACCURACY if "degraded" in model.lower() else GOOD_ACCURACY

    def __call__(self, body: dict[str, Any]) -> Answer:
        cfg = self.server.config
        model = body.get("model", "")
        text = user_text(body)
        plain = without_cache_marks(body)  # a model's answer does not depend on cache_control
        seed = [
            model,
            plain.get("system"),
            plain.get("messages"),
            plain.get("tools"),
            self.server.occurrence(plain),
        ]
        u = _unit(seed)
        if any(s in text for s in cfg.refuse_matching):
            return Answer(text=REFUSAL_TEXT, stop_reason="refusal")
        if body.get("tools") and not (body.get("tool_choice") or {}).get("name"):
            agent = _agent_answer(cfg, body, u)
            if agent is not None:
                return agent
        if body.get("tools"):
            tools = body["tools"]
            choice = body.get("tool_choice") or {}
            name = choice.get("name") or tools[0]["name"]
            tool = next((t for t in tools if t.get("name") == name), tools[0])
            hook = self.server.judge_hook
            tool_input = hook(body) if hook else synth_from_schema(tool.get("input_schema", {}), u)
            return Answer(tool_input=tool_input, tool_name=tool["name"])
        labels = parse_labels(text) or parse_labels(_system_text(body))
        for needle, expected in cfg.answer_key.items():
            if needle in text:
                if u < self.accuracy(model):
                    return Answer(text=expected)
                wrong = [lab for lab in labels if lab.lower() != expected.lower()]
                return Answer(text=wrong[int(_unit(u, "w") * len(wrong))] if wrong else f"not {expected}")
        if labels:
            return Answer(text=labels[int(u * len(labels))])
        return Answer(text=f"Synthetic answer {int(u * 16**8):08x} to: {text[:60]}")


def _tool_steps_taken(body: dict[str, Any]) -> int:
    """Assistant turns with tool_use blocks so far (the agent loop's step index)."""
    return sum(
        1
        for m in body.get("messages") or []
        if m.get("role") == "assistant"
        and isinstance(m.get("content"), list)
        and any(isinstance(b, dict) and b.get("type") == "tool_use" for b in m["content"])
    )


def wire_name(scripted: str, offered: list[str]) -> str:
    """The offered tool a scripted (canonical) name stands for: itself, or its renamed form
    (invalid characters as ``_``, with a hash suffix when that collided)."""
    if scripted in offered:
        return scripted
    base = re.sub(r"[^a-zA-Z0-9_-]", "_", scripted)
    hashed = [n for n in offered if re.fullmatch(re.escape(base[:55]) + r"_[0-9a-f]{8}", n)]
    return hashed[0] if hashed else base


def _agent_answer(cfg: ServerConfig, body: dict[str, Any], u: float) -> Answer | None:
    """The next step of an agent conversation (tools offered, none forced), or None for the old
    behaviour (a first request without a script: one tool call fitting the first tool's schema)."""
    step = _tool_steps_taken(body)
    first = _first_user_text(body)
    tools = body["tools"]
    for needle, script in cfg.tool_script_by_match.items():
        if needle in first:
            item = script[step] if step < len(script) else f"Final answer after {step} tool steps."
            if isinstance(item, str):
                return Answer(text=item)
            names = [t["name"] for t in tools]
            calls = [
                {"name": wire_name(c["name"], names), "input": c.get("input", c.get("arguments", {}))}
                for c in item
            ]
            return Answer(tool_calls=calls)
    if step == 0:
        return None
    if step < cfg.agent_tool_steps:
        tool = tools[step % len(tools)]
        return Answer(
            tool_calls=[{"name": tool["name"], "input": synth_from_schema(tool.get("input_schema", {}), u)}]
        )
    return Answer(text=f"Synthetic final answer after {step} tool steps to: {first[:60]}")
