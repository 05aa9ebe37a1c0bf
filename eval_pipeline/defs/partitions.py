"""Partitions shared by the evaluation assets: date (daily) x model version (dynamic).

Why two dimensions: a model version is evaluated again every night (quality drifts even
when the config does not: hosted models change, nondeterministic sampling, golden sets
grow), and backfills run over historical model versions and dates. Model-version keys are
``<slug>-<config hash>`` from the registry (see ``config.ModelVersion.key``); they are
registered as dynamic partitions by the config-change sensor or ``eval-pipeline register``.
Removing a version from the registry never deletes its partitions or stored history.
"""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg
from filelock import FileLock

from eval_pipeline.defs.migration_scripts import read_once
from eval_pipeline.defs.sqlite_commits import fast_commits
from eval_pipeline.project.paths import PROJECT_ROOT

MODEL_VERSION_PARTITIONS = dg.DynamicPartitionsDefinition(name="model_version")

# The first date evaluations can be backfilled to; override with EVAL_START_DATE.
START_DATE = os.environ.get("EVAL_START_DATE", "2026-10-01")
DATE_PARTITIONS = dg.DailyPartitionsDefinition(
    start_date=START_DATE,
    timezone=os.environ.get("EVAL_TIMEZONE", "UTC"),
    end_offset=1,  # today's date is a valid partition, so a nightly run evaluates "today"
)

EVAL_PARTITIONS = dg.MultiPartitionsDefinition(
    {"date": DATE_PARTITIONS, "model_version": MODEL_VERSION_PARTITIONS}
)


def partition_parts(context: dg.AssetExecutionContext | dg.AssetCheckExecutionContext) -> tuple[str, str]:
    """(date, model_version) of the partition being materialized or checked."""
    key = context.partition_key
    assert isinstance(key, dg.MultiPartitionKey), f"expected a date|model_version partition, got {key!r}"
    dims = key.keys_by_dimension
    return dims["date"], dims["model_version"]


def eval_partition_key(date: str, model_version: str) -> dg.MultiPartitionKey:
    return dg.MultiPartitionKey({"date": date, "model_version": model_version})


def local_instance() -> dg.DagsterInstance:
    """The Dagster instance of ``DAGSTER_HOME`` (default ``<project>/.dagster_home``, created), for the CLI and the demo."""

    os.environ.setdefault("DAGSTER_HOME", str(PROJECT_ROOT / ".dagster_home"))
    home = Path(os.environ["DAGSTER_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    fast_commits(home)  # commits without an fsync each; synced when the command ends (see the module)
    read_once()  # Dagster's migration scripts parsed once, not per database (defs/migration_scripts.py)
    # Two processes opening a fresh instance at once both create its SQLite tables and stamp the
    # schema version twice ("alembic_version has more than one head": the instance no longer opens).
    with FileLock(str(home / ".eval_pipeline_instance.lock"), timeout=120):
        return dg.DagsterInstance.get()


def unregistered(instance: dg.DagsterInstance, keys) -> list[str]:
    """The model-version ``keys`` (in order, without repeats) the instance does not know as partitions yet."""
    known = set(instance.get_dynamic_partitions(MODEL_VERSION_PARTITIONS.name))
    return [k for k in dict.fromkeys(keys) if k not in known]


def register_model_versions(instance: dg.DagsterInstance, keys) -> list[str]:
    """Register ``keys`` as ``model_version`` partitions (idempotent); returns the keys that were new.
    For scripts, the CLI and the demo; a sensor returns :func:`add_requests` instead."""
    keys = list(keys)
    added: list[str] = []
    for _ in range(20):
        new = unregistered(instance, keys)
        if not new:
            return added
        try:
            instance.add_dynamic_partitions(MODEL_VERSION_PARTITIONS.name, new)
            return added + new
        except Exception as exc:
            # Another process registered some of them between our read and our insert (SQLite:
            # "UNIQUE constraint failed", Postgres: "duplicate key"): read again, add the rest one by one.
            if not _is_duplicate(exc):
                raise
            for k in unregistered(instance, new):
                try:
                    instance.add_dynamic_partitions(MODEL_VERSION_PARTITIONS.name, [k])
                    added.append(k)
                except Exception as exc1:
                    if not _is_duplicate(exc1):
                        raise
    return added


def _is_duplicate(exc: BaseException) -> bool:
    """A unique-constraint violation (SQLAlchemy's IntegrityError over SQLite or Postgres)."""
    text = str(exc)
    return any(c.__name__ == "IntegrityError" for c in type(exc).__mro__) or (
        "UNIQUE constraint failed" in text or "duplicate key" in text
    )


def add_requests(keys) -> list:
    """The ``dynamic_partitions_requests`` of a sensor result that registers ``keys`` (none when empty)."""
    keys = list(keys)
    return [MODEL_VERSION_PARTITIONS.build_add_request(keys)] if keys else []
