"""The regression report of stored runs: load a candidate and its baseline from the warehouse and compare them.

In: a DuckDB connection that can read the warehouse and its
:class:`~eval_pipeline.history.sources.HistorySources`, the known runs
(:func:`eval_pipeline.history.runs.known_runs`), run identities (:class:`~eval_pipeline.regression.baselines.RunRef`)
and the suites' ``RegressionConfig`` s. Out: score rows carrying which answer they score
(:func:`load_run_scores_with_draws`), how many of the baseline version's nights are pooled (:func:`pooled_nights`) and the
:class:`~eval_pipeline.regression.compare.RegressionReport` of a candidate against its chosen baseline
(:func:`regression_report_for_run`) or a given one (:func:`compare_runs`, the same path).
"""

from __future__ import annotations

import duckdb
import pandas as pd

from eval_pipeline.history.runs import known_runs, load_run_scores
from eval_pipeline.history.sources import HistorySources
from eval_pipeline.project.regression_config import RegressionConfig
from eval_pipeline.regression.baselines import RunRef, pool_runs, select_baseline
from eval_pipeline.regression.compare import RegressionReport, regression_report
from eval_pipeline.regression.draws import attach_draws, load_draws


def pooled_nights(config: RegressionConfig | dict[str, RegressionConfig] | None = None) -> int:
    """How many of the baseline version's nights the pass/fail rows pool (``baselines.pool_runs``): the largest
    ``baseline_nights`` of ``config``, a ``RegressionConfig`` or ``{suite: RegressionConfig}`` (None: the default)."""
    configs = list(config.values()) if isinstance(config, dict) else [config or RegressionConfig()]
    return max([c.baseline_nights for c in configs] or [RegressionConfig().baseline_nights])


def load_run_scores_with_draws(
    con: duckdb.DuckDBPyConnection, sources: HistorySources, run: RunRef, families: list[str] | None = None
) -> pd.DataFrame:
    """:func:`load_run_scores` of ``run`` (a ``RunRef``) with each row's ``draw`` / ``stored``
    (:mod:`eval_pipeline.regression.draws`: which answer it scores, and whether that was a response-store hit)."""
    scores = load_run_scores(con, sources.scores_glob, run.date, run.model_version, families)
    return attach_draws(scores, load_draws(con, sources.responses_glob, run.date, run.model_version))


def compare_runs(
    con: duckdb.DuckDBPyConnection,
    sources: HistorySources,
    runs: pd.DataFrame,
    candidate: RunRef,
    baseline: RunRef | None,
    config: RegressionConfig | dict[str, RegressionConfig] | None = None,
    families: list[str] | None = None,
    baseline_reason: str = "",
) -> RegressionReport:
    """The regression report of ``candidate`` against ``baseline`` (``RunRef`` s; ``baseline`` None = a first run):
    both runs' scores with their draws, the baseline version's earlier nights when ``baseline_nights`` > 1. The one
    path of the stored report (:func:`regression_report_for_run`) and ``eval-pipeline compare`` / ``run
    --baseline``, so they show the same rows and the same verdict for the same two runs."""
    cand = load_run_scores_with_draws(con, sources, candidate, families)
    base = load_run_scores_with_draws(con, sources, baseline, families) if baseline else None
    earlier = pool_runs(runs, candidate, baseline, pooled_nights(config))
    pool = [load_run_scores_with_draws(con, sources, r, families) for r in earlier]
    return regression_report(
        cand,
        base,
        config,
        candidate=candidate,
        baseline=baseline,
        baseline_reason=baseline_reason,
        baseline_pool=pool,
        pool_runs=earlier,
    )


def regression_report_for_run(
    con: duckdb.DuckDBPyConnection,
    sources: HistorySources,
    candidate: RunRef,
    *,
    production_model_version: str | None = None,
    config: RegressionConfig | dict[str, RegressionConfig] | None = None,
    families: list[str] | None = None,
    runs: pd.DataFrame | None = None,
    production_reason: str = "production model version",
) -> RegressionReport:
    """Choose the baseline for ``candidate`` (a ``RunRef``), load both runs and compare them.

    Known runs: ``runs`` if given (e.g. ``list_scored_runs(history_db)``, cheap), else every scored
    partition from the file listing; merged with ``runs/.../run.json`` pass/fail (:func:`known_runs`). Pass
    ``families`` (e.g. ``SELECT DISTINCT family FROM score_history``) for exact S3 prefixes.
    The baseline's earlier nights (``RegressionConfig.baseline_nights``, the largest of the suites') are loaded
    too and pooled into the pass/fail rows (:func:`pooled_nights`).
    Returns a ``RegressionReport`` (``status="no_baseline"`` on a first run).
    """
    runs = known_runs(con, sources, runs)
    baseline, why = select_baseline(runs, candidate, production_model_version, production_reason)
    return compare_runs(con, sources, runs, candidate, baseline, config, families, why)
