"""The Anthropic Messages API over the scripted model: ``POST /v1/messages``, non-streaming and streaming.

In: a request with ``x-api-key`` (or ``Authorization: Bearer``, which SDK 2.x sends) and a Messages body.
Out: a message (content blocks, stop reason, usage, a ``request-id`` header), the documented SSE sequence
(``message_start``, ``content_block_start``, ``ping``, ``content_block_delta`` (``text_delta`` /
``input_json_delta``), ``content_block_stop``, ``message_delta``, ``message_stop``), or the API's error body
for a wrong key (401), a bad body (400), a missing model (404) and the scripted faults (429 with
``retry-after`` / ``retry-after-ms``, 529, 500, a dropped connection, a broken body or event).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

from aiohttp import web

from eval_pipeline_tests.support.servers.anthropic_server.config import Answer
from eval_pipeline_tests.support.servers.anthropic_server.core import ScriptedServer, retry_after


def _message_json(
    request_id: str, model: str, content: list[dict[str, Any]], stop: str | None, usage: dict[str, int]
) -> dict[str, Any]:
    """A Messages API message (``content`` empty and ``stop`` None in a stream's ``message_start``)."""
    return {
        "id": "msg_" + request_id[4:],
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": usage,
    }


class MessagesAPI(ScriptedServer):
    """``/v1/messages`` on top of the scripted server."""

    def _app(self) -> web.Application:
        app = super()._app()
        app.router.add_post("/v1/messages", self.handle_messages)
        return app

    def _auth_ok(self, request: web.Request) -> bool:
        key = self.config.api_key
        return (
            request.headers.get("x-api-key") == key
            or request.headers.get("authorization", "") == f"Bearer {key}"
        )

    def _error(
        self, status: int, etype: str, message: str, request_id: str, extra: dict[str, str] | None = None
    ) -> web.Response:
        self.by_status[str(status)] += 1
        body = {"type": "error", "error": {"type": etype, "message": message}, "request_id": request_id}
        return web.json_response(body, status=status, headers={"request-id": request_id, **(extra or {})})

    async def handle_messages(self, request: web.Request) -> web.StreamResponse:
        return await self._counted(self._handle, request, "req_" + uuid.uuid4().hex[:24])

    async def _handle(self, request: web.Request, request_id: str) -> web.StreamResponse:
        cfg = self.config
        if not self._auth_ok(request):
            return self._error(401, "authentication_error", "invalid x-api-key / authorization", request_id)
        try:
            body = json.loads(await request.read())
        except ValueError:
            return self._error(400, "invalid_request_error", "body is not JSON", request_id)
        for key in ("model", "messages", "max_tokens"):
            if key not in body:
                return self._error(400, "invalid_request_error", f"{key}: Field required", request_id)
        model = body["model"]
        if model in cfg.missing_models:
            self.by_model[model] += 1
            return self._error(404, "not_found_error", f"model: {model}", request_id)
        ra = cfg.retry_after_s
        rate_headers = {"retry-after": retry_after(ra), "retry-after-ms": str(int(ra * 1000))}
        rate_message = "Number of requests has exceeded your rate limit"
        errors = {
            "rate_limit": lambda: self._error(
                429, "rate_limit_error", rate_message, request_id, rate_headers
            ),
            "overloaded": lambda: self._error(529, "overloaded_error", "Overloaded", request_id),
            "server_error": lambda: self._error(500, "api_error", "Internal server error", request_id),
        }
        cached = self._cache_hit(body)
        played = await self._play_fault(request, body, errors, cfg.cache_hit_ttft_factor if cached else 1.0)
        if isinstance(played, web.Response):
            return played
        fault, ttft, rest = played
        answer = self._answer(body, fault)
        if body.get("stream"):
            return await self._stream(request, body, answer, request_id, ttft, rest, fault)
        await asyncio.sleep(ttft + rest)
        if fault == "malformed":
            broken = b'{"id": "msg_broken", "type": "message", "content": [{"type": "te'
            return self._malformed(broken, {"request-id": request_id})
        message = self._message(body, answer, request_id)
        self.by_status["200"] += 1
        return web.json_response(message, headers={"request-id": request_id})

    def _message(self, body: dict[str, Any], answer: Answer, request_id: str) -> dict[str, Any]:
        content, stop, usage = self._finish(body, answer)
        return _message_json(request_id, body["model"], content, stop, usage)

    async def _stream(
        self,
        request: web.Request,
        body: dict[str, Any],
        answer: Answer,
        request_id: str,
        ttft: float,
        rest: float,
        fault: str | None,
    ) -> web.StreamResponse:
        content, stop, usage = self._finish(body, answer)

        def ev(name: str, data: dict[str, Any]) -> bytes:
            return f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()

        start = _message_json(request_id, body["model"], [], None, {**usage, "output_tokens": 1})

        def start_block(i: int, block: dict[str, Any]) -> bytes:
            return ev(
                "content_block_start", {"type": "content_block_start", "index": i, "content_block": block}
            )

        def delta(i: int, d: dict[str, Any]) -> bytes:
            return ev("content_block_delta", {"type": "content_block_delta", "index": i, "delta": d})

        head: list[bytes] = [ev("message_start", {"type": "message_start", "message": start})]
        tail: list[bytes] = []
        for i, block in enumerate(content):
            if block["type"] == "text":
                txt = block["text"]
                cut = max(1, len(txt) // 3)
                head.append(start_block(i, {"type": "text", "text": ""}))
                head.append(ev("ping", {"type": "ping"}))
                head.append(delta(i, {"type": "text_delta", "text": txt[:cut]}))
                if txt[cut:]:
                    tail.append(delta(i, {"type": "text_delta", "text": txt[cut:]}))
            else:
                payload = json.dumps(block["input"])
                cut = max(1, len(payload) // 2)
                head.append(start_block(i, {**block, "input": {}}))
                head.append(ev("ping", {"type": "ping"}))
                head.append(delta(i, {"type": "input_json_delta", "partial_json": payload[:cut]}))
                tail.append(delta(i, {"type": "input_json_delta", "partial_json": payload[cut:]}))
            tail.append(ev("content_block_stop", {"type": "content_block_stop", "index": i}))
        if fault == "malformed":
            tail.insert(
                0,
                b'event: content_block_delta\ndata: {"type": "content_block_delta", "index": 0, "delta": {"ty\n\n',
            )
        tail.append(
            ev(
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": stop, "stop_sequence": None},
                    "usage": {"output_tokens": usage["output_tokens"]},
                },
            )
        )
        tail.append(ev("message_stop", {"type": "message_stop"}))

        headers = {"request-id": request_id, "content-type": "text/event-stream", "cache-control": "no-cache"}
        return await self._stream_reply(request, headers, head, tail, ttft, rest)
