"""Local-folder backend: a key -> bytes store on files under one root folder.

In: keys (relative ``/`` paths, already checked by :mod:`eval_pipeline.storage.keys`) and bytes.
Out: bytes, key listings, absolute-path URIs. Writes are atomic for readers: a temp file
(``.<name>.tmp-<uuid>``, hidden from listings) in the same folder, fsync-ed, then ``os.replace``-d
over the old file. Deleting a key removes the partition folders it leaves empty.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

from eval_pipeline.storage.errors import WarehouseError, os_error

if TYPE_CHECKING:
    import duckdb

__all__ = ["LocalBackend"]


class LocalBackend:
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

    def configure_duckdb(self, con: duckdb.DuckDBPyConnection) -> None:
        """Nothing to set up: DuckDB reads local files directly."""

    def put(self, key: str, data: bytes, content_type: str | None = None) -> None:
        target = self.path(key)
        tmp = target.parent / f".{target.name}.tmp-{uuid.uuid4().hex}"
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            with open(tmp, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        except BaseException as exc:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
            if isinstance(exc, OSError):
                raise os_error(exc, "write", target, self.root) from None
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
