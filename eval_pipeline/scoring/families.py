"""Running each evaluator family over the graded samples of one partition.

In: the golden samples and the model's responses of one (date, model version) partition, the project
and the model version. ``graded_samples`` joins them (one row per sample and repeat); each
``score_*_family`` runs one family's evaluator over the model version's eval sets of that family.
Out: score rows in the ``SCORE_COLUMNS`` layout (``schemas.py``), empty when no eval set of the
family has graded rows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pandas as pd

from eval_pipeline.project.config import Project
from eval_pipeline.project.registry import ModelVersion
from eval_pipeline.project.schemas import JUDGE_IDENTITY_COLUMNS, SCORE_COLUMNS
from eval_pipeline.project.suites import EvalSet, Suite

FAMILIES = ("deterministic", "similarity", "judge")


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


def score_deterministic_family(
    project: Project, mv: ModelVersion, graded: pd.DataFrame, date: str, mv_key: str
) -> pd.DataFrame:
    from eval_pipeline.evaluators import deterministic

    frames = []
    for suite, es, g in _graded_sets(project, mv, graded, "deterministic"):
        checks = deterministic.validate_check_specs(
            es.checks, where=f"{suite.file}: eval_sets[{suite.eval_sets.index(es)}].checks", base_dir=es._base
        )
        frames.append(
            deterministic.score_deterministic(
                g, checks, date=date, model_version=mv_key, suite=suite.name, eval_set=es.name
            )
        )
    return _concat(frames)


def score_similarity_family(
    project: Project,
    mv: ModelVersion,
    graded: pd.DataFrame,
    date: str,
    mv_key: str,
    scorer_factory: Callable[[str | None], Any],
) -> pd.DataFrame:
    """``scorer_factory(model_path)`` returns a similarity scorer (cached model + embedding cache)."""
    from eval_pipeline.evaluators import similarity

    frames = []
    for suite, es, g in _graded_sets(project, mv, graded, "similarity"):
        scorer = scorer_factory(es.similarity.model_path)
        cfg = similarity.SimilarityConfig(
            es.similarity.threshold, es.similarity.reference_field, es.similarity.response_field
        )
        frames.append(
            similarity.score_similarity(
                g, scorer, cfg, date=date, model_version=mv_key, suite=suite.name, eval_set=es.name
            )
        )
    return _concat(frames)


def score_judge_family(
    project: Project,
    mv: ModelVersion,
    graded: pd.DataFrame,
    date: str,
    mv_key: str,
    execute: Callable,
    baseline: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Pointwise or pairwise judge per eval set. Pairwise needs ``baseline`` graded samples."""
    from eval_pipeline.evaluators import judge

    frames = []
    for suite, es, g in _graded_sets(project, mv, graded, "judge"):
        cfg = es.judge_config
        prompt = judge.load_prompt(cfg, base_dir=suite.file.parent)
        keys = {"date": date, "model_version": mv_key, "suite": suite.name, "eval_set": es.name}
        if cfg.mode == "pairwise":
            if baseline is None or baseline.empty:
                continue  # no baseline answers (e.g. this *is* the baseline): nothing to compare
            b = baseline[(baseline["suite"] == suite.name) & (baseline["eval_set"] == es.name)][
                ["sample_id", "repeat", "response_text"]
            ]
            g = g.merge(
                b.rename(columns={"response_text": "baseline_text"}), on=["sample_id", "repeat"], how="inner"
            )
            if g.empty:
                continue
        rows, _verdicts = judge.score(g, cfg, execute, prompt=prompt, keys=keys)
        frames.append(rows)
    return _concat(frames)
