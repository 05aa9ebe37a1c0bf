"""Glue for two maintenance loops: the A/A noise floor and the human review queue.

A/A noise floor (``aa_noise_floor`` asset)
    :func:`aa_plan` builds the requests of one model version's deterministic and similarity
    eval sets twice, with request epochs ``aa:<date>:A`` / ``aa:<date>:B`` (distinct response-store
    keys, so both are fresh samples and a rerun is free). :func:`run_aa` executes and scores both
    runs; :func:`noise_frame` hands them to :func:`eval_pipeline.noise.aa_noise.aa_noise_floor`
    and :func:`noise_threshold_report` says which eval sets are too noisy to gate at the
    configured effect sizes.

Review queue (``review_queue`` asset)
    :func:`review_items` runs :func:`eval_pipeline.noise.review.select_for_review` over
    every pointwise judge eval set of a partition (cosine rows of a similarity eval set over the
    same golden source and task are matched in, for the judge/cosine disagreement reason).
    Labelled files come back into ``judge_calibration`` through
    :mod:`eval_pipeline.evaluators.review_calibration`.

Plain Python (no Dagster): the CLI and tests call these directly.
"""

from __future__ import annotations

import dataclasses
import tempfile
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from eval_pipeline import scoring
from eval_pipeline.history.alert_rules import AlertRules
from eval_pipeline.inference.prompts import build_requests
from eval_pipeline.inference.trajectory import response_table_row
from eval_pipeline.inference.types import ModelRequest, ModelResponse
from eval_pipeline.noise import review
from eval_pipeline.noise.aa_noise import THRESHOLD_COLUMNS, aa_noise_floor, check_thresholds
from eval_pipeline.noise.review import export_review
from eval_pipeline.noise.review_pairwise import select_pairwise_for_review
from eval_pipeline.project.loader import Project
from eval_pipeline.project.registry import ModelVersion
from eval_pipeline.project.regression_config import RegressionConfig
from eval_pipeline.regression.composite import (
    COMPOSITE_PASS_METRIC as COMPOSITE_PASS_METRIC,  # re-exported: defs/noise reads it from here
)
from eval_pipeline.regression.composite import with_composite_pass
from eval_pipeline.storage import keys

AA_FAMILIES = ("deterministic", "similarity")
AA_RUNS = ("A", "B")


def aa_epoch(date: str, run: str) -> str:
    """Request epoch of one A/A run: ``aa:<date>:<A|B>``."""
    return f"aa:{date}:{run}"


noise_key = keys.noise_report  # reports/noise/date=<d>/model_version=<mv>/noise.json
review_key = keys.review_file  # review/date=<d>/model_version=<mv>/review.jsonl


def _rows_of(frame: pd.DataFrame, suite: str, eval_set: str | Sequence[str]) -> pd.DataFrame:
    """The rows of ``frame`` for one suite and one eval set (or any of several)."""
    if not len(frame):
        return frame
    sets = [eval_set] if isinstance(eval_set, str) else list(eval_set)
    return frame[(frame["suite"] == suite) & frame["eval_set"].isin(sets)]


# --------------------------------------------------------------------------- A/A run


@dataclasses.dataclass
class AAPlanItem:
    suite: str
    eval_set: str
    requests: list[ModelRequest]  # one run's requests (epoch already set)


def aa_plan(
    project: Project, model_version: ModelVersion, golden: pd.DataFrame, date: str, run: str
) -> list[AAPlanItem]:
    """Requests of one A/A run over the model version's deterministic and similarity eval sets.

    ``golden`` is the decoded golden frame of the partition. Eval sets without golden rows are skipped.
    """

    epoch = aa_epoch(date, run)
    plan = []
    for suite, es in model_version.eval_sets(project, AA_FAMILIES):
        g = _rows_of(golden, suite.name, es.name)
        if g.empty:
            continue
        reqs = [
            dataclasses.replace(r, epoch=epoch) for r in build_requests(g, suite, es, model_version, date)
        ]
        plan.append(AAPlanItem(suite.name, es.name, reqs))
    return plan


