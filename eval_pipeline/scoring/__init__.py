"""The evaluation stage as plain functions: join responses to golden samples, score each family,
compute eval-set metrics, apply thresholds, and build the run artifact.

The Dagster assets in ``eval_pipeline/defs/evaluation/`` are thin wrappers over these; the CLI
and tests call them directly.
"""
from __future__ import annotations

import json
import math
import subprocess
import time
from dataclasses import asdict, dataclass
from typing import Any, Callable

import pandas as pd

from eval_pipeline.config import EvalSet, ModelVersion, Project, Suite, Threshold
from eval_pipeline.paths import PROJECT_ROOT
from eval_pipeline.schemas import SCORE_COLUMNS

FAMILIES = ("deterministic", "similarity", "judge")


def graded_samples(golden: pd.DataFrame, responses: pd.DataFrame) -> pd.DataFrame:
    """One row per (suite, eval_set, sample, repeat): decoded golden fields + the response."""
    cols = ["suite", "eval_set", "sample_id", "repeat", "text", "error_category", "stop_reason"]
    r = responses[[c for c in cols if c in responses.columns]].rename(columns={"text": "response_text"})
    g = golden[["suite", "eval_set", "sample_id", "input", "expected", "metadata", "category"]]
    out = g.merge(r, on=["suite", "eval_set", "sample_id"], how="inner", validate="one_to_many")
    out["repeat"] = out["repeat"].astype("int64")
    return out.sort_values(["suite", "eval_set", "sample_id", "repeat"], kind="stable").reset_index(drop=True)


def _sets(project: Project, mv: ModelVersion, family: str) -> list[tuple[Suite, EvalSet]]:
    return [(project.suites[s], es) for s in mv.suites for es in project.suites[s].eval_sets if es.family == family]


def empty_scores() -> pd.DataFrame:
    return pd.DataFrame(columns=SCORE_COLUMNS)


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    frames = [f for f in frames if not f.empty]
    return pd.concat(frames, ignore_index=True)[SCORE_COLUMNS] if frames else empty_scores()


def score_deterministic_family(project: Project, mv: ModelVersion, graded: pd.DataFrame, date: str, mv_key: str) -> pd.DataFrame:
    from eval_pipeline.evaluators import deterministic

    frames = []
    for suite, es in _sets(project, mv, "deterministic"):
        g = graded[(graded["suite"] == suite.name) & (graded["eval_set"] == es.name)]
        if g.empty:
            continue
        checks = deterministic.validate_check_specs(es.checks, where=f"{suite.file}: eval_sets[{suite.eval_sets.index(es)}].checks", base_dir=es._base)
        frames.append(deterministic.score_deterministic(g, checks, date=date, model_version=mv_key, suite=suite.name, eval_set=es.name))
    return _concat(frames)


def score_similarity_family(
    project: Project, mv: ModelVersion, graded: pd.DataFrame, date: str, mv_key: str, scorer_factory: Callable[[str | None], Any]
) -> pd.DataFrame:
    """``scorer_factory(model_path)`` returns a similarity scorer (cached model + embedding cache)."""
    from eval_pipeline.evaluators import similarity

    frames = []
    for suite, es in _sets(project, mv, "similarity"):
        g = graded[(graded["suite"] == suite.name) & (graded["eval_set"] == es.name)]
        if g.empty:
            continue
        scorer = scorer_factory(es.similarity.model_path)
        cfg = similarity.SimilarityConfig(es.similarity.threshold, es.similarity.reference_field, es.similarity.response_field)
        frames.append(similarity.score_similarity(g, scorer, cfg, date=date, model_version=mv_key, suite=suite.name, eval_set=es.name))
    return _concat(frames)


