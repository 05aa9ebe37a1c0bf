"""Resources: thin, configurable handles on the plain-Python layer.

Configured with ``dg.EnvVar`` so secrets and deployment settings come from the environment
(never read at import time); :func:`build_resources` gives the deployment's set: ``eval_config``,
``warehouse``, ``llm``, ``embeddings`` and ``project`` (:func:`project_resource`: the first two together,
bound by key, which is what an evaluation asset asks for).
"""

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import dagster as dg
from pydantic import PrivateAttr

from eval_pipeline.defs.eval_partition import EvalProject
from eval_pipeline.evaluators.embeddings import SimilarityScorer
from eval_pipeline.inference.settings import (
    AUTO_WITHOUT_KEY,
    ENVIRONMENT,
    InferenceSettings,
    ProviderSetupError,
)
from eval_pipeline.inference.targets import RoutingProvider
from eval_pipeline.project.environment import deployment_defaults
from eval_pipeline.project.loader import Project, load_project
from eval_pipeline.project.paths import data_dir, default_warehouse_url
from eval_pipeline.storage import Warehouse, keys
from eval_pipeline.storage.location import Location
from eval_pipeline.storage.warehouse import open_backend


class EvalConfigResource(dg.ConfigurableResource):
    """Suites, golden-set locations and the model registry under the data folder."""

    data_dir: str = ""

    def load(self) -> Project:

        return load_project(Path(self.data_dir) if self.data_dir else data_dir())


class WarehouseResource(dg.ConfigurableResource):
    """Parquet warehouse: a local folder (default) or ``s3://bucket/prefix``.

    S3 credentials come from the standard AWS chain (``AWS_ACCESS_KEY_ID`` /
    ``AWS_SECRET_ACCESS_KEY`` / profile / instance role); ``endpoint_url`` points at any
    S3-compatible store.
    """

    url: str = ""
    endpoint_url: str | None = None
    region: str | None = None

    def resolved_url(self) -> str:
        return self.url or default_warehouse_url()

    def get(self):

        return Warehouse.from_url(
            self.resolved_url(), endpoint_url=self.endpoint_url or None, region=self.region or None
        )


@dg.resource(
    required_resource_keys={"eval_config", "warehouse"},
    description="The eval_config and warehouse resources of the run, read together by the evaluation assets.",
)
def project_resource(context: dg.InitResourceContext) -> EvalProject:
    """Bound by key, so a run that replaces ``eval_config`` or ``warehouse`` replaces it here too."""
    return EvalProject(context.resources.eval_config, context.resources.warehouse)


T = TypeVar("T")

# The Dagster concurrency pool of every step that calls a model API (inference, judges, shadow, A/A noise);
# its limit is set in the instance's dagster.yaml.
API_POOL = "anthropic_api"


class LLMResource(InferenceSettings, dg.ConfigurableResource):
    """The model provider and the response store (the fields and what they give: :class:`~eval_pipeline.inference.settings.InferenceSettings`).

    ``provider``: ``anthropic`` calls the Messages API (key from ``ANTHROPIC_API_KEY`` via
    ``dg.EnvVar``; never logged or stored); ``replay`` serves only from the response store and
    the recordings (``recordings_path``, the demo's synthetic answers) and fails on a miss;
    ``auto`` = anthropic when a key is set, else the run fails at once with :data:`AUTO_WITHOUT_KEY`
    (auto never turns a deployment into a replay; the demo selects ``replay`` explicitly).

    The recordings are indexed in their own namespace of the store: only ``replay`` is served
    from them; a live provider never is (see :mod:`eval_pipeline.inference.store`).
    """

    _stores: list = PrivateAttr(default_factory=list)

    def provider_name(self) -> str:
        """``anthropic`` or ``replay``; raises ``dg.Failure`` for ``auto`` without a key."""
        return _failing(super().provider_name)

    def make_provider(self, prices: dict):
        return _failing(super().make_provider, prices)

    def build(self, endpoint, prices: dict):
        return _failing(super().build, endpoint, prices)

    def provider_for(self, registry, model_version):
        """The provider of model version ``mv`` (:meth:`~eval_pipeline.inference.settings.InferenceSettings.provider_for`)."""
        return _failing(super().provider_for, registry, model_version)

    def judge_provider(self, registry):
        """The judges' provider: the deployment's Anthropic one, with judge model ids listed in
        ``judge_endpoints:`` of models.yaml routed to their endpoints."""
        default = (
            self.make_provider(registry.price_table()) if self.provider == "replay" or self.api_key else None
        )
        routes = {
            m: self.build(registry.judge_endpoint(m), registry.price_table())
            for m in registry.judge_endpoints
        }
        if not routes:
            return default if default is not None else self.make_provider(registry.price_table())

        if default is None:  # every judge may live elsewhere: fail only when a request needs Anthropic
            default = _MissingAnthropic(AUTO_WITHOUT_KEY)
        return RoutingProvider(default, routes)

    def store(self, warehouse_url: str):
        """The response store (:meth:`~eval_pipeline.inference.settings.InferenceSettings.open_store`). Stores
        made here are closed (sealed) when the step's resources are torn down."""
        store = self.open_store(warehouse_url)
        self._stores.append(store)
        return store

    def teardown_after_execution(self, context) -> None:
        """Close every store this resource made: a shared store seals its last answers into a segment."""
        for store in self._stores:
            store.close()
        self._stores.clear()


