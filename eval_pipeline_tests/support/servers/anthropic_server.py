"""Anthropic-compatible test server (``POST /v1/messages``) with latency, faults and scripted answers.

Used by the inference tests (in a background thread) and by the benchmarks / demo (as a separate
process, so it does not compete with the client for the GIL):

    python -m eval_pipeline_tests.support.servers.anthropic_server --port 0 --latency 0.25 \
        --fault rate_limit=0.1 --fault overloaded=0.05 --retry-after 1

What it implements
------------------
* ``POST /v1/messages``, non-streaming and streaming (the documented SSE sequence: ``message_start``,
  ``content_block_start``, ``ping``, ``content_block_delta`` (``text_delta`` / ``input_json_delta``),
  ``content_block_stop``, ``message_delta`` (stop_reason + usage), ``message_stop``), usage fields,
  a ``request-id`` header, ``x-api-key`` (or ``Authorization: Bearer``, which SDK 2.x sends) checked
  against the configured key (401 otherwise).
* Latency: fixed or lognormal total latency; ``ttft_fraction`` of it passes before the first token.
* Faults (by probability, by a global script, or by a per-input script keyed by a substring of the
  user message): ``rate_limit`` (429 + ``retry-after`` / ``retry-after-ms``), ``overloaded`` (529),
  ``server_error`` (500), ``slow`` (sleeps ``slow_s`` before answering), ``drop`` (connection closed
  without a response), ``malformed`` (200 with a broken JSON body / SSE event), ``malformed_tool``
  (tool_use input that violates the tool's schema), ``refusal`` (stop_reason ``refusal``).
* Answers: a pluggable ``responder(request_json) -> Answer | str | dict | None``; the default one is
  deterministic in the input and models a *good* and a *degraded* model (name contains "degraded"):
  with an answer key (substring of the user message -> expected answer) the good model answers
  correctly with probability 0.95, the degraded one 0.6; a wrong answer is another label listed in
  the prompt. Requests with ``tools`` get a ``tool_use`` block whose input fits the tool's
  ``input_schema`` (override with ``judge_hook(request_json) -> dict``; scripted judges - length-preferring,
  quality-driven, contrarian, noisy copy of human labels - are in ``support/servers/scripted_judges.py``:
  ``judge_hook=scripted_judge`` dispatches on the judge model id).
* Prompt cache: ``cache_control`` breakpoints (on tools, system blocks or message text blocks) mark
  prefixes; a request whose longest marked prefix was seen before (same model) reports it as
  ``cache_read_input_tokens``, else as ``cache_creation_input_tokens`` (4 characters per token),
  and a hit's TTFT is ``cache_hit_ttft_factor`` of a miss's.
* Message Batches: ``POST /v1/messages/batches`` (create), ``GET .../{id}`` (retrieve),
  ``GET .../{id}/results`` (JSONL), ``POST .../{id}/cancel``. A batch ends ``batch_delay_s`` after
  creation; per-request outcomes are scripted by ``batch_outcome_by_match`` (substring of the user
  message -> outcome per submission: ``errored`` / ``errored_invalid`` / ``expired`` / ``canceled`` /
  None = succeeded). Counted in ``stats()["batches_created"]`` / ``["batch_requests"]``; every batches
  call (rejected ones too) in ``["batch_calls"]``. A wrong key gets 401 on each batches endpoint.
* Request counting (total, by model, by status, by fault): ``server.stats()`` in-process or
  ``GET /_admin/stats`` across processes; ``POST /_admin/reset``; ``POST /_admin/config`` patches
  the configuration (JSON of :class:`ServerConfig` fields).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import math
import random
import re
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from aiohttp import web

# The answer-key helpers are the package's (eval-pipeline serve-model uses the same ones).
from eval_pipeline.mock_server.answers import parse_labels, synth_from_schema
from eval_pipeline.mock_server.answers import system_text as _system_text
from eval_pipeline.mock_server.answers import unit as _unit

FAULTS = (
    "rate_limit",
    "overloaded",
    "server_error",
    "slow",
    "drop",
    "malformed",
    "malformed_tool",
    "refusal",
)
GOOD_ACCURACY = 0.95
DEGRADED_ACCURACY = 0.6
REFUSAL_TEXT = "I can't help with that request."


@dataclass
class Answer:
    """What the scripted model answers: text, or a tool_use input (dict)."""

    text: str | None = None
    tool_input: dict[str, Any] | None = None
    tool_name: str | None = None
    stop_reason: str | None = None  # default: end_turn / tool_use / max_tokens
    # several tool_use blocks at once (parallel calls): [{"name": ..., "input": {...}}, ...]
    tool_calls: list[dict[str, Any]] | None = None


@dataclass
class ServerConfig:
    """Everything that shapes the server's behaviour. All fields can be patched at runtime."""

    api_key: str = "test-key"
    latency_kind: str = "fixed"  # "fixed" | "lognormal"
    latency_s: float = 0.0  # fixed total latency, or the median for lognormal
    latency_sigma: float = 0.5  # lognormal shape
    ttft_fraction: float = 0.3  # share of the latency before the first token (streaming)
    fault_probabilities: dict[str, float] = field(default_factory=dict)  # fault name -> probability
    fault_script: list[str | None] = field(default_factory=list)  # consumed one per request, first
    fault_script_by_match: dict[str, list[str | None]] = field(
        default_factory=dict
    )  # substring -> faults per attempt
    fault_delay_s: float = 0.0  # delay before an error status is returned
    drop_after_latency: bool = False  # drop after the latency (else immediately)
    retry_after_s: float = 1.0  # sent on 429 as retry-after (seconds) and retry-after-ms
    slow_s: float = 30.0
    answer_key: dict[str, str] = field(default_factory=dict)  # user-message substring -> expected answer
    model_accuracy: dict[str, float] = field(
        default_factory=dict
    )  # model id -> accuracy (overrides defaults)
    refuse_matching: list[str] = field(default_factory=list)  # user-message substrings that get refused
    missing_models: list[str] = field(default_factory=list)  # model ids answered with 404 not_found_error
    seed: int = 0
    cache_hit_ttft_factor: float = 0.3  # TTFT of a prompt-cache hit relative to a miss
    batch_delay_s: float = 0.0  # a Message Batch ends this long after it was created
    batch_outcome_by_match: dict[str, list[str | None]] = field(
        default_factory=dict
    )  # substring -> outcome per submission
    # Agents (requests with tools and no forced tool_choice): substring of the first user message ->
    # the scripted steps, one per assistant turn: a list of calls [{"name", "input"}] (tool_use
    # blocks; a name the request renamed is matched by its wire form) or a string (the final
    # answer). Past the script's end the answer is text.
    tool_script_by_match: dict[str, list[Any]] = field(default_factory=dict)
    # Without a script: how many tool steps the default model takes before it answers in text
    agent_tool_steps: int = 1

    def validate(self) -> None:
        """Raise ValueError naming the bad field."""
        for name in (
            list(self.fault_probabilities)
            + [f for s in self.fault_script_by_match.values() for f in s if f]
            + [f for f in self.fault_script if f]
        ):
            if name not in FAULTS:
                raise ValueError(f"ServerConfig: unknown fault {name!r}; use one of {FAULTS}")
        if self.latency_kind not in ("fixed", "lognormal"):
            raise ValueError(f"ServerConfig.latency_kind={self.latency_kind!r}; use 'fixed' or 'lognormal'")
        if sum(self.fault_probabilities.values()) > 1.0:
            raise ValueError("ServerConfig.fault_probabilities: probabilities sum above 1")


