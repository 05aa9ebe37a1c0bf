"""LiveProvider: what every provider that calls a live target shares (Anthropic, OpenAI, Bedrock, HTTP, Python).

In: a ModelRequest and its store key. Out: a ModelResponse, or a categorized failure, never an
exception. A subclass implements :meth:`LiveProvider._open` (its client for the running loop),
:meth:`LiveProvider._call` (one attempt; raises on failure) and :meth:`LiveProvider._classify`
(an exception -> :class:`Failure`: category, retryable, throttled, the server's retry-after). This
class runs the attempts: its own concurrency pool (:class:`~.limits.AdaptiveLimiter`, backing off
on sustained throttling), client-side rate limits, retries after the provider's retry signal
(:class:`~.limits.RetryPolicy`), a per-attempt timeout, and :meth:`LiveProvider.response` turns
what the attempt got back (a :class:`WireAnswer`: text, tool calls, stop reason, token counts,
request id, TTFT) into a ModelResponse with its cost (``prices``) and model-side outcome (refusal,
empty, max_tokens, malformed_tool_output). Secrets given in ``secrets`` are scrubbed from every
message. The model-API providers (Anthropic, OpenAI, Bedrock) share
:class:`~.api_provider.ModelAPIProvider` on top of this class.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any

import jsonschema

from eval_pipeline.inference.guard import CURRENT_GUARD, StepGuard
from eval_pipeline.inference.limits import AdaptiveLimiter, RateLimiter, RetryPolicy
from eval_pipeline.inference.providers import (
    TOKEN_FIELDS,
    Provider,
    compute_cost,
    error_response,
    response_to,
    validate_prices,
)
from eval_pipeline.inference.types import ModelRequest, ModelResponse
from eval_pipeline.project.user_regex import bounded_validator  # a tool schema's pattern never hangs

log = logging.getLogger(__name__)


@dataclass
class Failure:
    """One failed attempt, classified."""

    category: str
    message: str
    retryable: bool
    throttled: bool = False  # a rate-limit / overload signal: feeds the adaptive limiter
    retry_after_s: float | None = None
    request_id: str | None = None
    fatal_kind: str | None = None  # authentication / permission / model_not_found / invalid_request
    status: int | None = None


@dataclass
class WireAnswer:
    """What one attempt got back, before the model-side checks and the cost (:meth:`LiveProvider.response`):
    the text; the tool calls, ``{"id", "name", "arguments"}`` with the request's tool names (a
    provider's parser may hold the API's own shape until the provider maps them); the stop reason in
    the Messages API's terms; the token counts in the order of
    :data:`~eval_pipeline.inference.providers.TOKEN_FIELDS` (input, output, cache read, cache
    write); the API's request id; the time to first token (None: not streamed)."""

    text: str | None
    tool_calls: list[Any] | None
    stop_reason: str | None
    tokens: tuple[int, ...] = (0, 0, 0, 0)
    request_id: str | None = None
    ttft: float | None = None


FATAL_KINDS = {401: "authentication", 403: "permission", 404: "model_not_found", 400: "invalid_request"}
# Connections a client's pool holds beyond ``max_concurrency`` (:attr:`LiveProvider.pool_connections`).
CONNECTION_HEADROOM = 16


@dataclass
class _LoopState:
    loop: asyncio.AbstractEventLoop
    client: Any
    limiter: AdaptiveLimiter
    rate: RateLimiter
    rng: random.Random = field(default_factory=random.Random)


def retry_after_s(headers: Mapping[str, str] | None) -> float | None:
    """Seconds from ``retry-after-ms`` or ``retry-after`` (seconds or an HTTP date)."""
    if not headers:
        return None
    lower = {str(k).lower(): v for k, v in headers.items()}
    if lower.get("retry-after-ms"):
        try:
            return float(lower["retry-after-ms"]) / 1000.0
        except ValueError:
            pass
    value = lower.get("retry-after")
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


