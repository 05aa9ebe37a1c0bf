"""Resources: thin, configurable handles on the plain-Python layer.

Configured with ``dg.EnvVar`` so secrets and deployment settings come from the environment
(never read at import time). ``resources_for_env()`` picks the set for the deployment.
"""

import os
from typing import Optional

import dagster as dg
from pydantic import PrivateAttr

from eval_pipeline.project.config import Project, load_project
from eval_pipeline.project.paths import data_dir, default_warehouse_url


class EvalConfigResource(dg.ConfigurableResource):
    """Suites, golden-set locations and the model registry under the data folder."""

    data_dir: str = ""

    def load(self) -> Project:
        from pathlib import Path

        return load_project(Path(self.data_dir) if self.data_dir else data_dir())


class WarehouseResource(dg.ConfigurableResource):
    """Parquet warehouse: a local folder (default) or ``s3://bucket/prefix``.

    S3 credentials come from the standard AWS chain (``AWS_ACCESS_KEY_ID`` /
    ``AWS_SECRET_ACCESS_KEY`` / profile / instance role); ``endpoint_url`` points at any
    S3-compatible store.
    """

    url: str = ""
    endpoint_url: Optional[str] = None
    region: Optional[str] = None

    def resolved_url(self) -> str:
        return self.url or default_warehouse_url()

    def get(self):
        from eval_pipeline.storage import Warehouse

        return Warehouse.from_url(self.resolved_url(), endpoint_url=self.endpoint_url or None, region=self.region or None)


AUTO_WITHOUT_KEY = (
    "no model provider: EVAL_PROVIDER is 'auto' (the default) and ANTHROPIC_API_KEY is not set. "
    "To call the Anthropic API set the key (export ANTHROPIC_API_KEY=sk-ant-..., or in the deployment's environment). "
    "To serve stored answers and the synthetic demo recordings instead, choose it explicitly: EVAL_PROVIDER=replay "
    "(its results are labelled synthetic). 'auto' never falls back to replay."
)


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
    api_key: Optional[str] = None
    base_url: Optional[str] = None
    max_concurrency: int = 16
    requests_per_minute: Optional[float] = None
    tokens_per_minute: Optional[float] = None
    request_timeout_s: float = 120.0
    stream: bool = True
    store_path: str = ""
    recordings_path: str = ""

    def provider_name(self) -> str:
        """``anthropic`` or ``replay``; raises ``dg.Failure`` for ``auto`` without a key."""
        if self.provider == "auto":
            if not self.api_key:
                raise dg.Failure(AUTO_WITHOUT_KEY)
            return "anthropic"
        return self.provider

    def recordings_label(self) -> str:
        """``recordings_path`` as shown in provenance labels (relative to the project when inside it)."""
        from pathlib import Path

        from eval_pipeline.project.paths import PROJECT_ROOT

        if not self.recordings_path:
            return "the response store"
        p = Path(self.recordings_path).resolve()
        try:
            return str(p.relative_to(PROJECT_ROOT))
        except ValueError:
            return str(p)

    def make_provider(self, prices: dict):
        from eval_pipeline.inference.anthropic_provider import AnthropicProvider
        from eval_pipeline.inference.providers import ReplayProvider

        name = self.provider_name()
        if name == "replay":
            return ReplayProvider()
        if name != "anthropic":
            raise dg.Failure(f"unknown provider {self.provider!r}; use anthropic, replay or auto")
        if not self.api_key:
            raise dg.Failure("provider 'anthropic' needs an API key: set ANTHROPIC_API_KEY in the environment")
        return AnthropicProvider(
            self.api_key,
            base_url=self.base_url or None,
            max_concurrency=self.max_concurrency,
            requests_per_minute=self.requests_per_minute,
            tokens_per_minute=self.tokens_per_minute,
            request_timeout_s=self.request_timeout_s,
            stream=self.stream,
            prices=prices,
        )

    def store(self, warehouse_url: str):
        """The response store (inside a local warehouse, else ``store_path``). The read-only
        recordings (``recordings_path``) are read in place into the store's recordings namespace:
        served to ``replay`` only, and used to recognise old copies of them inside the store
        (earlier versions copied them in), which a live provider then never gets either."""
        from pathlib import Path

        from eval_pipeline.inference.store import ResponseStore

        if self.store_path:
            root = Path(self.store_path)
        elif "://" not in warehouse_url:
            root = Path(warehouse_url) / "response_store"
        else:
            root = Path.home() / ".eval_pipeline" / "response_store"
        root.mkdir(parents=True, exist_ok=True)
        return ResponseStore(root, recordings=[self.recordings_path] if self.recordings_path else ())


