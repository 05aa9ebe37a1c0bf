"""The file format of a response-store segment, apart from where segments are kept.

In: store records (dicts with a ``cache_key``, ``provenance``, ``stored_at``). Out: a segment
table (:data:`SCHEMA`: ``cache_key``, ``provenance``, ``stored_at`` and ``record``, the whole store
record as JSON; sorted by key) and its Parquet bytes (zstd, row groups of :data:`ROW_GROUP` rows,
min/max statistics on ``cache_key`` only); the shard of a key; new segment names; which of two
answers for one key is served (:func:`prefer`, :func:`dedupe`: live over synthetic, then the
earliest stored). Used by :mod:`.segments` (the store) and its benchmarks.
"""

from __future__ import annotations

import io
import json
import os
import time
import uuid
from collections.abc import Iterable
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

SHARD_CHARS = 2  # shard = first 2 hex characters of the key: 256 shards
ROW_GROUP = 128  # rows per row group of a compacted shard (the unit a lookup reads)
SCHEMA = pa.schema(
    [
        ("cache_key", pa.string()),
        ("provenance", pa.string()),
        ("stored_at", pa.float64()),
        ("record", pa.string()),
    ]
)
_SYNTHETIC = "synthetic"


def new_segment_id() -> str:
    """A name no other writer can pick: UTC time, pid, random."""
    return f"{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{os.getpid()}-{uuid.uuid4().hex[:12]}"


def shard_of(key: str) -> str:
    return key[:SHARD_CHARS]


def prefer(old: dict[str, Any] | None, new: dict[str, Any]) -> bool:
    """Whether ``new`` should replace ``old`` for the same key: live over synthetic, then earliest stored."""
    if old is None:
        return True
    o_syn, n_syn = old.get("provenance") == _SYNTHETIC, new.get("provenance") == _SYNTHETIC
    if o_syn != n_syn:
        return o_syn
    return float(new.get("stored_at") or 0.0) < float(old.get("stored_at") or 0.0)


def records_table(records: Iterable[dict[str, Any]]) -> pa.Table:
    """Records -> a segment table sorted by key (the record itself as JSON)."""
    rows = sorted(records, key=lambda r: r["cache_key"])
    return pa.table(
        {
            "cache_key": [r["cache_key"] for r in rows],
            "provenance": [r.get("provenance") for r in rows],
            "stored_at": [float(r.get("stored_at") or 0.0) for r in rows],
            "record": [json.dumps(r, ensure_ascii=False, separators=(",", ":"), default=str) for r in rows],
        },
        schema=SCHEMA,
    )


def table_bytes(table: pa.Table) -> bytes:
    """A segment table as Parquet bytes: zstd, row groups of ROW_GROUP, key statistics only."""
    buf = io.BytesIO()
    pq.write_table(
        table,
        buf,
        row_group_size=ROW_GROUP,
        compression="zstd",
        write_statistics=["cache_key"],
        use_dictionary=["provenance"],
    )
    return buf.getvalue()


def dedupe(t: pa.Table) -> pa.Table:
    """One row per key, sorted by key: a non-synthetic row over a synthetic one, then the earliest stored."""
    if t.num_rows == 0:
        return t
    syn = pc.fill_null(pc.equal(t["provenance"], _SYNTHETIC), False)
    t = t.append_column("_syn", syn)
    t = t.sort_by([("cache_key", "ascending"), ("_syn", "ascending"), ("stored_at", "ascending")])
    k = t["cache_key"].combine_chunks()
    keep = pc.not_equal(k, pa.concat_arrays([pa.array([None], pa.string()), k.slice(0, len(k) - 1)]))
    keep = pc.fill_null(keep, True)
    return t.filter(keep).drop_columns(["_syn"])
