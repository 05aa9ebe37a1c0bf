"""The stored release approval of a partition and what ``release_approval`` shows of it.

In: the run artifact and the regression report of an approved partition (the decision itself is
:func:`eval_pipeline.release.decision.release_decision`). Out: :func:`approval_record`, the JSON
written at ``keys.release(date, model_version)`` (gate procedure, overall result, warnings,
baseline, improvements, cost), and :func:`approval_figures`, its metadata figures.
"""

from __future__ import annotations

from typing import Any


def approval_record(
    artifact: dict[str, Any], report: dict[str, Any], date: str, model_version_key: str, run_id: str
) -> dict[str, Any]:
    """The release record of an approved partition."""
    rep = report["summary"]
    return {
        "date": date,
        "model_version": model_version_key,
        "approved": True,
        "run_id": run_id,
        "gate_procedure": rep.get("gate_procedure"),
        "gate": rep.get("gate"),
        "overall": artifact["overall"],
        "warnings": artifact["warnings"],
        "baseline": rep.get("baseline"),
        "improvements": rep.get("improvement", 0),
        "cost_usd": artifact["cost_usd"],
    }


def approval_figures(artifact: dict[str, Any], report: dict[str, Any]) -> dict[str, Any]:
    """What ``release_approval`` shows besides the verdict: approved, warnings, the baseline."""
    return {
        "approved": True,
        "warnings": ", ".join(artifact["warnings"]) or "none",
        "baseline": str(report["summary"].get("baseline")),
    }