# ----------------------------------------------------------------------------- answers


def _user_text(body: dict[str, Any]) -> str:
    """Concatenated text of the last user message."""
    for msg in reversed(body.get("messages") or []):
        if msg.get("role") == "user":
            content = msg.get("content")
            if isinstance(content, str):
                return content
            return "\n".join(
                b.get("text", "") for b in content or [] if isinstance(b, dict) and b.get("type") == "text"
            )
    return ""


class DefaultResponder:
    """Deterministic scripted model: good / degraded variants, answer key, labels, judge tool calls."""

    def __init__(self, server: AnthropicTestServer):
        self.server = server

    def accuracy(self, model: str) -> float:
        cfg = self.server.config
        if model in cfg.model_accuracy:
            return cfg.model_accuracy[model]
        return DEGRADED_ACCURACY if "degraded" in model.lower() else GOOD_ACCURACY

    def __call__(self, body: dict[str, Any]) -> Answer:
        cfg = self.server.config
        model = body.get("model", "")
        text = _user_text(body)
        plain = _without_cache_marks(body)  # a model's answer does not depend on cache_control
        seed = [
            model,
            plain.get("system"),
            plain.get("messages"),
            plain.get("tools"),
            self.server.occurrence(plain),
        ]
        u = _unit(seed)
        if any(s in text for s in cfg.refuse_matching):
            return Answer(text=REFUSAL_TEXT, stop_reason="refusal")
        if body.get("tools") and not (body.get("tool_choice") or {}).get("name"):
            agent = _agent_answer(cfg, body, u)
            if agent is not None:
                return agent
        if body.get("tools"):
            tools = body["tools"]
            choice = body.get("tool_choice") or {}
            name = choice.get("name") or tools[0]["name"]
            tool = next((t for t in tools if t.get("name") == name), tools[0])
            hook = self.server.judge_hook
            tool_input = hook(body) if hook else synth_from_schema(tool.get("input_schema", {}), u)
            return Answer(tool_input=tool_input, tool_name=tool["name"])
        labels = parse_labels(text) or parse_labels(_system_text(body))
        for needle, expected in cfg.answer_key.items():
            if needle in text:
                if u < self.accuracy(model):
                    return Answer(text=expected)
                wrong = [lab for lab in labels if lab.lower() != expected.lower()]
                return Answer(text=wrong[int(_unit(u, "w") * len(wrong))] if wrong else f"not {expected}")
        if labels:
            return Answer(text=labels[int(u * len(labels))])
        return Answer(text=f"Synthetic answer {int(u * 16**8):08x} to: {text[:60]}")


