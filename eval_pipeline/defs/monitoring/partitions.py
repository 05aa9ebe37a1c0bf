"""Daily partitions of the online-monitoring assets: one partition per day of production traffic.

Production traffic is not per model version (rows carry ``model_version``; metrics are reported
for all traffic and per version), so unlike the evaluation assets there is no model-version
dimension. Same start date and timezone as the evaluation dates (``EVAL_START_DATE``,
``EVAL_TIMEZONE``). Unlike them, the last partition is *yesterday*: a day of traffic is sampled
once it is complete.
"""

from __future__ import annotations

import os

import dagster as dg

from eval_pipeline.defs.partitions import START_DATE

TRAFFIC_DATE_PARTITIONS = dg.DailyPartitionsDefinition(
    start_date=START_DATE,
    timezone=os.environ.get("EVAL_TIMEZONE", "UTC"),
)
