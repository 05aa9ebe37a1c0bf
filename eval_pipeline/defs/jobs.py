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

``release_approval`` only materializes when the blocking checks upstream pass, so a run for a
regressed candidate stops there (by design; the run fails and ``eval_failure_sensor`` alerts).
"""
from __future__ import annotations

import dagster as dg

from eval_pipeline.defs.partitions import EVAL_PARTITIONS

NIGHTLY_ASSETS = ("golden_samples", "model_responses", "deterministic_scores", "similarity_scores", "eval_run", "regression_report", "release_approval")
WEEKLY_JUDGE_ASSETS = ("golden_samples", "model_responses", "judge_scores", "eval_run", "regression_report", "release_approval")
RESCORE_ASSETS = ("deterministic_scores", "similarity_scores", "judge_scores", "eval_run", "regression_report", "release_approval")
CALIBRATION_ASSETS = ("judge_calibration", "similarity_calibration")
HISTORY_ASSETS = ("eval_history",)
AA_NOISE_ASSETS = ("aa_noise_floor",)

nightly_eval_job = dg.define_asset_job(
    name="nightly_eval_job",
    selection=dg.AssetSelection.assets(*NIGHTLY_ASSETS),
    partitions_def=EVAL_PARTITIONS,
    tags={"eval/kind": "nightly"},
    description="Deterministic and semantic-similarity suites for one (date, model version) partition: golden "
    "samples -> model responses (response store first) -> scores -> eval_run with its gate checks -> regression "
    "report against the baseline. Started by the nightly schedule, the config-change sensor or a UI backfill.",
)

weekly_judge_job = dg.define_asset_job(
    name="weekly_judge_job",
    selection=dg.AssetSelection.assets(*WEEKLY_JUDGE_ASSETS),
    partitions_def=EVAL_PARTITIONS,
    tags={"eval/kind": "weekly_judge"},
    description="LLM-judge suites for one (date, model version) partition, then eval_run and the regression "
    "report. Judge calls share the anthropic_api concurrency pool with inference.",
)

rescore_job = dg.define_asset_job(
    name="rescore_job",
    selection=dg.AssetSelection.assets(*RESCORE_ASSETS),
    partitions_def=EVAL_PARTITIONS,
    tags={"eval/kind": "rescore"},
    description="Re-score stored responses after an evaluator, rubric or threshold change: no model_responses "
    "step, so no new model calls. Backfill it over the partitions whose responses you want re-scored.",
)

calibration_job = dg.define_asset_job(
    name="calibration_job",
    selection=dg.AssetSelection.assets(*CALIBRATION_ASSETS),
    tags={"eval/kind": "calibration"},
    description="Judge calibration against human ratings and similarity-threshold calibration (unpartitioned).",
)

history_job = dg.define_asset_job(
    name="history_job",
    selection=dg.AssetSelection.assets(*HISTORY_ASSETS),
    tags={"eval/kind": "history"},
    description="Refresh the longitudinal DuckDB history, control charts and alerts from the warehouse.",
)

aa_noise_job = dg.define_asset_job(
    name="aa_noise_job",
    selection=dg.AssetSelection.assets(*AA_NOISE_ASSETS),
    partitions_def=EVAL_PARTITIONS,
    tags={"eval/kind": "aa_noise"},
    description="A/A noise floor for one (date, model version) partition: the version runs twice (fresh samples), "
    "their disagreement and difference bands are reported and checked against the thresholds. Needs golden_samples "
    "for the partition and live model answers (no A/A demo recordings).",
)

JOBS = [nightly_eval_job, weekly_judge_job, rescore_job, calibration_job, history_job, aa_noise_job]
"""Add to ``dg.Definitions(jobs=...)`` in ``eval_pipeline/definitions.py``."""

PARTITIONED_JOBS = (nightly_eval_job, weekly_judge_job, rescore_job)
EVAL_JOBS = tuple(JOBS)
