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

import dagster as dg
from pydantic import PrivateAttr

from eval_pipeline.defs.eval_partition import EvalProject
from eval_pipeline.evaluators.embeddings import SimilarityScorer
from eval_pipeline.inference.anthropic_provider import AnthropicProvider
from eval_pipeline.inference.guard import StepBudget
from eval_pipeline.inference.providers import ReplayProvider
from eval_pipeline.inference.segments import SegmentStore
from eval_pipeline.inference.store import ResponseStore
from eval_pipeline.inference.synthetic_provider import SyntheticProvider, synthetic_openai_provider
from eval_pipeline.inference.targets import Defaults, RoutingProvider, build_provider
from eval_pipeline.project.endpoints import AnthropicEndpoint
from eval_pipeline.project.loader import Project, load_project
from eval_pipeline.project.paths import PROJECT_ROOT, data_dir, default_warehouse_url
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


AUTO_WITHOUT_KEY = (
    "no model provider: EVAL_PROVIDER is 'auto' (the default) and ANTHROPIC_API_KEY is not set. "
    "To call the Anthropic API set the key (export ANTHROPIC_API_KEY=sk-ant-..., or in the deployment's environment). "
    "To serve stored answers and the synthetic demo recordings instead, choose it explicitly: EVAL_PROVIDER=replay "
    "(its results are labelled synthetic). To try a suite with no key, start `eval-pipeline serve-model` and set "
    "EVAL_PROVIDER=synthetic (docs/getting-started.md). 'auto' never falls back to replay."
)

# The Dagster concurrency pool of every step that calls a model API (inference, judges, shadow, A/A noise);
# its limit is set in the instance's dagster.yaml.
API_POOL = "anthropic_api"


