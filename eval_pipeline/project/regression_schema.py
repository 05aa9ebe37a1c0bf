"""What a regression row is: its columns, the verdicts, and each metric's direction.

In: metric names. Out: ``metric_direction`` ("higher" / "lower" is better), ``is_auxiliary`` (tested, never
gates); ``REPORT_COLUMNS`` / ``VERDICTS`` / ``GROUP_KEYS`` of :func:`eval_pipeline.regression.compare.regression_report`.
"""

from __future__ import annotations

import re

from eval_pipeline.project.regression_config import RegressionConfig

VERDICTS = ("regression", "improvement", "no_change", "insufficient_data")
GROUP_KEYS = ["suite", "eval_set", "family", "metric"]
REPORT_COLUMNS = [
    "suite",
    "eval_set",
    "family",
    "metric",
    "segment",
    "measure",
    "test",
    "n_pairs",
    "repeats",
    "baseline_draws",  # mean distinct baseline draws per sample (store hits of earlier nights count once)
    "baseline",
    "candidate",
    "effect",
    "ci_low",
    "ci_high",
    "n_worse",
    "n_better",
    "p_value",
    "p_adjusted",
    "p_worse",
    "p_gate",
    "min_effect",
    "direction",
    "gating",
    "verdict",
]
_LOWER_TOKENS = {"spread", "unparseable", "refusal", "latency", "cost", "count", "tokens"}
_AUX_HIGHER = {"position_consistency"}


def metric_direction(metric: str) -> str:
    """Direction of a metric's *value*: ``"lower"`` is better for spreads, judge failures
    (``judge_unparseable`` / ``judge_refusal``), latency, cost, token and other counts; else ``"higher"``.
    (A ``pass_rate`` row is always higher-is-better: passing is good.)"""
    m = str(metric)
    tokens = set(re.split(r"[._]", m.lower()))
    return "lower" if tokens & _LOWER_TOKENS or m.startswith("n_") else "higher"


def row_direction(cfg: RegressionConfig, eval_set: str, metric: str) -> str:
    """The direction of ``metric``'s value in ``eval_set``: the suite's (``RegressionConfig.directions``, from its
    thresholds - ``max:`` = lower is better - and judge dimensions' ``higher_is_better``), else the name's
    (:func:`metric_direction`). ``"unknown"`` (contradicting bounds) never gates."""
    declared = cfg.directions.get(eval_set, {})
    return declared.get(metric) or metric_direction(metric)


def is_auxiliary(metric: str) -> bool:
    """Auxiliary (diagnostic) metrics are tested in their own direction but never gate: lower-is-better
    metrics, judge self-consistency and ``check.suffix`` diagnostic rows."""
    m = str(metric)
    return metric_direction(m) == "lower" or m in _AUX_HIGHER or "." in m
