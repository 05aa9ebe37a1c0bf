"""Message Batches: send store misses through ``client.messages.batches`` at half the price.

In: the (request, store key) pairs a run still needs, a provider with the batch helpers
(:class:`~eval_pipeline.inference.anthropic_provider.AnthropicProvider`), a :class:`BatchLedger`
and :class:`BatchOptions`. Out: one ModelResponse per key, handed to ``deliver(key, response)`` as
soon as its batch's results are read (the runner stores it at once, as for a live answer).

* Requests are deduplicated by store key, which is also the batch ``custom_id`` (64 hex
  characters: the API's limit), and chunked within the API's limits (100,000 requests or
  256 MB per batch; ``max_requests`` / ``max_bytes``).
* The ledger records a batch id the moment ``create`` returns (one JSON file per batch under the
  response store, ``keys.batch_record``). A run that was killed re-attaches to the open batches that
  hold keys it needs instead of submitting them again, so nothing is paid twice. The window
  between the API accepting a batch and the ledger file being written (one local file write) is
  the only one in which a kill can lose a batch id.
* Polling logs progress (``request_counts``) through ``options.log`` every ``log_every_s``.
* ``errored`` (retryable types) and ``expired`` results are resubmitted as a new batch
  ``retry_batches`` times, then sent live (``then_live``) through the provider's normal path;
  non-retryable errors (``invalid_request_error`` ...) become ``api_error`` answers at once.
  ``canceled`` results (someone cancelled the batch) are not resubmitted unless
  ``retry_canceled``: they become ``api_error`` answers saying so, which are not stored, so the
  next run asks again.
* A 401/403 from any batches call (create, retrieve, results) stops the step at once with the live
  path's :class:`~eval_pipeline.inference.guard.EndpointRejected` ("authentication failed at <base
  URL>: check ANTHROPIC_API_KEY", exit code 2): every further call would carry the same key, so no
  other batch is created or polled and nothing is sent live.
* Batch answers have ``latency_s`` / ``ttft_s`` = None (a batch takes minutes to hours; there is no
  per-request latency to measure) and their cost carries the batch discount.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eval_pipeline.inference.guard import CURRENT_GUARD, StepGuard
from eval_pipeline.inference.providers import error_response
from eval_pipeline.inference.types import ModelRequest, ModelResponse
from eval_pipeline.storage import keys

log = logging.getLogger(__name__)

API_MAX_REQUESTS = 100_000
API_MAX_BYTES = 256 * 1024 * 1024
# Error types of an errored batch result that a resubmission cannot fix.
NOT_RETRYABLE = (
    "invalid_request_error",
    "authentication_error",
    "permission_error",
    "not_found_error",
    "request_too_large",
)


@dataclass
class BatchOptions:
    """How batch mode submits, polls and retries (see the module docstring)."""

    poll_interval_s: float = 30.0
    max_requests: int = API_MAX_REQUESTS
    max_bytes: int = 200 * 1024 * 1024  # headroom under the 256 MB limit for the JSON envelope
    retry_batches: int = 1  # errored / expired requests resubmitted as a new batch this many times
    then_live: bool = True  # what is still failing after that is sent live
    retry_canceled: bool = False
    log_every_s: float = 60.0
    log: Callable[[str], None] | None = None  # progress lines (the Dagster asset passes context.log.info)

    def __post_init__(self) -> None:
        if not 0 < self.max_requests <= API_MAX_REQUESTS:
            raise ValueError(
                f"BatchOptions.max_requests={self.max_requests}: must be in 1..{API_MAX_REQUESTS}"
            )
        if not 0 < self.max_bytes <= API_MAX_BYTES:
            raise ValueError(f"BatchOptions.max_bytes={self.max_bytes}: must be in 1..{API_MAX_BYTES}")
        if self.retry_batches < 0 or self.poll_interval_s <= 0:
            raise ValueError("BatchOptions: retry_batches must be >= 0 and poll_interval_s > 0")

    def say(self, message: str) -> None:
        log.info(message)
        if self.log is not None:
            self.log(message)


@dataclass
class BatchStats:
    """What batch mode did in one run (for metadata and tests)."""

    created: list[str] = field(default_factory=list)  # batch ids submitted by this run
    attached: list[str] = field(default_factory=list)  # open batches of an earlier run re-attached
    succeeded: int = 0
    retried_as_batch: int = 0
    sent_live: int = 0
    failed: dict[str, int] = field(default_factory=dict)  # errored / expired / canceled counts (all rounds)

    def as_dict(self) -> dict[str, Any]:
        return {
            "batches_created": len(self.created),
            "batches_attached": len(self.attached),
            "batch_succeeded": self.succeeded,
            "batch_retried_as_batch": self.retried_as_batch,
            "batch_sent_live": self.sent_live,
            "batch_failed": dict(self.failed),
        }


class BatchLedger:
    """Open batch ids, one JSON file per batch under ``root`` (``keys.batch_record``), written atomically.

    A record is ``{batch_id, model, custom_ids, created_at, closed}``; ``closed`` is set once this
    project has read its results, so only open batches are re-attached."""

    def __init__(self, root: str | os.PathLike[str]):
        self.root = Path(root)

    def _path(self, batch_id: str) -> Path:
        return self.root / keys.batch_record(batch_id)

    def _write(self, record: dict[str, Any]) -> None:
        path = self._path(record["batch_id"])
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(json.dumps(record), encoding="utf-8")
        os.replace(tmp, path)

    def record(self, batch_id: str, model: str, custom_ids: Sequence[str]) -> None:
        self._write(
            {
                "batch_id": batch_id,
                "model": model,
                "custom_ids": list(custom_ids),
                "created_at": time.time(),
                "closed": False,
            }
        )

    def close(self, batch_id: str, status: str) -> None:
        path = self._path(batch_id)
        record = (
            json.loads(path.read_text(encoding="utf-8"))
            if path.exists()
            else {"batch_id": batch_id, "custom_ids": []}
        )
        record.update(closed=True, closed_status=status, closed_at=time.time())
        self._write(record)

    def open_batches(self) -> list[dict[str, Any]]:
        out = []
        for path in sorted((self.root / keys.BATCH_LEDGER).glob(keys.BATCH_RECORD_GLOB)):
            try:
                record = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if not record.get("closed"):
                out.append(record)
        return out


_KEY_REJECTED = {401: "authentication", 403: "permission"}


def _raise_if_key_rejected(provider: Any, exc: BaseException, call: str) -> None:
    """A 401/403 from a batches call: every further call (create, retrieve, results, live) carries
    the same key, so stop the step at once with the live path's message (exit code 2)."""
    status = getattr(exc, "status_code", None)
    if status not in _KEY_REJECTED:
        return
    guard = CURRENT_GUARD.get() or StepGuard(endpoint=getattr(provider, "endpoint", "the model endpoint"))
    raise guard.stop(
        _KEY_REJECTED[status], status, f"Message Batches {call} answered HTTP {status}"
    ) from None


