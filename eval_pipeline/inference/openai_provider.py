"""OpenAIProvider: Chat Completions through the official ``openai.AsyncOpenAI`` SDK, against any
OpenAI-compatible base URL (OpenAI, Azure OpenAI's v1 endpoint, vLLM, Ollama, Together, ...).

In: a ModelRequest (Anthropic-format messages and tools, converted by :mod:`.wire`) and its store
key. Out: a ModelResponse - text, tool calls ``{"id", "name", "arguments"}`` with the original tool
names, usage (``prompt_tokens`` minus cached tokens as input, cached tokens as cache reads), cost,
latency and TTFT - or a categorized failure. Streaming by default with
``stream_options={"include_usage": True}`` (usage arrives in the last chunk; servers that send none
leave the token counts 0). Retries, concurrency pool, rate limits and cost: :class:`.live.LiveProvider`;
429 / 503 honour ``retry-after-ms`` / ``retry-after``. The SDK's own retries are off.

The API key is given to the constructor (read from the environment variable the model version
names); it is scrubbed from every error message and is in no repr. ``name`` (the store key's
provider part) is ``openai:<base_url>``, so answers of two endpoints never mix.

The OpenAI Batch API is not used: it needs a JSONL file upload and a file download per batch,
which the Message Batches ledger of :mod:`.batches` (create / retrieve / results by id) does not
model; ``batch: true`` on an openai model version is refused at load.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from eval_pipeline.inference.api_provider import ModelAPIProvider
from eval_pipeline.inference.live import Failure, WireAnswer, status_failure
from eval_pipeline.inference.tool_names import ToolNameMap
from eval_pipeline.inference.types import ModelRequest, ModelResponse
from eval_pipeline.inference.wire import (
    OPENAI_STOP,
    anthropic_stop,
    openai_body,
    openai_tool_calls,
    tool_names,
)

DEFAULT_BASE_URL = "https://api.openai.com/v1"


class OpenAIProvider(ModelAPIProvider):
    """Chat Completions. ``base_url`` (None = OpenAI's), ``api_key``, ``default_headers``
    (non-secret), ``max_tokens_param`` (``max_tokens``, or ``max_completion_tokens`` for OpenAI's
    reasoning models), plus ``stream``, ``connect_timeout_s`` and ``default_max_tokens`` of
    :class:`.api_provider.ModelAPIProvider` and the flow-control arguments of :class:`.live.LiveProvider`."""

    def __init__(
        self,
        api_key: str,
        *,
        base_url: str | None = None,
        max_tokens_param: str = "max_tokens",
        default_headers: Mapping[str, str] | None = None,
        **options: Any,
    ):
        if not api_key:
            raise ValueError(
                "OpenAIProvider: api_key is empty; set the environment variable the model version names "
                "(endpoint api_key_env, default OPENAI_API_KEY); a local server without auth accepts any value"
            )
        self.base_url = (base_url or DEFAULT_BASE_URL).rstrip("/")
        super().__init__(secrets=[api_key], endpoint=self.base_url, **options)
        self._api_key = api_key
        self.name = f"openai:{self.base_url}"
        self.max_tokens_param = max_tokens_param
        self.default_headers = dict(default_headers or {})

    def __repr__(self) -> str:
        return f"OpenAIProvider(base_url={self.base_url!r}, max_concurrency={self.max_concurrency}, stream={self.stream}, api_key=<redacted>)"

    def _open(self) -> Any:
        import httpx2  # noqa: PLC0415 - keeps httpx2 out of `import eval_pipeline.definitions`
        import openai

        pool = httpx2.Limits(
            max_connections=self.pool_connections, max_keepalive_connections=self.pool_connections
        )
        timeout = httpx2.Timeout(self.request_timeout_s, connect=self.connect_timeout_s)
        client = openai.AsyncOpenAI(
            api_key=self._api_key,
            base_url=self.base_url,
            max_retries=0,
            timeout=timeout,
            default_headers=self.default_headers or None,
            http_client=openai.DefaultAioHttpClient(limits=pool, timeout=timeout),
        )
        _ = client.chat.completions.with_streaming_response  # the SDK's lazy resources, built before timing
        return client

    async def _close(self, client: Any) -> None:
        await client.close()

    def body(self, request: ModelRequest) -> tuple[dict[str, Any], Any]:
        """The ``chat.completions.create`` keyword arguments and the tool-name map."""
        names = tool_names(request)
        body = openai_body(request, names, self.max_tokens_param)
        if self.max_tokens_param not in body:
            body[self.max_tokens_param] = self.default_max_tokens
        return body, names

    async def _call(self, client: Any, request: ModelRequest, cache_key: str, t0: float) -> ModelResponse:
        body, names = self.body(request)
        if not self.stream:
            resp = await client.chat.completions.with_raw_response.create(**body)
            rid = resp.headers.get("x-request-id")
            c = resp.parse()
            latency = time.perf_counter() - t0
            choice = c.choices[0]
            raw_calls = [
                {"id": tc.id, "name": tc.function.name, "arguments": tc.function.arguments}
                for tc in choice.message.tool_calls or []
            ]
            answer = WireAnswer(
                choice.message.content, raw_calls, choice.finish_reason, _tokens(c.usage), rid
            )
            return self._finish(request, cache_key, answer, names, latency)
        # The SDK walks typed arguments through its TypedDict transform (~40% of its CPU per call
        # here); messages and tools need none, so they travel in extra_body, which the SDK merges
        # into the JSON body unchanged (it overrides the empty typed list).
        extra = dict(body.pop("extra_body", None) or {})
        for k in ("messages", "tools", "tool_choice"):
            if k in body:
                extra[k] = body.pop(k)
        async with client.chat.completions.with_streaming_response.create(
            **body, messages=[], stream=True, stream_options={"include_usage": True}, extra_body=extra
        ) as resp:
            rid = resp.headers.get("x-request-id")
            acc = _StreamAccumulator(t0)
            async for line in resp.iter_lines():
                acc.feed_line(line)
        return self._finish(request, cache_key, acc.answer(rid), names, time.perf_counter() - t0)

    def _finish(
        self, request: ModelRequest, cache_key: str, answer: WireAnswer, names: ToolNameMap, latency: float
    ) -> ModelResponse:
        """The ModelResponse of a Chat Completions answer as on the wire: its ``tool_calls``
        ``{"id", "name", "arguments" (JSON text)}`` and its finish reason get the request's tool names
        and the Messages API's stop reasons."""
        calls = openai_tool_calls(answer.tool_calls, names) if answer.tool_calls else None
        stop = anthropic_stop(OPENAI_STOP, answer.stop_reason)
        return self.response(request, cache_key, replace(answer, tool_calls=calls, stop_reason=stop), latency)

    def _classify(self, exc: BaseException) -> Failure:
        import httpx2  # noqa: PLC0415 - keeps httpx2 out of `import eval_pipeline.definitions`
        import openai

        if isinstance(exc, (openai.APITimeoutError, httpx2.TimeoutException)):
            return Failure("timeout", f"no complete response within {self.request_timeout_s}s", True)
        if isinstance(exc, openai.APIStatusError):
            rid = exc.response.headers.get("x-request-id")
            return status_failure(exc.status_code, self.scrub(str(exc.message)), exc.response.headers, rid)
        if isinstance(exc, _StreamError):
            throttled = exc.code in (
                "rate_limit_exceeded",
                "rate_limit_error",
                "overloaded",
                "server_overloaded",
            )
            return Failure(
                "rate_limited" if throttled else "api_error",
                f"stream error: {self.scrub(str(exc))[:300]}",
                True,
                throttled,
            )
        if isinstance(exc, (openai.APIConnectionError, httpx2.TransportError, ConnectionError)):
            return Failure("connection", f"connection failed: {type(exc).__name__}", True)
        if isinstance(
            exc,
            (ValueError, KeyError, IndexError, AttributeError, TypeError, openai.APIResponseValidationError),
        ):
            return Failure(
                "api_error", f"malformed response: {type(exc).__name__}: {self.scrub(str(exc))[:200]}", True
            )
        return super()._classify(exc)


class _StreamError(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code


def _tokens(u: Any) -> tuple[int, int, int, int]:
    """The token counts (input, output, cache read, cache write) of an SDK usage object or a dict:
    the prompt tokens that were not cached, the completion tokens, the cached prompt tokens, 0."""
    if u is None:
        return 0, 0, 0, 0
    if not isinstance(u, dict):
        u = u.model_dump()
    details = u.get("prompt_tokens_details") or {}
    prompt, cached = int(u.get("prompt_tokens") or 0), int(details.get("cached_tokens") or 0)
    return max(0, prompt - cached), int(u.get("completion_tokens") or 0), cached, 0


class _StreamAccumulator:
    """Text, tool-call fragments, finish reason, usage and TTFT from ``data:`` lines of a
    Chat Completions stream (plain ``json.loads`` per chunk, as for the Anthropic stream)."""

    def __init__(self, t0: float):
        self.t0 = t0
        self.ttft: float | None = None
        self.texts: list[str] = []
        self._calls: dict[int, dict[str, Any]] = {}
        self.finish: str | None = None
        self.tokens: tuple[int, int, int, int] = (0, 0, 0, 0)
        self.done = False

    def feed_line(self, line: str) -> None:
        if not line.startswith("data:"):
            return
        data = line[5:].strip()
        if data == "[DONE]":
            self.done = True
            return
        chunk = json.loads(data)
        if chunk.get("error"):
            err = chunk["error"]
            raise _StreamError(
                str(err.get("code") or err.get("type") or "error"), str(err.get("message", ""))
            )
        if chunk.get("usage"):
            self.tokens = _tokens(chunk["usage"])
        for ch in chunk.get("choices") or []:
            delta = ch.get("delta") or {}
            if delta.get("content"):
                if self.ttft is None:
                    self.ttft = time.perf_counter() - self.t0
                self.texts.append(delta["content"])
            for tc in delta.get("tool_calls") or []:
                if self.ttft is None:
                    self.ttft = time.perf_counter() - self.t0
                slot = self._calls.setdefault(
                    int(tc.get("index", 0)), {"id": "", "name": "", "arguments": ""}
                )
                slot["id"] = tc.get("id") or slot["id"]
                fn = tc.get("function") or {}
                slot["name"] += fn.get("name") or ""
                slot["arguments"] += fn.get("arguments") or ""
            if ch.get("finish_reason"):
                self.finish = ch["finish_reason"]

    def calls(self) -> list[dict[str, Any]]:
        return [self._calls[i] for i in sorted(self._calls)]

    def answer(self, request_id: str | None) -> WireAnswer:
        """The collected answer with the API's ``request_id``."""
        return WireAnswer("".join(self.texts), self.calls(), self.finish, self.tokens, request_id, self.ttft)
