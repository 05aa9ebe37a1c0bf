"""Build the longitudinal history: every scores / responses Parquet file -> aggregate tables.

In: a DuckDB connection that can read the warehouse and its
:class:`~eval_pipeline.history.sources.HistorySources`. Out: ``score_history`` /
``ops_history`` / ``failure_modes`` as per-date Parquet parts, ``<table>.parquet`` files and a
DuckDB database file, described by a :class:`HistoryRefresh`. Reading them back (and one run's
scores, the regression report) is :mod:`eval_pipeline.history.runs`.

I/O only; the SQL lives in :mod:`eval_pipeline.history.sql`. Functions take a
DuckDB connection that can already read the warehouse (a local folder, or
``s3://`` with httpfs and credentials configured, e.g. by the ``Warehouse``)
and plain glob strings, so the same code serves tests (``tmp_path``) and S3.

The refresh is incremental, per date: the source files are listed once and
grouped by their ``date=<d>`` partition; a manifest (``_manifest.parquet``)
remembers the file set (names, sizes, modification times) each date's
aggregates were built from, so only new or changed dates are re-aggregated, one
date at a time (memory bounded by one date's partitions, not by the history),
into ``<parts>/<table>/date=<d>.parquet``. Dates whose files are gone are
dropped. The database is then built from those per-date aggregates (small).

Writes are single-writer and atomic: :func:`refresh_history` holds a file lock
next to the database file, builds a *new* database file beside it and swaps it
in with ``os.replace``. Readers (``read_only=True``) therefore see either the
old or the new history, never a half-written one, and never hit DuckDB's
"Could not set lock on file" (nobody writes the live file in place).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd
from filelock import FileLock

from eval_pipeline.history import sql as q
from eval_pipeline.history.sources import HistorySources, has_files, scalar
from eval_pipeline.storage import keys
from eval_pipeline.storage.location import Location
from eval_pipeline.storage.warehouse import Warehouse

HISTORY_TABLES = ("score_history", "ops_history", "failure_modes")


@dataclass
class HistoryRefresh:
    """What :func:`refresh_history` wrote.

    ``dates_aggregated`` were (re-)aggregated from their source files this time (new or changed
    file set); ``dates_reused`` kept their per-date aggregates from an earlier refresh;
    ``dates_removed`` had no source files any more and were dropped.
    """

    db_path: str
    parquet_paths: dict[str, str]
    row_counts: dict[str, int]
    seconds: float
    sources: HistorySources
    empty: bool = field(default=False)
    dates_aggregated: list[str] = field(default_factory=list)
    dates_reused: list[str] = field(default_factory=list)
    dates_removed: list[str] = field(default_factory=list)
    parts_dir: str | None = None


def history_selects(con: duckdb.DuckDBPyConnection, sources: HistorySources) -> dict[str, str]:
    """The SELECT of each history table over *all* source files (zero-row SELECTs for absent sources).

    :func:`refresh_history` no longer runs these (it aggregates one date at a time, see
    :func:`date_selects`); kept for ad hoc use and as the reference a full rebuild must equal.
    """
    scores = q.parquet_source(sources.scores_glob) if has_files(con, sources.scores_glob) else None
    responses_glob = sources.responses_glob
    responses = (
        q.parquet_source(responses_glob)
        if responses_glob is not None and has_files(con, responses_glob)
        else None
    )
    return _selects(scores, responses)


def _selects(scores: str | None, responses: str | None) -> dict[str, str]:
    return {
        "score_history": q.score_history_sql(scores)
        if scores
        else q.empty_table_sql(q.SCORE_HISTORY_COLUMNS, q.SCORE_HISTORY_TYPES),
        "ops_history": q.ops_history_sql(responses)
        if responses
        else q.empty_table_sql(q.OPS_HISTORY_COLUMNS, q.OPS_HISTORY_TYPES),
        "failure_modes": q.failure_modes_sql(scores, responses),
    }


# ---------------------------------------------------------------------------
# Incremental refresh: source files grouped by date, a manifest of what each date's
# aggregates were built from, per-date Parquet, then the (small) database from those.
# ---------------------------------------------------------------------------

#: Group of source files whose path has no ``date=<d>`` segment (custom globs).
NO_DATE = "__nodate__"
MANIFEST_NAME = keys.HISTORY_MANIFEST
#: Sort keys of each table in the database (the same order a full rebuild gives).
_ORDER = {
    "score_history": "date, model_version, suite, eval_set, family, metric, segment",
    "ops_history": "date, model_version, suite, eval_set",
    "failure_modes": "date, model_version, suite, kind, n DESC, label",
}


def _sql_version() -> str:
    """Fingerprint of the aggregation SQL: a change re-aggregates every date."""
    text = "".join(_selects("read_parquet(['x'])", "read_parquet(['y'])").values())
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def list_source_files(con: duckdb.DuckDBPyConnection, sources: HistorySources) -> pd.DataFrame:
    """Every scores / responses file with its date and a cheap change fingerprint (no file is read).

    One listing per glob (on S3 a LIST; ``read_blob`` without ``content`` only reports
    ``size`` and ``last_modified``). Local files add the nanosecond mtime. Columns:
    ``source`` (scores | responses), ``file``, ``date`` (:data:`NO_DATE` if the path has none),
    ``stamp`` (size/mtime text).
    """
    frames = []
    for source, glob in (("scores", sources.scores_glob), ("responses", sources.responses_glob)):
        if not has_files(con, glob):
            continue
        df = con.execute(
            "SELECT filename AS file, size, CAST(last_modified AS VARCHAR) AS modified, "
            "coalesce(nullif(regexp_extract(filename, 'date=([^/]+)', 1), ''), ?) AS date "
            "FROM read_blob(?) ORDER BY filename",
            [NO_DATE, glob],
        ).df()
        df["source"] = source
        df["stamp"] = [f"{s}:{m}:{_mtime_ns(f)}" for f, s, m in zip(df["file"], df["size"], df["modified"])]
        frames.append(df[["source", "file", "date", "stamp"]])
    if not frames:
        return pd.DataFrame(columns=["source", "file", "date", "stamp"])
    out = pd.concat(frames, ignore_index=True)
    if sources.complete_runs_only:
        out = _completed_runs_only(con, sources, out)
    return out


def _completed_runs_only(
    con: duckdb.DuckDBPyConnection, sources: HistorySources, files: pd.DataFrame
) -> pd.DataFrame:
    """``files`` without the partitions (date, model version) that have no run artifact (run.json)."""
    done: set[tuple[str, str]] = set()
    if has_files(con, sources.runs_glob):
        rows = con.execute(
            "SELECT regexp_extract(file, 'date=([^/]+)', 1), regexp_extract(file, 'model_version=([^/]+)', 1) "
            "FROM glob(?)",
            [sources.runs_glob],
        ).fetchall()
        done = {(str(d), str(m)) for d, m in rows}
    mv = files["file"].str.extract(r"model_version=([^/]+)", expand=False)
    keep = [
        m != m or (str(d), str(m)) in done for d, m in zip(files["date"], mv)
    ]  # m != m: NaN, no partition
    return files[keep].reset_index(drop=True)


def _mtime_ns(path: str) -> int | str:
    if Location.parse(path).scheme:
        return ""
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return ""


def date_fingerprints(files: pd.DataFrame) -> dict[str, str]:
    """date -> hash of (aggregation SQL, sorted (source, file, size/mtime) of that date's files)."""
    version = _sql_version()
    out = {}
    for date, g in files.groupby("date", sort=True):
        rows = sorted(zip(g["source"], g["file"], g["stamp"]))
        out[str(date)] = hashlib.sha256(json.dumps([version, rows]).encode()).hexdigest()
    return out


def _part_path(parts_dir: str, table: str, date: str) -> str:
    return f"{parts_dir}/{keys.history_part(table, date)}"


def _read_manifest(con: duckdb.DuckDBPyConnection, parts_dir: str) -> dict[str, str]:
    """date -> fingerprint of the per-date aggregates already written (empty if none yet)."""
    path = f"{parts_dir}/{MANIFEST_NAME}"
    if not has_files(con, path):
        return {}
    try:
        rows = con.execute(f"SELECT date, fingerprint FROM read_parquet({q._quote(path)})").fetchall()
    except duckdb.Error:
        return {}  # unreadable manifest: rebuild every date
    return {str(d): str(f) for d, f in rows}


def _existing_parts(con: duckdb.DuckDBPyConnection, parts_dir: str) -> set[tuple[str, str]]:
    """(table, date) of the per-date part files that exist (one listing)."""
    glob = f"{parts_dir}/{keys.history_parts_glob()}"
    if not has_files(con, glob):
        return set()
    rows = con.execute(
        "SELECT regexp_extract(file, '([^/]+)/date=([^/]+)\\.parquet$', ['t', 'd']) FROM glob(?)", [glob]
    ).fetchall()
    return {(r[0]["t"], r[0]["d"]) for r in rows}


def _write_manifest(con: duckdb.DuckDBPyConnection, parts_dir: str, manifest: dict[str, str]) -> None:
    frame = pd.DataFrame({"date": list(manifest), "fingerprint": list(manifest.values())}, dtype="string")
    name = f"manifest_{uuid.uuid4().hex[:8]}"
    con.register(name, frame)
    try:
        _write_parquet(con, f"(SELECT * FROM {name} ORDER BY date)", f"{parts_dir}/{MANIFEST_NAME}")
    finally:
        con.unregister(name)


def _aggregate_date(con: duckdb.DuckDBPyConnection, files: pd.DataFrame, parts_dir: str, date: str) -> None:
    """Aggregate one date's source files with the history SQL; one Parquet file per table."""
    scores = files.loc[files["source"] == "scores", "file"].tolist()
    responses = files.loc[files["source"] == "responses", "file"].tolist()
    selects = _selects(
        q.parquet_source(scores) if scores else None, q.parquet_source(responses) if responses else None
    )
    for table, select in selects.items():
        _write_parquet(con, f"({select})", _part_path(parts_dir, table, date))


def _drop_date(con: duckdb.DuckDBPyConnection, parts_dir: str, date: str) -> None:
    """Remove a date whose partitions are gone: delete its files (local) or overwrite them empty (S3)."""
    for table in HISTORY_TABLES:
        path = _part_path(parts_dir, table, date)
        if Location.parse(path).scheme:
            _write_parquet(con, f"({_selects(None, None)[table]})", path)
        elif os.path.exists(path):
            os.remove(path)


def default_parts_dir(db_path: str | os.PathLike[str]) -> str:
    """Local folder of per-date aggregates when no ``parquet_dir`` is given: ``<db>.parts``."""
    return f"{db_path}.parts"


def refresh_history(
    con: duckdb.DuckDBPyConnection,
    sources: HistorySources,
    *,
    db_path: str | os.PathLike[str],
    parquet_dir: str | None = None,
    lock_timeout_s: float = 600.0,
) -> HistoryRefresh:
    """Bring the history up to date, re-aggregating only the dates whose source files changed.

    1. List the scores / responses files once (:func:`list_source_files`) and fingerprint each
       date's file set (:func:`date_fingerprints`).
    2. Compare with the manifest ``<parts>/_manifest.parquet``; aggregate each new or changed
       date alone (memory bounded by one date's partitions) into
       ``<parts>/<table>/date=<d>.parquet``; drop dates whose files are gone.
    3. Write the manifest, then build the database from the per-date aggregates (small) in a
       temp file swapped in with ``os.replace``; also ``<parquet_dir>/<table>.parquet``.

    Args:
        con: DuckDB connection able to read the sources (httpfs + credentials for ``s3://``).
        sources: globs of the warehouse tables (:meth:`HistorySources.for_root`).
        db_path: local DuckDB database file for ad hoc queries (replaced atomically).
        parquet_dir: where ``<table>.parquet`` and the per-date parts go (local folder or
            ``s3://``); ``None``: no table files, parts in :func:`default_parts_dir`.
        lock_timeout_s: how long to wait for another writer before ``filelock.Timeout``.

    Empty or missing sources give empty tables with the documented columns.
    Idempotent: the same files always give the same tables (equal to a full rebuild).
    """
    t0 = time.perf_counter()
    db_path = str(db_path)
    Path(db_path).parent.mkdir(parents=True, exist_ok=True)
    parts_dir = str(parquet_dir).rstrip("/") if parquet_dir is not None else default_parts_dir(db_path)
    alias = f"hist_new_{uuid.uuid4().hex[:8]}"
    tmp_db = f"{db_path}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    counts: dict[str, int] = {}
    parquet_paths: dict[str, str] = {}
    # A scan never re-reads a block: DuckDB's external file cache would only keep every
    # scanned Parquet block in the buffer pool (RSS grows with history). Off for the refresh.
    cache = scalar(con, "SELECT current_setting('enable_external_file_cache')")
    with FileLock(f"{db_path}.lock", timeout=lock_timeout_s):
        try:
            con.execute("SET enable_external_file_cache = false")
            try:
                files = list_source_files(con, sources)
                current = date_fingerprints(files)
                previous = _read_manifest(con, parts_dir)
                present = _existing_parts(con, parts_dir)  # a reused date needs all its part files
                previous = {
                    d: f for d, f in previous.items() if all((t, d) in present for t in HISTORY_TABLES)
                }
                changed = [d for d in current if previous.get(d) != current[d]]
                reused = [d for d in current if previous.get(d) == current[d]]
                removed = sorted(d for d in previous if d not in current)
                by_date = dict(tuple(files.groupby("date", sort=True))) if len(files) else {}
                for date in changed:
                    _aggregate_date(con, by_date[date], parts_dir, date)
                for date in removed:
                    _drop_date(con, parts_dir, date)
                if changed or removed or not previous:
                    _write_manifest(con, parts_dir, current)
                con.execute(f"ATTACH {q._quote(tmp_db)} AS {alias}")
                try:
                    for table in HISTORY_TABLES:
                        parts = [_part_path(parts_dir, table, d) for d in sorted(current)]
                        select = (
                            (
                                f"SELECT * FROM read_parquet({_list(parts)}, union_by_name=true) "
                                f"ORDER BY {_ORDER[table]}"
                            )
                            if parts
                            else _selects(None, None)[table]
                        )
                        con.execute(f"CREATE TABLE {alias}.{table} AS {select}")
                        counts[table] = scalar(con, f"SELECT count(*) FROM {alias}.{table}")
                    if parquet_dir is not None:
                        for table in HISTORY_TABLES:
                            dest = f"{parts_dir}/{keys.history_table(table)}"
                            _write_parquet(con, f"{alias}.{table}", dest)
                            parquet_paths[table] = dest
                    con.execute(f"CHECKPOINT {alias}")
                finally:
                    con.execute(f"DETACH {alias}")
            finally:
                con.execute(f"SET enable_external_file_cache = {'true' if cache else 'false'}")
            os.replace(tmp_db, db_path)
            if os.path.exists(tmp_db + ".wal"):
                os.remove(tmp_db + ".wal")
        except BaseException:  # e.g. a full disk: leave no temp database behind
            for leftover in (tmp_db, tmp_db + ".wal"):
                with contextlib.suppress(OSError):
                    os.remove(leftover)
            raise
    return HistoryRefresh(
        db_path=db_path,
        parquet_paths=parquet_paths,
        row_counts=counts,
        seconds=time.perf_counter() - t0,
        sources=sources,
        empty=counts.get("score_history", 0) == 0,
        dates_aggregated=changed,
        dates_reused=reused,
        dates_removed=removed,
        parts_dir=parts_dir,
    )


def _list(paths: list[str]) -> str:
    return "[" + ", ".join(q._quote(p) for p in paths) + "]"


def _write_parquet(con: duckdb.DuckDBPyConnection, relation: str, dest: str) -> None:
    """COPY a table to one Parquet file; local files are written to a temp name and renamed in."""
    if Location.parse(dest).scheme:
        con.execute(f"COPY (SELECT * FROM {relation}) TO {q._quote(dest)} (FORMAT parquet)")
        return
    Path(dest).parent.mkdir(parents=True, exist_ok=True)
    tmp = f"{dest}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        con.execute(f"COPY (SELECT * FROM {relation}) TO {q._quote(tmp)} (FORMAT parquet)")
        os.replace(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def refresh_warehouse_history(
    warehouse: Warehouse,
    *,
    db_path: str | os.PathLike[str],
    parquet_prefix: str = keys.HISTORY_AGGREGATES,
    threads: int | None = None,
    memory_limit: str | None = None,
) -> HistoryRefresh:
    """:func:`refresh_history` for a ``Warehouse``: reads its scores / responses / runs, writes
    ``<warehouse>/<parquet_prefix>/<table>.parquet`` and the local DuckDB file ``db_path``."""
    con = warehouse.connect_duckdb()
    try:
        if threads:
            con.execute(f"SET threads = {int(threads)}")
        if memory_limit:
            con.execute(f"SET memory_limit = {q._quote(memory_limit)}")
        return refresh_history(
            con,
            HistorySources.for_warehouse(warehouse),
            db_path=db_path,
            parquet_dir=warehouse.uri(parquet_prefix).rstrip("/"),
        )
    finally:
        con.close()
