"""Job and schedule of the online monitoring.

===========================  ===========  =====================================================
job / schedule               partitioned  what
===========================  ===========  =====================================================
monitoring_daily_job         date         traffic_sample, online_scores, feedback_metrics,
                                          traffic_drift, shadow_comparison (+ their checks)
monitoring_daily_schedule    -            runs the job for *yesterday* (the last complete day) at
                                          ``EVAL_MONITORING_HOUR``:``EVAL_MONITORING_MINUTE``
                                          (default 01:30) in ``EVAL_TIMEZONE``; STOPPED by default
===========================  ===========  =====================================================
"""
from __future__ import annotations

import os

import dagster as dg

from eval_pipeline.defs.jobs import asset_job
from eval_pipeline.defs.monitoring.partitions import TRAFFIC_DATE_PARTITIONS

MONITORING_ASSETS = ("traffic_sample", "online_scores", "feedback_metrics", "traffic_drift", "shadow_comparison")
HOUR = int(os.environ.get("EVAL_MONITORING_HOUR", "1"))
MINUTE = int(os.environ.get("EVAL_MONITORING_MINUTE", "30"))

monitoring_daily_job = asset_job(
    "monitoring_daily_job", MONITORING_ASSETS, "monitoring", TRAFFIC_DATE_PARTITIONS,
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

JOBS = [monitoring_daily_job]
SCHEDULES = [monitoring_daily_schedule]
