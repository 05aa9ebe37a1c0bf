"""Where the history is built from: the warehouse globs and a cheap "are there files" check.

In: a warehouse root (local folder or ``s3://bucket/prefix``) or a ``Warehouse``, and a DuckDB
connection able to list it. Out: :class:`HistorySources` (globs of the scores, responses and
run artifacts) and :func:`has_files` (does a glob match anything; nothing is read).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import duckdb

from eval_pipeline.storage import keys
from eval_pipeline.storage.warehouse import Warehouse


@dataclass(frozen=True)
class HistorySources:
    """Globs of the warehouse tables the history is built from (``None``: table absent; the scores table is
    what a history is made of, so it always has a glob)."""

    scores_glob: str
    responses_glob: str | None = None
    runs_glob: str | None = None
    # Only (date, model version) partitions with a run artifact (run.json, written last by eval_run)
    # are history: a run killed after its scores but before run.json is never taken as a result.
    complete_runs_only: bool = False

    @classmethod
    def for_root(cls, root: str | os.PathLike[str], complete_runs_only: bool = False) -> HistorySources:
        """Standard layout under a warehouse root (local path or ``s3://bucket/prefix``)."""
        r = str(root).rstrip("/")
        return cls(
            complete_runs_only=complete_runs_only,
            scores_glob=f"{r}/{keys.partition_files_glob(keys.SCORES)}",  # family=/date=/model_version=/data.parquet
            responses_glob=f"{r}/{keys.partition_files_glob(keys.RESPONSES)}",  # date=/model_version=/data.parquet
            runs_glob=f"{r}/{keys.run_artifacts_glob()}",  # date=/model_version=/run.json
        )

    @classmethod
    def for_warehouse(cls, warehouse: Warehouse) -> HistorySources:
        """Standard layout under an ``eval_pipeline.storage.Warehouse`` (local or S3)."""
        return cls.for_root(warehouse.root)


def scalar(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> Any:
    """The one value of a query that always returns one row (``count(*)``, ``current_setting``)."""
    row = con.execute(sql, params).fetchone()
    assert row is not None  # an aggregate or setting query has its row
    return row[0]


def has_files(con: duckdb.DuckDBPyConnection, glob: str | None) -> bool:
    """True if ``glob`` (local or ``s3://``) matches at least one file."""
    if not glob:
        return False
    try:
        return bool(scalar(con, "SELECT count(*) FROM glob(?)", [glob]) > 0)
    except duckdb.IOException:
        return False
