"""The run artifact: one JSON document per evaluated (date, model version) partition.

In: the model version and project, the eval-set metrics and threshold results of the partition, the
responses (cost, cache hits, provenance) and the judge verdicts' provenance counts.
Out: ``run_artifact`` -> a dict (eval sets with metrics and thresholds, overall PASS/FAIL, blocking
failures and warnings, cost, duration, code commit, prompt/config hashes, provenance of answers and
verdicts); ``dumps`` -> its JSON bytes with NaN/inf written as null.
"""

from __future__ import annotations

import json
import math
import subprocess
import time
from dataclasses import asdict
from typing import Any

import pandas as pd

from eval_pipeline.inference.provenance import provenance_counts, provenance_label
from eval_pipeline.project.loader import Project
from eval_pipeline.project.paths import PROJECT_ROOT
from eval_pipeline.project.registry import ModelVersion, judge_models
from eval_pipeline.scoring.thresholds import ThresholdResult


def code_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=5,
        )
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def provenance_fields(
    responses: pd.DataFrame, judge_provenance: dict[str, int] | None = None, recordings_label: str = ""
) -> dict[str, Any]:
    """``answer_provenance`` counts the responses' ``provenance`` (live / replay / synthetic; ``unknown``
    for rows written before it was recorded), ``judge_verdict_provenance`` the judge verdicts' (when
    given); ``live_answers_only`` is false and ``answers`` says so whenever anything but live answers
    was used."""

    answer_prov = provenance_counts(
        responses["provenance"] if "provenance" in responses else [None] * len(responses)
    )
    judge_prov = dict(judge_provenance or {})
    return {
        "answer_provenance": answer_prov,
        "judge_verdict_provenance": judge_prov or None,
        "live_answers_only": all(k == "live" for k in answer_prov) and all(k == "live" for k in judge_prov),
        "answers": provenance_label(answer_prov, recordings_label)
        + (f"; judge verdicts: {provenance_label(judge_prov, recordings_label)}" if judge_prov else ""),
    }


def _set_entries(
    project: Project,
    mv: ModelVersion,
    metrics_by_set: dict[tuple[str, str], dict[str, dict[str, Any]]],
    thresholds: list[ThresholdResult],
) -> list[dict[str, Any]]:
    """One entry per evaluated eval set (those with metrics), in the model version's order."""
    sets = []
    for suite, es in mv.eval_sets(project):
        m = metrics_by_set.get((suite.name, es.name))
        if m is None:
            continue
        tr = [asdict(t) for t in thresholds if t.suite == suite.name and t.eval_set == es.name]
        sets.append(
            {
                "suite": suite.name,
                "eval_set": es.name,
                "family": es.family,
                "metrics": m,
                "thresholds": tr,
                "pass": all(t["passed"] for t in tr),
                **(_judge_identity(project, mv, es) if es.family == "judge" else {}),
            }
        )
    return sets


def _judge_identity(project: Project, mv: ModelVersion, es: Any) -> dict[str, Any]:
    """Who judged (self-preference): judge model(s) and families, the candidate's family, same-family flag."""

    reg = project.registry
    judges = judge_models(es)
    fams = {j: reg.family_of(j) for j in judges}
    cand = reg.family_of(mv.model)
    return {
        "judge": {
            "models": judges,
            "families": fams,
            "candidate_model": mv.model,
            "candidate_family": cand,
            "same_family": cand != "unknown" and cand in fams.values(),
        }
    }


def run_artifact(
    *,
    run_id: str,
    date: str,
    model_version: ModelVersion,
    model_version_key: str,
    project: Project,
    metrics_by_set: dict[tuple[str, str], dict[str, dict[str, Any]]],
    thresholds: list[ThresholdResult],
    responses: pd.DataFrame,
    started_at: float,
    judge_provenance: dict[str, int] | None = None,
    recordings_label: str = "",
) -> dict[str, Any]:
    """The run artifact: one JSON per evaluated partition (provenance fields: ``provenance_fields``)."""
    blocking_failed = [t for t in thresholds if t.enforced_blocking and not t.passed]
    warn_failed = [t for t in thresholds if not t.passed and not t.enforced_blocking]
    cost = float(responses["cost_usd"].sum()) if "cost_usd" in responses else 0.0
    prompt_versions = (
        {task: model_version.prompt_hash(task) for task in model_version.prompts}
        if model_version._prompt_texts
        else {}
    )
    return {
        "run_id": run_id,
        "date": date,
        "model_version": model_version_key,
        "model_version_name": model_version.name,
        "model": model_version.model,
        "provider": model_version.provider,
        "prompt_version": prompt_versions,
        "config_hash": model_version.config_hash() if model_version._prompt_texts else None,
        "code_commit": code_commit(),
        "timestamp": pd.Timestamp.utcnow().isoformat(),
        "eval_sets": _set_entries(project, model_version, metrics_by_set, thresholds),
        "overall": "FAIL" if blocking_failed else "PASS",
        "passed": not blocking_failed,
        "blocking_failures": [f"{t.suite}/{t.eval_set}:{t.metric}" for t in blocking_failed],
        "warnings": [f"{t.suite}/{t.eval_set}:{t.metric}" for t in warn_failed],
        "duration_s": round(time.time() - started_at, 3),
        "cost_usd": round(cost, 6),
        "cost_usd_cached": round(float(responses.loc[responses["cached"].astype(bool), "cost_usd"].sum()), 6)
        if "cached" in responses
        else None,
        "samples": int(len(responses)),
        **provenance_fields(responses, judge_provenance, recordings_label),
    }


def json_default(o: Any) -> Any:
    if isinstance(o, float) and math.isnan(o):
        return None
    if hasattr(o, "item"):
        return o.item()
    return str(o)


def dumps(obj: Any) -> bytes:
    """JSON bytes with NaN/inf as null (the artifact must be valid JSON for any reader)."""
    return json.dumps(_clean(obj), indent=2, default=json_default).encode("utf-8")


def _clean(o: Any) -> Any:
    if isinstance(o, float) and (math.isnan(o) or math.isinf(o)):
        return None
    if isinstance(o, dict):
        return {str(k): _clean(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_clean(v) for v in o]
    return o
