"""Running each evaluator family over the graded samples of one partition.

In: the golden samples and the model's responses of one (date, model version) partition, the project
and the model version. ``graded_samples`` joins them (one row per sample and repeat); ``score_family`` runs one
registered evaluator family (:mod:`eval_pipeline.evaluators.family`: each family is a folder under
``evaluators/`` with a ``family.py``) over the model version's eval sets of that family; ``score_*_family``
name the three built-in ones.
Out: score rows in the ``SCORE_COLUMNS`` layout (``schemas.py``), empty when no eval set of the
family has graded rows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pandas as pd

from eval_pipeline.evaluators.family import get_family
from eval_pipeline.project.loader import Project
from eval_pipeline.project.registry import ModelVersion
from eval_pipeline.project.schemas import JUDGE_IDENTITY_COLUMNS, SCORE_COLUMNS
from eval_pipeline.project.suites import EvalSet, Suite

FAMILIES = ("deterministic", "similarity", "judge")  # = evaluators.family.family_names() (a test checks it)


def graded_samples(golden: pd.DataFrame, responses: pd.DataFrame) -> pd.DataFrame:
    """One row per (suite, eval_set, sample, repeat): decoded golden fields + the response."""
    cols = ["suite", "eval_set", "sample_id", "repeat", "text", "error_category", "stop_reason"]
    cols += ["tool_calls_json", "trajectory_json"]  # tool calls / agent steps, when the responses have them
    r = responses[[c for c in cols if c in responses.columns]].rename(columns={"text": "response_text"})
    g = golden[["suite", "eval_set", "sample_id", "input", "expected", "metadata", "category"]]
    out = g.merge(r, on=["suite", "eval_set", "sample_id"], how="inner", validate="one_to_many")
    out["repeat"] = out["repeat"].astype("int64")
    return out.sort_values(["suite", "eval_set", "sample_id", "repeat"], kind="stable").reset_index(drop=True)


def empty_scores() -> pd.DataFrame:
    return pd.DataFrame(columns=SCORE_COLUMNS)


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    frames = [f for f in frames if not f.empty]
    if not frames:
        return empty_scores()
    out = pd.concat(frames, ignore_index=True)
    return out[
        SCORE_COLUMNS + [c for c in JUDGE_IDENTITY_COLUMNS if c in out.columns]
    ]  # judge rows: + the judge identity


def _graded_sets(
    project: Project, mv: ModelVersion, graded: pd.DataFrame, family: str
) -> Iterator[tuple[Suite, EvalSet, pd.DataFrame]]:
    """(suite, eval set, its graded rows) for the model version's eval sets of ``family`` that have rows."""
    for suite, es in mv.eval_sets(project, family):
        g = graded[(graded["suite"] == suite.name) & (graded["eval_set"] == es.name)].reset_index(drop=True)
        if not g.empty:
            yield suite, es, g


def score_family(
    family: str,
    project: Project,
    model_version: ModelVersion,
    graded: pd.DataFrame,
    date: str,
    model_version_key: str,
    **resources: Any,
) -> pd.DataFrame:
    """Run the registered evaluator ``family`` (:func:`eval_pipeline.evaluators.family.get_family`) over the model
    version's eval sets of that family; ``resources`` go to every eval set's ``score_eval_set``."""
    fam = get_family(family)
    frames = []
    for suite, es, g in _graded_sets(project, model_version, graded, family):
        keys = {"date": date, "model_version": model_version_key, "suite": suite.name, "eval_set": es.name}
        rows = fam.score_eval_set(suite, es, g, keys, **resources)
        if rows is not None:
            frames.append(rows)
    return _concat(frames)


def score_deterministic_family(
    project: Project, model_version: ModelVersion, graded: pd.DataFrame, date: str, model_version_key: str
) -> pd.DataFrame:
    return score_family("deterministic", project, model_version, graded, date, model_version_key)


def score_similarity_family(
    project: Project,
    model_version: ModelVersion,
    graded: pd.DataFrame,
    date: str,
    model_version_key: str,
    scorer_factory: Callable[[str | None], Any],
) -> pd.DataFrame:
    """``scorer_factory(model_path)`` returns a similarity scorer (cached model + embedding cache)."""
    return score_family(
        "similarity", project, model_version, graded, date, model_version_key, scorer_factory=scorer_factory
    )


def score_judge_family(
    project: Project,
    model_version: ModelVersion,
    graded: pd.DataFrame,
    date: str,
    model_version_key: str,
    execute: Callable[..., Any],
    baseline: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Pointwise or pairwise judge per eval set. Pairwise needs ``baseline`` graded samples."""
    return score_family(
        "judge", project, model_version, graded, date, model_version_key, execute=execute, baseline=baseline
    )