def _failing(fn: Callable[..., T], *args) -> T:
    """``fn(*args)``, a :class:`ProviderSetupError` raised as the step's ``dg.Failure`` with the same text."""
    try:
        return fn(*args)
    except ProviderSetupError as e:
        raise dg.Failure(str(e)) from None


class _MissingAnthropic:
    """Stands in for the Anthropic provider when no key is set: a request that needs it fails the run."""

    name = "anthropic"
    replay_only = False
    provenance = "live"

    def __init__(self, message: str):
        self.message = message

    def key_name(self, request) -> str:
        return self.name

    def secrets(self) -> tuple[str, ...]:
        return ()

    @property
    def endpoint(self) -> str:
        return "anthropic (no ANTHROPIC_API_KEY)"

    async def astart(self) -> None:
        pass

    async def aclose(self) -> None:
        pass

    async def acomplete(self, request, cache_key):
        raise dg.Failure(self.message)


class EmbeddingResource(dg.ConfigurableResource):
    """Sentence-transformers model for semantic similarity (default: packaged all-MiniLM-L6-v2)."""

    model_path: str = ""
    cache_path: str = ""
    s3_endpoint_url: str | None = None

    def scorer(self, model_path: str | None, warehouse_url: str) -> SimilarityScorer:
        """A SimilarityScorer whose embedding cache lives beside a local warehouse (or ``cache_path``);
        for an S3 warehouse also in its bucket under ``<prefix>/embedding_cache/`` (shared by every
        host; the local folder, default ``~/.eval_pipeline/embedding_cache``, keeps a copy).
        Loaded models are shared within the process."""

        location = Location.parse(warehouse_url) if warehouse_url else None
        remote = location is not None and location.is_remote
        if self.cache_path:
            cache = Path(self.cache_path)
        elif location is not None and not remote:
            cache = location.path / keys.EMBEDDING_CACHE
        else:
            cache = Path.home() / ".eval_pipeline" / keys.EMBEDDING_CACHE
        shared = (
            (open_backend(warehouse_url, self.s3_endpoint_url or None), keys.EMBEDDING_CACHE)
            if remote
            else None
        )
        path = model_path or self.model_path or None
        model = _MODELS.get(path)
        scorer = SimilarityScorer(path, model=model, cache_dir=cache, shared_cache=shared)
        if model is None:
            _MODELS[path] = scorer.model
        return scorer

    def scorer_factory(self, warehouse_url: str) -> "ScorerFactory":
        """``model_path -> SimilarityScorer`` for the scoring functions (see :class:`ScorerFactory`)."""
        return ScorerFactory(lambda path: self.scorer(path, warehouse_url), self.model_path or None)


@dataclass
class ScorerFactory:
    """``model_path -> SimilarityScorer``: one scorer per model path (None: ``default_path``, the
    embeddings resource's model); the scorers made so far are in ``scorers``."""

    make: Callable[[str | None], SimilarityScorer]
    default_path: str | None
    scorers: dict[str | None, SimilarityScorer] = field(default_factory=dict)

    def __call__(self, model_path: str | None = None) -> SimilarityScorer:
        key = model_path or self.default_path
        if key not in self.scorers:
            self.scorers[key] = self.make(key)
        return self.scorers[key]


_MODELS: dict = {}


def declare_settings() -> None:
    """Give every unset deployment setting its default (:data:`~eval_pipeline.project.environment.SETTINGS`), so the
    ``dg.EnvVar`` fields resolve at run time; values already set are left alone."""

    for name, default in deployment_defaults().items():
        os.environ.setdefault(name, default)


def _llm_from_env() -> LLMResource:
    """The ``llm`` resource with every setting of :data:`~eval_pipeline.inference.settings.ENVIRONMENT` (the one
    field -> variable table, which the command line's head start reads too) as a ``dg.EnvVar`` (``EnvVar.int``
    for an integer field)."""
    fields = InferenceSettings.model_fields
    return LLMResource(
        **{
            name: dg.EnvVar.int(var) if fields[name].annotation is int else dg.EnvVar(var)
            for name, var in ENVIRONMENT
        }
    )


def build_resources() -> dict:
    """The deployment's resources, every setting a ``dg.EnvVar`` read when the run starts."""
    declare_settings()
    env = dg.EnvVar
    return {
        "eval_config": EvalConfigResource(data_dir=env("EVAL_DATA_DIR")),
        "warehouse": WarehouseResource(
            url=env("EVAL_WAREHOUSE_URL"), endpoint_url=env("EVAL_S3_ENDPOINT_URL")
        ),
        "project": project_resource,
        "llm": _llm_from_env(),
        "embeddings": EmbeddingResource(
            model_path=env("EVAL_EMBEDDING_MODEL"),
            cache_path=env("EVAL_EMBEDDING_CACHE"),
            s3_endpoint_url=env("EVAL_S3_ENDPOINT_URL"),
        ),
    }


@dg.definitions
def resources() -> dg.Definitions:
    """Autoloaded by ``dg``: the resources every asset, check, schedule and sensor uses."""
    return dg.Definitions(resources=build_resources())
