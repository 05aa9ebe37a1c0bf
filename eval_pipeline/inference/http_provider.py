"""HttpProvider: the team's own application over HTTP (the shape of promptfoo's HTTP provider).

In: a ModelRequest and an :class:`~eval_pipeline.project.endpoints.HttpEndpoint` - ``url``, ``method``
(POST / PUT), ``headers`` (values may hold ``${ENV_VAR}``, read once when the provider is built,
scrubbed from every message, never stored), ``body`` (a Jinja template, rendered in Jinja's
*immutable sandbox*: a string, or a mapping / list whose strings are templates; a string that is one
``{{ expression }}`` keeps the expression's JSON type, e.g. a list of messages) and ``response``
(JMESPath expressions for ``text``, ``tool_calls``, ``input_tokens``, ``output_tokens``,
``stop_reason``, ``request_id``). Out: a ModelResponse (latency; no TTFT: the body is read whole) or
a categorized failure.

Template variables: ``prompt`` (the last user turn's text), ``messages`` (Anthropic format),
``system``, ``tools`` (``{name, description, input_schema}``), ``tool_choice``, ``params``, ``model``,
and ``openai_messages`` / ``openai_tools`` (the same in OpenAI's chat format, for apps that speak it).
The sample id is deliberately not a variable: the body must depend only on what the store key covers.

Tool calls found at ``response.tool_calls`` may be ``{name, arguments}`` (arguments an object or JSON
text), ``{name, input}`` or OpenAI's ``{function: {name, arguments}}``. Retries: 429 / 503 honour
``Retry-After``; 5xx, timeouts and dropped connections are retried; other 4xx are not.
"""

from __future__ import annotations

import json
import time
from typing import Any

import jinja2
from jinja2 import Undefined
from jinja2.sandbox import ImmutableSandboxedEnvironment

from eval_pipeline.inference.conversation import last_user_text
from eval_pipeline.inference.live import Failure, LiveProvider, WireAnswer, status_failure
from eval_pipeline.inference.types import ModelRequest, ModelResponse
from eval_pipeline.inference.wire import openai_messages, openai_tools, tool_names
from eval_pipeline.project.endpoints import HttpEndpoint, expand_env


class HttpStatusError(Exception):
    def __init__(self, status: int, text: str, headers: Any):
        super().__init__(f"HTTP {status}")
        self.status, self.text, self.headers = status, text, headers


