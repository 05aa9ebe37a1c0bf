"""The regression stage in Dagster: the partitioned ``regression_report`` and its ``no_significant_regression`` check.

In: the partition's scores of every family and its run artifact, the stored runs of the baseline (the warehouse).
Out: ``keys.regression_report(date, mv)`` (the paired candidate-vs-baseline report, :mod:`eval_pipeline.regression`),
its chart and per-sample diff page; the check's verdict, enforced by ``release_approval``
(``defs/release/assets.py``). The asset stays in the ``history`` asset group (the UI and stored runs name it so).
"""

import json

import dagster as dg
import pandas as pd

from eval_pipeline.defs.eval_partition import partition, partitioned_asset, partitioned_check
from eval_pipeline.defs.history.assets import _inline_png, _root
from eval_pipeline.defs.resources import EvalConfigResource, WarehouseResource
from eval_pipeline.history import charts
from eval_pipeline.history.diff_page import write_run_diff
from eval_pipeline.history.sources import HistorySources
from eval_pipeline.history.sql import SEGMENT_ALL
from eval_pipeline.project.regression_config import RegressionConfig
from eval_pipeline.regression.baselines import RunRef, declared_baseline
from eval_pipeline.regression.compare import EFFECT_TABLE_COLUMNS, report_dict
from eval_pipeline.regression.gating import gate_description, gate_family
from eval_pipeline.regression.sequential import DEFAULT_CHUNK
from eval_pipeline.regression.sequential_replay import SequentialOptions, report_section, summary_line
from eval_pipeline.regression.stored_runs import load_run_scores_with_draws, regression_report_for_run
from eval_pipeline.release import verdict as vd
from eval_pipeline.release.decision import regression_gate
from eval_pipeline.storage import keys

GROUP = "history"  # the asset group the UI and stored runs know it by (unchanged when it moved here)


class RegressionReportConfig(dg.Config):
    """Run config of ``regression_report``: ``sequential`` = decide by the sequential gate
    (``eval-pipeline run --sequential`` sets it, with the scoring order's ``seed`` and the look size ``chunk``)."""

    sequential: bool = False
    seed: int = 0
    chunk: int = DEFAULT_CHUNK


def _sequential(config: RegressionReportConfig, rep, con, sources, p) -> dict:
    """``{"sequential": section}`` when the run is sequential (the report's gated rows then say the sequential gate's
    verdicts: ``regression.sequential_replay.report_section``), else ``{}``."""
    if not config.sequential or rep.baseline is None:
        return {}
    return {
        "sequential": report_section(
            rep,
            load_run_scores_with_draws(con, sources, rep.candidate),
            load_run_scores_with_draws(con, sources, rep.baseline),
            SequentialOptions(seed=config.seed, chunk=config.chunk),
            p.read("responses"),
        )
    }


def _sequential_metadata(section: dict | None) -> dict:
    if not section:
        return {}
    brief = {k: v for k, v in section.items() if k not in ("rows", "looks", "next_units")}
    return {"sequential": summary_line(section), "sequential_detail": dg.MetadataValue.json(brief)}


