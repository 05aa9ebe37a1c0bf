"""Storage: where every table and artifact of the pipeline lives, and how it is read.

In: a warehouse URL (a local folder, ``file:///p`` or ``s3://bucket/prefix``; default from
``EVAL_WAREHOUSE_URL``), keys, bytes, DataFrames with their partition, SQL. Out: the same bytes
and DataFrames back, listings, URIs, DuckDB connections and query results.

Modules, from the layout down to the bytes:

* :mod:`~eval_pipeline.storage.keys`      the key of every table partition and artifact (the only
  place a storage path is spelled out), and partition/key validation.
* :mod:`~eval_pipeline.storage.warehouse` the facade :class:`Warehouse` (objects, tables, DuckDB).
* :mod:`~eval_pipeline.storage.parquet`   DataFrame <-> Parquet bytes of one partition.
* :mod:`~eval_pipeline.storage.local`     local-folder backend (temp file + ``os.replace``).
* :mod:`~eval_pipeline.storage.s3`        S3 backend (boto3; errors that say what to fix).
* :mod:`~eval_pipeline.storage.db`        DuckDB connections (httpfs from pip, never downloaded),
  ``read_parquet`` sources, the DuckDB writer lock.
* :mod:`~eval_pipeline.storage.errors`    :class:`WarehouseError`.

Plain module: never imports Dagster.
"""

from __future__ import annotations

from eval_pipeline.storage import keys
from eval_pipeline.storage.db import (
    duckdb_writer_lock,
    httpfs_extension_path,
    load_httpfs,
    new_duckdb_connection,
)
from eval_pipeline.storage.errors import WarehouseError
from eval_pipeline.storage.keys import DATA_FILE, TABLE_PARTITION_KEYS, validate_partition
from eval_pipeline.storage.warehouse import WAREHOUSE_URL_ENV, Warehouse

__all__ = [
    "DATA_FILE",
    "TABLE_PARTITION_KEYS",
    "WAREHOUSE_URL_ENV",
    "Warehouse",
    "WarehouseError",
    "duckdb_writer_lock",
    "httpfs_extension_path",
    "keys",
    "load_httpfs",
    "new_duckdb_connection",
    "validate_partition",
]
