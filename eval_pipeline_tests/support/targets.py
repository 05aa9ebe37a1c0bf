"""Python targets for the ``python`` provider (``provider: python``, ``endpoint: {function: ...}``).

* :func:`support_router` - a keyword router for the small routing suite of the orchestration tests:
  it picks the allowed intent whose keywords the message contains (a plain function, run in the
  provider's thread pool). With tools it calls the first one with arguments built from its schema.
* :func:`slow_router` - the same answer after ``LATENCY_S`` of ``asyncio.sleep`` (an ``async def``
  target, awaited on the event loop; the inference benchmark's python point).
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

LATENCY_S = 0.0
KEYWORDS = {
    "card_arrival": ("arriv", "new card", "where is"),
    "lost_or_stolen_card": ("stole", "lost"),
    "exchange_rate": ("rate", "euro"),
    "top_up_failed": ("top up", "top-up"),
}


def _text(request: dict[str, Any]) -> str:
    for m in reversed(request["messages"]):
        if m["role"] == "user":
            c = m["content"]
            return (
                c if isinstance(c, str) else " ".join(b.get("text", "") for b in c if b.get("type") == "text")
            )
    return ""


def support_router(request: dict[str, Any]) -> dict[str, Any]:
    """The intent of the last user message, from keywords (usage: 4 characters per token)."""
    text = _text(request)
    if request.get("tools"):
        tool = request["tools"][0]
        props = (tool.get("input_schema") or {}).get("properties") or {}
        args = {k: (1 if v.get("type") == "integer" else text[:20]) for k, v in props.items()}
        return {
            "tool_calls": [{"name": tool["name"], "arguments": args}],
            "usage": {"input_tokens": len(text) // 4, "output_tokens": 5},
        }
    m = re.search(r"Allowed intents:\s*([^\n]+)", text)
    allowed = [s.strip() for s in m.group(1).split(",")] if m else list(KEYWORDS)
    message = text.lower().split("message:", 1)[-1]
    label = next((lab for lab in allowed if any(k in message for k in KEYWORDS.get(lab, ()))), allowed[0])
    return {"text": label, "usage": {"input_tokens": max(1, len(text) // 4), "output_tokens": 3}}


async def slow_router(request: dict[str, Any]) -> dict[str, Any]:
    await asyncio.sleep(LATENCY_S)
    return support_router(request)
