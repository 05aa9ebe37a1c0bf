"""Dagster entry point: ``dagster dev -w workspace.yaml`` loads ``defs`` from here.

Thin wiring only: assets, checks, jobs, schedules and sensors live in ``eval_pipeline/defs/<domain>/``;
evaluation logic lives in plain modules under ``eval_pipeline/``.
"""
from __future__ import annotations

import os

import dagster as dg

from eval_pipeline.defs.evaluation import assets as evaluation_assets
from eval_pipeline.defs.noise import assets as noise_review
from eval_pipeline.defs.jobs import JOBS
from eval_pipeline.defs.schedules import SCHEDULES
from eval_pipeline.defs.sensors import SENSORS
from eval_pipeline.defs.history import assets as history_assets
from eval_pipeline.defs.inference import assets as inference_assets
from eval_pipeline.defs.ingestion import assets as ingestion_assets
from eval_pipeline.defs.monitoring import assets as monitoring_assets
from eval_pipeline.defs.monitoring import schedules as monitoring_schedules
from eval_pipeline.defs.resources import EmbeddingResource, EvalConfigResource, LLMResource, WarehouseResource
from eval_pipeline.project.paths import data_dir


def build_resources() -> dict:
    return {
        "eval_config": EvalConfigResource(data_dir=dg.EnvVar("EVAL_DATA_DIR").get_value("") or ""),
        "warehouse": WarehouseResource(
            url=dg.EnvVar("EVAL_WAREHOUSE_URL").get_value("") or "",
            endpoint_url=dg.EnvVar("EVAL_S3_ENDPOINT_URL").get_value(None),
            region=dg.EnvVar("AWS_REGION").get_value(None),
        ),
        "llm": LLMResource(
            provider=os.environ.get("EVAL_PROVIDER", "auto"),
            # The key is resolved by Dagster from the environment at run time; never logged or stored.
            api_key=dg.EnvVar("ANTHROPIC_API_KEY") if os.environ.get("ANTHROPIC_API_KEY") else None,
            base_url=os.environ.get("ANTHROPIC_BASE_URL") or None,
            max_concurrency=int(os.environ.get("EVAL_MAX_CONCURRENCY", "16")),
            store_path=os.environ.get("EVAL_RESPONSE_STORE", ""),
            recordings_path=os.environ.get("EVAL_RECORDINGS_DIR", str(data_dir() / "recordings")),
        ),
        "embeddings": EmbeddingResource(model_path=os.environ.get("EVAL_EMBEDDING_MODEL", "")),
    }


defs = dg.Definitions(
    assets=dg.load_assets_from_modules([ingestion_assets, inference_assets, evaluation_assets, noise_review, history_assets, monitoring_assets]),
    asset_checks=dg.load_asset_checks_from_modules([evaluation_assets, noise_review, history_assets, monitoring_assets]),
    jobs=[*JOBS, *monitoring_schedules.JOBS],
    schedules=[*SCHEDULES, *monitoring_schedules.SCHEDULES],
    sensors=SENSORS,
    resources=build_resources(),
)
