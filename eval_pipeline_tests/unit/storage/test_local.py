"""Warehouse on a local folder: layout, replace-not-duplicate, atomic writes, DuckDB reads."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import duckdb
import filelock
import pandas as pd
import pytest

from eval_pipeline.storage import (
    Warehouse,
    WarehouseError,
    duckdb_writer_lock,
    httpfs_extension_path,
    load_httpfs,
    new_duckdb_connection,
)
from eval_pipeline.storage import local as local_backend

DAY = {"date": "2025-01-01", "model_version": "haiku-v1"}


@pytest.fixture
def wh(tmp_path: Path) -> Warehouse:
    return Warehouse.from_url(tmp_path / "warehouse")


def _responses(n: int, tag: str = "a") -> pd.DataFrame:
    return pd.DataFrame(
        {
            "sample_id": [f"s{i}" for i in range(n)],
            "repeat": list(range(n)),
            "latency_s": [0.5 + i for i in range(n)],
            "text": [f"{tag}{i}" for i in range(n)],
        }
    )


def _files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def test_round_trip_hive_layout_and_types(wh: Warehouse, tmp_path: Path):
    uri = wh.write_table("responses", _responses(3), DAY)
    wh.write_table("responses", _responses(2, "b"), {"model_version": "haiku-v2", "date": "2025-01-01"})
    wh.write_table("responses", _responses(1, "c"), {"date": "2025-01-02", "model_version": "haiku-v1"})

    root = tmp_path / "warehouse"
    assert uri == str(root / "responses/date=2025-01-01/model_version=haiku-v1/data.parquet")
    # Keys follow the table's canonical order whatever the dict order of the caller.
    assert _files(root) == [
        "responses/date=2025-01-01/model_version=haiku-v1/data.parquet",
        "responses/date=2025-01-01/model_version=haiku-v2/data.parquet",
        "responses/date=2025-01-02/model_version=haiku-v1/data.parquet",
    ]
    assert wh.list_partitions("responses", {"date": "2025-01-01"}) == [
        {"date": "2025-01-01", "model_version": "haiku-v1"},
        {"date": "2025-01-01", "model_version": "haiku-v2"},
    ]

    one = wh.read_table("responses", DAY)
    assert list(one["text"]) == ["a0", "a1", "a2"]
    assert one["repeat"].dtype == "int64" and one["latency_s"].dtype == "float64"
    assert set(one["date"]) == {"2025-01-01"} and set(one["model_version"]) == {"haiku-v1"}

    day = wh.read_table("responses", {"date": "2025-01-01"})
    assert sorted(day["text"]) == ["a0", "a1", "a2", "b0", "b1"]
    assert len(wh.read_table("responses")) == 6
    filtered = wh.read_table("responses", filters=[("repeat", ">=", 1)], columns=["text"])
    assert sorted(filtered["text"]) == ["a1", "a2", "b1"]


def test_read_missing_table_is_empty(wh: Warehouse):
    assert wh.read_table("scores").empty
    assert wh.list_partitions("scores") == []
    assert wh.list_tables() == []


def test_rewrite_replaces_partition_with_one_file(wh: Warehouse, tmp_path: Path):
    wh.write_table("responses", _responses(5, "old"), DAY)
    wh.write_table("responses", _responses(2, "new"), DAY)
    part_dir = tmp_path / "warehouse/responses/date=2025-01-01/model_version=haiku-v1"
    assert os.listdir(part_dir) == ["data.parquet"]
    again = wh.read_table("responses")
    assert list(again["text"]) == ["new0", "new1"]


def test_failed_write_keeps_old_file_and_leaves_no_temp(wh: Warehouse, tmp_path: Path, monkeypatch):
    wh.write_table("responses", _responses(3, "old"), DAY)
    part_dir = tmp_path / "warehouse/responses/date=2025-01-01/model_version=haiku-v1"

    def broken_fsync(fd):  # the temp file is half written when the disk "fails"
        raise OSError("disk full")

    monkeypatch.setattr(local_backend.os, "fsync", broken_fsync)
    with pytest.raises(WarehouseError, match="disk full on the warehouse") as err:
        wh.write_table("responses", _responses(50, "new"), DAY)
    assert "Errno None" not in str(err.value)
    monkeypatch.undo()

    assert os.listdir(part_dir) == ["data.parquet"]
    assert list(wh.read_table("responses")["text"]) == ["old0", "old1", "old2"]


def test_concurrent_reader_never_sees_partial_file(wh: Warehouse):
    small, big = _responses(10, "s"), _responses(20_000, "b")
    wh.write_table("responses", small, DAY)
    stop = threading.Event()
    errors: list[BaseException] = []

    def writer():
        i = 0
        while not stop.is_set():
            wh.write_table("responses", big if i % 2 else small, DAY)
            i += 1

    thread = threading.Thread(target=writer)
    thread.start()
    seen = set()
    try:
        for _ in range(40):
            try:
                seen.add(len(wh.read_table("responses", DAY)))
            except BaseException as exc:  # a torn read would raise here
                errors.append(exc)
    finally:
        stop.set()
        thread.join()
    assert not errors
    assert seen <= {10, 20_000} and seen


@pytest.mark.parametrize(
    "partition, message",
    [
        ({"date": "", "model_version": "m"}, "'date': value '' is empty"),
        ({"date": "2025/01/01", "model_version": "m"}, "contains '/'"),
        ({"date": "2025-01-01", "model_version": "a=b"}, "contains '='"),
        ({"date": "2025-01-01", "model_version": ".."}, "'model_version': value '..' is not allowed"),
        ({"date": "2025-01-01", "model_version": "has space"}, "is not allowed"),
        ({"date": "2025-01-01", "model_version": 3}, "value 3 is a int; pass it as a string"),
        ({"date": "2025-01-01"}, "partitioned by ['date', 'model_version']"),
        ({}, "non-empty dict"),
    ],
)
def test_bad_partition_rejected_with_message(wh: Warehouse, tmp_path: Path, partition, message):
    with pytest.raises(WarehouseError, match="table 'responses'") as info:
        wh.write_table("responses", _responses(1), partition)
    assert message in str(info.value)
    assert not (tmp_path / "warehouse/responses").exists()


def test_bad_table_and_key_names(wh: Warehouse):
    with pytest.raises(WarehouseError, match="invalid table name '../x'"):
        wh.write_table("../x", _responses(1), {"k": "v"})
    with pytest.raises(WarehouseError, match="invalid warehouse key '../escape'"):
        wh.write_bytes("../escape", b"x")
    with pytest.raises(WarehouseError, match="no such warehouse object"):
        wh.read_bytes("reports/missing.html")


def test_partition_column_must_match_partition(wh: Warehouse):
    df = _responses(2).assign(date=["2025-01-01", "2025-01-09"])
    with pytest.raises(WarehouseError, match="column 'date' has value '2025-01-09'"):
        wh.write_table("responses", df, DAY)


def test_bytes_objects(wh: Warehouse, tmp_path: Path):
    uri = wh.write_bytes("reports/2025-01-01/report.html", b"<html>1</html>", "text/html")
    assert uri == str(tmp_path / "warehouse/reports/2025-01-01/report.html")
    wh.write_bytes("reports/2025-01-01/report.html", b"<html>2</html>")
    assert wh.read_bytes("reports/2025-01-01/report.html") == b"<html>2</html>"
    assert wh.exists("reports/2025-01-01/report.html") and not wh.exists("reports/nope")
    assert wh.list_keys("reports/") == ["reports/2025-01-01/report.html"]
    wh.delete("reports/2025-01-01/report.html")
    assert wh.list_keys("reports/") == []


def test_delete_partition(wh: Warehouse, tmp_path: Path):
    wh.write_table("responses", _responses(1), DAY)
    assert wh.delete_partition("responses", DAY) is True
    assert wh.delete_partition("responses", DAY) is False
    assert wh.read_table("responses").empty
    assert not (tmp_path / "warehouse/responses/date=2025-01-01").exists()


def test_duckdb_reads_partitions_across_tables(wh: Warehouse):
    wh.write_table("responses", _responses(3), DAY)
    wh.write_table("responses", _responses(2), {"date": "2025-01-02", "model_version": "haiku-v1"})
    for family, value in (("deterministic", 1.0), ("judge", 0.5)):
        for date in ("2025-01-01", "2025-01-02"):
            scores = pd.DataFrame({"sample_id": ["s0", "s1"], "metric": ["m", "m"], "value": [value, value]})
            wh.write_table("scores", scores, {"family": family, "date": date, "model_version": "haiku-v1"})

    out = wh.query(
        """
        select s.family, r.date, count(*) as n, avg(s.value) as v
        from responses r join scores s
          on r.sample_id = s.sample_id and r.date = s.date and r.model_version = s.model_version
        group by all order by 1, 2
        """
    )
    assert out.to_dict("records") == [
        {"family": "deterministic", "date": "2025-01-01", "n": 2, "v": 1.0},
        {"family": "deterministic", "date": "2025-01-02", "n": 2, "v": 1.0},
        {"family": "judge", "date": "2025-01-01", "n": 2, "v": 0.5},
        {"family": "judge", "date": "2025-01-02", "n": 2, "v": 0.5},
    ]
    con = wh.connect_duckdb()
    try:
        types = {
            r[0]: r[1] for r in con.execute(f"describe select * from {wh.table_sql('scores')}").fetchall()
        }
        rows = con.execute(
            f"select count(*) from read_parquet('{wh.table_glob('responses')}', hive_partitioning=true)"
            " where date = '2025-01-02'"
        ).fetchone()
    finally:
        con.close()
    assert types["date"] == "VARCHAR" and types["value"] == "DOUBLE"
    assert rows == (2,)
    with pytest.raises(WarehouseError, match=r"tables available: \['responses', 'scores'\]"):
        wh.query("select * from no_such_table")


def test_from_url_forms(tmp_path: Path):
    assert Warehouse.from_url(f"file://{tmp_path}/w").root == str(tmp_path / "w")
    assert Warehouse.from_url(str(tmp_path / "w")).kind == "local"
    with pytest.raises(WarehouseError, match="unsupported warehouse URL 'gs://b/p'"):
        Warehouse.from_url("gs://b/p")
    with pytest.raises(WarehouseError, match="has no bucket"):
        Warehouse.from_url("s3:///prefix")
    env_wh = Warehouse.from_env({"EVAL_WAREHOUSE_URL": str(tmp_path / "env")})
    assert env_wh.root == str(tmp_path / "env")


def test_duckdb_never_downloads_and_loads_httpfs_from_package():
    path = httpfs_extension_path()
    assert path.is_file() and f"v{duckdb.__version__}" in str(path)
    con = new_duckdb_connection()
    try:
        settings = dict(
            con.execute(
                "select name, value from duckdb_settings() "
                "where name in ('autoinstall_known_extensions', 'autoload_known_extensions')"
            ).fetchall()
        )
        assert settings == {"autoinstall_known_extensions": "false", "autoload_known_extensions": "false"}
        load_httpfs(con)
        loaded = con.execute(
            "select loaded from duckdb_extensions() where extension_name = 'httpfs'"
        ).fetchone()
    finally:
        con.close()
    assert loaded == (True,)


def test_duckdb_writer_lock_excludes_second_writer(tmp_path: Path):
    db = tmp_path / "history.duckdb"
    with duckdb_writer_lock(db):
        other = duckdb_writer_lock(db, timeout=0.1)
        with pytest.raises(filelock.Timeout):
            other.acquire()
    with duckdb_writer_lock(db, timeout=0.1):
        pass
