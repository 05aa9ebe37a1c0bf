"""Judge calibration: how well does the LLM judge agree with human labels? Run and gate.

In: the suite's judge (``Executor`` + :class:`~eval_pipeline.evaluators.judge.JudgeConfig`),
calibration dataset names or paths, and the suite's ``min_calibration``. Out: a
:class:`CalibrationResult` (metrics per entry, raw verdicts, joined frames, cost, judge failures)
and the gate decision ``(ok, reasons)``.

Stages:

1. **Data** - :mod:`eval_pipeline.evaluators.calibration_data` reads a human-labelled JSONL file,
   samples ``n`` rows deterministically and returns the judge's input frame plus the human labels.
2. **Judge** - :func:`run_calibration` runs the suite's judge (its model and prompt, with the
   dataset's rubric) through the same ``execute`` provider path as production scoring.
3. **Metrics** - :mod:`eval_pipeline.evaluators.calibration_metrics` (pure functions wrapping
   scikit-learn / scipy, each metric with a 95 % interval and n).
4. **Gate** - :func:`calibration_gate` compares the *lower bound* of each metric's interval with
   the suite's ``min_calibration`` (a point estimate of 0.82 from 20 items is not evidence of
   >= 0.8); below it, judge thresholds only warn. Entries without an interval (older files)
   fall back to the point estimate, and the reason says so; ``judge.calibration_gate: point``
   opts into the point estimate.
5. **Versions** - :func:`calibration_version` (judge model + rubric + prompt hash); a calibration
   holds only for the versions it lists (:func:`may_block`): after a judge change the judge warns
   instead of blocking until re-calibrated (:func:`project_judge_versions` lists what is current).

Metric entries are keyed ``"<dataset>/<dimension>"`` for ratings and ``"<dataset>"`` for
pairwise sets; each is a flat ``{metric_name: value}`` dict whose names match the fields of
:class:`eval_pipeline.evaluators.judge.MinCalibration`.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import pandas as pd

from eval_pipeline.evaluators.calibration_data import (
    DEFAULT_DATA_DIR,
    RATING_DATASETS,
    build_pairwise_samples,
    build_rating_samples,
    dataset_name,
    pairwise_judge_config,
    rating_judge_config,
)
from eval_pipeline.evaluators.calibration_metrics import TIE, pairwise_agreement, rating_metrics_from_frame
from eval_pipeline.evaluators.judge import (
    STATUS_OK,
    Executor,
    JudgeConfig,
    MinCalibration,
    PromptTemplate,
    judge_pairwise_verdicts,
    judge_pointwise_verdicts,
    load_prompt,
)
from eval_pipeline.evaluators.judge.length_control import length_controlled_win_rate, word_count
from eval_pipeline.evaluators.judge.requests import judge_identity
from eval_pipeline.project.hashing import digest16


# --------------------------------------------------------------------------------------
# 2. Running the judge over a dataset
# --------------------------------------------------------------------------------------
def rating_frame_from_verdicts(verdicts: pd.DataFrame, human: pd.DataFrame) -> pd.DataFrame:
    """Join judge medians (valid repeats only) with human ratings: one row per (sample, dimension)."""
    rows = []
    ok = verdicts[verdicts["status"] == STATUS_OK]
    medians: dict[tuple[Any, str], float] = {}
    for sid, g in ok.groupby("sample_id"):
        dims = cast(dict[str, int], g["scores"].iat[0]).keys()
        for d in dims:
            medians[(sid, d)] = float(statistics.median(s[d] for s in g["scores"]))
    for rec in human.to_dict("records"):
        rows.append({**rec, "judge": medians.get((rec["sample_id"], rec["dimension"]), math.nan)})
    return pd.DataFrame(rows)


def pairwise_final_from_verdicts(verdicts: pd.DataFrame) -> tuple[pd.Series, list[bool]]:
    """Per-sample final label (1 / 2 / 0 tie) and the per-judgement position consistency.

    Per sample, the judge repeats' candidate-perspective outcomes (output_1 = candidate) are
    valued 1 / 0.5 / 0 and their median decides: 1 -> label 1, 0 -> label 2, else tie. This
    mirrors :func:`eval_pipeline.evaluators.judge.aggregate_pairwise`.
    """
    value_of = {"candidate": 1.0, "tie": 0.5, "baseline": 0.0}
    done = verdicts[verdicts["outcome"].notna()]
    final = {}
    for sid, g in done.groupby("sample_id"):
        med = statistics.median(value_of[o] for o in g["outcome"])
        final[sid] = 1 if med == 1.0 else 2 if med == 0.0 else TIE
    return pd.Series(final, dtype="int64"), [bool(c) for c in done["position_consistent"]]


@dataclass
class CalibrationResult:
    """Output of :func:`run_calibration`."""

    metrics: dict[str, dict[str, float]]  # "<dataset>/<dim>" or "<dataset>" -> metric dict
    verdicts: dict[str, pd.DataFrame] = field(default_factory=dict)  # dataset -> raw verdict frame
    frames: dict[str, pd.DataFrame] = field(default_factory=dict)  # dataset -> human/judge joined rows
    cost_usd: float = 0.0
    judge_failures: dict[str, dict[str, int]] = field(default_factory=dict)  # dataset -> status counts


def run_calibration(
    execute: Executor,
    judge_config: JudgeConfig,
    datasets: Sequence[str | Path],
    *,
    n: int | None = 50,
    seed: int = 0,
    data_dir: str | Path | None = None,
    prompt: PromptTemplate | None = None,
) -> CalibrationResult:
    """Run the suite's judge over human-labelled datasets and compute agreement metrics.

    ``datasets`` are file paths or registry names (resolved in ``data_dir``, default
    ``../shared/datasets``). ``prompt`` is the suite's custom template for the matching mode
    (None = built-in). Failed verdicts (unparseable, refusal, infra) are excluded from the
    metrics and counted in ``judge_failures``.
    """
    base_dir = Path(data_dir) if data_dir else DEFAULT_DATA_DIR
    result = CalibrationResult(metrics={})
    for ds in datasets:
        path = Path(ds)
        if not path.suffix:
            path = base_dir / f"{ds}.jsonl"
        name = dataset_name(path)
        if not path.is_file():
            raise FileNotFoundError(f"calibration dataset {path} not found; set data_dir or pass a full path")
        if name in RATING_DATASETS:
            cfg = rating_judge_config(judge_config, name)
            samples, human = build_rating_samples(path, n=n, seed=seed)
            verdicts = judge_pointwise_verdicts(
                samples, cfg, execute, prompt=prompt if prompt and judge_config.mode == "pointwise" else None
            )
            frame = rating_frame_from_verdicts(verdicts, human)
            result.metrics.update(rating_metrics_from_frame(frame, prefix=f"{name}/"))
            statuses = verdicts["status"].value_counts().to_dict()
        else:
            cfg = pairwise_judge_config(judge_config, name)
            samples, human_labels = build_pairwise_samples(path, n=n, seed=seed)
            verdicts = judge_pairwise_verdicts(
                samples, cfg, execute, prompt=prompt if prompt and judge_config.mode == "pairwise" else None
            )
            final, consistent = pairwise_final_from_verdicts(verdicts)
            frame = pd.DataFrame({"human": human_labels, "final": final}).dropna()
            frame.index.name = "sample_id"
            result.metrics[name] = pairwise_agreement(
                frame["human"].astype(int), frame["final"].astype(int), consistent
            )
            result.metrics[name].update(pairwise_length_metrics(samples, frame))
            statuses = pd.concat([verdicts["status_ab"], verdicts["status_ba"]]).value_counts().to_dict()
        result.verdicts[name] = verdicts
        result.frames[name] = frame
        result.cost_usd += float(verdicts["cost_usd"].sum())
        result.judge_failures[name] = {str(k): int(v) for k, v in statuses.items() if k != STATUS_OK}
    return result


def pairwise_length_metrics(samples: pd.DataFrame, frame: pd.DataFrame) -> dict[str, Any]:
    """Verbosity bias on a human-labelled pairwise set: the length-controlled rate at which the judge prefers
    output_1 (``lc_win_rate`` with its interval, ``length_coef`` / ``length_p`` / ``length_bias``) next to the
    same regression on the human labels (``human_length_coef``): a judge coefficient above the humans' is a
    length preference the humans do not share."""

    s = samples.set_index("sample_id")
    diff = pd.Series(
        {
            sid: cast(int, word_count(s.at[sid, "response_text"]))
            - cast(int, word_count(s.at[sid, "baseline_text"]))
            for sid in frame.index
        }
    )
    judge_y = frame["final"].map({1: 1.0, 2: 0.0, TIE: 0.5})
    human_y = frame["human"].map({1: 1.0, 2: 0.0})
    j = length_controlled_win_rate(judge_y.to_numpy(), diff.reindex(frame.index).to_numpy())
    h = length_controlled_win_rate(human_y.to_numpy(), diff.reindex(frame.index).to_numpy())
    return {
        "win_rate_output_1": j["win_rate"],
        "lc_win_rate": j["lc_win_rate"],
        "lc_win_rate_ci_low": j["lc_win_rate_ci"][0],
        "lc_win_rate_ci_high": j["lc_win_rate_ci"][1],
        "length_coef": j["length_coef"],
        "length_p": j["length_p"],
        "length_bias": j["length_bias"],
        "human_lc_win_rate": h["lc_win_rate"],
        "human_length_coef": h["length_coef"],
        "human_length_p": h["length_p"],
    }


# --------------------------------------------------------------------------------------
# 4. Gate
# --------------------------------------------------------------------------------------
def calibration_gate(
    metrics: Mapping[str, Any],
    min_calibration: MinCalibration | Mapping[str, float] | None,
    use: str = "lower_bound",
) -> tuple[bool, list[str]]:
    """May judge thresholds block? ``(ok, reasons)``.

    ``metrics`` is either one flat metric dict or ``{entry: metric dict}``. Every metric set
    in ``min_calibration`` must be reported by at least one entry, and every entry that
    reports it must reach the minimum with the LOWER bound of its 95 % interval
    (``<metric>_ci_low``; NaN fails); an entry without an interval key is judged on its point
    estimate. ``use="point"`` (the suite's ``judge.calibration_gate: point``) judges every entry on its
    point estimate instead. With no ``min_calibration`` the judge may block: ``(True, [])``. ``reasons``
    explains each failure (entry, value, interval, minimum, n).
    """
    if use not in ("lower_bound", "point"):
        raise ValueError(f"calibration gate use={use!r}: 'lower_bound' or 'point'")
    if min_calibration is None:
        return True, []
    required = (
        min_calibration.required()
        if isinstance(min_calibration, MinCalibration)
        else MinCalibration.model_validate(dict(min_calibration)).required()
    )
    if not required:
        return True, []
    entries: dict[str, Mapping[str, Any]]
    if metrics and all(isinstance(v, Mapping) for v in metrics.values()):
        entries = dict(metrics)
    else:
        entries = {"calibration": metrics}
    reasons: list[str] = []
    for metric, minimum in sorted(required.items()):
        reporting = {k: e[metric] for k, e in entries.items() if metric in e and e[metric] is not None}
        if not reporting:
            reasons.append(
                f"{metric}: no calibration result reports it (required >= {minimum:g}); run calibration on a dataset that measures it"
            )
            continue
        for entry, value in sorted(reporting.items()):
            value = float(value)
            e = entries[entry]
            n = e.get("n")
            has_ci = f"{metric}_ci_low" in e and use == "lower_bound"
            lo = float(e[f"{metric}_ci_low"]) if has_ci and e[f"{metric}_ci_low"] is not None else math.nan
            decided = lo if has_ci else value
            if math.isnan(value) or math.isnan(decided) or decided < minimum:
                shown = "undefined (NaN)" if math.isnan(value) else f"{value:.3f}"
                note = ""
                if has_ci and not math.isnan(value):
                    hi: Any = e.get(f"{metric}_ci_high")
                    shown += (
                        f" [95% CI {lo:.3f}, {float(hi):.3f}]: lower bound {lo:.3f}"
                        if not math.isnan(lo)
                        else " [95% CI undefined]: lower bound"
                    )
                elif not has_ci:
                    note = (
                        "; point estimate (calibration_gate: point)"
                        if use == "point"
                        else "; point estimate, no interval reported"
                    )
                reasons.append(f"{entry}: {metric} {shown} < required {minimum:g} (n={n}{note})")
    return (not reasons), reasons


def metrics_table(metrics: Mapping[str, Mapping[str, float]]) -> pd.DataFrame:
    """Calibration metrics as a table (one row per entry) for reports and asset metadata."""
    return pd.DataFrame([{"entry": k, **dict(v)} for k, v in sorted(metrics.items())])


# --------------------------------------------------------------------------------------
# 5. Versions: a calibration holds for one judge model + rubric + prompt
# --------------------------------------------------------------------------------------
def calibration_version(config: JudgeConfig, prompt: PromptTemplate | None = None) -> str:
    """The version a calibration is valid for: hash of the judge model, the suite's rubric and the prompt
    (:func:`eval_pipeline.evaluators.judge.requests.judge_identity`)."""

    return digest16({"model": config.model, **judge_identity(config, prompt)})


def may_block(
    payload: Mapping[str, Any] | None,
    config: JudgeConfig,
    prompt: PromptTemplate | None = None,
    live_run: bool = False,
) -> tuple[bool, str]:
    """May a judge eval set's thresholds block, given the stored calibration ``payload`` (None: none yet)?

    No ``min_calibration``: yes. No calibration, a calibration of another judge version (the judge model,
    rubric or prompt changed since: the config-change sensor schedules a re-calibration), or one from
    non-live verdicts for a live run: no, warn only. Else :func:`calibration_gate` with the suite's
    ``calibration_gate`` (lower bound by default) over the payload's metrics except its ``reported_only``
    entries (review labels of a dimension below ``evaluators.review_calibration.MIN_N_TO_DECIDE``)."""
    if config.min_calibration is None:
        return True, "no minimum calibration required"
    if payload is None:
        return False, f"no calibration for judge {config.model} yet (materialize judge_calibration)"
    version = calibration_version(config, prompt)
    versions = payload.get("calibration_versions")
    if versions is not None and version not in versions:
        return False, (
            f"judge changed since calibration (version {version} not among calibrated {sorted(versions)}: judge model, "
            f"rubric or prompt changed); warning only until judge_calibration re-runs (scheduled by the config-change sensor)"
        )
    if live_run and payload.get("live_verdicts_only") is False:
        return False, (
            f"judge {config.model} was calibrated on non-live verdicts ({payload.get('verdicts', 'replay')}); "
            f"materialize judge_calibration with a live provider"
        )
    held = set(payload.get("reported_only") or ())  # small-n review entries: reported, not deciding
    deciding = {k: v for k, v in payload["metrics"].items() if k not in held}
    ok, reasons = calibration_gate(deciding, config.min_calibration, use=config.calibration_gate)
    return ok, (
        "calibrated" if config.calibration_gate == "lower_bound" else "calibrated (point estimate)"
    ) if ok else "; ".join(reasons[:3])


def project_judge_versions(project: Any) -> dict[str, list[str]]:
    """Judge model -> the calibration versions of every judge eval set of the project using it."""

    out: dict[str, set[str]] = {}
    for suite in project.suites.values():
        for es in suite.eval_sets:
            if es.family != "judge":
                continue
            cfg = es.judge_config
            prompt = load_prompt(cfg, base_dir=suite.file.parent)
            for model in cfg.judge_models:
                single = cfg.single(model)
                out.setdefault(model, set()).add(calibration_version(single, prompt))
    return {k: sorted(v) for k, v in sorted(out.items())}
