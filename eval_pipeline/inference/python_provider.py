"""PythonProvider: a Python callable as the target (``package.module:function``).

In: a ModelRequest; the function is called with one dict ``{"model", "messages" (Anthropic format),
"system", "tools" ({name, description, input_schema}), "tool_choice", "params"}``. It returns a
string (the answer text) or a dict ``{"text", "tool_calls": [{"id"?, "name", "arguments"}],
"usage": {"input_tokens", "output_tokens"}, "stop_reason"?}``. Out: a ModelResponse (latency; no
TTFT) or a categorized failure.

Bounded concurrency: an ``async def`` function is awaited on the event loop, at most
``max_concurrency`` at a time (the pool of :class:`.live.LiveProvider`); a plain function runs in this
provider's own thread pool of ``max_concurrency`` workers. A ``TimeoutError`` / ``ConnectionError``
raised by the function is retried like a provider's; any other exception is the function's bug and
is recorded once (``api_error``, naming the function and the exception), never retried. A return
value of another shape is an ``api_error`` that says what to return.
"""

from __future__ import annotations

import importlib
import inspect
import time
from typing import Any

from eval_pipeline.inference.live import Failure, LiveProvider, WireAnswer
from eval_pipeline.inference.types import ModelRequest, ModelResponse

RETURN_HINT = 'return a str, or a dict {"text", "tool_calls": [{"name", "arguments"}], "usage": {"input_tokens", "output_tokens"}}'


class TargetFunctionError(Exception):
    """The target function raised, or returned something that is not an answer."""


def load_function(spec: str) -> Any:
    """``package.module:function`` -> the callable (ValueError naming what is missing)."""
    module_name, _, attr = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise ValueError(
            f"python target {spec!r}: cannot import {module_name!r} ({e}); is the package on PYTHONPATH?"
        ) from None
    fn = getattr(module, attr, None)
    if not callable(fn):
        raise ValueError(f"python target {spec!r}: {module_name} has no callable {attr!r}")
    return fn


class PythonProvider(LiveProvider):
    """Calls ``function`` (a ``package.module:function`` string, or the callable itself)."""

    def __init__(self, function: Any, **flow: Any):
        self.spec = (
            function if isinstance(function, str) else f"{function.__module__}:{function.__qualname__}"
        )
        super().__init__(endpoint=self.spec, **flow)
        self.fn = load_function(function) if isinstance(function, str) else function
        self.is_async = inspect.iscoroutinefunction(self.fn)
        self.name = f"python:{self.spec}"

    def __repr__(self) -> str:
        return f"PythonProvider({self.spec}, max_concurrency={self.max_concurrency})"

    def _open(self) -> Any:
        if not self.is_async:
            self._start_threads("python-target")
        return None

    async def _call(self, client: Any, request: ModelRequest, cache_key: str, t0: float) -> ModelResponse:
        payload = {
            "model": request.model,
            "messages": request.messages,
            "system": request.system,
            "tools": request.tools or [],
            "tool_choice": request.tool_choice,
            "params": dict(request.params),
        }
        try:
            if self.is_async:
                out = await self.fn(payload)
            else:
                out = await self._in_thread(self.fn, payload)
        except (TimeoutError, ConnectionError):
            raise
        except Exception as e:
            raise TargetFunctionError(f"{self.spec} raised {type(e).__name__}: {e}") from e
        latency = time.perf_counter() - t0
        if isinstance(out, str):
            out = {"text": out}
        if not isinstance(out, dict):
            raise TargetFunctionError(f"{self.spec} returned {type(out).__name__}; {RETURN_HINT}")
        calls = []
        for i, c in enumerate(out.get("tool_calls") or []):
            if not isinstance(c, dict) or "name" not in c:
                raise TargetFunctionError(
                    f"{self.spec}: tool_calls[{i}] is not a dict with a name; {RETURN_HINT}"
                )
            args = c.get("arguments", c.get("input", {}))
            calls.append(
                {
                    "id": str(c.get("id") or f"call_{i}"),
                    "name": c["name"],
                    "arguments": args if isinstance(args, dict) else {"_raw": str(args)},
                }
            )
        usage = out.get("usage") or {}
        stop = out.get("stop_reason") or ("tool_use" if calls else "end_turn")
        tokens = (int(usage.get("input_tokens") or 0), int(usage.get("output_tokens") or 0), 0, 0)
        return self.response(request, cache_key, WireAnswer(out.get("text"), calls, stop, tokens), latency)

    def _classify(self, exc: BaseException) -> Failure:
        if isinstance(exc, TargetFunctionError):
            return Failure("api_error", self.scrub(str(exc))[:400], False)
        return super()._classify(exc)
