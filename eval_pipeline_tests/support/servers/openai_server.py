"""OpenAI-compatible test server (``POST /v1/chat/completions``) on 127.0.0.1, for the real ``openai`` SDK.

Same knobs as :mod:`.anthropic_server` (it subclasses :class:`AnthropicTestServer`: latency, TTFT
fraction, faults by probability / script / input, answer key, good vs degraded models, pluggable
responder, ``/_admin`` stats, reset and config), spoken in OpenAI's wire format:

* a request is translated to the Anthropic shape (system message -> ``system``; ``tool`` messages ->
  ``tool_result`` blocks; assistant ``tool_calls`` -> ``tool_use`` blocks; function tools ->
  ``input_schema`` tools; ``tool_choice`` function -> ``{"type": "tool"}``), answered by the
  responder, and the answer rendered as a ``chat.completion`` or, with ``stream: true``, as
  ``chat.completion.chunk`` SSE events (text in two deltas, tool-call arguments in two fragments),
  with a final usage chunk when ``stream_options.include_usage`` is set, then ``data: [DONE]``;
* ``Authorization: Bearer <key>`` checked (401 otherwise), an ``x-request-id`` header;
* faults: ``rate_limit`` -> 429 with ``retry-after`` and ``retry-after-ms``, ``overloaded`` -> 503,
  ``server_error`` -> 500, ``slow``, ``drop``, ``malformed`` (a broken JSON body / chunk),
  ``malformed_tool`` (arguments violating the schema), ``refusal`` (``finish_reason: content_filter``).
  Tool names must match ``[a-zA-Z0-9_-]{1,64}`` as OpenAI's do (400 otherwise).

    python -m eval_pipeline_tests.support.servers.openai_server --port 0 --latency 0.25
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from typing import Any

from aiohttp import web

from eval_pipeline_tests.support.servers.anthropic_server import (
    Answer,
    AnthropicTestServer,
    ServerProcess,
    parse_args,
    serve,
)
from eval_pipeline_tests.support.servers.anthropic_server.core import retry_after

_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


def anthropic_shape(body: dict[str, Any]) -> dict[str, Any]:
    """An OpenAI Chat Completions body as the Anthropic-shaped body the responder reads."""
    system: list[str] = []
    messages: list[dict[str, Any]] = []
    for m in body.get("messages") or []:
        role, content = m.get("role"), m.get("content")
        if isinstance(content, list):
            content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
        if role in ("system", "developer"):
            system.append(content or "")
        elif role == "tool":
            block = {"type": "tool_result", "tool_use_id": m.get("tool_call_id"), "content": content or ""}
            if messages and messages[-1]["role"] == "user" and isinstance(messages[-1]["content"], list):
                messages[-1]["content"].append(block)
            else:
                messages.append({"role": "user", "content": [block]})
        elif role == "assistant" and m.get("tool_calls"):
            blocks: list[dict[str, Any]] = [{"type": "text", "text": content}] if content else []
            for tc in m["tool_calls"]:
                fn = tc.get("function") or {}
                blocks.append(
                    {
                        "type": "tool_use",
                        "id": tc.get("id"),
                        "name": fn.get("name"),
                        "input": json.loads(fn.get("arguments") or "{}"),
                    }
                )
            messages.append({"role": "assistant", "content": blocks})
        else:
            messages.append({"role": role, "content": content or ""})
    out: dict[str, Any] = {
        "model": body.get("model"),
        "messages": messages,
        "max_tokens": body.get("max_tokens") or body.get("max_completion_tokens") or 1024,
    }
    if system:
        out["system"] = "\n".join(system)
    for k in ("temperature", "top_p"):
        if body.get(k) is not None:
            out[k] = body[k]
    if body.get("tools"):
        out["tools"] = [
            {
                "name": t["function"]["name"],
                "description": t["function"].get("description", ""),
                "input_schema": t["function"].get("parameters") or {},
            }
            for t in body["tools"]
        ]
        choice = body.get("tool_choice")
        if isinstance(choice, dict) and choice.get("type") == "function":
            out["tool_choice"] = {"type": "tool", "name": choice["function"]["name"]}
    return out


class OpenAITestServer(AnthropicTestServer):
    """The Anthropic test server's behaviour behind ``/v1/chat/completions``."""

    label = "openai-test-server"  # announced by serve_forever

    def _app(self) -> web.Application:
        app = super()._app()
        app.router.add_post("/v1/chat/completions", self.handle_chat)
        return app

    @property
    def openai_base_url(self) -> str:
        return f"{self.base_url}/v1"

    def _oai_error(
        self, status: int, etype: str, message: str, rid: str, extra: dict[str, str] | None = None
    ) -> web.Response:
        self.by_status[str(status)] += 1
        body = {"error": {"message": message, "type": etype, "code": etype, "param": None}}
        return web.json_response(body, status=status, headers={"x-request-id": rid, **(extra or {})})

    async def handle_chat(self, request: web.Request) -> web.StreamResponse:
        return await self._counted(self._chat, request, "req_" + uuid.uuid4().hex[:24])

    async def _chat(self, request: web.Request, rid: str) -> web.StreamResponse:
        cfg = self.config
        if request.headers.get("authorization", "") != f"Bearer {cfg.api_key}":
            return self._oai_error(401, "invalid_api_key", "Incorrect API key provided", rid)
        try:
            raw = json.loads(await request.read())
            body = anthropic_shape(raw)
        except (ValueError, KeyError, TypeError) as exc:
            return self._oai_error(400, "invalid_request_error", f"bad request body: {exc}", rid)
        bad = [t["name"] for t in body.get("tools") or [] if not _NAME.match(t["name"] or "")]
        if bad:
            return self._oai_error(
                400,
                "invalid_request_error",
                f"tools[].function.name {bad[0]!r} does not match '^[a-zA-Z0-9_-]{{1,64}}$'",
                rid,
            )
        ra = cfg.retry_after_s
        rate_headers = {"retry-after": retry_after(ra), "retry-after-ms": str(int(ra * 1000))}
        errors = {
            "rate_limit": lambda: self._oai_error(
                429, "rate_limit_exceeded", "Rate limit reached for requests", rid, rate_headers
            ),
            "overloaded": lambda: self._oai_error(503, "server_overloaded", "The server is overloaded", rid),
            "server_error": lambda: self._oai_error(500, "server_error", "The server had an error", rid),
        }
        played = await self._play_fault(request, body, errors)
        if isinstance(played, web.Response):
            return played
        fault, ttft, rest = played
        answer = self._answer(body, fault)
        if raw.get("stream"):
            include_usage = bool((raw.get("stream_options") or {}).get("include_usage"))
            return await self._chat_stream(request, body, answer, rid, ttft, rest, fault, include_usage)
        await asyncio.sleep(ttft + rest)
        if fault == "malformed":
            return self._malformed(b'{"id": "chatcmpl-broken", "choices": [{"mess', {"x-request-id": rid})
        message, finish, usage = self._chat_parts(body, answer)
        self.by_status["200"] += 1
        return web.json_response(
            {
                "id": "chatcmpl-" + rid[4:],
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body["model"],
                "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
                "usage": usage,
            },
            headers={"x-request-id": rid},
        )

    def _chat_parts(self, body: dict[str, Any], answer: Answer) -> tuple[dict[str, Any], str, dict[str, int]]:
        """The assistant message, finish reason and usage of an answer."""
        content, stop, usage = self._finish(body, answer)
        msg: dict[str, Any] = {"role": "assistant", "content": None}
        texts = [b["text"] for b in content if b["type"] == "text"]
        if texts:
            msg["content"] = "".join(texts)
        calls = [
            {
                "id": "call_" + uuid.uuid4().hex[:20],
                "type": "function",
                "function": {"name": b["name"], "arguments": json.dumps(b["input"])},
            }
            for b in content
            if b["type"] == "tool_use"
        ]
        if calls:
            msg["tool_calls"] = calls
        finish = {
            "end_turn": "stop",
            "tool_use": "tool_calls",
            "max_tokens": "length",
            "refusal": "content_filter",
        }.get(stop, "stop")
        if stop == "refusal":
            msg["refusal"] = msg["content"]
        u = {
            "prompt_tokens": usage["input_tokens"],
            "completion_tokens": usage["output_tokens"],
            "total_tokens": usage["input_tokens"] + usage["output_tokens"],
            "prompt_tokens_details": {"cached_tokens": 0},
        }
        return msg, finish, u

    async def _chat_stream(
        self, request, body, answer, rid, ttft, rest, fault, include_usage
    ) -> web.StreamResponse:
        message, finish, usage = self._chat_parts(body, answer)
        base = {
            "id": "chatcmpl-" + rid[4:],
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": body["model"],
        }

        def chunk(delta: dict[str, Any], finish_reason: str | None = None, **extra: Any) -> bytes:
            data = {
                **base,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
                **extra,
            }
            return f"data: {json.dumps(data)}\n\n".encode()

        head, tail = [chunk({"role": "assistant", "content": ""})], []
        text = message.get("content") or ""
        if text:
            cut = max(1, len(text) // 3)
            head.append(chunk({"content": text[:cut]}))
            if text[cut:]:
                tail.append(chunk({"content": text[cut:]}))
        for i, tc in enumerate(message.get("tool_calls") or []):
            args = tc["function"]["arguments"]
            cut = max(1, len(args) // 2)
            first = {
                "index": i,
                "id": tc["id"],
                "type": "function",
                "function": {"name": tc["function"]["name"], "arguments": args[:cut]},
            }
            head.append(chunk({"tool_calls": [first]}))
            tail.append(chunk({"tool_calls": [{"index": i, "function": {"arguments": args[cut:]}}]}))
        if fault == "malformed":
            tail.insert(0, b'data: {"id": "chatcmpl-x", "choices": [{"del\n\n')
        tail.append(chunk({}, finish))
        if include_usage:
            tail.append(f"data: {json.dumps({**base, 'choices': [], 'usage': usage})}\n\n".encode())
        tail.append(b"data: [DONE]\n\n")
        headers = {"x-request-id": rid, "content-type": "text/event-stream", "cache-control": "no-cache"}
        return await self._stream_reply(request, headers, head, tail, ttft, rest)


class OpenAIServerProcess(ServerProcess):
    """The OpenAI-compatible server as a subprocess (``with OpenAIServerProcess(latency_s=0.25) as s``)."""

    module = "eval_pipeline_tests.support.servers.openai_server"


def main(argv: list[str] | None = None) -> None:
    cfg, port = parse_args(argv)
    serve(OpenAITestServer(cfg, port=port))


if __name__ == "__main__":
    main()
