"""Online monitoring: a daily sample of production traffic, scored without references, next to
user feedback and drift. Thin assets, one step of :mod:`eval_pipeline.monitoring` each (config, day,
scoring, feedback, drift, shadow).

Lineage (one partition per day, ``TRAFFIC_DATE_PARTITIONS``)::

    traffic_sample -> online_scores -> feedback_metrics  (check feedback_thresholds)
                   \\-> traffic_drift (checks no_significant_drift, no_feedback_divergence)
                   \\-> shadow_comparison (check shadow_not_worse)

Only ``traffic_sample`` reads raw logs; everything after reads the stored (redacted) sample.
The reference window (drift, latency baseline, debounced alerts) is whatever earlier days are
already materialized: backfill oldest first (or re-run the last days) for complete references.
Every partition writes its outputs even for an empty day, so backfills never hang.

This module holds the first three; ``traffic_drift`` is in :mod:`.drift`, ``shadow_comparison`` in
:mod:`.shadow`, the canary in :mod:`.canary`, the shared preamble in :mod:`.common`.
"""

from typing import Any

import dagster as dg
import pandas as pd

from eval_pipeline.defs.eval_partition import ProjectParam
from eval_pipeline.defs.metadata import as_metadata, md_sections, md_table
from eval_pipeline.defs.monitoring.common import (
    day_asset,
    monitoring_partition,
    report_check,
    response_executor,
    write_report,
)
from eval_pipeline.defs.resources import API_POOL, LLMResource
from eval_pipeline.monitoring.day import (
    build_day_sample,
    read_sample,
    reference_window,
    write_day_sample,
)
from eval_pipeline.monitoring.feedback import ALERT_COLUMNS, alert_outcomes
from eval_pipeline.monitoring.figures import feedback_figures, online_figures, p_charts, previous_metrics
from eval_pipeline.monitoring.scoring import judge_sample, metrics_frame, score_invariants
from eval_pipeline.monitoring.settings import METRICS_TABLE, SAMPLE_TABLE, SCORES_TABLE

# ------------------------------------------------------------------------------------ traffic_sample


@day_asset()
def traffic_sample(context: dg.AssetExecutionContext, project: ProjectParam) -> dg.MaterializeResult:
    """One day of production logs, sampled by request-id hash and PII-redacted before storage, malformed lines listed by file and line."""
    day, cfg, wh = monitoring_partition(context, project)
    ds = build_day_sample(wh, day, cfg)
    uris = write_day_sample(wh, ds)
    errors = pd.DataFrame(ds.errors, columns=["file", "line", "error"]).astype({"line": "Int64"})
    per_file = (
        errors.groupby("file").size().rename("malformed lines").reset_index() if len(errors) else errors
    )
    md: dict[str, Any] = {
        "dagster/row_count": len(ds.sample),
        "n_read": ds.n_read,
        "n_sampled": len(ds.sample),
        "sample_rate": ds.rate,
        "source": ds.location,
        "pii_redactions": int(ds.sample["pii_redactions"].sum()) if len(ds.sample) else 0,
        "synthetic_rows": int(ds.sample["synthetic"].astype(bool).sum()) if len(ds.sample) else 0,
        "n_malformed": len(ds.errors),
        "malformed_lines": dg.MetadataValue.md(md_table(errors, 20, empty="No malformed lines.")),
        "malformed_per_file": dg.MetadataValue.md(md_table(per_file, 50, empty="none")),
        "path": dg.MetadataValue.path(uris["sample"]),
        "malformed_report": dg.MetadataValue.path(uris["malformed"]),
    }
    if ds.n_read == 0:
        md["note"] = (
            f"No valid traffic for {day} under {ds.location}: an empty sample was written so downstream "
            "assets and backfills continue."
        )
    if ds.errors:
        context.log.warning(f"{len(ds.errors)} malformed log line(s) on {day}; first: {ds.errors[0]}")
    context.log.info(
        f"{day}: read {ds.n_read}, sampled {len(ds.sample)} at rate {ds.rate} from {ds.location}"
    )
    return dg.MaterializeResult(metadata=md)