class EmbeddingResource(dg.ConfigurableResource):
    """Sentence-transformers model for semantic similarity (default: packaged all-MiniLM-L6-v2)."""

    model_path: str = ""
    cache_path: str = ""

    def scorer(self, model_path: Optional[str], warehouse_url: str):
        """A SimilarityScorer whose embedding cache lives beside a local warehouse (or ``cache_path``).
        Loaded models are shared within the process."""
        from pathlib import Path

        from eval_pipeline.evaluators.embeddings import SimilarityScorer

        if self.cache_path:
            cache = Path(self.cache_path)
        elif warehouse_url and "://" not in warehouse_url:
            cache = Path(warehouse_url) / "embedding_cache"
        else:
            cache = Path.home() / ".eval_pipeline" / "embedding_cache"
        path = model_path or self.model_path or None
        model = _MODELS.get(path)
        scorer = SimilarityScorer(path, model=model, cache_dir=cache)
        if model is None:
            _MODELS[path] = scorer.model
        return scorer

    def scorer_factory(self, warehouse_url: str):
        """``model_path -> SimilarityScorer`` for the scoring functions: one scorer per model path
        (None: this resource's model); the scorers made so far are in the function's ``scorers``."""
        scorers: dict = {}

        def factory(model_path: Optional[str] = None):
            key = model_path or self.model_path or None
            if key not in scorers:
                scorers[key] = self.scorer(key, warehouse_url)
            return scorers[key]

        factory.scorers = scorers
        return factory


_MODELS: dict = {}


def build_resources() -> dict:
    """The deployment's resources: values from the environment (secrets through ``dg.EnvVar``)."""
    return {
        "eval_config": EvalConfigResource(data_dir=dg.EnvVar("EVAL_DATA_DIR").get_value("") or ""),
        "warehouse": WarehouseResource(
            url=dg.EnvVar("EVAL_WAREHOUSE_URL").get_value("") or "",
            endpoint_url=dg.EnvVar("EVAL_S3_ENDPOINT_URL").get_value(None),
            region=dg.EnvVar("AWS_REGION").get_value(None),
        ),
        "llm": LLMResource(
            provider=os.environ.get("EVAL_PROVIDER", "auto"),
            # The key is resolved by Dagster from the environment at run time; never logged or stored.
            api_key=dg.EnvVar("ANTHROPIC_API_KEY") if os.environ.get("ANTHROPIC_API_KEY") else None,
            base_url=os.environ.get("ANTHROPIC_BASE_URL") or None,
            max_concurrency=int(os.environ.get("EVAL_MAX_CONCURRENCY", "16")),
            store_path=os.environ.get("EVAL_RESPONSE_STORE", ""),
            recordings_path=os.environ.get("EVAL_RECORDINGS_DIR", str(data_dir() / "recordings")),
        ),
        "embeddings": EmbeddingResource(model_path=os.environ.get("EVAL_EMBEDDING_MODEL", "")),
    }



@dg.definitions
def resources() -> dg.Definitions:
    """Autoloaded by ``dg``: the resources every asset, check, schedule and sensor uses."""
    return dg.Definitions(resources=build_resources())
