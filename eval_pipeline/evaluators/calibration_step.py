"""The ``judge_calibration`` step apart from Dagster: every judge model of the project, calibrated.

In: the project (its judge eval sets; ``data/calibration/`` and ``data/reviews/``), an executor
factory for the judge calls, the recordings label. Out: per judge model (each member of a panel
on its own) the stored payload (``keys.judge_calibration(model)``: metrics, may it block and why,
the human-review labels, cost, verdict provenance) and its markdown section, through
:func:`project_judges` and :func:`calibrate_judge`. The blocking policy is
:func:`eval_pipeline.evaluators.calibration.calibration_gate`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eval_pipeline.evaluators import calibration
from eval_pipeline.evaluators.judge import Executor
from eval_pipeline.evaluators.review_calibration import deciding_metrics, review_calibration
from eval_pipeline.inference.provenance import provenance_counts, provenance_label

DATASETS = ("sf_dialogue_nlg_ratings.jsonl", "llmbar_pairwise.jsonl", "human_preference_pairwise.jsonl")


def project_judges(project: Any) -> dict[str, tuple[Any, Any]]:
    """``{judge model: (its single-judge config, the first suite using it)}`` over every judge eval set."""
    judges: dict[str, tuple[Any, Any]] = {}
    for suite in project.suites.values():
        for es in suite.eval_sets:
            if es.family == "judge":
                cfg = es.judge_config
                for model in cfg.judge_models:  # each member of a panel is calibrated on its own
                    judges.setdefault(model, (cfg.single(model), suite))
    return judges


class ProvenanceCounter:
    """An ``on_responses`` hook counting where the verdicts came from (live / replay / synthetic)."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    def __call__(self, out: Sequence[Any]) -> None:
        for k, v in provenance_counts(r.provenance for r in out).items():
            self.counts[k] = self.counts.get(k, 0) + v


def calibrate_judge(
    model: str,
    cfg: Any,
    project: Any,
    execute: Executor,
    provenance: dict[str, int],
    versions: list[str],
    n: int,
    recordings_label: str,
) -> tuple[dict[str, Any], str]:
    """``(payload, markdown section)`` of one judge model: its agreement with the human-labelled
    datasets and with every review label (``human_review/<dimension>``; entries under the minimum
    count are reported, not used to decide), and whether its thresholds may block. ``LookupError``
    when a replay has no recording."""
    cal_dir = project.base / "calibration"
    result = calibration.run_calibration(
        execute, cfg, [cal_dir / d for d in DATASETS], n=n, seed=0, data_dir=cal_dir
    )
    reviews = review_calibration(project.base, judge_model=model, project=project)
    result.metrics.update(reviews.metrics)
    ok, reasons = calibration.calibration_gate(
        deciding_metrics(result.metrics, reviews.reported_only), cfg.min_calibration, use=cfg.calibration_gate
    )
    # Valid for these judge versions (model + rubric + prompt of each eval set using the judge): a change re-calibrates.
    payload = {
        "judge_model": model,
        "calibration_versions": versions,
        "calibration_gate": cfg.calibration_gate,
        "metrics": result.metrics,
        "reported_only": reviews.reported_only,
        "human_review": reviews.summary,
        "may_block": ok,
        "reasons": reasons,
        "judge_failures": result.judge_failures,
        "cost_usd": result.cost_usd,
        "verdict_provenance": provenance,
        "live_verdicts_only": set(provenance) <= {"live"},
        "verdicts": provenance_label(provenance, recordings_label),
    }
    section = (
        f"### {model}: {'may block' if ok else 'warn only'} ({payload['verdicts']})\n"
        + ("\n".join(f"- {r}" for r in reasons) + "\n\n" if reasons else "\n")
        + calibration.metrics_table(result.metrics).round(3).to_markdown(index=False)
        + "\n\n"
        + reviews.markdown()
    )
    return payload, section
