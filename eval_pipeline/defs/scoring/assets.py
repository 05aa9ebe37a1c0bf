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
from eval_pipeline.defs.eval_partition import partition, partitioned_asset, partitioned_check
from eval_pipeline.defs.resources import EvalConfigResource, WarehouseResource
from eval_pipeline.evaluators.calibration_policy import judge_calibration_status
from eval_pipeline.inference.provenance import read_stage_provenance
from eval_pipeline.regression.planning import run_mde  # what a green regression gate could have missed
from eval_pipeline.release import verdict as vd
from eval_pipeline.release.decision import quality_gate as gate_of
from eval_pipeline.storage import keys

GROUP = "scoring"


@partitioned_asset(
    group=GROUP,
    deps=["deterministic_scores", "similarity_scores", "judge_scores", "judge_calibration"],
    kinds=("json",),
    description="The run artifact (run.json): per-eval-set metrics with 95% intervals against their thresholds, cost and duration.",
)
def eval_run(
    context: dg.AssetExecutionContext, eval_config: EvalConfigResource, warehouse: WarehouseResource
) -> dg.MaterializeResult:

    started = time.time()
    p = partition(context, eval_config, warehouse)
    scores = pd.concat([p.read("scores", family=f) for f in scoring.FAMILIES], ignore_index=True)
    responses = p.read("responses")
    metrics_by_set, results = {}, []
    live_run = (
        "provenance" in responses and len(responses) > 0 and bool((responses["provenance"] == "live").all())
    )
    for suite, es in p.eval_sets():
        s = (
            scores[(scores["suite"] == suite.name) & (scores["eval_set"] == es.name)]
            if len(scores)
            else scores
        )
        if s.empty:
            continue  # family not run in this partition (e.g. the judge runs weekly)
        human = None
        if es.family == "judge":  # judge sets with review labels: also the PPI++ metrics
            try:
                human = scoring.human_ratings(p.project.base, suite.name, es.name)
            except ValueError as e:  # a bad review file: judge_calibration fails on it; the run goes on
                context.log.warning(f"{suite.name}/{es.name}: PPI++ metrics skipped: {e}")
        m = scoring.set_metrics(s, es, human)
        metrics_by_set[(suite.name, es.name)] = m
        may_block, note = (
            judge_calibration_status(p.wh, es, live_run, suite) if es.family == "judge" else (True, "")
        )
        results.extend(scoring.apply_thresholds(suite, es, m, may_block, note))
    resp_prov, judge_prov = (
        read_stage_provenance(p.wh, stage, p.date, p.mv_key) for stage in ("responses", "judge")
    )
    has_judge = len(scores) and (scores["family"] == "judge").any()
    artifact = scoring.run_artifact(
        run_id=context.run_id,
        date=p.date,
        mv=p.mv,
        mv_key=p.mv_key,
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
    # Numeric entries per gated metric: the asset's "Plots" tab then shows them across materializations.
    plots = {f"{r.eval_set}/{r.metric}": float(r.value) for r in results if r.value is not None}

    mde = run_mde(p.wh, [suite for suite, _ in p.eval_sets()], scores)
    verdict = vd.quality_verdict(vd.artifact_thresholds(artifact))
    return dg.MaterializeResult(
        metadata={
            # first: the decision and the sentence that says why (shown without opening anything)
            "verdict": verdict.verdict,
            "why": verdict.why,
            **plots,
            "overall": artifact["overall"],
            "thresholds": dg.MetadataValue.md(scoring.thresholds_markdown(results)),
            "blocking_failures": ", ".join(artifact["blocking_failures"]) or "none",
            "cost_usd": artifact["cost_usd"],
            "samples": artifact["samples"],
            "artifact": dg.MetadataValue.path(uri),
            **({"gate_mde": dg.MetadataValue.json(mde)} if mde else {}),
            # Which answers this run's verdict rests on: anything but live answers is said here.
            "answers": artifact["answers"],
            "live_answers_only": artifact["live_answers_only"],
            "answer_provenance": dg.MetadataValue.json(artifact["answer_provenance"]),
            **(
                {"judge_verdict_provenance": dg.MetadataValue.json(artifact["judge_verdict_provenance"])}
                if artifact["judge_verdict_provenance"]
                else {}
            ),
        }
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
