"""Read one day of production traffic logs (JSONL or Parquet) under a prefix.

Layout and row schema: see :mod:`eval_pipeline.monitoring.schema`.

Malformed input is never silently dropped and never stops the day: every bad line (invalid JSON,
schema violation, duplicate request id, unreadable file) becomes one ``{"file", "line", "error"}``
entry in the returned error list, and reading continues with the next line / file.
"""

from __future__ import annotations

import json
import os
import posixpath
from collections.abc import Iterator
from datetime import date as date_type
from typing import Any, Protocol

import pandas as pd
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
from pydantic import ValidationError

from eval_pipeline.monitoring.schema import TRAFFIC_COLUMNS, TrafficRecord
from eval_pipeline.storage import keys
from eval_pipeline.storage.location import Location

LOG_SUFFIXES = (".jsonl", ".json", ".parquet")


class KeyStore(Protocol):
    """What the reader needs of a warehouse (e.g. :class:`eval_pipeline.storage.Warehouse`)."""

    def list_keys(self, prefix: str = "") -> list[str]: ...
    def read_bytes(self, key: str) -> bytes: ...


class _Source:
    """Where log files live: a pyarrow filesystem (local / ``s3://`` URI) or a warehouse object."""

    def list(self, sub: str, recursive: bool) -> list[str]:  # keys relative to the prefix
        raise NotImplementedError

    def read(self, key: str) -> bytes:
        raise NotImplementedError

    def display(self, key: str) -> str:
        raise NotImplementedError


def _keep(name: str) -> bool:
    base = posixpath.basename(name)
    return name.endswith(LOG_SUFFIXES) and not base.startswith((".", "_"))


class _FsSource(_Source):
    def __init__(self, prefix: str, filesystem: Any = None):

        if filesystem is not None:
            self.fs, self.root, self.shown = (
                filesystem,
                Location.parse(prefix).without_scheme.rstrip("/"),
                prefix.rstrip("/"),
            )
        elif Location.parse(prefix).scheme:
            self.fs, path = pafs.FileSystem.from_uri(prefix)
            self.root, self.shown = path.rstrip("/"), prefix.rstrip("/")
        else:
            self.fs, self.root = pafs.LocalFileSystem(), os.path.abspath(prefix)
            self.shown = self.root

    def list(self, sub: str, recursive: bool) -> list[str]:

        root = posixpath.join(self.root, sub) if sub else self.root
        if self.fs.get_file_info(root).type != pafs.FileType.Directory:
            return []
        infos = self.fs.get_file_info(pafs.FileSelector(root, recursive=recursive))
        return sorted(
            i.path[len(self.root) :].lstrip("/")
            for i in infos
            if i.type == pafs.FileType.File and _keep(i.path)
        )

    def read(self, key: str) -> bytes:
        with self.fs.open_input_stream(posixpath.join(self.root, key)) as f:
            data: bytes = f.read()  # pyarrow ships no types
            return data

    def display(self, key: str) -> str:
        return posixpath.join(self.shown, key)


class _WarehouseSource(_Source):
    """Any object with ``list_keys(prefix)`` and ``read_bytes(key)`` (e.g. ``eval_pipeline.storage.Warehouse``)."""

    def __init__(self, warehouse: KeyStore, prefix: str):
        self.wh, self.prefix = warehouse, prefix.strip("/")

    def list(self, sub: str, recursive: bool) -> list[str]:
        base = "/".join(x for x in (self.prefix, sub) if x) + "/"
        keys = [k[len(base) :] for k in self.wh.list_keys(base if base != "/" else "")]
        keys = [k for k in keys if _keep(k) and (recursive or "/" not in k)]
        return sorted(posixpath.join(sub, k) if sub else k for k in keys)

    def read(self, key: str) -> bytes:
        return self.wh.read_bytes("/".join(x for x in (self.prefix, key) if x))

    def display(self, key: str) -> str:
        return self.wh.uri("/".join(x for x in (self.prefix, key) if x)) if hasattr(self.wh, "uri") else key


