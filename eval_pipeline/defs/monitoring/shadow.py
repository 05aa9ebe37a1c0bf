"""The ``shadow_comparison`` asset and its check: a candidate model version on the day's traffic.

In: the day's stored (redacted) sample, the candidate named by ``shadow.candidate_model_version``.
Out: ``shadow_comparison`` (the verdicts table, ``keys.monitoring_report(day, "shadow.json")``)
and the check ``shadow_not_worse``. The work is :func:`eval_pipeline.monitoring.shadow.run_shadow`.
"""

import json

import dagster as dg

from eval_pipeline.defs.metadata import md_table
from eval_pipeline.defs.monitoring.common import (
    API_POOL,
    day_asset,
    monitoring_partition,
    response_executor,
    write_report,
)
from eval_pipeline.defs.resources import EvalConfigResource, LLMResource, WarehouseResource
from eval_pipeline.inference.provenance import provenance_label
from eval_pipeline.monitoring.day import read_sample
from eval_pipeline.monitoring.settings import SHADOW_TABLE
from eval_pipeline.monitoring.shadow import run_shadow
from eval_pipeline.storage import keys


@day_asset(
    deps=("traffic_sample",),
    kinds=("anthropic", "parquet"),
    pool=API_POOL,
    description="The shadow candidate's answers to the day's redacted inputs judged pairwise against production's in both orders, with its win rate.",
)
def shadow_comparison(
    context: dg.AssetExecutionContext,
    eval_config: EvalConfigResource,
    warehouse: WarehouseResource,
    llm: LLMResource,
) -> dg.MaterializeResult:
    day, cfg, wh = monitoring_partition(context, eval_config, warehouse)
    name = cfg.shadow.candidate_model_version
    if not name:
        msg = (
            "skipped: no shadow candidate configured (shadow.candidate_model_version in data/monitoring.yaml)"
        )
        uri = write_report(wh, day, "shadow.json", {"day": day, "status": "skipped", "message": msg})
        return dg.MaterializeResult(
            metadata={"status": "skipped", "note": msg, "report": dg.MetadataValue.path(uri)}
        )
    project = eval_config.load()
    try:
        mv = project.registry.by_name(name)
    except KeyError as e:
        raise dg.Failure(f"shadow.candidate_model_version: {e}") from None
    tally: dict = {}
    candidate = response_executor(context, llm, warehouse, llm.provider_for(project.registry, mv), tally)
    judge = response_executor(context, llm, warehouse, llm.judge_provider(project.registry), tally)
    try:
        out = run_shadow(read_sample(wh, day), mv, cfg, day, candidate, judge)
    except LookupError as e:
        raise dg.Failure(f"shadow comparison: {e}") from None
    md = {
        "status": out.status,
        "summary": out.message,
        "candidate": mv.name,
        "candidate_key": mv.key,
        **tally,
    }
    if len(out.verdicts):
        stored = out.verdicts.merge(
            out.pairs[["sample_id", "response_text"]].rename(columns={"response_text": "candidate_text"}),
            on="sample_id",
            how="left",
        ).assign(date=day, candidate=mv.name)
        md["path"] = dg.MetadataValue.path(wh.write_table(SHADOW_TABLE, stored, {"date": day}))
    md["win_rates"] = dg.MetadataValue.md(md_table(out.win_rates, 30, 3, empty=out.message))
    if out.decision:
        md.update(verdict=out.decision["verdict"], win_rate=round(out.decision["win_rate"], 4))
    payload = {
        "day": day,
        "status": out.status,
        "message": out.message,
        "candidate": mv.name,
        "decision": out.decision,
        "win_rates": out.win_rates.to_dict("records"),
        "cost_usd": out.cost_usd,
        "answers": provenance_label(tally.get("answer_provenance", {})),  # candidate answers and verdicts
    }
    md["report"] = dg.MetadataValue.path(write_report(wh, day, "shadow.json", payload))
    return dg.MaterializeResult(metadata=md)


@dg.asset_check(
    asset=shadow_comparison,
    description="WARN when the candidate is significantly worse than production "
    "on today's traffic (win-rate interval entirely below 0.5).",
)
def shadow_not_worse(
    context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource
) -> dg.AssetCheckResult:
    rep = json.loads(warehouse.get().read_bytes(keys.monitoring_report(context.partition_key, "shadow.json")))
    verdict = (rep.get("decision") or {}).get("verdict")
    return dg.AssetCheckResult(
        passed=verdict != "worse",
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"status": rep["status"], "verdict": verdict or "none", "message": rep["message"]},
    )
