"""The ``traffic_drift`` asset and its checks: today's sample against the reference window.

In: the day's stored sample and online scores, the reference window's samples. Out:
``traffic_drift`` (the drift table, ``keys.monitoring_report(day, "drift.json")``), checks
``no_significant_drift`` and ``no_feedback_divergence``. The work is
:func:`eval_pipeline.monitoring.drift_report.compute_drift`.
"""

from typing import Any

import dagster as dg
import pandas as pd

from eval_pipeline.defs.eval_partition import ProjectParam
from eval_pipeline.defs.metadata import md_table
from eval_pipeline.defs.monitoring.common import day_asset, monitoring_partition, report_check, write_report
from eval_pipeline.defs.resources import EmbeddingResource
from eval_pipeline.monitoring.day import read_sample, read_window, reference_window
from eval_pipeline.monitoring.drift import DRIFT_ALPHA, PSI_SIGNIFICANT
from eval_pipeline.monitoring.drift_report import compute_drift
from eval_pipeline.monitoring.embedders import embedder
from eval_pipeline.monitoring.feedback import feedback_metrics as behaviour_metrics
from eval_pipeline.monitoring.scoring import pass_rate
from eval_pipeline.monitoring.settings import DRIFT_TABLE, SAMPLE_TABLE, SCORES_TABLE


@day_asset(deps=("traffic_sample", "online_scores"))
def traffic_drift(
    context: dg.AssetExecutionContext, project: ProjectParam, embeddings: EmbeddingResource
) -> dg.MaterializeResult:
    """Drift of today's sample against the reference window (input length, category mix, embedding clusters), next to quality and behaviour."""
    day, cfg, wh = monitoring_partition(context, project)
    today = read_sample(wh, day)
    ref_dates, reference = reference_window(wh, SAMPLE_TABLE, day, cfg.reference_window_days)
    embed_fn, embed_name = embedder(scorer_factory=lambda: embeddings.scorer(None, project.url))
    quality, behaviour = {}, {}
    if len(today) and len(reference):
        q_today, _ = pass_rate(wh.read_table(SCORES_TABLE, {"date": day}))
        q_ref, _ = pass_rate(read_window(wh, SCORES_TABLE, ref_dates))
        quality["automated_pass_rate"] = (q_today, q_ref)
        bt, br = behaviour_metrics(today), behaviour_metrics(reference)
        for name in ("implicit_quality", "task_completion_rate"):
            behaviour[name] = (bt[name].value, br[name].value)
    out = compute_drift(today, reference, ref_dates, cfg, embed_fn, quality, behaviour)
    table = (
        out.report.assign(date=day)
        if len(out.report)
        else pd.DataFrame([{"kind": "status", "signal": out.status, "note": out.message, "date": day}])
    )
    uri = wh.write_table(DRIFT_TABLE, table, {"date": day})
    report_uri = write_report(wh, day, "drift.json", {"day": day, "embedder": embed_name, **out.to_json()})
    drift_rows = pd.DataFrame([r.to_dict() for r in out.results])
    md: dict[str, Any] = {
        "status": out.status,
        "summary": out.message,
        "drift": dg.MetadataValue.md(md_table(drift_rows, 10, empty=out.message)),
        "drift_vs_quality": dg.MetadataValue.md(md_table(out.report, 20, empty=out.message)),
        "max_psi": round(max((r.psi for r in out.results), default=0.0), 4),
        "divergence": bool(out.divergence and out.divergence.flagged),
        "embedder": embed_name,
        "reference_dates": ", ".join(ref_dates) or "none",
        "path": dg.MetadataValue.path(uri),
        "report": dg.MetadataValue.path(report_uri),
    }
    context.log.info(f"{day}: {out.message}")
    return dg.MaterializeResult(metadata=md)


@report_check(
    traffic_drift,
    "drift.json",
    f"WARN when a drift feature has PSI >= {PSI_SIGNIFICANT} and chi-square p < {DRIFT_ALPHA} against the reference window.",
)
def no_significant_drift(report: dict) -> tuple:
    columns = ("feature", "psi", "p_value", "kl", "level", "n_ref", "n_cur")
    rows = pd.DataFrame([{k: d.get(k) for k in columns} for d in report["drift"]])
    sig = rows[rows["level"] == "significant"] if len(rows) else rows
    metadata = {
        "status": report["status"],
        "summary": report["message"],
        "rule": f"PSI >= {PSI_SIGNIFICANT} and chi-square p < {DRIFT_ALPHA}",
        "drift": dg.MetadataValue.md(md_table(rows, 10, empty="none")),
        "significant": dg.MetadataValue.md(md_table(sig, 10, empty="none")),
        "max_psi": round(float(rows["psi"].max()), 4) if len(rows) else 0.0,
    }
    return sig.empty, metadata


@report_check(
    traffic_drift,
    "drift.json",
    "WARN when automated scores stay stable while behavioural signals (implicit quality) fall: the evals may be missing a failure mode users see.",
)
def no_feedback_divergence(report: dict) -> tuple:
    div = report.get("divergence")
    return not (div and div["flagged"]), {
        "message": div["message"] if div else f"not evaluated: {report['message']}"
    }
