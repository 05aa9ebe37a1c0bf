"""The manifest of a response store's compacted segments: a lookup index that costs one GET.

In: per compacted segment, its key, object size and Parquet footer (``segments.py`` reads them when
compaction ends). Out: manifest Parquet bytes, and back from them a :class:`Manifest` that says, for a
segment and the keys wanted, which row groups may hold them, and gives the segment's footer to read
those row groups without fetching it.

Columns: ``segment`` (key relative to the store prefix), ``size``, ``footer`` (the footer as a minimal
Parquet file), ``rg_min`` / ``rg_max`` (per row group, the min / max ``cache_key``: the key index).
The key index is what a lookup consults; a footer is parsed only for a segment that holds a wanted
key, in the worker that reads it, and dropped after: parsed footers of 5M answers (256 segments x
~150 row groups) take ~240 MB, the index ~10 MB. A manifest written before the index existed (no
``rg_min``) is still read (its index is derived from the footers, one at a time) and counts as
outdated, so the next ``write_manifest`` replaces it.
"""

from __future__ import annotations

import io
from bisect import bisect_right
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

SCHEMA = pa.schema(
    [
        ("segment", pa.string()),
        ("size", pa.int64()),
        ("footer", pa.binary()),
        ("rg_min", pa.list_(pa.string())),
        ("rg_max", pa.list_(pa.string())),
    ]
)


def key_ranges(md: Any) -> tuple[list[str], list[str]]:
    """(min keys, max keys) of every row group of a segment's footer ``md`` (``cache_key`` is column 0)."""
    mins, maxs = [], []
    for i in range(md.num_row_groups):
        st = md.row_group(i).column(0).statistics
        mins.append(st.min if st is not None and st.has_min_max else "")
        maxs.append(st.max if st is not None and st.has_min_max else "\uffff")
    return mins, maxs


def row_groups(mins: list[str], maxs: list[str], wanted: Iterable[str]) -> list[int]:
    """Row groups (sorted by key, ranges ``mins``/``maxs``) whose key range may hold one of ``wanted``."""
    return sorted({g for k in wanted if (g := bisect_right(mins, k) - 1) >= 0 and k <= maxs[g]})


def parse_footer(footer: bytes) -> Any:
    """A footer stored as a minimal Parquet file -> pyarrow FileMetaData."""
    return pq.read_metadata(pa.BufferReader(footer))


@dataclass(frozen=True)
class Entry:
    """One compacted segment as the manifest knows it."""

    size: int
    footer: bytes
    mins: list[str]
    maxs: list[str]

    def groups(self, wanted: Iterable[str]) -> list[int]:
        return row_groups(self.mins, self.maxs, wanted)

    def metadata(self) -> Any:
        return parse_footer(self.footer)


@dataclass(frozen=True)
class Manifest:
    """{segment key: :class:`Entry`}; ``indexed``: written with the key index (else outdated)."""

    entries: dict[str, Entry]
    indexed: bool = True


def manifest_bytes(
    rows: list[tuple[str, int, bytes]], index: dict[str, tuple[list[str], list[str]]]
) -> bytes:
    """Manifest Parquet bytes of ``rows`` (relative segment key, size, footer); ``index``: the key
    ranges already known by relative key (the others are derived from the footer)."""
    mins, maxs = [], []
    for rel, _, footer in rows:
        lo, hi = index.get(rel) or key_ranges(parse_footer(footer))
        mins.append(lo)
        maxs.append(hi)
    table = pa.table(
        {
            "segment": [r for r, _, _ in rows],
            "size": [s for _, s, _ in rows],
            "footer": [f for _, _, f in rows],
            "rg_min": mins,
            "rg_max": maxs,
        },
        schema=SCHEMA,
    )
    buf = io.BytesIO()
    # no dictionary (every value is unique) and small row groups: reading a 5M-answer store's manifest
    # (7 MB) then takes ~30 MB at its peak instead of ~160 MB
    pq.write_table(table, buf, compression="zstd", use_dictionary=False, row_group_size=16)
    return buf.getvalue()


def read_manifest(data: bytes, key_of: Callable[[str], str]) -> Manifest:
    """A manifest from its bytes; ``key_of`` maps a relative segment key to a backend key."""
    t = pq.read_table(pa.BufferReader(data), use_threads=False)
    indexed = "rg_min" in t.column_names
    segs, sizes, footers = t["segment"].to_pylist(), t["size"].to_pylist(), t["footer"].to_pylist()
    ranges: Iterable[tuple[Any, Any]]
    if indexed:
        ranges = zip(t["rg_min"].to_pylist(), t["rg_max"].to_pylist())
    else:  # written before the key index: derive it, one parsed footer at a time
        ranges = (key_ranges(parse_footer(f)) for f in footers)
    entries = {
        key_of(rel): Entry(size, footer, lo, hi)
        for rel, size, footer, (lo, hi) in zip(segs, sizes, footers, ranges)
    }
    return Manifest(entries, indexed)