def _first_user_text(body: dict[str, Any]) -> str:
    for msg in body.get("messages") or []:
        if msg.get("role") == "user":
            content = msg.get("content")
            if isinstance(content, str):
                return content
            return "\n".join(
                b.get("text", "") for b in content or [] if isinstance(b, dict) and b.get("type") == "text"
            )
    return ""


def _tool_steps_taken(body: dict[str, Any]) -> int:
    """Assistant turns with tool_use blocks so far (the agent loop's step index)."""
    return sum(
        1
        for m in body.get("messages") or []
        if m.get("role") == "assistant"
        and isinstance(m.get("content"), list)
        and any(isinstance(b, dict) and b.get("type") == "tool_use" for b in m["content"])
    )


def _wire_name(scripted: str, offered: list[str]) -> str:
    """The offered tool a scripted (canonical) name stands for: itself, or its renamed form
    (invalid characters as ``_``, with a hash suffix when that collided)."""
    if scripted in offered:
        return scripted
    base = re.sub(r"[^a-zA-Z0-9_-]", "_", scripted)
    hashed = [n for n in offered if re.fullmatch(re.escape(base[:55]) + r"_[0-9a-f]{8}", n)]
    return hashed[0] if hashed else base


def _agent_answer(cfg: ServerConfig, body: dict[str, Any], u: float) -> Answer | None:
    """The next step of an agent conversation (tools offered, none forced), or None for the old
    behaviour (a first request without a script: one tool call fitting the first tool's schema)."""
    step = _tool_steps_taken(body)
    first = _first_user_text(body)
    tools = body["tools"]
    for needle, script in cfg.tool_script_by_match.items():
        if needle in first:
            item = script[step] if step < len(script) else f"Final answer after {step} tool steps."
            if isinstance(item, str):
                return Answer(text=item)
            names = [t["name"] for t in tools]
            calls = [
                {"name": _wire_name(c["name"], names), "input": c.get("input", c.get("arguments", {}))}
                for c in item
            ]
            return Answer(tool_calls=calls)
    if step == 0:
        return None
    if step < cfg.agent_tool_steps:
        tool = tools[step % len(tools)]
        return Answer(
            tool_calls=[{"name": tool["name"], "input": synth_from_schema(tool.get("input_schema", {}), u)}]
        )
    return Answer(text=f"Synthetic final answer after {step} tool steps to: {first[:60]}")


def _without_cache_marks(body: dict[str, Any]) -> dict[str, Any]:
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


