"""The scripted server's machinery, shared by every vendor's test server (Anthropic, OpenAI, Bedrock, the HTTP app).

In: a :class:`ServerConfig`, an optional responder / judge hook; requests already in the Anthropic shape.
Out: the aiohttp server's lifecycle on 127.0.0.1 (a background thread, or the running loop), the admin routes
(``/_admin/stats``, ``/reset``, ``/config``), the request counters, and the steps every vendor's handler takes
in the same order: count the request (:meth:`ScriptedServer._counted`), count it by model and user text and
draw its scripted fault and play it with the latency (:meth:`~ScriptedServer._play_fault`), the scripted answer as content blocks with stop reason and usage
(:meth:`~ScriptedServer._finish`), and a streamed reply written in two parts around the latency
(:meth:`~ScriptedServer._stream_reply`). Each vendor module adds only its routes, its wire shapes and errors.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import random
import threading
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict
from typing import Any, Self

from aiohttp import web

from eval_pipeline_tests.support.servers.anthropic_server.answers import DefaultResponder, user_text
from eval_pipeline_tests.support.servers.anthropic_server.config import REFUSAL_TEXT, Answer, ServerConfig
from eval_pipeline_tests.support.servers.anthropic_server.prompt_cache import (
    cache_prefixes,
    plain_text,
    tokens,
)


def retry_after(seconds: float) -> str:
    """The ``retry-after`` header's value: whole seconds (rounded up) from one second, else the fraction."""
    return str(max(0, math.ceil(seconds)) if seconds >= 1 else seconds)


