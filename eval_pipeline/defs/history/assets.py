"""Longitudinal history: DuckDB over every scores / responses Parquet file, regression reports
against the baseline, control charts, alerts and a self-contained HTML report.

In: every run's scores, responses and run artifacts in the warehouse. Out: ``eval_history`` (the
DuckDB history, ``keys.history_report()`` / ``history_alerts()``; check ``quality_alerts``) and the
partitioned ``regression_report`` (``keys.regression_report(date, mv)``; check ``no_significant_regression``,
enforced by ``release_approval``, which is in ``defs/scoring/assets.py``).
"""

import json

import dagster as dg
import pandas as pd

from eval_pipeline.defs.partition import partition, partitioned_asset, partitioned_check
from eval_pipeline.defs.resources import EvalConfigResource, WarehouseResource
from eval_pipeline.history.alert_rules import AlertRules, quality_alerts_description
from eval_pipeline.scoring import verdict as vd
from eval_pipeline.storage import keys

GROUP = "history"
DUCKDB_POOL = "duckdb_writer"
MAX_TREND_CHARTS = 12


def _root(warehouse: WarehouseResource) -> str:
    url = warehouse.resolved_url().rstrip("/")
    return url.removeprefix("file://")


def _history_db_path(warehouse: WarehouseResource) -> str:
    """The DuckDB file is local (DuckDB cannot write a database on S3): beside a local warehouse,
    else under ~/.eval_pipeline. The Parquet copies of the history tables go to the warehouse itself."""
    import os
    from pathlib import Path

    if os.environ.get("EVAL_HISTORY_DB"):
        return os.environ["EVAL_HISTORY_DB"]
    root = _root(warehouse)
    if "://" not in root:
        return str(Path(root) / "history" / "history.duckdb")
    return str(Path.home() / ".eval_pipeline" / "history.duckdb")


def _inline_png(png: bytes) -> str:
    """A chart the UI shows in the metadata panel (Dagster renders base64 images in markdown).
    Only one small chart per asset is inlined; every chart is a file in the warehouse too."""
    import base64

    return f"![chart](data:image/png;base64,{base64.b64encode(png).decode()})"


def _series_charts(score_history: pd.DataFrame, rules) -> dict[str, pd.DataFrame]:
    """Control-chart frames of the main pass-rate series (segment ALL, non-auxiliary metrics)."""
    from eval_pipeline.history import alerts as al
    from eval_pipeline.history.sql import SEGMENT_ALL

    if score_history.empty:
        return {}
    s = score_history[(score_history["segment"] == SEGMENT_ALL) & score_history["pass_rate"].notna()]
    s = s[~s["metric"].str.contains(".", regex=False) & ~s["metric"].str.endswith("_spread")]
    out = {}
    for key, g in s.sort_values("date").groupby(["suite", "eval_set", "metric", "model_version"], sort=True):
        if len(out) >= MAX_TREND_CHARTS:
            break
        g = g.assign(date=g["date"].astype(str))
        caption = f"{key[0]}/{key[1]} {key[2]} pass rate - {key[3]}"
        if len(g) > rules.control_baseline_points:
            out[caption] = al.control_chart_for(g, rules)
        else:
            from eval_pipeline.history.control_charts import p_chart

            out[caption] = p_chart(g["n_passed"], g["n_graded"], baseline=len(g), x=g["date"])
    return out


def _interactive_report(
    wh,
    eval_config: EvalConfigResource,
    scores: pd.DataFrame,
    ops: pd.DataFrame,
    alert_rows: pd.DataFrame,
    rules,
    refresh,
    latest: str | None,
) -> str:
    """The interactive HTML history report (every version per eval set and metric, the comparison
    matrix from the regression reports, operations, failure modes, alerts, failing samples)."""
    from eval_pipeline.history import report, report_sources

    prod = eval_config.load().registry.production
    production = prod.key if prod else None
    inputs = report_sources.report_inputs(wh, scores, production)
    return report.build_history_report(
        scores,
        ops,
        title="eval_pipeline history",
        production=production,
        rules=rules,
        alerts=alert_rows,
        subtitle=f"{refresh.row_counts.get('score_history', 0)} aggregate rows; latest date {latest or '-'}.",
        **inputs,
    )


