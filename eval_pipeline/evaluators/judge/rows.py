"""Score rows: the long-format rows judge verdicts become, and the helpers both modes share.

In: a graded-samples frame and its verdict frame (pointwise or pairwise), the config and the
prompt. Out: per sample row the common columns of its score rows (key columns, ``sample_id``,
``repeat``, ``family="judge"``, ``category``, ``evaluator_hash``, ``judge_model``, ``rubric_hash``) with its verdicts
(:func:`_sample_groups`), and one row of :data:`eval_pipeline.project.schemas.SCORE_COLUMNS` per metric
(:func:`_score_row`; an answer's words: :func:`_length_row`), with reasons cut to an excerpt.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pandas as pd

from eval_pipeline.evaluators.judge.length_control import word_count
from eval_pipeline.evaluators.judge.parse import STATUS_REFUSAL, STATUS_UNPARSEABLE
from eval_pipeline.evaluators.judge.prompts import PromptTemplate, default_prompt
from eval_pipeline.evaluators.judge.requests import evaluator_hash, judge_identity
from eval_pipeline.evaluators.judge.samples import _cell, _key_columns, _row_value
from eval_pipeline.project.judge import JudgeConfig

FAMILY = "judge"
REASON_EXCERPT_CHARS = 300


def _excerpt(text: str | None, n: int = REASON_EXCERPT_CHARS) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= n else text[: n - 1] + "…"


def _score_row(
    base: dict[str, Any], metric: str, value: Any, passed: Any, reason: str, infra: Any
) -> dict[str, Any]:
    row = dict(base)
    row.update(
        metric=metric,
        value=None if value is None else float(value),
        passed=passed,
        reason=reason,
        infra_error=infra,
    )
    return row


def _length_row(base: dict[str, Any], metric: str, text: Any, what: str) -> dict[str, Any]:
    """The words of one answer (``metric`` of :mod:`.length_control`: the score-vs-length association)."""
    return _score_row(base, metric, word_count(text), None, f"words of the {what}", None)


def _sample_groups(
    samples: pd.DataFrame,
    verdicts: pd.DataFrame,
    config: JudgeConfig,
    prompt: PromptTemplate | None,
    keys: dict[str, Any] | None,
    hint: str = "",
) -> Iterator[tuple[int, dict[str, Any], pd.DataFrame]]:
    """Yield ``(row, base columns, verdicts of that row)`` for every sample row, in order.

    A sample row without verdicts is an error (``hint`` is appended to its message).
    """
    keys = keys or {}
    h = evaluator_hash(config, prompt or default_prompt(config.mode))
    identity = judge_identity(config, prompt or default_prompt(config.mode))
    by_row = {r: g for r, g in verdicts.groupby("row", sort=True)}
    for i in range(len(samples)):
        base = {
            **_key_columns(samples, i, keys),
            "sample_id": samples["sample_id"].iat[i],
            "repeat": int(_cell(samples, "repeat", i)),
            "family": FAMILY,
            "category": _row_value(samples, "category", i),
            "evaluator_hash": h,
            **identity,
        }
        g = by_row.get(i)
        if g is None:
            raise ValueError(f"verdicts have no row for sample row {i} ({base['sample_id']}){hint}")
        yield i, base, g


def _status_totals(rows: pd.DataFrame) -> dict[str, int]:
    """Total ``judge_unparseable`` and ``judge_refusal`` counts over score rows."""
    return {
        status: int(rows.loc[rows["metric"] == status, "value"].sum())
        for status in (STATUS_UNPARSEABLE, STATUS_REFUSAL)
    }
