"""Provider interface, price table and cost: what every provider shares.

In: a :class:`~eval_pipeline.inference.types.ModelRequest` and its store key. Out: one
:class:`~eval_pipeline.inference.types.ModelResponse`, never an exception for a failed call.

* :class:`Provider` - the interface (``name`` is part of the store key); :func:`response_to` builds
  a fresh response over :data:`NO_ANSWER`, :func:`error_response` one that records a failed call.
* :func:`validate_prices` / :func:`compute_cost` - ``{model: {input, output, cache_read,
  cache_write}}`` USD per million tokens -> USD of one call.
* :class:`ReplayProvider` - serves only from a :class:`~eval_pipeline.inference.store.ResponseStore`
  (its live answers and its recordings namespace); the runner raises :class:`ReplayMissError`
  listing what is missing. Live providers never see the recordings (``provenance = "live"``).

The Anthropic provider is :mod:`eval_pipeline.inference.anthropic_provider`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from eval_pipeline.inference.types import ModelRequest, ModelResponse

PRICE_FIELDS = ("input", "output", "cache_read", "cache_write")
# The ModelResponse token counts, in the order of PRICE_FIELDS (the price each is charged at).
TOKEN_FIELDS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_creation_tokens")
# Anthropic's multipliers of the input price when a row gives no cache price, and the Message
# Batches discount (every token of a batch answer, cache reads/writes included, at half price).
CACHE_READ_FACTOR, CACHE_WRITE_FACTOR, BATCH_DISCOUNT = 0.1, 1.25, 0.5


# ----------------------------------------------------------------------------- pricing


def validate_prices(prices: Mapping[str, Mapping[str, float]]) -> dict[str, dict[str, float]]:
    """Check a ``{model_id: {input, output, cache_read, cache_write}}`` table (USD per million tokens)."""
    out: dict[str, dict[str, float]] = {}
    for model, row in prices.items():
        unknown = set(row) - set(PRICE_FIELDS)
        if unknown:
            raise ValueError(
                f"prices[{model!r}]: unknown field(s) {sorted(unknown)}; use {PRICE_FIELDS} (USD per million tokens)"
            )
        for k, v in row.items():
            if v is None and k in ("cache_read", "cache_write"):
                continue  # default: the input price x CACHE_READ_FACTOR / CACHE_WRITE_FACTOR
            if not isinstance(v, (int, float)) or v < 0:
                raise ValueError(
                    f"prices[{model!r}][{k!r}]={v!r}: must be a non-negative number (USD per million tokens)"
                )
        if "input" not in row or "output" not in row:
            raise ValueError(f"prices[{model!r}]: 'input' and 'output' are required (USD per million tokens)")
        out[model] = {k: float(row.get(k) or 0.0) for k in PRICE_FIELDS}
        for k, factor in (("cache_read", CACHE_READ_FACTOR), ("cache_write", CACHE_WRITE_FACTOR)):
            if row.get(k) is None:
                out[model][k] = out[model]["input"] * factor
    return out


def compute_cost(
    prices: Mapping[str, Mapping[str, float]],
    model: str,
    input_tokens: int,
    output_tokens: int,
    cache_read_tokens: int = 0,
    cache_creation_tokens: int = 0,
    *,
    batch: bool = False,
) -> float:
    """USD cost of one call from the price table (0.0 if the model has no price); ``batch``: a
    Message Batches answer, at :data:`BATCH_DISCOUNT` of the price."""
    p = prices.get(model)
    if p is None:
        return 0.0
    cost = (
        input_tokens * p["input"]
        + output_tokens * p["output"]
        + cache_read_tokens * p["cache_read"]
        + cache_creation_tokens * p["cache_write"]
    ) / 1e6
    return cost * BATCH_DISCOUNT if batch else cost


# ----------------------------------------------------------------------------- interface


class ReplayMissError(LookupError):
    """A replay run needed answers the store does not have."""

    def __init__(self, missing_ids: list[str], total: int):
        self.missing_ids = missing_ids
        self.total = total
        shown = ", ".join(missing_ids[:10])
        super().__init__(
            f"replay: {len(missing_ids)} of {total} requests have no stored response "
            f"(first missing sample ids: {shown}). Record them first with a live provider "
            f"(same model, params, prompt and repeat index), or point the store at the folder that holds them."
        )


class Provider:
    """Base class. Subclasses implement :meth:`acomplete`; the runner handles store and ordering."""

    name: str = "provider"  # part of the store key
    replay_only: bool = False
    provenance: str = "live"  # what its fresh answers are (ModelResponse.provenance)

    async def acomplete(self, request: ModelRequest, cache_key: str) -> ModelResponse:
        """Answer one request. Failures are returned as ``error_category``, never raised."""
        raise NotImplementedError

    @property
    def endpoint(self) -> str:
        """Where requests go, for error messages (a base URL; the provider's name by default)."""
        return self.name

    def secrets(self) -> tuple[str, ...]:
        """Secret values this provider holds (its API key), redacted from every answer and error text."""
        return ()

    def key_name(self, request: ModelRequest) -> str:
        """The provider part of ``request``'s store key (its endpoint identity; a router's member's)."""
        return self.name

    async def astart(self) -> None:
        """Prepare clients for the running event loop (imports, connection pool); called before timing starts."""

    async def aclose(self) -> None:
        """Release clients bound to the running event loop."""


# What a response holds where the model gave no answer (a failed call): no text, no timing, no
# tokens, no cost. A response's own fields are laid over it (:func:`response_to`).
NO_ANSWER: dict[str, Any] = {
    "text": None,
    "stop_reason": None,
    "latency_s": None,
    "ttft_s": None,
    "output_tokens_per_s": None,
    **dict.fromkeys(TOKEN_FIELDS, 0),
    "cost_usd": 0.0,
    "request_id": None,
    "error_category": None,
    "error_message": None,
}


def response_to(request: ModelRequest, cache_key: str, **fields: Any) -> ModelResponse:
    """A fresh (not stored) ModelResponse to ``request``: ``fields`` laid over :data:`NO_ANSWER`."""
    return ModelResponse(
        sample_id=request.sample_id,
        repeat=request.repeat,
        model=request.model,
        cached=False,
        cache_key=cache_key,
        **(NO_ANSWER | fields),
    )


def error_response(
    request: ModelRequest,
    cache_key: str,
    category: str,
    message: str,
    attempts: int = 1,
    request_id: str | None = None,
    latency_s: float | None = None,
) -> ModelResponse:
    """A ModelResponse that records a failure."""
    return response_to(
        request,
        cache_key,
        error_category=category,
        error_message=message,
        attempts=attempts,
        request_id=request_id,
        latency_s=latency_s,
    )


class ReplayProvider(Provider):
    """Serves answers from a store only. ``key_provider`` is the name of the provider that recorded them."""

    replay_only = True
    provenance = "replay"

    def __init__(self, key_provider: str = "anthropic"):
        self.name = key_provider

    def __repr__(self) -> str:
        return f"ReplayProvider(key_provider={self.name!r})"

    async def acomplete(self, request: ModelRequest, cache_key: str) -> ModelResponse:
        """Never called for stored answers (the runner serves them); a call means a miss."""
        raise ReplayMissError([request.sample_id], 1)
