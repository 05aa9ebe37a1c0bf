"""Scoring a frame of graded samples with configured checks -> long-format score rows.

In: the graded-samples frame (columns sample_id, repeat, response_text, error_category, input,
expected, metadata, category; ``*_json`` variants are decoded) and a list of
:class:`.registry.Check`. Out: a DataFrame with exactly :data:`eval_pipeline.project.schemas.SCORE_COLUMNS`,
one row per (sample, repeat, check) plus the checks' auxiliary rows. Infrastructure errors give
``passed=None`` and ``infra_error=<category>`` (never a failed answer); refusals and empty
answers fail every check. :func:`finish_score_frame` is shared with the similarity family.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Hashable, Mapping
from typing import Any

import pandas as pd

from eval_pipeline.evaluators.deterministic.base import CheckError, CheckResult, Sample
from eval_pipeline.evaluators.deterministic.check_registry import Check
from eval_pipeline.inference.types import INFRA_ERROR_CATEGORIES, MODEL_ERROR_CATEGORIES
from eval_pipeline.project.schemas import SCORE_COLUMNS

FAMILY = "deterministic"
CHECK_ERROR_PREFIX = "check error:"  # reason of a row a check could not decide (passed empty)
log = logging.getLogger(__name__)
# Model-side outcomes that fail every check regardless of the text (max_tokens is scored as is).
FAILING_MODEL_ERRORS = ("refusal", "empty")


def _none_if_nan(v: Any) -> Any:
    if v is None:
        return None
    if isinstance(v, float) and math.isnan(v):
        return None
    try:
        if v is pd.NA or v is pd.NaT:
            return None
    except TypeError:
        pass
    return v


def _decoded(row: Mapping[Hashable, Any], col: str) -> Any:
    """Column ``col`` of a sample row, or the decoded ``<col>_json`` column when only that exists."""
    if col in row:
        return _none_if_nan(row[col])
    raw = _none_if_nan(row.get(f"{col}_json"))
    return json.loads(raw) if isinstance(raw, str) else raw


def samples_from_frame(samples: pd.DataFrame) -> list[Sample]:
    """Turn the graded-samples frame (see module doc) into :class:`Sample` objects."""
    rows = samples.to_dict("records")
    expected = [_decoded(r, "expected") for r in rows]
    labels = frozenset(e for e in expected if isinstance(e, str))
    out = []
    for r, exp in zip(rows, expected):
        text = _none_if_nan(r.get("response_text"))
        meta = _decoded(r, "metadata") or {}
        out.append(
            Sample(
                sample_id=str(r["sample_id"]),
                repeat=int(_none_if_nan(r.get("repeat")) or 0),
                text=text if isinstance(text, str) else "",
                input=_decoded(r, "input"),
                expected=exp,
                metadata=meta if isinstance(meta, dict) else {},
                category=_none_if_nan(r.get("category"))
                or (meta.get("category") if isinstance(meta, dict) else None),
                error_category=_none_if_nan(r.get("error_category")),
                eval_set_labels=labels,
                tool_calls=_decoded(r, "tool_calls"),
                trajectory=_decoded(r, "trajectory"),
            )
        )
    return out


def is_infra_error(category: str | None) -> bool:
    """True for infrastructure failures (and unknown categories): such rows are never scored."""
    return category is not None and category not in MODEL_ERROR_CATEGORIES


def score_sample(sample: Sample, checks: list[Check]) -> list[dict[str, Any]]:
    """Score rows (without the partition columns) of one sample under every check."""
    rows = []
    infra = sample.error_category if is_infra_error(sample.error_category) else None
    for c in checks:
        base = {
            "sample_id": sample.sample_id,
            "repeat": sample.repeat,
            "family": FAMILY,
            "metric": c.name,
            "category": sample.category,
            "infra_error": infra,
            "evaluator_hash": c.evaluator_hash,
        }
        if infra is not None:
            known = infra in INFRA_ERROR_CATEGORIES
            rows.append(
                {
                    **base,
                    "value": None,
                    "passed": None,
                    "reason": f"infra error: {infra} (not scored)"
                    if known
                    else f"unknown error category {infra!r} (not scored)",
                }
            )
            continue
        try:
            res = c(sample)
        except CheckError as exc:  # undecided, not failed: excluded from pass rates, counted
            res = CheckResult(None, f"{CHECK_ERROR_PREFIX} {c.name!r} on sample {sample.sample_id!r}: {exc}")
            log.warning("%s", res.reason)
        except Exception as exc:  # noqa: BLE001 - one broken check must not lose the run
            res = CheckResult(False, f"check crashed: {type(exc).__name__}: {exc}")
        passed, reason = res.passed, res.reason
        if sample.error_category in FAILING_MODEL_ERRORS and passed is not None:
            detail = reason if (res.passed is False and sample.text.strip()) else "no usable answer"
            passed, reason = False, f"model {sample.error_category}: {detail}"
        value = res.value if res.value is not None else (None if passed is None else float(passed))
        rows.append({**base, "value": value, "passed": passed, "reason": reason})
        for suffix, v, why in res.extras:
            rows.append({**base, "metric": f"{c.name}.{suffix}", "value": v, "passed": None, "reason": why})
    return rows


def score_deterministic(
    samples: pd.DataFrame,
    checks: list[Check],
    *,
    date: str | None = None,
    model_version: str | None = None,
    suite: str | None = None,
    eval_set: str | None = None,
) -> pd.DataFrame:
    """Run every check on every (sample, repeat) row -> DataFrame with exactly ``SCORE_COLUMNS``.

    ``samples`` has columns sample_id, repeat, response_text, error_category, input, expected,
    metadata, category (``input_json``/``expected_json``/``metadata_json`` are decoded if given
    instead). Partition columns not passed as arguments are taken from the frame when present.
    """
    rows: list[dict[str, Any]] = []
    for s in samples_from_frame(samples):
        rows.extend(score_sample(s, checks))
    return finish_score_frame(
        rows, samples, date=date, model_version=model_version, suite=suite, eval_set=eval_set
    )


def finish_score_frame(
    rows: list[dict[str, Any]], samples: pd.DataFrame | None = None, **partition: str | None
) -> pd.DataFrame:
    """Add partition columns (kwargs, else the samples frame's single value) and order/type ``SCORE_COLUMNS``."""
    df = pd.DataFrame(rows, columns=[c for c in SCORE_COLUMNS if c not in partition])
    for col, val in partition.items():
        if val is None and samples is not None and col in samples.columns and samples[col].nunique() == 1:
            val = str(samples[col].iloc[0])
        df[col] = val
    df = df[SCORE_COLUMNS]
    df["repeat"] = df["repeat"].astype("int64")
    df["value"] = df["value"].astype("float64")
    df["passed"] = df["passed"].astype("boolean")
    for col in (
        "date",
        "model_version",
        "suite",
        "eval_set",
        "sample_id",
        "family",
        "metric",
        "reason",
        "category",
        "infra_error",
        "evaluator_hash",
    ):
        df[col] = df[col].astype(object).where(df[col].notna(), None)
    return df.reset_index(drop=True)


def check_errors(scores: pd.DataFrame) -> tuple[int, int] | None:
    """``(rows a check could not decide, deterministic check rows)`` of one eval set's scores (None
    without deterministic rows): ``scoring`` reports it as the ``check_error_count`` metric."""
    if scores.empty or "reason" not in scores.columns:
        return None
    rows = scores[(scores["family"] == FAMILY) & ~scores["metric"].astype(str).str.contains(".", regex=False)]
    undecided = rows["passed"].isna() & rows["reason"].astype(str).str.startswith(CHECK_ERROR_PREFIX)
    return (int(undecided.sum()), len(rows)) if len(rows) else None
