"""Where things live. Everything is overridable by environment variables.

In: the environment (``EVAL_DATA_DIR``, ``EVAL_WAREHOUSE_URL``). Out: the data folder and the
warehouse URL (defaults under the project root).
"""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def data_dir() -> Path:
    """Root of suites, golden sets, prompts and the model registry (``EVAL_DATA_DIR``, default ``./data``)."""
    return Path(os.environ.get("EVAL_DATA_DIR") or PROJECT_ROOT / "data").resolve()  # empty = not configured


def default_warehouse_url() -> str:
    """Warehouse root (``EVAL_WAREHOUSE_URL``): a local folder by default, or ``s3://bucket/prefix``."""
    return os.environ.get("EVAL_WAREHOUSE_URL") or str(PROJECT_ROOT / "warehouse")  # empty = not configured