def score_judge_family(
    project: Project,
    mv: ModelVersion,
    graded: pd.DataFrame,
    date: str,
    mv_key: str,
    execute: Callable,
    baseline: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Pointwise or pairwise judge per eval set. Pairwise needs ``baseline`` graded samples."""
    from eval_pipeline.evaluators import judge

    frames = []
    for suite, es in _sets(project, mv, "judge"):
        g = graded[(graded["suite"] == suite.name) & (graded["eval_set"] == es.name)].reset_index(drop=True)
        if g.empty:
            continue
        cfg = judge.validate_judge_config(es.judge)
        prompt = judge.load_prompt(cfg, base_dir=suite.file.parent)
        keys = {"date": date, "model_version": mv_key, "suite": suite.name, "eval_set": es.name}
        if cfg.mode == "pairwise":
            if baseline is None or baseline.empty:
                continue  # no baseline answers (e.g. this *is* the baseline): nothing to compare
            b = baseline[(baseline["suite"] == suite.name) & (baseline["eval_set"] == es.name)][["sample_id", "repeat", "response_text"]]
            g = g.merge(b.rename(columns={"response_text": "baseline_text"}), on=["sample_id", "repeat"], how="inner")
            if g.empty:
                continue
        rows, _verdicts = judge.score(g, cfg, execute, prompt=prompt, keys=keys)
        frames.append(rows)
    return _concat(frames)


# --------------------------------------------------------------------------- metrics and gates


@dataclass
class ThresholdResult:
    suite: str
    eval_set: str
    family: str
    metric: str
    value: float | None
    ci_low: float | None
    ci_high: float | None
    n: int
    min: float | None
    max: float | None
    blocking: bool
    passed: bool
    enforced_blocking: bool  # blocking after the judge-calibration rule
    note: str = ""


def set_metrics(scores: pd.DataFrame, es: EvalSet) -> dict[str, dict[str, Any]]:
    """Eval-set metrics (with intervals). Judge sets also get ``pass_rate`` (all thresholded dimensions
    pass) and, in pairwise mode, ``win_rate``."""
    from eval_pipeline.evaluators import judge, metrics

    out = metrics.eval_set_metrics(scores)
    if es.family == "judge" and not scores.empty:
        cfg = judge.validate_judge_config(es.judge)
        if cfg.mode == "pairwise":
            s = judge.summarize_pairwise(scores)
            lo, hi = s["win_rate_ci"]
            out["win_rate"] = metrics.metric_value(s["win_rate"], lo, hi, n=s["n"])
            out["position_consistency"] = metrics.metric_value(s["position_consistency"], n=s["n"])
        else:
            s = judge.summarize_pointwise(scores, cfg)
            if "all_pass_rate" in s:
                lo, hi = s["all_pass_ci"]
                out["pass_rate"] = metrics.metric_value(s["all_pass_rate"], lo, hi, n=s["n_samples"])
            for name, d in s["dimensions"].items():
                out[f"{name}.mean"] = metrics.metric_value(d["mean"], n=d["n"])
            out["judge_unparseable"] = metrics.metric_value(s.get("judge_unparseable", 0), n=len(scores))
    return out


def apply_thresholds(suite: Suite, es: EvalSet, m: dict[str, dict[str, Any]], judge_may_block: bool = True, judge_note: str = "") -> list[ThresholdResult]:
    out = []
    for t in es.thresholds:
        mv = m.get(t.metric)
        value = None if mv is None else mv.get("value")
        if value is None or (isinstance(value, float) and math.isnan(value)):
            passed, note = False, f"metric {t.metric!r} was not produced (available: {', '.join(sorted(m)) or 'none'})"
        else:
            passed = (t.min is None or value >= t.min) and (t.max is None or value <= t.max)
            note = ""
        enforced = t.blocking
        if es.family == "judge" and t.blocking and not judge_may_block:
            enforced = False
            note = (note + "; " if note else "") + f"judge not calibrated enough to block ({judge_note}): warning only"
        out.append(
            ThresholdResult(
                suite.name, es.name, es.family, t.metric, value, (mv or {}).get("ci_low"), (mv or {}).get("ci_high"),
                int((mv or {}).get("n") or 0), t.min, t.max, t.blocking, bool(passed), enforced, note,
            )
        )
    return out


def thresholds_markdown(results: list[ThresholdResult]) -> str:
    if not results:
        return "No thresholds configured."

    def f(x):
        return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.3f}"

    lines = ["| eval set | metric | value (95% CI) | n | gate | result |", "|---|---|---|---|---|---|"]
    for r in results:
        gate = " and ".join(x for x in ((f">= {r.min:g}" if r.min is not None else ""), (f"<= {r.max:g}" if r.max is not None else "")) if x)
        gate += " (blocking)" if r.enforced_blocking else ""
        ci = f" [{f(r.ci_low)}, {f(r.ci_high)}]" if r.ci_low is not None else ""
        res = "PASS" if r.passed else ("**FAIL**" if r.enforced_blocking else "fail (warn)")
        lines.append(f"| {r.eval_set} | {r.metric} | {f(r.value)}{ci} | {r.n} | {gate} | {res}{' - ' + r.note if r.note else ''} |")
    return "\n".join(lines)


def code_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=5)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def run_artifact(
    *,
    run_id: str,
    date: str,
    mv: ModelVersion,
    mv_key: str,
    project: Project,
    metrics_by_set: dict[tuple[str, str], dict[str, dict[str, Any]]],
    thresholds: list[ThresholdResult],
    responses: pd.DataFrame,
    started_at: float,
    judge_provenance: dict[str, int] | None = None,
    recordings_label: str = "",
) -> dict[str, Any]:
    """The run artifact: one JSON per evaluated partition.

    ``answer_provenance`` counts the responses' ``provenance`` (live / replay / synthetic;
    ``unknown`` for rows written before it was recorded), ``judge_verdict_provenance`` the
    judge verdicts' (when given); ``live_answers_only`` is false and ``answers`` says so
    whenever anything but live answers was used.
    """
    from eval_pipeline.inference.runner import provenance_counts, provenance_label

    answer_prov = provenance_counts(responses["provenance"] if "provenance" in responses else [None] * len(responses))
    judge_prov = dict(judge_provenance or {})
    live_only = all(k == "live" for k in answer_prov) and all(k == "live" for k in judge_prov)
    sets = []
    for suite_name in mv.suites:
        suite = project.suites[suite_name]
        for es in suite.eval_sets:
            m = metrics_by_set.get((suite.name, es.name))
            if m is None:
                continue
            tr = [asdict(t) for t in thresholds if t.suite == suite.name and t.eval_set == es.name]
            sets.append({
                "suite": suite.name, "eval_set": es.name, "family": es.family,
                "metrics": m,
                "thresholds": tr,
                "pass": all(t["passed"] for t in tr),
            })
    blocking_failed = [t for t in thresholds if t.enforced_blocking and not t.passed]
    warn_failed = [t for t in thresholds if not t.passed and not t.enforced_blocking]
    cost = float(responses["cost_usd"].sum()) if "cost_usd" in responses else 0.0
    prompt_versions = {task: mv.prompt_hash(task) for task in mv.prompts} if mv._prompt_texts else {}
    return {
        "run_id": run_id,
        "date": date,
        "model_version": mv_key,
        "model_version_name": mv.name,
        "model": mv.model,
        "provider": mv.provider,
        "prompt_version": prompt_versions,
        "config_hash": mv.config_hash() if mv._prompt_texts else None,
        "code_commit": code_commit(),
        "timestamp": pd.Timestamp.utcnow().isoformat(),
        "eval_sets": sets,
        "overall": "FAIL" if blocking_failed else "PASS",
        "passed": not blocking_failed,
        "blocking_failures": [f"{t.suite}/{t.eval_set}:{t.metric}" for t in blocking_failed],
        "warnings": [f"{t.suite}/{t.eval_set}:{t.metric}" for t in warn_failed],
        "duration_s": round(time.time() - started_at, 3),
        "cost_usd": round(cost, 6),
        "cost_usd_cached": round(float(responses.loc[responses["cached"].astype(bool), "cost_usd"].sum()), 6) if "cached" in responses else None,
        "samples": int(len(responses)),
        "answer_provenance": answer_prov,
        "judge_verdict_provenance": judge_prov or None,
        "live_answers_only": live_only,
        "answers": provenance_label(answer_prov, recordings_label)
        + (f"; judge verdicts: {provenance_label(judge_prov, recordings_label)}" if judge_prov else ""),
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