def responses_frame(plan: Sequence[AAPlanItem], responses: Sequence[ModelResponse]) -> pd.DataFrame:
    """Response rows (suite, eval_set, sample_id, repeat, text, error_category, ...) in plan order."""
    rows, i = [], 0
    for item in plan:
        for _ in item.requests:
            row = response_table_row(responses[i])
            row.update(suite=item.suite, eval_set=item.eval_set)
            rows.append(row)
            i += 1
    if i != len(responses):
        raise ValueError(f"responses_frame: {len(responses)} responses for {i} planned requests")
    return pd.DataFrame(rows)


@dataclasses.dataclass
class AARun:
    """Scores (SCORE_COLUMNS) of run A and run B, plus request accounting."""

    scores_a: pd.DataFrame
    scores_b: pd.DataFrame
    requests: int
    cache_hits: int
    eval_sets: list[str]


def _score_run(
    project: Project,
    mv: ModelVersion,
    golden: pd.DataFrame,
    date: str,
    mv_key: str,
    plan: Sequence[AAPlanItem],
    responses: Sequence[ModelResponse],
    scorer_factory: Callable[[str | None], Any],
) -> pd.DataFrame:
    """Deterministic and similarity scores (SCORE_COLUMNS) of one run's responses."""
    graded = scoring.graded_samples(golden, responses_frame(plan, responses)) if responses else pd.DataFrame()
    if graded.empty:
        return scoring.empty_scores()
    det = scoring.score_deterministic_family(project, mv, graded, date, mv_key)
    sim = scoring.score_similarity_family(project, mv, graded, date, mv_key, scorer_factory)
    parts = [f for f in (det, sim) if not f.empty]
    return pd.concat(parts, ignore_index=True) if parts else scoring.empty_scores()


def run_aa(
    project: Project,
    model_version: ModelVersion,
    golden: pd.DataFrame,
    date: str,
    model_version_key: str,
    execute: Callable[[list[ModelRequest]], list[ModelResponse]],
    scorer_factory: Callable[[str | None], Any],
) -> AARun:
    """Run the model version twice (epochs A and B, one batch), score both runs.

    ``execute`` runs requests through a provider and the response store (and raises
    ``LookupError`` on a replay miss); ``scorer_factory(model_path)`` returns a similarity scorer.
    """
    plans = {run: aa_plan(project, model_version, golden, date, run) for run in AA_RUNS}
    requests = [r for run in AA_RUNS for item in plans[run] for r in item.requests]
    responses = execute(requests) if requests else []
    n_a = sum(len(item.requests) for item in plans["A"])
    chunks = {"A": responses[:n_a], "B": responses[n_a:]}
    scores = {
        run: _score_run(
            project, model_version, golden, date, model_version_key, plans[run], chunks[run], scorer_factory
        )
        for run in AA_RUNS
    }
    return AARun(
        scores_a=scores["A"],
        scores_b=scores["B"],
        requests=len(requests),
        cache_hits=sum(1 for r in responses if r.cached),
        eval_sets=[f"{i.suite}/{i.eval_set}" for i in plans["A"]],
    )


def noise_frame(run: AARun) -> pd.DataFrame:
    """:func:`eval_pipeline.noise.aa_noise.aa_noise_floor` of the two runs (with the composite pass metric)."""

    return aa_noise_floor(with_composite_pass(run.scores_a, 1), with_composite_pass(run.scores_b, 1))


# --------------------------------------------------------------------------- thresholds vs noise

# threshold metric of an eval set -> the score-row metric whose pass/fail is behind it
_THRESHOLD_ROW_METRIC = {"pass_rate": COMPOSITE_PASS_METRIC, "cosine_pass_rate": "cosine"}


def effect_sizes() -> dict[str, float]:
    """The effect sizes the pipeline acts on (fractions): the regression report's minimum
    effect and the pass-rate-drop alert (both 3 points by default)."""

    return {
        "regression_min_effect": RegressionConfig().min_effect,
        "alert_pass_rate_drop": AlertRules().pass_rate_drop,
    }


def _gate_check(t: Any, noise: pd.DataFrame, scores: pd.DataFrame, quantile: str) -> pd.DataFrame | None:
    """:func:`check_thresholds` of one gated pass-rate threshold's margin (None when it has no noise row or bound).

    ``noise`` and ``scores`` are already the eval set's rows of the metric behind the threshold.
    """

    graded = scores["passed"].dropna()
    bounds = [b for b in (t.min, t.max) if b is not None]
    if noise.empty or graded.empty or not bounds:
        return None
    observed = float(graded.astype(bool).mean())
    margin = min(abs(observed - b) for b in bounds)
    name = f"gate {t.metric} {'>=' if t.min is not None else '<='} {bounds[0]:g} (margin at {observed:.3f})"
    return check_thresholds(noise, {name: margin}, quantile=quantile)


