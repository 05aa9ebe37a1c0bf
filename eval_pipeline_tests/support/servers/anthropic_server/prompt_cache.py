"""The simulated prompt cache: ``cache_control`` breakpoints, the prefixes they mark, token counts.

In: an Anthropic-shaped request body.
Out: the body as it would be without cache marks (the scripted model's answer must not depend on them),
the (model, prefix) pairs a request marks, its plain text and token counts (4 characters a token).
"""

from __future__ import annotations

import json
from typing import Any

from eval_pipeline.mock_server.answers import system_text as _system_text


def without_cache_marks(body: dict[str, Any]) -> dict[str, Any]:
    """The request as it would be without prompt caching: ``cache_control`` removed, text blocks
    that only carried it joined back into strings (unchanged when nothing is marked)."""
    if "cache_control" not in json.dumps(body):
        return body

    def text_only(blocks: Any) -> bool:
        return isinstance(blocks, list) and all(
            isinstance(b, dict) and b.get("type") == "text" for b in blocks
        )

    out = dict(body)
    if text_only(body.get("system")):
        out["system"] = "".join(b["text"] for b in body["system"])
    out["messages"] = [
        {**m, "content": "".join(b["text"] for b in m["content"])} if text_only(m.get("content")) else m
        for m in body.get("messages") or []
    ]
    if body.get("tools"):
        out["tools"] = [{k: v for k, v in t.items() if k != "cache_control"} for t in body["tools"]]
    return out


def tokens(text: str) -> int:
    return max(1, len(text) // 4)


def plain_text(body: dict[str, Any]) -> str:
    """Tools, system and message text of a request, without cache markers (for token counts)."""
    parts = [json.dumps(t.get("input_schema", {})) + t.get("name", "") for t in body.get("tools") or []]
    parts.append(_system_text(body))
    for msg in body.get("messages") or []:
        content = msg.get("content")
        parts.append(
            content
            if isinstance(content, str)
            else "".join(b.get("text", "") for b in content or [] if isinstance(b, dict))
        )
    return "".join(parts)


def cache_prefixes(body: dict[str, Any]) -> list[tuple[str, str]]:
    """(model, prefix text) at each ``cache_control`` breakpoint, in prompt order (tools, system, messages)."""
    model = body.get("model", "")
    out: list[tuple[str, str]] = []
    text = ""
    for tool in body.get("tools") or []:
        text += json.dumps(tool.get("input_schema", {})) + tool.get("name", "")
        if tool.get("cache_control"):
            out.append((model, text))
    system = body.get("system")
    blocks = system if isinstance(system, list) else ([{"text": system}] if system else [])
    for b in blocks:
        text += b.get("text", "")
        if b.get("cache_control"):
            out.append((model, text))
    for msg in body.get("messages") or []:
        content = msg.get("content")
        for b in [{"text": content}] if isinstance(content, str) else (content or []):
            text += b.get("text", "") if isinstance(b, dict) else ""
            if isinstance(b, dict) and b.get("cache_control"):
                out.append((model, text))
    return out
