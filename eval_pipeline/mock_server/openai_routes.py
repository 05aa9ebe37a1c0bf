"""The synthetic server's OpenAI-compatible route: ``POST /v1/chat/completions`` (streaming or not).

In: a Chat Completions request (``messages`` with ``system`` / ``user`` roles, string or text-part
content; ``tools`` as ``{"type": "function", "function": {"name", "parameters"}}``). Out: the same
synthetic answer the Anthropic route gives (:class:`~eval_pipeline.mock_server.answers.SyntheticModel`
sees the request in Anthropic shape), as a ``chat.completion`` JSON or ``chat.completion.chunk`` SSE
lines ending ``data: [DONE]`` (usage in the last chunk when ``stream_options.include_usage``).
Plain Python.
"""

from __future__ import annotations

import json
import math
import time
import uuid
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from eval_pipeline.mock_server.answers import Answer


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "\n".join(
        p.get("text", "") for p in content or [] if isinstance(p, dict) and p.get("type") == "text"
    )


def as_anthropic(body: dict[str, Any]) -> dict[str, Any]:
    """The parts of a Chat Completions request the synthetic model reads, in Anthropic shape."""
    system = "\n".join(
        _text(m.get("content")) for m in body.get("messages") or [] if m.get("role") == "system"
    )
    messages = [
        {"role": m["role"], "content": _text(m.get("content"))}
        for m in body.get("messages") or []
        if m.get("role") in ("user", "assistant")
    ]
    tools = [
        {"name": t["function"]["name"], "input_schema": t["function"].get("parameters") or {}}
        for t in body.get("tools") or []
        if isinstance(t, dict) and t.get("type") == "function"
    ]
    out: dict[str, Any] = {"model": body.get("model", ""), "system": system, "messages": messages}
    if tools:
        out["tools"] = tools
        choice = body.get("tool_choice")
        if isinstance(choice, dict) and choice.get("function", {}).get("name"):
            out["tool_choice"] = {"type": "tool", "name": choice["function"]["name"]}
    return out


def completion(body: dict[str, Any], answer: Answer, request_id: str) -> tuple[dict[str, Any], list[bytes]]:
    """(the ``chat.completion`` JSON, its streamed form as SSE lines) for a synthetic answer."""
    model = body.get("model", "")
    limit = int(body.get("max_tokens") or body.get("max_completion_tokens") or 1024) * 4
    prompt_tokens = max(1, math.ceil(len(json.dumps(body.get("messages"), default=str)) / 4))
    calls: list[dict[str, Any]] = []
    text: str | None
    if answer.tool_input is not None:
        args = json.dumps(answer.tool_input)
        calls = [
            {
                "id": "call_" + uuid.uuid4().hex[:20],
                "type": "function",
                "function": {"name": answer.tool_name or "tool", "arguments": args},
            }
        ]
        text, finish, out_chars = None, "tool_calls", len(args)
    else:
        text = answer.text or ""
        finish = "stop"
        if len(text) > limit:
            text, finish = text[:limit], "length"
        out_chars = len(text)
    usage = {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": max(1, math.ceil(out_chars / 4)),
        "total_tokens": prompt_tokens + max(1, math.ceil(out_chars / 4)),
    }
    base = {"id": "chatcmpl-" + request_id[-16:], "created": int(time.time()), "model": model}
    message: dict[str, Any] = {"role": "assistant", "content": text}
    if calls:
        message["tool_calls"] = calls
    full = {
        **base,
        "object": "chat.completion",
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": usage,
    }

    def chunk(delta: dict[str, Any], finish_reason: str | None = None, **extra: Any) -> bytes:
        data = {
            **base,
            "object": "chat.completion.chunk",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
            **extra,
        }
        return f"data: {json.dumps(data)}\n\n".encode()

    lines = [chunk({"role": "assistant", "content": ""})]
    if calls:
        c = calls[0]
        lines.append(
            chunk(
                {
                    "tool_calls": [
                        {
                            "index": 0,
                            "id": c["id"],
                            "type": "function",
                            "function": {"name": c["function"]["name"], "arguments": ""},
                        }
                    ]
                }
            )
        )
        lines.append(
            chunk({"tool_calls": [{"index": 0, "function": {"arguments": c["function"]["arguments"]}}]})
        )
    else:
        assert text is not None  # no tool call: the answer's text
        cut = max(1, len(text) // 3)
        lines += [chunk({"content": part}) for part in (text[:cut], text[cut:]) if part]
    lines.append(chunk({}, finish))
    if (body.get("stream_options") or {}).get("include_usage"):
        lines.append(
            f"data: {json.dumps({**base, 'object': 'chat.completion.chunk', 'choices': [], 'usage': usage})}\n\n".encode()
        )
    lines.append(b"data: [DONE]\n\n")
    return full, lines
