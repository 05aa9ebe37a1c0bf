"""Wire formats: the canonical request (Anthropic Messages format) as OpenAI Chat Completions and Bedrock Converse.

In: a :class:`~eval_pipeline.inference.types.ModelRequest` - ``messages`` with roles user / assistant,
content a string or blocks (``text``, ``tool_use``, ``tool_result``), ``system``, ``params``, ``tools``
as ``{name, description, input_schema}`` and ``tool_choice`` (``{"type": "auto" | "any" | "tool" |
"none", "name"}``). Out: the keyword arguments of ``chat.completions.create`` (:func:`openai_body`) or
of ``converse`` (:func:`converse_body`), and back: tool calls as ``{"id", "name", "arguments"}``.

Tool names a vendor refuses (BFCL's have dots) are renamed on the wire and back by
:class:`~.tool_names.ToolNameMap` (:func:`tool_names`); the canonical request, and so its store key,
keeps the declared names. Stop reasons are normalised to the
Anthropic vocabulary (``end_turn``, ``tool_use``, ``max_tokens``, ``stop_sequence``, ``refusal``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from eval_pipeline.inference.tool_names import OPENAI_TOOL_NAME, ToolNameMap
from eval_pipeline.inference.types import ModelRequest

# Vendor stop reasons -> the Anthropic vocabulary the rest of the pipeline reads.
OPENAI_STOP = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}
BEDROCK_STOP = {
    "end_turn": "end_turn",
    "tool_use": "tool_use",
    "max_tokens": "max_tokens",
    "stop_sequence": "stop_sequence",
    "guardrail_intervened": "refusal",
    "content_filtered": "refusal",
    "model_context_window_exceeded": "max_tokens",
}


def anthropic_stop(vendor: Mapping[str, str], reason: str | None) -> str | None:
    """A vendor's stop reason in the Anthropic vocabulary through its table (``OPENAI_STOP``,
    ``BEDROCK_STOP``); a reason the table lacks stays as it is, None stays None."""
    return vendor.get(reason, reason) if reason is not None else None


def tool_names(request: ModelRequest, pattern: re.Pattern[str] = OPENAI_TOOL_NAME) -> ToolNameMap:
    """The name map of a request: its declared tools, every tool_use name in its history, its tool_choice."""
    return ToolNameMap.for_request(request.tools, request.messages, request.tool_choice, pattern)


def _text_of(content: Any) -> str:
    """Text of a string or a list of blocks (text blocks joined; other blocks as JSON)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    parts = []
    for b in content:
        if isinstance(b, dict) and b.get("type") == "text":
            parts.append(b.get("text", ""))
        else:
            parts.append(json.dumps(b, ensure_ascii=False, sort_keys=True))
    return "".join(parts)


