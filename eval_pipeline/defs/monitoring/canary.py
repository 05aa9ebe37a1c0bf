"""Hourly canary analysis: per-hour traffic cohorts and the canary verdict (promote / continue / cannot decide yet / roll back).

Lineage (one partition per hour, ``TRAFFIC_HOUR_PARTITIONS``, keys ``YYYY-MM-DD-HH:00``)::

    traffic_hourly -> canary_analysis  (blocking check canary_not_rolled_back)

Why hourly partitions and not a sensor over new traffic files: an hour is then a unit Dagster
knows - it can be backfilled, re-run when late files arrive (re-materialize that hour), and every
hour's verdict is a materialization with its metadata, so the rollout's hourly story is the
partition list of ``canary_analysis`` in the UI. A file sensor would need its own cursor and
de-duplication and shows no per-hour view; the hourly schedule (``canary_hourly_schedule`` in
``schedules.py``, a few minutes after each hour) runs the last complete hour instead.

A verdict of ``promote`` or ``roll back`` is appended to the alert log and POSTed to
``EVAL_ALERT_WEBHOOK_URL`` (the ``eval_failure_sensor`` mechanism, :func:`defs.sensors.post_alert`)
so a deployment tool can act; ``roll back`` also fails the blocking check.
"""

import json
import os

import dagster as dg
import pandas as pd

from eval_pipeline.defs.eval_partition import EvalProject, ProjectParam
from eval_pipeline.defs.metadata import as_metadata, md_table
from eval_pipeline.defs.monitoring.common import GROUP, monitoring_partition
from eval_pipeline.defs.partitions import START_DATE
from eval_pipeline.defs.resources import WarehouseResource
from eval_pipeline.defs.sensors import post_alert
from eval_pipeline.monitoring.canary_report import analyze_hour, canary_figures, verdict_alert, verdict_rows
from eval_pipeline.monitoring.hourly import (
    build_hour_rows,
    cohort_windows,
    parse_hour,
    previous_hours,
    read_traffic_hour,
)
from eval_pipeline.project.canary import CanaryConfig
from eval_pipeline.storage import keys

TRAFFIC_HOUR_PARTITIONS = dg.HourlyPartitionsDefinition(
    start_date=f"{START_DATE}-00:00", timezone=os.environ.get("EVAL_TIMEZONE", "UTC")
)
CANARY_ASSETS = ("traffic_hourly", "canary_analysis")


def _hour_asset(deps: tuple[str, ...] = (), **kwargs):
    """``dg.asset`` of one traffic hour (hourly partitions, the monitoring group)."""
    return dg.asset(
        partitions_def=TRAFFIC_HOUR_PARTITIONS,
        deps=list(deps),
        group_name=GROUP,
        kinds={"python", "parquet"},
        **kwargs,
    )


def _hour(context, project: EvalProject):
    """``(hour key, date, HH, monitoring config, warehouse)`` of the partition."""
    key, cfg, wh = monitoring_partition(context, project)
    t = parse_hour(key)
    return key, t.date().isoformat(), f"{t.hour:02d}", cfg, wh


def read_hours(warehouse, hours: list[str]) -> pd.DataFrame:
    """The ``traffic_hourly`` rows of ``hours`` that were materialized (empty frame if none)."""
    have = {(p.get("date"), p.get("hour")) for p in warehouse.list_partitions(keys.TRAFFIC_HOURLY)}
    frames = []
    for h in hours:
        t = parse_hour(h)
        part = (t.date().isoformat(), f"{t.hour:02d}")
        if part in have:
            f = warehouse.read_table(keys.TRAFFIC_HOURLY, keys.hour_partition(*part))
            if len(f):  # the table's date / hour columns are the partition's; rows carry the hour key
                frames.append(f.drop(columns=["date"], errors="ignore").assign(hour=h))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


