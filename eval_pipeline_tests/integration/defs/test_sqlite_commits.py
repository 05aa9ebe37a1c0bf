"""The local instance's SQLite files: WAL + synchronous=NORMAL under DAGSTER_HOME only, one held connection per
file (no checkpoint after every event), everything checkpointed into the database file by ``release``."""

from __future__ import annotations

import sqlite3

import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from eval_pipeline.defs import sqlite_commits


def _engine(path):
    return sa.create_engine(f"sqlite:///{path}", poolclass=NullPool)


def _pragmas(engine) -> tuple[str, int]:
    with engine.connect() as conn:
        return (
            conn.execute(sa.text("PRAGMA journal_mode")).scalar(),
            conn.execute(sa.text("PRAGMA synchronous")).scalar(),
        )


def test_files_under_home_use_wal_normal_and_are_synced_on_release(tmp_path):
    home, other = tmp_path / "home", tmp_path / "other"
    (home / "history").mkdir(parents=True)
    other.mkdir()
    sqlite_commits.fast_commits(home)
    try:
        inside, outside = _engine(home / "history" / "runs.db"), _engine(other / "x.db")
        for engine in (inside, outside):
            with engine.begin() as conn:  # a connection per statement, as Dagster's NullPool storages do
                conn.execute(sa.text("CREATE TABLE t (i INTEGER)"))
            for i in range(5):
                with engine.begin() as conn:
                    conn.execute(sa.text("INSERT INTO t VALUES (:i)"), {"i": i})
        assert _pragmas(inside) == ("wal", 1)  # NORMAL
        assert _pragmas(outside) == ("delete", 2)  # FULL: other databases of the process are left alone
        # the held connection keeps the log: it is not checkpointed and deleted after every connection
        assert (home / "history" / "runs.db-wal").exists()
    finally:
        sqlite_commits.release()
    assert not (home / "history" / "runs.db-wal").exists()  # the last close checkpointed it into the file
    con = sqlite3.connect(home / "history" / "runs.db")
    assert [r[0] for r in con.execute("SELECT i FROM t ORDER BY i")] == [0, 1, 2, 3, 4]
    con.close()


def test_release_is_idempotent_and_a_new_connection_is_held_again(tmp_path):
    sqlite_commits.fast_commits(tmp_path)
    engine = _engine(tmp_path / "a.db")
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("CREATE TABLE t (i INTEGER)"))
        sqlite_commits.release()
        sqlite_commits.release()
        assert not (tmp_path / "a.db-wal").exists()
        with engine.begin() as conn:  # the next command of the same process holds the file again
            conn.execute(sa.text("INSERT INTO t VALUES (1)"))
        assert (tmp_path / "a.db-wal").exists()
    finally:
        sqlite_commits.release()
    assert not (tmp_path / "a.db-wal").exists()


def test_migration_scripts_are_parsed_once_and_every_database_still_gets_the_head_revision(
    tmp_path, monkeypatch
):
    """After read_once, two fresh instances (three databases each, plus a run shard) build one
    ScriptDirectory; every database is still checked and stamped with the installed Dagster's head."""
    import dagster as dg
    from alembic.script import ScriptDirectory
    from dagster._core.storage.runs.sqlite import sqlite_run_storage
    from dagster._core.storage.sql import get_alembic_config

    from eval_pipeline.defs import migration_scripts

    migration_scripts.read_once()
    built: list[object] = []
    original_init = ScriptDirectory.__init__

    def counting_init(self, *args, **kwargs):
        built.append(self)
        original_init(self, *args, **kwargs)

    monkeypatch.setattr(ScriptDirectory, "__init__", counting_init)
    cfg = get_alembic_config(sqlite_run_storage.__file__)
    assert ScriptDirectory.from_config(cfg) is ScriptDirectory.from_config(cfg)
    heads = set()
    for name in ("a", "b"):
        home = tmp_path / name
        home.mkdir()
        with dg.DagsterInstance.from_config(str(home)) as instance:
            instance.add_dynamic_partitions("model_version", ["v1"])
            with instance.event_log_storage.run_connection("some-run"):
                pass
        for db in (
            home / "history" / "runs.db",
            home / "history" / "runs" / "index.db",
            home / "history" / "runs" / "some-run.db",
            home / "schedules" / "schedules.db",
        ):
            con = sqlite3.connect(db)
            heads |= {r[0] for r in con.execute("SELECT version_num FROM alembic_version")}
            con.close()
    assert len(built) <= 1  # at most the first from_config of this process built one
    fresh = ScriptDirectory(ScriptDirectory.from_config(cfg).dir)  # an uncached read of the same scripts
    assert heads == {fresh.get_current_head()}
