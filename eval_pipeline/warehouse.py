"""Compatibility shim: the warehouse moved to the package :mod:`eval_pipeline.storage`.

In/out: the same names as before (``Warehouse``, ``WarehouseError``, the DuckDB helpers, the
partition layout), re-exported from ``eval_pipeline.storage`` so existing imports keep working.
Temporary: the lead will rewrite imports to ``eval_pipeline.storage`` and delete this module;
do not add code here and do not import it in new code.
"""
from __future__ import annotations

from eval_pipeline.storage import *  # noqa: F401,F403
from eval_pipeline.storage import __all__ as _storage_all
from eval_pipeline.storage.keys import partition_key  # noqa: F401  (was a module-level helper here)

__all__ = [n for n in _storage_all if n != "keys"]
