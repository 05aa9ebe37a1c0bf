"""Targets: a model version's (or a judge's) endpoint -> the Provider that answers it.

In: a validated endpoint (:mod:`eval_pipeline.project.endpoints`; None = the deployment's Anthropic
settings), the price table and :class:`Defaults` (the deployment's key, base URL and concurrency).
Out: a :class:`~.providers.Provider` whose ``name`` is :func:`key_name` of the endpoint - the
provider part of every response-store key: ``anthropic`` (as always), ``openai:<base_url>``,
``bedrock:<region>:<endpoint_url>``, ``http:<method> <url>#<hash of body template and paths>``,
``python:<module:function>``. A replay of the same endpoint uses the same name, so it finds the
answers a live run stored. :class:`RoutingProvider` sends each request to the provider of its
model id (a judge panel whose members live at different vendors).

Credentials: API keys are read from the environment variable the endpoint names, here, once; AWS
credentials come from boto3's standard chain. Plain Python: no Dagster here.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from eval_pipeline.inference.anthropic_provider import AnthropicProvider
from eval_pipeline.inference.bedrock_provider import BedrockProvider
from eval_pipeline.inference.http_provider import HttpProvider
from eval_pipeline.inference.openai_provider import DEFAULT_BASE_URL, OpenAIProvider
from eval_pipeline.inference.providers import Provider, ReplayProvider
from eval_pipeline.inference.python_provider import PythonProvider
from eval_pipeline.inference.types import ModelRequest, ModelResponse
from eval_pipeline.project.endpoints import (
    AnthropicEndpoint,
    BedrockEndpoint,
    Endpoint,
    HttpEndpoint,
    OpenAIEndpoint,
    PythonEndpoint,
    endpoint_identity,
    expand_env,
)


class TargetConfigError(ValueError):
    """An endpoint cannot be built here (a missing credential variable, an unimportable function)."""


@dataclass
class Defaults:
    """The deployment's settings used when an endpoint leaves them out."""

    anthropic_api_key: str | None = None
    anthropic_base_url: str | None = None
    max_concurrency: int = 16
    requests_per_minute: float | None = None
    tokens_per_minute: float | None = None
    request_timeout_s: float = 120.0
    stream: bool = True


def key_name(endpoint: Endpoint | None) -> str:
    """The provider part of the store key of an endpoint (no secrets)."""
    if endpoint is None or isinstance(endpoint, AnthropicEndpoint):
        return "anthropic"
    where = f"endpoint of provider {endpoint.provider!r}"
    if isinstance(endpoint, OpenAIEndpoint):
        return f"openai:{(expand_env(endpoint.base_url, where) or DEFAULT_BASE_URL).rstrip('/')}"
    if isinstance(endpoint, BedrockEndpoint):
        region = (
            expand_env(endpoint.region, where)
            or os.environ.get("AWS_REGION")
            or os.environ.get("AWS_DEFAULT_REGION")
            or ""
        )
        return f"bedrock:{region}:{expand_env(endpoint.endpoint_url, where) or 'aws'}"
    if isinstance(endpoint, HttpEndpoint):
        ident = endpoint_identity(endpoint)
        digest = hashlib.sha256(json.dumps(ident, sort_keys=True, default=str).encode()).hexdigest()[:12]
        return f"http:{endpoint.method} {expand_env(endpoint.url, where)}#{digest}"
    if isinstance(endpoint, PythonEndpoint):
        return f"python:{endpoint.function}"
    raise TargetConfigError(f"unknown endpoint type {type(endpoint).__name__}")


def _flow(
    endpoint: Endpoint, defaults: Defaults, prices: Mapping[str, Mapping[str, float]]
) -> dict[str, Any]:
    return {
        "max_concurrency": endpoint.max_concurrency or defaults.max_concurrency,
        "requests_per_minute": endpoint.requests_per_minute or defaults.requests_per_minute,
        "tokens_per_minute": endpoint.tokens_per_minute or defaults.tokens_per_minute,
        "request_timeout_s": endpoint.request_timeout_s
        if "request_timeout_s" in endpoint.model_fields_set
        else defaults.request_timeout_s,
        "prices": prices,
    }


def _secret(env_name: str, what: str) -> str:
    value = os.environ.get(env_name, "")
    if not value:
        raise TargetConfigError(
            f"{what} needs an API key: set the environment variable {env_name} (its value is never logged or stored)"
        )
    return value


