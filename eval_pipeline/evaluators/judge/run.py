"""One judge run, the plumbing both modes share: which sample rows are sent, their calls, the verdict frame.

In: a graded-samples frame, a :class:`~eval_pipeline.project.judge.JudgeConfig` of one mode, the prompt, an
``execute`` provider function, and from the mode (:mod:`.pointwise`, :mod:`.pairwise`) the prompt context of
each order it judges a sample row in (``""`` pointwise; ``AB`` and ``BA`` pairwise) and how the calls of one
(sample row, judge repeat) become a verdict row. Out: :func:`judge_verdicts`, the verdict frame: one row per
(sample row, judge repeat) sent (``config.repeats`` per row, every order; retries and statuses:
:func:`.parse._run_calls`), and one ``skipped`` row per sample row not sent (an infrastructure error, no
response text, or the mode's own reason), with why in ``message`` and nothing paid.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from itertools import groupby
from typing import Any

import pandas as pd

from eval_pipeline.evaluators.judge.parse import _Call, _prepare_run, _run_calls, _verdict_frame
from eval_pipeline.evaluators.judge.prompts import PromptTemplate
from eval_pipeline.evaluators.judge.requests import Executor
from eval_pipeline.evaluators.judge.samples import _response_skip_reason, _row_ids
from eval_pipeline.project.judge import JudgeConfig

# sample row -> {order: prompt context} to send it, or the reason it is not sent
Contexts = Callable[[int], "dict[str, dict[str, Any]] | str"]
# the calls of one (sample row, judge repeat), in order -> that verdict row's columns after the ids
VerdictRow = Callable[[Sequence[_Call]], dict[str, Any]]
# what a row that was not sent paid (the columns a mode's frame has)
_NOTHING_PAID = {"attempts": 0, "cost_usd": 0.0, "cached": False}


def judge_verdicts(
    samples: pd.DataFrame,
    config: JudgeConfig,
    execute: Executor,
    prompt: PromptTemplate | None,
    mode: str,
    *,
    sample_columns: Iterable[str],
    columns: list[str],
    status_columns: Sequence[str],
    contexts: Contexts,
    verdict_row: VerdictRow,
) -> pd.DataFrame:
    """The verdict frame (``columns``) of one judge run in ``mode`` (see the module docstring; a config of
    another mode is an error). ``sample_columns`` are the columns the samples frame must have;
    ``status_columns`` the verdict columns set to ``skipped`` on a row that was not sent (its other
    columns None)."""
    prompt, evaluator = _prepare_run(samples, config, prompt, mode, sample_columns, f"judge_{mode}_verdicts")
    calls: list[_Call] = []
    skipped: list[tuple[int, str]] = []
    for i in range(len(samples)):
        _, why = _response_skip_reason(samples, i)
        sent = why if why is not None else contexts(i)
        if isinstance(sent, str):
            skipped.append((i, sent))
            continue
        for r in range(config.repeats):
            calls.extend(_Call(i, r, order, context) for order, context in sent.items())
    _run_calls(calls, config, prompt, execute, samples, evaluator)
    rows = [
        {**_row_ids(samples, row), "judge_repeat": repeat, **verdict_row(list(group))}
        for (row, repeat), group in groupby(calls, key=lambda c: (c.row, c.judge_repeat))
    ]
    for i, why in skipped:
        row = dict.fromkeys(columns)
        row.update(_row_ids(samples, i), message=why, **dict.fromkeys(status_columns, "skipped"))
        row.update({k: v for k, v in _NOTHING_PAID.items() if k in row})
        rows.append(row)
    return _verdict_frame(rows, columns)
