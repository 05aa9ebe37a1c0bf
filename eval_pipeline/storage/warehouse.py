"""The warehouse facade: objects and Hive-partitioned Parquet tables on a local folder or S3.

In: a URL (``./warehouse``, ``file:///p`` or ``s3://bucket/prefix``, or ``EVAL_WAREHOUSE_URL``),
keys from :mod:`eval_pipeline.storage.keys`, bytes, DataFrames with their partition, SQL.
Out: bytes, DataFrames, key/partition listings, URIs, DuckDB connections and query results.

One layout on both backends: ``<root>/<table>/<k1>=<v1>/.../data.parquet``. Each partition is one
file with a deterministic key, so re-materializing a partition *replaces* it (never duplicates
rows); writes are atomic for readers (see :mod:`~eval_pipeline.storage.local` and
:mod:`~eval_pipeline.storage.s3`). DuckDB reads the same files (:mod:`~eval_pipeline.storage.db`).

Typical use::

    wh = Warehouse.from_url("warehouse")            # or "s3://bucket/prefix", endpoint_url=...
    wh.write_table("scores", df, {"family": "judge", "date": "2025-01-01", "model_version": "v1"})
    df = wh.read_table("scores", {"date": "2025-01-01"})
    wh.query("select metric, avg(value) from scores group by metric")
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import pandas as pd

from eval_pipeline.storage import db, key_rules, keys, parquet
from eval_pipeline.storage.errors import WarehouseError
from eval_pipeline.storage.local import LocalBackend
from eval_pipeline.storage.s3 import S3Backend

if TYPE_CHECKING:
    import duckdb

__all__ = ["WAREHOUSE_URL_ENV", "Warehouse", "open_backend"]

WAREHOUSE_URL_ENV = "EVAL_WAREHOUSE_URL"


def _env_endpoint(env: Mapping[str, str]) -> str | None:
    return env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL") or None


def open_backend(
    url: str | os.PathLike[str], endpoint_url: str | None = None, region: str | None = None
) -> LocalBackend | S3Backend:
    """The backend for ``/abs/path``, ``relative/path``, ``file:///p`` or ``s3://bucket/prefix``.

    For S3 without ``endpoint_url``, AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL are used if set.
    """
    text = os.fspath(url)
    if not text:
        raise WarehouseError("empty warehouse URL: give a folder path or s3://bucket/prefix")
    parsed = urlparse(text)
    if parsed.scheme == "s3":
        if not parsed.netloc:
            raise WarehouseError(f"warehouse URL {text!r} has no bucket: use s3://bucket/prefix")
        endpoint = endpoint_url or _env_endpoint(os.environ)
        return S3Backend(parsed.netloc, parsed.path, endpoint_url=endpoint, region=region)
    if parsed.scheme == "file":
        return LocalBackend(parsed.path)
    if parsed.scheme and len(parsed.scheme) > 1:  # "C:" style drive letters are paths
        raise WarehouseError(
            f"unsupported warehouse URL {text!r}: use a folder path, file:///path or s3://bucket/prefix"
        )
    return LocalBackend(text)


class Warehouse:
    """Partitioned Parquet tables and plain objects on a local folder or S3.

    Build it with ``Warehouse.from_url(...)`` or ``Warehouse.from_env()``.
    """

    def __init__(self, backend: LocalBackend | S3Backend):
        self._backend = backend

    # -- construction and description -----------------------------------------------------

    @classmethod
    def from_url(
        cls, url: str | os.PathLike[str], endpoint_url: str | None = None, region: str | None = None
    ) -> Warehouse:
        """Open a folder or ``s3://bucket/prefix`` (see :func:`open_backend`).

        For S3, credentials come from the standard AWS chain (AWS_ACCESS_KEY_ID /
        AWS_SECRET_ACCESS_KEY, AWS_PROFILE, ~/.aws, instance roles); ``endpoint_url`` selects an
        S3-compatible store (MinIO, SeaweedFS, R2, ...).
        """
        return cls(open_backend(url, endpoint_url, region))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, default_url: str = "warehouse") -> Warehouse:
        """Open the warehouse named by EVAL_WAREHOUSE_URL (default: ``default_url``).

        S3 settings: AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL, AWS_REGION, and the AWS
        credential chain.
        """
        env = os.environ if environ is None else environ
        region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or None
        return cls.from_url(env.get(WAREHOUSE_URL_ENV) or default_url, _env_endpoint(env), region)

    @property
    def backend(self) -> LocalBackend | S3Backend:
        """The key -> bytes backend (for :mod:`eval_pipeline.storage.claims`)."""
        return self._backend

    @property
    def kind(self) -> str:
        """``"local"`` or ``"s3"``."""
        return self._backend.kind

    @property
    def root(self) -> str:
        """Root URI: an absolute folder path or ``s3://bucket[/prefix]``."""
        return self._backend.uri("").rstrip("/")

    def __repr__(self) -> str:
        return f"Warehouse({self._backend.describe()})"

    def check(self) -> None:
        """Fail fast with a clear WarehouseError if the warehouse is not usable."""
        self._backend.check()

    # -- objects --------------------------------------------------------------------------

    def uri(self, key: str) -> str:
        """Full location of ``key``: an absolute path (local) or ``s3://bucket/prefix/key``."""
        return self._backend.uri(key_rules.check_key(key))

    def write_bytes(self, key: str, data: bytes, content_type: str | None = None) -> str:
        """Atomically create or replace object ``key``; returns its URI."""
        self._backend.put(key_rules.check_key(key), bytes(data), content_type)
        return self.uri(key)

    def read_bytes(self, key: str) -> bytes:
        """Contents of ``key``; WarehouseError if it does not exist."""
        return self._backend.get(key_rules.check_key(key))

    def read_json_if_present(self, key: str) -> Any:
        """The JSON artifact at ``key``, or None when it is absent or unreadable (a report page shows
        what exists and never fails on a half-written or foreign file)."""
        if not self.exists(key):
            return None
        try:
            return json.loads(self.read_bytes(key))
        except (OSError, ValueError):
            return None

    def exists(self, key: str) -> bool:
        """Whether object ``key`` exists."""
        return self._backend.exists(key_rules.check_key(key))

    def delete(self, key: str) -> None:
        """Delete object ``key`` (no error if absent)."""
        self._backend.delete(key_rules.check_key(key))

    def list_keys(self, prefix: str = "") -> list[str]:
        """Sorted keys starting with ``prefix`` (plain string prefix, relative to the root)."""
        return self._backend.list(prefix)

    # -- tables ---------------------------------------------------------------------------

    def list_tables(self) -> list[str]:
        """Names of the tables that hold at least one partition file."""
        tables = set()
        for key in self._backend.list(""):
            table = key.split("/", 1)[0]
            if key_rules.is_name(table) and keys.parse_partition_key(table, key) is not None:
                tables.add(table)
        return sorted(tables)

    def list_partitions(self, table: str, where: Mapping[str, str] | None = None) -> list[dict[str, str]]:
        """Partitions of ``table`` (sorted), optionally only those matching every ``where`` item."""
        key_rules.check_name("table", table)
        out = []
        for key in self._backend.list(f"{table}/"):
            part = keys.parse_partition_key(table, key)
            if part is None:
                continue
            if where and any(part.get(k) != str(v) for k, v in where.items()):
                continue
            out.append(part)
        return out

    def write_table(self, table: str, df: pd.DataFrame, partition: Mapping[str, str]) -> str:
        """Replace the single data file of ``table``/``partition`` with ``df``; returns its URI.

        Partition columns are added to the file as strings; if ``df`` already has such a column,
        every value must equal the partition value.
        """
        part = keys.validate_partition(table, partition)
        key = keys.partition_key(table, part)
        self._backend.put(key, parquet.encode_partition(table, df, part), parquet.PARQUET_CONTENT_TYPE)
        return self._backend.uri(key)

    def read_table(
        self,
        table: str,
        partition: Mapping[str, str] | None = None,
        filters: Sequence[Any] | None = None,
        columns: Sequence[str] | None = None,
    ) -> pd.DataFrame:
        """Rows of ``table`` as a DataFrame (empty if nothing matches).

        ``partition`` selects partitions whose values match all given keys (a subset of keys is
        fine, e.g. ``{"date": "2025-01-01"}``). ``filters`` are row filters in pyarrow's DNF
        form, e.g. ``[("metric", "=", "cosine")]``. ``columns`` limits the columns returned.
        """
        files = (
            (self._backend.uri(key), self._backend.get(key))
            for key in (keys.partition_key(table, p) for p in self.list_partitions(table, partition))
        )
        return parquet.decode_partitions(table, files, filters, columns)

    def delete_partition(self, table: str, partition: Mapping[str, str]) -> bool:
        """Delete one partition's file; returns whether it existed."""
        key = keys.partition_key(table, partition)
        existed = self._backend.exists(key)
        if existed:
            self._backend.delete(key)
        return existed

    # -- DuckDB ---------------------------------------------------------------------------

    def table_glob(self, table: str) -> str:
        """Glob matching every data file of ``table`` (``<root>/<table>/**/*.parquet``)."""
        return self._backend.uri(keys.table_glob(table))

    def table_sql(self, table: str) -> str:
        """A ``read_parquet(...)`` expression over ``table`` with partition columns as VARCHAR."""
        return db.parquet_source_sql(self.table_glob(table))

    def connect_duckdb(
        self, database: str = ":memory:", read_only: bool = False
    ) -> duckdb.DuckDBPyConnection:
        """A DuckDB connection that can read this warehouse.

        Never downloads extensions. For S3 it LOADs httpfs from the pip package and creates a
        secret scoped to the bucket (endpoint, path-style URLs and SSL set from endpoint_url).
        """
        return db.connect(self._backend, database, read_only=read_only)

    def query(self, sql: str, tables: Sequence[str] | None = None) -> pd.DataFrame:
        """Run ``sql`` with each table (default: every table with data) as a view of the same name."""
        con = self.connect_duckdb()
        try:
            names = list(tables) if tables is not None else self.list_tables()
            return db.run_query(con, sql, {n: self.table_sql(n) for n in names}, where=self.root)
        finally:
            con.close()
