"""Job and schedule of the online monitoring.

===========================  ===========  =====================================================
job / schedule               partitioned  what
===========================  ===========  =====================================================
monitoring_daily_job         date         traffic_sample, online_scores, feedback_metrics,
                                          traffic_drift, shadow_comparison (+ their checks)
monitoring_daily_schedule    -            runs the job for *yesterday* (the last complete day) at
                                          ``EVAL_MONITORING_HOUR``:``EVAL_MONITORING_MINUTE``
                                          (default 01:30) in ``EVAL_TIMEZONE``; STOPPED by default
canary_hourly_job            hour         traffic_hourly, canary_analysis (+ canary_not_rolled_back)
canary_hourly_schedule       -            runs the job for the last complete hour at minute
                                          ``EVAL_CANARY_MINUTE`` (default 05); STOPPED by default
===========================  ===========  =====================================================
"""

from __future__ import annotations

import os

import dagster as dg

from eval_pipeline.defs.jobs import asset_job
from eval_pipeline.defs.monitoring.canary import CANARY_ASSETS, TRAFFIC_HOUR_PARTITIONS
from eval_pipeline.defs.monitoring.partitions import TRAFFIC_DATE_PARTITIONS

MONITORING_ASSETS = (
    "traffic_sample",
    "online_scores",
    "feedback_metrics",
    "traffic_drift",
    "shadow_comparison",
)
HOUR = int(os.environ.get("EVAL_MONITORING_HOUR", "1"))
MINUTE = int(os.environ.get("EVAL_MONITORING_MINUTE", "30"))

monitoring_daily_job = asset_job(
    "monitoring_daily_job",
    MONITORING_ASSETS,
    "monitoring",
    TRAFFIC_DATE_PARTITIONS,
    description="Online monitoring of one day of production traffic: sample + redact, reference-free scores, "
    "feedback metrics with alert thresholds, drift against the reference window, shadow comparison (if configured).",
)

monitoring_daily_schedule = dg.build_schedule_from_partitioned_job(
    monitoring_daily_job,
    name="monitoring_daily_schedule",
    hour_of_day=HOUR,
    minute_of_hour=MINUTE,
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description=f"Daily at {HOUR:02d}:{MINUTE:02d} ({os.environ.get('EVAL_TIMEZONE', 'UTC')}): monitor yesterday's "
    "production traffic (the last complete day partition). STOPPED by default; turn on in the UI or with "
    "`dagster schedule start -w workspace.yaml monitoring_daily_schedule`.",
)

canary_hourly_job = asset_job(
    "canary_hourly_job",
    CANARY_ASSETS,
    "canary",
    TRAFFIC_HOUR_PARTITIONS,
    description="Canary analysis of one hour of production traffic: hourly cohorts, then the sequential comparison of "
    "every canary version with production (verdict, alert log, webhook, blocking check).",
)

canary_hourly_schedule = dg.build_schedule_from_partitioned_job(
    canary_hourly_job,
    name="canary_hourly_schedule",
    minute_of_hour=int(os.environ.get("EVAL_CANARY_MINUTE", "5")),
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Every hour (minute EVAL_CANARY_MINUTE, default 05): the canary analysis of the last complete hour. "
    "STOPPED by default; turn on in the UI or with `dagster schedule start -w workspace.yaml canary_hourly_schedule`.",
)

JOBS = [monitoring_daily_job, canary_hourly_job]
SCHEDULES = [monitoring_daily_schedule, canary_hourly_schedule]