class HttpProvider(LiveProvider):
    """POSTs each request to the app, rendered from the body template; reads the answer by JMESPath."""

    def __init__(self, endpoint: HttpEndpoint, **flow: Any):
        import jmespath  # noqa: PLC0415 - keeps jmespath out of `import eval_pipeline.definitions`

        self.url = expand_env(endpoint.url, "http endpoint url") or ""
        self.method = endpoint.method
        headers = {k: expand_env(v, f"http endpoint headers.{k}") or "" for k, v in endpoint.headers.items()}
        secrets = [v for k, v in headers.items() if "${" in endpoint.headers[k]]
        super().__init__(secrets=secrets, endpoint=self.url, **flow)
        self._headers = headers
        self.name = f"http:{self.method} {self.url}"
        env = ImmutableSandboxedEnvironment(undefined=jinja2.StrictUndefined, autoescape=False)
        self._env = env
        try:
            self._body = _compile(env, endpoint.body)
            self._paths = {k: jmespath.compile(v) for k, v in endpoint.response.items()}
        except (jinja2.TemplateSyntaxError, jmespath.exceptions.JMESPathError) as e:
            raise ValueError(f"http endpoint {self.url}: {type(e).__name__}: {e}") from None

    def __repr__(self) -> str:
        return f"HttpProvider({self.method} {self.url}, headers={sorted(self._headers)} (values not shown))"

    def _open(self) -> Any:
        import aiohttp  # noqa: PLC0415 - keeps aiohttp out of `import eval_pipeline.definitions`

        return aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=self.max_concurrency + 16),
            timeout=aiohttp.ClientTimeout(total=self.request_timeout_s),
        )

    async def _close(self, client: Any) -> None:
        await client.close()

    def render(self, request: ModelRequest, names: Any = None) -> Any:
        """The request body (a JSON value, or text for a string template)."""
        names = names or tool_names(request)
        ctx = {
            "prompt": last_user_text(request.messages, sep=""),
            "messages": request.messages,
            "system": request.system,
            "tools": request.tools or [],
            "tool_choice": request.tool_choice,
            "params": request.params,
            "model": request.model,
            "openai_messages": openai_messages(request, names),
            "openai_tools": openai_tools(request, names) or [],
        }
        return _render(self._body, ctx)

    async def _call(self, client: Any, request: ModelRequest, cache_key: str, t0: float) -> ModelResponse:
        names = tool_names(request)
        body = self.render(request, names)
        kwargs: dict[str, Any] = {"headers": self._headers}
        if isinstance(body, str):
            kwargs["data"] = body.encode("utf-8")
        elif body is not None:
            kwargs["json"] = body
        async with client.request(self.method, self.url, **kwargs) as resp:
            text = await resp.text()
            if resp.status >= 400:
                raise HttpStatusError(resp.status, text, resp.headers)
            headers = resp.headers
        latency = time.perf_counter() - t0
        data = json.loads(text)
        got = {k: p.search(data) for k, p in self._paths.items()}
        answer = got.get("text")
        calls = [_tool_call(c, i) for i, c in enumerate(got.get("tool_calls") or [])]
        for c in calls:  # an app that was sent openai_tools answers with their wire names
            c["name"] = names.canonical(c["name"])
        text = answer if isinstance(answer, str) else (json.dumps(answer) if answer is not None else None)
        stop = got.get("stop_reason") or ("tool_use" if calls else "end_turn")
        tokens = (int(got.get("input_tokens") or 0), int(got.get("output_tokens") or 0), 0, 0)
        rid = str(got.get("request_id") or headers.get("x-request-id") or "") or None
        return self.response(request, cache_key, WireAnswer(text, calls, stop, tokens, rid), latency)

    def _classify(self, exc: BaseException) -> Failure:
        import aiohttp  # noqa: PLC0415 - keeps aiohttp out of `import eval_pipeline.definitions`

        if isinstance(exc, jinja2.TemplateError):
            return Failure(
                "api_error",
                f"http endpoint {self.url}: the body template failed: {type(exc).__name__}: {exc}",
                False,
            )
        if isinstance(exc, HttpStatusError):
            return status_failure(exc.status, self.scrub(exc.text), exc.headers)
        if isinstance(exc, (aiohttp.ServerTimeoutError, TimeoutError)):
            return Failure("timeout", f"no complete response within {self.request_timeout_s}s", True)
        if isinstance(exc, (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, ConnectionError)):
            return Failure("connection", f"connection failed: {type(exc).__name__}", True)
        if isinstance(exc, ValueError):
            return Failure("api_error", f"the app's response is not JSON: {self.scrub(str(exc))[:200]}", True)
        return super()._classify(exc)


def _compile(env: Any, body: Any) -> Any:
    """Templates compiled once: ``("expr", fn)`` for a lone ``{{ expression }}``, ``("tpl", t)`` else."""
    if isinstance(body, str):
        s = body.strip()
        if s.startswith("{{") and s.endswith("}}") and s.count("{{") == 1:
            return ("expr", env.compile_expression(s[2:-2].strip(), undefined_to_none=False))
        return ("tpl", env.from_string(body))
    if isinstance(body, dict):
        return {k: _compile(env, v) for k, v in body.items()}
    if isinstance(body, list):
        return [_compile(env, v) for v in body]
    return ("value", body)


def _render(compiled: Any, ctx: dict[str, Any]) -> Any:
    if isinstance(compiled, tuple):
        kind, obj = compiled
        if kind == "expr":
            value = obj(**ctx)
            if isinstance(value, Undefined):
                value._fail_with_undefined_error()  # StrictUndefined: name the missing variable
            return value
        if kind == "tpl":
            return obj.render(**ctx)
        return obj
    if isinstance(compiled, dict):
        return {k: _render(v, ctx) for k, v in compiled.items()}
    return [_render(v, ctx) for v in compiled]


def _tool_call(c: Any, i: int) -> dict[str, Any]:
    """One tool call in any of the accepted shapes -> ``{"id", "name", "arguments"}``."""
    if not isinstance(c, dict):
        return {"id": f"call_{i}", "name": str(c), "arguments": {"_raw": str(c)}}
    function = c.get("function")
    fn = function if isinstance(function, dict) else c
    args = fn.get("arguments", fn.get("input", c.get("input", {})))
    if isinstance(args, str):
        try:
            args = json.loads(args) if args.strip() else {}
        except ValueError:
            args = {"_raw": args}
    if not isinstance(args, dict):
        args = {"_raw": json.dumps(args)}
    return {"id": str(c.get("id") or f"call_{i}"), "name": str(fn.get("name", "")), "arguments": args}