@dataclass
class _Failed:
    kind: str  # errored / expired / canceled
    message: str
    retryable: bool


def _chunks(
    items: list[tuple[str, dict[str, Any]]], options: BatchOptions
) -> Iterable[list[tuple[str, dict[str, Any]]]]:
    """Split (custom_id, params) into batches within the request-count and size limits."""
    chunk: list[tuple[str, dict[str, Any]]] = []
    size = 0
    for cid, params in items:
        n = len(json.dumps({"custom_id": cid, "params": params})) + 2
        if chunk and (len(chunk) >= options.max_requests or size + n > options.max_bytes):
            yield chunk
            chunk, size = [], 0
        chunk.append((cid, params))
        size += n
    if chunk:
        yield chunk


async def _poll(client: Any, batch_id: str, n: int, options: BatchOptions) -> Any:
    """Wait until the batch has ended, logging its request counts."""
    t0 = last = time.monotonic()
    while True:
        batch = await client.messages.batches.retrieve(batch_id)
        if batch.processing_status == "ended":
            return batch
        now = time.monotonic()
        if now - last >= options.log_every_s:
            last = now
            c = batch.request_counts
            options.say(
                f"batch {batch_id}: {batch.processing_status}, {c.processing} of {n} processing, "
                f"{c.succeeded} succeeded, {c.errored} errored, {now - t0:.0f}s"
            )
        await asyncio.sleep(options.poll_interval_s)


