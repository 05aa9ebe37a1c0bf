"""Scoring: the run artifact with its quality gate.

In: the partition's scores of every family, its responses, the judge calibration (judge thresholds
block only when the judge is calibrated). Out: ``keys.run_artifact(date, mv)`` (per-eval-set metrics,
thresholds, PASS/FAIL, cost, provenance). ``release_approval`` is in ``defs/release/assets.py``.
The gate's decision is :mod:`eval_pipeline.release.decision`'s; its wording
(``verdict`` PASS / FAIL / NOT TESTED and ``why``, the first metadata entries) is
:mod:`eval_pipeline.release.verdict`'s.
"""

import time

import dagster as dg
import pandas as pd

from eval_pipeline import scoring
from eval_pipeline.defs.eval_partition import ProjectParam, partition, partitioned_asset, partitioned_check
from eval_pipeline.defs.metadata import as_metadata
from eval_pipeline.defs.resources import WarehouseResource
from eval_pipeline.evaluators.calibration_policy import judge_calibration_status
from eval_pipeline.inference.provenance import read_stage_provenance
from eval_pipeline.regression.planning import run_mde
from eval_pipeline.release import verdict as vd
from eval_pipeline.release.decision import quality_gate as gate_of
from eval_pipeline.scoring.run_step import eval_set_results, is_live_run, run_figures
from eval_pipeline.storage import keys

GROUP = "scoring"


@partitioned_asset(
    group=GROUP,
    deps=["deterministic_scores", "similarity_scores", "judge_scores", "judge_calibration"],
    kinds=("json",),
)
def eval_run(context: dg.AssetExecutionContext, project: ProjectParam) -> dg.MaterializeResult:
    """The run artifact (run.json): per-eval-set metrics with 95% intervals against their thresholds, cost and duration."""
    started, p = time.time(), project.partition(context)
    scores = pd.concat([p.read("scores", family=f) for f in scoring.FAMILIES], ignore_index=True)
    responses = p.read("responses")
    live_run = is_live_run(responses)
    metrics_by_set, results = eval_set_results(
        scores,
        p.eval_sets(),
        p.project.base,
        lambda suite, es: judge_calibration_status(p.wh, es, live_run, suite),
        context.log.warning,
    )
    resp_prov, judge_prov = (
        read_stage_provenance(p.wh, stage, p.date, p.mv_key) for stage in ("responses", "judge")
    )
    has_judge = len(scores) and (scores["family"] == "judge").any()
    artifact = scoring.run_artifact(
        run_id=context.run_id,
        date=p.date,
        model_version=p.mv,
        model_version_key=p.mv_key,
        project=p.project,
        metrics_by_set=metrics_by_set,
        thresholds=results,
        responses=responses,
        started_at=started,
        judge_provenance=judge_prov["counts"] if judge_prov and has_judge else None,
        recordings_label=(resp_prov or judge_prov or {}).get("source", ""),
    )
    uri = p.write_json(keys.run_artifact(p.date, p.mv_key), artifact)
    context.log.info(f"run artifact {uri}: overall {artifact['overall']}")
    mde = run_mde(
        p.wh, [suite for suite, _ in p.eval_sets()], scores
    )  # what a green regression gate could miss
    verdict = vd.quality_verdict(vd.artifact_thresholds(artifact))
    numbers, json_values, md = run_figures(artifact, results)
    values = {"verdict": verdict.verdict, "why": verdict.why, **numbers}  # the decision and why, first
    json_values |= {"gate_mde": mde} if mde else {}
    return dg.MaterializeResult(
        metadata=as_metadata(values, json=json_values, md=md, paths={"artifact": uri})
    )


@partitioned_check(
    asset=eval_run,
    description="FAIL (ERROR) when a blocking threshold of the run fails, WARN when only a warning threshold does.",
)
def quality_gate(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource) -> dg.AssetCheckResult:

    p = partition(context, None, warehouse)
    art = p.read_json(keys.run_artifact(p.date, p.mv_key))
    gate = gate_of(art)  # the same function release_approval and the detection benchmark use
    failing = gate["failing"]
    blocking = [t for t in failing if t["enforced_blocking"]]
    verdict = vd.quality_verdict(vd.artifact_thresholds(art))
    table = (
        "\n".join(
            f"- {vd.threshold_why(t)}{' BLOCKING' if t['enforced_blocking'] else ''} {t['note']}"
            for t in failing
        )
        or "all thresholds pass"
    )
    # Text only (no numbers): Dagster plots a check's numeric metadata across every partition's results.
    return dg.AssetCheckResult(
        passed=not failing,
        severity=dg.AssetCheckSeverity.ERROR if blocking else dg.AssetCheckSeverity.WARN,
        metadata={
            "verdict": verdict.verdict,
            "why": verdict.why,
            "partition": f"{p.date}|{p.mv_key}",
            "failing_thresholds": dg.MetadataValue.md(table),
            "blocking": f"{len(blocking)} of {gate['n_thresholds']} thresholds fail and block; "
            f"{len(failing) - len(blocking)} fail as warnings",
        },
    )
