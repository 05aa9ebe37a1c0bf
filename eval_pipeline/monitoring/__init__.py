"""Online monitoring of production traffic (plain Python; the Dagster assets live in ``defs/monitoring``).

In: one day of production logs (``<traffic prefix>/date=<d>/*.jsonl|parquet``), ``data/monitoring.yaml``
and, for the shadow step, a candidate model. Out: the redacted stored sample, reference-free
scores, feedback metrics and alerts, drift tests and shadow verdicts of that day (tables and reports
below; keys from :mod:`eval_pipeline.storage.keys`).

Modules, in the order a daily run uses them (each asset of ``defs/monitoring`` is a few lines over one step):

==================  ==============================================  ==========================================
asset               step (module: functions)                        warehouse output
==================  ==============================================  ==========================================
(all)               :mod:`.config`: ``load_monitoring_config``        - (``data/monitoring.yaml``, env, table names)
traffic_sample      :mod:`.day`: ``build_day_sample``,                 ``traffic_sample/date=<d>/``,
                    ``write_day_sample`` (over :mod:`.traffic`,       ``reports/monitoring/date=<d>/malformed.json``
                    :mod:`.sampling`, :mod:`.pii`)
online_scores       :mod:`.scoring`: ``score_invariants``,             ``online_scores/date=<d>/``
                    ``judge_sample``; :mod:`.profile` (latency)
feedback_metrics    :mod:`.scoring`: ``metrics_frame``;                ``monitoring_metrics/date=<d>/``,
                    :mod:`.feedback`: ``alert_outcomes``,             ``reports/monitoring/date=<d>/alerts.json``
                    ``control_chart``
traffic_drift       :mod:`.drift`: ``compute_drift``, ``embedder``     ``traffic_drift/date=<d>/``, ``.../drift.json``
shadow_comparison   :mod:`.shadow`: ``run_shadow``                     ``shadow_verdicts/date=<d>/``, ``.../shadow.json``
traffic_hourly      :mod:`.hourly`: ``read_traffic_hour``,             ``traffic_hourly/date=<d>/hour=<HH>/``
                    ``build_hour_rows``, ``cohort_windows``
canary_analysis     :mod:`.canary`: ``analyze_canary`` (over           ``canary_verdicts/date=<d>/hour=<HH>/``,
                    :mod:`.sequential`: mSPRT, alpha spending)        ``.../date=<d>/hour=<HH>/canary.json``
==================  ==============================================  ==========================================

The canary assets are partitioned by hour (``defs/monitoring/canary.py``); the rest by day.

:mod:`.schema` holds the log schema (``TrafficRecord``) and the stored-sample columns. The labelled
synthetic traffic and demo days are in ``eval_pipeline/demo/synthetic_traffic.py``; the one-day
chain read -> sample -> profile -> feedback used by the tests is ``eval_pipeline_tests/support/monitoring_daily.py``.

Privacy: only the stored sample (hashes + redacted text, see :mod:`.sampling`) is ever written;
every later step reads that sample, so raw production text never reaches the warehouse, the
response store or a model other than the one that served it.
"""
