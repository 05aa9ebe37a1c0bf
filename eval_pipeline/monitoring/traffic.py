"""Read one day of production traffic logs (JSONL or Parquet) under a prefix.

Layout and row schema: see :mod:`eval_pipeline.monitoring.schema`.

Malformed input is never silently dropped and never stops the day: every bad line (invalid JSON,
schema violation, duplicate request id, unreadable file) becomes one ``{"file", "line", "error"}``
entry in the returned error list, and reading continues with the next line / file.
"""
from __future__ import annotations

import json
import posixpath
from dataclasses import dataclass
from datetime import date as date_type
from typing import Any, Iterator

import pandas as pd
from pydantic import ValidationError

from .schema import TRAFFIC_COLUMNS, TrafficRecord

LOG_SUFFIXES = (".jsonl", ".json", ".parquet")


@dataclass
class _Source:
    fs: Any  # pyarrow.fs.FileSystem
    root: str  # path inside fs
    display: str  # what users see in error reports


def _resolve(prefix: str, filesystem: Any = None) -> _Source:
    """Turn ``prefix`` (local path, ``file://`` or ``s3://`` URI) into a pyarrow filesystem + path."""
    import pyarrow.fs as pafs

    if filesystem is not None:
        return _Source(filesystem, prefix.split("://", 1)[-1].rstrip("/"), prefix.rstrip("/"))
    if "://" in prefix:
        fs, path = pafs.FileSystem.from_uri(prefix)
        return _Source(fs, path.rstrip("/"), prefix.rstrip("/"))
    import os

    return _Source(pafs.LocalFileSystem(), os.path.abspath(prefix), os.path.abspath(prefix))


def _list_files(src: _Source, root: str, recursive: bool) -> list[str]:
    import pyarrow.fs as pafs

    info = src.fs.get_file_info(root)
    if info.type != pafs.FileType.Directory:
        return []
    infos = src.fs.get_file_info(pafs.FileSelector(root, recursive=recursive))
    return sorted(
        i.path for i in infos
        if i.type == pafs.FileType.File and i.path.endswith(LOG_SUFFIXES)
        and not posixpath.basename(i.path).startswith((".", "_"))
    )


def _format_validation_error(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        loc = ".".join(str(x) for x in err.get("loc", ())) or "<row>"
        parts.append(f"{loc}: {err.get('msg')}")
    return "; ".join(parts) + " (fix the producer or the line; schema: eval_pipeline.monitoring.schema)"


def _iter_jsonl(src: _Source, path: str) -> Iterator[tuple[int, TrafficRecord | None, str | None]]:
    with src.fs.open_input_stream(path) as f:
        data = f.read()
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


def _iter_parquet(src: _Source, path: str) -> Iterator[tuple[int, TrafficRecord | None, str | None]]:
    import pyarrow.parquet as pq

    with src.fs.open_input_file(path) as f:
        table = pq.read_table(f)
    for rowno, obj in enumerate(table.to_pylist(), start=1):
        try:
            yield rowno, TrafficRecord.model_validate(obj), None
        except ValidationError as exc:
            yield rowno, None, _format_validation_error(exc)


def read_traffic_day(
    prefix: str,
    day: str | date_type,
    filesystem: Any = None,
) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """Read every valid interaction of ``day`` under ``prefix``.

    If ``<prefix>/date=YYYY-MM-DD/`` exists, all log files below it are read (the partition folder
    decides the day). Otherwise the log files directly below ``prefix`` are read and rows are kept
    when their UTC timestamp falls on ``day``.

    Returns ``(frame, errors)``: ``frame`` has ``TRAFFIC_COLUMNS`` (raw text included: keep in
    memory, redact before storing); ``errors`` lists every malformed line as
    ``{"file": <path>, "line": <1-based line or Parquet row, None for whole-file errors>, "error": <why + fix>}``.
    A later line repeating an already-seen ``request_id`` is reported as an error and skipped.
    """
    day_str = day.isoformat() if isinstance(day, date_type) else str(day)
    date_type.fromisoformat(day_str)  # raises ValueError naming the bad value
    src = _resolve(prefix, filesystem)
    part = posixpath.join(src.root, f"date={day_str}")
    files = _list_files(src, part, recursive=True)
    filter_by_timestamp = False
    if not files:
        files = _list_files(src, src.root, recursive=False)
        filter_by_timestamp = True

    cols: dict[str, list[Any]] = {c: [] for c in TRAFFIC_COLUMNS}
    errors: list[dict[str, Any]] = []
    seen: dict[str, tuple[str, int]] = {}
    for path in files:
        display = path if src.display == src.root else src.display + path[len(src.root):]
        reader = _iter_parquet if path.endswith(".parquet") else _iter_jsonl
        try:
            for lineno, rec, err in reader(src, path):
                if err is not None:
                    errors.append({"file": display, "line": lineno, "error": err})
                    continue
                row = rec.to_row()
                if filter_by_timestamp and row["date"] != day_str:
                    continue
                first = seen.get(rec.request_id)
                if first is not None:
                    errors.append({
                        "file": display, "line": lineno,
                        "error": f"duplicate request_id {rec.request_id!r} (first at {first[0]}:{first[1]}); "
                                 "the later copy is skipped - deduplicate the producer",
                    })
                    continue
                seen[rec.request_id] = (display, lineno)
                row["source_file"] = display
                row["source_line"] = lineno
                for c in TRAFFIC_COLUMNS:  # column lists: far less memory than a list of dicts
                    cols[c].append(row[c])
        except Exception as exc:  # unreadable file: report, keep going with the next file
            errors.append({"file": display, "line": None,
                           "error": f"unreadable log file: {type(exc).__name__}: {exc}"})
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
