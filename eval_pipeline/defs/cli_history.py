"""Refresh the history report from the command line: ``eval-pipeline run`` (after evaluating) and ``view``.

In: the Dagster instance of ``DAGSTER_HOME`` (default: the local one). Out: the ``eval_history`` asset and
its ``quality_alerts`` check materialized in process (DuckDB history, alerts, the HTML report at
``<warehouse>/reports/history/latest.html``; a run the UI shows, tagged ``eval/trigger=cli``) and the
report's location. Defines nothing (autoloaded by ``dg`` like every module here, it adds no definition).
"""

from __future__ import annotations

import dagster as dg

from eval_pipeline.commands.view import report_location
from eval_pipeline.defs.ci import eval_definitions, worker_tags
from eval_pipeline.defs.partitions import local_instance


def refresh(instance: dg.DagsterInstance | None = None) -> tuple[bool, str]:
    """Materialize ``eval_history`` (in process, on the instance); returns (success, report location)."""

    defs = eval_definitions()
    result = dg.materialize(
        # Definitions.assets may hold a CacheableAssetsDefinition, which materialize() does not take;
        # eval_definitions() has none (the project defines none)
        [*(defs.assets or []), *(defs.asset_checks or [])],  # type: ignore[list-item]
        selection=["eval_history"],
        instance=instance or local_instance(),
        resources=defs.resources,
        raise_on_error=False,
        tags={"eval/trigger": "cli", **worker_tags()},
        run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
    )
    return result.success, report_location()
