"""The ``shadow_comparison`` asset and its check: a candidate model version on the day's traffic.

In: the day's stored (redacted) sample, the candidate named by ``shadow.candidate_model_version``.
Out: ``shadow_comparison`` (the verdicts table, ``keys.monitoring_report(day, "shadow.json")``)
and the check ``shadow_not_worse``. The work is :func:`eval_pipeline.monitoring.shadow.run_shadow`.
"""

import dagster as dg

from eval_pipeline.defs.eval_partition import ProjectParam
from eval_pipeline.defs.metadata import as_metadata
from eval_pipeline.defs.monitoring.common import (
    day_asset,
    monitoring_partition,
    report_check,
    response_executor,
    write_report,
)
from eval_pipeline.defs.resources import API_POOL, LLMResource
from eval_pipeline.inference.provenance import provenance_label
from eval_pipeline.monitoring.day import read_sample
from eval_pipeline.monitoring.settings import SHADOW_TABLE
from eval_pipeline.monitoring.shadow import (
    SKIPPED,
    run_shadow,
    shadow_figures,
    shadow_report,
    stored_verdicts,
)


@day_asset(deps=("traffic_sample",), kinds=("anthropic", "parquet"), pool=API_POOL)
def shadow_comparison(
    context: dg.AssetExecutionContext, project: ProjectParam, llm: LLMResource
) -> dg.MaterializeResult:
    """The shadow candidate's answers to the day's redacted inputs judged pairwise against production's in both orders, with its win rate."""
    day, cfg, wh = monitoring_partition(context, project)
    name = cfg.shadow.candidate_model_version
    if not name:
        uri = write_report(wh, day, "shadow.json", {"day": day, "status": "skipped", "message": SKIPPED})
        return dg.MaterializeResult(
            metadata=as_metadata({"status": "skipped", "note": SKIPPED}, paths={"report": uri})
        )
    registry = project.load().registry
    try:
        mv = registry.by_name(name)
    except KeyError as e:
        raise dg.Failure(f"shadow.candidate_model_version: {e}") from None
    tally: dict = {}
    candidate = response_executor(context, llm, project.warehouse, llm.provider_for(registry, mv), tally)
    judge = response_executor(context, llm, project.warehouse, llm.judge_provider(registry), tally)
    try:
        out = run_shadow(read_sample(wh, day), mv, cfg, day, candidate, judge)
    except LookupError as e:
        raise dg.Failure(f"shadow comparison: {e}") from None
    answers = provenance_label(tally.get("answer_provenance", {}))  # candidate answers and verdicts
    paths = {"report": write_report(wh, day, "shadow.json", shadow_report(out, day, mv.name, answers))}
    if len(out.verdicts):
        paths["path"] = wh.write_table(SHADOW_TABLE, stored_verdicts(out, day, mv.name), {"date": day})
    tables = {"win_rates": (out.win_rates, 30, 3, out.message)}
    return dg.MaterializeResult(
        metadata=as_metadata(shadow_figures(out, mv, tally), tables=tables, paths=paths)
    )


@report_check(
    shadow_comparison,
    "shadow.json",
    "WARN when the candidate is significantly worse than production on today's traffic (win-rate interval entirely below 0.5).",
)
def shadow_not_worse(report: dict) -> tuple:
    verdict = (report.get("decision") or {}).get("verdict")
    return verdict != "worse", {
        "status": report["status"],
        "verdict": verdict or "none",
        "message": report["message"],
    }
