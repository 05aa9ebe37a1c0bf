"""DuckDB over the warehouse: connections that never download extensions, httpfs from pip, SQL.

In: a database path (default in-memory), a backend to configure the connection for, table
globs, SQL. Out: DuckDB connections, ``read_parquet(...)`` source expressions, query results as
DataFrames, a cross-process writer lock for a DuckDB file.

For S3 the httpfs extension comes from the pip package ``duckdb-extension-httpfs`` (LOADed from
its file; DuckDB is told never to auto-install or auto-load extensions). Partition columns are
read as VARCHAR (``hive_types_autocast=false``), as the Parquet writer stores them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from eval_pipeline.storage.errors import WarehouseError

if TYPE_CHECKING:
    import duckdb
    from filelock import FileLock

__all__ = [
    "connect",
    "duckdb_writer_lock",
    "httpfs_extension_path",
    "load_httpfs",
    "new_duckdb_connection",
    "parquet_source_sql",
    "run_query",
    "sql_str",
]


def sql_str(value: str) -> str:
    """``value`` as a single-quoted SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def httpfs_extension_path() -> Path:
    """Path of the httpfs extension file shipped by the pip package duckdb-extension-httpfs."""
    import duckdb  # noqa: PLC0415 - keeps duckdb out of `eval-pipeline --help`

    try:
        import duckdb_extension_httpfs  # noqa: PLC0415 - a missing package is reported with its fix
    except ImportError:
        raise WarehouseError(
            "the DuckDB httpfs extension is missing: pip install "
            f"duckdb-extension-httpfs=={duckdb.__version__}"
        ) from None
    base = Path(duckdb_extension_httpfs.__file__).parent / "extensions"
    exact = base / f"v{duckdb.__version__}" / "httpfs.duckdb_extension"
    if exact.is_file():
        return exact
    found = sorted(base.glob("*/httpfs.duckdb_extension"))
    raise WarehouseError(
        f"duckdb {duckdb.__version__} needs {exact}, but duckdb-extension-httpfs ships "
        f"{[str(p.parent.name) for p in found] or 'nothing'}: install matching versions "
        f"(pip install duckdb-extension-httpfs=={duckdb.__version__})"
    )


def new_duckdb_connection(database: str = ":memory:", read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection that never downloads extensions."""
    import duckdb  # noqa: PLC0415 - keeps duckdb out of `eval-pipeline --help`

    return duckdb.connect(
        database,
        read_only=read_only,
        config={"autoinstall_known_extensions": False, "autoload_known_extensions": False},
    )


def load_httpfs(con: duckdb.DuckDBPyConnection) -> None:
    """LOAD the httpfs extension from the pip package into ``con`` (no download)."""
    con.execute(f"LOAD {sql_str(str(httpfs_extension_path()))}")


def duckdb_writer_lock(path: str | os.PathLike[str], timeout: float = 60.0) -> FileLock:
    """A cross-process lock guarding writes to one DuckDB database file.

    DuckDB allows only one writing process per file; hold this lock around
    ``duckdb.connect(path)`` ... ``close()`` in writers::

        with duckdb_writer_lock("history.duckdb"):
            con = duckdb.connect("history.duckdb"); ...; con.close()

    Returns a ``filelock.FileLock`` on ``<path>.lock`` (re-entrant in one process).
    """
    from filelock import FileLock  # noqa: PLC0415 - keeps filelock out of `eval-pipeline --help`

    return FileLock(f"{os.fspath(path)}.lock", timeout=timeout)


def connect(backend: Any, database: str = ":memory:", read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """A connection configured by ``backend.configure_duckdb`` (S3: httpfs + a bucket secret)."""
    con = new_duckdb_connection(database, read_only=read_only)
    backend.configure_duckdb(con)
    return con


def parquet_source_sql(glob_uri: str) -> str:
    """``read_parquet(<glob>, hive_partitioning=true, ...)`` with partition columns as VARCHAR."""
    return (
        f"read_parquet({sql_str(glob_uri)}, hive_partitioning=true, "
        "union_by_name=true, hive_types_autocast=false)"
    )


def run_query(con: duckdb.DuckDBPyConnection, sql: str, views: Mapping[str, str], where: str) -> pd.DataFrame:
    """Create one view per ``name -> source SQL`` in ``views``, then run ``sql`` as a DataFrame.

    A failing ``sql`` raises WarehouseError naming ``where`` (the warehouse root) and the views.
    """
    import duckdb  # noqa: PLC0415 - keeps duckdb out of `eval-pipeline --help`

    for name, source in views.items():
        con.execute(f'CREATE OR REPLACE VIEW "{name}" AS SELECT * FROM {source}')
    try:
        frame: pd.DataFrame = con.execute(sql).df()
        return frame
    except duckdb.Error as exc:
        raise WarehouseError(
            f"query on warehouse {where} failed: {exc} (tables available: {list(views)})"
        ) from exc