def _format_validation_error(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        loc = ".".join(str(x) for x in err.get("loc", ())) or "<row>"
        parts.append(f"{loc}: {err.get('msg')}")
    return "; ".join(parts) + " (fix the producer or the line; schema: eval_pipeline.monitoring.schema)"


def _iter_jsonl(data: bytes) -> Iterator[tuple[int, TrafficRecord | None, str | None]]:
    for lineno, raw in enumerate(data.split(b"\n"), start=1):
        if not raw.strip():
            continue
        try:
            yield lineno, TrafficRecord.model_validate_json(raw), None
        except ValidationError as exc:
            kinds = {e.get("type") for e in exc.errors()}
            if kinds & {"json_invalid", "json_type"}:
                yield lineno, None, f"invalid JSON: {exc.errors()[0].get('msg')} (one JSON object per line)"
            else:
                yield lineno, None, _format_validation_error(exc)


def _iter_parquet(data: bytes) -> Iterator[tuple[int, TrafficRecord | None, str | None]]:

    table = pq.read_table(pa.BufferReader(data))
    for rowno, obj in enumerate(table.to_pylist(), start=1):
        try:
            yield rowno, TrafficRecord.model_validate(obj), None
        except ValidationError as exc:
            yield rowno, None, _format_validation_error(exc)


def read_traffic_day(
    prefix: str,
    day: str | date_type,
    filesystem: Any = None,
    warehouse: KeyStore | None = None,
) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """Read every valid interaction of ``day`` under ``prefix``.

    If ``<prefix>/date=YYYY-MM-DD/`` exists, all log files below it are read (the partition folder
    decides the day). Otherwise the log files directly below ``prefix`` are read and rows are kept
    when their UTC timestamp falls on ``day``.

    ``prefix`` is a local folder or a ``s3://`` URI (pyarrow filesystem; pass ``filesystem=`` for a
    configured one), or - with ``warehouse=`` (anything with ``list_keys``/``read_bytes``, e.g.
    :class:`eval_pipeline.storage.Warehouse`) - a key prefix inside that warehouse.

    Returns ``(frame, errors)``: ``frame`` has ``TRAFFIC_COLUMNS`` (raw text included: keep in
    memory, redact before storing); ``errors`` lists every malformed line as
    ``{"file": <path>, "line": <1-based line or Parquet row, None for whole-file errors>, "error": <why + fix>}``.
    A later line repeating an already-seen ``request_id`` is reported as an error and skipped.
    """
    day_str = day.isoformat() if isinstance(day, date_type) else str(day)
    date_type.fromisoformat(day_str)  # raises ValueError naming the bad value
    src: _Source = (
        _WarehouseSource(warehouse, prefix) if warehouse is not None else _FsSource(prefix, filesystem)
    )
    files = src.list(keys.traffic_day(day_str), recursive=True)
    filter_by_timestamp = False
    if not files:
        files = src.list("", recursive=False)
        filter_by_timestamp = True

    cols: dict[str, list[Any]] = {c: [] for c in TRAFFIC_COLUMNS}
    errors: list[dict[str, Any]] = []
    seen: dict[str, tuple[str, int]] = {}
    for key in files:
        display = src.display(key)
        reader = _iter_parquet if key.endswith(".parquet") else _iter_jsonl
        try:
            for lineno, rec, err in reader(src.read(key)):
                if err is not None:
                    errors.append({"file": display, "line": lineno, "error": err})
                    continue
                assert rec is not None  # a reader yields a record or an error
                row = rec.to_row()
                if filter_by_timestamp and row["date"] != day_str:
                    continue
                first = seen.get(rec.request_id)
                if first is not None:
                    errors.append(
                        {
                            "file": display,
                            "line": lineno,
                            "error": f"duplicate request_id {rec.request_id!r} (first at {first[0]}:{first[1]}); "
                            "the later copy is skipped - deduplicate the producer",
                        }
                    )
                    continue
                seen[rec.request_id] = (display, lineno)
                row["source_file"] = display
                row["source_line"] = lineno
                for c in TRAFFIC_COLUMNS:  # column lists: far less memory than a list of dicts
                    cols[c].append(row[c])
        except Exception as exc:  # unreadable file: report, keep going with the next file
            errors.append(
                {"file": display, "line": None, "error": f"unreadable log file: {type(exc).__name__}: {exc}"}
            )
    frame = pd.DataFrame(cols, columns=TRAFFIC_COLUMNS)
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True)
    return frame, errors


def errors_frame(errors: list[dict[str, Any]]) -> pd.DataFrame:
    """The reader's error list as a DataFrame (``file``, ``line``, ``error``), e.g. for an asset check."""
    return pd.DataFrame(errors, columns=["file", "line", "error"])


def malformed_summary(errors: list[dict[str, Any]]) -> dict[str, Any]:
    """Counts of malformed lines overall and per file (for asset metadata / logs)."""
    per_file: dict[str, int] = {}
    for e in errors:
        per_file[e["file"]] = per_file.get(e["file"], 0) + 1
    return {"n_malformed": len(errors), "per_file": per_file}


def write_jsonl(path: str, records: list[dict[str, Any]]) -> None:
    """Write records as JSONL (used by the synthetic generator and tests)."""
    with open(path, "w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