# ------------------------------------------------------------------------------------- online_scores


@day_asset(deps=("traffic_sample",), pool=API_POOL)
def online_scores(
    context: dg.AssetExecutionContext, project: ProjectParam, llm: LLMResource
) -> dg.MaterializeResult:
    """Reference-free scores of the day's sample (invariants, the optional judge) and its latency profile."""
    day, cfg, wh = monitoring_partition(context, project)
    sample = read_sample(wh, day)
    scores = score_invariants(sample, cfg, day)
    tally: dict = {}
    if cfg.judge and len(sample):
        judge = llm.judge_provider(project.load().registry)
        try:
            judged = judge_sample(
                sample, cfg, day, response_executor(context, llm, project.warehouse, judge, tally)
            )
        except LookupError as e:  # replay provider without recordings for these verdicts
            raise dg.Failure(f"online judge: {e}") from None
        scores = pd.concat([scores, judged], ignore_index=True) if len(judged) else scores
    uri = wh.write_table(SCORES_TABLE, scores, {"date": day})
    numbers, tables = online_figures(sample, scores, tally)
    return dg.MaterializeResult(metadata=as_metadata(numbers, tables=tables, paths={"path": uri}))


# ---------------------------------------------------------------------------------- feedback_metrics


@day_asset(deps=("traffic_sample", "online_scores"))
def feedback_metrics(context: dg.AssetExecutionContext, project: ProjectParam) -> dg.MaterializeResult:
    """Behavioural signals of the day's sample (feedback rates, implicit quality, safety violations, p99 latency) with intervals, levels and p-charts."""
    day, cfg, wh = monitoring_partition(context, project)
    sample = read_sample(wh, day)
    scores = wh.read_table(SCORES_TABLE, {"date": day})
    ref_dates, reference = reference_window(wh, SAMPLE_TABLE, day, cfg.reference_window_days)
    frame, metrics, notes = metrics_frame(sample, scores, cfg, reference, day)
    uri = wh.write_table(METRICS_TABLE, frame, {"date": day})
    _, history = reference_window(wh, METRICS_TABLE, day, max(cfg.reference_window_days, cfg.debounce.m))
    alerts = alert_outcomes(metrics, previous_metrics(history, day, cfg), cfg)
    report = {
        "day": day,
        "alerts": alerts.to_dict("records"),
        "notes": notes,
        "debounce": cfg.debounce.model_dump(),
    }
    alerts_uri = write_report(wh, day, "alerts.json", report)
    numbers, tables, md = feedback_figures(frame, len(sample), alerts, notes, len(ref_dates))
    charts = md_sections(
        p_charts(history, metrics, day), 15, "No reference days yet: control charts start tomorrow."
    )
    metadata = as_metadata(
        numbers,
        md={**md, "control_charts": charts},
        tables=tables,
        paths={"path": uri, "alerts_json": alerts_uri},
    )
    return dg.MaterializeResult(metadata=metadata)


@report_check(
    feedback_metrics,
    "alerts.json",
    "ERROR when a feedback metric's interval reaches a critical level, WARN when it stays at a warn level (thresholds in data/monitoring.yaml).",
    missing="feedback_metrics did not write alerts for this day",
)
def feedback_thresholds(report: dict) -> tuple:
    alerts = pd.DataFrame(report["alerts"], columns=ALERT_COLUMNS)
    firing = alerts[alerts["firing"] != "none"]
    critical = firing[firing["firing"] == "critical"]
    metadata = {
        "firing": dg.MetadataValue.md(md_table(firing, 20, empty="none")),
        "all_thresholds": dg.MetadataValue.md(md_table(alerts, 20, empty="no data today")),
        "n_critical": len(critical),
        "n_warn": int((firing["firing"] == "warn").sum()),
    }
    return (
        firing.empty,
        metadata,
        dg.AssetCheckSeverity.ERROR if len(critical) else dg.AssetCheckSeverity.WARN,
    )