def _tokens(text: str) -> int:
    return max(1, len(text) // 4)


def _plain_text(body: dict[str, Any]) -> str:
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


def _cache_prefixes(body: dict[str, Any]) -> list[tuple[str, str]]:
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


# ----------------------------------------------------------------------------- server


class AnthropicTestServer:
    """The server. ``start()`` runs it in a background thread; ``serve_forever()`` in the current one."""

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
        app.router.add_post("/v1/messages", self.handle_messages)
        app.router.add_post("/v1/messages/batches", self.handle_batch_create)
        app.router.add_get("/v1/messages/batches/{batch_id}", self.handle_batch_retrieve)
        app.router.add_get("/v1/messages/batches/{batch_id}/results", self.handle_batch_results)
        app.router.add_post("/v1/messages/batches/{batch_id}/cancel", self.handle_batch_cancel)
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

    def start(self) -> AnthropicTestServer:
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

    def __enter__(self) -> AnthropicTestServer:
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

    def _error(
        self, status: int, etype: str, message: str, request_id: str, extra: dict[str, str] | None = None
    ) -> web.Response:
        self.by_status[str(status)] += 1
        body = {"type": "error", "error": {"type": etype, "message": message}, "request_id": request_id}
        return web.json_response(body, status=status, headers={"request-id": request_id, **(extra or {})})

    # -- the endpoint
    async def handle_messages(self, request: web.Request) -> web.StreamResponse:
        request_id = "req_" + uuid.uuid4().hex[:24]
        self.total += 1
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            return await self._handle(request, request_id)
        finally:
            self.in_flight -= 1

    async def _handle(self, request: web.Request, request_id: str) -> web.StreamResponse:
        cfg = self.config
        bearer = request.headers.get("authorization", "")
        if request.headers.get("x-api-key") != cfg.api_key and bearer != f"Bearer {cfg.api_key}":
            return self._error(401, "authentication_error", "invalid x-api-key / authorization", request_id)
        try:
            body = json.loads(await request.read())
        except ValueError:
            return self._error(400, "invalid_request_error", "body is not JSON", request_id)
        for key in ("model", "messages", "max_tokens"):
            if key not in body:
                return self._error(400, "invalid_request_error", f"{key}: Field required", request_id)
        model = body["model"]
        self.by_model[model] += 1
        if model in cfg.missing_models:
            return self._error(404, "not_found_error", f"model: {model}", request_id)
        text = _user_text(body)
        self.by_user_text[text[:200]] += 1
        fault = self._pick_fault(body, text)
        if fault:
            self.by_fault[fault] += 1
        if fault in ("rate_limit", "overloaded", "server_error"):
            if cfg.fault_delay_s:
                await asyncio.sleep(cfg.fault_delay_s)
            if fault == "rate_limit":
                ra = cfg.retry_after_s
                headers = {
                    "retry-after": str(max(0, math.ceil(ra)) if ra >= 1 else ra),
                    "retry-after-ms": str(int(ra * 1000)),
                }
                return self._error(
                    429,
                    "rate_limit_error",
                    "Number of requests has exceeded your rate limit",
                    request_id,
                    headers,
                )
            if fault == "overloaded":
                return self._error(529, "overloaded_error", "Overloaded", request_id)
            return self._error(500, "api_error", "Internal server error", request_id)
        ttft, rest = self._latency()
        if self._cache_hit(body):
            ttft *= cfg.cache_hit_ttft_factor
        if fault == "slow":
            ttft = cfg.slow_s
        if fault == "drop":
            if cfg.drop_after_latency:
                await asyncio.sleep(ttft + rest)
            self.by_status["dropped"] += 1
            if request.transport is not None:
                request.transport.abort()
            raise asyncio.CancelledError()  # aiohttp discards the handler; the client sees a closed connection
        answer = self._answer(body, fault)
        if body.get("stream"):
            return await self._stream(request, body, answer, request_id, ttft, rest, fault)
        await asyncio.sleep(ttft + rest)
        if fault == "malformed":
            self.by_status["200"] += 1
            return web.Response(
                body=b'{"id": "msg_broken", "type": "message", "content": [{"type": "te',
                content_type="application/json",
                headers={"request-id": request_id},
            )
        message = self._message(body, answer, request_id)
        self.by_status["200"] += 1
        return web.json_response(message, headers={"request-id": request_id})

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
        prefixes = _cache_prefixes(body)
        if prefixes:
            with self._lock:
                seen = [p for p in prefixes if p in self._cached_prefixes]
                self._cached_prefixes.update(prefixes)
            longest = prefixes[-1]
            read = _tokens(seen[-1][1]) if seen else 0
            cache_write = _tokens(longest[1]) - read
            cache_read = read
            input_tokens = max(1, _tokens(_plain_text(body)) - _tokens(longest[1]))
        else:
            cache_read = cache_write = 0
            input_tokens = _tokens(_plain_text(body))
        return {
            "input_tokens": input_tokens,
            "output_tokens": _tokens(out_text),
            "cache_creation_input_tokens": cache_write,
            "cache_read_input_tokens": cache_read,
        }

    def _cache_hit(self, body: dict[str, Any]) -> bool:
        """Whether a marked prefix of this request is in the simulated cache (without changing it)."""
        return any(p in self._cached_prefixes for p in _cache_prefixes(body))

    # -- Message Batches
    def _batch_json(self, batch: dict[str, Any]) -> dict[str, Any]:
        now = time.time()
        status = batch["status"]
        if status == "in_progress" and now >= batch["ends_at"]:
            status = batch["status"] = "ended"
        n = len(batch["requests"])
        counts = {"processing": n, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0}
        if status == "ended":
            counts["processing"] = 0
            for item in batch["results"]:
                kind = item["result"]["type"]
                counts[kind] += 1
        iso = lambda t: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))  # noqa: E731
        return {
            "id": batch["id"],
            "type": "message_batch",
            "processing_status": status,
            "request_counts": counts,
            "created_at": iso(batch["created_at"]),
            "expires_at": iso(batch["created_at"] + 86400),
            "ended_at": iso(batch["ends_at"]) if status == "ended" else None,
            "archived_at": None,
            "cancel_initiated_at": iso(batch["canceled_at"]) if batch.get("canceled_at") else None,
            "results_url": f"{self.base_url}/v1/messages/batches/{batch['id']}/results"
            if status == "ended"
            else None,
        }

    def _batch_outcome(self, text: str) -> str | None:
        for needle, script in self.config.batch_outcome_by_match.items():
            if needle in text:
                i = self._batch_match_attempts[needle]
                self._batch_match_attempts[needle] += 1
                return script[i] if i < len(script) else None
        return None

    def _batch_result(self, custom_id: str, params: dict[str, Any]) -> dict[str, Any]:
        outcome = self._batch_outcome(_user_text(params))
        if outcome in ("errored", "errored_invalid"):
            etype = "invalid_request_error" if outcome == "errored_invalid" else "api_error"
            return {
                "custom_id": custom_id,
                "result": {
                    "type": "errored",
                    "error": {"type": "error", "error": {"type": etype, "message": "scripted batch error"}},
                },
            }
        if outcome in ("expired", "canceled"):
            return {"custom_id": custom_id, "result": {"type": outcome}}
        self.by_model[params.get("model", "")] += 1
        answer = self._answer(params, None)
        message = self._message(params, answer, "req_" + uuid.uuid4().hex[:24])
        return {"custom_id": custom_id, "result": {"type": "succeeded", "message": message}}

    def _auth_ok(self, request: web.Request) -> bool:
        key = self.config.api_key
        return (
            request.headers.get("x-api-key") == key
            or request.headers.get("authorization", "") == f"Bearer {key}"
        )

    async def handle_batch_create(self, request: web.Request) -> web.Response:
        request_id = "req_" + uuid.uuid4().hex[:24]
        self.batch_calls["create"] += 1
        if not self._auth_ok(request):
            return self._error(401, "authentication_error", "invalid x-api-key / authorization", request_id)
        body = json.loads(await request.read())
        reqs = body.get("requests") or []
        ids = [r.get("custom_id") for r in reqs]
        if (
            not reqs
            or len(set(ids)) != len(ids)
            or any(not isinstance(i, str) or not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", i) for i in ids)
        ):
            return self._error(
                400,
                "invalid_request_error",
                "requests: custom_id must be unique and match ^[a-zA-Z0-9_-]{1,64}$",
                request_id,
            )
        batch_id = "msgbatch_" + uuid.uuid4().hex[:24]
        now = time.time()
        batch = {
            "id": batch_id,
            "requests": reqs,
            "created_at": now,
            "ends_at": now + self.config.batch_delay_s,
            "status": "in_progress",
            "results": [self._batch_result(r["custom_id"], r["params"]) for r in reqs],
        }
        self.batches[batch_id] = batch
        self.batches_created += 1
        self.batch_requests += len(reqs)
        return web.json_response(self._batch_json(batch), headers={"request-id": request_id})

    def _get_batch(self, request: web.Request) -> dict[str, Any] | None:
        return self.batches.get(request.match_info["batch_id"])

    def _batch_auth_error(self, request: web.Request, call: str) -> web.Response | None:
        """Count a retrieve / results / cancel call; 401 (as the API does) when the key is wrong."""
        self.batch_calls[call] += 1
        if self._auth_ok(request):
            return None
        return self._error(401, "authentication_error", "invalid x-api-key / authorization", "req_none")

    async def handle_batch_retrieve(self, request: web.Request) -> web.Response:
        if (denied := self._batch_auth_error(request, "retrieve")) is not None:
            return denied
        batch = self._get_batch(request)
        if batch is None:
            return self._error(404, "not_found_error", "batch not found", "req_none")
        return web.json_response(self._batch_json(batch))

    async def handle_batch_results(self, request: web.Request) -> web.Response:
        if (denied := self._batch_auth_error(request, "results")) is not None:
            return denied
        batch = self._get_batch(request)
        if batch is None or self._batch_json(batch)["processing_status"] != "ended":
            return self._error(404, "not_found_error", "batch not found or not ended", "req_none")
        lines = "\n".join(json.dumps(item) for item in batch["results"]) + "\n"
        return web.Response(body=lines.encode(), content_type="application/binary")

    async def handle_batch_cancel(self, request: web.Request) -> web.Response:
        if (denied := self._batch_auth_error(request, "cancel")) is not None:
            return denied
        batch = self._get_batch(request)
        if batch is None:
            return self._error(404, "not_found_error", "batch not found", "req_none")
        if self._batch_json(batch)["processing_status"] != "ended":
            batch["canceled_at"] = batch["ends_at"] = time.time()
            batch["status"] = "ended"
            batch["results"] = [
                {"custom_id": r["custom_id"], "result": {"type": "canceled"}} for r in batch["requests"]
            ]
        return web.json_response(self._batch_json(batch))

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

    def _message(self, body: dict[str, Any], answer: Answer, request_id: str) -> dict[str, Any]:
        content, stop, usage = self._finish(body, answer)
        return {
            "id": "msg_" + request_id[4:],
            "type": "message",
            "role": "assistant",
            "model": body["model"],
            "content": content,
            "stop_reason": stop,
            "stop_sequence": None,
            "usage": usage,
        }

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

        start = {
            "id": "msg_" + request_id[4:],
            "type": "message",
            "role": "assistant",
            "model": body["model"],
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {**usage, "output_tokens": 1},
        }
        head: list[bytes] = [ev("message_start", {"type": "message_start", "message": start})]
        tail: list[bytes] = []
        for i, block in enumerate(content):
            if block["type"] == "text":
                txt = block["text"]
                cut = max(1, len(txt) // 3)
                head.append(
                    ev(
                        "content_block_start",
                        {
                            "type": "content_block_start",
                            "index": i,
                            "content_block": {"type": "text", "text": ""},
                        },
                    )
                )
                head.append(ev("ping", {"type": "ping"}))
                head.append(
                    ev(
                        "content_block_delta",
                        {
                            "type": "content_block_delta",
                            "index": i,
                            "delta": {"type": "text_delta", "text": txt[:cut]},
                        },
                    )
                )
                if txt[cut:]:
                    tail.append(
                        ev(
                            "content_block_delta",
                            {
                                "type": "content_block_delta",
                                "index": i,
                                "delta": {"type": "text_delta", "text": txt[cut:]},
                            },
                        )
                    )
            else:
                payload = json.dumps(block["input"])
                cut = max(1, len(payload) // 2)
                head.append(
                    ev(
                        "content_block_start",
                        {"type": "content_block_start", "index": i, "content_block": {**block, "input": {}}},
                    )
                )
                head.append(ev("ping", {"type": "ping"}))
                head.append(
                    ev(
                        "content_block_delta",
                        {
                            "type": "content_block_delta",
                            "index": i,
                            "delta": {"type": "input_json_delta", "partial_json": payload[:cut]},
                        },
                    )
                )
                tail.append(
                    ev(
                        "content_block_delta",
                        {
                            "type": "content_block_delta",
                            "index": i,
                            "delta": {"type": "input_json_delta", "partial_json": payload[cut:]},
                        },
                    )
                )
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

        resp = web.StreamResponse(
            status=200,
            headers={
                "request-id": request_id,
                "content-type": "text/event-stream",
                "cache-control": "no-cache",
            },
        )
        await asyncio.sleep(ttft)
        await resp.prepare(request)
        await resp.write(b"".join(head))
        if rest > 0:
            await asyncio.sleep(rest)
        await resp.write(b"".join(tail))
        await resp.write_eof()
        self.by_status["200"] += 1
        return resp


# ----------------------------------------------------------------------------- remote control


def remote_stats(base_url: str) -> dict[str, Any]:
    """Counters of a server running in another process."""
    import httpx

    return httpx.get(f"{base_url}/_admin/stats", timeout=10).json()


def remote_reset(base_url: str) -> None:
    """Zero the counters of a server running in another process."""
    import httpx

    httpx.post(f"{base_url}/_admin/reset", timeout=10).raise_for_status()


def remote_configure(base_url: str, **patch: Any) -> None:
    """Patch the configuration of a server running in another process (ServerConfig field names)."""
    import httpx

    r = httpx.post(f"{base_url}/_admin/config", json=patch, timeout=10)
    if r.status_code != 200:
        raise ValueError(f"remote_configure({patch}): {r.text}")


class ServerProcess:
    """Runs the server as a subprocess (``with ServerProcess(latency_s=0.25) as url: ...``);
    ``module`` names the server module (subclasses run the other vendors' servers)."""

    module = "eval_pipeline_tests.support.servers.anthropic_server"

    def __init__(self, **config: Any):
        self.config = config
        self.proc: Any = None
        self.base_url = ""

    def __enter__(self) -> ServerProcess:
        import subprocess

        args = [
            sys.executable,
            "-m",
            self.module,
            "--port",
            "0",
            "--config-json",
            json.dumps(self.config),
        ]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if "listening on" not in line:
            self.proc.kill()
            raise RuntimeError(f"test server failed to start: {line!r}")
        self.base_url = line.strip().rsplit(" ", 1)[-1]
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except Exception:
                self.proc.kill()


def _parse_args(argv: list[str] | None) -> tuple[ServerConfig, int]:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0 = ephemeral, printed on start)")
    p.add_argument("--api-key", default=None, help="expected x-api-key (default: test-key)")
    p.add_argument(
        "--latency", type=float, default=None, help="total latency in seconds (median for lognormal)"
    )
    p.add_argument("--latency-kind", choices=("fixed", "lognormal"), default=None)
    p.add_argument("--sigma", type=float, default=None, help="lognormal sigma")
    p.add_argument("--ttft-fraction", type=float, default=None)
    p.add_argument(
        "--fault", action="append", default=[], metavar="NAME=P", help=f"fault probability; NAME in {FAULTS}"
    )
    p.add_argument("--retry-after", type=float, default=None, help="retry-after seconds sent with 429")
    p.add_argument("--answer-key", default=None, help="JSON file: {user-message substring: expected answer}")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--config-json", default=None, help="ServerConfig fields as JSON (applied first)")
    a = p.parse_args(argv)
    cfg = ServerConfig(**json.loads(a.config_json)) if a.config_json else ServerConfig()
    for flag, attr in (
        ("api_key", "api_key"),
        ("latency", "latency_s"),
        ("latency_kind", "latency_kind"),
        ("sigma", "latency_sigma"),
        ("ttft_fraction", "ttft_fraction"),
        ("retry_after", "retry_after_s"),
        ("seed", "seed"),
    ):
        if getattr(a, flag) is not None:
            setattr(cfg, attr, getattr(a, flag))
    for item in a.fault:
        name, _, prob = item.partition("=")
        cfg.fault_probabilities[name] = float(prob)
    if a.answer_key:
        with open(a.answer_key, encoding="utf-8") as fh:
            cfg.answer_key.update(json.load(fh))
    cfg.validate()
    return cfg, a.port


def main(argv: list[str] | None = None) -> None:
    """CLI entry point: serve until killed."""
    cfg, port = _parse_args(argv)
    serve(AnthropicTestServer(cfg, port=port))


def serve(server: AnthropicTestServer) -> None:
    """Serve until killed (uvloop when installed: a faster loop for the benchmark server)."""
    try:
        import uvloop

        runner: Callable[..., Any] = uvloop.run
    except ImportError:
        runner = asyncio.run
    with contextlib.suppress(KeyboardInterrupt):
        runner(server.serve_forever())


if __name__ == "__main__":
    main()
