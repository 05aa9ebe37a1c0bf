"""The ``eval_run`` step apart from Dagster: every eval set's metrics against its thresholds.

In: the partition's score rows of every family, its responses, the eval sets, the project folder
(the review labels of judge sets) and the judge-calibration status of a judge set. Out:
:func:`eval_set_results` (metrics per eval set and the threshold results), :func:`is_live_run`,
and :func:`run_figures` (what the asset reports of the run artifact: a number per gated metric for
the UI's plots, the overall result, cost, the answers' provenance).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd

from eval_pipeline.scoring.ppi_metrics import human_ratings
from eval_pipeline.scoring.thresholds import apply_thresholds, set_metrics, thresholds_markdown


def is_live_run(responses: pd.DataFrame) -> bool:
    """Every answer of the run came from a live provider (judge thresholds may block only then)."""
    return (
        "provenance" in responses and len(responses) > 0 and bool((responses["provenance"] == "live").all())
    )


def eval_set_results(
    scores: pd.DataFrame,
    eval_sets: list[tuple[Any, Any]],
    base: Any,
    calibration_status: Callable[[Any, Any], tuple[bool, str]],
    warn: Callable[[str], None],
) -> tuple[dict[tuple[str, str], Any], list[Any]]:
    """``(metrics per (suite, eval set), threshold results)`` of the eval sets with scores.
    ``calibration_status(suite, eval set)`` says whether a judge set's thresholds may block."""
    metrics_by_set: dict[tuple[str, str], Any] = {}
    results: list[Any] = []
    for suite, es in eval_sets:
        s = (
            scores[(scores["suite"] == suite.name) & (scores["eval_set"] == es.name)]
            if len(scores)
            else scores
        )
        if s.empty:
            continue  # family not run in this partition (e.g. the judge runs weekly)
        human = None
        if es.family == "judge":  # judge sets with review labels: also the PPI++ metrics
            try:
                human = human_ratings(base, suite.name, es.name)
            except ValueError as e:  # a bad review file: judge_calibration fails on it; the run goes on
                warn(f"{suite.name}/{es.name}: PPI++ metrics skipped: {e}")
        m = set_metrics(s, es, human)
        metrics_by_set[(suite.name, es.name)] = m
        may_block, note = calibration_status(suite, es) if es.family == "judge" else (True, "")
        results.extend(apply_thresholds(suite, es, m, may_block, note))
    return metrics_by_set, results


def run_figures(
    artifact: dict[str, Any], results: list[Any]
) -> tuple[dict[str, Any], dict[str, Any], dict[str, str]]:
    """``(numbers, json, markdown)`` of ``eval_run``: a number per gated metric (the asset's Plots
    tab shows them across materializations), the overall result and cost, which answers the
    verdict rests on (anything but live answers is said here)."""
    plots = {f"{r.eval_set}/{r.metric}": float(r.value) for r in results if r.value is not None}
    numbers = {
        **plots,
        "overall": artifact["overall"],
        "blocking_failures": ", ".join(artifact["blocking_failures"]) or "none",
        "cost_usd": artifact["cost_usd"],
        "samples": artifact["samples"],
        "answers": artifact["answers"],
        "live_answers_only": artifact["live_answers_only"],
    }
    json_values = {"answer_provenance": artifact["answer_provenance"]}
    if artifact["judge_verdict_provenance"]:
        json_values["judge_verdict_provenance"] = artifact["judge_verdict_provenance"]
    return numbers, json_values, {"thresholds": thresholds_markdown(results)}