def _gate_checks(
    project: Project, mv: ModelVersion, noise: pd.DataFrame, run: AARun, quantile: str
) -> list[pd.DataFrame]:
    """One :func:`_gate_check` per gated ``pass_rate`` / ``cosine_pass_rate`` threshold of the model version."""
    both = pd.concat(
        [with_composite_pass(run.scores_a, 1), with_composite_pass(run.scores_b, 1)], ignore_index=True
    )
    out = []
    for suite, es in mv.eval_sets(project, AA_FAMILIES):
        for t in es.thresholds:
            row_metric = _THRESHOLD_ROW_METRIC.get(t.metric)
            if row_metric is None:
                continue
            nz, s = (_rows_of(f[f["metric"] == row_metric], suite.name, es.name) for f in (noise, both))
            out.append(_gate_check(t, nz, s, quantile))
    return [f for f in out if f is not None]


def noise_threshold_report(
    project: Project,
    model_version: ModelVersion,
    noise: pd.DataFrame,
    run: AARun | None = None,
    quantile: str = "diff_q95",
) -> pd.DataFrame:
    """Which thresholds clear the A/A noise floor.

    Two kinds of rows (columns of :func:`eval_pipeline.noise.aa_noise.check_thresholds`):

    * effect sizes (:func:`effect_sizes`) against every metric's noise band: a regression or
      alert smaller than the band cannot be told from noise;
    * gated eval-set thresholds on pass rates (``pass_rate`` / ``cosine_pass_rate``): the margin
      between the observed rate (mean of A and B) and the bound must exceed the band, else the
      gate's verdict flips by chance. Needs ``run`` (the observed rates).
    """

    if noise.empty:
        return pd.DataFrame(columns=THRESHOLD_COLUMNS)
    frames = [check_thresholds(noise, effect_sizes(), quantile=quantile)]
    if run is not None:
        frames += _gate_checks(project, model_version, noise, run, quantile)
    return pd.concat(frames, ignore_index=True)


def noise_markdown(noise: pd.DataFrame) -> str:
    """Disagreement rate and 95 % / 99 % difference bands per eval set and metric (points)."""
    if noise.empty:
        return "No pass/fail metrics in common between run A and run B."
    t = pd.DataFrame(
        {
            "eval set": noise["suite"] + "/" + noise["eval_set"],
            "metric": noise["metric"],
            "n": noise["n_pairs"],
            "repeats": noise["repeats"],
            "disagreement": noise["disagreement_rate"].map(lambda x: f"{x:.1%}"),
            "B - A (pts)": (noise["observed_diff"] * 100).round(1),
            "95% band (pts)": (noise["diff_q95"] * 100).map(lambda x: f"±{x:.1f}"),
            "99% band (pts)": (noise["diff_q99"] * 100).map(lambda x: f"±{x:.1f}"),
        }
    )
    return t.to_markdown(index=False)


def inside_noise(report: pd.DataFrame) -> pd.DataFrame:
    """The rows of a threshold report whose threshold does not clear the noise floor."""
    return report[~report["clears_noise"].astype(bool)] if len(report) else report


def too_noisy_eval_sets(report: pd.DataFrame) -> list[str]:
    """``suite/eval_set`` of every threshold inside the noise floor, sorted."""
    bad = inside_noise(report)
    return sorted(set(bad["suite"] + "/" + bad["eval_set"])) if len(bad) else []


def too_noisy_summary(report: pd.DataFrame) -> str:
    """Markdown list of the thresholds inside the noise floor (``"none"`` when all clear)."""
    bad = inside_noise(report)
    if bad.empty:
        return "none: every threshold clears the A/A noise floor"
    return "\n".join(f"- {r.suite}/{r.eval_set} [{r.metric}]: {r.message}" for r in bad.itertuples())


