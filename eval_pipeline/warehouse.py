"""The warehouse: Hive-partitioned Parquet on a local folder or on S3, read with DuckDB.

One layout on both backends::

    <root>/<table>/<k1>=<v1>/<k2>=<v2>/data.parquet

* ``root`` is a local folder (the default for a new user, e.g. ``./warehouse``) or
  ``s3://bucket/prefix`` (AWS or any S3-compatible store through ``endpoint_url``).
* Each partition holds exactly one file with a deterministic key, so re-materializing a
  partition *replaces* it; it never duplicates rows.
* Writes are atomic for readers: the local backend writes a temp file in the same directory
  and ``os.replace``-s it over the old one; the S3 backend uploads the whole object in one PUT.
* DuckDB reads the same layout through ``read_parquet(<root>/<table>/**/*.parquet,
  hive_partitioning=true)``. For S3 it uses the httpfs extension shipped in the pip package
  ``duckdb-extension-httpfs``; it is loaded from that file and DuckDB is told never to
  download extensions.

Partition values are strings; partition columns are also stored inside the file (as strings),
and DuckDB reads them as VARCHAR (``hive_types_autocast=false``) so both readers agree.

Typical use::

    wh = Warehouse.from_url("warehouse")            # or "s3://bucket/prefix", endpoint_url=...
    wh.write_table("scores", df, {"family": "judge", "date": "2025-01-01", "model_version": "v1"})
    df = wh.read_table("scores", {"date": "2025-01-01"})
    wh.query("select metric, avg(value) from scores group by metric")
"""
from __future__ import annotations

import io
import os
import re
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

__all__ = [
    "DATA_FILE",
    "TABLE_PARTITION_KEYS",
    "Warehouse",
    "WarehouseError",
    "duckdb_writer_lock",
    "httpfs_extension_path",
    "load_httpfs",
    "new_duckdb_connection",
    "validate_partition",
]

DATA_FILE = "data.parquet"
PARQUET_CONTENT_TYPE = "application/vnd.apache.parquet"
WAREHOUSE_URL_ENV = "EVAL_WAREHOUSE_URL"

# Canonical partition key order of the known tables (see eval_pipeline/schemas.py). Writes to
# these tables must give exactly these keys; they are stored in this order, so the same partition
# always maps to the same key whatever the dict order of the caller.
TABLE_PARTITION_KEYS: dict[str, tuple[str, ...]] = {
    "golden": ("date", "model_version"),
    "responses": ("date", "model_version"),
    "scores": ("family", "date", "model_version"),
}

_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")
_VALUE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+@:-]*$")
_VALUE_RULE = (
    "partition values must be non-empty and use only letters, digits and . _ + @ : - "
    "(first character a letter or digit; no '/', '=' or spaces)"
)


class WarehouseError(RuntimeError):
    """Any warehouse failure with a message that says what to fix."""


# --------------------------------------------------------------------------------------------
# Validation and key layout
# --------------------------------------------------------------------------------------------


def _check_name(kind: str, name: Any) -> str:
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise WarehouseError(
            f"invalid {kind} name {name!r}: use lowercase letters, digits and '_' "
            "(starting with a letter)"
        )
    return name


def validate_partition(table: str, partition: Mapping[str, Any]) -> dict[str, str]:
    """Check a partition dict and return it in canonical key order.

    Raises WarehouseError naming the table, key and value when a key or value is invalid, or
    when a known table (``TABLE_PARTITION_KEYS``) is given the wrong set of keys.
    """
    _check_name("table", table)
    if not isinstance(partition, Mapping) or not partition:
        raise WarehouseError(
            f"table {table!r}: partition must be a non-empty dict of key -> value, got {partition!r}"
        )
    for key, value in partition.items():
        _check_name(f"partition key (table {table!r})", key)
        if not isinstance(value, str):
            raise WarehouseError(
                f"table {table!r}, partition key {key!r}: value {value!r} is a "
                f"{type(value).__name__}; pass it as a string (e.g. {str(value)!r})"
            )
        if not _VALUE_RE.match(value):
            problem = (
                "is empty" if value == ""
                else "contains '/'" if "/" in value
                else "contains '='" if "=" in value
                else "is not allowed"
            )
            raise WarehouseError(
                f"table {table!r}, partition key {key!r}: value {value!r} {problem}; {_VALUE_RULE}"
            )
    expected = TABLE_PARTITION_KEYS.get(table)
    if expected is None:
        return dict(partition)
    if set(partition) != set(expected):
        raise WarehouseError(
            f"table {table!r} is partitioned by {list(expected)}, got keys {list(partition)}"
        )
    return {k: partition[k] for k in expected}


