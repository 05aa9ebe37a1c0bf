"""The regression stage in Dagster: the partitioned ``regression_report`` and its ``no_significant_regression`` check.

In: the partition's scores of every family and its run artifact, the stored runs of the baseline (the warehouse).
Out: ``keys.regression_report(date, mv)`` (the paired candidate-vs-baseline report, :mod:`eval_pipeline.regression`),
its chart and per-sample diff page; the check's verdict, enforced by ``release_approval``
(``defs/release/assets.py``). The asset stays in the ``history`` asset group (the UI and stored runs name it so).
"""

import dagster as dg

from eval_pipeline.defs.eval_partition import (
    Partition,
    ProjectParam,
    partition,
    partitioned_asset,
    partitioned_check,
)
from eval_pipeline.defs.history.assets import _inline_png, _root
from eval_pipeline.defs.metadata import in_order
from eval_pipeline.defs.resources import WarehouseResource
from eval_pipeline.history import charts
from eval_pipeline.history.diff_page import write_run_diff
from eval_pipeline.project.regression_config import RegressionConfig
from eval_pipeline.regression.baselines import RunRef
from eval_pipeline.regression.compare import RegressionReport
from eval_pipeline.regression.partition_report import (
    CHECK_JSON,
    CHECK_MD,
    SUMMARY_JSON,
    SUMMARY_MD,
    build_partition_report,
    gate_check_fields,
    overall_rows,
    summary_fields,
)
from eval_pipeline.regression.sequential import DEFAULT_CHUNK
from eval_pipeline.regression.sequential_replay import SequentialOptions
from eval_pipeline.release.decision import regression_gate
from eval_pipeline.storage import keys

GROUP = "history"  # the asset group the UI and stored runs know it by (unchanged when it moved here)


class RegressionReportConfig(dg.Config):
    """Run config of ``regression_report``: ``sequential`` = decide by the sequential gate
    (``eval-pipeline run --sequential`` sets it, with the scoring order's ``seed`` and the look size ``chunk``)."""

    sequential: bool = False
    seed: int = 0
    chunk: int = DEFAULT_CHUNK


def _diff_page(context: dg.AssetExecutionContext, p: Partition, baseline: RunRef) -> dict:
    """The per-sample diff page against ``baseline``, beside the report; a page that cannot be built must not
    stop the gate: said in the metadata and the log."""
    try:
        uri = write_run_diff(
            p.wh,
            (p.date, p.mv_key),
            (baseline.date, baseline.model_version),
            keys.diff_page(p.date, p.mv_key),
        )
        return {"diff_page": dg.MetadataValue.path(uri)}
    except Exception as e:  # noqa: BLE001
        context.log.warning(f"per-sample diff page not written: {e}")
        return {"diff_page": f"not written: {type(e).__name__}: {e}"}


def _chart(p: Partition, rep: RegressionReport) -> dict:
    """The pass-rate comparison chart (95% CI), inline and as a file."""
    title = f"{p.mv_key} vs {rep.baseline} (pass rate, 95% CI)"
    png = charts.comparison_chart_png(overall_rows(rep), measure="pass_rate", title=title)
    uri = p.wh.write_bytes(keys.regression_chart(p.date, p.mv_key), png, content_type="image/png")
    return {"chart": dg.MetadataValue.md(_inline_png(png)), "chart_png": dg.MetadataValue.path(uri)}


@partitioned_asset(
    group=GROUP,
    deps=["deterministic_scores", "similarity_scores", "judge_scores", "eval_run"],
    kinds=("duckdb", "json"),
    description=f"The paired regression report of the candidate against its baseline (alpha {RegressionConfig().alpha:g}, minimum effect {RegressionConfig().min_effect:g} unless a suite sets them).",
)
def regression_report(
    context: dg.AssetExecutionContext, config: RegressionReportConfig, project: ProjectParam
) -> dg.MaterializeResult:
    p = project.partition(context)
    sequential = SequentialOptions(seed=config.seed, chunk=config.chunk) if config.sequential else None
    run = RunRef(p.date, p.mv_key)
    part = build_partition_report(
        p.project, p.wh, _root(project.warehouse), run, sequential, lambda: p.read("responses")
    )
    uri = p.wh.write_bytes(
        keys.regression_report(p.date, p.mv_key), part.stored_bytes(), content_type="application/json"
    )
    md = in_order(summary_fields(part, uri), json=SUMMARY_JSON, md=SUMMARY_MD, paths=("path",))
    if part.rep.baseline is not None:
        md.update(_diff_page(context, p, part.rep.baseline))
    if len(part.rep.rows):
        md.update(_chart(p, part.rep))
    context.log.info(part.rep.message)
    return dg.MaterializeResult(metadata=md)


@partitioned_check(
    asset=regression_report,
    description="FAIL when a gated metric of the regression report is significantly worse than the baseline by at least its minimum effect.",
)
def no_significant_regression(
    context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource
) -> dg.AssetCheckResult:

    p = partition(context, None, warehouse)
    report = p.read_json(keys.regression_report(p.date, p.mv_key))
    gate = regression_gate(report)
    fields = gate_check_fields(report, gate, f"{p.date}|{p.mv_key}")
    return dg.AssetCheckResult(
        passed=gate["passed"],
        severity=dg.AssetCheckSeverity.ERROR,
        metadata=in_order(fields, json=CHECK_JSON, md=CHECK_MD),
    )
