"""Content-addressed response store: every model answer, persisted the moment it arrives.

Key
---
``request_key(provider, request)`` = sha256 of the canonical JSON of (provider, model, params, system,
messages, tools, tool_choice, repeat index, epoch). Repeats get distinct keys (so repeated sampling
gets distinct answers) while a rerun of the same requests hits the store.

Layout
------
``<root>/responses-<utc time>-<pid>-<random>.jsonl``: append-only journals, one per writer, one JSON
line per response, flushed after each line. A process that dies mid-run keeps every line it wrote;
a torn last line is skipped on read. Several processes may write to the same root at once (each has
its own journal, held under an exclusive ``flock`` while its writer lives). ``root`` is a local
folder: inside a local warehouse, or any folder of the host.

Segments (:mod:`eval_pipeline.inference.segments`): immutable Parquet files sharded by key prefix,
under ``<root>/segments/`` (local) or ``<s3 warehouse>/response_store/segments/`` (shared by every
host). A *shared* store (segments on S3) also seals its answers into a new fresh segment every
``seal_every`` answers and when closed, then deletes its journal; a journal whose writer died
(its lock is free) is sealed by the next store opened on that root. :meth:`ResponseStore.compact`
seals dead journals and merges the segments per shard. Journals are read whole when a store opens
(they are recent and small); segments only for the keys asked for (:meth:`ResponseStore.prefetch`,
which the runner calls with the keys of a run), so opening a store of millions of answers and
looking up one night's keys reads a few hundred footers and row groups, not the store.

What is stored
--------------
Model answers, including model-side outcomes (refusal, empty, max_tokens, malformed_tool_output).
Infrastructure errors (rate_limited, overloaded, timeout, connection, api_error) are *not* stored,
so a rerun retries them. Nothing secret is ever stored: the request's API key is not part of a
response.

Provenance and the recordings namespace
---------------------------------------
Every stored line carries ``provenance``: ``live`` (a live provider wrote it) or ``synthetic`` (a
scripted recording such as ``data/recordings/``). ``recordings=[folder, ...]`` are read-only
recording folders indexed in their *own* namespace (lines without ``provenance`` there count as
``synthetic``): ``lookup(..., replay=False)`` - what a live provider gets - never returns a recording
nor any ``synthetic`` line (also not an old copy of a recording shard inside ``root``, recognised by
its cache key and request id, or by ``provenance``). ``lookup(..., replay=True)`` serves stored live
answers first, then recordings, labelled ``replay`` (a replayed live answer) or ``synthetic``.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import time
import uuid
from collections.abc import Iterable
from dataclasses import fields
from pathlib import Path
from typing import Any

from eval_pipeline.inference.segment_format import prefer
from eval_pipeline.inference.segments import SegmentStore
from eval_pipeline.inference.types import (
    INFRA_ERROR_CATEGORIES,
    PROVENANCE_LIVE,
    PROVENANCE_REPLAY,
    PROVENANCE_SYNTHETIC,
    ModelRequest,
    ModelResponse,
)
from eval_pipeline.storage import keys
from eval_pipeline.storage.errors import os_error
from eval_pipeline.storage.local import LocalBackend

log = logging.getLogger(__name__)

_RESPONSE_FIELDS = {f.name for f in fields(ModelResponse)}


def is_storable(response: ModelResponse) -> bool:
    """Model answers are stored; infrastructure errors are not (a rerun retries them)."""
    return response.error_category not in INFRA_ERROR_CATEGORIES


class ResponseStore:
    """Journals (JSONL, read at open) plus segments (Parquet, read per key), indexed in memory by key.

    ``ResponseStore(root)`` reads every journal under ``root`` (creating the folder if needed).
    ``get(key)`` / ``lookup(request, key)`` read (a key not in memory is looked up in the segments;
    ``prefetch(keys)`` does that for many keys at once), ``put(response)`` appends and flushes at once
    (``fsync=True`` also survives power loss, at a cost per write). ``refresh()`` picks up lines
    and segments that other processes wrote since. ``recordings``: read-only recording folders,
    served only to ``lookup(..., replay=True)`` (see the module docstring). ``segments``: where the
    segments live (default ``<root>/segments``); a store on S3 segments is *shared*. ``len(store)``
    counts the answers in memory (journals plus those fetched from segments so far).
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        fsync: bool = False,
        recordings: Iterable[str | os.PathLike[str]] = (),
        segments: SegmentStore | None = None,
        seal_every: int = 200,
    ):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.fsync = fsync
        if segments is None:
            segments = SegmentStore(LocalBackend(self.root))
        self.segments = segments
        self.shared = segments.shared
        self.seal_every = seal_every
        self._pending: list[dict[str, Any]] = []  # written to the journal, not yet sealed (shared stores)
        self._probed: set[str] = set()  # keys already looked up in the segments
        self._index: dict[str, dict[str, Any]] = {}
        self._recorded: dict[str, dict[str, Any]] = {}  # the recordings namespace (replay only)
        self._synthetic_ids: set[tuple[str, Any]] = (
            set()
        )  # (cache_key, request_id) of every synthetic recorded line
        self.recordings = [Path(r) for r in recordings]
        self._recordings_read = not self.recordings  # read on first need (_read_all_recordings)
        self._offsets: dict[Path, int] = {}
        self._fh: Any = None
        self._shard: Path | None = None
        if self.shared:
            self.seal_dead_journals()
        self.refresh()

    def __repr__(self) -> str:
        return (
            f"ResponseStore(root={str(self.root)!r}, segments={self.segments!r}, entries={len(self._index)}, "
            f"recordings={self.recorded_count})"
        )

    def _read_all_recordings(self) -> None:
        """Index the recordings the first time they are needed (a replay lookup, a stored line without its
        provenance, the count): a live run on a store of labelled lines never reads them (~0.06 s of CPU for the
        demo's 3.8 MB before the first request of every ``model_responses`` step)."""
        if not self._recordings_read:
            self._recordings_read = True
            for folder in self.recordings:
                self._read_recordings(folder)

    def _read_recordings(self, folder: Path) -> None:
        """Index a read-only recording folder in its own namespace (``synthetic`` unless a line says otherwise)."""
        for path in sorted(folder.glob(keys.RESPONSE_SHARD_GLOB)):
            for raw in path.read_bytes().split(b"\n"):
                if not raw.strip():
                    continue
                try:
                    record = json.loads(raw)
                except ValueError:
                    continue
                if record.get("cache_key"):
                    record["provenance"] = record.get("provenance") or PROVENANCE_SYNTHETIC
                    self._recorded[record["cache_key"]] = record
                    if record["provenance"] == PROVENANCE_SYNTHETIC:
                        self._synthetic_ids.add((record["cache_key"], record.get("request_id")))

    def _provenance_of(self, record: dict[str, Any]) -> str:
        """``synthetic`` for synthetic lines and for old copies of a recording inside ``root``, else ``live``."""
        provenance: str | None = record.get("provenance")
        if provenance:
            return provenance
        self._read_all_recordings()
        if (record.get("cache_key"), record.get("request_id")) in self._synthetic_ids:
            return PROVENANCE_SYNTHETIC
        return PROVENANCE_LIVE

    def __len__(self) -> int:
        return len(self._index)

    def __contains__(self, key: str) -> bool:
        return self.get(key) is not None

    def refresh(self) -> int:
        """Read lines appended to any journal since the last read, and forget which keys the segments
        lacked (they may hold them now); returns how many journal entries were added."""
        self.segments.refresh()
        self._probed.clear()
        before = len(self._index)
        for path in sorted(self.root.glob(keys.RESPONSE_SHARD_GLOB)):
            if path == self._shard:
                continue
            self._read_shard(path)
        return len(self._index) - before

    def _read_shard(self, path: Path) -> None:
        start = self._offsets.get(path, 0)
        with open(path, "rb") as fh:
            fh.seek(start)
            data = fh.read()
        consumed = 0
        # Only newline-terminated lines are complete; the remainder is a line still being written
        # (or torn by a dying writer) and is left for the next refresh.
        for raw in data.split(b"\n")[:-1]:
            consumed += len(raw) + 1
            if not raw.strip():
                continue
            try:
                record = json.loads(raw)
            except ValueError:
                log.warning(
                    "response store %s: unreadable line ending at byte %d skipped (corrupt entry; it will be re-requested)",
                    path,
                    start + consumed,
                )
                continue
            if record.get("cache_key"):
                self._remember(record)
        self._offsets[path] = start + consumed

    def _remember(self, record: dict[str, Any]) -> None:
        record["provenance"] = self._provenance_of(record)
        key = record["cache_key"]
        old = self._index.get(key)
        # a synthetic line (e.g. an old copy of the demo recordings) never shadows a live answer
        if (
            old is None
            or record["provenance"] != PROVENANCE_SYNTHETIC
            or old["provenance"] == PROVENANCE_SYNTHETIC
        ):
            self._index[key] = record

    def prefetch(self, wanted: Iterable[str]) -> int:
        """Look up in the segments, at once, every key of ``wanted`` not in memory yet; returns how many were found."""
        todo = [k for k in dict.fromkeys(wanted) if k not in self._index and k not in self._probed]
        if not todo:
            return 0
        found = self.segments.get_many(todo)
        self._probed.update(todo)
        for rec in found.values():
            self._remember(rec)
        return len(found)

    def get(self, key: str) -> dict[str, Any] | None:
        """The stored record (a ModelResponse row, with its ``provenance``) for a key, or None."""
        if key not in self._index:
            self.prefetch([key])
        return self._index.get(key)

    @property
    def recorded_count(self) -> int:
        """How many answers the recordings namespace holds (served to replay only)."""
        self._read_all_recordings()
        return len(self._recorded)

    def lookup(self, request: ModelRequest, key: str, *, replay: bool = False) -> ModelResponse | None:
        """The stored answer as a ModelResponse for *this* request (its sample id), flagged cached.

        ``replay=False`` (a live provider): stored live answers only, provenance ``live``.
        ``replay=True``: stored live answers, else the recordings; provenance ``replay`` or ``synthetic``.
        """
        record = self.get(key)
        if record is not None and record["provenance"] == PROVENANCE_SYNTHETIC and not replay:
            record = None
        if record is None and replay:
            self._read_all_recordings()
            record = self._recorded.get(key)
        if record is None:
            return None
        row = {k: v for k, v in record.items() if k in _RESPONSE_FIELDS}
        if record["provenance"] == PROVENANCE_SYNTHETIC:
            provenance = PROVENANCE_SYNTHETIC
        else:
            provenance = PROVENANCE_REPLAY if replay else PROVENANCE_LIVE
        row.update(
            sample_id=request.sample_id,
            repeat=request.repeat,
            cached=True,
            cache_key=key,
            provenance=provenance,
        )
        return ModelResponse(**row)

    def put(self, response: ModelResponse) -> bool:
        """Persist a model answer now (flushed); returns False (and stores nothing) for infra errors."""
        if not is_storable(response):
            return False
        record = dict(response.__dict__)  # flat copy; much cheaper than dataclasses.asdict per response
        record["cached"] = False
        record["provenance"] = response.provenance or PROVENANCE_LIVE
        record["stored_at"] = time.time()
        line = json.dumps(record, ensure_ascii=False, separators=(",", ":"), default=str) + "\n"
        try:
            fh = self._writer()
            fh.write(line)
            fh.flush()
            if self.fsync:
                os.fsync(fh.fileno())
        except OSError as exc:  # ENOSPC / EROFS: name the store's folder (a torn line is skipped on read)
            raise os_error(
                exc,
                "append",
                self._shard,
                self.root,
                "Answers stored before are kept (a torn last line is skipped on read); a rerun pays only for the rest.",
            ) from None
        self._index[response.cache_key] = record
        if self.shared:
            self._pending.append(record)
            if len(self._pending) >= self.seal_every:
                self.seal()
        return True

    def publish(self) -> None:
        """Make every answer this store wrote visible to other hosts now (a shared store seals its
        pending answers into a segment; a local store's journal lines are visible already)."""
        if self.shared and self._pending:
            self.seal()

    def seal(self) -> str | None:
        """Write the answers put since the last seal into one new segment (shared stores do this
        every ``seal_every`` answers and on close); returns its key."""
        key = self.segments.write_fresh(self._pending)
        self._pending = []
        return key

    def seal_dead_journals(self) -> int:
        """Seal every journal under ``root`` whose writer is gone (its lock is free) into a segment,
        then delete it; returns how many answers were sealed. A live writer's journal is left alone."""
        sealed = 0
        for path in sorted(self.root.glob(keys.RESPONSE_SHARD_GLOB)):
            if path == self._shard:
                continue
            try:
                fh = open(path, "rb")  # noqa: SIM115
            except FileNotFoundError:
                continue
            with fh:
                try:
                    fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError:
                    continue  # its writer is alive
                if not path.exists():
                    continue  # sealed by another process meanwhile
                records = []
                for raw in fh.read().split(b"\n"):
                    try:
                        rec = json.loads(raw) if raw.strip() else None
                    except ValueError:
                        rec = None  # torn or corrupt line: that answer is simply requested again
                    if rec and rec.get("cache_key"):
                        rec["provenance"] = self._provenance_of(rec)
                        records.append(rec)
                best: dict[str, dict[str, Any]] = {}
                for rec in records:
                    if prefer(best.get(rec["cache_key"]), rec):
                        best[rec["cache_key"]] = rec
                self.segments.write_fresh(list(best.values()))
                path.unlink(missing_ok=True)
                self._offsets.pop(path, None)
                sealed += len(best)
        return sealed

    def compact(self) -> dict[str, Any]:
        """Seal the dead journals under ``root``, then merge the segments per shard (idempotent);
        returns the counts of :meth:`SegmentStore.compact` plus ``journal_answers_sealed``."""
        sealed = self.seal_dead_journals()
        report = self.segments.compact()
        report["journal_answers_sealed"] = sealed
        return report

    def put_many(self, responses: Iterable[ModelResponse]) -> int:
        """Persist several responses; returns how many were stored."""
        return sum(self.put(r) for r in responses)

    def _writer(self) -> Any:
        if self._fh is None:
            stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
            self._shard = self.root / keys.response_shard(f"{stamp}-{os.getpid()}-{uuid.uuid4().hex[:8]}")
            self._fh = open(self._shard, "a", encoding="utf-8")  # noqa: SIM115
            fcntl.flock(self._fh, fcntl.LOCK_EX | fcntl.LOCK_NB)  # released when this writer closes or dies
        return self._fh

    def close(self) -> None:
        """Close the journal this store writes to (reopened on the next put). A shared store first
        seals what it wrote into a segment, then deletes its journal (every line is in the segments)."""
        if self._pending:
            self.seal()
        if self._fh is not None:
            self._fh.close()
            self._fh = None
            if self._shard is not None:
                if self.shared:
                    self._shard.unlink(missing_ok=True)
                else:
                    self._offsets[self._shard] = self._shard.stat().st_size
            self._shard = None

    def __enter__(self) -> ResponseStore:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:  # best effort; lines are already flushed
        with contextlib.suppress(Exception):
            self.close()
