"""Longitudinal history: DuckDB over every scores / responses Parquet file, control charts, alerts and a
self-contained HTML report.

In: every run's scores, responses and run artifacts in the warehouse. Out: ``eval_history`` (the
DuckDB history, ``keys.history_report()`` / ``history_alerts()``; check ``quality_alerts``). The partitioned
``regression_report`` is in ``defs/regression/assets.py``, ``release_approval`` in ``defs/release/assets.py``.
"""

import base64
import json
import os
from pathlib import Path

import dagster as dg
import pandas as pd

from eval_pipeline.defs.eval_partition import EvalProject, ProjectParam
from eval_pipeline.defs.metadata import as_metadata
from eval_pipeline.defs.resources import WarehouseResource
from eval_pipeline.history import alerts, report, report_sources
from eval_pipeline.history import alerts as al
from eval_pipeline.history.alert_rules import AlertRules, quality_alerts_description
from eval_pipeline.history.alerts import evaluate_alerts
from eval_pipeline.history.charts import trend_chart_png
from eval_pipeline.history.control_charts import p_chart
from eval_pipeline.history.refresh_step import history_figures, refresh_and_read
from eval_pipeline.history.sql import SEGMENT_ALL
from eval_pipeline.storage import keys
from eval_pipeline.storage.location import Location

GROUP = "history"
DUCKDB_POOL = "duckdb_writer"
MAX_TREND_CHARTS = 12


def _root(warehouse: WarehouseResource) -> str:
    return Location.parse(warehouse.resolved_url()).root


def _history_db_path(warehouse: WarehouseResource) -> str:
    """The DuckDB file is local (DuckDB cannot write a database on S3): beside a local warehouse,
    else under ~/.eval_pipeline. The Parquet copies of the history tables go to the warehouse itself."""

    if os.environ.get("EVAL_HISTORY_DB"):
        return os.environ["EVAL_HISTORY_DB"]
    location = Location.parse(warehouse.resolved_url())
    if not location.is_remote:
        return str(location.path / "history" / "history.duckdb")
    return str(Path.home() / ".eval_pipeline" / "history.duckdb")


def _inline_png(png: bytes) -> str:
    """A chart the UI shows in the metadata panel (Dagster renders base64 images in markdown).
    Only one small chart per asset is inlined; every chart is a file in the warehouse too."""

    return f"![chart](data:image/png;base64,{base64.b64encode(png).decode()})"


def _series_charts(score_history: pd.DataFrame, rules) -> dict[str, pd.DataFrame]:
    """Control-chart frames of the main pass-rate series (segment ALL, non-auxiliary metrics)."""

    if score_history.empty:
        return {}
    s = score_history[(score_history["segment"] == SEGMENT_ALL) & score_history["pass_rate"].notna()]
    s = s[~s["metric"].str.contains(".", regex=False) & ~s["metric"].str.endswith("_spread")]
    out: dict[str, pd.DataFrame] = {}
    for key, g in s.sort_values("date").groupby(["suite", "eval_set", "metric", "model_version"], sort=True):
        if len(out) >= MAX_TREND_CHARTS:
            break
        g = g.assign(date=g["date"].astype(str))
        caption = f"{key[0]}/{key[1]} {key[2]} pass rate - {key[3]}"
        if len(g) > rules.control_baseline_points:
            out[caption] = al.control_chart_for(g, rules)
        else:
            out[caption] = p_chart(g["n_passed"], g["n_graded"], baseline=len(g), x=g["date"])
    return out


def _interactive_report(
    wh,
    project: EvalProject,
    scores: pd.DataFrame,
    ops: pd.DataFrame,
    alert_rows: pd.DataFrame,
    rules,
    refresh,
    latest: str | None,
) -> str:
    """The interactive HTML history report (every version per eval set and metric, the comparison
    matrix from the regression reports, operations, failure modes, alerts, failing samples)."""

    prod = project.load().registry.production
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
)
def eval_history(context: dg.AssetExecutionContext, project: ProjectParam) -> dg.MaterializeResult:
    """Aggregates of every scored run in DuckDB over Parquet, with the control charts and alerts of the HTML history report."""
    wh, db_path, rules = project.wh(), _history_db_path(project.warehouse), AlertRules()
    refresh, scores, ops = refresh_and_read(wh.connect_duckdb(), _root(project.warehouse), db_path)
    alert_rows = evaluate_alerts(scores, ops, rules)
    latest = scores["date"].astype(str).max() if len(scores) else None
    current = alert_rows[alert_rows["date"] == latest] if latest else alert_rows
    html = _interactive_report(wh, project, scores, ops, alert_rows, rules, refresh, latest).encode("utf-8")
    report_uri = wh.write_bytes(keys.history_report(), html, content_type="text/html")
    alerts_json = alert_rows.to_json(orient="records").encode("utf-8")
    alerts_uri = wh.write_bytes(keys.history_alerts(), alerts_json, content_type="application/json")
    numbers, json_values, md = history_figures(refresh, ops, current, len(html))
    paths = {"duckdb_file": db_path, "html_report": report_uri, "alerts_json": alerts_uri}
    metadata = as_metadata(numbers, json=json_values, md=md, paths=paths)
    metadata["html_report_link"] = dg.MetadataValue.url(Location.parse(report_uri).as_uri())
    # The first trend chart inline as a small PNG link; all charts are in the HTML report.
    if trends := _series_charts(scores, rules):
        caption, frame = next(iter(trends.items()))
        png = trend_chart_png(frame, title=caption)
        png_uri = wh.write_bytes(keys.history_trend_chart(0), png, content_type="image/png")
        metadata["trend_chart"] = dg.MetadataValue.md(
            f"**{caption}** (all charts: html_report)\n\n" + _inline_png(png)
        )
        metadata["trend_chart_png"] = dg.MetadataValue.path(png_uri)
    context.log.info(
        f"history refreshed in {refresh.seconds:.2f}s ({len(refresh.dates_aggregated)} date(s) "
        f"re-aggregated, {len(refresh.dates_reused)} reused): {refresh.row_counts}; {len(current)} alert(s) on {latest}"
    )
    return dg.MaterializeResult(metadata=metadata)


@dg.asset_check(
    asset=eval_history,
    description=quality_alerts_description(),
)
def quality_alerts(warehouse: WarehouseResource) -> dg.AssetCheckResult:

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
