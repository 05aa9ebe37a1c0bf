"""Dagster entry point: ``dagster dev -w workspace.yaml`` loads ``defs`` from here.

Thin wiring only: assets, checks, jobs, schedules and sensors live in ``eval_pipeline/defs/<domain>/``;
evaluation logic lives in plain modules under ``eval_pipeline/``.
"""
from __future__ import annotations

import dagster as dg

from eval_pipeline.defs.ingestion import assets as ingestion_assets
from eval_pipeline.defs.resources import EvalConfigResource, WarehouseResource


def build_resources() -> dict:
    return {
        "eval_config": EvalConfigResource(data_dir=dg.EnvVar("EVAL_DATA_DIR").get_value("") or ""),
        "warehouse": WarehouseResource(
            url=dg.EnvVar("EVAL_WAREHOUSE_URL").get_value("") or "",
            endpoint_url=dg.EnvVar("EVAL_S3_ENDPOINT_URL").get_value(None),
            region=dg.EnvVar("AWS_REGION").get_value(None),
        ),
    }


defs = dg.Definitions(
    assets=dg.load_assets_from_modules([ingestion_assets]),
    resources=build_resources(),
)