def noise_payload(
    date: str, model_version_key: str, noise: pd.DataFrame, report: pd.DataFrame, run: AARun
) -> dict[str, Any]:
    """The JSON written to ``reports/noise/...``: the noise frame, the threshold report, run facts."""
    return {
        "date": date,
        "model_version": model_version_key,
        "runs": [aa_epoch(date, r) for r in AA_RUNS],
        "requests": run.requests,
        "cache_hits": run.cache_hits,
        "eval_sets": run.eval_sets,
        "effect_sizes": effect_sizes(),
        "noise": noise.to_dict(orient="records"),
        "thresholds": report.to_dict(orient="records"),
        "too_noisy": too_noisy_eval_sets(report),
    }


# --------------------------------------------------------------------------- review queue


def _twin_cosine_rows(suite: Any, es: Any, similarity_rows: pd.DataFrame | None) -> pd.DataFrame | None:
    """Cosine rows of the suite's similarity eval sets over the same golden source and task, relabelled ``es``."""
    if similarity_rows is None or not len(similarity_rows):
        return None
    twins = [
        o.name
        for o in suite.eval_sets
        if o.family == "similarity" and o.source == es.source and o.task == es.task
    ]
    sim = _rows_of(similarity_rows, suite.name, twins)
    return sim.assign(eval_set=es.name) if len(sim) else None


def review_items(
    project: Project,
    model_version: ModelVersion,
    graded: pd.DataFrame,
    judge_rows: pd.DataFrame,
    similarity_rows: pd.DataFrame | None = None,
    baseline: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """:func:`select_for_review` over every pointwise judge eval set of the model version, and
    :func:`eval_pipeline.noise.review_pairwise.select_pairwise_for_review` over every pairwise one (with the
    ``baseline`` graded samples of the same date: answer B).

    Cosine rows of a similarity eval set in the same suite with the same golden ``source`` and
    ``task`` (the same responses) are matched to the judge's rows by sample and repeat.
    """

    frames = []
    for suite, es in model_version.eval_sets(project, "judge"):
        cfg = es.judge_config
        rows = _rows_of(judge_rows, suite.name, es.name)
        if rows.empty:
            continue
        samples = _rows_of(graded, suite.name, es.name)
        if cfg.mode == "pairwise":
            base = _rows_of(baseline, suite.name, es.name) if baseline is not None else None
            frames.append(select_pairwise_for_review(samples, rows, cfg, base))
            continue
        frames.append(
            review.select_for_review(samples, rows, cfg, _twin_cosine_rows(suite, es, similarity_rows))
        )
    frames = [f for f in frames if not f.empty]
    if not frames:
        return pd.DataFrame(columns=review.REVIEW_FIELDS)
    return pd.concat(frames, ignore_index=True).sort_values("review_id", kind="stable").reset_index(drop=True)


def export_review_bytes(items: pd.DataFrame) -> bytes:
    """JSONL bytes of review items, exactly as :func:`export_review` writes them."""

    with tempfile.TemporaryDirectory() as tmp:
        return export_review(items, Path(tmp) / "review.jsonl").read_bytes()


def reason_counts(items: pd.DataFrame) -> dict[str, int]:
    """Items per reason kind (the text before ``:``); an item with two reasons counts for both."""
    c: Counter[str] = Counter()
    for reasons in items.get("reasons", []):
        c.update({str(r).split(":", 1)[0] for r in reasons})
    return dict(sorted(c.items()))


def review_preview(items: pd.DataFrame, n: int = 20, excerpt_chars: int = 80) -> str:
    """Markdown preview: sample id, reasons, response excerpt (first ``n`` items)."""
    if items.empty:
        return "Nothing to review: no judge disagreement, low margin or failure in this partition."

    def cell(x: Any) -> str:
        s = " ".join(str(x or "").split())
        s = s[:excerpt_chars] + ("…" if len(s) > excerpt_chars else "")
        return s.replace("|", "\\|")

    lines = ["| sample id | reason | response excerpt |", "|---|---|---|"]
    top = items.head(n)
    for review_id, reasons, text in zip(top["review_id"], top["reasons"], top["response_text"], strict=True):
        lines.append(f"| {cell(review_id)} | {cell('; '.join(reasons))} | {cell(text)} |")
    if len(items) > n:
        lines.append(f"\n… and {len(items) - n} more (see the exported file)")
    return "\n".join(lines)
