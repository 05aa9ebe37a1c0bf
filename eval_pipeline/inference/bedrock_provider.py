"""BedrockProvider: Amazon Bedrock's Converse / ConverseStream API through boto3 (``bedrock-runtime``).

In: a ModelRequest (Anthropic-format messages and tools, converted by :func:`.wire.converse_body`)
and its store key. Out: a ModelResponse - text, tool calls ``{"id", "name", "arguments"}`` with the
declared tool names, usage (``inputTokens`` / ``outputTokens`` / ``cacheReadInputTokens``), cost,
latency and, streaming, TTFT (first ``contentBlockDelta``) - or a categorized failure.

boto3 is synchronous: each attempt runs in this provider's own thread pool of ``max_concurrency``
workers (the concurrency pool; botocore's connection pool is as large), the event loop only waits.
Credentials come from the standard AWS chain (environment, profile, SSO, instance role); ``region``,
``endpoint_url`` (any Bedrock-compatible endpoint, e.g. a VPC endpoint or the loopback test server)
and ``profile`` are optional. botocore's own retries are off; :class:`.live.LiveProvider` retries
``ThrottlingException`` (rate_limited; throttled, so the pool backs off; a ``Retry-After`` header
is honoured when sent), ``ServiceUnavailableException`` / ``ModelNotReadyException`` (overloaded),
``InternalServerException`` / ``ModelStreamErrorException`` (api_error), timeouts and dropped
connections; access and validation errors are not retried.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import replace
from typing import Any

from eval_pipeline.inference.api_provider import ModelAPIProvider
from eval_pipeline.inference.live import FATAL_KINDS, Failure, WireAnswer, retry_after_s
from eval_pipeline.inference.tool_names import BEDROCK_TOOL_NAME
from eval_pipeline.inference.types import ModelRequest, ModelResponse
from eval_pipeline.inference.wire import BEDROCK_STOP, anthropic_stop, converse_body, tool_names

_THROTTLED = {"ThrottlingException": "rate_limited", "TooManyRequestsException": "rate_limited"}
_OVERLOADED = {"ServiceUnavailableException", "ModelNotReadyException", "ServiceUnavailable"}
_RETRYABLE = {
    "InternalServerException",
    "ModelStreamErrorException",
    "ModelErrorException",
    "InternalFailure",
}
_AUTH = {
    "AccessDeniedException",
    "UnrecognizedClientException",
    "InvalidSignatureException",
    "ExpiredTokenException",
}


def _tokens(usage: dict[str, Any] | None) -> tuple[int, int, int, int]:
    """The token counts (input, output, cache read, cache write) of a Converse ``usage``."""
    u = usage or {}
    return u.get("inputTokens", 0), u.get("outputTokens", 0), u.get("cacheReadInputTokens", 0), 0


class BedrockProvider(ModelAPIProvider):
    """Converse (``stream=False``) or ConverseStream (default) with boto3; ``stream``,
    ``connect_timeout_s`` and ``default_max_tokens`` are :class:`.api_provider.ModelAPIProvider`'s."""

    def __init__(
        self,
        *,
        region: str | None = None,
        endpoint_url: str | None = None,
        profile: str | None = None,
        **options: Any,
    ):
        endpoint = endpoint_url or f"bedrock-runtime ({region or 'default region'})"
        super().__init__(endpoint=endpoint, **options)
        self.region = region
        self.endpoint_url = endpoint_url
        self.profile = profile
        self.name = f"bedrock:{region or ''}:{endpoint_url or 'aws'}"
        self._client: Any = None

    def __repr__(self) -> str:
        return f"BedrockProvider(region={self.region!r}, endpoint_url={self.endpoint_url!r}, stream={self.stream})"

    def _open(self) -> Any:
        if self._client is None:  # boto3 clients are thread-safe and not bound to an event loop
            import boto3
            from botocore.config import Config  # noqa: PLC0415 - keeps botocore out of `import eval_pipeline.definitions`

            session = boto3.Session(profile_name=self.profile) if self.profile else boto3.Session()
            self._client = session.client(
                "bedrock-runtime",
                region_name=self.region or session.region_name or "us-east-1",
                endpoint_url=self.endpoint_url,
                config=Config(
                    max_pool_connections=self.pool_connections,
                    retries={"total_max_attempts": 1, "mode": "standard"},
                    connect_timeout=self.connect_timeout_s,
                    read_timeout=self.request_timeout_s,
                ),
            )
        self._start_threads("bedrock")
        return self._client

    def body(self, request: ModelRequest) -> tuple[dict[str, Any], Any]:
        names = tool_names(request, BEDROCK_TOOL_NAME)
        body = converse_body(request, names)
        body.setdefault("inferenceConfig", {}).setdefault("maxTokens", self.default_max_tokens)
        return body, names

    async def _call(self, client: Any, request: ModelRequest, cache_key: str, t0: float) -> ModelResponse:
        body, names = self.body(request)
        fn = self._stream_call if self.stream else self._unary_call
        answer = await self._in_thread(fn, client, body, t0)
        latency = time.perf_counter() - t0
        for c in answer.tool_calls or []:
            c["name"] = names.canonical(c["name"])
        stop = anthropic_stop(BEDROCK_STOP, answer.stop_reason)
        return self.response(request, cache_key, replace(answer, stop_reason=stop), latency)

    @staticmethod
    def _unary_call(client: Any, body: dict[str, Any], t0: float) -> WireAnswer:
        out = client.converse(**body)
        texts, calls = [], []
        for block in out["output"]["message"]["content"]:
            if "text" in block:
                texts.append(block["text"])
            elif "toolUse" in block:
                tu = block["toolUse"]
                calls.append(
                    {"id": tu.get("toolUseId", ""), "name": tu["name"], "arguments": tu.get("input") or {}}
                )
        rid = out.get("ResponseMetadata", {}).get("RequestId")
        return WireAnswer("".join(texts), calls, out.get("stopReason"), _tokens(out.get("usage")), rid)

    @staticmethod
    def _stream_call(client: Any, body: dict[str, Any], t0: float) -> WireAnswer:

        out = client.converse_stream(**body)
        rid = out.get("ResponseMetadata", {}).get("RequestId")
        texts: list[str] = []
        tools: dict[int, dict[str, Any]] = {}
        stop: str | None = None
        usage: dict[str, Any] = {}
        ttft: float | None = None
        for event in out["stream"]:
            if "contentBlockStart" in event:
                ev = event["contentBlockStart"]
                start = ev.get("start", {}).get("toolUse")
                if start:
                    tools[ev.get("contentBlockIndex", 0)] = {
                        "id": start.get("toolUseId", ""),
                        "name": start["name"],
                        "raw": "",
                    }
            elif "contentBlockDelta" in event:
                ev = event["contentBlockDelta"]
                if ttft is None:
                    ttft = time.perf_counter() - t0
                delta = ev.get("delta", {})
                if "text" in delta:
                    texts.append(delta["text"])
                elif "toolUse" in delta:
                    tools[ev.get("contentBlockIndex", 0)]["raw"] += delta["toolUse"].get("input", "")
            elif "messageStop" in event:
                stop = event["messageStop"].get("stopReason")
            elif "metadata" in event:
                usage = event["metadata"].get("usage") or {}
        calls = []
        for i in sorted(tools):
            t = tools[i]
            try:
                args = json.loads(t["raw"]) if t["raw"].strip() else {}
            except ValueError:
                args = {"_raw": t["raw"]}
            calls.append(
                {
                    "id": t["id"],
                    "name": t["name"],
                    "arguments": args if isinstance(args, dict) else {"_raw": t["raw"]},
                }
            )
        return WireAnswer("".join(texts), calls, stop, _tokens(usage), rid, ttft)

    def _classify(self, exc: BaseException) -> Failure:
        from botocore import exceptions as bx  # noqa: PLC0415 - keeps botocore out of `import eval_pipeline.definitions`

        if isinstance(exc, bx.ClientError):
            err = exc.response.get("Error", {})
            code = err.get("Code", "")
            code = code[:1].upper() + code[1:]  # errors inside a ConverseStream come as "throttlingException"
            meta = exc.response.get("ResponseMetadata", {})
            status = meta.get("HTTPStatusCode")
            rid = meta.get("RequestId")
            ra = retry_after_s(meta.get("HTTPHeaders"))
            msg = f"{code} (HTTP {status}): {self.scrub(str(err.get('Message', '')))[:300]}"
            if code in _THROTTLED or status == 429:
                return Failure("rate_limited", msg, True, True, ra, rid)
            if code in _OVERLOADED or status == 503:
                return Failure("overloaded", msg, True, True, ra, rid)
            if code == "ModelTimeoutException" or status == 408:
                return Failure("timeout", msg, True, False, ra, rid)
            if code in _RETRYABLE or (status or 0) >= 500:
                return Failure("api_error", msg, True, False, ra, rid)
            kind = FATAL_KINDS.get(status or 0)
            if code in _AUTH or status in (401, 403):
                kind = kind or "authentication"
                msg = f"{code} (HTTP {status}): AWS authentication failed; check the AWS credential chain (AWS_PROFILE / AWS_ACCESS_KEY_ID / role) and the model's access"
            return Failure("api_error", msg, False, False, None, rid, kind, status)
        if isinstance(exc, bx.NoCredentialsError):
            return Failure(
                "api_error",
                "no AWS credentials found: set AWS_PROFILE, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or an instance role",
                False,
            )
        if isinstance(exc, (bx.ReadTimeoutError, bx.ConnectTimeoutError, TimeoutError, asyncio.TimeoutError)):
            return Failure("timeout", f"no complete response within {self.request_timeout_s}s", True)
        if isinstance(
            exc, (bx.EndpointConnectionError, bx.ConnectionClosedError, bx.HTTPClientError, ConnectionError)
        ):
            return Failure("connection", f"connection failed: {type(exc).__name__}", True)
        if isinstance(exc, (ValueError, KeyError, bx.ResponseStreamingError)):
            return Failure(
                "api_error", f"malformed response: {type(exc).__name__}: {self.scrub(str(exc))[:200]}", True
            )
        return super()._classify(exc)
