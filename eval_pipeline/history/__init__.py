"""Longitudinal history: aggregation, control charts, alerts, charts, the report and diff pages.

In: every run's score rows, responses and run artifacts in the warehouse (globs from
:mod:`eval_pipeline.storage.keys`). Out: the ``score_history`` / ``ops_history`` /
``failure_modes`` tables (Parquet + DuckDB), control-chart alerts, PNG charts and the HTML report.
The paired candidate-vs-baseline regression report is :mod:`eval_pipeline.regression`'s.

Plain Python (no Dagster). One stage per module:

* ``sql.py``            every SQL string (aggregation, run loading, example queries); no I/O.
* ``sources.py``        the warehouse globs the history is built from (scores, responses, runs).
* ``aggregate.py``      DuckDB over the warehouse Parquet -> ``score_history`` / ``ops_history`` /
                        ``failure_modes`` (Parquet + a DuckDB file, one writer, atomic swap).
* ``runs.py``           read it back: the history database, one run's scores, the run list.
* ``control_charts.py`` Shewhart, p-chart, EWMA, CUSUM, debounce.
* ``alerts.py``         the configurable alert rules over the history tables (``trend_test.py``: their trend test).
* ``charts.py``         PNG charts (matplotlib, lazy) for the Dagster UI's inline charts.
* ``report.py``         markdown tables; ``build_history_report`` (the interactive HTML report):
  ``report_data.py`` (aggregates -> one compact JSON blob: series, 95 % intervals, control limits,
  ops, failures, events), ``report_sources.py`` (events, regression-report rows, failing samples
  from the warehouse), ``report_page.py`` + ``report_page.js`` (the self-contained Plotly page).

The A/A noise floor is in :mod:`eval_pipeline.noise`; simulated runs (benchmarks, power analysis)
are in ``eval_pipeline_tests/support/simulate.py``.

Example queries over the history database (``sql.EXAMPLE_QUERIES``)::

    from eval_pipeline.history import sql
    from eval_pipeline.history.runs import query_history
    query_history(db, sql.TREND_QUERY, ["claude-haiku-4-5", "exact_match"])
    query_history(db, sql.CANDIDATE_VS_BASELINE_QUERY, ["2025-01-31", "candidate-mv", "production-mv"])
    query_history(db, sql.ALERT_WINDOW_QUERY, ["claude-haiku-4-5", "2025-01-01"])
"""