class LLMResource(dg.ConfigurableResource):
    """The model provider and the response store.

    ``provider``: ``anthropic`` calls the Messages API (key from ``ANTHROPIC_API_KEY`` via
    ``dg.EnvVar``; never logged or stored); ``replay`` serves only from the response store and
    the recordings (``recordings_path``, the demo's synthetic answers) and fails on a miss;
    ``auto`` = anthropic when a key is set, else the run fails at once with :data:`AUTO_WITHOUT_KEY`
    (auto never turns a deployment into a replay; the demo selects ``replay`` explicitly).

    The recordings are indexed in their own namespace of the store: only ``replay`` is served
    from them; a live provider never is (see :mod:`eval_pipeline.inference.store`).
    """

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

    _stores: list = PrivateAttr(default_factory=list)

    def provider_name(self) -> str:
        """``anthropic`` or ``replay``; raises ``dg.Failure`` for ``auto`` without a key."""
        if self.provider in ("auto", ""):
            if not self.api_key:
                raise dg.Failure(AUTO_WITHOUT_KEY)
            return "anthropic"
        return self.provider

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

    def budget(self):
        """The step's retry budget and stall timeout (:class:`~eval_pipeline.inference.guard.StepBudget`)."""

        return StepBudget(
            max_retries=None if self.max_retries < 0 else self.max_retries,
            stall_timeout_s=float(self.stall_timeout_s),
        )

    def make_provider(self, prices: dict):

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
                raise dg.Failure(str(e)) from None
        if name != "anthropic":
            raise dg.Failure(f"unknown provider {self.provider!r}; use anthropic, replay, synthetic or auto")
        if not self.api_key:
            raise dg.Failure(
                "provider 'anthropic' needs an API key: set ANTHROPIC_API_KEY in the environment"
            )
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

    def _defaults(self):

        return Defaults(
            anthropic_api_key=self.api_key or None,
            anthropic_base_url=self.base_url or None,
            max_concurrency=self.max_concurrency,
            requests_per_minute=self.requests_per_minute,
            tokens_per_minute=self.tokens_per_minute,
            request_timeout_s=self.request_timeout_s,
            stream=self.stream,
        )

    def _build(self, endpoint, prices: dict):

        if self.provider == "synthetic":  # `eval-pipeline serve-model` stands in (Anthropic or OpenAI API)
            kind = getattr(endpoint, "provider", "anthropic") if endpoint is not None else "anthropic"
            if kind == "openai":
                try:
                    return synthetic_openai_provider(
                        self.base_url or None, stream=endpoint.stream, max_concurrency=self.max_concurrency
                    )
                except ValueError as e:
                    raise dg.Failure(str(e)) from None
            if kind != "anthropic":
                raise dg.Failure(
                    f"EVAL_PROVIDER=synthetic answers through `eval-pipeline serve-model` (Anthropic and OpenAI "
                    f"APIs); an endpoint of provider {kind!r} cannot use it: give the model version provider: "
                    "anthropic or openai for the synthetic run, or unset EVAL_PROVIDER"
                )
            return self.make_provider(prices)
        replay = self.provider == "replay"
        if not replay and self.provider not in ("auto", "", "anthropic"):
            raise dg.Failure(f"unknown provider {self.provider!r}; use anthropic, replay, synthetic or auto")
        if not replay and endpoint is None and not self.api_key:
            raise dg.Failure(
                AUTO_WITHOUT_KEY
                if self.provider in ("auto", "")
                else "provider 'anthropic' needs an API key: set ANTHROPIC_API_KEY in the environment"
            )
        try:
            return build_provider(endpoint, prices, self._defaults(), replay=replay)
        except ValueError as e:  # TargetConfigError, an unset ${VAR}
            raise dg.Failure(str(e)) from None

    def provider_for(self, registry, model_version):
        """The provider of model version ``mv``: its own endpoint (``provider:`` + ``endpoint:`` in
        models.yaml; anthropic = this resource's key and base URL); ``replay`` (EVAL_PROVIDER=replay,
        or a version with provider replay) serves the store under the same endpoint identity."""

        ep = model_version.endpoint_settings
        if isinstance(ep, AnthropicEndpoint) and model_version._endpoint is None:
            ep = None  # the deployment's Anthropic settings, as before
        if model_version.provider == "replay":
            return ReplayProvider()
        return self._build(ep, registry.price_table())

    def judge_provider(self, registry):
        """The judges' provider: the deployment's Anthropic one, with judge model ids listed in
        ``judge_endpoints:`` of models.yaml routed to their endpoints."""
        default = (
            self.make_provider(registry.price_table()) if self.provider == "replay" or self.api_key else None
        )
        routes = {
            m: self._build(registry.judge_endpoint(m), registry.price_table())
            for m in registry.judge_endpoints
        }
        if not routes:
            return default if default is not None else self.make_provider(registry.price_table())

        if default is None:  # every judge may live elsewhere: fail only when a request needs Anthropic
            default = _MissingAnthropic(AUTO_WITHOUT_KEY)
        return RoutingProvider(default, routes)

    def store(self, warehouse_url: str):
        """The response store. Its journals live in a local folder: ``store_path`` if set, else
        ``<local warehouse>/response_store``, else (S3 warehouse) ``~/.eval_pipeline/response_store``.
        Its segments live beside the journals for a local warehouse, and in the warehouse's bucket
        under ``<prefix>/response_store/`` for an S3 warehouse - shared by every process and host, so
        an answer any worker paid for is never paid again. Stores made here are closed (sealed)
        when the step's resources are torn down.

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
        store = ResponseStore(
            root,
            recordings=[self.recordings_path] if self.recordings_path else (),
            segments=segments,
            seal_every=self.seal_every,
        )
        self._stores.append(store)
        return store

    def teardown_after_execution(self, context) -> None:
        """Close every store this resource made: a shared store seals its last answers into a segment."""
        for store in self._stores:
            store.close()
        self._stores.clear()


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


# Deployment settings: (environment variable, default when unset). Every resource field below is
# given ``dg.EnvVar(name)`` unconditionally, so Dagster reads the value when a run starts (in the
# run worker), never when the code location loads: a rotated key or a moved warehouse needs no
# redeploy. Dagster fails a run whose EnvVar is unset, so ``declare_settings()`` gives each unset
# variable its documented default (an empty string means "not configured") - it only ever
# *adds* a missing name, it never reads a value into the definitions.
SETTINGS: dict[str, str] = {
    "EVAL_DATA_DIR": "",  # suites, golden sets, models.yaml (empty: the project's data/)
    "EVAL_WAREHOUSE_URL": "",  # folder or s3://bucket/prefix (empty: <project>/warehouse)
    "EVAL_S3_ENDPOINT_URL": "",  # S3-compatible endpoint (empty: AWS_ENDPOINT_URL_S3 / AWS default)
    "EVAL_PROVIDER": "",  # anthropic | replay | synthetic | auto (empty: auto)
    "ANTHROPIC_API_KEY": "",  # the secret; never logged, never stored (only its name is in run config)
    "ANTHROPIC_BASE_URL": "",  # empty: the SDK default
    "EVAL_MAX_CONCURRENCY": "16",  # in-flight requests per run worker
    "EVAL_REQUEST_TIMEOUT_S": "120",  # per attempt (the whole answer)
    "EVAL_STALL_TIMEOUT_S": "90",  # a step stops when its endpoint answers nothing for this long
    "EVAL_MAX_RETRIES": "-1",  # retries after failures per step, throttling not counted (-1: 32 + 20% of the step's requests)
    "EVAL_RESPONSE_STORE": "",  # local folder of the store's journals (empty: see LLMResource.store)
    "EVAL_EMBEDDING_MODEL": "",  # sentence-transformers folder (empty: packaged MiniLM)
    "EVAL_EMBEDDING_CACHE": "",  # local embedding-cache folder (empty: beside a local warehouse)
}


def declare_settings() -> None:
    """Give every unset deployment setting its default (see :data:`SETTINGS`), so the
    ``dg.EnvVar`` fields resolve at run time; values already set are left alone."""

    for name, default in {
        **SETTINGS,
        "EVAL_RECORDINGS_DIR": str(PROJECT_ROOT / "data" / "recordings"),
    }.items():
        os.environ.setdefault(name, default)


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
        "llm": LLMResource(
            provider=env("EVAL_PROVIDER"),
            api_key=env("ANTHROPIC_API_KEY"),
            base_url=env("ANTHROPIC_BASE_URL"),
            max_concurrency=env.int("EVAL_MAX_CONCURRENCY"),
            request_timeout_s=env.int("EVAL_REQUEST_TIMEOUT_S"),
            stall_timeout_s=env.int("EVAL_STALL_TIMEOUT_S"),
            max_retries=env.int("EVAL_MAX_RETRIES"),
            store_path=env("EVAL_RESPONSE_STORE"),
            s3_endpoint_url=env("EVAL_S3_ENDPOINT_URL"),
            recordings_path=env("EVAL_RECORDINGS_DIR"),
        ),
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