def _blocks(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return [b for b in content or [] if isinstance(b, dict)]


# ----------------------------------------------------------------------------- OpenAI Chat Completions


def openai_messages(request: ModelRequest, names: ToolNameMap) -> list[dict[str, Any]]:
    """Anthropic-format messages (+ system) as Chat Completions messages."""
    out: list[dict[str, Any]] = []
    if request.system:
        out.append({"role": "system", "content": request.system})
    for m in request.messages:
        role, content = m.get("role"), m.get("content")
        if isinstance(content, str):
            out.append({"role": role, "content": content})
            continue
        blocks = _blocks(content)
        if role == "assistant":
            msg: dict[str, Any] = {
                "role": "assistant",
                "content": _text_of([b for b in blocks if b.get("type") == "text"]) or None,
            }
            calls = [
                {
                    "id": b.get("id") or f"call_{i}",
                    "type": "function",
                    "function": {
                        "name": names.wire(b["name"]),
                        "arguments": json.dumps(b.get("input") or {}, ensure_ascii=False),
                    },
                }
                for i, b in enumerate(blocks)
                if b.get("type") == "tool_use"
            ]
            if calls:
                msg["tool_calls"] = calls
            out.append(msg)
            continue
        for b in blocks:  # tool results answer the previous assistant turn, so they come first
            if b.get("type") == "tool_result":
                out.append(
                    {
                        "role": "tool",
                        "tool_call_id": b.get("tool_use_id", ""),
                        "content": _text_of(b.get("content")),
                    }
                )
        rest = [b for b in blocks if b.get("type") != "tool_result"]
        if rest:
            out.append({"role": role, "content": _text_of(rest)})
    return out


def openai_tools(request: ModelRequest, names: ToolNameMap) -> list[dict[str, Any]] | None:
    if not request.tools:
        return None
    return [
        {
            "type": "function",
            "function": {
                "name": names.wire(t["name"]),
                "description": t.get("description", ""),
                "parameters": t.get("input_schema") or {"type": "object", "properties": {}},
            },
        }
        for t in request.tools
    ]


def openai_tool_choice(choice: dict[str, Any] | None, names: ToolNameMap) -> Any:
    if not choice:
        return None
    kind = choice.get("type")
    if kind == "tool":
        return {"type": "function", "function": {"name": names.wire(choice["name"])}}
    return {"any": "required", "auto": "auto", "none": "none"}.get(kind) if kind else None


# A request's params under each API's names (the params an API has no argument for go where its body says).
OPENAI_PARAMS = {"temperature": "temperature", "top_p": "top_p", "stop_sequences": "stop", "seed": "seed"}
CONVERSE_INFERENCE_PARAMS = {
    "max_tokens": "maxTokens",
    "temperature": "temperature",
    "top_p": "topP",
    "stop_sequences": "stopSequences",
}


def _move_params(params: dict[str, Any], names: dict[str, str], into: dict[str, Any]) -> None:
    """Pop each param that ``names`` maps (ours -> the API's name) from ``params`` into ``into``, renamed."""
    for ours, theirs in names.items():
        if ours in params:
            into[theirs] = params.pop(ours)


def openai_body(
    request: ModelRequest, names: ToolNameMap, max_tokens_param: str = "max_tokens"
) -> dict[str, Any]:
    """Keyword arguments of ``chat.completions.create`` (without ``stream``); params the SDK has no
    argument for go in ``extra_body``."""
    params = dict(request.params)
    body: dict[str, Any] = {"model": request.model, "messages": openai_messages(request, names)}
    if "max_tokens" in params:
        body[max_tokens_param] = params.pop("max_tokens")
    _move_params(params, OPENAI_PARAMS, body)
    tools = openai_tools(request, names)
    if tools:
        body["tools"] = tools
        choice = openai_tool_choice(request.tool_choice, names)
        if choice is not None:
            body["tool_choice"] = choice
    if params:
        body["extra_body"] = params
    return body


def openai_tool_calls(raw: list[dict[str, Any]], names: ToolNameMap) -> list[dict[str, Any]]:
    """``[{"id", "name", "arguments" (JSON text)}]`` from the wire -> ``[{"id", "name", "arguments"}]``
    with original names; arguments that are not a JSON object are kept as ``{"_raw": text}`` and
    reported by the caller as a malformed tool call."""
    out = []
    for c in raw:
        args_text = c.get("arguments") or ""
        try:
            args = json.loads(args_text) if args_text.strip() else {}
        except ValueError:
            args = {"_raw": args_text}
        if not isinstance(args, dict):
            args = {"_raw": args_text}
        out.append({"id": c.get("id") or "", "name": names.canonical(c.get("name") or ""), "arguments": args})
    return out


# ----------------------------------------------------------------------------- Bedrock Converse


def _converse_block(b: dict[str, Any], names: ToolNameMap) -> dict[str, Any] | None:
    kind = b.get("type")
    if kind == "text":
        return {"text": b.get("text", "")} if b.get("text") else None
    if kind == "tool_use":
        return {
            "toolUse": {
                "toolUseId": b.get("id", ""),
                "name": names.wire(b["name"]),
                "input": b.get("input") or {},
            }
        }
    if kind == "tool_result":
        content = b.get("content")
        inner = (
            [{"json": content}]
            if isinstance(content, (dict, list)) and not _is_blocks(content)
            else [{"text": _text_of(content) or " "}]
        )
        res: dict[str, Any] = {"toolUseId": b.get("tool_use_id", ""), "content": inner}
        if b.get("is_error"):
            res["status"] = "error"
        return {"toolResult": res}
    return {"text": json.dumps(b, ensure_ascii=False, sort_keys=True)}


def _is_blocks(content: Any) -> bool:
    return isinstance(content, list) and all(isinstance(x, dict) and "type" in x for x in content)


def converse_body(request: ModelRequest, names: ToolNameMap) -> dict[str, Any]:
    """Keyword arguments of ``bedrock-runtime`` ``converse`` / ``converse_stream``."""
    messages = []
    for m in request.messages:
        blocks = [x for x in (_converse_block(b, names) for b in _blocks(m.get("content"))) if x is not None]
        messages.append({"role": m.get("role"), "content": blocks or [{"text": " "}]})
    params = dict(request.params)
    inference: dict[str, Any] = {}
    _move_params(params, CONVERSE_INFERENCE_PARAMS, inference)
    body: dict[str, Any] = {"modelId": request.model, "messages": messages}
    if request.system:
        body["system"] = [{"text": request.system}]
    if inference:
        body["inferenceConfig"] = inference
    if params:
        body["additionalModelRequestFields"] = params
    if request.tools:
        cfg: dict[str, Any] = {
            "tools": [
                {
                    "toolSpec": {
                        "name": names.wire(t["name"]),
                        "description": t.get("description") or t["name"],
                        "inputSchema": {
                            "json": t.get("input_schema") or {"type": "object", "properties": {}}
                        },
                    }
                }
                for t in request.tools
            ]
        }
        choice = request.tool_choice or {}
        if choice.get("type") == "tool":
            cfg["toolChoice"] = {"tool": {"name": names.wire(choice["name"])}}
        elif choice.get("type") == "any":
            cfg["toolChoice"] = {"any": {}}
        elif choice.get("type") == "auto":
            cfg["toolChoice"] = {"auto": {}}
        body["toolConfig"] = cfg
    return body
