"""The synthetic model server behind ``eval-pipeline serve-model``: Anthropic's ``POST /v1/messages`` and
OpenAI's ``POST /v1/chat/completions`` (:mod:`.openai_routes`) on 127.0.0.1.

In: Messages API requests from the real ``anthropic`` SDK (streaming or not). Out: answers of a
:class:`~eval_pipeline.mock_server.answers.SyntheticModel` after a chosen latency, in the API's JSON or
its documented SSE sequence (``message_start``, ``content_block_start``, ``content_block_delta``,
``content_block_stop``, ``message_delta``, ``message_stop``), with usage at 4 characters per token.

Synthetic on purpose, and it says so: every response carries ``x-eval-pipeline-synthetic: 1``, and a
request without that header (i.e. not from ``EVAL_PROVIDER=synthetic``, which labels its answers
``synthetic``) is refused with a 400 that says how to label it, so its answers can never be stored as
live ones. Any API key is accepted (none is needed). ``GET /health`` reports the key size and accuracy.
Binds only to 127.0.0.1. Plain Python (aiohttp); no Dagster.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import uuid
from typing import Any

from aiohttp import web

from eval_pipeline.mock_server.answers import Answer, SyntheticModel
from eval_pipeline.mock_server.openai_routes import as_anthropic, completion

SYNTHETIC_HEADER = "x-eval-pipeline-synthetic"
NOT_LABELLED = (
    "this is eval-pipeline's synthetic model server: its answers come from an answer key, not from a model. "
    "Ask it through EVAL_PROVIDER=synthetic (with ANTHROPIC_BASE_URL pointing here), which labels every answer "
    "'synthetic'; a request without the x-eval-pipeline-synthetic header is refused so that no synthetic answer "
    "is ever stored as a live one."
)


def _tokens(text: str) -> int:
    return max(1, math.ceil(len(text) / 4))


def _prompt_chars(body: dict[str, Any]) -> int:
    return len(json.dumps([body.get("system"), body.get("messages"), body.get("tools")], default=str))


class SyntheticServer:
    """``latency_s``: median total latency (lognormal with ``jitter`` sigma; 0 = fixed);
    ``ttft_fraction`` of it passes before the first token of a streamed answer."""

    def __init__(
        self,
        model: SyntheticModel,
        *,
        latency_s: float = 0.0,
        jitter: float = 0.0,
        ttft_fraction: float = 0.3,
        port: int = 0,
        seed: int = 0,
    ):
        if latency_s < 0 or jitter < 0 or not 0 <= ttft_fraction <= 1:
            raise ValueError("latency and jitter must be >= 0, ttft_fraction between 0 and 1")
        self.model = model
        self.latency_s, self.jitter, self.ttft_fraction = latency_s, jitter, ttft_fraction
        self.port = port
        self.rng = random.Random(seed)
        self.requests = 0
        self._runner: web.AppRunner | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/messages", self.handle_messages)
        app.router.add_post("/v1/chat/completions", self.handle_chat)
        app.router.add_get("/health", self.handle_health)
        return app

    async def start(self) -> None:
        """Listen on 127.0.0.1 (``port`` 0 picks a free one; ``self.port`` is then the real one)."""
        self._runner = web.AppRunner(self.app(), access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port, backlog=1024)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    # -- handlers
    async def handle_health(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "synthetic": True,
                "answer_key_rows": len(self.model.key),
                "accuracy": self.model.accuracy,
                "latency_s": self.latency_s,
                "requests": self.requests,
            },
            headers={SYNTHETIC_HEADER: "1"},
        )

    def _error(self, status: int, kind: str, message: str) -> web.Response:
        return web.json_response(
            {"type": "error", "error": {"type": kind, "message": message}},
            status=status,
            headers={SYNTHETIC_HEADER: "1"},
        )

    def _latency(self) -> tuple[float, float]:
        total = self.latency_s * (math.exp(self.rng.gauss(0, self.jitter)) if self.jitter else 1.0)
        return total * self.ttft_fraction, total * (1 - self.ttft_fraction)

    async def _labelled_body(self, request: web.Request) -> dict[str, Any] | web.Response:
        """The JSON body of a labelled request, or the 400 answer to give instead."""
        if request.headers.get(SYNTHETIC_HEADER) != "1":
            return self._error(400, "invalid_request_error", NOT_LABELLED)
        try:
            body: dict[str, Any] = json.loads(await request.read())
            return body
        except ValueError:
            return self._error(400, "invalid_request_error", "body is not JSON")

    async def _answer(
        self,
        request: web.Request,
        body: dict[str, Any],
        full: Any,
        head: bytes,
        tail: bytes,
        headers: dict[str, str],
    ) -> web.StreamResponse:
        """``full`` as JSON after the whole latency, or streamed: ``head`` after the time to first
        token, ``tail`` after the rest."""
        ttft, rest = self._latency()
        if not body.get("stream"):
            await asyncio.sleep(ttft + rest)
            return web.json_response(full, headers=headers)
        resp = web.StreamResponse(
            status=200, headers={**headers, "content-type": "text/event-stream", "cache-control": "no-cache"}
        )
        await asyncio.sleep(ttft)
        await resp.prepare(request)
        await resp.write(head)
        if rest > 0:
            await asyncio.sleep(rest)
        await resp.write(tail)
        await resp.write_eof()
        return resp

    async def handle_messages(self, request: web.Request) -> web.StreamResponse:
        body = await self._labelled_body(request)
        if isinstance(body, web.Response):
            return body
        for key in ("model", "messages", "max_tokens"):
            if key not in body:
                return self._error(400, "invalid_request_error", f"{key}: Field required")
        self.requests += 1
        request_id = "req_synthetic_" + uuid.uuid4().hex[:16]
        content, stop, usage = self._finish(body, self.model(body))
        message = {
            "id": "msg_" + request_id[4:],
            "type": "message",
            "role": "assistant",
            "model": body["model"],
            "content": content,
            "stop_reason": stop,
            "stop_sequence": None,
            "usage": usage,
        }
        head, tail = _sse(message)
        return await self._answer(
            request, body, message, head, tail, {"request-id": request_id, SYNTHETIC_HEADER: "1"}
        )

    async def handle_chat(self, request: web.Request) -> web.StreamResponse:
        """OpenAI Chat Completions (:mod:`.openai_routes`), same answers and labelling as ``/v1/messages``."""

        body = await self._labelled_body(request)
        if isinstance(body, web.Response):
            return body
        if not body.get("model") or not isinstance(body.get("messages"), list):
            return self._error(400, "invalid_request_error", "model and messages are required")
        self.requests += 1
        request_id = "req_synthetic_" + uuid.uuid4().hex[:16]
        full, lines = completion(body, self.model(as_anthropic(body)), request_id)
        headers = {"x-request-id": request_id, SYNTHETIC_HEADER: "1"}
        return await self._answer(request, body, full, b"".join(lines[:2]), b"".join(lines[2:]), headers)

    @staticmethod
    def _finish(body: dict[str, Any], answer: Answer) -> tuple[list[dict[str, Any]], str, dict[str, int]]:
        """Content blocks, stop reason and usage (``max_tokens`` truncates a text answer)."""
        usage = {"input_tokens": _tokens("x" * _prompt_chars(body))}
        if answer.tool_input is not None:
            block = {
                "type": "tool_use",
                "id": "toolu_" + uuid.uuid4().hex[:20],
                "name": answer.tool_name or "tool",
                "input": answer.tool_input,
            }
            usage["output_tokens"] = _tokens(json.dumps(answer.tool_input))
            return [block], "tool_use", usage
        text, stop = answer.text or "", answer.stop_reason or "end_turn"
        limit = int(body.get("max_tokens") or 1) * 4
        if len(text) > limit:
            text, stop = text[:limit], "max_tokens"
        usage["output_tokens"] = _tokens(text)
        return [{"type": "text", "text": text}], stop, usage


def _sse(message: dict[str, Any]) -> tuple[bytes, bytes]:
    """The streamed form of a message: the part up to the first token, and the rest."""

    def ev(name: str, data: dict[str, Any]) -> bytes:
        return f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()

    start = {**message, "content": [], "stop_reason": None, "usage": {**message["usage"], "output_tokens": 1}}
    head = [ev("message_start", {"type": "message_start", "message": start})]
    tail: list[bytes] = []
    for i, block in enumerate(message["content"]):
        first: dict[str, Any]
        if block["type"] == "text":
            first = {"type": "text", "text": ""}
            delta_kind, key, payload = "text_delta", "text", block["text"]
        else:
            first = {**block, "input": {}}
            delta_kind, key, payload = "input_json_delta", "partial_json", json.dumps(block["input"])
        cut = max(1, len(payload) // 3)
        head.append(
            ev("content_block_start", {"type": "content_block_start", "index": i, "content_block": first})
        )
        for part, out in ((payload[:cut], head), (payload[cut:], tail)):
            if part:
                delta = {"type": delta_kind, key: part}
                out.append(
                    ev("content_block_delta", {"type": "content_block_delta", "index": i, "delta": delta})
                )
        tail.append(ev("content_block_stop", {"type": "content_block_stop", "index": i}))
    tail.append(
        ev(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
                "usage": {"output_tokens": message["usage"]["output_tokens"]},
            },
        )
    )
    tail.append(ev("message_stop", {"type": "message_stop"}))
    return b"".join(head), b"".join(tail)
