"""Tool names a provider refuses, mapped both ways.

In: the canonical tool names of a request (as the eval set / golden row declares them, e.g. BFCL's
``api.weather``) and the name pattern a provider accepts. Out: a :class:`ToolNameMap` that renames
tool definitions, ``tool_use`` blocks of the conversation and ``tool_choice`` for the wire
(:meth:`ToolNameMap.wire_request_parts`), and maps the names in the provider's answer back
(:meth:`ToolNameMap.canonical`).

The canonical request (and so the response-store key) always keeps the canonical names; only the
bytes on the wire carry the provider's names. The mapping is deterministic (a pure function of the
name set): invalid characters become ``_``; a name that then collides with another, or is too long,
gets a short hash of the canonical name as suffix. Names already valid are never changed.

Anthropic and OpenAI both accept ``^[a-zA-Z0-9_-]{1,64}$`` (:data:`ANTHROPIC_TOOL_NAME`,
:data:`OPENAI_TOOL_NAME`); Bedrock Converse accepts ``^[a-zA-Z0-9_-]{1,64}$`` as well but starting
with a letter (:data:`BEDROCK_TOOL_NAME`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from eval_pipeline.project.hashing import tool_name_digest

ANTHROPIC_TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
OPENAI_TOOL_NAME = ANTHROPIC_TOOL_NAME
BEDROCK_TOOL_NAME = re.compile(r"^[a-zA-Z][a-zA-Z0-9_-]{0,63}$")
_BAD_CHAR = re.compile(r"[^a-zA-Z0-9_-]")


class ToolNameMap:
    """Canonical tool name <-> the name a provider accepts (``pattern``, max ``max_len`` characters).

    ``ToolNameMap.for_request(tools, messages, tool_choice, pattern)`` collects every name a request
    uses. ``wire(name)`` gives the provider's name, ``canonical(name)`` the canonical one (a name
    the map does not know is returned unchanged). ``identity`` is True when nothing is renamed.
    """

    def __init__(
        self, names: Iterable[str], pattern: re.Pattern[str] = ANTHROPIC_TOOL_NAME, max_len: int = 64
    ):
        self._to_wire: dict[str, str] = {}
        self._to_canonical: dict[str, str] = {}
        names = list(dict.fromkeys(names))
        valid = {n for n in names if pattern.match(n)}
        taken = set(valid)
        for name in names:
            if name in valid:
                wire = name
            else:
                wire = _BAD_CHAR.sub("_", name) or "tool"
                if not pattern.match(wire[:max_len]):
                    wire = "t_" + wire  # e.g. a pattern that needs a leading letter
                if len(wire) > max_len or wire in taken:
                    wire = f"{wire[: max_len - 9]}_{tool_name_digest(name)}"
                taken.add(wire)
            self._to_wire[name] = wire
            self._to_canonical[wire] = name

    @classmethod
    def for_request(
        cls,
        tools: list[dict[str, Any]] | None,
        messages: list[dict[str, Any]] | None = None,
        tool_choice: dict[str, Any] | None = None,
        pattern: re.Pattern[str] = ANTHROPIC_TOOL_NAME,
    ) -> ToolNameMap:
        names = [t["name"] for t in tools or [] if t.get("name")]
        for m in messages or []:
            content = m.get("content")
            if isinstance(content, list):
                names += [b["name"] for b in content if isinstance(b, dict) and b.get("type") == "tool_use"]
        if tool_choice and tool_choice.get("name"):
            names.append(tool_choice["name"])
        return cls(names, pattern)

    @property
    def identity(self) -> bool:
        return all(k == v for k, v in self._to_wire.items())

    def wire(self, name: str) -> str:
        return self._to_wire.get(name, name)

    def canonical(self, name: str) -> str:
        return self._to_canonical.get(name, name)

    def wire_request_parts(
        self,
        tools: list[dict[str, Any]] | None,
        messages: list[dict[str, Any]],
        tool_choice: dict[str, Any] | None,
    ) -> tuple[list[dict[str, Any]] | None, list[dict[str, Any]], dict[str, Any] | None]:
        """(tools, messages, tool_choice) with every tool name in the provider's form (copies; the
        inputs are not changed). Returns the inputs themselves when nothing needs renaming."""
        if self.identity:
            return tools, messages, tool_choice
        tools = [{**t, "name": self.wire(t["name"])} for t in tools] if tools else tools
        out_messages = []
        for m in messages:
            content = m.get("content")
            if isinstance(content, list) and any(
                isinstance(b, dict) and b.get("type") == "tool_use" for b in content
            ):
                content = [
                    {**b, "name": self.wire(b["name"])}
                    if isinstance(b, dict) and b.get("type") == "tool_use"
                    else b
                    for b in content
                ]
                m = {**m, "content": content}
            out_messages.append(m)
        if tool_choice and tool_choice.get("name"):
            tool_choice = {**tool_choice, "name": self.wire(tool_choice["name"])}
        return tools, out_messages, tool_choice