def partition_key(table: str, partition: Mapping[str, Any]) -> str:
    """Key (relative to the warehouse root) of a partition's single data file."""
    part = validate_partition(table, partition)
    return "/".join([table, *(f"{k}={v}" for k, v in part.items()), DATA_FILE])


def _parse_partition_key(table: str, key: str) -> dict[str, str] | None:
    """Inverse of partition_key; None for keys that are not partition data files."""
    parts = key.split("/")
    if len(parts) < 3 or parts[0] != table or parts[-1] != DATA_FILE:
        return None
    out: dict[str, str] = {}
    for seg in parts[1:-1]:
        k, sep, v = seg.partition("=")
        if not sep:
            return None
        out[k] = v
    return out


def _check_key(key: str) -> str:
    if not isinstance(key, str) or not key or key.startswith("/") or any(
        seg in ("", ".", "..") for seg in key.split("/")
    ):
        raise WarehouseError(
            f"invalid warehouse key {key!r}: use a relative path like 'reports/2025-01-01/x.html' "
            "without empty, '.' or '..' segments"
        )
    return key


# --------------------------------------------------------------------------------------------
# Backends: a tiny key -> bytes store
# --------------------------------------------------------------------------------------------


class _LocalBackend:
    """Keys are files under ``root``; writes go through a temp file + os.replace."""

    kind = "local"

    def __init__(self, root: str | os.PathLike[str]):
        self.root = Path(root).expanduser().resolve()

    def describe(self) -> str:
        return str(self.root)

    def path(self, key: str) -> Path:
        return self.root / key

    def uri(self, key: str) -> str:
        return str(self.path(key))

    def check(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        if not os.access(self.root, os.W_OK):
            raise WarehouseError(f"warehouse folder {self.root} is not writable; fix its permissions")

    def put(self, key: str, data: bytes, content_type: str | None = None) -> None:
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.parent / f".{target.name}.tmp-{uuid.uuid4().hex}"
        try:
            with open(tmp, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def get(self, key: str) -> bytes:
        try:
            return self.path(key).read_bytes()
        except FileNotFoundError:
            raise WarehouseError(f"no such warehouse object: {self.uri(key)}") from None

    def exists(self, key: str) -> bool:
        return self.path(key).is_file()

    def delete(self, key: str) -> None:
        path = self.path(key)
        path.unlink(missing_ok=True)
        # Remove now-empty partition folders up to (not including) the root.
        parent = path.parent
        while parent != self.root and self.root in parent.parents:
            try:
                parent.rmdir()
            except OSError:
                break
            parent = parent.parent

    def list(self, prefix: str) -> list[str]:
        base = self.root / prefix if prefix else self.root
        # prefix may end inside a name ("scores/da"); walk from the containing folder.
        start = base if base.is_dir() else base.parent
        if not start.is_dir():
            return []
        keys = []
        for dirpath, dirnames, filenames in os.walk(start):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for name in filenames:
                if name.startswith("."):  # temp files of in-flight writes
                    continue
                key = Path(dirpath, name).relative_to(self.root).as_posix()
                if key.startswith(prefix):
                    keys.append(key)
        return sorted(keys)


class _S3Backend:
    """Keys are objects under ``s3://bucket/prefix/``; every write is one whole-object PUT."""

    kind = "s3"

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        endpoint_url: str | None = None,
        region: str | None = None,
        client: Any = None,
    ):
        import boto3
        from botocore.config import Config

        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.endpoint_url = endpoint_url
        if endpoint_url is not None and urlparse(endpoint_url).scheme not in ("http", "https"):
            raise WarehouseError(
                f"S3 endpoint_url {endpoint_url!r} must start with http:// or https://"
            )
        self.session = boto3.session.Session(region_name=region)
        if region is None and self.session.region_name is None:
            region = "us-east-1"  # S3-compatible stores ignore it; AWS needs some value
        self.region = region or self.session.region_name
        config = Config(
            connect_timeout=5,
            read_timeout=60,
            retries={"max_attempts": 3, "mode": "standard"},
            s3={"addressing_style": "path" if endpoint_url else "auto"},
        )
        self.client = client or self.session.client(
            "s3", endpoint_url=endpoint_url, region_name=self.region, config=config
        )
        self._checked = False

    def describe(self) -> str:
        where = f"s3://{self.bucket}/{self.prefix}".rstrip("/")
        return f"{where} (endpoint {self.endpoint_url or 'AWS default'})"

    def object_key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{self.object_key(key)}"

    # -- errors ---------------------------------------------------------------------------

    def _credential_source(self) -> str:
        creds = self.session.get_credentials()
        return getattr(creds, "method", None) or "none found"

    @contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        """Translate boto errors into WarehouseError messages that say what to fix."""
        from botocore.exceptions import (
            ClientError,
            ConnectTimeoutError,
            EndpointConnectionError,
            NoCredentialsError,
            PartialCredentialsError,
        )

        where = f"bucket {self.bucket!r} at endpoint {self.endpoint_url or 'AWS default'}"
        try:
            yield
        except WarehouseError:
            raise
        except (NoCredentialsError, PartialCredentialsError) as exc:
            raise WarehouseError(
                f"{action} failed: no usable AWS credentials for {where}: set "
                "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE) "
                f"({type(exc).__name__})"
            ) from None
        except (EndpointConnectionError, ConnectTimeoutError) as exc:
            raise WarehouseError(
                f"{action} failed: cannot reach the S3 endpoint "
                f"{self.endpoint_url or exc.kwargs.get('endpoint_url', '(AWS)')}; check the URL "
                "and that the server is running"
            ) from None
        except ClientError as exc:
            err = exc.response.get("Error", {})
            code = str(err.get("Code", ""))
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if code in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied",
                        "InvalidToken", "ExpiredToken", "403") or status == 403:
                raise WarehouseError(
                    f"{action} failed: S3 rejected the credentials for {where} ({code or status}). "
                    "Check AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (or AWS_PROFILE) and that they "
                    f"may read and write this bucket (credentials came from: "
                    f"{self._credential_source()})"
                ) from None
            if code in ("NoSuchBucket", "404") and action.startswith("check"):
                raise WarehouseError(
                    f"{action} failed: {where} does not exist: create it "
                    f"(e.g. `aws s3 mb s3://{self.bucket}`) or fix the bucket name in the "
                    "warehouse URL"
                ) from None
            if code == "NoSuchBucket":
                raise WarehouseError(
                    f"{action} failed: {where} does not exist: create it or fix the bucket name"
                ) from None
            raise WarehouseError(
                f"{action} failed on {where}: {code} {err.get('Message', '')}".rstrip()
            ) from None

    def check(self) -> None:
        """One HEAD on the bucket: clear errors for bad credentials, missing bucket, bad URL."""
        with self._errors(f"check of warehouse {self.describe()}"):
            self.client.head_bucket(Bucket=self.bucket)
        self._checked = True

    def _ensure_checked(self) -> None:
        if not self._checked:
            self.check()

    # -- key/value ------------------------------------------------------------------------

    def put(self, key: str, data: bytes, content_type: str | None = None) -> None:
        self._ensure_checked()
        extra = {"ContentType": content_type} if content_type else {}
        with self._errors(f"write of {self.uri(key)}"):
            self.client.put_object(Bucket=self.bucket, Key=self.object_key(key), Body=data, **extra)

    def get(self, key: str) -> bytes:
        self._ensure_checked()
        from botocore.exceptions import ClientError

        with self._errors(f"read of {self.uri(key)}"):
            try:
                obj = self.client.get_object(Bucket=self.bucket, Key=self.object_key(key))
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                    raise WarehouseError(f"no such warehouse object: {self.uri(key)}") from None
                raise
            return obj["Body"].read()

    def exists(self, key: str) -> bool:
        self._ensure_checked()
        from botocore.exceptions import ClientError

        with self._errors(f"lookup of {self.uri(key)}"):
            try:
                self.client.head_object(Bucket=self.bucket, Key=self.object_key(key))
                return True
            except ClientError as exc:
                if exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 404:
                    return False
                raise

    def delete(self, key: str) -> None:
        self._ensure_checked()
        with self._errors(f"delete of {self.uri(key)}"):
            self.client.delete_object(Bucket=self.bucket, Key=self.object_key(key))

    def list(self, prefix: str) -> list[str]:
        self._ensure_checked()
        full = self.object_key(prefix) if prefix else (f"{self.prefix}/" if self.prefix else "")
        strip = len(self.prefix) + 1 if self.prefix else 0
        keys: list[str] = []
        with self._errors(f"listing of {self.uri(prefix)}"):
            for page in self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=full
            ):
                keys.extend(obj["Key"][strip:] for obj in page.get("Contents", []))
        return sorted(keys)

    # -- DuckDB ---------------------------------------------------------------------------

    def duckdb_secret_sql(self, name: str = "warehouse_s3") -> str:
        """CREATE SECRET statement for this bucket. Contains the secret: never log it."""
        creds = self.session.get_credentials()
        if creds is None:
            raise WarehouseError(
                f"no AWS credentials for {self.describe()}: set AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY (or AWS_PROFILE)"
            )
        frozen = creds.get_frozen_credentials()
        opts = {
            "TYPE": "s3",
            "KEY_ID": frozen.access_key,
            "SECRET": frozen.secret_key,
            "REGION": self.region,
            "SCOPE": f"s3://{self.bucket}",
        }
        if frozen.token:
            opts["SESSION_TOKEN"] = frozen.token
        if self.endpoint_url:
            parsed = urlparse(self.endpoint_url)
            opts["ENDPOINT"] = parsed.netloc + parsed.path.rstrip("/")
            opts["URL_STYLE"] = "path"
            opts["USE_SSL"] = parsed.scheme == "https"
        body = ", ".join(
            f"{k} {str(v).lower() if isinstance(v, bool) else _sql_str(str(v))}"
            for k, v in opts.items()
        )
        return f"CREATE OR REPLACE SECRET {name} ({body})"


