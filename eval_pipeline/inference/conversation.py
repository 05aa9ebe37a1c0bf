"""Golden rows that carry a conversation or tools, turned into Anthropic Messages.

In: a golden row's ``input`` (``{messages: [{role, content}, ...], tools?: [...], tool_results?: [...]}``
with roles ``system``, ``user``, ``assistant``, ``tool``) and the user text the prompt template
rendered for the last user turn. Out: ``(system, messages)`` in Anthropic Messages format: system
turns joined into the system prompt (after the template's), consecutive turns of one role merged,
``tool`` turns as ``tool_result`` blocks, an assistant turn's ``tool_calls`` as ``tool_use`` blocks.
The model answers the last user turn (next-turn evaluation); a conversation that does not end with
a user turn is a :class:`ConversationError` naming the sample and the fix.
"""

from __future__ import annotations

import json
from typing import Any

ROLES = ("system", "user", "assistant", "tool")


class ConversationError(ValueError):
    pass


def is_conversation(sample_input: Any) -> bool:
    return isinstance(sample_input, dict) and isinstance(sample_input.get("messages"), list)


def _text(content: Any) -> str:
    return content if isinstance(content, str) else json.dumps(content, ensure_ascii=False)


def last_user_text(messages: list[dict[str, Any]] | None, sep: str = "\n") -> str:
    """The text of the last user message of an Anthropic-format conversation: its string content,
    or its text blocks joined by ``sep`` ("" when there is no user message)."""
    for msg in reversed(messages or []):
        if msg.get("role") == "user":
            content = msg.get("content")
            if isinstance(content, str):
                return content
            return sep.join(
                b.get("text", "") for b in content or [] if isinstance(b, dict) and b.get("type") == "text"
            )
    return ""


def last_user_turn(sample_input: dict[str, Any], where: str) -> str:
    """The content of the last turn, which must be a user turn (what the model answers)."""
    msgs = sample_input["messages"]
    for i, m in enumerate(msgs):
        if not isinstance(m, dict) or m.get("role") not in ROLES or "content" not in m:
            raise ConversationError(
                f"{where}: input.messages[{i}] must be an object with 'role' (one of {ROLES}) and 'content'"
            )
    if not msgs or msgs[-1]["role"] != "user":
        raise ConversationError(
            f"{where}: input.messages must end with a user turn (the model answers it); "
            f"drop the trailing {msgs[-1]['role'] if msgs else 'nothing'!r} turn or add the user turn it answers"
        )
    return _text(msgs[-1]["content"])


def to_messages(
    sample_input: dict[str, Any], template_system: str | None, last_user: str, where: str
) -> tuple[str | None, list[dict[str, Any]]]:
    """(system, messages): earlier turns as given, the last user turn replaced by ``last_user``
    (the template's wrapping of it)."""
    last_user_turn(sample_input, where)
    turns = sample_input["messages"]
    systems = [template_system] if template_system else []
    out: list[dict[str, Any]] = []

    def add(role: str, blocks: list[dict[str, Any]] | str) -> None:
        if out and out[-1]["role"] == role:
            prev = out[-1]["content"]
            prev = [{"type": "text", "text": prev}] if isinstance(prev, str) else prev
            new = [{"type": "text", "text": blocks}] if isinstance(blocks, str) else blocks
            out[-1] = {"role": role, "content": prev + new}
        else:
            out.append({"role": role, "content": blocks})

    for i, m in enumerate(turns):
        role, content = m["role"], m["content"]
        if i == len(turns) - 1:
            add("user", last_user)
        elif role == "system":
            systems.append(_text(content))
        elif role == "tool":
            call_id = m.get("tool_call_id") or m.get("tool_use_id")
            if not call_id:
                raise ConversationError(f"{where}: input.messages[{i}] (role tool) needs 'tool_call_id'")
            add("user", [{"type": "tool_result", "tool_use_id": call_id, "content": _text(content)}])
        elif role == "assistant" and m.get("tool_calls"):
            blocks = [{"type": "text", "text": _text(content)}] if content else []
            blocks += [
                {"type": "tool_use", "id": c["id"], "name": c["name"], "input": c.get("arguments", {})}
                for c in m["tool_calls"]
            ]
            add("assistant", blocks)
        else:
            add(role, content if isinstance(content, (str, list)) else _text(content))
    if out and out[0]["role"] != "user":
        raise ConversationError(
            f"{where}: the first non-system turn of input.messages must be a user turn (the Messages API starts with one)"
        )
    return ("\n\n".join(systems) or None), out


def row_tools(sample_input: Any, where: str = "golden row") -> list[dict[str, Any]] | None:
    """The golden row's own tools (``input.tools``: ``[{name, description, input_schema}]``), or None;
    a tool without a string ``name`` or with a non-object ``input_schema`` is a ConversationError."""
    if not isinstance(sample_input, dict) or "tools" not in sample_input:
        return None
    tools = sample_input["tools"]
    if not isinstance(tools, list):
        raise ConversationError(f"{where}: input.tools must be a list of {{name, description, input_schema}}")
    for i, t in enumerate(tools):
        if not isinstance(t, dict) or not isinstance(t.get("name"), str) or not t["name"]:
            raise ConversationError(f"{where}: input.tools[{i}] needs a non-empty string 'name'")
        if not isinstance(t.get("input_schema", {}), dict):
            raise ConversationError(
                f"{where}: input.tools[{i}] ({t['name']}): 'input_schema' must be a JSON Schema object"
            )
    return tools or None


def transcript(sample_input: dict[str, Any]) -> str:
    """A conversation as readable text for a judge: one ``[role] content`` paragraph per turn."""
    lines = []
    for m in sample_input.get("messages") or []:
        calls = m.get("tool_calls") or []
        text = _text(m.get("content", ""))
        if calls:
            text += "".join(
                f"\n  -> {c.get('name')}({json.dumps(c.get('arguments', {}), sort_keys=True)})" for c in calls
            )
        lines.append(f"[{m.get('role')}] {text}")
    return "\n\n".join(lines)


def trajectory_text(steps: list[dict[str, Any]] | None, calls: list[dict[str, Any]] | None = None) -> str:
    """An answer's tool use as text for a judge: per step the calls and the results fed back
    (``calls`` alone when the answer was one model call)."""
    steps = steps or ([{"tool_calls": calls}] if calls else [])
    out = []
    if any(s.get("role") == "simulated_user" for s in steps):  # a simulated conversation: the transcript
        return "\n".join(
            f"[{'user' if s.get('role') == 'simulated_user' else 'assistant'}] {s.get('text') or ''}"
            for s in steps
            if s.get("role") == "simulated_user" or s.get("final")
        )
    for n, s in enumerate(steps):
        for c in s.get("tool_calls") or []:
            out.append(
                f"step {n + 1}: called {c.get('name')}({json.dumps(c.get('arguments', {}), sort_keys=True)})"
            )
        for r in s.get("tool_results") or []:
            out.append(
                f"step {n + 1}: {r.get('name')} returned{' an error' if r.get('is_error') else ''}: {r.get('content')}"
            )
    return "\n".join(out)
