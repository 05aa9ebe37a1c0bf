"""AnthropicProvider: the Anthropic Messages API through the official ``anthropic.AsyncAnthropic`` SDK.

In: a ModelRequest and its store key. Out: a ModelResponse (text, tool input, usage, cost, latency,
TTFT) or a categorized failure (``error_category``), never an exception. Streaming by default
(the SSE body is parsed by :mod:`eval_pipeline.inference.sse`, TTFT measured), with our own
retries (the SDK's are disabled), adaptive concurrency, client-side rate limits, a per-request
timeout and cost from a price table (:func:`~eval_pipeline.inference.providers.compute_cost`).
``cache_prompt`` requests carry ``cache_control`` on their static prefix (:func:`_mark_cache`); the
Message Batches helpers (``batch_params`` / ``batch_response``) serve :mod:`.batches`.

The API key is given to the constructor only (the Dagster resource reads it through ``EnvVar``).
It is held by the SDK client, is not part of any repr, and is scrubbed from every error message.

Why this module is long: it grew past 450 lines when the tree was first formatted with ruff
(line length 110); splitting it is part of the layout work in issue 23.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from eval_pipeline.inference.guard import CURRENT_GUARD, StepGuard
from eval_pipeline.inference.limits import AdaptiveLimiter, RateLimiter, RetryPolicy
from eval_pipeline.inference.providers import Provider, compute_cost, error_response, validate_prices
from eval_pipeline.inference.sse import SSEAccumulator, StreamError, parse_tool_input
from eval_pipeline.inference.tool_names import ToolNameMap
from eval_pipeline.inference.types import ModelRequest, ModelResponse

log = logging.getLogger(__name__)


@dataclass
class _Failure:
    """One failed attempt, classified."""

    category: str
    message: str
    retryable: bool
    throttled: bool = False  # 429/529: feeds the adaptive limiter
    retry_after_s: float | None = None
    request_id: str | None = None
    fatal_kind: str | None = None  # authentication / permission / model_not_found / invalid_request
    status: int | None = None


@dataclass
class _LoopState:
    """Objects bound to one event loop (a sync caller may run several loops in turn)."""

    loop: asyncio.AbstractEventLoop
    client: Any
    limiter: AdaptiveLimiter
    rate: RateLimiter
    rng: random.Random = field(default_factory=random.Random)


class AnthropicProvider(Provider):
    """Anthropic Messages API through the official async SDK.

    Parameters: ``api_key`` (never logged), ``base_url`` (None = SDK default), ``max_concurrency``
    (upper bound on requests in flight), ``requests_per_minute`` / ``tokens_per_minute`` (client-side
    limits, None = off), ``adaptive`` (back off on 429/529), ``retry`` (:class:`RetryPolicy`),
    ``request_timeout_s`` (per attempt, whole response), ``stream`` (True measures TTFT),
    ``prices`` (``{model: {input, output, cache_read, cache_write}}`` USD per million tokens),
    ``default_max_tokens`` (used when a request's params have none), ``http_backend``
    (``"aiohttp"``: the SDK's aiohttp transport, much cheaper per request at high concurrency than
    ``"httpx"``, whose connection pool costs O(connections) per request), ``open_telemetry``
    (passed to the SDK client; ``False`` turns its per-call tracing off, ~10% less CPU per request;
    None = off when no OpenTelemetry tracer provider is configured and ``ANTHROPIC_OPEN_TELEMETRY``
    is unset - spans would record nothing then - else the SDK default).
    """

    name = "anthropic"
    default_headers: dict[str, str] | None = None  # sent with every request (the synthetic provider's label)

    def __init__(
        self,
        api_key: str,
        *,
        base_url: str | None = None,
        max_concurrency: int = 16,
        requests_per_minute: float | None = None,
        tokens_per_minute: float | None = None,
        adaptive: bool = True,
        retry: RetryPolicy | None = None,
        request_timeout_s: float = 120.0,
        connect_timeout_s: float = 10.0,
        stream: bool = True,
        prices: Mapping[str, Mapping[str, float]] | None = None,
        default_max_tokens: int = 1024,
        seed: int | None = None,
        http_backend: str = "aiohttp",
        open_telemetry: Any = None,
    ):
        if not api_key:
            raise ValueError(
                "AnthropicProvider: api_key is empty; set the environment variable the resource reads (e.g. ANTHROPIC_API_KEY)"
            )
        self._api_key = api_key
        self.base_url = base_url
        self.max_concurrency = max_concurrency
        self.requests_per_minute = requests_per_minute
        self.tokens_per_minute = tokens_per_minute
        self.adaptive = adaptive
        self.retry = retry or RetryPolicy()
        self.request_timeout_s = request_timeout_s
        self.connect_timeout_s = connect_timeout_s
        self.stream = stream
        self.prices = validate_prices(prices or {})
        self.default_max_tokens = default_max_tokens
        self.seed = seed
        if http_backend not in ("aiohttp", "httpx"):
            raise ValueError(
                f"AnthropicProvider(http_backend={http_backend!r}): use 'aiohttp' (faster at high concurrency) or 'httpx'"
            )
        self.http_backend = http_backend
        self.open_telemetry = open_telemetry
        self._state: _LoopState | None = None
        self._unpriced_warned: set[str] = set()

    def __repr__(self) -> str:
        return (
            f"AnthropicProvider(base_url={self.base_url!r}, max_concurrency={self.max_concurrency}, "
            f"stream={self.stream}, api_key=<redacted>)"
        )

    # -- per-loop state
    def _loop_state(self) -> _LoopState:
        loop = asyncio.get_running_loop()
        if self._state is None or self._state.loop is not loop:
            import anthropic

            httpx = _httpx_module()
            pool = httpx.Limits(
                max_connections=self.max_concurrency + 16, max_keepalive_connections=self.max_concurrency + 16
            )
            http_timeout = httpx.Timeout(self.request_timeout_s, connect=self.connect_timeout_s)
            if self.http_backend == "aiohttp":
                http_client = anthropic.DefaultAioHttpClient(limits=pool, timeout=http_timeout)
            else:
                http_client = anthropic.DefaultAsyncHttpxClient(limits=pool, timeout=http_timeout)
            otel = self.open_telemetry if self.open_telemetry is not None else _default_open_telemetry()
            extra: dict[str, Any] = {} if otel is None else {"open_telemetry": otel}
            if self.default_headers:
                extra["default_headers"] = self.default_headers
            client = anthropic.AsyncAnthropic(
                api_key=self._api_key,
                base_url=self.base_url,
                max_retries=0,
                timeout=http_timeout,
                http_client=http_client,
                **extra,
            )
            self._state = _LoopState(
                loop=loop,
                client=client,
                limiter=AdaptiveLimiter(self.max_concurrency, adaptive=self.adaptive),
                rate=RateLimiter(self.requests_per_minute, self.tokens_per_minute),
                rng=random.Random(self.seed),
            )
        return self._state

    @property
    def limiter(self) -> AdaptiveLimiter | None:
        """The concurrency limiter of the current/last run (for inspection)."""
        return self._state.limiter if self._state else None

    async def astart(self) -> None:
        """Create the SDK client and limiters for the running loop."""
        self._loop_state()

    async def aclose(self) -> None:
        """Close the SDK client of the current loop."""
        state, self._state = self._state, None
        if state is not None and state.loop is asyncio.get_running_loop():
            await state.client.close()

    def secrets(self) -> tuple[str, ...]:
        return (self._api_key,)

    def _scrub(self, text: str) -> str:
        return text.replace(self._api_key, "<redacted>") if self._api_key in text else text

    # -- one request, with retries
    async def acomplete(self, request: ModelRequest, cache_key: str) -> ModelResponse:
        """Call the API with retries; returns the answer or a categorized failure."""
        state = self._loop_state()
        kwargs = self._kwargs(request)
        estimate = _estimate_tokens(request, kwargs["max_tokens"]) if state.rate.active else 0.0
        guard = CURRENT_GUARD.get()
        failure: _Failure | None = None
        attempt = backoffs = 0
        while attempt < self.retry.max_attempts:
            attempt += 1
            if state.rate.active:
                await state.rate.acquire(estimate)
            await state.limiter.acquire(0 if attempt > 1 else 1)
            throttled: bool | None = None
            if guard is not None and guard.tripped is not None:  # the step stopped: send nothing more
                state.limiter.release(None)
                return error_response(
                    request, cache_key, "api_error", f"not sent: {guard.tripped}", attempt - 1
                )
            try:
                if guard is not None:
                    guard.attempt_started()
                try:
                    result = await self._attempt(state, request, kwargs, cache_key)
                finally:
                    if guard is not None:
                        guard.attempt_ended()
                if guard is not None:
                    self._report(guard, result)
                if isinstance(result, ModelResponse):
                    throttled = False
                    result.attempts = attempt
                    if state.rate.active:
                        state.rate.settle(estimate, result.input_tokens + result.output_tokens)
                    return result
                failure = result
                throttled = True if failure.throttled else None
            finally:
                state.limiter.release(throttled)
            if not failure.retryable or attempt >= self.retry.max_attempts:
                break
            if guard is not None and not guard.allow_retry(failure.category):
                break
            # The exponential backoff grows with the failures that gave no retry-after only: a
            # 429 already waited what the server asked, and must not lengthen the next backoff.
            if failure.retry_after_s is None:
                backoffs += 1
            wait = self.retry.delay(max(backoffs, 1), failure.retry_after_s, state.rng)
            log.debug(
                "sample %s attempt %d failed (%s); retrying in %.2fs",
                request.sample_id,
                attempt,
                failure.category,
                wait,
            )
            await asyncio.sleep(wait)
        assert failure is not None
        return error_response(
            request, cache_key, failure.category, self._scrub(failure.message), attempt, failure.request_id
        )

    def _report(self, guard: StepGuard, result: ModelResponse | _Failure) -> None:
        """Tell the step's guard what one attempt got (an answer, a timeout, a non-retryable rejection)."""
        if isinstance(result, ModelResponse):
            guard.answered()
        elif result.category == "timeout":
            guard.timed_out(self.request_timeout_s)
        elif result.category != "connection":
            guard.answered()
            if result.fatal_kind is not None:
                guard.rejected(result.fatal_kind, result.status, result.message)

    @property
    def endpoint(self) -> str:
        """The base URL requests go to (for error messages)."""
        return self.base_url or "https://api.anthropic.com (the SDK default)"

    def _kwargs(self, request: ModelRequest) -> dict[str, Any]:
        """SDK keyword arguments. Params the installed SDK has no argument for (e.g. temperature,
        top_p, top_k in SDK 2.x) are sent in ``extra_body``, so they still reach the API."""
        known = _sdk_create_params()
        kwargs: dict[str, Any] = {"model": request.model, "messages": request.messages}
        extra: dict[str, Any] = {}
        for k, v in request.params.items():
            if k in known:
                kwargs[k] = v
            else:
                extra[k] = v
        kwargs.setdefault("max_tokens", self.default_max_tokens)
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
            _mark_cache(kwargs, request.static_prefix_chars)
        if extra:
            kwargs["extra_body"] = {**kwargs.get("extra_body", {}), **extra}
        return kwargs

    # -- Message Batches (driven by eval_pipeline.inference.batches)
    def batch_params(self, request: ModelRequest) -> dict[str, Any]:
        """The ``params`` of one Message Batches request: the same body a live call sends."""
        kwargs = self._kwargs(request)
        extra = kwargs.pop("extra_body", None) or {}
        return {**kwargs, **extra}

    async def batch_client(self) -> Any:
        """The SDK client of the running loop (``client.messages.batches``)."""
        return self._loop_state().client

    def batch_response(
        self, request: ModelRequest, cache_key: str, message: Any, batch_id: str
    ) -> ModelResponse:
        """A succeeded batch result (an SDK ``Message``) as a ModelResponse: no latency or TTFT (a
        batch answer has none that means anything), cost at the batch discount."""
        texts = [b.text for b in message.content if b.type == "text"]
        tools = [(b.id, b.name, json.dumps(b.input)) for b in message.content if b.type == "tool_use"]
        u = message.usage
        usage = {
            "input": u.input_tokens or 0,
            "output": u.output_tokens or 0,
            "cache_read": u.cache_read_input_tokens or 0,
            "cache_write": u.cache_creation_input_tokens or 0,
        }
        resp = self._response(
            request,
            cache_key,
            "".join(texts),
            tools,
            message.stop_reason,
            usage,
            message.id,
            None,
            None,
            batch=True,
        )
        resp.batch_id = batch_id
        return resp

    async def _attempt(
        self, state: _LoopState, request: ModelRequest, kwargs: dict[str, Any], cache_key: str
    ) -> ModelResponse | _Failure:
        """One HTTP call: the response, or a classified failure."""
        t0 = time.perf_counter()
        try:
            async with asyncio.timeout(self.request_timeout_s):
                if self.stream:
                    return await self._streamed(state, request, kwargs, cache_key, t0)
                return await self._unary(state, request, kwargs, cache_key, t0)
        except Exception as exc:  # classified below; nothing escapes
            return self._classify(exc)

    async def _streamed(
        self, state: _LoopState, request: ModelRequest, kwargs: dict[str, Any], cache_key: str, t0: float
    ) -> ModelResponse:
        """Streaming call. The SDK builds and sends the request and maps HTTP errors; the SSE body is
        parsed here (plain ``json.loads`` per event), which costs far less per request than the SDK's
        typed event objects and keeps the pipeline within a few percent of a bare SDK loop."""
        async with state.client.messages.with_streaming_response.create(**kwargs, stream=True) as resp:
            request_id = resp.headers.get("request-id")
            guard = CURRENT_GUARD.get()
            if guard is not None:  # the endpoint answered (headers): a long answer is not a hang
                guard.answered()
            acc = SSEAccumulator(t0)
            async for chunk in resp.iter_bytes():
                acc.feed(chunk)
            acc.finish()
        latency = time.perf_counter() - t0
        return self._response(
            request,
            cache_key,
            "".join(acc.texts),
            acc.tool_blocks(),
            acc.stop_reason,
            acc.usage,
            request_id,
            latency,
            acc.ttft,
        )

    async def _unary(
        self, state: _LoopState, request: ModelRequest, kwargs: dict[str, Any], cache_key: str, t0: float
    ) -> ModelResponse:
        msg = await state.client.messages.create(**kwargs)
        latency = time.perf_counter() - t0
        texts = [b.text for b in msg.content if b.type == "text"]
        tools = [(b.id, b.name, json.dumps(b.input)) for b in msg.content if b.type == "tool_use"]
        u = msg.usage
        usage = {
            "input": u.input_tokens or 0,
            "output": u.output_tokens or 0,
            "cache_read": u.cache_read_input_tokens or 0,
            "cache_write": u.cache_creation_input_tokens or 0,
        }
        return self._response(
            request,
            cache_key,
            "".join(texts),
            tools,
            msg.stop_reason,
            usage,
            msg._request_id,
            latency,
            None,
        )

    def _response(
        self,
        request: ModelRequest,
        cache_key: str,
        text: str,
        tool_blocks: list[tuple[str | None, str, str]],
        stop_reason: str | None,
        usage: dict[str, int],
        request_id: str | None,
        latency: float | None,
        ttft: float | None,
        batch: bool = False,
    ) -> ModelResponse:
        """Build the ModelResponse, with cost and model-side outcome category. ``tool_blocks``:
        every tool_use block as (id, name on the wire, raw input JSON)."""
        tool_input, category, message = None, None, None
        tool_calls = None
        if tool_blocks:
            names = ToolNameMap.for_request(request.tools, request.messages, request.tool_choice)
            tool_calls = []
            for n, (call_id, wire_name, raw) in enumerate(tool_blocks):
                name = names.canonical(wire_name)
                args, problem = parse_tool_input(raw, request, name if request.tools else None)
                if n == 0:
                    tool_input = args
                if problem and category is None:
                    category, message = "malformed_tool_output", problem
                tool_calls.append({"id": call_id or f"call_{n}", "name": name, "arguments": args or {}})
        if stop_reason == "refusal":
            category, message = "refusal", "the model refused (stop_reason=refusal)"
        elif stop_reason == "max_tokens" and category is None:
            category, message = "max_tokens", "the answer hit max_tokens and is truncated"
        elif not text and not tool_blocks and category is None:
            category, message = "empty", "the model returned no text and no tool call"
        out_tok = usage.get("output", 0)
        if latency is None:
            gen_time = None
        else:
            gen_time = latency - ttft if ttft is not None and latency - ttft > 0.05 * latency else latency
        if request.model not in self.prices and request.model not in self._unpriced_warned:
            self._unpriced_warned.add(request.model)
            log.warning(
                "no price for model %r in the price table; its cost is recorded as 0. Add it to the model registry prices.",
                request.model,
            )
        return ModelResponse(
            sample_id=request.sample_id,
            repeat=request.repeat,
            model=request.model,
            text=text or None,
            stop_reason=stop_reason,
            latency_s=latency,
            ttft_s=ttft,
            output_tokens_per_s=(out_tok / gen_time) if gen_time else None,
            input_tokens=usage.get("input", 0),
            output_tokens=out_tok,
            cache_read_tokens=usage.get("cache_read", 0),
            cache_creation_tokens=usage.get("cache_write", 0),
            cost_usd=compute_cost(
                self.prices,
                request.model,
                usage.get("input", 0),
                out_tok,
                usage.get("cache_read", 0),
                usage.get("cache_write", 0),
                batch=batch,
            ),
            request_id=request_id,
            error_category=category,
            error_message=message,
            cached=False,
            cache_key=cache_key,
            tool_input=tool_input,
            tool_calls=tool_calls,
        )

    def _classify(self, exc: BaseException) -> _Failure:
        """Map an exception from one attempt to an error category and a retry decision."""
        import anthropic

        httpx = _httpx_module()
        if isinstance(
            exc, (TimeoutError, asyncio.TimeoutError, anthropic.APITimeoutError, httpx.TimeoutException)
        ):
            return _Failure("timeout", f"no complete response within {self.request_timeout_s}s", True)
        if isinstance(exc, anthropic.APIStatusError):
            status = exc.status_code
            rid = exc.response.headers.get("request-id")
            msg = f"HTTP {status}: {self._scrub(str(exc.message))[:300]}"
            if status == 429:
                return _Failure("rate_limited", msg, True, True, _retry_after(exc.response.headers), rid)
            if status == 529 or getattr(exc, "type", None) == "overloaded_error":
                return _Failure("overloaded", msg, True, True, _retry_after(exc.response.headers), rid)
            if status >= 500 or status in (408, 409):
                return _Failure("api_error", msg, True, False, _retry_after(exc.response.headers), rid)
            kind = _FATAL_KINDS.get(status)
            if status in (401, 403):
                msg = f"HTTP {status}: authentication failed; check the API key environment variable (the key is not shown)"
            return _Failure("api_error", msg, False, False, None, rid, kind, status)
        if isinstance(exc, StreamError):
            if exc.error_type == "overloaded_error":
                return _Failure("overloaded", f"stream error: {exc}", True, True)
            if exc.error_type == "rate_limit_error":
                return _Failure("rate_limited", f"stream error: {exc}", True, True)
            return _Failure("api_error", f"stream error: {self._scrub(str(exc))[:300]}", True)
        if isinstance(exc, (anthropic.APIConnectionError, httpx.TransportError, ConnectionError)):
            return _Failure("connection", f"connection failed: {type(exc).__name__}", True)
        if isinstance(exc, (ValueError, anthropic.APIResponseValidationError, KeyError, AttributeError)):
            # malformed JSON body / SSE event, or a body that does not fit the Messages schema
            return _Failure(
                "api_error", f"malformed response: {type(exc).__name__}: {self._scrub(str(exc))[:200]}", True
            )
        if isinstance(exc, anthropic.APIError):
            return _Failure("api_error", f"{type(exc).__name__}: {self._scrub(str(exc))[:300]}", True)
        return _Failure("api_error", f"unexpected {type(exc).__name__}: {self._scrub(str(exc))[:300]}", False)


# Statuses no retry can fix: after StepBudget.fatal_after of one kind the step stops sending.
_FATAL_KINDS = {401: "authentication", 403: "permission", 404: "model_not_found", 400: "invalid_request"}
_EPHEMERAL = {"type": "ephemeral"}


def _mark_cache(kwargs: dict[str, Any], static_prefix_chars: int) -> None:
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


def _default_open_telemetry() -> Any:
    """``False`` when SDK tracing could record nothing (no tracer provider set, no env option), else None."""
    import os

    if any(k.startswith("ANTHROPIC_OPEN_TELEMETRY") or k.startswith("OTEL_") for k in os.environ):
        return None
    try:
        from opentelemetry import trace

        if type(trace.get_tracer_provider()).__name__ != "ProxyTracerProvider":
            return None
    except ImportError:
        return None
    return False


_SDK_PARAMS: frozenset[str] | None = None


def _sdk_create_params() -> frozenset[str]:
    """Keyword arguments ``messages.create`` of the installed SDK accepts."""
    global _SDK_PARAMS
    if _SDK_PARAMS is None:
        import inspect

        from anthropic.resources.messages import AsyncMessages

        _SDK_PARAMS = frozenset(inspect.signature(AsyncMessages.create).parameters) - {"self", "stream"}
    return _SDK_PARAMS


def _estimate_tokens(request: ModelRequest, max_tokens: int) -> float:
    """Rough token budget of a request for the tokens/min limiter (4 characters per token + max_tokens)."""
    return (len(json.dumps(request.messages)) + len(request.system or "")) / 4 + max_tokens


def _httpx_module() -> Any:
    """The HTTP library the installed SDK is built on (``httpx2`` for anthropic>=2.x, else ``httpx``)."""
    try:
        import httpx2

        return httpx2
    except ImportError:
        import httpx

        return httpx


def _retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds from ``retry-after-ms`` (preferred, as Anthropic sends) or ``retry-after``."""
    for name, scale in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(name)
        if value:
            try:
                return float(value) / scale
            except ValueError:
                continue
    return None
