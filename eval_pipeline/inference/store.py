"""Content-addressed response store: every model answer, persisted the moment it arrives.

Key
---
``request_key(provider, request)`` = sha256 of the canonical JSON of (provider, model, params, system,
messages, tools, tool_choice, repeat index, epoch). Repeats get distinct keys (so repeated sampling
gets distinct answers) while a rerun of the same requests hits the store.

Layout
------
``<root>/responses-<utc time>-<pid>-<random>.jsonl``: append-only shards, one per writer, one JSON
line per response, flushed after each line. A process that dies mid-run keeps every line it wrote;
a torn last line is skipped on read. Several processes may write to the same root at once (each has
its own shard). ``root`` can live inside the warehouse folder or anywhere on local disk.

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

import hashlib
import json
import logging
import os
import time
import uuid
from dataclasses import fields
from pathlib import Path
from typing import Any, Iterable

from eval_pipeline.storage import keys
from eval_pipeline.inference.types import INFRA_ERROR_CATEGORIES, PROVENANCE_LIVE, PROVENANCE_REPLAY, PROVENANCE_SYNTHETIC, ModelRequest, ModelResponse

log = logging.getLogger(__name__)

_RESPONSE_FIELDS = {f.name for f in fields(ModelResponse)}


def request_key(provider: str, request: ModelRequest) -> str:
    """sha256 hex of everything that determines an answer (never the sample id or the API key)."""
    payload = {
        "provider": provider,
        "model": request.model,
        "params": request.params,
        "system": request.system,
        "messages": request.messages,
        "tools": request.tools,
        "tool_choice": request.tool_choice,
        "repeat": request.repeat,
        "epoch": request.epoch,
    }
    blob = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def is_storable(response: ModelResponse) -> bool:
    """Model answers are stored; infrastructure errors are not (a rerun retries them)."""
    return response.error_category not in INFRA_ERROR_CATEGORIES


class ResponseStore:
    """Append-only JSONL store indexed in memory by cache key.

    ``ResponseStore(root)`` reads every shard under ``root`` (creating the folder if needed).
    ``get(key)`` / ``lookup(request, key)`` read, ``put(response)`` appends and flushes at once
    (``fsync=True`` also survives power loss, at a cost per write). ``refresh()`` picks up lines
    that other processes appended since. ``recordings``: read-only recording folders, served only
    to ``lookup(..., replay=True)`` (see the module docstring).
    """

    def __init__(self, root: str | os.PathLike[str], *, fsync: bool = False,
                 recordings: Iterable[str | os.PathLike[str]] = ()):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.fsync = fsync
        self._index: dict[str, dict[str, Any]] = {}
        self._recorded: dict[str, dict[str, Any]] = {}  # the recordings namespace (replay only)
        self._synthetic_ids: set[tuple[str, Any]] = set()  # (cache_key, request_id) of every synthetic recorded line
        self.recordings = [Path(r) for r in recordings]
        for folder in self.recordings:
            self._read_recordings(folder)
        self._offsets: dict[Path, int] = {}
        self._fh: Any = None
        self._shard: Path | None = None
        self.refresh()

    def __repr__(self) -> str:
        return f"ResponseStore(root={str(self.root)!r}, entries={len(self._index)}, recordings={len(self._recorded)})"

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
        if record.get("provenance"):
            return record["provenance"]
        if (record.get("cache_key"), record.get("request_id")) in self._synthetic_ids:
            return PROVENANCE_SYNTHETIC
        return PROVENANCE_LIVE

    def __len__(self) -> int:
        return len(self._index)

    def __contains__(self, key: str) -> bool:
        return key in self._index

    def refresh(self) -> int:
        """Read lines appended to any shard since the last read; returns how many entries were added."""
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
                log.warning("response store %s: unreadable line ending at byte %d skipped (corrupt entry; it will be re-requested)", path, start + consumed)
                continue
            key = record.get("cache_key")
            if key:
                record["provenance"] = self._provenance_of(record)
                old = self._index.get(key)
                # a synthetic line (e.g. an old copy of the demo recordings) never shadows a live answer
                if old is None or record["provenance"] != PROVENANCE_SYNTHETIC or old["provenance"] == PROVENANCE_SYNTHETIC:
                    self._index[key] = record
        self._offsets[path] = start + consumed

    def get(self, key: str) -> dict[str, Any] | None:
        """The stored record (a ModelResponse row, with its ``provenance``) for a key, or None."""
        return self._index.get(key)

    @property
    def recorded_count(self) -> int:
        """How many answers the recordings namespace holds (served to replay only)."""
        return len(self._recorded)

    def lookup(self, request: ModelRequest, key: str, *, replay: bool = False) -> ModelResponse | None:
        """The stored answer as a ModelResponse for *this* request (its sample id), flagged cached.

        ``replay=False`` (a live provider): stored live answers only, provenance ``live``.
        ``replay=True``: stored live answers, else the recordings; provenance ``replay`` or ``synthetic``.
        """
        record = self._index.get(key)
        if record is not None and record["provenance"] == PROVENANCE_SYNTHETIC and not replay:
            record = None
        if record is None and replay:
            record = self._recorded.get(key)
        if record is None:
            return None
        row = {k: v for k, v in record.items() if k in _RESPONSE_FIELDS}
        if record["provenance"] == PROVENANCE_SYNTHETIC:
            provenance = PROVENANCE_SYNTHETIC
        else:
            provenance = PROVENANCE_REPLAY if replay else PROVENANCE_LIVE
        row.update(sample_id=request.sample_id, repeat=request.repeat, cached=True, cache_key=key, provenance=provenance)
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
        fh = self._writer()
        fh.write(line)
        fh.flush()
        if self.fsync:
            os.fsync(fh.fileno())
        self._index[response.cache_key] = record
        return True

    def put_many(self, responses: Iterable[ModelResponse]) -> int:
        """Persist several responses; returns how many were stored."""
        return sum(self.put(r) for r in responses)

    def _writer(self) -> Any:
        if self._fh is None:
            stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
            self._shard = self.root / keys.response_shard(f"{stamp}-{os.getpid()}-{uuid.uuid4().hex[:8]}")
            self._fh = open(self._shard, "a", encoding="utf-8")
        return self._fh

    def close(self) -> None:
        """Close the shard this store writes to (reopened on the next put)."""
        if self._fh is not None:
            self._fh.close()
            self._fh = None
            if self._shard is not None:
                self._offsets[self._shard] = self._shard.stat().st_size
            self._shard = None

    def __enter__(self) -> "ResponseStore":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:  # best effort; lines are already flushed
        try:
            self.close()
        except Exception:
            pass
