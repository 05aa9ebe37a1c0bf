"""An example team application on 127.0.0.1 (``POST /chat``), the target of the ``http`` provider tests.

It stands for a support bot behind the team's own API, with its own request and response shapes:

    request:  {"conversation": [Anthropic-format messages], "instructions": str | null,
               "tools": [{name, description, input_schema}], "options": {...}}
    response: {"reply": {"text": str | null, "tool_calls": [{"name", "arguments"}]},
               "usage": {"in": int, "out": int}, "trace_id": str}

``Authorization: Bearer <api_key>`` is required (401 otherwise). Answers, latency and faults come from
the same machinery as :mod:`.anthropic_server` (subclass): ``rate_limit`` -> 429 with ``Retry-After``,
``overloaded`` -> 503, ``server_error`` -> 500, ``malformed`` -> a body that is not JSON, ``slow``,
``drop``, ``refusal``.

    python -m eval_pipeline_tests.support.servers.http_app --port 0 --latency 0.25
"""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

from aiohttp import web

from eval_pipeline_tests.support.servers.anthropic_server import (
    AnthropicTestServer,
    ServerProcess,
    parse_args,
    serve,
)
from eval_pipeline_tests.support.servers.anthropic_server.core import retry_after

# The models.yaml endpoint that points the http provider at this app (url filled in by the caller).
ENDPOINT = {
    "method": "POST",
    "headers": {"Authorization": "Bearer ${SUPPORT_APP_TOKEN}", "X-Client": "eval-pipeline"},
    "body": {
        "conversation": "{{ messages }}",
        "instructions": "{{ system }}",
        "tools": "{{ tools }}",
        "options": {"max_tokens": "{{ params.max_tokens }}", "model": "{{ model }}"},
    },
    "response": {
        "text": "reply.text",
        "tool_calls": "reply.tool_calls",
        "input_tokens": "usage.in",
        "output_tokens": "usage.out",
        "request_id": "trace_id",
    },
}


class SupportApp(AnthropicTestServer):
    """The Anthropic test server's behaviour behind the app's own ``/chat`` shape."""

    label = "support-app"  # announced by serve_forever

    def _app(self) -> web.Application:
        app = super()._app()
        app.router.add_post("/chat", self.handle_app_chat)
        return app

    def _app_error(self, status: int, message: str, extra: dict[str, str] | None = None) -> web.Response:
        self.by_status[str(status)] += 1
        return web.json_response({"error": message}, status=status, headers=extra or {})

    async def handle_app_chat(self, request: web.Request) -> web.StreamResponse:
        return await self._counted(self._app_chat, request)

    async def _app_chat(self, request: web.Request) -> web.StreamResponse:
        cfg = self.config
        if request.headers.get("authorization") != f"Bearer {cfg.api_key}":
            return self._app_error(401, "unauthorized")
        try:
            raw = json.loads(await request.read())
            opts = raw.get("options") or {}
            body: dict[str, Any] = {
                "model": str(opts.get("model") or "support-app"),
                "messages": raw["conversation"],
                "max_tokens": int(opts.get("max_tokens") or 1024),
            }
        except (ValueError, KeyError, TypeError) as exc:
            return self._app_error(400, f"bad request: {exc}")
        if raw.get("instructions"):
            body["system"] = raw["instructions"]
        if raw.get("tools"):
            body["tools"] = raw["tools"]
        retry = {"Retry-After": retry_after(cfg.retry_after_s)}
        errors = {
            "rate_limit": lambda: self._app_error(429, "slow down", retry),
            "overloaded": lambda: self._app_error(503, "busy"),
            "server_error": lambda: self._app_error(500, "internal error"),
        }
        played = await self._play_fault(request, body, errors)
        if isinstance(played, web.Response):
            return played
        fault, ttft, rest = played
        await asyncio.sleep(ttft + rest)
        self.by_status["200"] += 1
        if fault == "malformed":
            return web.Response(body=b"<html>502 Bad Gateway</html>", content_type="text/html")
        answer = self._answer(body, fault)
        content, _stop, usage = self._finish(body, answer)
        reply = {
            "text": "".join(b["text"] for b in content if b["type"] == "text") or None,
            "tool_calls": [
                {"name": b["name"], "arguments": b["input"]} for b in content if b["type"] == "tool_use"
            ],
        }
        return web.json_response(
            {
                "reply": reply,
                "usage": {"in": usage["input_tokens"], "out": usage["output_tokens"]},
                "trace_id": uuid.uuid4().hex,
            }
        )

    @property
    def chat_url(self) -> str:
        return f"{self.base_url}/chat"


class SupportAppProcess(ServerProcess):
    module = "eval_pipeline_tests.support.servers.http_app"


def main(argv: list[str] | None = None) -> None:
    cfg, port = parse_args(argv)
    serve(SupportApp(cfg, port=port))


if __name__ == "__main__":
    main()
