"""S3 backend: a key -> bytes store on objects under ``s3://bucket/prefix/`` (AWS or S3-compatible).

In: keys (relative ``/`` paths, already checked by :mod:`eval_pipeline.storage.keys`), bytes,
a bucket, prefix, optional ``endpoint_url`` (MinIO, SeaweedFS, R2, ...) and region; credentials
from the standard AWS chain. Out: bytes, key listings, ``s3://`` URIs, and a DuckDB connection
set up to read the bucket (httpfs + a secret scoped to it).

Every write is one whole-object PUT (atomic for readers) carrying the SHA-256 of its bytes in the
object's metadata (``x-amz-meta-sha256``). The bucket is checked with one HEAD before the first
operation; every boto error becomes a WarehouseError that says what to fix (credentials, missing
bucket, unreachable endpoint).

A write that fails ambiguously (read timeout, connection closed or refused, 5xx: the PUT may have
landed although the client reports failure) is checked with one short HEAD (one attempt, at most
5 s): the object holds the expected bytes (same SHA-256 and length) -> the write succeeded; it is
absent or holds other bytes -> the PUT is sent once more (same key, same bytes: nothing duplicated)
and checked again; the HEAD itself fails -> the error says that whether it landed is unknown and
that a rerun writes it again. Either way the error says what is known.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from eval_pipeline.storage.db import load_httpfs, sql_str
from eval_pipeline.storage.errors import WarehouseError

if TYPE_CHECKING:
    import duckdb

__all__ = ["S3Backend"]

log = logging.getLogger(__name__)

SHA256_META = "sha256"  # user metadata key (x-amz-meta-sha256) holding the hex SHA-256 of the body


class S3Backend:
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
        from botocore.config import Config  # noqa: PLC0415 - keeps botocore out of `eval-pipeline --help`

        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.endpoint_url = endpoint_url
        if endpoint_url is not None and urlparse(endpoint_url).scheme not in ("http", "https"):
            raise WarehouseError(f"S3 endpoint_url {endpoint_url!r} must start with http:// or https://")
        self.session = boto3.session.Session(region_name=region)
        if region is None and self.session.region_name is None:
            region = "us-east-1"  # S3-compatible stores ignore it; AWS needs some value
        self.region = region or self.session.region_name

        # A hanging endpoint fails within about (read_timeout x attempts): 3 x 20 s by default.
        self.read_timeout_s = float(os.environ.get("EVAL_S3_READ_TIMEOUT_S") or 20)
        self.attempts = 3
        config = Config(
            connect_timeout=5,
            read_timeout=self.read_timeout_s,
            retries={"max_attempts": self.attempts, "mode": "standard"},
            s3={"addressing_style": "path" if endpoint_url else "auto"},
        )
        self.client = client or self.session.client(
            "s3", endpoint_url=endpoint_url, region_name=self.region, config=config
        )
        self._checked = False
        # One short attempt per check of an ambiguous write (a hanging endpoint must not double the wait).
        self._verify_client = client or self.session.client(
            "s3",
            endpoint_url=endpoint_url,
            region_name=self.region,
            config=config.merge(
                Config(
                    connect_timeout=5,
                    read_timeout=min(5.0, self.read_timeout_s),
                    retries={"total_max_attempts": 1, "mode": "standard"},
                )
            ),
        )

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
        from botocore.exceptions import (  # noqa: PLC0415 - keeps botocore out of `eval-pipeline --help`
            ClientError,
            ConnectionClosedError,
            ConnectTimeoutError,
            EndpointConnectionError,
            NoCredentialsError,
            PartialCredentialsError,
            ReadTimeoutError,
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
        except (ReadTimeoutError, ConnectionClosedError) as exc:
            what = (
                f"did not answer within {self.read_timeout_s:g} s ({self.attempts} attempts)"
                if isinstance(exc, ReadTimeoutError)
                else "closed the connection"
            )
            raise WarehouseError(
                f"{action} failed: the S3 endpoint {self.endpoint_url or '(AWS)'} {what}; "
                "check that the server is up and not overloaded (EVAL_S3_READ_TIMEOUT_S sets the wait)"
            ) from None
        except ClientError as exc:
            err = exc.response.get("Error", {})
            code = str(err.get("Code", ""))
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if (
                code
                in (
                    "InvalidAccessKeyId",
                    "SignatureDoesNotMatch",
                    "AccessDenied",
                    "InvalidToken",
                    "ExpiredToken",
                    "403",
                )
                or status == 403
            ):
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
        """One whole-object PUT; an ambiguous failure is checked (and the PUT repeated once) before
        it is reported (see the module docstring)."""
        self._ensure_checked()
        digest = hashlib.sha256(data).hexdigest()
        extra: dict[str, Any] = {"ContentType": content_type} if content_type else {}
        action = f"write of {self.uri(key)}"
        for attempt in (1, 2):
            failure: BaseException | None = None
            try:
                with self._errors(action):
                    try:
                        self.client.put_object(
                            Bucket=self.bucket,
                            Key=self.object_key(key),
                            Body=data,
                            Metadata={SHA256_META: digest},
                            **extra,
                        )
                        return
                    except Exception as exc:
                        failure = exc if _ambiguous(exc) else None
                        raise
            except WarehouseError as err:
                if failure is None:
                    raise
                landed = self._landed(key, digest, len(data))
                if landed is True:
                    log.warning(
                        "%s reported %s, but the object holds the expected bytes: written",
                        action,
                        type(failure).__name__,
                    )
                    return
                if landed is False and attempt == 1:
                    log.warning(
                        "%s reported %s and did not land: sending it once more",
                        action,
                        type(failure).__name__,
                    )
                    continue
                known = (
                    "checked afterwards: it did not land (the object is absent or holds earlier bytes)"
                    if landed is False
                    else "whether it landed is unknown (the check afterwards failed too)"
                )
                raise WarehouseError(
                    f"{err}; {known}. A rerun writes it again (one whole object per key: nothing is duplicated)"
                ) from None

    def _landed(self, key: str, digest: str, size: int) -> bool | None:
        """Does the object hold exactly these bytes? None if the check itself failed."""
        from botocore.exceptions import ClientError  # noqa: PLC0415 - keeps botocore out of `eval-pipeline --help`

        try:
            head = self._verify_client.head_object(Bucket=self.bucket, Key=self.object_key(key))
        except ClientError as exc:
            if exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 404:
                return False
            return None
        except Exception:
            return None
        return head.get("Metadata", {}).get(SHA256_META) == digest and head.get("ContentLength") == size

    def get(self, key: str) -> bytes:
        self._ensure_checked()
        from botocore.exceptions import ClientError  # noqa: PLC0415 - keeps botocore out of `eval-pipeline --help`

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
        from botocore.exceptions import ClientError  # noqa: PLC0415 - keeps botocore out of `eval-pipeline --help`

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
        opts: dict[str, str | bool | None] = {
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
            f"{k} {str(v).lower() if isinstance(v, bool) else sql_str(str(v))}" for k, v in opts.items()
        )
        return f"CREATE OR REPLACE SECRET {name} ({body})"

    def configure_duckdb(self, con: duckdb.DuckDBPyConnection) -> None:
        """LOAD httpfs from the pip package and create this bucket's secret in ``con``.

        On a DuckDB error ``con`` is closed and the error reported without the statement
        (which holds the secret).
        """
        import duckdb  # noqa: PLC0415 - keeps duckdb out of `eval-pipeline --help`

        try:
            load_httpfs(con)
            con.execute(self.duckdb_secret_sql())
        except duckdb.Error as exc:
            con.close()
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise WarehouseError(f"could not configure DuckDB for {self.describe()}: {first}") from None


def _ambiguous(exc: BaseException) -> bool:
    """A failure after which a PUT may have landed: timeout, closed or refused connection, 5xx."""
    from botocore.exceptions import (  # noqa: PLC0415 - keeps botocore out of `eval-pipeline --help`
        ClientError,
        ConnectionClosedError,
        ConnectTimeoutError,
        EndpointConnectionError,
        ReadTimeoutError,
    )

    if isinstance(
        exc, (ReadTimeoutError, ConnectionClosedError, ConnectTimeoutError, EndpointConnectionError)
    ):
        return True
    if isinstance(exc, ClientError):
        return (exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0) >= 500
    return False
