"""Jobs: which assets run together.

Selections are by asset name, so a typo fails at load time instead of silently selecting
nothing. Asset checks on the selected assets (the ``eval_run`` gates) run with them.

==================  ===========  ==============================================================
job                 partitioned  assets
==================  ===========  ==============================================================
nightly_eval_job    date x mv    golden_samples, model_responses, deterministic_scores,
                                 similarity_scores, eval_run (+ quality_gate), regression_report
                                 (+ no_significant_regression), release_approval
weekly_judge_job    date x mv    golden_samples, model_responses, judge_scores, eval_run,
                                 regression_report, release_approval
rescore_job         date x mv    deterministic_scores, similarity_scores, judge_scores, eval_run,
                                 regression_report, release_approval: re-scores stored responses,
                                 no model calls
calibration_job     no           judge_calibration, similarity_calibration
history_job         no           eval_history (+ quality_alerts)
aa_noise_job        date x mv    aa_noise_floor (+ thresholds_clear_noise_floor)
==================  ===========  ==============================================================

Executor: ``nightly_eval_job`` and ``weekly_judge_job`` run on ``defs/executor.py:EVAL_EXECUTOR``: in process
by default (a failed step still fails alone; orchestration a few percent of the run instead of a third),
Dagster's multiprocess executor per run in the launchpad or with ``EVAL_EXECUTOR=multiprocess``.

``release_approval`` only materializes when the release decision passes (the ``quality_gate`` and
``no_significant_regression`` checks' decisions, re-applied there), so a run for a failing or regressed
candidate stops there (by design; the run fails with the verdict as the step's message and
``eval_failure_sensor`` alerts). The checks are recorded on their partition but are not Dagster-blocking,
so ``regression_report`` still runs for a candidate that fails the quality gate.
"""

from __future__ import annotations

import dagster as dg

from eval_pipeline.defs.executor import EVAL_EXECUTOR
from eval_pipeline.defs.partitions import EVAL_PARTITIONS

# What every evaluation of a partition ends with: the run, its regression report, the release decision.
DECISION_ASSETS = ("eval_run", "regression_report", "release_approval")
NIGHTLY_ASSETS = (
    "golden_samples",
    "model_responses",
    "deterministic_scores",
    "similarity_scores",
    *DECISION_ASSETS,
)
WEEKLY_JUDGE_ASSETS = ("golden_samples", "model_responses", "judge_scores", *DECISION_ASSETS)
RESCORE_ASSETS = ("deterministic_scores", "similarity_scores", "judge_scores", *DECISION_ASSETS)
# Every family at once (the demo's full evaluation of a partition).
ALL_FAMILIES_ASSETS = (*NIGHTLY_ASSETS[:-3], "judge_scores", *DECISION_ASSETS)
CALIBRATION_ASSETS = ("judge_calibration", "similarity_calibration")
HISTORY_ASSETS = ("eval_history",)
AA_NOISE_ASSETS = ("aa_noise_floor",)


def asset_job(
    name: str, assets, kind: str, partitions_def, description: str, executor_def=None
) -> dg.UnresolvedAssetJobDefinition:
    """A job over the named ``assets`` (and their checks), tagged ``eval/kind=<kind>``."""
    return dg.define_asset_job(
        name=name,
        selection=dg.AssetSelection.assets(*assets),
        partitions_def=partitions_def,
        tags={"eval/kind": kind},
        description=description,
        executor_def=executor_def,
    )


nightly_eval_job = asset_job(
    "nightly_eval_job",
    NIGHTLY_ASSETS,
    "nightly",
    EVAL_PARTITIONS,
    "Deterministic and semantic-similarity suites for one (date, model version) partition: golden "
    "samples -> model responses (response store first) -> scores -> eval_run with its gate checks -> regression "
    "report against the baseline. Started by the nightly schedule, the config-change sensor or a UI backfill.",
    executor_def=EVAL_EXECUTOR,
)

weekly_judge_job = asset_job(
    "weekly_judge_job",
    WEEKLY_JUDGE_ASSETS,
    "weekly_judge",
    EVAL_PARTITIONS,
    "LLM-judge suites for one (date, model version) partition, then eval_run and the regression "
    "report. Judge calls share the anthropic_api concurrency pool with inference.",
    executor_def=EVAL_EXECUTOR,
)

rescore_job = asset_job(
    "rescore_job",
    RESCORE_ASSETS,
    "rescore",
    EVAL_PARTITIONS,
    "Re-score stored responses after an evaluator, rubric or threshold change: no model_responses "
    "step, so no new model calls. Backfill it over the partitions whose responses you want re-scored.",
)

calibration_job = asset_job(
    "calibration_job",
    CALIBRATION_ASSETS,
    "calibration",
    None,
    "Judge calibration against human ratings and similarity-threshold calibration (unpartitioned).",
)

history_job = asset_job(
    "history_job",
    HISTORY_ASSETS,
    "history",
    None,
    "Refresh the longitudinal DuckDB history, control charts and alerts from the warehouse.",
)

aa_noise_job = asset_job(
    "aa_noise_job",
    AA_NOISE_ASSETS,
    "aa_noise",
    EVAL_PARTITIONS,
    "A/A noise floor for one (date, model version) partition: the version runs twice (fresh samples), "
    "their disagreement and difference bands are reported and checked against the thresholds. Needs golden_samples "
    "for the partition and live model answers (no A/A demo recordings).",
)

JOBS = [nightly_eval_job, weekly_judge_job, rescore_job, calibration_job, history_job, aa_noise_job]
"""Add to ``dg.Definitions(jobs=...)`` in ``eval_pipeline/definitions.py``."""

PARTITIONED_JOBS = (nightly_eval_job, weekly_judge_job, rescore_job)
EVAL_JOBS = tuple(JOBS)
