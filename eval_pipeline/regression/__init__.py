"""The regression stage: a candidate run against its baseline, sample by sample, and the gate over it.

In: the candidate's and the baseline's score rows (from the warehouse, :mod:`eval_pipeline.history.runs`), the
suites' ``regression:`` config (:mod:`eval_pipeline.project.regression_config`). Out: a
:class:`~eval_pipeline.regression.compare.RegressionReport` (one row per suite, eval set, family, metric,
segment and measure: test, n, effect with its interval, p, whether it gates, verdict) and its JSON form
(``keys.regression_report(date, mv)``), which the release decision (:mod:`eval_pipeline.release`) reads.

Plain Python (no Dagster). One step per module, in flow order:

* ``baselines.py``     the baseline run (declared, else production) and the earlier nights pooled with it.
* ``draws.py``         which answer each score row scores (response-store key), so pooled nights count distinct draws.
* ``judge_changes.py`` judge rows judged by different judges are refused (and the judge-change segments of alerts).
* ``composite.py``     the composite per-sample pass of an eval set's checks.
* ``paired_tests.py``  exact McNemar, paired t / Wilcoxon / sign-flip, effect intervals, Holm / discrete Holm / BH.
* ``pairing.py``       the two runs paired sample by sample; one uncorrected test row per comparison.
* ``gating.py``        the gated family, its correction, verdicts, the rows that block.
* ``compare.py``       :func:`~eval_pipeline.regression.compare.regression_report`: the report from the above.
* ``markdown.py``      the markdown table of report rows (and of the history's tables).
* ``stored_runs.py``   the report of stored runs (load both runs and the pooled nights from the warehouse).
* ``partition_report.py`` one partition's report as the ``regression_report`` asset stores and shows it, and
                        the regression gate as its check shows it.
* ``planning.py``      sample-size planning and what a green gate could have missed (MDE).
* ``sequential.py``    early stopping (group-sequential gate; a plain module, not yet a ``run`` option).

The Dagster asset ``regression_report`` and its check ``no_significant_regression`` are in
``eval_pipeline/defs/regression/``.
"""
