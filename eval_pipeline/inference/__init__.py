"""Model inference: prompt rendering, providers (Anthropic, replay), the response store and the batch runner.

In: the golden samples of one run, the model version's prompt templates (rendered into
``ModelRequest`` by :mod:`.prompts`) and a provider. Out: one ``ModelResponse`` per request (the
``responses`` table), persisted in the response store (:mod:`.store`) so a re-run re-asks nothing,
with its answer provenance (live / replay / synthetic, :mod:`.provenance`) and an error-rate check.
Modules: :mod:`.types`, :mod:`.prompts`, :mod:`.providers` (interface, replay, cost),
:mod:`.anthropic_provider`, :mod:`.sse`, :mod:`.limits` (rate, concurrency, retries),
:mod:`.runner`, :mod:`.store`, :mod:`.provenance`. No Dagster here.

Typical use (what the ``model_responses`` asset does)::

    provider = AnthropicProvider(api_key, base_url=..., max_concurrency=32, prices=registry_prices)
    store = ResponseStore(warehouse_root / keys.RESPONSE_STORE)   # eval_pipeline.storage.keys
    responses = run_requests(provider, requests, store, progress=lambda p: log.info(...))
    summary = check_error_rate(responses, ceiling=0.05)   # raises ErrorRateExceeded above it
"""

from eval_pipeline.inference.anthropic_provider import AnthropicProvider
from eval_pipeline.inference.limits import AdaptiveLimiter, RateLimiter, RetryPolicy
from eval_pipeline.inference.provenance import provenance_counts, provenance_label
from eval_pipeline.inference.providers import (
    Provider,
    ReplayMissError,
    ReplayProvider,
    compute_cost,
    validate_prices,
)
from eval_pipeline.inference.runner import (
    ErrorRateExceeded,
    Progress,
    RunTiming,
    arun_requests,
    check_error_rate,
    run_requests,
    summarize,
)
from eval_pipeline.inference.store import ResponseStore, is_storable
from eval_pipeline.inference.types import (
    INFRA_ERROR_CATEGORIES,
    MODEL_ERROR_CATEGORIES,
    PROVENANCES,
    ModelRequest,
    ModelResponse,
)
from eval_pipeline.project.hashing import request_key

__all__ = [
    "AdaptiveLimiter",
    "AnthropicProvider",
    "ErrorRateExceeded",
    "INFRA_ERROR_CATEGORIES",
    "MODEL_ERROR_CATEGORIES",
    "ModelRequest",
    "ModelResponse",
    "PROVENANCES",
    "Progress",
    "Provider",
    "RateLimiter",
    "ReplayMissError",
    "ReplayProvider",
    "ResponseStore",
    "RetryPolicy",
    "RunTiming",
    "arun_requests",
    "check_error_rate",
    "compute_cost",
    "is_storable",
    "provenance_counts",
    "provenance_label",
    "request_key",
    "run_requests",
    "summarize",
    "validate_prices",
]
