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
import yaml
from filelock import FileLock

from eval_pipeline.defs.migration_scripts import read_once
from eval_pipeline.defs.sqlite_commits import fast_commits
from eval_pipeline.project.paths import PROJECT_ROOT

MODEL_VERSION = "model_version"  # the dynamic partitions' name (the definition's .name is typed Optional)
MODEL_VERSION_PARTITIONS = dg.DynamicPartitionsDefinition(name=MODEL_VERSION)

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


# The instance override of ``local_instance(capture_compute_logs=False)``: Dagster's no-op compute-log manager.
NO_COMPUTE_LOGS = {
    "compute_logs": {
        "module": "dagster._core.storage.noop_compute_log_manager",
        "class": "NoOpComputeLogManager",
        "config": {},
    }
}


def local_instance(*, capture_compute_logs: bool = True) -> dg.DagsterInstance:
    """The Dagster instance of ``DAGSTER_HOME`` (default ``<project>/.dagster_home``, created), for the CLI and the demo.

    ``capture_compute_logs=False`` (``eval-pipeline run``): when the home's ``dagster.yaml`` leaves
    ``compute_logs`` at Dagster's default (local files, mirrored to the terminal by a ``tail -F`` subprocess and a
    watcher process per stream, started and stopped for every run: ~0.1 s), this process's runs capture no
    stdout/stderr files: the command's output goes straight to the terminal, the UI's stdout/stderr view of such
    a run is empty, and its event log (step logs, metadata, failures) is complete as before. A ``compute_logs``
    configured in ``dagster.yaml`` (e.g. S3 in a deployment) is kept. Same storages either way."""

    os.environ.setdefault("DAGSTER_HOME", str(PROJECT_ROOT / ".dagster_home"))
    home = Path(os.environ["DAGSTER_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    fast_commits(home)  # commits without an fsync each; synced when the command ends (see the module)
    read_once()  # Dagster's migration scripts parsed once, not per database (defs/migration_scripts.py)
    # Two processes opening a fresh instance at once both create its SQLite tables and stamp the
    # schema version twice ("alembic_version has more than one head": the instance no longer opens).
    with FileLock(str(home / ".eval_pipeline_instance.lock"), timeout=120):
        if capture_compute_logs or _configures_compute_logs(home):
            return dg.DagsterInstance.get()
        # ``local_temp(home, overrides)`` is Dagster's public way to open the instance of a folder (its
        # dagster.yaml, its storages: what ``get()`` opens) with overrides; the folder is not temporary
        return dg.DagsterInstance.local_temp(str(home.resolve()), overrides=NO_COMPUTE_LOGS)


def _configures_compute_logs(home: Path) -> bool:
    """Whether ``home/dagster.yaml`` names a compute-log manager (then it is always used as configured)."""
    path = home / "dagster.yaml"
    if not path.exists():
        return False
    config = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return isinstance(config, dict) and "compute_logs" in config


def unregistered(instance: dg.DagsterInstance, keys) -> list[str]:
    """The model-version ``keys`` (in order, without repeats) the instance does not know as partitions yet."""
    known = set(instance.get_dynamic_partitions(MODEL_VERSION))
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
            instance.add_dynamic_partitions(MODEL_VERSION, new)
            return added + new
        except Exception as exc:
            # Another process registered some of them between our read and our insert (SQLite:
            # "UNIQUE constraint failed", Postgres: "duplicate key"): read again, add the rest one by one.
            if not _is_duplicate(exc):
                raise
            for k in unregistered(instance, new):
                try:
                    instance.add_dynamic_partitions(MODEL_VERSION, [k])
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