def _sql_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


# --------------------------------------------------------------------------------------------
# DuckDB helpers
# --------------------------------------------------------------------------------------------


def httpfs_extension_path() -> Path:
    """Path of the httpfs extension file shipped by the pip package duckdb-extension-httpfs."""
    import duckdb

    try:
        import duckdb_extension_httpfs
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


def new_duckdb_connection(database: str = ":memory:", read_only: bool = False):
    """A DuckDB connection that never downloads extensions."""
    import duckdb

    return duckdb.connect(
        database,
        read_only=read_only,
        config={"autoinstall_known_extensions": False, "autoload_known_extensions": False},
    )


def load_httpfs(con) -> None:
    """LOAD the httpfs extension from the pip package into ``con`` (no download)."""
    con.execute(f"LOAD {_sql_str(str(httpfs_extension_path()))}")


def duckdb_writer_lock(path: str | os.PathLike[str], timeout: float = 60.0):
    """A cross-process lock guarding writes to one DuckDB database file.

    DuckDB allows only one writing process per file; hold this lock around
    ``duckdb.connect(path)`` ... ``close()`` in writers::

        with duckdb_writer_lock("history.duckdb"):
            con = duckdb.connect("history.duckdb"); ...; con.close()

    Returns a ``filelock.FileLock`` on ``<path>.lock`` (re-entrant in one process).
    """
    from filelock import FileLock

    return FileLock(f"{os.fspath(path)}.lock", timeout=timeout)


