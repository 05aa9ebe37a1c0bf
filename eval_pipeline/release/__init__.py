"""The release stage: may this candidate ship? The quality gate, the regression gate, the release decision.

In: the run artifact (``keys.run_artifact(date, mv)``: the eval sets' threshold results) and the regression
report (``keys.regression_report(date, mv)``, :func:`eval_pipeline.regression.compare.report_dict`). Out:
JSON-able decisions and their wording. Plain Python (no Dagster):

* ``decision.py``   :func:`~eval_pipeline.release.decision.quality_gate`,
                    :func:`~eval_pipeline.release.decision.regression_gate`,
                    :func:`~eval_pipeline.release.decision.release_decision` (approved iff neither blocks).
* ``verdict.py``    PASS / FAIL / NOT TESTED and *why*, one wording for every place that shows a decision.
* ``ci_report.py``  what ``eval-pipeline run`` prints and writes for CI (table, JUnit XML, markdown, exit code).

The Dagster asset ``release_approval`` is in ``eval_pipeline/defs/release/``; the ``quality_gate`` check stays
on ``eval_run`` (``defs/scoring/``).
"""
