"""The Anthropic Messages request and answer bodies, apart from the HTTP calls.

In: a ModelRequest (messages, system, tools, params, ``cache_prompt``). Out: the keyword
arguments of ``messages.create`` (:func:`messages_kwargs`: params the installed SDK has no
argument for go in ``extra_body``; tool names mapped to the wire; ``cache_control`` breakpoints on
the static prefix, :func:`mark_cache`), the token budget the rate limiter charges
(:func:`estimate_tokens`), and an SDK ``Message``'s text, tool blocks, stop reason and
token counts (:func:`message_answer`). Used by :mod:`.anthropic_provider` for live calls and Message Batches.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Mapping
from typing import Any

from eval_pipeline.inference.live import WireAnswer
from eval_pipeline.inference.tool_names import ToolNameMap
from eval_pipeline.inference.types import ModelRequest

_EPHEMERAL = {"type": "ephemeral"}
_SDK_PARAMS: frozenset[str] | None = None


def messages_kwargs(request: ModelRequest, default_max_tokens: int) -> dict[str, Any]:
    """SDK keyword arguments. Params the installed SDK has no argument for (e.g. temperature,
    top_p, top_k in SDK 2.x) are sent in ``extra_body``, so they still reach the API."""
    known = sdk_create_params()
    kwargs: dict[str, Any] = {"model": request.model, "messages": request.messages}
    extra: dict[str, Any] = {}
    for k, v in request.params.items():
        if k in known:
            kwargs[k] = v
        else:
            extra[k] = v
    kwargs.setdefault("max_tokens", default_max_tokens)
    if request.system is not None:
        kwargs["system"] = request.system
    if request.tools or request.tool_choice:
        names = ToolNameMap.for_request(request.tools, request.messages, request.tool_choice)
        tools, kwargs["messages"], tool_choice = names.wire_request_parts(
            request.tools, request.messages, request.tool_choice
        )
        if tools:
            kwargs["tools"] = tools
        if tool_choice:
            kwargs["tool_choice"] = tool_choice
    if request.cache_prompt:
        mark_cache(kwargs, request.static_prefix_chars)
    if extra:
        kwargs["extra_body"] = {**kwargs.get("extra_body", {}), **extra}
    return kwargs


def mark_cache(kwargs: dict[str, Any], static_prefix_chars: int) -> None:
    """Put ``cache_control`` breakpoints on the static prefix (at most 3 of the API's 4): the last
    tool definition, the system prompt, and the first ``static_prefix_chars`` characters of the
    first user message (split into a cached text block and the per-sample rest)."""
    if kwargs.get("tools"):
        tools = [dict(t) for t in kwargs["tools"]]
        tools[-1]["cache_control"] = _EPHEMERAL
        kwargs["tools"] = tools
    if isinstance(kwargs.get("system"), str) and kwargs["system"]:
        kwargs["system"] = [{"type": "text", "text": kwargs["system"], "cache_control": _EPHEMERAL}]
    messages = kwargs["messages"]
    if (
        static_prefix_chars > 0
        and messages
        and messages[0].get("role") == "user"
        and isinstance(messages[0].get("content"), str)
    ):
        text = messages[0]["content"]
        head, rest = text[:static_prefix_chars], text[static_prefix_chars:]
        if head.strip() and rest:
            blocks = [
                {"type": "text", "text": head, "cache_control": _EPHEMERAL},
                {"type": "text", "text": rest},
            ]
            kwargs["messages"] = [{**messages[0], "content": blocks}, *messages[1:]]


def sdk_create_params() -> frozenset[str]:
    """Keyword arguments ``messages.create`` of the installed SDK accepts."""
    global _SDK_PARAMS
    if _SDK_PARAMS is None:
        from anthropic.resources.messages import AsyncMessages

        _SDK_PARAMS = frozenset(inspect.signature(AsyncMessages.create).parameters) - {"self", "stream"}
    return _SDK_PARAMS


def estimate_tokens(request: ModelRequest, max_tokens: int) -> float:
    """Rough token budget of a request for the tokens/min limiter (4 characters per token + max_tokens)."""
    return (len(json.dumps(request.messages)) + len(request.system or "")) / 4 + max_tokens


def message_answer(message: Any, request_id: str | None) -> WireAnswer:
    """An SDK ``Message`` as a :class:`~.live.WireAnswer`: its joined text, its tool_use blocks as
    (id, name on the wire, input JSON), its stop reason and its token counts."""
    texts = [b.text for b in message.content if b.type == "text"]
    tools = [(b.id, b.name, json.dumps(b.input)) for b in message.content if b.type == "tool_use"]
    u = message.usage
    counts = (u.input_tokens, u.output_tokens, u.cache_read_input_tokens, u.cache_creation_input_tokens)
    tokens = tuple(n or 0 for n in counts)  # the SDK gives None for a count the API left out
    return WireAnswer("".join(texts), tools, message.stop_reason, tokens, request_id)


def retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds from ``retry-after-ms`` (preferred, as Anthropic sends) or ``retry-after``."""
    for name, scale in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(name)
        if value:
            try:
                return float(value) / scale
            except ValueError:
                continue
    return None