class ScriptedServer:
    """The scripted model behind an aiohttp app with the admin routes only (each vendor adds its own).
    ``start()`` runs it in a background thread; ``serve_forever()`` in the current one."""

    label = "anthropic-test-server"  # announced by serve_forever; each vendor server names itself

    def __init__(
        self,
        config: ServerConfig | None = None,
        responder: Callable[[dict[str, Any]], Answer | str | dict | None] | None = None,
        judge_hook: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
        port: int = 0,
    ):
        self.config = config or ServerConfig()
        self.config.validate()
        self.default_responder = DefaultResponder(self)
        self.responder = responder
        self.judge_hook = judge_hook
        self.port = port
        self.rng = random.Random(self.config.seed)
        self._lock = threading.Lock()
        self._occurrences: Counter[str] = Counter()
        self._match_attempts: Counter[str] = Counter()
        self._cached_prefixes: set[tuple[str, str]] = set()
        self.reset_stats()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._started = threading.Event()

    # -- stats
    def reset_stats(self) -> None:
        """Zero the counters (and the per-input script positions)."""
        with getattr(self, "_lock", threading.Lock()):
            self.total = 0
            self.by_model: Counter[str] = Counter()
            self.by_status: Counter[str] = Counter()
            self.by_fault: Counter[str] = Counter()
            self.by_user_text: Counter[str] = Counter()
            self.in_flight = 0
            self.max_in_flight = 0
            self._match_attempts = Counter()
            self.batches_created = 0
            self.batch_requests = 0
            self.batch_calls: Counter[str] = Counter()  # create / retrieve / results / cancel, rejected too
            self._batch_match_attempts: Counter[str] = Counter()
            self.batches: dict[str, dict[str, Any]] = {}

    def stats(self) -> dict[str, Any]:
        """Request counts: total, by model, by status ("200", "429", "dropped", ...), by fault."""
        return {
            "total": self.total,
            "by_model": dict(self.by_model),
            "by_status": dict(self.by_status),
            "by_fault": dict(self.by_fault),
            "by_user_text": dict(self.by_user_text),
            "max_in_flight": self.max_in_flight,
            "batches_created": self.batches_created,
            "batch_requests": self.batch_requests,
            "batch_calls": dict(self.batch_calls),
        }

    def occurrence(self, body: dict[str, Any]) -> int:
        """How many earlier requests had this exact input, when sampling with temperature > 0 (else 0)."""
        temperature = body.get("temperature")
        if not temperature:
            return 0
        key = hashlib.sha256(
            json.dumps([body.get("model"), body.get("system"), body.get("messages")], sort_keys=True).encode()
        ).hexdigest()
        n = self._occurrences[key]
        self._occurrences[key] += 1
        return n

    # -- lifecycle
    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_get("/_admin/stats", self.handle_stats)
        app.router.add_post("/_admin/reset", self.handle_reset)
        app.router.add_post("/_admin/config", self.handle_config)
        return app

    async def _astart(self) -> None:
        self._runner = web.AppRunner(
            self._app(), access_log=None, handler_cancellation=True, shutdown_timeout=0.5
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port, backlog=1024)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    def start(self) -> Self:
        """Run in a daemon thread; returns once listening (``self.base_url`` is then valid)."""

        def run() -> None:
            self._loop = asyncio.new_event_loop()
            self._loop.run_until_complete(self._astart())
            self._started.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, name="anthropic-test-server", daemon=True)
        self._thread.start()
        if not self._started.wait(10):
            raise RuntimeError("anthropic test server did not start within 10 s")
        return self

    def stop(self) -> None:
        """Stop the background server."""
        if self._loop is None:
            return
        fut = asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop)  # type: ignore[union-attr]
        try:
            fut.result(5)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            if self._thread:
                self._thread.join(5)
            self._loop = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    async def serve_forever(self, announce: bool = True) -> None:
        """Serve in the running loop (used by the CLI)."""
        await self._astart()
        if announce:
            print(f"{self.label} listening on {self.base_url}", flush=True)
        await asyncio.Event().wait()

    # -- admin
    async def handle_stats(self, request: web.Request) -> web.Response:
        return web.json_response(self.stats())

    async def handle_reset(self, request: web.Request) -> web.Response:
        self.reset_stats()
        return web.json_response({"ok": True})

    async def handle_config(self, request: web.Request) -> web.Response:
        patch = await request.json()
        merged = {**asdict(self.config), **patch}
        try:
            cfg = ServerConfig(**merged)
            cfg.validate()
        except (TypeError, ValueError) as exc:
            return web.json_response({"error": str(exc)}, status=400)
        self.config = cfg
        self.rng = random.Random(cfg.seed)
        return web.json_response({"ok": True})

    # -- faults / latency
    def _pick_fault(self, body: dict[str, Any], text: str) -> str | None:
        cfg = self.config
        if cfg.fault_script:
            return cfg.fault_script.pop(0)
        for needle, script in cfg.fault_script_by_match.items():
            if needle in text:
                i = self._match_attempts[needle]
                self._match_attempts[needle] += 1
                return script[i] if i < len(script) else None
        if cfg.fault_probabilities:
            u = self.rng.random()
            acc = 0.0
            for name, p in cfg.fault_probabilities.items():
                acc += p
                if u < acc:
                    return name
        return None

    def _latency(self) -> tuple[float, float]:
        cfg = self.config
        total = cfg.latency_s
        if cfg.latency_kind == "lognormal" and total > 0:
            total = cfg.latency_s * math.exp(self.rng.gauss(0.0, cfg.latency_sigma))
        ttft = total * cfg.ttft_fraction
        return ttft, total - ttft

    # -- the steps every vendor's request handler shares
    async def _counted(
        self, handle: Callable[..., Awaitable[web.StreamResponse]], *args: Any
    ) -> web.StreamResponse:
        """Run a request handler counted: every request, the ones in flight, the most in flight at once."""
        self.total += 1
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            return await handle(*args)
        finally:
            self.in_flight -= 1

    def _admit(self, body: dict[str, Any]) -> str | None:
        """Count a well-formed request by model and by user text; draw its scripted fault (counted too)."""
        self.by_model[body["model"]] += 1
        text = user_text(body)
        self.by_user_text[text[:200]] += 1
        fault = self._pick_fault(body, text)
        if fault:
            self.by_fault[fault] += 1
        return fault

    async def _play_fault(
        self,
        request: web.Request,
        body: dict[str, Any],
        errors: Mapping[str, Callable[[], web.Response]],
        ttft_factor: float = 1.0,
    ) -> web.Response | tuple[str | None, float, float]:
        """Admit a well-formed request and play its scripted fault. An error fault gets the vendor's reply from
        ``errors`` (fault -> reply) after ``fault_delay_s``; a ``drop`` closes the connection without a response
        (after the latency when ``drop_after_latency``); else the fault and the latency to answer with: the
        time to first token (times ``ttft_factor``; ``slow_s`` for ``slow``) and the rest."""
        fault = self._admit(body)
        cfg = self.config
        if fault in errors:
            if cfg.fault_delay_s:
                await asyncio.sleep(cfg.fault_delay_s)
            return errors[fault]()
        ttft, rest = self._latency()
        ttft *= ttft_factor
        if fault == "slow":
            ttft = cfg.slow_s
        if fault == "drop":
            if cfg.drop_after_latency:
                await asyncio.sleep(ttft + rest)
            self.by_status["dropped"] += 1
            if request.transport is not None:
                request.transport.abort()
            raise asyncio.CancelledError()  # aiohttp discards the handler; the client sees a closed connection
        return fault, ttft, rest

    async def _stream_reply(
        self,
        request: web.Request,
        headers: dict[str, str],
        head: list[bytes],
        tail: list[bytes],
        ttft: float,
        rest: float,
    ) -> web.StreamResponse:
        """A 200 stream: ``head`` after the time to first token, ``tail`` after the rest of the latency."""
        resp = web.StreamResponse(status=200, headers=headers)
        await asyncio.sleep(ttft)
        await resp.prepare(request)
        await resp.write(b"".join(head))
        if rest > 0:
            await asyncio.sleep(rest)
        await resp.write(b"".join(tail))
        await resp.write_eof()
        self.by_status["200"] += 1
        return resp

    def _malformed(self, body: bytes, headers: dict[str, str]) -> web.Response:
        """The ``malformed`` fault's 200: a JSON body that breaks off."""
        self.by_status["200"] += 1
        return web.Response(body=body, content_type="application/json", headers=headers)

    # -- the scripted model's answer
    def _answer(self, body: dict[str, Any], fault: str | None) -> Answer:
        if fault == "refusal":
            return Answer(text=REFUSAL_TEXT, stop_reason="refusal")
        raw = (self.responder or self.default_responder)(body)
        if raw is None:
            raw = self.default_responder(body)
        if isinstance(raw, str):
            answer = Answer(text=raw)
        elif isinstance(raw, dict):
            tools = body.get("tools") or [{"name": "tool"}]
            answer = Answer(
                tool_input=raw, tool_name=(body.get("tool_choice") or {}).get("name") or tools[0]["name"]
            )
        else:
            answer = raw
        if fault == "malformed_tool" and answer.tool_input is not None:
            answer = Answer(tool_input={"unexpected_field": "malformed"}, tool_name=answer.tool_name)
        return answer

    def _usage(self, body: dict[str, Any], out_text: str) -> dict[str, int]:
        prefixes = cache_prefixes(body)
        if prefixes:
            with self._lock:
                seen = [p for p in prefixes if p in self._cached_prefixes]
                self._cached_prefixes.update(prefixes)
            longest = prefixes[-1]
            read = tokens(seen[-1][1]) if seen else 0
            cache_write = tokens(longest[1]) - read
            cache_read = read
            input_tokens = max(1, tokens(plain_text(body)) - tokens(longest[1]))
        else:
            cache_read = cache_write = 0
            input_tokens = tokens(plain_text(body))
        return {
            "input_tokens": input_tokens,
            "output_tokens": tokens(out_text),
            "cache_creation_input_tokens": cache_write,
            "cache_read_input_tokens": cache_read,
        }

    def _cache_hit(self, body: dict[str, Any]) -> bool:
        """Whether a marked prefix of this request is in the simulated cache (without changing it)."""
        return any(p in self._cached_prefixes for p in cache_prefixes(body))

    def _finish(
        self, body: dict[str, Any], answer: Answer
    ) -> tuple[list[dict[str, Any]], str, dict[str, int]]:
        """Content blocks, stop reason and usage for an answer (applies max_tokens truncation)."""
        if answer.tool_calls:
            blocks = [
                {
                    "type": "tool_use",
                    "id": "toolu_" + uuid.uuid4().hex[:20],
                    "name": c["name"],
                    "input": c["input"],
                }
                for c in answer.tool_calls
            ]
            payload = json.dumps([c["input"] for c in answer.tool_calls])
            return blocks, answer.stop_reason or "tool_use", self._usage(body, payload)
        if answer.tool_input is not None:
            payload = json.dumps(answer.tool_input)
            block = {
                "type": "tool_use",
                "id": "toolu_" + uuid.uuid4().hex[:20],
                "name": answer.tool_name or "tool",
                "input": answer.tool_input,
            }
            return [block], answer.stop_reason or "tool_use", self._usage(body, payload)
        text = answer.text or ""
        stop = answer.stop_reason or "end_turn"
        limit = int(body.get("max_tokens") or 1) * 4
        if len(text) > limit:
            text, stop = text[:limit], "max_tokens"
        return (
            ([{"type": "text", "text": text}] if text or stop != "end_turn" else []),
            stop,
            self._usage(body, text),
        )
