"""The deployment's inference settings apart from Dagster: which provider answers, the response store, the budget.

In: the settings of the ``llm`` resource (provider, key, base URL, concurrency, rate limits, timeouts, retry
budget, store and recordings folders), from the resource's fields or from the environment
(:meth:`InferenceSettings.from_env`, the same variables and defaults as ``defs/resources.py:build_resources``).
Out: a model version's provider (:meth:`~InferenceSettings.provider_for`), the response store of a warehouse
(:meth:`~InferenceSettings.open_store`) and a step's :class:`~eval_pipeline.inference.guard.StepBudget`.
A setting that cannot work raises :class:`ProviderSetupError` with the fix; the ``llm`` resource turns it into
the step's ``dg.Failure`` with the same text. The API key is passed to the provider only, never logged or kept
anywhere else.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from eval_pipeline.inference.anthropic_provider import AnthropicProvider
from eval_pipeline.inference.guard import StepBudget
from eval_pipeline.inference.providers import ReplayProvider
from eval_pipeline.inference.segments import SegmentStore
from eval_pipeline.inference.store import ResponseStore
from eval_pipeline.inference.synthetic_provider import SyntheticProvider, synthetic_openai_provider
from eval_pipeline.inference.targets import Defaults, build_provider
from eval_pipeline.project.endpoints import AnthropicEndpoint
from eval_pipeline.project.environment import deployment_defaults
from eval_pipeline.project.paths import PROJECT_ROOT
from eval_pipeline.storage import keys
from eval_pipeline.storage.location import Location
from eval_pipeline.storage.warehouse import open_backend

AUTO_WITHOUT_KEY = (
    "no model provider: EVAL_PROVIDER is 'auto' (the default) and ANTHROPIC_API_KEY is not set. "
    "To call the Anthropic API set the key (export ANTHROPIC_API_KEY=sk-ant-..., or in the deployment's environment). "
    "To serve stored answers and the synthetic demo recordings instead, choose it explicitly: EVAL_PROVIDER=replay "
    "(its results are labelled synthetic). To try a suite with no key, start `eval-pipeline serve-model` and set "
    "EVAL_PROVIDER=synthetic (docs/getting-started.md). 'auto' never falls back to replay."
)
NEEDS_KEY = "provider 'anthropic' needs an API key: set ANTHROPIC_API_KEY in the environment"


class ProviderSetupError(ValueError):
    """The settings name no provider that can answer (no key, an unknown provider, a bad endpoint)."""


# (field, environment variable) of every setting the environment gives (defs/resources.py:build_resources).
ENVIRONMENT = (
    ("provider", "EVAL_PROVIDER"),
    ("api_key", "ANTHROPIC_API_KEY"),
    ("base_url", "ANTHROPIC_BASE_URL"),
    ("max_concurrency", "EVAL_MAX_CONCURRENCY"),
    ("request_timeout_s", "EVAL_REQUEST_TIMEOUT_S"),
    ("stall_timeout_s", "EVAL_STALL_TIMEOUT_S"),
    ("max_retries", "EVAL_MAX_RETRIES"),
    ("store_path", "EVAL_RESPONSE_STORE"),
    ("s3_endpoint_url", "EVAL_S3_ENDPOINT_URL"),
    ("recordings_path", "EVAL_RECORDINGS_DIR"),
)


class InferenceSettings(BaseModel):
    """The ``llm`` resource's settings: the resource is one (``LLMResource(dg.ConfigurableResource, InferenceSettings)``),
    so its fields are declared here once."""

    provider: str = "auto"
    api_key: str | None = None
    base_url: str | None = None
    max_concurrency: int = 16
    requests_per_minute: float | None = None
    tokens_per_minute: float | None = None
    request_timeout_s: int = 120  # per attempt, whole answer
    stall_timeout_s: int = 90  # no answer at all for this long while waiting: the step stops
    max_retries: int = -1  # retries after failures per step, not throttling (-1: 32 + 20% of requests)
    stream: bool = True
    store_path: str = ""
    s3_endpoint_url: str | None = None
    recordings_path: str = ""
    seal_every: int = 200

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> InferenceSettings:
        """The settings a run started now would resolve: each variable of :data:`ENVIRONMENT` from ``env``,
        else its documented default (:func:`~eval_pipeline.project.environment.deployment_defaults`)."""
        defaults = deployment_defaults()
        return cls(**{name: env.get(var, defaults.get(var, "")) for name, var in ENVIRONMENT})

    def provider_name(self) -> str:
        """``anthropic`` or the chosen provider; raises for ``auto`` without a key."""
        if self.provider in ("auto", ""):
            if not self.api_key:
                raise ProviderSetupError(AUTO_WITHOUT_KEY)
            return "anthropic"
        return self.provider

    def budget(self) -> StepBudget:
        """The step's retry budget and stall timeout."""
        return StepBudget(
            max_retries=None if self.max_retries < 0 else self.max_retries,
            stall_timeout_s=float(self.stall_timeout_s),
        )

    def make_provider(self, prices: dict[str, Any]) -> Any:
        """The deployment's own provider (Anthropic with this key and base URL, replay or synthetic)."""
        name = self.provider_name()
        if name == "replay":
            return ReplayProvider()
        if name == "synthetic":  # eval-pipeline serve-model on loopback; answers labelled synthetic
            try:
                return SyntheticProvider(
                    self.base_url or None,
                    max_concurrency=self.max_concurrency,
                    stream=self.stream,
                    prices=prices,
                )
            except ValueError as e:
                raise ProviderSetupError(str(e)) from None
        if name != "anthropic":
            raise ProviderSetupError(
                f"unknown provider {self.provider!r}; use anthropic, replay, synthetic or auto"
            )
        if not self.api_key:
            raise ProviderSetupError(NEEDS_KEY)
        return AnthropicProvider(
            self.api_key,
            base_url=self.base_url or None,
            max_concurrency=self.max_concurrency,
            requests_per_minute=self.requests_per_minute,
            tokens_per_minute=self.tokens_per_minute,
            request_timeout_s=float(self.request_timeout_s),
            stream=self.stream,
            prices=prices,
        )

    def defaults(self) -> Defaults:
        """What an endpoint of models.yaml leaves unset takes from these settings."""
        return Defaults(
            anthropic_api_key=self.api_key or None,
            anthropic_base_url=self.base_url or None,
            max_concurrency=self.max_concurrency,
            requests_per_minute=self.requests_per_minute,
            tokens_per_minute=self.tokens_per_minute,
            request_timeout_s=self.request_timeout_s,
            stream=self.stream,
        )

    def build(self, endpoint: Any, prices: dict[str, Any]) -> Any:
        """The provider of ``endpoint`` (None: the deployment's Anthropic settings)."""
        if self.provider == "synthetic":  # `eval-pipeline serve-model` stands in (Anthropic or OpenAI API)
            kind = getattr(endpoint, "provider", "anthropic") if endpoint is not None else "anthropic"
            if kind == "openai":
                try:
                    return synthetic_openai_provider(
                        self.base_url or None, stream=endpoint.stream, max_concurrency=self.max_concurrency
                    )
                except ValueError as e:
                    raise ProviderSetupError(str(e)) from None
            if kind != "anthropic":
                raise ProviderSetupError(
                    f"EVAL_PROVIDER=synthetic answers through `eval-pipeline serve-model` (Anthropic and OpenAI "
                    f"APIs); an endpoint of provider {kind!r} cannot use it: give the model version provider: "
                    "anthropic or openai for the synthetic run, or unset EVAL_PROVIDER"
                )
            return self.make_provider(prices)
        replay = self.provider == "replay"
        if not replay and self.provider not in ("auto", "", "anthropic"):
            raise ProviderSetupError(
                f"unknown provider {self.provider!r}; use anthropic, replay, synthetic or auto"
            )
        if not replay and endpoint is None and not self.api_key:
            raise ProviderSetupError(AUTO_WITHOUT_KEY if self.provider in ("auto", "") else NEEDS_KEY)
        try:
            return build_provider(endpoint, prices, self.defaults(), replay=replay)
        except ValueError as e:  # TargetConfigError, an unset ${VAR}
            raise ProviderSetupError(str(e)) from None

    def provider_for(self, registry: Any, model_version: Any) -> Any:
        """The provider of ``model_version``: its own endpoint (``provider:`` + ``endpoint:`` in models.yaml;
        anthropic = these settings' key and base URL); ``replay`` (EVAL_PROVIDER=replay, or a version with
        provider replay) serves the store under the same endpoint identity."""
        ep = model_version.endpoint_settings
        if isinstance(ep, AnthropicEndpoint) and model_version._endpoint is None:
            ep = None  # the deployment's Anthropic settings, as before
        if model_version.provider == "replay":
            return ReplayProvider()
        return self.build(ep, registry.price_table())

    def open_store(self, warehouse_url: str) -> ResponseStore:
        """The response store. Its journals live in a local folder: ``store_path`` if set, else
        ``<local warehouse>/response_store``, else (S3 warehouse) ``~/.eval_pipeline/response_store``.
        Its segments live beside the journals for a local warehouse, and in the warehouse's bucket
        under ``<prefix>/response_store/`` for an S3 warehouse - shared by every process and host, so
        an answer any worker paid for is never paid again. The caller closes (seals) it.

        The read-only recordings (``recordings_path``) are read in place into the store's recordings
        namespace: served to ``replay`` only, and used to recognise old copies of them inside the
        store (earlier versions copied them in), which a live provider then never gets either."""
        location = Location.parse(warehouse_url)
        remote = location.is_remote
        if self.store_path:
            root = Path(self.store_path)
        elif not remote:
            root = location.path / keys.RESPONSE_STORE
        else:
            root = Path.home() / ".eval_pipeline" / keys.RESPONSE_STORE
        root.mkdir(parents=True, exist_ok=True)
        segments = (
            SegmentStore(open_backend(warehouse_url, self.s3_endpoint_url or None), keys.RESPONSE_STORE)
            if remote
            else None
        )
        return ResponseStore(
            root,
            recordings=[self.recordings_path] if self.recordings_path else (),
            segments=segments,
            seal_every=self.seal_every,
        )

    def recordings_label(self) -> str:
        """``recordings_path`` as shown in provenance labels (relative to the project when inside it)."""
        if self.provider == "synthetic":
            return f"from the synthetic model server at {self.base_url}"
        if not self.recordings_path:
            return "the response store"
        p = Path(self.recordings_path).resolve()
        try:
            return str(p.relative_to(PROJECT_ROOT))
        except ValueError:
            return str(p)
