"""Endpoints: where a model version's (or a judge's) requests go, per provider, validated.

In: the ``endpoint:`` of a model version in ``models.yaml`` (a mapping, or the name of an entry of the
top-level ``endpoints:``), or an entry of ``endpoints:`` itself. Out: a typed, frozen settings object
per provider (:data:`ENDPOINT_TYPES`) and :func:`endpoint_identity`, the non-secret description of
*where* answers come from, which is part of the response-store key (so answers of two endpoints
never mix) and of the model version's config hash.

Secrets are never in this file's objects: only the *names* of environment variables
(``api_key_env``, ``${VAR}`` in HTTP header values), read when the provider is built. Values that
differ per deployment but are not secret (a base URL, an AWS region) may be given directly or as
``${VAR}`` (:func:`expand_env`, an unset variable is an error naming it).

Plain Python: no Dagster here.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic import ValidationError as VE

from eval_pipeline.project.errors import ConfigError

PROVIDERS = ("anthropic", "openai", "bedrock", "http", "python", "replay")
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def expand_env(value: str | None, where: str) -> str | None:
    """``${VAR}`` references replaced by the environment's values (ValueError naming an unset one)."""
    if value is None:
        return None

    def sub(m: re.Match[str]) -> str:
        name = m.group(1)
        if name not in os.environ:
            raise ValueError(f"{where}: environment variable {name} is not set (referenced as ${{{name}}})")
        return os.environ[name]

    return _ENV_REF.sub(sub, value)


class _Flow(BaseModel):
    """Flow control shared by every live endpoint (not part of its identity)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    max_concurrency: int | None = Field(
        None, ge=1, le=4096, description="requests in flight; default EVAL_MAX_CONCURRENCY"
    )
    requests_per_minute: float | None = Field(None, gt=0)
    tokens_per_minute: float | None = Field(None, gt=0)
    request_timeout_s: float = Field(120.0, gt=0)

    def identity(self) -> dict[str, Any]:
        flow = set(_Flow.model_fields)
        return {k: v for k, v in self.model_dump().items() if k not in flow and k not in ("api_key_env",)}


class AnthropicEndpoint(_Flow):
    provider: Literal["anthropic"] = "anthropic"
    base_url: str | None = Field(
        None, description="default: the deployment's ANTHROPIC_BASE_URL / the SDK default"
    )
    api_key_env: str = "ANTHROPIC_API_KEY"
    stream: bool = True


class OpenAIEndpoint(_Flow):
    provider: Literal["openai"] = "openai"
    base_url: str | None = Field(
        None, description="any OpenAI-compatible /v1 URL; default https://api.openai.com/v1"
    )
    api_key_env: str = "OPENAI_API_KEY"
    stream: bool = True
    max_tokens_param: Literal["max_tokens", "max_completion_tokens"] = "max_tokens"


class BedrockEndpoint(_Flow):
    provider: Literal["bedrock"] = "bedrock"
    region: str | None = Field(None, description="default: the AWS chain's (AWS_REGION / profile)")
    endpoint_url: str | None = Field(None, description="default: the regional bedrock-runtime endpoint")
    profile: str | None = Field(
        None, description="an AWS profile name; default: the standard credential chain"
    )
    stream: bool = True


class HttpEndpoint(_Flow):
    provider: Literal["http"] = "http"
    url: str = Field(min_length=1)
    method: Literal["POST", "PUT"] = "POST"
    headers: dict[str, str] = Field(
        default_factory=dict, description="values may contain ${ENV_VAR}; never stored"
    )
    body: Any = Field(
        None, description="Jinja template (a string, or a mapping / list whose strings are templates)"
    )
    response: dict[str, str] = Field(
        default_factory=lambda: {"text": "text"}, description="JMESPath per field"
    )

    @field_validator("response")
    @classmethod
    def _paths(cls, v: dict[str, str]) -> dict[str, str]:
        allowed = {"text", "tool_calls", "input_tokens", "output_tokens", "stop_reason", "request_id"}
        unknown = set(v) - allowed
        if unknown:
            raise ValueError(f"unknown response field(s) {sorted(unknown)}; use {sorted(allowed)}")
        if "text" not in v and "tool_calls" not in v:
            raise ValueError("response needs a 'text' or a 'tool_calls' JMESPath")
        return v

    def identity(self) -> dict[str, Any]:
        out = super().identity()
        out["headers"] = sorted(self.headers)  # header names only: values may be secrets
        return out


class PythonEndpoint(_Flow):
    provider: Literal["python"] = "python"
    function: str = Field(pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$", description="package.module:function")


ENDPOINT_TYPES: dict[str, type[_Flow]] = {
    "anthropic": AnthropicEndpoint,
    "openai": OpenAIEndpoint,
    "bedrock": BedrockEndpoint,
    "http": HttpEndpoint,
    "python": PythonEndpoint,
}

Endpoint = AnthropicEndpoint | OpenAIEndpoint | BedrockEndpoint | HttpEndpoint | PythonEndpoint


def parse_endpoint(provider: str, raw: dict[str, Any] | None) -> Endpoint:
    """The typed endpoint of ``provider`` from a raw mapping (pydantic ValidationError on bad keys)."""
    if provider not in ENDPOINT_TYPES:
        raise ValueError(
            f"provider {provider!r} has no endpoint settings; use one of {sorted(ENDPOINT_TYPES)}"
        )
    data = dict(raw or {})
    data.setdefault("provider", provider)
    if data["provider"] != provider:
        raise ValueError(
            f"endpoint is for provider {data['provider']!r}, but the model version's provider is {provider!r}"
        )
    return ENDPOINT_TYPES[provider].model_validate(data)  # type: ignore[return-value]


def endpoint_identity(endpoint: Endpoint) -> dict[str, Any]:
    """What decides where answers come from (no secrets, no flow control): part of store keys and hashes."""
    return endpoint.identity()


def resolve_endpoints(reg: Any, path: Path) -> None:
    """Validate ``endpoints:``, ``judge_endpoints:`` and each model version's ``endpoint:``."""

    for name, raw in reg.endpoints.items():
        try:
            parse_endpoint(str(raw.get("provider", "")), raw)
        except (VE, ValueError) as e:
            raise ConfigError(
                path,
                f"endpoints.{name}",
                f"{e} (each endpoint needs provider: one of anthropic, openai, bedrock, http, python)",
            ) from None
    for model_id, name in reg.judge_endpoints.items():
        if name not in reg.endpoints:
            raise ConfigError(
                path,
                f"judge_endpoints.{model_id}",
                f"unknown endpoint {name!r}; known: {sorted(reg.endpoints)}",
            )
    for i, m in enumerate(reg.models):
        raw = m.endpoint
        where = f"models[{i}].endpoint"
        if isinstance(raw, str):
            if raw not in reg.endpoints:
                raise ConfigError(path, where, f"unknown endpoint {raw!r}; known: {sorted(reg.endpoints)}")
            raw = reg.endpoints[raw]
        if m.provider in ("http", "python") and raw is None:
            raise ConfigError(
                path,
                where,
                f"provider {m.provider!r} needs an endpoint (url / function); see docs/providers.md",
            )
        if m.batch and m.provider != "anthropic":
            raise ConfigError(
                path,
                f"models[{i}].batch",
                f"batch: true needs provider anthropic (Message Batches); {m.provider!r} has no batch ledger here",
            )
        if raw is None or m.provider == "replay":
            continue
        try:
            m._endpoint = parse_endpoint(m.provider, raw)
        except (VE, ValueError) as e:
            raise ConfigError(path, where, str(e)) from None
