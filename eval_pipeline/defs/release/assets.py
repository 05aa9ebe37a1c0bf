"""The release stage in Dagster: ``release_approval``, the one place the gates are enforced.

In: the partition's run artifact (``eval_run``) and its regression report (``regression_report``). Out:
``keys.release(date, mv)`` when :func:`eval_pipeline.release.decision.release_decision` approves, else a failed
run whose message is the verdict (:mod:`eval_pipeline.release.verdict`). The asset stays in the ``scoring``
asset group (the UI and stored runs know it so).
"""

import dagster as dg

from eval_pipeline.defs.eval_partition import partition, partitioned_asset
from eval_pipeline.defs.metadata import as_metadata
from eval_pipeline.defs.resources import WarehouseResource
from eval_pipeline.release import verdict as vd
from eval_pipeline.release.approval import approval_figures, approval_record
from eval_pipeline.release.decision import release_decision
from eval_pipeline.storage import keys

GROUP = "scoring"  # the asset group the UI and stored runs know it by (unchanged when it moved here)


@partitioned_asset(
    group=GROUP,
    deps=["eval_run", "regression_report"],
    kinds=("json",),
    description="The release decision: materialized only when the quality gate and the regression gate both pass.",
)
def release_approval(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    p = partition(context, None, warehouse)
    date, mv_key = p.date, p.mv_key
    art = p.read_json(keys.run_artifact(date, mv_key))
    report = p.read_json(keys.regression_report(date, mv_key))
    gate = release_decision(art, report)  # the same decision the two checks made
    verdict = vd.release_verdict(art, report)
    if not gate["approved"]:
        # The run fails here (a deploy waits for this partition; eval_failure_sensor alerts): the message
        # and the metadata are the verdict, shown first on the run page.
        raise dg.Failure(
            description=f"release gate FAIL for {mv_key}@{date}: {verdict.why}",
            metadata={"verdict": vd.FAIL, "why": verdict.why},
            allow_retries=False,
        )
    uri = p.write_json(keys.release(date, mv_key), approval_record(art, report, date, mv_key, context.run_id))
    values = {"verdict": verdict.verdict, "why": verdict.why, **approval_figures(art, report)}
    return dg.MaterializeResult(metadata=as_metadata(values, paths={"path": uri}))
