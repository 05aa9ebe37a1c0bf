"""Model-version snapshots: a historical version stays resolvable after it leaves the registry.

Whenever a version is evaluated its full config (params and prompt texts) is stored in the
warehouse under ``model_versions/<key>.json``. Backfills and re-scores of a version that was
since edited or removed read the snapshot, so history is never orphaned.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from eval_pipeline.project.loader import Project
from eval_pipeline.project.registry import ModelVersion
from eval_pipeline.storage import keys

if TYPE_CHECKING:
    from eval_pipeline.storage.warehouse import Warehouse


def snapshot(model_version: ModelVersion) -> dict[str, Any]:
    return {
        "key": model_version.key,
        "config": model_version.model_dump(),
        "prompt_texts": dict(model_version._prompt_texts),
    }


def save_snapshot(warehouse: Warehouse, model_version: ModelVersion) -> str:
    return warehouse.write_bytes(
        keys.model_version_snapshot(model_version.key),
        json.dumps(snapshot(model_version), indent=2, sort_keys=True).encode("utf-8"),
        content_type="application/json",
    )


def resolve(project: Project, warehouse: Any, key: str) -> ModelVersion:
    """The model version for a partition key: from the registry, else from its stored snapshot."""
    for m in project.registry.models:
        if m.key == key:
            return m
    path = keys.model_version_snapshot(key)
    if not warehouse.exists(path):
        raise KeyError(
            f"model version {key!r} is neither in the registry ({project.base / 'models.yaml'}) nor stored in the warehouse; "
            f"current keys: {[m.key for m in project.registry.models]}"
        )
    snap = json.loads(warehouse.read_bytes(path))
    mv = ModelVersion.model_validate(snap["config"])
    mv._prompt_texts = dict(snap["prompt_texts"])
    return mv
