"""LLM-as-judge evaluator: rubric config, prompt rendering, verdicts, scoring.

In: a suite's ``judge:`` block, a graded-samples frame and an ``execute(requests) -> responses``
provider function. Out: verdict frames (one row per judge call outcome, nothing dropped), score
rows in the long format :data:`eval_pipeline.project.schemas.SCORE_COLUMNS` (``family="judge"``) and
summaries with intervals and n for asset metadata and gates.

The stages, one module each, in the order a run uses them:

1. :mod:`.config` - :class:`JudgeConfig` (pydantic v2, ``extra="forbid"``), the ``judge:``
   block of a suite YAML; bad values fail at load with the key path.
2. :mod:`.prompts` - :func:`load_prompt` (optional custom YAML template with ``system`` and
   ``user`` Jinja2 strings), :func:`render_prompt` (sandbox, ``StrictUndefined``) and
   :func:`verdict_tool`, the forced ``record_verdict`` tool.
3. :mod:`.requests` - :func:`evaluator_hash` of model + rubric + prompt + sampling params,
   written to the ``evaluator_hash`` column and into every request key (:func:`judge_call_key`),
   so changing the rubric re-judges instead of reusing stored verdicts.
4. :mod:`.parse` - execute, validate each tool input with ``jsonschema``, retry invalid
   verdicts under a new attempt key; a call ends ``ok``, ``judge_unparseable``,
   ``judge_refusal`` or with an infrastructure error category.
5. :mod:`.pointwise` / :mod:`.pairwise` - :func:`judge_pointwise_verdicts` /
   :func:`judge_pairwise_verdicts`, :func:`aggregate_pointwise` / :func:`aggregate_pairwise`
   (score rows; :mod:`.rows` holds what both share) and :func:`summarize_pointwise` /
   :func:`summarize_pairwise` (per-dimension pass rates with intervals; win rate with a Wilson
   interval, ties count half, and position consistency); :func:`score` runs the two steps of the
   config's mode in one call.

6. :mod:`.length_control` - verbosity bias: the length-controlled win rate (logistic regression
   of the pairwise outcome on the length difference, AlpacaEval 2.0 style) and, pointwise, the
   score-vs-length Spearman per dimension with a length-adjusted mean.
7. :mod:`.panel` - a judge panel (``judge.models``): independent judges (run by :func:`score`), mean / majority verdict,
   Krippendorff's alpha per dimension, disagreements to the review queue.

:mod:`.samples` reads the graded-samples frame; :mod:`.run` is the plumbing of one judge run both modes
share (which rows are sent, their calls, the verdict frame). :func:`score` dispatches on ``config.mode``.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from eval_pipeline.evaluators.judge.pairwise import (
    PAIR_VERDICT_COLUMNS,
    aggregate_pairwise,
    judge_pairwise_verdicts,
    summarize_pairwise,
    wilson_interval,
)
from eval_pipeline.evaluators.judge.panel import aggregate_panel
from eval_pipeline.evaluators.judge.parse import STATUS_OK, STATUS_REFUSAL, STATUS_UNPARSEABLE
from eval_pipeline.evaluators.judge.pointwise import (
    VERDICT_COLUMNS,
    aggregate_pointwise,
    judge_pointwise_verdicts,
    summarize_pointwise,
)
from eval_pipeline.evaluators.judge.prompts import (
    DEFAULT_PAIRWISE,
    DEFAULT_POINTWISE,
    TOOL_NAME,
    PromptTemplate,
    _prompt_context,
    default_prompt,
    load_prompt,
    render_prompt,
    verdict_tool,
)
from eval_pipeline.evaluators.judge.requests import JUDGE_VERSION, Executor, evaluator_hash, judge_call_key
from eval_pipeline.evaluators.judge.rows import FAMILY, REASON_EXCERPT_CHARS
from eval_pipeline.evaluators.judge.samples import _SAMPLE_COLUMNS
from eval_pipeline.project.judge import (
    JudgeConfig,
    JudgeDimension,
    MinCalibration,
    validate_judge_config,
)

__all__ = [
    "DEFAULT_PAIRWISE",
    "DEFAULT_POINTWISE",
    "Executor",
    "FAMILY",
    "JUDGE_VERSION",
    "JudgeConfig",
    "JudgeDimension",
    "MinCalibration",
    "PAIR_VERDICT_COLUMNS",
    "PromptTemplate",
    "REASON_EXCERPT_CHARS",
    "STATUS_OK",
    "STATUS_REFUSAL",
    "STATUS_UNPARSEABLE",
    "TOOL_NAME",
    "VERDICT_COLUMNS",
    "aggregate_pairwise",
    "aggregate_pointwise",
    "default_prompt",
    "evaluator_hash",
    "judge_pairwise_verdicts",
    "judge_pointwise_verdicts",
    "load_prompt",
    "render_prompt",
    "judge_call_key",
    "score",
    "summarize_pairwise",
    "summarize_pointwise",
    "validate_judge_config",
    "verdict_tool",
    "wilson_interval",
    # private, kept for the tests that read them: the required sample columns, the prompt context
    "_SAMPLE_COLUMNS",
    "_prompt_context",
]


# the two steps of each mode: verdicts from the judge, then score rows from the verdicts
_STEPS = {
    "pointwise": (judge_pointwise_verdicts, aggregate_pointwise),
    "pairwise": (judge_pairwise_verdicts, aggregate_pairwise),
}


def score(
    samples: pd.DataFrame,
    config: JudgeConfig,
    execute: Executor,
    *,
    prompt: PromptTemplate | None = None,
    keys: dict[str, Any] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Judge ``samples`` in ``config.mode`` (pointwise or pairwise) and aggregate: ``(score rows, verdicts)``.
    A panel (``judge.models``) runs each judge as a single judge (``config.single(model)``) and aggregates their
    rows with :func:`.panel.aggregate_panel`; the second item is then every judge's own score rows."""
    if not config.is_panel:
        return _score_one(samples, config, execute, prompt, keys)
    per_judge = {
        m: _score_one(samples, config.single(m), execute, prompt, keys)[0] for m in config.judge_models
    }
    return aggregate_panel(per_judge, config, prompt), pd.concat(list(per_judge.values()), ignore_index=True)


def _score_one(
    samples: pd.DataFrame,
    config: JudgeConfig,
    execute: Executor,
    prompt: PromptTemplate | None,
    keys: dict[str, Any] | None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    judge, aggregate = _STEPS[config.mode]
    verdicts = judge(samples, config, execute, prompt=prompt)
    return aggregate(samples, verdicts, config, prompt=prompt, keys=keys), verdicts
