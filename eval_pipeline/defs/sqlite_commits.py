"""Cheap commits for the local SQLite Dagster instance of a CLI process, durable when the command ends.

In: the ``DAGSTER_HOME`` folder of the instance the CLI (``eval-pipeline run``, the demo) opens. Out:
nothing; every SQLite connection SQLAlchemy opens on a database file under that folder (Dagster's run
storage ``history/runs.db``, the event log shards ``history/runs/*.db``, ``schedules/schedules.db``)
is switched to write-ahead logging with ``synchronous=NORMAL``, and the process keeps one idle
connection open per such file until :func:`release` (called when the command ends, and at exit).

Why: Dagster's SQLite storages open a new connection for every event (``NullPool``) in the default
``synchronous=FULL``. Each commit then waits for the disk (an fsync of the journal, of the database, of
the folder), and each close of the last connection checkpoints the write-ahead log and deletes it
(more fsyncs): ~800 fsyncs for one ``eval-pipeline run`` of a fresh instance, 2-3 s of the command's
wall time on a disk where an fsync takes 4 ms, against none in a script that only calls the API.
With WAL + ``synchronous=NORMAL`` (SQLite's recommended setting for WAL: a commit is not synced, the
database is never corrupted) and the held connection (the log is not checkpointed after every event),
the instance is written at memory speed during the run; :func:`release` closes the held connections,
the last close checkpoints each log with its fsyncs, so when the command exits its run record is on
disk as before. What changes: a power cut (not a crash of the process: the writes are in the
operating system's cache) during the command can lose that command's newest events; the database
stays consistent, and the run then shows as started and is marked failed by the next CLI call
(``defs/ci.py:fail_dead_runs``). The webserver and the daemon (other processes) are not affected.

Only files under the given folder are touched; other SQLite databases of the process are left alone.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import sqlite3
import threading

_lock = threading.Lock()
_roots: set[str] = set()
_held: dict[str, sqlite3.Connection] = {}


def _db_path(dbapi_connection) -> str:
    """The file of the ``main`` database of a sqlite3 connection ('' for an in-memory database)."""
    for _, name, path in dbapi_connection.execute("PRAGMA database_list").fetchall():
        if name == "main":
            return path or ""
    return ""


def _on_connect(dbapi_connection, _record) -> None:
    if not isinstance(dbapi_connection, sqlite3.Connection) or not _roots:
        return
    path = _db_path(dbapi_connection)
    path = os.path.realpath(path) if path else ""
    if not path or not any(path.startswith(root + os.sep) for root in _roots):
        return
    # WAL before anything else: a fresh file's schema (dozens of CREATE statements, each its own
    # transaction) is then written without a sync per statement. WAL is what Dagster switches to anyway.
    dbapi_connection.execute("PRAGMA journal_mode=WAL")
    dbapi_connection.execute("PRAGMA synchronous=NORMAL")
    with _lock:
        if path not in _held:
            holder = sqlite3.connect(path, check_same_thread=False, timeout=30)
            holder.execute("SELECT count(*) FROM sqlite_master").fetchall()  # joins the log's shared index
            _held[path] = holder


def fast_commits(home: str | os.PathLike) -> None:
    """Apply the setting above to every SQLite file under ``home`` opened from now on (idempotent)."""
    root = os.path.realpath(os.fspath(home))
    with _lock:
        first = not _roots
        _roots.add(root)
    if first:
        # imported here, not at the top: the code location (``import eval_pipeline.definitions``) would
        # otherwise load SQLAlchemy for nothing (~0.1 s); only a CLI process opening its instance needs it
        from sqlalchemy import event  # noqa: PLC0415
        from sqlalchemy.engine import Engine  # noqa: PLC0415

        event.listen(Engine, "connect", _on_connect)
        atexit.register(release)


def release() -> None:
    """Close the held connections: each last close checkpoints its log, synced (the run record is on disk)."""
    with _lock:
        held = list(_held.values())
        _held.clear()
    for conn in held:
        with contextlib.suppress(sqlite3.Error):  # a failed checkpoint leaves the log, recovered on next open
            conn.close()