@dg.asset(
    deps=["eval_run"],
    group_name=GROUP,
    kinds={"duckdb", "parquet"},
    pool=DUCKDB_POOL,
    description="Aggregates of every scored run (per date, model version, suite, eval set, metric and segment), "
    "latency / cost per run and failure modes over time: Parquet in the warehouse plus a DuckDB file for ad hoc "
    "queries. Alerts (debounced) and control charts are computed here and shown as asset checks and an HTML report.",
)
def eval_history(
    context: dg.AssetExecutionContext, eval_config: EvalConfigResource, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    from eval_pipeline.history import aggregate, alerts, report, runs

    wh = warehouse.get()
    root = _root(warehouse)
    con = wh.connect_duckdb()
    sources = aggregate.HistorySources.for_root(root, complete_runs_only=True)
    db_path = _history_db_path(warehouse)
    refresh = aggregate.refresh_history(con, sources, db_path=db_path, parquet_dir=f"{root}/history")
    hist = aggregate.open_history(db_path)
    try:
        scores = hist.execute("SELECT * FROM score_history").df()
        ops = hist.execute("SELECT * FROM ops_history").df()
    finally:
        hist.close()
    rules = AlertRules()
    alert_rows = alerts.evaluate_alerts(scores, ops, rules)
    latest = scores["date"].astype(str).max() if len(scores) else None
    current = alert_rows[alert_rows["date"] == latest] if latest else alert_rows
    trends = _series_charts(scores, rules)
    html = _interactive_report(wh, eval_config, scores, ops, alert_rows, rules, refresh, latest)
    report_uri = wh.write_bytes(keys.history_report(), html.encode("utf-8"), content_type="text/html")
    alerts_uri = wh.write_bytes(
        keys.history_alerts(),
        alert_rows.to_json(orient="records").encode("utf-8"),
        content_type="application/json",
    )
    md = {
        "dagster/row_count": int(refresh.row_counts.get("score_history", 0)),
        "row_counts": dg.MetadataValue.json(refresh.row_counts),
        "refresh_seconds": round(refresh.seconds, 3),
        "dates_reaggregated": len(refresh.dates_aggregated),
        "dates_reused": len(refresh.dates_reused),
        "dates_removed": len(refresh.dates_removed),
        "duckdb_file": dg.MetadataValue.path(db_path),
        "html_report": dg.MetadataValue.path(report_uri),
        "html_report_link": dg.MetadataValue.url(
            report_uri if "://" in report_uri else f"file://{report_uri}"
        ),
        "html_report_mb": round(len(html.encode("utf-8")) / 1e6, 2),
        "alerts_json": dg.MetadataValue.path(alerts_uri),
        "alerts_latest_date": dg.MetadataValue.md(
            report.markdown_table(current) if len(current) else "No alerts on the latest date."
        ),
        "n_alerts_latest_date": len(current),
    }
    non_live = runs.non_live_runs(ops)
    md["n_non_live_runs"] = len(non_live)
    md["non_live_runs"] = dg.MetadataValue.md(
        "NOT LIVE - these runs used replayed or synthetic answers; a live candidate is never compared with them:\n\n"
        + report.markdown_table(non_live)
        if len(non_live)
        else "Every recorded answer was live."
    )
    if refresh.empty:
        md["note"] = (
            "No scored runs yet: history is empty (it fills as evaluation partitions are materialized)."
        )
    # The first trend chart inline as a small PNG link; all charts are in the HTML report.
    if trends:
        from eval_pipeline.history import charts

        caption, frame = next(iter(trends.items()))
        png = charts.trend_chart_png(frame, title=caption)
        png_uri = wh.write_bytes(keys.history_trend_chart(0), png, content_type="image/png")
        md["trend_chart"] = dg.MetadataValue.md(
            f"**{caption}** (all charts: html_report)\n\n" + _inline_png(png)
        )
        md["trend_chart_png"] = dg.MetadataValue.path(png_uri)
    context.log.info(
        f"history refreshed in {refresh.seconds:.2f}s ({len(refresh.dates_aggregated)} date(s) "
        f"re-aggregated, {len(refresh.dates_reused)} reused): {refresh.row_counts}; {len(current)} alert(s) on {latest}"
    )
    return dg.MaterializeResult(metadata=md)


@dg.asset_check(
    asset=eval_history,
    description=quality_alerts_description(),
)
def quality_alerts(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    from eval_pipeline.history import alerts

    wh = warehouse.get()
    if not wh.exists(keys.history_alerts()):
        return dg.AssetCheckResult(passed=True, metadata={"note": "no history yet"})
    rows = pd.DataFrame(json.loads(wh.read_bytes(keys.history_alerts())))
    if rows.empty:
        return dg.AssetCheckResult(passed=True, metadata={"alerts": 0})
    latest = rows["date"].astype(str).max()
    current = rows[rows["date"].astype(str) == latest]
    sev = alerts.worst_severity(current)
    return dg.AssetCheckResult(
        passed=sev is None,
        severity=dg.AssetCheckSeverity.ERROR if sev == "ERROR" else dg.AssetCheckSeverity.WARN,
        metadata={
            "alerts": len(current),
            "date": latest,
            "table": dg.MetadataValue.md(
                current[
                    [
                        c
                        for c in (
                            "rule",
                            "severity",
                            "model_version",
                            "suite",
                            "eval_set",
                            "metric",
                            "n",
                            "p_value",
                            "message",
                        )
                        if c in current.columns
                    ]
                ].to_markdown(index=False)
            ),
        },
    )


@partitioned_asset(
    group=GROUP,
    deps=["deterministic_scores", "similarity_scores", "judge_scores", "eval_run"],
    kinds=("duckdb", "json"),
    description="Candidate vs its declared baseline (the suites' baseline_model_version, else the production version) "
    "on the same night, sample by sample: exact McNemar with one draw a side, the paired t-test of per-sample "
    "differences with repeats and for scores, effect sizes with 95% intervals, each metric in the direction its "
    "thresholds give. Gate: one-sided tests, discrete Holm over the gated overall rows (0.6 of alpha) and their "
    "segment rows (0.4 of alpha, >= 10 points), so the chance of any false block is <= alpha; other rows are "
    "drill-down. `baseline_nights` > 1 pools distinct draws only. See docs/gate.md.",
)
def regression_report(
    context: dg.AssetExecutionContext, eval_config: EvalConfigResource, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    from eval_pipeline.history import aggregate, charts, stats

    p = partition(context, eval_config, warehouse)
    date, mv_key, project, wh = p.date, p.mv_key, p.project, p.wh
    root = _root(warehouse)
    con = wh.connect_duckdb()
    sources = aggregate.HistorySources.for_root(root)
    from eval_pipeline.history.baselines import declared_baseline

    declared, declared_why = declared_baseline(project, mv_key)  # the suites' baseline_model_version
    suite_configs = {
        name: suite.regression_config() for name, suite in project.suites.items()
    }  # suite YAML `regression:`
    rep = aggregate.regression_report_for_run(
        con,
        sources,
        stats.RunRef(date, mv_key),
        production_model_version=declared,
        config=suite_configs,
        production_reason=declared_why,
    )
    reason = rep.baseline_reason
    report = stats.report_dict(rep)
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
        "baseline_reason": reason,
        "baseline_pool": dg.MetadataValue.json(list(rep.baseline_pool)),
        "regressions": int(len(rep.regressions)),
        "gate_regressions": int(len(rep.gate_regressions)),
        "gate_procedure": rep.config.gate_procedure,
        "gate": stats.gate_description(rep.config),
        "gate_family": dg.MetadataValue.json(stats.gate_family(rep.rows)),
        "gate_family_size": len(stats.gate_family(rep.rows)),
        "improvements": int(len(rep.improvements)),
        "report": dg.MetadataValue.md(rep.to_markdown(max_rows=15)),
        "path": dg.MetadataValue.path(uri),
    }
    if rep.baseline is not None:  # the per-sample diff against that baseline, beside the report
        from eval_pipeline.history.diff_page import write_run_diff

        base = (rep.baseline.date, rep.baseline.model_version)
        try:  # a page that cannot be built must not stop the gate: said in the metadata and the log
            md["diff_page"] = dg.MetadataValue.path(
                write_run_diff(wh, (date, mv_key), base, keys.diff_page(date, mv_key))
            )
        except Exception as e:  # noqa: BLE001
            md["diff_page"] = f"not written: {type(e).__name__}: {e}"
            context.log.warning(f"per-sample diff page not written: {e}")
    if len(rep.rows):
        from eval_pipeline.history.sql import SEGMENT_ALL

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
    description="Regression gate of this partition; `verdict` and `why` name the blocking metric with its effect, "
    "95% interval and p. It gates the release through release_approval, which re-applies it "
    "(scoring.release.regression_gate) and fails the run with this verdict instead of being materialized; it is not "
    "Dagster-blocking, so the run page shows that verdict, not a DagsterAssetCheckFailedError. Fails (ERROR) when a row of the gated family (overall "
    "rows of the metrics each eval set's blocking thresholds name, else one primary row per eval set; "
    "`regression: primary_metrics` overrides; one-sided test 'candidate worse'; discrete-Holm-corrected so the chance of "
    "any false block is <= alpha; the suite's `regression: gate_segments: true` adds segment rows) is a "
    "significant regression larger than the minimum effect. Segment and auxiliary rows are drill-down.",
)
def no_significant_regression(
    context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource
) -> dg.AssetCheckResult:
    from eval_pipeline.scoring.release import regression_gate

    p = partition(context, None, warehouse)
    data = p.read_json(keys.regression_report(p.date, p.mv_key))
    gate = regression_gate(data)
    regs = pd.DataFrame(gate["blocking"])
    cols = [
        "suite",
        "eval_set",
        "metric",
        "segment",
        "measure",
        "test",
        "n_pairs",
        "baseline",
        "candidate",
        "effect",
        "ci_low",
        "ci_high",
        "p_worse",
        "p_gate",
    ]
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