@partitioned_asset(
    group=GROUP,
    deps=["deterministic_scores", "similarity_scores", "judge_scores", "eval_run"],
    kinds=("duckdb", "json"),
    description=f"The paired regression report of the candidate against its baseline (alpha {RegressionConfig().alpha:g}, minimum effect {RegressionConfig().min_effect:g} unless a suite sets them).",
)
def regression_report(
    context: dg.AssetExecutionContext,
    config: RegressionReportConfig,
    eval_config: EvalConfigResource,
    warehouse: WarehouseResource,
) -> dg.MaterializeResult:

    p = partition(context, eval_config, warehouse)
    date, mv_key, project, wh = p.date, p.mv_key, p.project, p.wh
    root = _root(warehouse)
    con = wh.connect_duckdb()
    sources = HistorySources.for_root(root)
    declared, declared_why = declared_baseline(project, mv_key)  # the suites' baseline_model_version
    suite_configs = {name: suite.regression_config() for name, suite in project.suites.items()}
    rep = regression_report_for_run(
        con,
        sources,
        RunRef(date, mv_key),
        production_model_version=declared,
        config=suite_configs,
        production_reason=declared_why,
    )
    # first: a sequential run's section, which also sets the gated rows' verdicts (run --sequential)
    report = _sequential(config, rep, con, sources, p) | report_dict(rep)
    uri = wh.write_bytes(
        keys.regression_report(date, mv_key),
        json.dumps(report, default=str, indent=2).encode("utf-8"),
        content_type="application/json",
    )
    verdict = vd.regression_verdict(json.loads(json.dumps(report, default=str)))
    md = {
        # first: the gate's decision and why (the blocking metric, its effect, interval and p)
        "verdict": verdict.verdict,
        "why": verdict.why,
        "status": vd.report_status(report["summary"], len(rep.gate_regressions)),
        "baseline": str(rep.baseline) if rep.baseline else "none",
        "baseline_reason": rep.baseline_reason,
        "baseline_pool": dg.MetadataValue.json(list(rep.baseline_pool)),
        "regressions": int(len(rep.regressions)),
        "gate_regressions": int(len(rep.gate_regressions)),
        "gate_procedure": rep.config.gate_procedure,
        "gate": gate_description(rep.config),
        "gate_family": dg.MetadataValue.json(gate_family(rep.rows)),
        "gate_family_size": len(gate_family(rep.rows)),
        "improvements": int(len(rep.improvements)),
        **_sequential_metadata(report.get("sequential")),
        "report": dg.MetadataValue.md(rep.to_markdown(max_rows=15)),
        "path": dg.MetadataValue.path(uri),
    }
    if rep.baseline is not None:  # the per-sample diff against that baseline, beside the report
        base = (rep.baseline.date, rep.baseline.model_version)
        try:  # a page that cannot be built must not stop the gate: said in the metadata and the log
            md["diff_page"] = dg.MetadataValue.path(
                write_run_diff(wh, (date, mv_key), base, keys.diff_page(date, mv_key))
            )
        except Exception as e:  # noqa: BLE001
            md["diff_page"] = f"not written: {type(e).__name__}: {e}"
            context.log.warning(f"per-sample diff page not written: {e}")
    if len(rep.rows):
        overall = rep.rows[rep.rows["segment"] == SEGMENT_ALL]  # segments are in the JSON and the HTML report
        png = charts.comparison_chart_png(
            overall if len(overall) else rep.rows,
            measure="pass_rate",
            title=f"{mv_key} vs {rep.baseline} (pass rate, 95% CI)",
        )
        md["chart"] = dg.MetadataValue.md(_inline_png(png))
        md["chart_png"] = dg.MetadataValue.path(
            wh.write_bytes(keys.regression_chart(date, mv_key), png, content_type="image/png")
        )
    context.log.info(rep.message)
    return dg.MaterializeResult(metadata=md)


@partitioned_check(
    asset=regression_report,
    description="FAIL when a gated metric of the regression report is significantly worse than the baseline by at least its minimum effect.",
)
def no_significant_regression(
    context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource
) -> dg.AssetCheckResult:

    p = partition(context, None, warehouse)
    data = p.read_json(keys.regression_report(p.date, p.mv_key))
    gate = regression_gate(data)
    regs = pd.DataFrame(gate["blocking"])
    cols = ["suite", "eval_set", "metric", *EFFECT_TABLE_COLUMNS, "p_worse", "p_gate"]
    table = regs[[c for c in cols if c in regs]].to_markdown(index=False) if len(regs) else "none"
    verdict = vd.regression_verdict(data)
    # Text only (no numbers): Dagster plots a check's numeric metadata across every partition's results.
    return dg.AssetCheckResult(
        passed=gate["passed"],
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "verdict": verdict.verdict,
            "why": verdict.why,
            "partition": f"{p.date}|{p.mv_key}",
            "status": vd.report_status(data.get("summary") or {}, gate["n_blocking"]),
            "message": gate["message"] or "",
            "regressions": dg.MetadataValue.md(table),
            "gate_procedure": str(gate["gate_procedure"]),
            "gate": str(gate["gate"]),
            "gate_family": f"{gate['gate_family_size'] or 0} gated row(s) at alpha={gate['alpha']}",
            "gated_rows": dg.MetadataValue.json(gate["gated_rows"]),
        },
    )
