"""Reference-free scores and the day's metrics of the stored sample.

In: the day's stored sample (:func:`.day.read_sample`), the :class:`~.config.MonitoringConfig`
(invariants per prompt template, optional pointwise judge rubric, safety metrics) and the
reference window's samples (latency baseline).
Out: long-format scores for ``online_scores`` (``SCORE_COLUMNS``; ``suite="online"``,
``eval_set=<prompt_template>``) from :func:`score_invariants` and :func:`judge_sample`; the
automated pass rate (:func:`pass_rate`); and the ``monitoring_metrics`` rows (:func:`metrics_frame`:
feedback rates with Wilson intervals, safety violation rate, p99 latency ratio), for all traffic
and per model version. Alerts on these metrics are in :mod:`.feedback`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from eval_pipeline.evaluators import judge
from eval_pipeline.evaluators.deterministic import score_deterministic
from eval_pipeline.monitoring.feedback import (
    ALL_VERSIONS,
    feedback_metrics,
    metrics_long,
    p99_latency_ratio,
    safety_violation_rate,
)
from eval_pipeline.monitoring.sampling import judge_subsample
from eval_pipeline.monitoring.settings import ONLINE_SUITE, invariant_checks
from eval_pipeline.project.monitoring import MonitoringConfig
from eval_pipeline.scoring import empty_scores


def graded_frame(sample: pd.DataFrame) -> pd.DataFrame:
    """The stored sample in the evaluators' graded-samples shape (no reference answer)."""
    return pd.DataFrame(
        {
            "sample_id": sample["request_id"].astype(str).to_numpy(),
            "repeat": np.zeros(len(sample), dtype=int),
            "response_text": sample["output_redacted"].astype(object).to_numpy(),
            "error_category": [None] * len(sample),
            "input": sample["input_redacted"].astype(object).to_numpy(),
            "expected": [None] * len(sample),
            "metadata": [
                {"prompt_template": t, "model_version": m}
                for t, m in zip(sample["prompt_template"], sample["model_version"])
            ],
            "category": sample["category"].astype(object).to_numpy(),
            "model_version": sample["model_version"].astype(str).to_numpy(),
            "prompt_template": sample["prompt_template"].astype(str).to_numpy(),
        }
    )


def score_invariants(sample: pd.DataFrame, cfg: MonitoringConfig, day: str) -> pd.DataFrame:
    """Deterministic invariants per prompt template -> long-format scores (``SCORE_COLUMNS``;
    ``suite="online"``, ``eval_set=<prompt_template>``, ``model_version`` from the row)."""

    if sample.empty or not cfg.invariants:
        return empty_scores()
    g = graded_frame(sample)
    frames = []
    for (tpl, mv), part in g.groupby(["prompt_template", "model_version"], sort=True):
        checks = invariant_checks(cfg, str(tpl))
        if checks:
            frames.append(
                score_deterministic(
                    part.reset_index(drop=True),
                    checks,
                    date=day,
                    model_version=str(mv),
                    suite=ONLINE_SUITE,
                    eval_set=str(tpl),
                )
            )
    return pd.concat(frames, ignore_index=True) if frames else empty_scores()


def judge_sample(
    sample: pd.DataFrame, cfg: MonitoringConfig, day: str, execute: judge.Executor
) -> pd.DataFrame:
    """Pointwise judge rubric (no reference) on a stable subsample -> long-format judge scores."""

    jc = cfg.judge_config()
    if jc is None or sample.empty:
        return empty_scores()
    prompt = judge.load_prompt(jc, base_dir=cfg.base_dir)
    g = graded_frame(judge_subsample(sample, cfg.judge_max_samples))
    frames = []
    for (tpl, mv), part in g.groupby(["prompt_template", "model_version"], sort=True):
        keys = {"date": day, "model_version": str(mv), "suite": ONLINE_SUITE, "eval_set": str(tpl)}
        rows, _ = judge.score(part.reset_index(drop=True), jc, execute, prompt=prompt, keys=keys)
        frames.append(rows)
    return pd.concat(frames, ignore_index=True) if frames else empty_scores()


def pass_rate(scores: pd.DataFrame) -> tuple[float, int]:
    """Share of passed verdicts among scored invariant rows (``nan`` when none)."""
    if scores is None or scores.empty:
        return float("nan"), 0
    s = scores[scores["passed"].notna()]
    if "infra_error" in s.columns:
        s = s[s["infra_error"].isna()]
    if s.empty:
        return float("nan"), 0
    return float(s["passed"].astype(bool).mean()), int(len(s))


def day_metrics(
    sample: pd.DataFrame, scores: pd.DataFrame, cfg: MonitoringConfig, reference: pd.DataFrame | None
) -> tuple[dict[str, Any], dict[str, str]]:
    """Feedback metrics (Wilson intervals), safety violation rate, p99 latency vs the reference window.

    Returns ``(metrics, notes)``; ``notes`` says why a metric is missing (no data is not "ok")."""
    notes: dict[str, str] = {}
    if sample.empty:
        return {}, {"all": "no sampled traffic today"}
    metrics: dict[str, Any] = dict(feedback_metrics(sample))
    if cfg.safety_metrics:
        if scores is not None and len(scores):
            metrics["safety_violation_rate"] = safety_violation_rate(scores, cfg.safety_metrics)
        else:
            notes["safety_violation_rate"] = "no invariant scores today"
    else:
        notes["safety_violation_rate"] = "no safety_metrics configured in monitoring.yaml"
    if reference is not None and len(reference) and "latency_s" in reference:
        base = float(
            np.nanquantile(pd.to_numeric(reference["latency_s"], errors="coerce").to_numpy(dtype=float), 0.99)
        )
        if base > 0:
            metrics["p99_latency_ratio"] = p99_latency_ratio(sample["latency_s"], base)
            notes["p99_latency_ratio"] = f"baseline p99 {base:.3f}s over {len(reference)} reference requests"
    else:
        notes["p99_latency_ratio"] = "no reference window yet (first day): latency baseline unknown"
    return metrics, notes


def metrics_frame(
    sample: pd.DataFrame,
    scores: pd.DataFrame,
    cfg: MonitoringConfig,
    reference: pd.DataFrame | None,
    day: str,
) -> tuple[pd.DataFrame, dict[str, Any], dict[str, str]]:
    """Long rows for ``monitoring_metrics``: all traffic (``model_version="__all__"``) and per version."""
    metrics, notes = day_metrics(sample, scores, cfg, reference)
    frames = [metrics_long(metrics, day, ALL_VERSIONS)]
    if len(sample) and sample["model_version"].nunique() > 1:
        for mv, part in sample.groupby("model_version", sort=True):
            ref = (
                reference[reference["model_version"] == mv]
                if reference is not None and len(reference)
                else None
            )
            sc = scores[scores["model_version"] == mv] if scores is not None and len(scores) else scores
            m, _ = day_metrics(part, sc, cfg, ref)
            frames.append(metrics_long(m, day, str(mv)))
    return pd.concat(frames, ignore_index=True), metrics, notes
