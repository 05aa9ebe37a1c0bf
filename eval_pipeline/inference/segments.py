"""Immutable Parquet segments of the response store, on a local folder or S3, shared by many writers.

In: a storage backend (:class:`~eval_pipeline.storage.local.LocalBackend` or
:class:`~eval_pipeline.storage.s3.S3Backend`) and a prefix inside it; store records (dicts with a
``cache_key``). Out: the records of the keys asked for, new segments, a compaction report.

Layout (``keys.response_segment`` / ``keys.response_shard_segment``, relative to the prefix)::

    segments/fresh/seg-<utc>-<pid>-<rand>.parquet     what one writer sealed (any keys, sorted)
    segments/shard=<xx>/c-<utc>-<pid>-<rand>.parquet  compacted: every key starting with <xx>
    segments/manifest/m-<utc>-<pid>-<rand>.parquet    index: footer + size of every compacted segment

Every segment is a table of :mod:`.segment_format` (key, provenance, stored_at, the record as JSON;
sorted by key, in row groups with key statistics only). Segments are never modified: a writer only ever creates new,
uniquely named objects (one whole-object PUT, atomic for readers), so any number of processes on
any number of hosts may append at once and none can lose another's answers.

Lookup of ``k`` keys (:meth:`SegmentStore.get_many`): one listing; the fresh segments are read whole
(they are few and small: compaction folds them away); of each compacted shard only the footer and
the row groups whose key range holds a wanted key are read (ranged GETs on S3), in parallel over
shards. So a lookup costs about ``256 footers + k row groups``, independent of how many answers
the store holds beyond that (see ``eval_pipeline_tests/benchmarks/store.py``).

The **manifest** (:mod:`eval_pipeline.inference.manifest`, written by :meth:`SegmentStore.compact` /
:meth:`SegmentStore.write_manifest`, idempotently: nothing is written when it already covers exactly
the listed compacted segments) holds, per compacted segment, its object size, its Parquet footer and
a key index (row-group key min/max). A lookup reads the newest manifest (one GET) instead of 256
footers, picks the row groups from the key index, parses the footer of only the segments it reads
(one at a time per worker: parsed footers of a 5M-answer store would take ~240 MB), and reads only
the ``cache_key`` and ``record`` chunks of the needed row groups, 8 segments at a time. On S3 the
chunks of one segment less than ``hole`` (1 MiB) apart are fetched in one ranged GET
(:func:`eval_pipeline.inference.s3_range.coalesced`; one HEAD per segment remains, pyarrow's Python
API taking no known size): 2,000 keys of a 5M-answer store cost ~270 GETs instead of ~2,000. The
listing stays the truth: a listed segment the manifest lacks (written after it) is read through its
own footer as before, a manifest entry for a segment no longer listed is ignored, and a manifest
that vanished (a concurrent compaction replaced it) means footers are read. Segments are
immutable, so a manifest entry is never wrong, at most incomplete, and cannot hide an answer.

Duplicates (two writers that both missed and both called the model) are harmless: a reader serves
one answer per key, :func:`~.segment_format.prefer` (a non-synthetic answer over a synthetic one, then the earliest
stored). :meth:`SegmentStore.compact` merges, per shard, the compacted segment(s) and the fresh rows
of that shard into one new segment, then deletes exactly the inputs it read: idempotent, safe to
interrupt (a reader may briefly see old and new copies; both are deduplicated) and safe to run
concurrently with writers (a segment written after the listing is not touched).
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
from collections import defaultdict
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlparse

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from eval_pipeline.inference import manifest as mf
from eval_pipeline.inference.s3_range import HOLE, S3Range, coalesced
from eval_pipeline.inference.segment_format import (
    SCHEMA,
    SHARD_CHARS,
    dedupe,
    new_segment_id,
    prefer,
    records_table,
    shard_of,
    table_bytes,
)
from eval_pipeline.storage import keys
from eval_pipeline.storage.errors import WarehouseError

log = logging.getLogger(__name__)

COALESCED_WORKERS = 8  # lookup workers when the manifest covers every segment read
_READ_COLUMNS = ["cache_key", "record"]  # what a lookup reads (the record holds provenance and stored_at)


class SegmentStore:
    """Segments of one response store under ``prefix`` of ``backend`` (see the module docstring)."""

    def __init__(self, backend: Any, prefix: str = "", *, threads: int | None = None, hole: int = HOLE):
        self.backend = backend
        self.prefix = prefix.strip("/")
        self.threads = threads or (32 if getattr(backend, "kind", "local") == "s3" else 8)
        self.hole = hole  # S3: column chunks of one segment closer than this are fetched in one ranged GET
        self._listing: tuple[list[str], dict[str, list[str]]] | None = None
        self._manifest_keys: list[str] = []
        self._manifest: tuple[str | None, mf.Manifest] | None = None
        self._fresh_cache: dict[str, pa.Table] = {}
        self.stats = {"footers": 0, "row_groups": 0, "fresh_read": 0, "manifests_read": 0, "gets": 0}

    def __repr__(self) -> str:
        return f"SegmentStore({self.backend.describe()}/{self.prefix})"

    @property
    def shared(self) -> bool:
        """Whether other hosts see these segments (S3) rather than only this disk."""
        return getattr(self.backend, "kind", "local") == "s3"

    def _key(self, rel: str) -> str:
        return f"{self.prefix}/{rel}" if self.prefix else rel

    # -- listing ---------------------------------------------------------------------------

    def refresh(self) -> None:
        """Forget the cached listing (segments written since become visible)."""
        self._listing = None

    def listing(self) -> tuple[list[str], dict[str, list[str]]]:
        """(fresh segment keys, {shard: compacted segment keys}), relative to the backend root."""
        if self._listing is None:
            fresh: list[str] = []
            manifests: list[str] = []
            shards: dict[str, list[str]] = defaultdict(list)
            base = self._key(keys.RESPONSE_SEGMENTS) + "/"
            for k in self.backend.list(base):
                if not k.endswith(".parquet"):
                    continue
                rel = k[len(base) :]
                if rel.startswith("fresh/"):
                    fresh.append(k)
                elif rel.startswith("shard="):
                    shards[rel[len("shard=") :].split("/", 1)[0]].append(k)
                elif rel.startswith("manifest/"):
                    manifests.append(k)
            self._manifest_keys = sorted(manifests)
            self._listing = (fresh, dict(shards))
        return self._listing

    # -- writing ---------------------------------------------------------------------------

    def write_fresh(self, records: list[dict[str, Any]]) -> str | None:
        """Seal ``records`` into one new fresh segment; returns its key (None if nothing to write)."""
        if not records:
            return None
        key = self._key(keys.response_segment(new_segment_id()))
        self.backend.put(key, table_bytes(records_table(records)), "application/vnd.apache.parquet")
        if self._listing is not None:
            self._listing[0].append(key)
        return key

    # -- manifest --------------------------------------------------------------------------

    def _tail(self, key: str) -> tuple[int, bytes]:
        """(object size, footer as a minimal Parquet file) of one segment: one ranged GET on S3 (two if the footer is big)."""
        want = 64 * 1024
        while True:
            if self.backend.kind == "s3":
                got = self.backend.client.get_object(
                    Bucket=self.backend.bucket, Key=self.backend.object_key(key), Range=f"bytes=-{want}"
                )
                data = got["Body"].read()
                size = int(got["ContentRange"].rsplit("/", 1)[1]) if got.get("ContentRange") else len(data)
            else:
                path = self.backend.path(key)
                size = os.path.getsize(path)
                with open(path, "rb") as f:
                    f.seek(max(0, size - want))
                    data = f.read()
            n = int.from_bytes(data[-8:-4], "little")
            if n + 8 <= len(data):
                return size, b"PAR1" + data[-8 - n :]
            want = n + 8

    def _load_manifest(self) -> mf.Manifest:
        """The newest listed manifest (empty if none / vanished: then footers are read)."""
        self.listing()
        newest = self._manifest_keys[-1] if self._manifest_keys else None
        if self._manifest is None or self._manifest[0] != newest:
            got = mf.Manifest({})
            if newest is not None:
                try:
                    got = mf.read_manifest(self.backend.get(newest), self._key)
                    self.stats["manifests_read"] += 1
                except (
                    WarehouseError,
                    FileNotFoundError,
                ):  # replaced by a concurrent compaction: read footers
                    pass
            self._manifest = (newest, got)
        return self._manifest[1]

    def write_manifest(self) -> str | None:
        """Write a manifest of every listed compacted segment, then delete the older manifests; returns its key.

        Idempotent: if the newest manifest already covers exactly the listed compacted segments, nothing is written
        (None). Footers it lacks are read (one ranged GET each, concurrently); known ones are copied."""
        self.refresh()
        _, shards = self.listing()
        current = sorted(k for segs in shards.values() for k in segs)
        loaded = self._load_manifest()
        old = loaded.entries
        if set(old) == set(current) and loaded.indexed and (self._manifest_keys or not current):
            return None
        missing = [k for k in current if k not in old]

        def tail(k: str) -> tuple[str, tuple[int, bytes] | None]:
            try:
                return k, self._tail(k)
            except Exception as e:  # compacted away since the listing
                if "NoSuchKey" in str(e) or isinstance(e, FileNotFoundError):
                    return k, None
                raise

        with ThreadPoolExecutor(max_workers=max(1, min(self.threads, len(missing) or 1))) as pool:
            got = {k: v for k, v in pool.map(tail, missing) if v is not None}
        base = len(self.prefix) + 1 if self.prefix else 0
        rows = [
            (k[base:], *((old[k].size, old[k].footer) if k in old else got[k]))
            for k in current
            if k in old or k in got
        ]
        index = {k[base:]: (e.mins, e.maxs) for k, e in old.items()}
        key = self._key(keys.response_manifest(new_segment_id()))
        self.backend.put(key, mf.manifest_bytes(rows, index), "application/vnd.apache.parquet")
        for k in self._manifest_keys:  # older manifests: a reader that still picks one falls back to footers
            with contextlib.suppress(WarehouseError, FileNotFoundError):
                self.backend.delete(k)
        self.refresh()
        return key

    # -- reading ---------------------------------------------------------------------------

    def _fresh(self, key: str) -> pa.Table | None:
        if key not in self._fresh_cache:
            try:
                self._fresh_cache[key] = pq.read_table(io.BytesIO(self.backend.get(key)))
            except WarehouseError:  # compacted away since the listing
                return None
            self.stats["fresh_read"] += 1
        return self._fresh_cache[key]

    def _arrow_s3(self) -> Any:
        """pyarrow's own S3 client (C++: ranged reads without the GIL), with the backend's credentials and endpoint."""
        if getattr(self, "_s3fs", None) is None:
            creds = self.backend.session.get_credentials()
            frozen = creds.get_frozen_credentials() if creds is not None else None
            opts: dict[str, Any] = {"region": self.backend.region}
            if frozen is not None:
                opts.update(
                    access_key=frozen.access_key, secret_key=frozen.secret_key, session_token=frozen.token
                )
            if self.backend.endpoint_url:
                u = urlparse(self.backend.endpoint_url)
                opts.update(endpoint_override=u.netloc + u.path.rstrip("/"), scheme=u.scheme)
            self._s3fs = pafs.S3FileSystem(**opts)
        return self._s3fs

    def _open(self, key: str, size: int | None = None, metadata: Any = None) -> pq.ParquetFile:
        if self.backend.kind == "s3":
            if os.environ.get("EVAL_SEGMENTS_BOTO_READS"):
                return pq.ParquetFile(S3Range(self.backend, key), pre_buffer=True, metadata=metadata)
            # (pyarrow's Python API takes no FileInfo here, so opening costs one HEAD even when the size is known;
            # the HEADs run concurrently over the lookup's workers)
            return pq.ParquetFile(
                self._arrow_s3().open_input_file(f"{self.backend.bucket}/{self.backend.object_key(key)}"),
                pre_buffer=True,
                metadata=metadata,
            )
        return pq.ParquetFile(self.backend.path(key), pre_buffer=True, metadata=metadata)

    def _read_compacted(self, key: str, wanted: list[str], known: mf.Entry | None = None) -> pa.Table:
        """Rows of ``wanted`` (sorted) in one compacted segment, reading only the row groups that may hold them.

        ``known``: the segment's manifest entry - then no footer is read (the manifest's is parsed)."""
        if known is not None:
            groups = known.groups(wanted)
            if not groups:
                return SCHEMA.empty_table()
        try:
            if (
                known is not None
                and self.backend.kind == "s3"
                and not os.environ.get("EVAL_SEGMENTS_BOTO_READS")
            ):
                md = known.metadata()  # only the wanted column chunks, neighbours merged into one ranged GET
                f = self._arrow_s3().open_input_file(f"{self.backend.bucket}/{self.backend.object_key(key)}")
                reader, gets = coalesced(f, known.size, md, groups, _READ_COLUMNS, self.hole)
                self.stats["gets"] += gets
                pf = pq.ParquetFile(reader, metadata=md)
            else:
                pf = self._open(key, *(known.size, known.metadata()) if known is not None else ())
        except (FileNotFoundError, OSError, WarehouseError) as e:
            if (
                "NoSuchKey" in str(e)
                or isinstance(e, FileNotFoundError)
                or "Not Found" in str(e)
                or "404" in str(e)
            ):
                return SCHEMA.empty_table()
            raise
        except Exception as e:  # botocore ClientError NoSuchKey: compacted away since the listing
            if "NoSuchKey" in str(e):
                return SCHEMA.empty_table()
            raise
        if known is None:
            self.stats["footers"] += 1
            groups = mf.row_groups(*mf.key_ranges(pf.metadata), wanted)
            if not groups:
                return SCHEMA.empty_table()
        self.stats["row_groups"] += len(groups)
        try:
            t = pf.read_row_groups(groups, columns=_READ_COLUMNS)
        except (FileNotFoundError, OSError) as e:  # compacted away since the listing
            if (
                isinstance(e, FileNotFoundError)
                or "NoSuchKey" in str(e)
                or "Not Found" in str(e)
                or "404" in str(e)
            ):
                return SCHEMA.empty_table()
            raise
        return t.filter(pc.is_in(t["cache_key"], value_set=pa.array(wanted, pa.string())))

    def get_many(self, wanted: Iterable[str]) -> dict[str, dict[str, Any]]:
        """The stored record of every key in ``wanted`` that some segment holds (one per key, :func:`prefer`)."""
        want = sorted(set(wanted))
        if not want:
            return {}
        fresh, shards = self.listing()
        out: dict[str, dict[str, Any]] = {}

        def take(tables: Iterable[pa.Table]) -> None:
            for t in tables:
                for raw in t.column("record").to_pylist():
                    rec = json.loads(raw)
                    if prefer(out.get(rec["cache_key"]), rec):
                        out[rec["cache_key"]] = rec

        # Fresh segments first (tonight's answers are there until compaction); the keys they hold
        # are not looked for in the compacted shards (a duplicate there would be an equally valid answer).
        value_set = pa.array(want, pa.string())
        todo = [k for k in fresh if k not in self._fresh_cache]
        if len(todo) > 1:  # fetch the new fresh segments concurrently (then cached)
            with ThreadPoolExecutor(max_workers=min(self.threads, len(todo))) as pool:
                list(pool.map(self._fresh, todo))
        take(
            t.filter(pc.is_in(t["cache_key"], value_set=value_set))
            for t in map(self._fresh, fresh)
            if t is not None and t.num_rows
        )
        by_shard: dict[str, list[str]] = defaultdict(list)
        for k in want:
            if k not in out:
                by_shard[shard_of(k)].append(k)
        segments = [(seg, by_shard[s]) for s in by_shard for seg in shards.get(s, ())]
        if segments:
            entries = self._load_manifest().entries
            jobs = [(seg, w, entries.get(seg)) for seg, w in segments]
            # coalesced reads (every segment in the manifest) are few and large: 8 workers keep the server busy
            # without 32 workers' buffers; footer reads are many small requests: self.threads workers
            workers = COALESCED_WORKERS if all(e is not None for _, _, e in jobs) else self.threads
            if self.backend.kind == "s3" and pa.io_thread_count() < workers:
                pa.set_io_thread_count(
                    workers
                )  # pyarrow's S3 reads run on its IO pool: as many as our workers
            with ThreadPoolExecutor(max_workers=min(workers, len(jobs))) as pool:
                take(pool.map(lambda job: self._read_compacted(*job), jobs))
        return out

    # -- compaction ------------------------------------------------------------------------

    def write_shard(self, shard: str, table: pa.Table) -> str:
        """Write one compacted segment of ``shard`` (``table`` sorted by key, one row per key)."""
        key = self._key(keys.response_shard_segment(shard, new_segment_id()))
        self.backend.put(key, table_bytes(table), "application/vnd.apache.parquet")
        return key

    def compact(self) -> dict[str, Any]:
        """Merge, per shard, its compacted segments and the fresh rows of its keys into one segment.

        Deletes only the segments it read, after their rows are in the new shard segments. Returns
        counts: ``fresh_in``, ``compacted_in``, ``rows_in``, ``rows_out`` (= distinct keys),
        ``shards_written``, ``deleted``, ``manifest_written`` (then a new manifest: :meth:`write_manifest`)."""
        self.refresh()
        fresh, shards = self.listing()
        fresh_tables = [t for t in (self._fresh(k) for k in fresh) if t is not None]
        fresh_all = pa.concat_tables(fresh_tables) if fresh_tables else SCHEMA.empty_table()
        fresh_shard = (
            pc.utf8_slice_codeunits(fresh_all["cache_key"], 0, SHARD_CHARS) if fresh_all.num_rows else None
        )
        touched = set(shards) | (set(fresh_shard.unique().to_pylist()) if fresh_shard is not None else set())
        report = {
            "fresh_in": len(fresh),
            "compacted_in": sum(len(v) for v in shards.values()),
            "rows_in": 0,
            "rows_out": 0,
            "shards_written": 0,
            "deleted": 0,
        }

        def one(shard: str) -> tuple[int, int, list[str]]:
            inputs = list(shards.get(shard, ()))
            if len(inputs) == 1 and (fresh_shard is None or not pc.any(pc.equal(fresh_shard, shard)).as_py()):
                return 0, 0, []  # already one segment and nothing new: leave it (idempotent, no rewrite)
            parts = [self.backend_read(k) for k in inputs]
            if fresh_shard is not None:
                parts.append(fresh_all.filter(pc.equal(fresh_shard, shard)))
            t = pa.concat_tables([p for p in parts if p is not None])
            merged = dedupe(t)
            self.write_shard(shard, merged)
            return t.num_rows, merged.num_rows, inputs

        with ThreadPoolExecutor(max_workers=min(self.threads, max(1, len(touched)))) as pool:
            results = list(pool.map(one, sorted(touched)))
        done_inputs = []
        for rows_in, rows_out, inputs in results:
            report["rows_in"] += rows_in
            report["rows_out"] += rows_out
            report["shards_written"] += 1 if rows_out else 0
            done_inputs += inputs
        for k in done_inputs + fresh:  # only now: every row is in a new shard segment
            self.backend.delete(k)
            report["deleted"] += 1
        self._fresh_cache.clear()
        report["manifest_written"] = int(
            self.write_manifest() is not None
        )  # 0: the newest manifest already covers every segment
        return report

    def backend_read(self, key: str) -> pa.Table | None:
        try:
            return pq.read_table(io.BytesIO(self.backend.get(key)), schema=SCHEMA)
        except WarehouseError:
            return None