def status_failure(
    status: int, message: str, headers: Mapping[str, str] | None, request_id: str | None = None
) -> Failure:
    """The usual HTTP status rules: 429 rate_limited and 529/503 overloaded (throttled, retried after
    retry-after), 5xx / 408 / 409 retried, 401/403 an authentication error, other 4xx not retried."""
    ra = retry_after_s(headers)
    msg = f"HTTP {status}: {message[:300]}"
    if status == 429:
        return Failure("rate_limited", msg, True, True, ra, request_id)
    if status in (503, 529):
        return Failure("overloaded", msg, True, True, ra, request_id)
    if status >= 500 or status in (408, 409):
        return Failure("api_error", msg, True, False, ra, request_id)
    if status in (401, 403):
        msg = f"HTTP {status}: authentication failed; check the credential environment variable (its value is not shown)"
    return Failure("api_error", msg, False, False, None, request_id, FATAL_KINDS.get(status), status)


def tool_schema(request: ModelRequest, name: str) -> dict[str, Any] | None:
    return next((t.get("input_schema") for t in request.tools or [] if t.get("name") == name), None)


def check_tool_calls(calls: Sequence[dict[str, Any]], request: ModelRequest) -> str | None:
    """The first problem of a list of tool calls: arguments that were not a JSON object, an unknown
    tool, or arguments that violate the tool's ``input_schema`` (None when all are fine)."""

    declared: set[Any] = {t.get("name") for t in request.tools or []}
    for c in calls:
        if set(c["arguments"]) == {"_raw"}:
            return f"tool call {c['name']!r}: arguments are not a JSON object"
        if declared and c["name"] not in declared:
            return f"tool call {c['name']!r}: no such tool in the request (tools: {sorted(declared)})"
        schema = tool_schema(request, c["name"])
        if schema:
            errors = sorted(
                bounded_validator(jsonschema.Draft202012Validator, 0.2, True)(schema).iter_errors(
                    c["arguments"]
                ),
                key=lambda e: list(e.path),
            )
            if errors:
                e = errors[0]
                where = "/".join(str(p) for p in e.path) or "(root)"
                return f"tool call {c['name']!r} violates the tool's input_schema at {where}: {e.message}"
    return None


