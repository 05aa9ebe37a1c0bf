"""The one exception of the storage package.

In: nothing. Out: :class:`WarehouseError`, raised by every storage module with a message that
says what to fix (bad key or partition, missing object, S3 credentials/bucket/endpoint, DuckDB
httpfs version mismatch).
"""

from __future__ import annotations

__all__ = ["WarehouseError"]


class WarehouseError(RuntimeError):
    """Any warehouse failure with a message that says what to fix."""


_OS_HINTS = {
    28: "the disk is full: free space there (or point EVAL_WAREHOUSE_URL elsewhere)",
    30: "the file system is read-only: mount it writable (or point EVAL_WAREHOUSE_URL elsewhere)",
    13: "permission denied: fix the folder's permissions",
    122: "the disk quota is exceeded: free space there",
}


def os_error(
    exc: OSError,
    action: str,
    path: object,
    root: object,
    note: str = "Nothing was half-written (writes go to a temp file first).",
) -> WarehouseError:
    """An OSError on the warehouse as a WarehouseError naming the path, the warehouse and the fix."""
    hint = _OS_HINTS.get(exc.errno or 0, "check the folder")
    reason = exc.strerror or str(exc) or type(exc).__name__
    code = f"[Errno {exc.errno}] " if exc.errno is not None else ""
    return WarehouseError(
        f"{action} of {path} failed: {code}{reason} on the warehouse {root}: {hint}. {note}"
    )
