"""Run a batch of requests: store lookup first, provider for misses only, answers stored as they arrive.

Entry points
------------
* :func:`run_requests` (sync) / :func:`arun_requests` (async): list of ModelRequest in, list of
  ModelResponse out, in input order (live calls, or Message Batches with ``batch=BatchOptions()``). Never raises for a failed call (failures are
  ``error_category`` values); raises :class:`ReplayMissError` when a replay provider misses.
* :func:`summarize`: sample count, cache hits, error categories, latency / TTFT percentiles,
  tokens, cost, answer provenance (live / replay / synthetic), batch answers and the prompt-cache
  split (:func:`prompt_cache_split`: hit rate, latency / TTFT of hits vs misses) - the values the
  Dagster asset reports as metadata. :func:`provenance_label` says in one line when answers were not live.
* :func:`check_error_rate`: raises :class:`ErrorRateExceeded` above the ceiling (default 5%).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, TypedDict, Unpack

import numpy as np

from eval_pipeline.inference.batches import BatchLedger, BatchOptions, BatchStats, arun_batches
from eval_pipeline.inference.guard import CURRENT_GUARD, StepBudget, StepGuard, StepStopped  # noqa: F401
from eval_pipeline.inference.provenance import provenance_counts
from eval_pipeline.inference.providers import Provider, ReplayMissError
from eval_pipeline.inference.store import ResponseStore, is_storable
from eval_pipeline.inference.types import (
    INFRA_ERROR_CATEGORIES,
    MODEL_ERROR_CATEGORIES,
    ModelRequest,
    ModelResponse,
)
from eval_pipeline.project.hashing import request_key
from eval_pipeline.project.secret_values import configured_secrets, redact, redact_response

log = logging.getLogger(__name__)


@dataclass
class Progress:
    """Passed to the progress callback every ``progress_every`` completions, every
    ``progress_interval_s`` while the step waits, and at the end."""

    done: int
    total: int
    cache_hits: int
    errors: int  # responses with any error category so far
    elapsed_s: float
    in_flight: int = 0  # attempts sent and not answered yet
    retried: int = 0  # retries so far (those after a failure that is not throttling count against the budget)
    sent: int = 0  # attempts sent so far (first attempts and retries)


@dataclass
class RunTiming:
    """Filled in by the runner (``time.perf_counter`` values; None if nothing was called)."""

    first_request_at: float | None = None  # first provider call started
    last_stored_at: float | None = None  # last response received and stored
    api_calls: int = 0  # requests sent to the provider (store misses)
    batch: BatchStats | None = None  # what batch mode did (batch runs only)

    @property
    def span_s(self) -> float | None:
        if self.first_request_at is None or self.last_stored_at is None:
            return None
        return self.last_stored_at - self.first_request_at


ProgressCallback = Callable[[Progress], None]


async def arun_requests(
    provider: Provider,
    requests: Sequence[ModelRequest],
    store: ResponseStore | None = None,
    *,
    progress: ProgressCallback | None = None,
    progress_every: int = 50,
    timing: RunTiming | None = None,
    batch: BatchOptions | None = None,
    budget: StepBudget | None = None,
    progress_interval_s: float = 5.0,
    guard: StepGuard | None = None,
) -> list[ModelResponse]:
    """Answer ``requests`` in order: stored answers first, the provider for the rest.

    Each new answer is stored the moment it arrives (infra errors are not stored, so a rerun
    retries them). A :class:`ReplayProvider` raises :class:`ReplayMissError` before any work if
    some answers are missing. ``batch``: send the misses through Message Batches
    (:mod:`.batches`; needs a store, whose folder keeps the batch ledger); the
    :class:`BatchStats` of the run are then in ``timing.batch``.

    Requests are coalesced by store key: each distinct missing key is sent once and its answer
    serves every request with that key (the copies are marked ``cached``). Every answer has the
    configured secret values redacted (:mod:`eval_pipeline.project.secret_values`) before it is stored or
    returned. ``budget`` (:class:`~.guard.StepBudget`) bounds the step's retries and how long it
    waits on a silent endpoint; when it trips (or the endpoint rejects the key / model / request
    ``fatal_after`` times) nothing more is sent and :class:`~.guard.StepStopped` is raised, naming
    the endpoint (answers received before are stored). ``guard``: pass one to read its live counters
    (done / in flight / retried) from another thread.
    """
    t_start = time.perf_counter()
    timing = timing if timing is not None else RunTiming()
    total = len(requests)
    results: list[ModelResponse | None] = [None] * total
    keys = [request_key(provider.key_name(r), r) for r in requests]
    secrets = configured_secrets(provider.secrets())
    guard = guard if guard is not None else StepGuard()
    guard.budget = budget or guard.budget
    guard.endpoint = getattr(provider, "endpoint", provider.name)
    guard.total = total
    misses: list[int] = []
    if store is not None:
        store.refresh()
        store.prefetch(
            keys
        )  # one batched segment lookup for the whole run (eval_pipeline/inference/segments.py)
    for i, (req, key) in enumerate(zip(requests, keys)):
        hit = store.lookup(req, key, replay=provider.replay_only) if store is not None else None
        if hit is None:
            misses.append(i)
        else:
            results[i] = redact_response(hit, secrets)
    if misses and provider.replay_only:
        raise ReplayMissError([requests[i].sample_id for i in misses], total)

    state = {
        "done": total - len(misses),
        "errors": sum(1 for r in results if r is not None and r.error_category),
    }
    cache_hits = state["done"]
    guard.done, guard.cache_hits, guard.errors = state["done"], cache_hits, state["errors"]

    def report(force: bool = False) -> None:
        if progress is not None and (force or state["done"] % progress_every == 0):
            progress(
                Progress(
                    state["done"],
                    total,
                    cache_hits,
                    state["errors"],
                    time.perf_counter() - t_start,
                    guard.in_flight,
                    guard.retried,
                    guard.sent,
                )
            )

    def deliver(i: int, resp: ModelResponse) -> None:
        resp.provenance = resp.provenance or provider.provenance
        if store is not None and is_storable(resp):
            store.put(resp)
        timing.last_stored_at = time.perf_counter()
        results[i] = resp
        state["done"] += 1
        guard.done = state["done"]
        if resp.error_category:
            state["errors"] += 1
            guard.errors = state["errors"]
        report()

    # One request per distinct missing key; its answer serves every request with that key.
    by_key: dict[str, list[int]] = {}
    for i in misses:
        by_key.setdefault(keys[i], []).append(i)

    def deliver_key(key: str, resp: ModelResponse) -> None:
        resp = redact_response(resp, secrets)
        for n, i in enumerate(by_key.get(key, ())):
            r = (
                resp
                if n == 0
                else replace(resp, sample_id=requests[i].sample_id, repeat=requests[i].repeat, cached=True)
            )
            deliver(i, r)

    async def one(key: str) -> None:
        deliver_key(key, await provider.acomplete(requests[by_key[key][0]], key))
        if guard.tripped is not None:
            raise guard.tripped

    async def ticker() -> None:
        while True:
            await asyncio.sleep(progress_interval_s)
            report(force=True)

    token = CURRENT_GUARD.set(guard)
    tick = asyncio.ensure_future(ticker()) if progress is not None and misses else None
    try:
        if misses and batch is not None:
            if store is None:
                raise ValueError(
                    "batch mode needs a response store (it keeps the batch ledger, so a killed run re-attaches)"
                )
            timing.api_calls += len(by_key)
            timing.first_request_at = time.perf_counter()
            timing.batch = await arun_batches(
                provider,
                [(requests[by_key[k][0]], k) for k in by_key],
                deliver_key,
                BatchLedger(store.root),
                batch,
            )
        elif misses:
            await provider.astart()
            timing.api_calls += len(by_key)
            timing.first_request_at = time.perf_counter()
            tasks = [asyncio.ensure_future(one(k)) for k in by_key]

            async def watchdog() -> None:  # a silent endpoint: stop at the stall timeout, not per request
                while not guard.check_stall():
                    await asyncio.sleep(min(1.0, guard.budget.stall_timeout_s / 4))
                for t in tasks:
                    t.cancel()

            dog = asyncio.ensure_future(watchdog())
            try:
                done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            finally:
                dog.cancel()
                for t in tasks:
                    t.cancel()
                # Wait for the cancelled calls to unwind, so none is still on the wire when we return.
                await asyncio.gather(*tasks, dog, return_exceptions=True)
            for t in done:
                error = None if t.cancelled() else t.exception()
                if error is not None and guard.tripped is None:
                    raise error  # a bug, not a failed call (those are values)
    finally:
        CURRENT_GUARD.reset(token)
        if tick is not None:
            tick.cancel()
    if guard.tripped is not None:
        raise type(guard.tripped)(redact(str(guard.tripped), secrets)) from None
    report(force=True)
    return results  # type: ignore[return-value]


class RunOptions(TypedDict, total=False):
    """Keyword options of :func:`arun_requests`, passed on unchanged by :func:`run_requests`."""

    progress: ProgressCallback | None
    progress_every: int
    timing: RunTiming | None
    batch: BatchOptions | None
    budget: StepBudget | None
    progress_interval_s: float
    guard: StepGuard | None


def run_requests(
    provider: Provider,
    requests: Sequence[ModelRequest],
    store: ResponseStore | None = None,
    **options: Unpack[RunOptions],
) -> list[ModelResponse]:
    """Synchronous :func:`arun_requests` (runs its own event loop; works inside a running loop too).

    ``options``: ``progress``, ``progress_every``, ``timing``, ``batch``, ``budget``,
    ``progress_interval_s``, ``guard``, as for :func:`arun_requests`."""

    async def main() -> list[ModelResponse]:
        try:
            return await arun_requests(provider, requests, store, **options)
        finally:
            await provider.aclose()

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(main())
    # Called from inside an event loop (e.g. a notebook): run in a helper thread with its own loop.
    answers: list[ModelResponse] = []
    errors: list[BaseException] = []

    def target() -> None:
        try:
            answers.extend(asyncio.run(main()))
        except BaseException as exc:  # re-raised in the caller's thread
            errors.append(exc)

    th = threading.Thread(target=target, name="run_requests")
    th.start()
    th.join()
    if errors:
        raise errors[0]
    return answers


# ----------------------------------------------------------------------------- summaries


def _percentiles(values: list[float]) -> dict[str, float | None]:

    if not values:
        return {"p50": None, "p95": None, "p99": None}
    p = np.percentile(np.asarray(values, dtype=float), [50, 95, 99])
    return {"p50": float(p[0]), "p95": float(p[1]), "p99": float(p[2])}


def summarize(responses: Sequence[ModelResponse]) -> dict[str, Any]:
    """Run summary for metadata: counts, error categories, latency/TTFT p50/p95/p99, tokens, cost.

    Latency and TTFT percentiles use freshly called, successful responses only (cached answers
    keep the latency of their original call, which says nothing about this run).
    """
    n = len(responses)
    categories = Counter(r.error_category for r in responses if r.error_category)
    infra = sum(v for k, v in categories.items() if k in INFRA_ERROR_CATEGORIES)
    fresh_ok = [r for r in responses if not r.cached and not r.is_infra_error]
    lat = _percentiles([r.latency_s for r in fresh_ok if r.latency_s is not None])
    ttft = _percentiles([r.ttft_s for r in fresh_ok if r.ttft_s is not None])
    tps = _percentiles([r.output_tokens_per_s for r in fresh_ok if r.output_tokens_per_s is not None])
    cached = [r for r in responses if r.cached]
    return {
        "samples": n,
        "cache_hits": len(cached),
        "api_calls": n - len(cached),
        "errors_by_category": dict(sorted(categories.items())),
        "infra_errors": infra,
        "model_errors": sum(v for k, v in categories.items() if k in MODEL_ERROR_CATEGORIES),
        "infra_error_rate": infra / n if n else 0.0,
        "retries": sum(max(0, r.attempts - 1) for r in responses if not r.cached),
        "latency_s": lat,
        "ttft_s": ttft,
        "output_tokens_per_s": tps,
        "input_tokens": sum(r.input_tokens for r in responses),
        "output_tokens": sum(r.output_tokens for r in responses),
        "cache_read_tokens": sum(r.cache_read_tokens for r in responses),
        "cache_creation_tokens": sum(r.cache_creation_tokens for r in responses),
        "cost_usd": sum(r.cost_usd for r in responses),
        "cost_usd_cached": sum(r.cost_usd for r in cached),
        "answer_provenance": provenance_counts(r.provenance for r in responses),
        "batch_answers": sum(1 for r in responses if r.batch_id is not None and not r.cached),
        "prompt_cache": prompt_cache_split(responses),
    }


def prompt_cache_split(responses: Sequence[ModelResponse]) -> dict[str, Any]:
    """Prompt-cache hit rate and latency / TTFT of hits vs misses over this run's API answers.

    A hit is an answer whose usage reports ``cache_read_input_tokens`` > 0. Over the successful
    answers called in this run (response-store hits are not calls); ``hit_rate_ci95`` is the Wilson
    interval of the hit rate, ``n`` its denominator. Latency / TTFT medians of live answers only
    (batch answers have none)."""
    from statsmodels.stats.proportion import proportion_confint  # noqa: PLC0415 - keeps statsmodels out of `import eval_pipeline.definitions`

    fresh = [r for r in responses if not r.cached and not r.is_infra_error]
    hits = [r for r in fresh if r.cache_hit]
    misses = [r for r in fresh if not r.cache_hit]
    n = len(fresh)
    ci = (
        [float(x) for x in proportion_confint(len(hits), n, alpha=0.05, method="wilson")]
        if n
        else [None, None]
    )

    def p50(rows: list[ModelResponse], attr: str) -> float | None:
        return _percentiles([getattr(r, attr) for r in rows if getattr(r, attr) is not None])["p50"]

    return {
        "n": n,
        "hits": len(hits),
        "hit_rate": len(hits) / n if n else None,
        "hit_rate_ci95": ci,
        "cache_read_tokens": sum(r.cache_read_tokens for r in fresh),
        "cache_creation_tokens": sum(r.cache_creation_tokens for r in fresh),
        "latency_p50_hit": p50(hits, "latency_s"),
        "latency_p50_miss": p50(misses, "latency_s"),
        "ttft_p50_hit": p50(hits, "ttft_s"),
        "ttft_p50_miss": p50(misses, "ttft_s"),
    }


class ErrorRateExceeded(RuntimeError):
    """Too many samples failed; the message lists the categories. Stored answers are kept."""

    def __init__(self, message: str, summary: dict[str, Any]):
        super().__init__(message)
        self.summary = summary


def check_error_rate(
    responses: Sequence[ModelResponse], ceiling: float = 0.05, *, include_model_errors: bool = False
) -> dict[str, Any]:
    """Raise :class:`ErrorRateExceeded` if the error rate is above ``ceiling``; returns the summary.

    Counts infrastructure errors (rate_limited, overloaded, timeout, connection, api_error, ...);
    with ``include_model_errors`` refusals / empty / max_tokens answers count too.
    """
    summary = summarize(responses)
    counted = set(INFRA_ERROR_CATEGORIES) | (set(MODEL_ERROR_CATEGORIES) if include_model_errors else set())
    cats = {k: v for k, v in summary["errors_by_category"].items() if k in counted}
    n_err = sum(cats.values())
    rate = n_err / summary["samples"] if summary["samples"] else 0.0
    if rate > ceiling:
        detail = ", ".join(f"{k}={v}" for k, v in sorted(cats.items(), key=lambda kv: -kv[1]))
        raise ErrorRateExceeded(
            f"{n_err} of {summary['samples']} samples ({rate:.1%}) ended in errors, above the {ceiling:.0%} ceiling: {detail}. "
            f"Answers already received are stored; rerun to retry only the failed samples, or raise the error-rate ceiling.",
            summary,
        )
    return summary
