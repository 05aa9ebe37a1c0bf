"""Bedrock Converse test server on 127.0.0.1, reached by real boto3 through ``endpoint_url``.

``POST /model/{modelId}/converse`` (JSON) and ``POST /model/{modelId}/converse-stream`` (the AWS
event-stream binary framing: prelude, headers, JSON payload, CRC32s - parsed by botocore's own
decoder, so the framing is checked by the real client). Same knobs as :mod:`.anthropic_server` (it
subclasses :class:`AnthropicTestServer`: latency, TTFT fraction, faults, answer key, responder,
``/_admin``): a Converse body is translated to the Anthropic shape for the responder and the answer
rendered back (``text`` / ``toolUse`` blocks, ``stopReason``, ``usage``).

Auth: the SigV4 ``Authorization`` header must name the configured access key id (``api_key``;
403 ``UnrecognizedClientException`` otherwise). Faults: ``rate_limit`` -> 429
``ThrottlingException`` (with ``Retry-After``), ``overloaded`` -> 503 ``ServiceUnavailableException``,
``server_error`` -> 500 ``InternalServerException``, ``slow``, ``drop``, ``malformed`` (a broken
JSON body; streaming: an ``internalServerException`` event mid-stream), ``malformed_tool``,
``refusal`` (``stopReason: guardrail_intervened``). Tool names must match Bedrock's
``^[a-zA-Z][a-zA-Z0-9_-]{0,63}$`` (400 ``ValidationException`` otherwise).
"""

from __future__ import annotations

import asyncio
import json
import re
import struct
import uuid
import zlib
from typing import Any

from aiohttp import web

from eval_pipeline_tests.support.servers.anthropic_server import (
    AnthropicTestServer,
    ServerProcess,
    parse_args,
    serve,
)
from eval_pipeline_tests.support.servers.anthropic_server.core import retry_after

_NAME = re.compile(r"^[a-zA-Z][a-zA-Z0-9_-]{0,63}$")


def _block(b: dict[str, Any]) -> dict[str, Any]:
    if "text" in b:
        return {"type": "text", "text": b["text"]}
    if "toolUse" in b:
        tu = b["toolUse"]
        return {
            "type": "tool_use",
            "id": tu.get("toolUseId"),
            "name": tu.get("name"),
            "input": tu.get("input"),
        }
    if "toolResult" in b:
        tr = b["toolResult"]
        parts = [c.get("text") if "text" in c else json.dumps(c.get("json")) for c in tr.get("content") or []]
        return {
            "type": "tool_result",
            "tool_use_id": tr.get("toolUseId"),
            "content": "".join(p or "" for p in parts),
        }
    return {"type": "text", "text": json.dumps(b)}


def anthropic_shape(model: str, body: dict[str, Any]) -> dict[str, Any]:
    """A Converse body as the Anthropic-shaped body the responder reads."""
    out: dict[str, Any] = {
        "model": model,
        "messages": [
            {"role": m["role"], "content": [_block(b) for b in m.get("content") or []]}
            for m in body.get("messages") or []
        ],
        "max_tokens": (body.get("inferenceConfig") or {}).get("maxTokens") or 1024,
    }
    # plain text turns as strings (as the Anthropic server's answer key reads them)
    for m in out["messages"]:
        if all(b["type"] == "text" for b in m["content"]):
            m["content"] = "".join(b["text"] for b in m["content"])
    if body.get("system"):
        out["system"] = "\n".join(s.get("text", "") for s in body["system"])
    temp = (body.get("inferenceConfig") or {}).get("temperature")
    if temp is not None:
        out["temperature"] = temp
    cfg = body.get("toolConfig")
    if cfg:
        out["tools"] = [
            {
                "name": t["toolSpec"]["name"],
                "description": t["toolSpec"].get("description", ""),
                "input_schema": t["toolSpec"]["inputSchema"]["json"],
            }
            for t in cfg.get("tools") or []
        ]
        choice = cfg.get("toolChoice") or {}
        if "tool" in choice:
            out["tool_choice"] = {"type": "tool", "name": choice["tool"]["name"]}
    return out


def event_message(event_type: str, payload: dict[str, Any], message_type: str = "event") -> bytes:
    """One AWS event-stream message (application/vnd.amazon.eventstream)."""
    kind = ":event-type" if message_type == "event" else ":exception-type"
    headers = b"".join(
        bytes([len(k)]) + k.encode() + b"\x07" + struct.pack(">H", len(v)) + v.encode()
        for k, v in (
            (kind, event_type),
            (":content-type", "application/json"),
            (":message-type", message_type),
        )
    )
    data = json.dumps(payload).encode()
    prelude = struct.pack(">II", 16 + len(headers) + len(data), len(headers))
    msg = prelude + struct.pack(">I", zlib.crc32(prelude)) + headers + data
    return msg + struct.pack(">I", zlib.crc32(msg))


