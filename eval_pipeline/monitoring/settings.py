"""The monitoring stage's settings: environment variables, table names, and the built invariant checks.

In: a :class:`~eval_pipeline.project.monitoring.MonitoringConfig` (``data/monitoring.yaml``, loaded and
validated by the config package) and the environment. Out: the table and report names of the online
monitoring, the environment variables it reads, and :func:`invariant_checks` (the configured checks of
a prompt template, built). This module imports no other monitoring step, so every step can import it.

=============================  =====================================================================
``EVAL_TRAFFIC_PREFIX``        where production logs live (``<prefix>/date=YYYY-MM-DD/*.jsonl|parquet``):
                               a local folder or ``s3://`` URI; default ``<warehouse>/traffic``
``EVAL_TRAFFIC_SAMPLE_RATE``   overrides ``sample_rate``
``EVAL_TRAFFIC_SALT``          sampling salt (the variable's name is ``salt_env`` in the config)
``EVAL_MONITORING_CONFIG``     another config file instead of ``<data dir>/monitoring.yaml``
``EVAL_MONITORING_EMBEDDER``   ``minilm`` (default) or ``hashing`` (fast, not semantic: tests)
``EVAL_PII_HASH_SALT``         HMAC salt of ``redaction.replacement: hash`` (the variable's name is
                               ``redaction.hash_salt_env``); read at run time, never stored
=============================  =====================================================================

Tables (partitioned by ``date``): ``traffic_sample``, ``online_scores``, ``monitoring_metrics``,
``traffic_drift``, ``shadow_verdicts``; reports under ``reports/monitoring/date=<d>/``.
"""

from __future__ import annotations

from eval_pipeline.evaluators.deterministic import Check, validate_check_specs
from eval_pipeline.project.monitoring import MonitoringConfig
from eval_pipeline.storage import keys

TRAFFIC_PREFIX_ENV = "EVAL_TRAFFIC_PREFIX"
EMBEDDER_ENV = "EVAL_MONITORING_EMBEDDER"

SAMPLE_TABLE = keys.TRAFFIC_SAMPLE
SCORES_TABLE = keys.ONLINE_SCORES
METRICS_TABLE = keys.MONITORING_METRICS
DRIFT_TABLE = keys.TRAFFIC_DRIFT
SHADOW_TABLE = keys.SHADOW_VERDICTS
REPORT_PREFIX = keys.MONITORING_REPORTS
ONLINE_SUITE = "online"


def invariant_checks(cfg: MonitoringConfig, template: str) -> list[Check]:
    """Built checks for one prompt template (its own list, else the ``'*'`` list), from the specs validated at load."""
    specs = cfg.invariant_specs(template)
    if not specs:
        return []
    key = template if template in cfg.invariants else "*"
    return validate_check_specs(specs, f"{cfg.file}: invariants.{key}", base_dir=cfg.base_dir)