def build_provider(
    endpoint: Endpoint | None,
    prices: Mapping[str, Mapping[str, float]],
    defaults: Defaults | None = None,
    *,
    replay: bool = False,
) -> Provider:
    """The provider of ``endpoint`` (``replay``: a :class:`ReplayProvider` with the same key name)."""
    defaults = defaults or Defaults()
    name = key_name(endpoint)
    if replay:
        return ReplayProvider(key_provider=name)
    if endpoint is None or isinstance(endpoint, AnthropicEndpoint):
        ep = endpoint or AnthropicEndpoint()
        key = (
            os.environ.get(ep.api_key_env)
            if endpoint is not None and ep.api_key_env != "ANTHROPIC_API_KEY"
            else defaults.anthropic_api_key
        )
        if not key:
            raise TargetConfigError(
                f"provider 'anthropic' needs an API key: set {ep.api_key_env} in the environment"
            )
        flow = _flow(ep, defaults, prices)
        return AnthropicProvider(
            key,
            base_url=expand_env(ep.base_url, "anthropic endpoint") or defaults.anthropic_base_url or None,
            max_concurrency=flow["max_concurrency"],
            requests_per_minute=flow["requests_per_minute"],
            tokens_per_minute=flow["tokens_per_minute"],
            request_timeout_s=flow["request_timeout_s"],
            stream=ep.stream and defaults.stream,
            prices=prices,
        )
    flow = _flow(endpoint, defaults, prices)
    provider: Provider
    if isinstance(endpoint, OpenAIEndpoint):
        provider = OpenAIProvider(
            _secret(endpoint.api_key_env, f"openai endpoint {name}"),
            base_url=expand_env(endpoint.base_url, "openai endpoint base_url"),
            stream=endpoint.stream,
            max_tokens_param=endpoint.max_tokens_param,
            **flow,
        )
    elif isinstance(endpoint, BedrockEndpoint):
        provider = BedrockProvider(
            region=expand_env(endpoint.region, "bedrock endpoint region"),
            endpoint_url=expand_env(endpoint.endpoint_url, "bedrock endpoint endpoint_url"),
            profile=endpoint.profile,
            stream=endpoint.stream,
            **flow,
        )
    elif isinstance(endpoint, HttpEndpoint):
        provider = HttpProvider(endpoint, **flow)
    elif isinstance(endpoint, PythonEndpoint):
        provider = PythonProvider(endpoint.function, **flow)
    else:
        raise TargetConfigError(f"unknown endpoint type {type(endpoint).__name__}")
    provider.name = name
    return provider


class RoutingProvider(Provider):
    """Each request to the provider of its model id (``routes``), else to ``default``."""

    def __init__(self, default: Provider, routes: Mapping[str, Provider]):
        self.default = default
        self.routes = dict(routes)
        self.name = default.name
        members = [default, *self.routes.values()]
        self.replay_only = all(p.replay_only for p in members)
        self.provenance = default.provenance

    def __repr__(self) -> str:
        return f"RoutingProvider(default={self.default!r}, routes={sorted(self.routes)})"

    def route(self, request: ModelRequest) -> Provider:
        return self.routes.get(request.model, self.default)

    def key_name(self, request: ModelRequest) -> str:
        return self.route(request).key_name(request)

    def secrets(self) -> tuple[str, ...]:
        return tuple(x for p in self._members() for x in p.secrets())

    @property
    def endpoint(self) -> str:
        return ", ".join(dict.fromkeys(p.endpoint for p in self._members()))

    def _members(self) -> list[Provider]:
        return list({id(p): p for p in [self.default, *self.routes.values()]}.values())

    async def acomplete(self, request: ModelRequest, cache_key: str) -> ModelResponse:
        p = self.route(request)
        resp = await p.acomplete(request, cache_key)
        resp.provenance = resp.provenance or p.provenance
        return resp

    async def astart(self) -> None:
        for p in self._members():
            await p.astart()

    async def aclose(self) -> None:
        for p in self._members():
            await p.aclose()

    # Message Batches: only the default (Anthropic) provider has them.
    def batch_params(self, request: ModelRequest) -> dict[str, Any]:
        if request.model in self.routes:
            raise TargetConfigError(
                f"judge model {request.model!r} is not on the Anthropic endpoint: batch: true is not available for it"
            )
        return self._batcher().batch_params(request)

    async def batch_client(self) -> Any:
        return await self._batcher().batch_client()

    def batch_response(
        self, request: ModelRequest, cache_key: str, message: Any, batch_id: str
    ) -> ModelResponse:
        return self._batcher().batch_response(request, cache_key, message, batch_id)

    def _batcher(self) -> AnthropicProvider:
        """The default provider, which answers batches (the registry allows ``batch: true`` only for
        ``provider: anthropic``, :mod:`eval_pipeline.project.endpoints`)."""
        if not isinstance(self.default, AnthropicProvider):
            raise TargetConfigError(
                f"batch: true needs an Anthropic endpoint; the default is {self.default!r}"
            )
        return self.default