@_hour_asset()
def traffic_hourly(context: dg.AssetExecutionContext, project: ProjectParam) -> dg.MaterializeResult:
    """One hour of production logs as per-request numbers and flags (no text), with per-version cohorts in metadata."""
    hour, day, hh, cfg, wh = _hour(context, project)
    frame, errors, where = read_traffic_hour(wh, hour)
    rows = build_hour_rows(frame, cfg, hour)
    uri = wh.write_table(keys.TRAFFIC_HOURLY, rows.drop(columns=["hour"]), keys.hour_partition(day, hh))
    window = read_hours(wh, previous_hours(hour, cfg.canary.long_window_hours))
    cohorts = (
        cohort_windows(window, hour, cfg.canary.short_window_hours, cfg.canary.long_window_hours)
        if len(window)
        else pd.DataFrame()
    )
    context.log.info(f"{hour}: {len(rows)} requests from {where}, {len(errors)} malformed")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(rows),
            "source": where,
            "n_malformed": len(errors),
            "synthetic_rows": int(rows["synthetic"].astype(bool).sum()) if len(rows) else 0,
            "requests_by_version": dg.MetadataValue.md(
                md_table(
                    rows["model_version"].value_counts().rename_axis("model_version").reset_index(name="n"),
                    20,
                )
                if len(rows)
                else "no traffic this hour"
            ),
            "cohorts": dg.MetadataValue.md(md_table(cohorts, 40, 4, empty="no traffic in the windows")),
            "path": dg.MetadataValue.path(uri),
        }
    )


@_hour_asset(
    deps=("traffic_hourly",),
    description=f"Each canary version against production over every hourly look: promote, continue, cannot decide yet or roll back, false rollbacks at most canary.alpha ({CanaryConfig().alpha:g}).",
)
def canary_analysis(context: dg.AssetExecutionContext, project: ProjectParam) -> dg.MaterializeResult:
    hour, day, hh, cfg, wh = _hour(context, project)
    hours = previous_hours(hour, cfg.canary.lookback_hours)
    prod, results = analyze_hour(read_hours(wh, hours), hour, hours, cfg.canary)
    verdicts = verdict_rows(results, hour)
    partition = keys.hour_partition(day, hh)
    uri = wh.write_table(
        keys.CANARY_VERDICTS, verdicts.drop(columns=["hour"]).assign(hour_key=hour), partition
    )
    payload = {"hour": hour, "production": prod, "canaries": [r.to_json() for r in results]}
    report = wh.write_bytes(
        keys.monitoring_hour_report(day, hh, "canary.json"),
        json.dumps(payload, indent=1, default=str).encode("utf-8"),
        content_type="application/json",
    )
    ui = os.environ.get("EVAL_UI_URL", "http://127.0.0.1:3000").rstrip("/")
    for r in results:
        if r.verdict in ("promote", "roll back"):  # not "continue" / "cannot decide yet"
            post_alert(verdict_alert(r, hour, report, ui), context.log)
    numbers, tables = canary_figures(prod, results, verdicts)
    return dg.MaterializeResult(
        metadata=as_metadata(numbers, tables=tables, paths={"path": uri, "report": report})
    )


@dg.asset_check(
    asset=canary_analysis,
    blocking=True,
    description="Fails (ERROR, blocking) when a canary's verdict this hour is roll back.",
)
def canary_not_rolled_back(
    context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource
) -> dg.AssetCheckResult:
    t = parse_hour(context.partition_key)
    key = keys.monitoring_hour_report(t.date().isoformat(), f"{t.hour:02d}", "canary.json")
    rep = json.loads(warehouse.get().read_bytes(key))
    rows = pd.DataFrame(
        [
            {k: c[k] for k in ("canary", "verdict", "deciding_metrics", "severity", "reason", "n_looks")}
            for c in rep["canaries"]
        ],
        columns=["canary", "verdict", "deciding_metrics", "severity", "reason", "n_looks"],
    )
    rolled = rows[rows["verdict"] == "roll back"]
    return dg.AssetCheckResult(
        passed=rolled.empty,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "rolled_back": dg.MetadataValue.md(md_table(rolled, 20, empty="none")),
            "verdicts": dg.MetadataValue.md(md_table(rows, 20, empty="no canary")),
        },
    )