class BedrockTestServer(AnthropicTestServer):
    """The Anthropic test server's behaviour behind Bedrock's Converse routes."""

    label = "bedrock-test-server"  # announced by serve_forever

    def _app(self) -> web.Application:
        app = super()._app()
        app.router.add_post("/model/{model_id}/converse", self.handle_converse)
        app.router.add_post("/model/{model_id}/converse-stream", self.handle_converse)
        return app

    def _aws_error(
        self, status: int, code: str, message: str, rid: str, extra: dict[str, str] | None = None
    ) -> web.Response:
        self.by_status[str(status)] += 1
        headers = {
            "x-amzn-RequestId": rid,
            "x-amzn-ErrorType": f"{code}:http://internal.amazon.com/coral/com.amazon.bedrock/",
            **(extra or {}),
        }
        return web.json_response({"message": message}, status=status, headers=headers)

    async def handle_converse(self, request: web.Request) -> web.StreamResponse:
        stream = request.path.endswith("/converse-stream")
        return await self._counted(self._converse, request, str(uuid.uuid4()), stream)

    async def _converse(self, request: web.Request, rid: str, stream: bool) -> web.StreamResponse:
        cfg = self.config
        if f"Credential={cfg.api_key}/" not in request.headers.get("authorization", ""):
            return self._aws_error(
                403,
                "UnrecognizedClientException",
                "The security token included in the request is invalid.",
                rid,
            )
        try:
            body = anthropic_shape(request.match_info["model_id"], json.loads(await request.read()))
        except (ValueError, KeyError, TypeError) as exc:
            return self._aws_error(400, "ValidationException", f"malformed request: {exc}", rid)
        bad = [t["name"] for t in body.get("tools") or [] if not _NAME.match(t["name"] or "")]
        if bad:
            return self._aws_error(
                400,
                "ValidationException",
                f"toolSpec.name {bad[0]!r} fails the pattern [a-zA-Z][a-zA-Z0-9_-]*",
                rid,
            )
        throttled = "Too many requests, please wait before trying again."
        retry = {"Retry-After": retry_after(cfg.retry_after_s)}
        errors = {
            "rate_limit": lambda: self._aws_error(429, "ThrottlingException", throttled, rid, retry),
            "overloaded": lambda: self._aws_error(
                503, "ServiceUnavailableException", "Service is unavailable.", rid
            ),
            "server_error": lambda: self._aws_error(
                500, "InternalServerException", "Internal server error.", rid
            ),
        }
        played = await self._play_fault(request, body, errors)
        if isinstance(played, web.Response):
            return played
        fault, ttft, rest = played
        answer = self._answer(body, fault)
        content, stop, usage = self._finish(body, answer)
        blocks = [
            {"text": b["text"]}
            if b["type"] == "text"
            else {"toolUse": {"toolUseId": b["id"], "name": b["name"], "input": b["input"]}}
            for b in content
        ]
        stop = {"refusal": "guardrail_intervened"}.get(stop, stop)
        u = {
            "inputTokens": usage["input_tokens"],
            "outputTokens": usage["output_tokens"],
            "totalTokens": usage["input_tokens"] + usage["output_tokens"],
        }
        if not stream:
            await asyncio.sleep(ttft + rest)
            self.by_status["200"] += 1
            if fault == "malformed":
                return web.Response(
                    body=b'{"output": {"message": {"role": "assist', content_type="application/json"
                )
            out = {
                "output": {"message": {"role": "assistant", "content": blocks}},
                "stopReason": stop,
                "usage": u,
                "metrics": {"latencyMs": int((ttft + rest) * 1000)},
            }
            return web.json_response(out, headers={"x-amzn-RequestId": rid})
        head = [event_message("messageStart", {"role": "assistant"})]
        tail: list[bytes] = []
        for i, b in enumerate(blocks):
            if "text" in b:
                cut = max(1, len(b["text"]) // 3)
                head.append(
                    event_message(
                        "contentBlockDelta", {"contentBlockIndex": i, "delta": {"text": b["text"][:cut]}}
                    )
                )
                if b["text"][cut:]:
                    tail.append(
                        event_message(
                            "contentBlockDelta", {"contentBlockIndex": i, "delta": {"text": b["text"][cut:]}}
                        )
                    )
            else:
                tu = b["toolUse"]
                raw = json.dumps(tu["input"])
                cut = max(1, len(raw) // 2)
                head.append(
                    event_message(
                        "contentBlockStart",
                        {
                            "contentBlockIndex": i,
                            "start": {"toolUse": {"toolUseId": tu["toolUseId"], "name": tu["name"]}},
                        },
                    )
                )
                head.append(
                    event_message(
                        "contentBlockDelta",
                        {"contentBlockIndex": i, "delta": {"toolUse": {"input": raw[:cut]}}},
                    )
                )
                tail.append(
                    event_message(
                        "contentBlockDelta",
                        {"contentBlockIndex": i, "delta": {"toolUse": {"input": raw[cut:]}}},
                    )
                )
            tail.append(event_message("contentBlockStop", {"contentBlockIndex": i}))
        if fault == "malformed":  # the stream breaks off with an exception event, as Bedrock's can
            tail = [event_message("internalServerException", {"message": "stream interrupted"}, "exception")]
        else:
            tail.append(event_message("messageStop", {"stopReason": stop}))
            ms = int((ttft + rest) * 1000)
            tail.append(event_message("metadata", {"usage": u, "metrics": {"latencyMs": ms}}))
        headers = {"x-amzn-RequestId": rid, "content-type": "application/vnd.amazon.eventstream"}
        return await self._stream_reply(request, headers, head, tail, ttft, rest)


class BedrockServerProcess(ServerProcess):
    module = "eval_pipeline_tests.support.servers.bedrock_server"


def main(argv: list[str] | None = None) -> None:
    cfg, port = parse_args(argv)
    serve(BedrockTestServer(cfg, port=port))


if __name__ == "__main__":
    main()
