"""Reading the graded-samples frame the judge consumes.

In: a graded-samples frame (one row per sample and response repeat, with at least
:data:`_SAMPLE_COLUMNS`) and a row index. Out: plain values - the key columns of a score row,
the optional columns (missing/NaN -> default), the ids of a verdict row, and why a row is not
sent to the judge (an infrastructure error or no response text).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import pandas as pd

from eval_pipeline.inference.types import INFRA_ERROR_CATEGORIES

_SAMPLE_COLUMNS = ("sample_id", "repeat", "response_text", "error_category", "input", "expected")


def _is_missing(value: Any) -> bool:
    try:
        return value is None or (isinstance(value, float) and math.isnan(value))
    except TypeError:  # pragma: no cover - exotic types
        return False


def _key_columns(samples: pd.DataFrame, i: int, keys: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for col in ("date", "model_version", "suite", "eval_set"):
        out[col] = samples[col].iat[i] if col in samples.columns else keys.get(col)
    return out


def _require_columns(samples: pd.DataFrame, columns: Iterable[str], what: str) -> None:
    missing = [c for c in columns if c not in samples.columns]
    if missing:
        raise ValueError(f"{what}: samples frame is missing column(s) {missing}; got {list(samples.columns)}")


def _response_skip_reason(
    samples: pd.DataFrame, i: int, column: str = "response_text"
) -> tuple[str | None, str | None]:
    """Why a sample is not sent to the judge: (infra category, reason) or (None, reason) or (None, None)."""
    err = _cell(samples, "error_category", i)
    err = None if _is_missing(err) else err
    if err in INFRA_ERROR_CATEGORIES:
        return err, f"response infra error: {err}"
    text = samples[column].iat[i]
    if _is_missing(text) or not str(text).strip():
        return None, f"no response text ({err or 'empty'})"
    return None, None


def _cell(samples: pd.DataFrame, col: str, i: int) -> Any:
    """The value of the required column ``col`` at row ``i``."""
    return samples[col].iat[i]


def _row_value(samples: pd.DataFrame, col: str, i: int, default: Any = None) -> Any:
    if col not in samples.columns:
        return default
    v = samples[col].iat[i]
    return default if (not isinstance(v, (dict, list)) and _is_missing(v)) else v


def _row_ids(samples: pd.DataFrame, i: int) -> dict[str, Any]:
    """The ids a verdict row starts with: sample row index, ``sample_id`` and response ``repeat``."""
    return {"row": i, "sample_id": samples["sample_id"].iat[i], "repeat": int(_cell(samples, "repeat", i))}
