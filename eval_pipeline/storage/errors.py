"""The one exception of the storage package.

In: nothing. Out: :class:`WarehouseError`, raised by every storage module with a message that
says what to fix (bad key or partition, missing object, S3 credentials/bucket/endpoint, DuckDB
httpfs version mismatch).
"""

from __future__ import annotations

__all__ = ["WarehouseError"]


class WarehouseError(RuntimeError):
    """Any warehouse failure with a message that says what to fix."""
