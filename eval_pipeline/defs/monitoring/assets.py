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

Why this module is long: it grew past 450 lines when the tree was first formatted with ruff
(line length 110); splitting it is part of the layout work in issue 23.
"""

import json
from typing import Any

import dagster as dg
import pandas as pd

from eval_pipeline.defs.monitoring.partitions import TRAFFIC_DATE_PARTITIONS
from eval_pipeline.defs.resources import EmbeddingResource, EvalConfigResource, LLMResource, WarehouseResource
from eval_pipeline.monitoring.config import (
    DRIFT_TABLE,
    METRICS_TABLE,
    REPORT_PREFIX,
    SAMPLE_TABLE,
    SCORES_TABLE,
    SHADOW_TABLE,
    MonitoringConfig,
    load_monitoring_config,
)
from eval_pipeline.monitoring.day import (
    build_day_sample,
    previous_days,
    read_sample,
    read_window,
    reference_window,
    write_day_sample,
)
from eval_pipeline.monitoring.drift_report import compute_drift
from eval_pipeline.monitoring.embedders import embedder
from eval_pipeline.monitoring.feedback import ALERT_COLUMNS, alert_outcomes, control_chart, metrics_by_day
from eval_pipeline.monitoring.scoring import judge_sample, metrics_frame, pass_rate, score_invariants
from eval_pipeline.monitoring.shadow import run_shadow

GROUP = "monitoring"
API_POOL = "anthropic_api"  # same pool as inference and the judge (eval_pipeline.defs.inference.assets)


def _day_asset(deps: tuple[str, ...] = (), kinds: tuple[str, ...] = ("python", "parquet"), **kwargs):
    """``dg.asset`` of one traffic day (daily partitions, the monitoring group)."""
    return dg.asset(
        partitions_def=TRAFFIC_DATE_PARTITIONS, deps=list(deps), group_name=GROUP, kinds=set(kinds), **kwargs
    )


def _partition(
    context, eval_config: EvalConfigResource, warehouse: WarehouseResource
) -> tuple[str, MonitoringConfig, Any]:
    """``(day, monitoring config, warehouse)`` of the partition being materialized."""
    from eval_pipeline.project.config import ConfigError

    try:
        cfg = load_monitoring_config(eval_config.data_dir or None)
    except (ConfigError, ValueError) as e:
        raise dg.Failure(f"invalid monitoring config: {e}") from None
    return context.partition_key, cfg, warehouse.get()


def md_table(df: pd.DataFrame | None, max_rows: int = 20, digits: int = 4, empty: str = "none") -> str:
    """A DataFrame as a markdown table (first ``max_rows`` rows, floats rounded)."""
    if df is None or df.empty:
        return empty
    d = df.head(max_rows).copy()
    for c in d.columns:
        if pd.api.types.is_float_dtype(d[c]):
            d[c] = d[c].round(digits)
    out = d.to_markdown(index=False)
    if len(df) > max_rows:
        out += f"\n\n(first {max_rows} of {len(df)} rows)"
    return out


def _report_key(day: str, name: str) -> str:
    return f"{REPORT_PREFIX}/date={day}/{name}"


def _write_json(wh, day: str, name: str, payload: dict) -> str:
    data = json.dumps(payload, indent=1, default=str).encode("utf-8")
    return wh.write_bytes(_report_key(day, name), data, content_type="application/json")


def _executor(context, llm: LLMResource, warehouse: WarehouseResource, provider, tally: dict):
    """``execute(requests) -> responses`` through ``provider`` (a model version's, or the judges')
    and the response store (retries, cost ledger, replay); counts requests, API calls and cost into ``tally``."""
    from eval_pipeline.inference.runner import run_requests, summarize

    store = llm.store(warehouse.resolved_url())

    def execute(requests):
        out = run_requests(provider, requests, store)
        s = summarize(out)
        tally["requests"] = tally.get("requests", 0) + len(out)
        tally["api_calls"] = tally.get("api_calls", 0) + s["api_calls"]
        tally["cost_usd"] = round(tally.get("cost_usd", 0.0) + s["cost_usd"], 6)
        context.log.info(f"{len(out)} requests, {s['cache_hits']} from the response store")
        return out

    return execute


# ------------------------------------------------------------------------------------ traffic_sample


@_day_asset(
    description="One day of production logs (EVAL_TRAFFIC_PREFIX, default <warehouse>/traffic/date=<d>/), sampled "
    "deterministically by request-id hash (sample_rate in data/monitoring.yaml or EVAL_TRAFFIC_SAMPLE_RATE) with PII "
    "redacted before storage: only hashes, redacted text, numbers, feedback flags and replay keys are written. "
    "Malformed lines are counted and listed with file and line, never dropped silently.",
)
def traffic_sample(
    context: dg.AssetExecutionContext, eval_config: EvalConfigResource, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    day, cfg, wh = _partition(context, eval_config, warehouse)
    ds = build_day_sample(wh, day, cfg)
    uris = write_day_sample(wh, ds)
    errors = pd.DataFrame(ds.errors, columns=["file", "line", "error"]).astype({"line": "Int64"})
    per_file = (
        errors.groupby("file").size().rename("malformed lines").reset_index() if len(errors) else errors
    )
    md = {
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


@_day_asset(
    deps=("traffic_sample",),
    pool=API_POOL,
    description="Reference-free evaluation of the day's sample: deterministic invariants per prompt template "
    "(data/monitoring.yaml invariants), the optional judge rubric without reference (through the response store), "
    "latency / TTFT percentiles by prompt template and input-length bucket, and the failure-mode distribution.",
)
def online_scores(
    context: dg.AssetExecutionContext,
    eval_config: EvalConfigResource,
    warehouse: WarehouseResource,
    llm: LLMResource,
) -> dg.MaterializeResult:
    from eval_pipeline.monitoring.profile import failure_mode_distribution, profile_sample

    day, cfg, wh = _partition(context, eval_config, warehouse)
    sample = read_sample(wh, day)
    scores = score_invariants(sample, cfg, day)
    tally: dict = {}
    if cfg.judge and len(sample):
        execute = _executor(context, llm, warehouse, llm.judge_provider(eval_config.load().registry), tally)
        try:
            judged = judge_sample(sample, cfg, day, execute)
        except LookupError as e:  # replay provider without recordings for these verdicts
            raise dg.Failure(f"online judge: {e}") from None
        scores = pd.concat([scores, judged], ignore_index=True) if len(judged) else scores
    uri = wh.write_table(SCORES_TABLE, scores, {"date": day})
    rate, n = pass_rate(scores)
    md = {
        "dagster/row_count": len(scores),
        "n_requests": len(sample),
        "automated_pass_rate": None if n == 0 else round(rate, 4),
        "path": dg.MetadataValue.path(uri),
    }
    if len(scores):
        fm = failure_mode_distribution(scores, by=("eval_set", "metric")).rename(
            columns={"eval_set": "prompt_template"}
        )
        md["failure_modes"] = dg.MetadataValue.md(md_table(fm, 20))
    else:
        md["failure_modes"] = (
            "No scores: no sampled traffic or no invariants configured for its prompt templates."
        )
    if len(sample):
        prof = profile_sample(sample)
        md["latency_by_template"] = dg.MetadataValue.md(md_table(prof["by_template"], 30, 3))
        md["latency_by_input_length"] = dg.MetadataValue.md(md_table(prof["by_length_bucket"], 30, 3))
        md["latency_p99_s"] = round(prof["overall"]["latency_p99"], 4)
        md["ttft_p50_s"] = (
            round(prof["overall"]["ttft_p50"], 4)
            if prof["overall"]["ttft_p50"] == prof["overall"]["ttft_p50"]
            else None
        )
    if tally:
        md.update(
            judge_requests=tally["requests"],
            judge_api_calls=tally["api_calls"],
            judge_cost_usd=tally["cost_usd"],
        )
    return dg.MaterializeResult(metadata=md)


# ---------------------------------------------------------------------------------- feedback_metrics


def _metric_rows(frame: pd.DataFrame) -> pd.DataFrame:
    if frame.empty:
        return frame
    f = frame.copy()
    f["95% CI"] = [
        ("-" if pd.isna(lo) else f"[{lo:.3f}, {hi:.3f}]") for lo, hi in zip(f["ci_low"], f["ci_high"])
    ]
    return f[["model_version", "metric", "value", "95% CI", "count", "nobs"]]


@_day_asset(
    deps=("traffic_sample", "online_scores"),
    description="Behavioural signals of the day's sample: thumbs-down, regenerate, copy and task-completion rates and "
    "the implicit quality score, each with a Wilson interval; safety-violation rate from the safety invariants; p99 "
    "latency against the trailing reference window. Levels against the alert thresholds, debounced over the last "
    "days, and p-charts of the rates (history's control charts).",
)
def feedback_metrics(
    context: dg.AssetExecutionContext, eval_config: EvalConfigResource, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    day, cfg, wh = _partition(context, eval_config, warehouse)
    sample = read_sample(wh, day)
    scores = wh.read_table(SCORES_TABLE, {"date": day})
    ref_dates, reference = reference_window(wh, SAMPLE_TABLE, day, cfg.reference_window_days)
    frame, metrics, notes = metrics_frame(sample, scores, cfg, reference, day)
    uri = wh.write_table(METRICS_TABLE, frame, {"date": day})

    window = max(cfg.reference_window_days, cfg.debounce.m)
    _, history = reference_window(wh, METRICS_TABLE, day, window)
    by_day = metrics_by_day(history)
    previous = (
        [by_day.get(d, {}) for d in previous_days(day, max(cfg.debounce.m - 1, 0))]
        if cfg.debounce.m > 1
        else []
    )
    alerts = alert_outcomes(metrics, previous, cfg)
    alerts_uri = _write_json(
        wh,
        day,
        "alerts.json",
        {
            "day": day,
            "alerts": alerts.to_dict("records"),
            "notes": notes,
            "debounce": cfg.debounce.model_dump(),
        },
    )
    charts = []
    for metric in ("thumbs_down_rate", "regenerate_rate"):
        cc = control_chart(history, metrics, day, metric)
        if len(cc):
            charts.append(
                f"**{metric}** (p-chart, center from the reference days)\n\n"
                + md_table(cc[["x", "value", "center", "lcl", "ucl", "out_of_control"]], 15)
            )
    firing = alerts[alerts["firing"] != "none"] if len(alerts) else alerts
    md = {
        "dagster/row_count": len(frame),
        "n_requests": len(sample),
        "metrics": dg.MetadataValue.md(
            md_table(_metric_rows(frame), 40, empty="No traffic today: no metrics.")
        ),
        "alerts": dg.MetadataValue.md(md_table(alerts, 20, empty="No thresholds evaluated (no data).")),
        "n_alerts_firing": len(firing),
        "notes": dg.MetadataValue.md("\n".join(f"- {k}: {v}" for k, v in notes.items()) or "none"),
        "control_charts": dg.MetadataValue.md(
            "\n\n".join(charts) or "No reference days yet: control charts start tomorrow."
        ),
        "reference_days": len(ref_dates),
        "path": dg.MetadataValue.path(uri),
        "alerts_json": dg.MetadataValue.path(alerts_uri),
    }
    return dg.MaterializeResult(metadata=md)


@dg.asset_check(
    asset=feedback_metrics,
    description="Alert thresholds (data/monitoring.yaml thresholds; defaults from the seeds: thumbs-down 15%/25%, "
    "regenerate 20%/35%, safety violations 0.1%/0.5%, p99 latency 2x/5x the reference window). A rate reaches a level "
    "only when its 95% Wilson lower bound does (upper bound for 'below' levels; n shown), not its point estimate. "
    "ERROR when a critical level is reached, WARN when a warn level is sustained (k of the last m days, debounce).",
)
def feedback_thresholds(
    context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource
) -> dg.AssetCheckResult:
    day = context.partition_key
    wh = warehouse.get()
    key = _report_key(day, "alerts.json")
    if not wh.exists(key):
        return dg.AssetCheckResult(
            passed=True, metadata={"note": "feedback_metrics did not write alerts for this day"}
        )
    data = json.loads(wh.read_bytes(key))
    alerts = pd.DataFrame(data["alerts"], columns=ALERT_COLUMNS)
    firing = alerts[alerts["firing"] != "none"]
    critical = firing[firing["firing"] == "critical"]
    return dg.AssetCheckResult(
        passed=firing.empty,
        severity=dg.AssetCheckSeverity.ERROR if len(critical) else dg.AssetCheckSeverity.WARN,
        metadata={
            "firing": dg.MetadataValue.md(md_table(firing, 20, empty="none")),
            "all_thresholds": dg.MetadataValue.md(md_table(alerts, 20, empty="no data today")),
            "n_critical": len(critical),
            "n_warn": int((firing["firing"] == "warn").sum()),
        },
    )


# ------------------------------------------------------------------------------------- traffic_drift


@_day_asset(
    deps=("traffic_sample", "online_scores"),
    description="PSI and KL of today's sample against the reference window (the previous reference_window_days of "
    "stored samples) for input length, category mix and input-embedding clusters (k-means on MiniLM embeddings; "
    "EVAL_MONITORING_EMBEDDER=hashing for a fast non-semantic embedder). Drift is reported next to quality and "
    "behaviour, with a diagnosis and the divergence flag (automated scores stable while users react worse).",
)
def traffic_drift(
    context: dg.AssetExecutionContext,
    eval_config: EvalConfigResource,
    warehouse: WarehouseResource,
    embeddings: EmbeddingResource,
) -> dg.MaterializeResult:
    from eval_pipeline.monitoring.feedback import feedback_metrics as behaviour_metrics

    day, cfg, wh = _partition(context, eval_config, warehouse)
    today = read_sample(wh, day)
    ref_dates, reference = reference_window(wh, SAMPLE_TABLE, day, cfg.reference_window_days)
    embed_fn, embed_name = embedder(scorer_factory=lambda: embeddings.scorer(None, warehouse.resolved_url()))
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
    report_uri = _write_json(wh, day, "drift.json", {"day": day, "embedder": embed_name, **out.to_json()})
    drift_rows = pd.DataFrame([r.to_dict() for r in out.results])
    md = {
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


def _drift_report(context, warehouse: WarehouseResource) -> dict:
    return json.loads(warehouse.get().read_bytes(_report_key(context.partition_key, "drift.json")))


@dg.asset_check(
    asset=traffic_drift,
    description="WARN when any drift feature has PSI >= 0.25 (a large shift) AND "
    "the chi-square test of homogeneity of its binned counts gives p < 0.05 (not sampling noise) against "
    "the reference window. Passes with a note when there is no reference yet (first day).",
)
def no_significant_drift(
    context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource
) -> dg.AssetCheckResult:
    from eval_pipeline.monitoring.drift import DRIFT_ALPHA, PSI_SIGNIFICANT

    rep = _drift_report(context, warehouse)
    rows = pd.DataFrame(
        [
            {k: d.get(k) for k in ("feature", "psi", "p_value", "kl", "level", "n_ref", "n_cur")}
            for d in rep["drift"]
        ]
    )
    sig = rows[rows["level"] == "significant"] if len(rows) else rows
    return dg.AssetCheckResult(
        passed=sig.empty,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "status": rep["status"],
            "summary": rep["message"],
            "rule": f"PSI >= {PSI_SIGNIFICANT} and chi-square p < {DRIFT_ALPHA}",
            "drift": dg.MetadataValue.md(md_table(rows, 10, empty="none")),
            "significant": dg.MetadataValue.md(md_table(sig, 10, empty="none")),
            "max_psi": round(float(rows["psi"].max()), 4) if len(rows) else 0.0,
        },
    )


@dg.asset_check(
    asset=traffic_drift,
    description="WARN when automated scores stay stable while behavioural signals "
    "(implicit quality) fall: the evals may be missing a failure mode users see.",
)
def no_feedback_divergence(
    context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource
) -> dg.AssetCheckResult:
    rep = _drift_report(context, warehouse)
    div = rep.get("divergence")
    return dg.AssetCheckResult(
        passed=not (div and div["flagged"]),
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"message": div["message"] if div else f"not evaluated: {rep['message']}"},
    )


# --------------------------------------------------------------------------------- shadow_comparison


@_day_asset(
    deps=("traffic_sample",),
    kinds=("anthropic", "parquet"),
    pool=API_POOL,
    description="Shadow comparison: the candidate model version (shadow.candidate_model_version in "
    "data/monitoring.yaml) answers the day's sampled, redacted inputs; the pairwise judge compares it with the "
    "production outputs in both orders; win rate with a Wilson interval overall and per category. Skipped (and "
    "still materialized) when no candidate is configured.",
)
def shadow_comparison(
    context: dg.AssetExecutionContext,
    eval_config: EvalConfigResource,
    warehouse: WarehouseResource,
    llm: LLMResource,
) -> dg.MaterializeResult:
    day, cfg, wh = _partition(context, eval_config, warehouse)
    name = cfg.shadow.candidate_model_version
    if not name:
        msg = (
            "skipped: no shadow candidate configured (shadow.candidate_model_version in data/monitoring.yaml)"
        )
        uri = _write_json(wh, day, "shadow.json", {"day": day, "status": "skipped", "message": msg})
        return dg.MaterializeResult(
            metadata={"status": "skipped", "note": msg, "report": dg.MetadataValue.path(uri)}
        )
    project = eval_config.load()
    try:
        mv = project.registry.by_name(name)
    except KeyError as e:
        raise dg.Failure(f"shadow.candidate_model_version: {e}") from None
    tally: dict = {}
    candidate = _executor(context, llm, warehouse, llm.provider_for(project.registry, mv), tally)
    judge = _executor(context, llm, warehouse, llm.judge_provider(project.registry), tally)
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
    }
    md["report"] = dg.MetadataValue.path(_write_json(wh, day, "shadow.json", payload))
    return dg.MaterializeResult(metadata=md)


@dg.asset_check(
    asset=shadow_comparison,
    description="WARN when the candidate is significantly worse than production "
    "on today's traffic (win-rate interval entirely below 0.5).",
)
def shadow_not_worse(
    context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource
) -> dg.AssetCheckResult:
    rep = json.loads(warehouse.get().read_bytes(_report_key(context.partition_key, "shadow.json")))
    verdict = (rep.get("decision") or {}).get("verdict")
    return dg.AssetCheckResult(
        passed=verdict != "worse",
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"status": rep["status"], "verdict": verdict or "none", "message": rep["message"]},
    )