async def _collect(
    provider: Any,
    client: Any,
    batch_id: str,
    wanted: dict[str, ModelRequest],
    n: int,
    deliver: Callable[[str, ModelResponse], None],
    options: BatchOptions,
    stats: BatchStats,
    ledger: BatchLedger,
) -> dict[str, _Failed]:
    """Poll one batch to its end, deliver its successes, return its failures by key."""
    try:
        batch = await _poll(client, batch_id, n, options)
    except Exception as exc:
        _raise_if_key_rejected(provider, exc, f"retrieve of batch {batch_id}")
        raise
    c = batch.request_counts
    options.say(
        f"batch {batch_id} ended: {c.succeeded} succeeded, {c.errored} errored, {c.expired} expired, {c.canceled} canceled"
    )
    failed: dict[str, _Failed] = {}
    try:
        results = await client.messages.batches.results(batch_id)
    except Exception as exc:
        _raise_if_key_rejected(provider, exc, f"results of batch {batch_id}")
        raise
    async for item in results:
        key = item.custom_id
        request = wanted.get(key)
        if request is None:
            continue
        result = item.result
        if result.type == "succeeded":
            stats.succeeded += 1
            deliver(key, provider.batch_response(request, key, result.message, batch_id))
            continue
        if result.type == "errored":
            err = getattr(result.error, "error", None)
            etype = getattr(err, "type", "api_error")
            failed[key] = _Failed(
                "errored",
                f"batch {batch_id}: {etype}: {getattr(err, 'message', '')}"[:300],
                etype not in NOT_RETRYABLE,
            )
        elif result.type == "expired":
            failed[key] = _Failed(
                "expired", f"batch {batch_id}: the request expired (not processed within 24 h)", True
            )
        else:
            failed[key] = _Failed(
                "canceled",
                f"batch {batch_id}: the batch was canceled before this request ran",
                options.retry_canceled,
            )
        stats.failed[failed[key].kind] = stats.failed.get(failed[key].kind, 0) + 1
    ledger.close(batch_id, "ended")
    return failed


async def arun_batches(
    provider: Any,
    items: Sequence[tuple[ModelRequest, str]],
    deliver: Callable[[str, ModelResponse], None],
    ledger: BatchLedger,
    options: BatchOptions | None = None,
) -> BatchStats:
    """Answer ``items`` (request, store key) through Message Batches; see the module docstring."""
    options = options or BatchOptions()
    stats = BatchStats()
    wanted: dict[str, ModelRequest] = {}
    for req, key in items:
        wanted.setdefault(key, req)
    if not wanted:
        return stats
    await provider.astart()
    client = await provider.batch_client()

    # Re-attach to open batches of an earlier (killed) run that hold keys this run needs.
    jobs: list[tuple[str, int]] = []
    attached: set[str] = set()
    for record in ledger.open_batches():
        ids = [cid for cid in record.get("custom_ids", []) if cid in wanted and cid not in attached]
        if ids:
            attached.update(ids)
            jobs.append((record["batch_id"], len(record["custom_ids"])))
            stats.attached.append(record["batch_id"])
            options.say(
                f"re-attaching to batch {record['batch_id']} ({len(ids)} of the requests this run needs; not submitted again)"
            )
    pending = [k for k in wanted if k not in attached]
    remaining: dict[str, _Failed] = {}
    for round_no in range(options.retry_batches + 1):
        for chunk in _chunks([(k, provider.batch_params(wanted[k])) for k in pending], options):
            try:
                batch = await client.messages.batches.create(
                    requests=[{"custom_id": k, "params": p} for k, p in chunk]
                )
            except Exception as exc:  # the batch was not accepted: these requests go to the next round / live
                _raise_if_key_rejected(provider, exc, "create")
                msg = f"batch create failed: {type(exc).__name__}: {str(exc)[:200]}"
                options.say(msg)
                remaining.update({k: _Failed("errored", msg, True) for k, _ in chunk})
                continue
            ledger.record(batch.id, wanted[chunk[0][0]].model, [k for k, _ in chunk])
            stats.created.append(batch.id)
            jobs.append((batch.id, len(chunk)))
            options.say(f"submitted batch {batch.id}: {len(chunk)} requests (round {round_no + 1})")
        polls = [
            asyncio.ensure_future(_collect(provider, client, bid, wanted, n, deliver, options, stats, ledger))
            for bid, n in jobs
        ]
        try:
            outcomes = await asyncio.gather(*polls)
        finally:  # one poll failed (e.g. the key was rejected): stop polling the others
            for t in polls:
                t.cancel()
        for failed in outcomes:
            remaining.update(failed)
        jobs = []
        retry = [k for k, f in remaining.items() if f.retryable]
        if not retry or round_no == options.retry_batches:
            break
        stats.retried_as_batch += len(retry)
        options.say(f"resubmitting {len(retry)} errored/expired requests as a new batch")
        pending = retry
        remaining = {k: f for k, f in remaining.items() if not f.retryable}

    live = [k for k, f in remaining.items() if f.retryable and options.then_live]
    for key, f in remaining.items():
        if key not in live:
            deliver(
                key,
                error_response(wanted[key], key, "api_error", f"{f.kind} in Message Batches: {f.message}"),
            )
    if live:
        options.say(f"sending {len(live)} requests that failed in batches live")
        stats.sent_live = len(live)

        async def one(key: str) -> None:
            deliver(key, await provider.acomplete(wanted[key], key))

        await asyncio.gather(*(one(k) for k in live))
    return stats
