"""Read the history back: the history database, one run's scores, the known runs, a regression report.

In: the history DuckDB file (written by :func:`eval_pipeline.history.aggregate.refresh_history`)
or a connection that can read the warehouse plus its :class:`~eval_pipeline.history.sources.HistorySources`.
Out: a read-only connection / query results (:func:`open_history`, :func:`query_history`), one
run's per-sample score rows with partition pruning (:func:`load_run_scores`), the run list
(:func:`load_runs`, :func:`list_scored_runs`, :func:`list_runs_from_files`, :func:`known_runs`), the runs that
were not live (:func:`non_live_runs`). SQL strings come from :mod:`eval_pipeline.history.sql`. The regression
report of a stored run is :mod:`eval_pipeline.regression.stored_runs`'s.
"""

from __future__ import annotations

import os
from typing import Any

import duckdb
import pandas as pd

from eval_pipeline.history import sql as q
from eval_pipeline.history.sources import HistorySources, has_files
from eval_pipeline.storage import keys


def open_history(db_path: str | os.PathLike[str]) -> duckdb.DuckDBPyConnection:
    """Read-only connection to the history database; an in-memory empty history if it does not exist yet."""
    if os.path.exists(db_path):
        return duckdb.connect(str(db_path), read_only=True)
    con = duckdb.connect()
    for table, cols, types in (
        ("score_history", q.SCORE_HISTORY_COLUMNS, q.SCORE_HISTORY_TYPES),
        ("ops_history", q.OPS_HISTORY_COLUMNS, q.OPS_HISTORY_TYPES),
        ("failure_modes", q.FAILURE_MODE_COLUMNS, {"n": "BIGINT", "share": "DOUBLE"}),
    ):
        con.execute(f"CREATE TABLE {table} AS {q.empty_table_sql(cols, types)}")
    return con


def query_history(db_path: str | os.PathLike[str], sql: str, params: list[Any] | None = None) -> pd.DataFrame:
    """Run one (small-result) query against the history database, e.g. a :data:`sql.EXAMPLE_QUERIES` entry."""
    con = open_history(db_path)
    try:
        return con.execute(sql, params or []).df()
    finally:
        con.close()


def _empty_run_scores() -> pd.DataFrame:
    return pd.DataFrame(
        columns=[
            "suite",
            "eval_set",
            "sample_id",
            "repeat",
            "family",
            "metric",
            "value",
            "passed",
            "category",
            "infra_error",
        ]
    )


def load_run_scores(
    con: duckdb.DuckDBPyConnection,
    scores_glob: str,
    date: str,
    model_version: str,
    families: list[str] | None = None,
) -> pd.DataFrame:
    """Per-sample score rows of one run, read with partition pruning (only that run's files).

    With the standard layout glob (``.../scores/*/*/*/*.parquet``) the glob is narrowed to
    that run's partitions; with ``families`` given it becomes exact prefixes
    (``.../scores/family=<f>/date=<d>/model_version=<mv>/``), so on S3 only that run's
    objects are listed instead of every partition (seconds saved at 7,300 partitions). Returns an empty frame (with the
    columns) when the run has no scores.
    """
    suffix = keys.partition_files_glob(keys.SCORES).removeprefix(keys.SCORES)  # "/*/*/*/*.parquet"
    if scores_glob.endswith(suffix):
        root = scores_glob[: -len(suffix)]
        if families:  # exact prefixes: an S3 listing of only this run's objects
            globs = [f"{root}/{keys.run_files_glob(date, model_version, f)}" for f in families]
            globs = [g for g in globs if has_files(con, g)]
            if not globs:
                return _empty_run_scores()
            return con.execute(q.run_scores_sql(q.parquet_source(globs), date, model_version, families)).df()
        scores_glob = f"{root}/{keys.run_files_glob(date, model_version)}"
    if not has_files(con, scores_glob):
        return _empty_run_scores()
    return con.execute(q.run_scores_sql(q.parquet_source(scores_glob), date, model_version, families)).df()


def load_runs(con: duckdb.DuckDBPyConnection, runs_glob: str | None) -> pd.DataFrame:
    """Run artifacts as date, model_version, passed, live_answers_only (null when run.json does not say)."""
    if runs_glob is None or not has_files(con, runs_glob):
        return pd.DataFrame(columns=q.RUN_COLUMNS)
    return con.execute(q.runs_sql(runs_glob)).df()


def list_scored_runs(history: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Every (date, model_version) that has scores in the history database."""
    return history.execute(
        "SELECT DISTINCT date, model_version FROM score_history ORDER BY date, model_version"
    ).df()


def list_runs_from_files(con: duckdb.DuckDBPyConnection, scores_glob: str | None) -> pd.DataFrame:
    """(date, model_version) of every scores partition, from the file listing only (no file is read)."""
    if not has_files(con, scores_glob):
        return pd.DataFrame(columns=["date", "model_version"])
    return con.execute(
        "SELECT DISTINCT regexp_extract(file, 'date=([^/]+)', 1) AS date, "
        "regexp_extract(file, 'model_version=([^/]+)', 1) AS model_version FROM glob(?) ORDER BY 1, 2",
        [scores_glob],
    ).df()


def known_runs(
    con: duckdb.DuckDBPyConnection, sources: HistorySources, scored: pd.DataFrame | None = None
) -> pd.DataFrame:
    """The runs a baseline can be chosen from: ``scored`` (date, model_version; default every scored partition from
    the file listing) merged with the ``runs/.../run.json`` pass/fail and live flags."""
    scored = (
        scored[["date", "model_version"]]
        if scored is not None
        else list_runs_from_files(con, sources.scores_glob)
    )
    artifacts = load_runs(con, sources.runs_glob)
    return scored.merge(artifacts, on=["date", "model_version"], how="left") if len(artifacts) else scored


def non_live_runs(ops_history: pd.DataFrame) -> pd.DataFrame:
    """Runs (date, model_version) whose answers were not all live, from the ``ops_history`` roll-up rows:
    n_live / n_replay / n_synthetic; empty when every recorded answer was live."""
    cols = ["date", "model_version", "n_live", "n_replay", "n_synthetic"]
    if ops_history is None or not len(ops_history) or "n_replay" not in ops_history:
        return pd.DataFrame(columns=cols)
    roll = (
        ops_history[ops_history["eval_set"].astype(str) == q.ALL]
        if "eval_set" in ops_history
        else ops_history
    )
    bad = roll[(roll["n_replay"].fillna(0) + roll["n_synthetic"].fillna(0)) > 0]
    return bad[cols].sort_values(["date", "model_version"]).reset_index(drop=True)
