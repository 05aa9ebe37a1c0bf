"""The judge's executor over the provider layer: judge requests in, stored or fresh answers out.

In: a provider (:mod:`eval_pipeline.inference.providers`), a response store, optional Message Batches
options and a callback that sees every call's responses. Out: an :data:`~.requests.Executor`,
``execute(requests, batch=False)``, that runs the requests through
:func:`eval_pipeline.inference.runner.run_requests`: the store first, the provider for the misses only,
every answer stored as it arrives. Called with ``batch=True`` (a judge whose config sets
``batch: true``), the misses go to the Message Batches API instead: half price, no latency or TTFT
measured for those verdicts, a killed run re-attaches to its batches (the ledger is in the store's
folder). A replay provider never batches: it answers from the store or fails on a miss.

Prompt caching needs nothing here: a judge with ``cache_prompt: true`` builds requests that say so
(:func:`~.requests._request`) and the provider marks their static prefix (the system prompt with the
rubric, the verdict tool) with ``cache_control``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from eval_pipeline.evaluators.judge.requests import Executor
from eval_pipeline.inference.batches import BatchOptions
from eval_pipeline.inference.progress import emit_progress
from eval_pipeline.inference.providers import Provider
from eval_pipeline.inference.runner import run_requests
from eval_pipeline.inference.store import ResponseStore
from eval_pipeline.inference.types import ModelRequest, ModelResponse


def store_executor(
    provider: Provider,
    store: ResponseStore | None,
    *,
    batch_options: BatchOptions | None = None,
    on_responses: Callable[[Sequence[ModelResponse]], None] | None = None,
) -> Executor:
    """An executor over ``provider`` and ``store``; ``batch_options`` are used for ``batch=True`` calls
    (default :class:`BatchOptions`); ``on_responses`` is called with each call's responses."""

    def execute(requests: list[ModelRequest], batch: bool = False) -> list[ModelResponse]:
        opts = (batch_options or BatchOptions()) if batch and not provider.replay_only else None
        out = run_requests(
            provider, requests, store, batch=opts, progress=lambda p: emit_progress("judge", p)
        )
        if on_responses is not None:
            on_responses(out)
        return out

    return execute