class LiveProvider(Provider):
    """Base of the live providers: concurrency pool, rate limits, retries, timeout, cost."""

    name = "live"
    # output_tokens_per_s of an answer with no output tokens: None (no speed), or 0.0 (Anthropic's record)
    speed_of_no_tokens = False

    def __init__(
        self,
        *,
        max_concurrency: int = 16,
        requests_per_minute: float | None = None,
        tokens_per_minute: float | None = None,
        adaptive: bool = True,
        retry: RetryPolicy | None = None,
        request_timeout_s: float = 120.0,
        prices: Mapping[str, Mapping[str, float]] | None = None,
        seed: int | None = None,
        secrets: Sequence[str] = (),
        endpoint: str = "",
    ):
        if max_concurrency < 1:
            raise ValueError(f"{type(self).__name__}: max_concurrency={max_concurrency} must be at least 1")
        self.max_concurrency = max_concurrency
        self.requests_per_minute = requests_per_minute
        self.tokens_per_minute = tokens_per_minute
        self.adaptive = adaptive
        self.retry = retry or RetryPolicy()
        self.request_timeout_s = request_timeout_s
        self.prices = validate_prices(prices or {})
        self.seed = seed
        self._secrets = [s for s in secrets if s]
        self._endpoint = endpoint
        self._state: _LoopState | None = None
        self._threads: ThreadPoolExecutor | None = None
        self._unpriced_warned: set[str] = set()

    def secrets(self) -> tuple[str, ...]:
        return tuple(self._secrets)

    @property
    def endpoint(self) -> str:
        """Where requests go, for error messages: the constructor's ``endpoint`` (a base URL, a target
        function), else the provider's name."""
        return self._endpoint or self.name

    # -- what a subclass provides
    def _open(self) -> Any:
        """The client for the running event loop."""
        return None

    async def _close(self, client: Any) -> None:
        """Release the client (here: stop the worker threads of :meth:`_start_threads`, if any)."""
        threads, self._threads = self._threads, None
        if threads is not None:
            threads.shutdown(wait=False, cancel_futures=True)

    def _start_threads(self, name: str) -> None:
        """Start this provider's own pool of ``max_concurrency`` worker threads (once), for a blocking
        client: its calls run there (:meth:`_in_thread`) and the event loop only waits."""
        if self._threads is None:
            self._threads = ThreadPoolExecutor(self.max_concurrency, thread_name_prefix=name)

    async def _in_thread(self, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(*args)`` on the worker threads."""
        return await asyncio.get_running_loop().run_in_executor(self._threads, fn, *args)

    async def _call(self, client: Any, request: ModelRequest, cache_key: str, t0: float) -> ModelResponse:
        """One attempt; raises on failure (classified by :meth:`_classify`)."""
        raise NotImplementedError

    def _classify(self, exc: BaseException) -> Failure:
        if isinstance(exc, (TimeoutError, asyncio.TimeoutError)):
            return Failure("timeout", f"no complete response within {self.request_timeout_s}s", True)
        if isinstance(exc, ConnectionError):
            return Failure("connection", f"connection failed: {type(exc).__name__}", True)
        return Failure("api_error", f"unexpected {type(exc).__name__}: {self.scrub(str(exc))[:300]}", False)

    # -- shared machinery
    def scrub(self, text: str) -> str:
        for s in self._secrets:
            text = text.replace(s, "<redacted>")
        return text

    def _loop_state(self) -> _LoopState:
        loop = asyncio.get_running_loop()
        if self._state is None or self._state.loop is not loop:
            self._state = _LoopState(
                loop=loop,
                client=self._open(),
                limiter=AdaptiveLimiter(self.max_concurrency, adaptive=self.adaptive),
                rate=RateLimiter(self.requests_per_minute, self.tokens_per_minute),
                rng=random.Random(self.seed),
            )
        return self._state

    @property
    def pool_connections(self) -> int:
        """Size of the client's connection pool: ``max_concurrency`` plus :data:`CONNECTION_HEADROOM`."""
        return self.max_concurrency + CONNECTION_HEADROOM

    @property
    def limiter(self) -> AdaptiveLimiter | None:
        return self._state.limiter if self._state else None

    async def astart(self) -> None:
        self._loop_state()

    async def aclose(self) -> None:
        state, self._state = self._state, None
        if state is not None and state.loop is asyncio.get_running_loop():
            await self._close(state.client)

    def _estimate(self, request: ModelRequest) -> float:
        """Rough token budget of a request for the tokens/min limiter (4 characters per token + max_tokens)."""
        return len(json.dumps(request.messages)) / 4 + float(request.params.get("max_tokens", 1024))

    async def acomplete(self, request: ModelRequest, cache_key: str) -> ModelResponse:
        """Attempts until an answer, a failure that is not retried, ``retry.max_attempts``, or the
        step's guard (:mod:`.guard`: retry budget, stall timer, repeated rejections) says stop."""
        return await self._attempts(
            request, cache_key, lambda client, t0: self._call(client, request, cache_key, t0)
        )

    async def _attempts(
        self,
        request: ModelRequest,
        cache_key: str,
        call: Callable[[Any, float], Awaitable[ModelResponse]],
    ) -> ModelResponse:
        """The retry loop every live provider shares: ``call(client, t0)`` is one attempt (raises on
        failure, classified by :meth:`_classify`), run under the pool, the rate limits, the
        per-attempt timeout and the step's guard."""
        state = self._loop_state()
        estimate = self._estimate(request) if state.rate.active else 0.0
        guard = CURRENT_GUARD.get()
        failure: Failure | None = None
        attempt = backoffs = 0
        while attempt < self.retry.max_attempts:
            attempt += 1
            if state.rate.active:
                await state.rate.acquire(estimate)
            await state.limiter.acquire(0 if attempt > 1 else 1)
            if guard is not None and guard.tripped is not None:  # the step stopped: send nothing more
                state.limiter.release(None)
                return error_response(
                    request, cache_key, "api_error", f"not sent: {guard.tripped}", attempt - 1
                )
            throttled: bool | None = None
            t0 = time.perf_counter()
            try:
                if guard is not None:
                    guard.attempt_started()
                try:
                    async with asyncio.timeout(self.request_timeout_s):
                        result = await call(state.client, t0)
                finally:
                    if guard is not None:
                        guard.attempt_ended()
                if guard is not None:
                    guard.answered()
                throttled = False
                result.attempts = attempt
                if state.rate.active:
                    state.rate.settle(estimate, result.input_tokens + result.output_tokens)
                return result
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # classified; nothing escapes
                failure = self._classify(exc)
                throttled = True if failure.throttled else None
                if guard is not None:
                    _report(guard, failure, self.request_timeout_s)
            finally:
                state.limiter.release(throttled)
            if not failure.retryable or attempt >= self.retry.max_attempts:
                break
            if guard is not None and not guard.allow_retry(failure.category, failure.throttled):
                break
            # The exponential backoff grows with the failures that gave no retry-after only: a
            # 429 already waited what the server asked, and must not lengthen the next backoff.
            if failure.retry_after_s is None:
                backoffs += 1
            wait = self.retry.delay(max(backoffs, 1), failure.retry_after_s, state.rng)
            log.debug(
                "%s: sample %s attempt %d failed (%s); retrying in %.2fs",
                self.name,
                request.sample_id,
                attempt,
                failure.category,
                wait,
            )
            await asyncio.sleep(wait)
        assert failure is not None
        return error_response(
            request, cache_key, failure.category, self.scrub(failure.message), attempt, failure.request_id
        )

    def _warn_unpriced(self, model: str) -> None:
        """Log once per model that the price table has no entry for it (its cost is recorded as 0)."""
        if model not in self.prices and model not in self._unpriced_warned:
            self._unpriced_warned.add(model)
            log.warning(
                "%s: no price for model %r; its cost is recorded as 0. Add it under pricing: in models.yaml.",
                self.name,
                model,
            )

    def _tools(
        self, request: ModelRequest, answer: WireAnswer
    ) -> tuple[list[dict[str, Any]] | None, dict[str, Any] | None, str | None]:
        """The answer's tool calls, the first call's arguments (``tool_input``; None if they are not
        a JSON object) and the first problem :func:`check_tool_calls` finds (None: all fine)."""
        calls = answer.tool_calls
        if not calls:
            return None, None, None
        first = calls[0]["arguments"]
        return calls, (first if set(first) != {"_raw"} else None), check_tool_calls(calls, request)

    def response(
        self,
        request: ModelRequest,
        cache_key: str,
        answer: WireAnswer,
        latency: float | None,
        *,
        batch: bool = False,
    ) -> ModelResponse:
        """The ModelResponse of ``answer`` with cost (``batch``: at the batch discount) and the
        model-side outcome (refusal / max_tokens / empty / malformed_tool_output); its tool calls
        and ``tool_input`` are :meth:`_tools`'."""
        text, stop_reason, ttft = answer.text, answer.stop_reason, answer.ttft
        calls, tool_input, message = self._tools(request, answer)
        calls = calls or None
        category = "malformed_tool_output" if message else None
        category, message = model_outcome(stop_reason, bool(text or calls), category, message)
        gen = generation_time(latency, ttft)
        self._warn_unpriced(request.model)
        tokens = [int(t or 0) for t in answer.tokens]
        speed = (tokens[1] / gen) if gen and (tokens[1] or self.speed_of_no_tokens) else None
        return response_to(
            request,
            cache_key,
            text=text or None,
            stop_reason=stop_reason,
            latency_s=latency,
            ttft_s=ttft,
            output_tokens_per_s=speed,
            **dict(zip(TOKEN_FIELDS, tokens, strict=True)),
            cost_usd=compute_cost(self.prices, request.model, *tokens, batch=batch),
            request_id=answer.request_id,
            error_category=category,
            error_message=message,
            tool_input=tool_input,
            tool_calls=calls,
        )


def model_outcome(
    stop_reason: str | None, has_output: bool, category: str | None, message: str | None
) -> tuple[str | None, str | None]:
    """The model-side outcome of an answer: refusal, max_tokens (truncated) or empty, else the
    ``category`` / ``message`` already found (e.g. malformed_tool_output)."""
    if stop_reason == "refusal":
        return "refusal", "the model refused (stop_reason=refusal)"
    if stop_reason == "max_tokens" and category is None:
        return "max_tokens", "the answer hit max_tokens and is truncated"
    if not has_output and category is None:
        return "empty", "the model returned no text and no tool call"
    return category, message


def generation_time(latency: float | None, ttft: float | None) -> float | None:
    """Seconds spent generating (latency minus time to first token, unless that leaves under 5%)."""
    if latency is None:
        return None
    return latency - ttft if ttft is not None and latency - ttft > 0.05 * latency else latency


def _report(guard: StepGuard, failure: Failure, request_timeout_s: float) -> None:
    """Tell the step's guard what a failed attempt got (a timeout, or an answer; a non-retryable
    rejection counts towards stopping the step)."""
    if failure.category == "timeout":
        guard.timed_out(request_timeout_s)
    elif failure.category != "connection":
        guard.answered()
        if failure.fatal_kind is not None:
            guard.rejected(failure.fatal_kind, failure.status, failure.message)
