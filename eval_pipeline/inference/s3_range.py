"""A read-only, seekable file over one S3 object, for pyarrow's Parquet reader.

In: a storage backend with ``client`` / ``bucket`` / ``object_key`` (``storage/s3.py``) and a key. Out: a
file object whose reads are ranged GETs; the object's tail (the Parquet footer) is fetched once with the
first request, which also gives the object's size (no HEAD).
"""
from __future__ import annotations

import io
from typing import Any


class S3Range(io.RawIOBase):
    """A read-only file over one S3 object: every read is a ranged GET; the tail (footer) is fetched once."""

    TAIL = 256 * 1024

    def __init__(self, backend: Any, key: str):
        self._client, self._bucket, self._key = backend.client, backend.bucket, backend.object_key(key)
        got = self._client.get_object(Bucket=self._bucket, Key=self._key, Range=f"bytes=-{self.TAIL}")
        self._tail = got["Body"].read()
        self._size = int(got["ContentRange"].rsplit("/", 1)[1]) if got.get("ContentRange") else len(self._tail)
        self._tail_at = self._size - len(self._tail)
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = 0) -> int:
        self._pos = offset if whence == 0 else self._pos + offset if whence == 1 else self._size + offset
        return self._pos

    def size(self) -> int:
        return self._size

    def read(self, n: int = -1) -> bytes:
        end = self._size if n is None or n < 0 else min(self._size, self._pos + n)
        if end <= self._pos:
            return b""
        if self._pos >= self._tail_at:
            data = self._tail[self._pos - self._tail_at:end - self._tail_at]
        else:
            data = self._client.get_object(Bucket=self._bucket, Key=self._key, Range=f"bytes={self._pos}-{end - 1}")["Body"].read()
        self._pos += len(data)
        return data

    def readinto(self, b: Any) -> int:
        data = self.read(len(b))
        b[:len(data)] = data
        return len(data)