# --------------------------------------------------------------------------------------------
# The warehouse
# --------------------------------------------------------------------------------------------


def _read_parquet_bytes(data: bytes) -> pa.Table:
    return pq.read_table(io.BytesIO(data))


class Warehouse:
    """Partitioned Parquet tables and plain objects on a local folder or S3.

    Build it with ``Warehouse.from_url(...)`` or ``Warehouse.from_env()``.
    """

    def __init__(self, backend: _LocalBackend | _S3Backend):
        self._backend = backend

    # -- construction ---------------------------------------------------------------------

    @classmethod
    def from_url(
        cls,
        url: str | os.PathLike[str],
        endpoint_url: str | None = None,
        region: str | None = None,
    ) -> "Warehouse":
        """Open ``/abs/path``, ``relative/path``, ``file:///p`` or ``s3://bucket/prefix``.

        For S3, credentials come from the standard AWS chain (AWS_ACCESS_KEY_ID /
        AWS_SECRET_ACCESS_KEY, AWS_PROFILE, ~/.aws, instance roles). ``endpoint_url`` selects an
        S3-compatible store (MinIO, SeaweedFS, R2, ...); when None, AWS_ENDPOINT_URL_S3 or
        AWS_ENDPOINT_URL are used if set.
        """
        text = os.fspath(url)
        if not text:
            raise WarehouseError("empty warehouse URL: give a folder path or s3://bucket/prefix")
        parsed = urlparse(text)
        if parsed.scheme == "s3":
            if not parsed.netloc:
                raise WarehouseError(f"warehouse URL {text!r} has no bucket: use s3://bucket/prefix")
            endpoint = (
                endpoint_url
                or os.environ.get("AWS_ENDPOINT_URL_S3")
                or os.environ.get("AWS_ENDPOINT_URL")
                or None
            )
            return cls(_S3Backend(parsed.netloc, parsed.path, endpoint_url=endpoint, region=region))
        if parsed.scheme == "file":
            return cls(_LocalBackend(parsed.path))
        if parsed.scheme and len(parsed.scheme) > 1:  # "C:" style drive letters are paths
            raise WarehouseError(
                f"unsupported warehouse URL {text!r}: use a folder path, file:///path or "
                "s3://bucket/prefix"
            )
        return cls(_LocalBackend(text))

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, default_url: str = "warehouse"
    ) -> "Warehouse":
        """Open the warehouse named by EVAL_WAREHOUSE_URL (default: ``default_url``).

        S3 settings: AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL, AWS_REGION, and the AWS
        credential chain.
        """
        env = os.environ if environ is None else environ
        region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or None
        endpoint = env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL") or None
        return cls.from_url(env.get(WAREHOUSE_URL_ENV) or default_url, endpoint, region)

    # -- description ----------------------------------------------------------------------

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
        return self._backend.uri(_check_key(key))

    def write_bytes(self, key: str, data: bytes, content_type: str | None = None) -> str:
        """Atomically create or replace object ``key``; returns its URI."""
        self._backend.put(_check_key(key), bytes(data), content_type)
        return self.uri(key)

    def read_bytes(self, key: str) -> bytes:
        """Contents of ``key``; WarehouseError if it does not exist."""
        return self._backend.get(_check_key(key))

    def exists(self, key: str) -> bool:
        """Whether object ``key`` exists."""
        return self._backend.exists(_check_key(key))

    def delete(self, key: str) -> None:
        """Delete object ``key`` (no error if absent)."""
        self._backend.delete(_check_key(key))

    def list_keys(self, prefix: str = "") -> list[str]:
        """Sorted keys starting with ``prefix`` (plain string prefix, relative to the root)."""
        return self._backend.list(prefix)

    # -- tables ---------------------------------------------------------------------------

    def list_tables(self) -> list[str]:
        """Names of the tables that hold at least one partition file."""
        tables = set()
        for key in self._backend.list(""):
            table = key.split("/", 1)[0]
            if _NAME_RE.match(table) and _parse_partition_key(table, key) is not None:
                tables.add(table)
        return sorted(tables)

    def partition_uri(self, table: str, partition: Mapping[str, str]) -> str:
        """URI of a partition's data file (whether or not it exists)."""
        return self._backend.uri(partition_key(table, partition))

    def write_table(self, table: str, df: pd.DataFrame, partition: Mapping[str, str]) -> str:
        """Replace the single data file of ``table``/``partition`` with ``df``; returns its URI.

        Partition columns are added to the file as strings; if ``df`` already has such a column,
        every value must equal the partition value.
        """
        part = validate_partition(table, partition)
        key = partition_key(table, part)
        if not isinstance(df, pd.DataFrame):
            raise WarehouseError(f"write_table({table!r}) needs a pandas DataFrame, got {type(df).__name__}")
        for col, value in part.items():
            if col in df.columns:
                bad = df[col].isna() | (df[col].astype(str) != value)
                if bool(bad.any()):
                    sample = df.loc[bad, col].iloc[0]
                    raise WarehouseError(
                        f"write_table({table!r}, partition {part}): column {col!r} has value "
                        f"{sample!r} but the partition says {value!r}; fix the data or the partition"
                    )
        try:
            arrow = pa.Table.from_pandas(df, preserve_index=False)
        except (pa.ArrowException, TypeError, ValueError) as exc:
            raise WarehouseError(
                f"write_table({table!r}, partition {part}): cannot convert the DataFrame to "
                f"Parquet: {exc}; give each column a single type"
            ) from exc
        # Partition columns are stored as strings, like DuckDB reads them from the path.
        for col, value in part.items():
            column = pa.array([value] * arrow.num_rows, pa.string())
            if col in arrow.column_names:
                arrow = arrow.set_column(arrow.column_names.index(col), col, column)
            else:
                arrow = arrow.append_column(col, column)
        buf = io.BytesIO()
        pq.write_table(arrow, buf, compression="zstd")
        self._backend.put(key, buf.getvalue(), PARQUET_CONTENT_TYPE)
        return self._backend.uri(key)

    def list_partitions(self, table: str, where: Mapping[str, str] | None = None) -> list[dict[str, str]]:
        """Partitions of ``table`` (sorted), optionally only those matching every ``where`` item."""
        _check_name("table", table)
        out = []
        for key in self._backend.list(f"{table}/"):
            part = _parse_partition_key(table, key)
            if part is None:
                continue
            if where and any(part.get(k) != str(v) for k, v in where.items()):
                continue
            out.append(part)
        return out

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
        tables = []
        for part in self.list_partitions(table, partition):
            data = self._backend.get(partition_key(table, part))
            try:
                tables.append(_read_parquet_bytes(data))
            except pa.ArrowException as exc:
                raise WarehouseError(
                    f"corrupt Parquet file {self.partition_uri(table, part)}: {exc}; "
                    "re-materialize that partition"
                ) from exc
        if not tables:
            return pd.DataFrame(columns=list(columns) if columns else None)
        arrow = pa.concat_tables(tables, promote_options="permissive")
        if filters:
            arrow = arrow.filter(pq.filters_to_expression(filters))
        if columns:
            missing = [c for c in columns if c not in arrow.column_names]
            if missing:
                raise WarehouseError(
                    f"read_table({table!r}): unknown columns {missing}; available: {arrow.column_names}"
                )
            arrow = arrow.select(list(columns))
        return arrow.to_pandas()

    def delete_partition(self, table: str, partition: Mapping[str, str]) -> bool:
        """Delete one partition's file; returns whether it existed."""
        key = partition_key(table, partition)
        existed = self._backend.exists(key)
        if existed:
            self._backend.delete(key)
        return existed

    # -- DuckDB ---------------------------------------------------------------------------

    def table_glob(self, table: str) -> str:
        """Glob matching every data file of ``table`` (``<root>/<table>/**/*.parquet``)."""
        _check_name("table", table)
        return self._backend.uri(f"{table}/**/*.parquet")

    def table_sql(self, table: str) -> str:
        """A ``read_parquet(...)`` expression over ``table`` with partition columns as VARCHAR."""
        return (
            f"read_parquet({_sql_str(self.table_glob(table))}, hive_partitioning=true, "
            "union_by_name=true, hive_types_autocast=false)"
        )

    def connect_duckdb(self, database: str = ":memory:", read_only: bool = False):
        """A DuckDB connection that can read this warehouse.

        Never downloads extensions. For S3 it LOADs httpfs from the pip package and creates a
        secret scoped to the bucket (endpoint, path-style URLs and SSL set from endpoint_url).
        """
        con = new_duckdb_connection(database, read_only=read_only)
        if isinstance(self._backend, _S3Backend):
            import duckdb

            try:
                load_httpfs(con)
                con.execute(self._backend.duckdb_secret_sql())
            except duckdb.Error as exc:
                con.close()
                # The statement holds the secret: report only the error class/first line.
                first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                raise WarehouseError(
                    f"could not configure DuckDB for {self._backend.describe()}: {first}"
                ) from None
        return con

    def register_views(self, con, tables: Sequence[str] | None = None) -> list[str]:
        """Create one view per table (default: every table that has data); returns the names."""
        names = list(tables) if tables is not None else self.list_tables()
        for name in names:
            con.execute(f'CREATE OR REPLACE VIEW "{_check_name("table", name)}" AS '
                        f"SELECT * FROM {self.table_sql(name)}")
        return names

    def query(self, sql: str, tables: Sequence[str] | None = None) -> pd.DataFrame:
        """Run ``sql`` with each table available as a view of the same name; returns a DataFrame."""
        import duckdb

        con = self.connect_duckdb()
        try:
            names = self.register_views(con, tables)
            try:
                return con.execute(sql).df()
            except duckdb.Error as exc:
                raise WarehouseError(
                    f"query on warehouse {self.root} failed: {exc} (tables available: {names})"
                ) from exc
        finally:
            con.close()
