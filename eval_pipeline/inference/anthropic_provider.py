"""AnthropicProvider: the Anthropic Messages API through the official ``anthropic.AsyncAnthropic`` SDK.

In: a ModelRequest and its store key. Out: a ModelResponse (text, tool input, usage, cost, latency,
TTFT) or a categorized failure (``error_category``), never an exception. Streaming by default
(the SSE body is parsed by :mod:`eval_pipeline.inference.sse`, TTFT measured). Retries (the SDK's
are disabled), adaptive concurrency, client-side rate limits and the per-request timeout are those
of :class:`~eval_pipeline.inference.live.LiveProvider`; cost from a price table
(:func:`~eval_pipeline.inference.providers.compute_cost`). The request body, ``cache_control`` on
the static prefix, and the Message Batches body are built by :mod:`.anthropic_request`; the
Message Batches helpers (``batch_params`` / ``batch_response``) serve :mod:`.batches`.

The API key is given to the constructor only (the Dagster resource reads it through ``EnvVar``).
It is held by the SDK client, is not part of any repr, and is scrubbed from every error message.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from typing import Any

from eval_pipeline.inference.anthropic_request import (
    estimate_tokens,
    message_answer,
    messages_kwargs,
    retry_after,
)
from eval_pipeline.inference.api_provider import ModelAPIProvider
from eval_pipeline.inference.guard import CURRENT_GUARD
from eval_pipeline.inference.live import FATAL_KINDS, Failure, WireAnswer
from eval_pipeline.inference.sse import SSEAccumulator, StreamError, parse_tool_input
from eval_pipeline.inference.tool_names import ToolNameMap
from eval_pipeline.inference.types import ModelRequest, ModelResponse

log = logging.getLogger(__name__)


class AnthropicProvider(ModelAPIProvider):
    """Anthropic Messages API through the official async SDK.

    Parameters: ``api_key`` (never logged), ``base_url`` (None = SDK default); ``stream``,
    ``connect_timeout_s`` and ``default_max_tokens`` of :class:`~.api_provider.ModelAPIProvider`; the
    flow-control arguments of :class:`~eval_pipeline.inference.live.LiveProvider`: ``max_concurrency``
    (upper bound on requests in flight), ``requests_per_minute`` / ``tokens_per_minute`` (client-side
    limits, None = off), ``adaptive`` (back off on 429/529), ``retry`` (:class:`RetryPolicy`),
    ``request_timeout_s`` (per attempt, whole response), ``seed``; ``stream`` (True measures TTFT),
    ``prices`` (``{model: {input, output, cache_read, cache_write}}`` USD per million tokens),
    ``default_max_tokens`` (used when a request's params have none), ``http_backend``
    (``"aiohttp"``: the SDK's aiohttp transport, much cheaper per request at high concurrency than
    ``"httpx"``, whose connection pool costs O(connections) per request), ``open_telemetry``
    (passed to the SDK client; ``False`` turns its per-call tracing off, ~10% less CPU per request;
    None = off when no OpenTelemetry tracer provider is configured and ``ANTHROPIC_OPEN_TELEMETRY``
    is unset - spans would record nothing then - else the SDK default).
    """

    name = "anthropic"
    speed_of_no_tokens = True  # an answer with no output tokens records 0.0 tokens/s
    default_headers: dict[str, str] | None = None  # sent with every request (the synthetic provider's label)

    def __init__(
        self,
        api_key: str,
        *,
        base_url: str | None = None,
        http_backend: str = "aiohttp",
        open_telemetry: Any = None,
        **options: Any,
    ):
        if not api_key:
            raise ValueError(
                "AnthropicProvider: api_key is empty; set the environment variable the resource reads (e.g. ANTHROPIC_API_KEY)"
            )
        if http_backend not in ("aiohttp", "httpx"):
            raise ValueError(
                f"AnthropicProvider(http_backend={http_backend!r}): use 'aiohttp' (faster at high concurrency) or 'httpx'"
            )
        endpoint = base_url or "https://api.anthropic.com (the SDK default)"
        super().__init__(secrets=(api_key,), endpoint=endpoint, **options)
        self._api_key = api_key
        self.base_url = base_url
        self.http_backend = http_backend
        self.open_telemetry = open_telemetry

    def __repr__(self) -> str:
        return (
            f"AnthropicProvider(base_url={self.base_url!r}, max_concurrency={self.max_concurrency}, "
            f"stream={self.stream}, api_key=<redacted>)"
        )

    # -- the SDK client of the running loop (LiveProvider keeps one per loop)
    def _open(self) -> Any:
        import anthropic

        httpx = _httpx_module()
        pool = httpx.Limits(
            max_connections=self.pool_connections, max_keepalive_connections=self.pool_connections
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
        return anthropic.AsyncAnthropic(
            api_key=self._api_key,
            base_url=self.base_url,
            max_retries=0,
            timeout=http_timeout,
            http_client=http_client,
            **extra,
        )

    async def _close(self, client: Any) -> None:
        await client.close()

    # -- one request, with LiveProvider's retries
    async def acomplete(self, request: ModelRequest, cache_key: str) -> ModelResponse:
        """Call the API with retries; returns the answer or a categorized failure."""
        kwargs = self._kwargs(request)
        call = self._streamed if self.stream else self._unary
        return await self._attempts(
            request, cache_key, lambda client, t0: call(client, request, kwargs, cache_key, t0)
        )

    def _estimate(self, request: ModelRequest) -> float:
        return estimate_tokens(request, request.params.get("max_tokens", self.default_max_tokens))

    def _kwargs(self, request: ModelRequest) -> dict[str, Any]:
        return messages_kwargs(request, self.default_max_tokens)

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
        resp = self.response(request, cache_key, message_answer(message, message.id), None, batch=True)
        resp.batch_id = batch_id
        return resp

    async def _streamed(
        self, client: Any, request: ModelRequest, kwargs: dict[str, Any], cache_key: str, t0: float
    ) -> ModelResponse:
        """Streaming call. The SDK builds and sends the request and maps HTTP errors; the SSE body is
        parsed here (plain ``json.loads`` per event), which costs far less per request than the SDK's
        typed event objects and keeps the pipeline within a few percent of a bare SDK loop."""
        async with client.messages.with_streaming_response.create(**kwargs, stream=True) as resp:
            request_id = resp.headers.get("request-id")
            guard = CURRENT_GUARD.get()
            if guard is not None:  # the endpoint answered (headers): a long answer is not a hang
                guard.answered()
            acc = SSEAccumulator(t0)
            async for chunk in resp.iter_bytes():
                acc.feed(chunk)
            acc.finish()
        return self.response(request, cache_key, acc.answer(request_id), time.perf_counter() - t0)

    async def _unary(
        self, client: Any, request: ModelRequest, kwargs: dict[str, Any], cache_key: str, t0: float
    ) -> ModelResponse:
        msg = await client.messages.create(**kwargs)
        latency = time.perf_counter() - t0
        return self.response(request, cache_key, message_answer(msg, msg._request_id), latency)

    def _tools(
        self, request: ModelRequest, answer: WireAnswer
    ) -> tuple[list[dict[str, Any]] | None, dict[str, Any] | None, str | None]:
        """The answer's tool_use blocks, each (id, name on the wire, raw input JSON), as tool calls with
        the request's tool names, each input parsed and checked against its tool's ``input_schema``
        (:func:`~.sse.parse_tool_input`): (calls, the first call's input, the first problem or None)."""
        if not answer.tool_calls:
            return None, None, None
        names = ToolNameMap.for_request(request.tools, request.messages, request.tool_choice)
        tool_input, message = None, None
        tool_calls = []
        for n, (call_id, wire_name, raw) in enumerate(answer.tool_calls):
            name = names.canonical(wire_name)
            args, problem = parse_tool_input(raw, request, name if request.tools else None)
            if n == 0:
                tool_input = args
            if problem and message is None:
                message = problem
            tool_calls.append({"id": call_id or f"call_{n}", "name": name, "arguments": args or {}})
        return tool_calls, tool_input, message

    def _classify(self, exc: BaseException) -> Failure:
        """Map an exception from one attempt to an error category and a retry decision."""
        import anthropic

        httpx = _httpx_module()
        if isinstance(
            exc, (TimeoutError, asyncio.TimeoutError, anthropic.APITimeoutError, httpx.TimeoutException)
        ):
            return Failure("timeout", f"no complete response within {self.request_timeout_s}s", True)
        if isinstance(exc, anthropic.APIStatusError):
            status = exc.status_code
            rid = exc.response.headers.get("request-id")
            msg = f"HTTP {status}: {self.scrub(str(exc.message))[:300]}"
            if status == 429:
                return Failure("rate_limited", msg, True, True, retry_after(exc.response.headers), rid)
            if status == 529 or getattr(exc, "type", None) == "overloaded_error":
                return Failure("overloaded", msg, True, True, retry_after(exc.response.headers), rid)
            if status >= 500 or status in (408, 409):
                return Failure("api_error", msg, True, False, retry_after(exc.response.headers), rid)
            kind = FATAL_KINDS.get(status)
            if status in (401, 403):
                msg = f"HTTP {status}: authentication failed; check the API key environment variable (the key is not shown)"
            return Failure("api_error", msg, False, False, None, rid, kind, status)
        if isinstance(exc, StreamError):
            if exc.error_type == "overloaded_error":
                return Failure("overloaded", f"stream error: {exc}", True, True)
            if exc.error_type == "rate_limit_error":
                return Failure("rate_limited", f"stream error: {exc}", True, True)
            return Failure("api_error", f"stream error: {self.scrub(str(exc))[:300]}", True)
        if isinstance(exc, (anthropic.APIConnectionError, httpx.TransportError, ConnectionError)):
            return Failure("connection", f"connection failed: {type(exc).__name__}", True)
        if isinstance(exc, (ValueError, anthropic.APIResponseValidationError, KeyError, AttributeError)):
            # malformed JSON body / SSE event, or a body that does not fit the Messages schema
            return Failure(
                "api_error", f"malformed response: {type(exc).__name__}: {self.scrub(str(exc))[:200]}", True
            )
        if isinstance(exc, anthropic.APIError):
            return Failure("api_error", f"{type(exc).__name__}: {self.scrub(str(exc))[:300]}", True)
        return Failure("api_error", f"unexpected {type(exc).__name__}: {self.scrub(str(exc))[:300]}", False)


def _default_open_telemetry() -> Any:
    """``False`` when SDK tracing could record nothing (no tracer provider set, no env option), else None."""
    if any(k.startswith("ANTHROPIC_OPEN_TELEMETRY") or k.startswith("OTEL_") for k in os.environ):
        return None
    try:
        from opentelemetry import trace  # noqa: PLC0415 - optional: opentelemetry is not a dependency

        if type(trace.get_tracer_provider()).__name__ != "ProxyTracerProvider":
            return None
    except ImportError:
        return None
    return False


def _httpx_module() -> Any:
    """The HTTP library the installed SDK is built on (``httpx2`` for anthropic>=2.x, else ``httpx``)."""
    try:
        import httpx2  # noqa: PLC0415 - whichever HTTP library the installed SDK is built on

        return httpx2
    except ImportError:
        import httpx  # noqa: PLC0415 - whichever HTTP library the installed SDK is built on

        return httpx
