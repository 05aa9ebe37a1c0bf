"""Parse an Anthropic Messages answer: SSE stream bytes and tool_use input.

In: the raw bytes of a streamed Messages API response (in chunks), or one tool_use input JSON
and the request that declared the tool. Out: :class:`SSEAccumulator` collects text, tool input,
usage, stop reason and time to first token (:meth:`SSEAccumulator.answer`, a
:class:`~.live.WireAnswer`); :func:`parse_tool_input` gives ``(input, problem)``
after checking the tool's ``input_schema``. An ``error`` event raises :class:`StreamError`.
Plain ``json.loads`` per event: far cheaper per request than the SDK's typed event objects.
"""

from __future__ import annotations

import json
import time
from typing import Any

import jsonschema

from eval_pipeline.inference.live import WireAnswer
from eval_pipeline.inference.providers import PRICE_FIELDS
from eval_pipeline.inference.types import ModelRequest
from eval_pipeline.project.user_regex import bounded_validator  # a tool schema's pattern never hangs


def parse_tool_input(
    raw: str, request: ModelRequest, name: str | None = None
) -> tuple[dict[str, Any] | None, str | None]:
    """Parse a tool_use input and check it against the tool's input_schema; (input, problem).
    ``name``: the (canonical) tool the block called, whose schema applies; None = the forced
    ``tool_choice`` tool, else the first tool."""
    try:
        value = json.loads(raw) if raw else {}
    except ValueError as exc:
        return None, f"tool_use input is not valid JSON: {exc}"
    if not isinstance(value, dict):
        return None, "tool_use input is not a JSON object"
    schema = next((t.get("input_schema") for t in request.tools or [] if t.get("input_schema")), None)
    if name is not None:
        schema = next((t.get("input_schema") for t in request.tools or [] if t.get("name") == name), None)
    elif request.tool_choice and request.tool_choice.get("name"):
        schema = next(
            (
                t.get("input_schema")
                for t in request.tools or []
                if t.get("name") == request.tool_choice["name"]
            ),
            schema,
        )
    if schema:
        errors = sorted(
            bounded_validator(jsonschema.Draft202012Validator, 0.2, True)(schema).iter_errors(value),
            key=lambda e: list(e.path),
        )
        if errors:
            e = errors[0]
            where = "/".join(str(p) for p in e.path) or "(root)"
            return value, f"tool_use input violates the tool's input_schema at {where}: {e.message}"
    return value, None


class StreamError(Exception):
    """An ``error`` event inside an SSE stream (e.g. overloaded_error mid-response)."""

    def __init__(self, error_type: str, message: str):
        super().__init__(f"{error_type}: {message}")
        self.error_type = error_type


class SSEAccumulator:
    """Collects text, tool input, usage, stop reason and TTFT from Messages API SSE bytes."""

    __slots__ = ("t0", "buf", "texts", "blocks", "usage", "stop_reason", "ttft", "stopped")

    def __init__(self, t0: float):
        self.t0 = t0
        self.buf = b""
        self.texts: list[str] = []
        self.blocks: dict[int, dict[str, Any]] = {}
        self.usage: dict[str, int] = {}
        self.stop_reason: str | None = None
        self.ttft: float | None = None
        self.stopped = False

    def feed(self, chunk: bytes) -> None:
        """Add bytes; handles events split across chunks (events end with a blank line)."""
        data = self.buf + chunk if self.buf else chunk
        if b"\r" in data:
            data = data.replace(b"\r\n", b"\n")
        events = data.split(b"\n\n")
        self.buf = events.pop()
        for raw in events:
            for line in raw.split(b"\n"):
                if line.startswith(b"data:"):
                    self._event(json.loads(line[5:]))

    def finish(self) -> None:
        """Flush a last event without trailing blank line; raise if the stream ended early."""
        if self.buf.strip():
            self.feed(b"\n\n")
        if not self.stopped:
            raise ConnectionError("stream ended before message_stop")

    def _event(self, ev: dict[str, Any]) -> None:
        t = ev.get("type")
        if t == "content_block_delta":
            if self.ttft is None:
                self.ttft = time.perf_counter() - self.t0
            d = ev["delta"]
            if d["type"] == "text_delta":
                self.texts.append(d["text"])
            elif d["type"] == "input_json_delta":
                self.blocks.setdefault(ev["index"], {"parts": []})["parts"].append(d["partial_json"])
        elif t == "content_block_start":
            cb = ev["content_block"]
            if cb.get("type") == "tool_use":
                self.blocks[ev["index"]] = {"name": cb.get("name"), "id": cb.get("id"), "parts": []}
        elif t == "message_start":
            u = ev["message"].get("usage") or {}
            self.usage = {
                "input": u.get("input_tokens") or 0,
                "output": u.get("output_tokens") or 0,
                "cache_read": u.get("cache_read_input_tokens") or 0,
                "cache_write": u.get("cache_creation_input_tokens") or 0,
            }
        elif t == "message_delta":
            self.stop_reason = ev["delta"].get("stop_reason")
            out = (ev.get("usage") or {}).get("output_tokens")
            if out is not None:
                self.usage["output"] = out
        elif t == "message_stop":
            self.stopped = True
        elif t == "error":
            err = ev.get("error") or {}
            raise StreamError(err.get("type", "api_error"), err.get("message", ""))

    def tool_raw(self) -> str | None:
        """Concatenated input JSON of the first tool_use block, if any."""
        return next(("".join(b["parts"]) for b in self.blocks.values() if "name" in b), None)

    def answer(self, request_id: str | None) -> WireAnswer:
        """The collected answer (tool calls as :meth:`tool_blocks`) with the API's ``request_id``."""
        tokens = tuple(self.usage.get(k, 0) for k in PRICE_FIELDS)  # the usage keys are the price fields'
        return WireAnswer(
            "".join(self.texts), self.tool_blocks(), self.stop_reason, tokens, request_id, self.ttft
        )

    def tool_blocks(self) -> list[tuple[str | None, str, str]]:
        """Every tool_use block in order: (id, name as sent by the API, raw input JSON)."""
        return [
            (b.get("id"), b["name"], "".join(b["parts"]))
            for _, b in sorted(self.blocks.items())
            if "name" in b
        ]
