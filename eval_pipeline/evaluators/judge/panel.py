"""A judge panel ("jury", Verga et al. 2024): several judges score independently, verdicts aggregated.

In: each judge's own score rows (``{model: rows}``) and a :class:`~.config.JudgeConfig` with
``models: [a, b, c]`` and ``aggregate: mean | majority``. Out:

* :func:`aggregate_panel` - the panel's score rows from each judge's own score rows (same metrics as one judge:
  per dimension the mean - or the majority, ties broken by the median - of the judges' medians,
  ``passed`` against the threshold, ``<dim>_spread`` = max - min ACROSS judges; pairwise
  ``pairwise_win`` the mean or the majority outcome; failure counts summed; lengths) plus one
  ``panel_disagreement_count`` row per sample (dimensions on which the judges disagree: a spread
  >= :data:`DISAGREE_SPREAD` or a pass/fail split; pairwise: one judge's win against another's loss),
  which the review queue (:func:`eval_pipeline.noise.review.select_for_review`) turns into
  ``judges_disagree`` items; each judge's own verdict as auxiliary ``vote.<k>.<metric>`` rows (k =
  index in ``judge_models``; :func:`votes_by_judge` recovers them). :func:`eval_pipeline.evaluators.judge.score`
  runs the judges and calls it.
* :func:`panel_agreement` - inter-judge agreement per dimension: Krippendorff's alpha (the
  ``krippendorff`` package; ordinal for rubric scores, nominal for pairwise outcomes) with a 95 %
  percentile bootstrap interval over samples, n (samples rated by at least two judges) and the
  number of judges.

Each judge is run as a single judge (``config.single(model)``): its own evaluator hash, request keys
and stored verdicts, so adding a judge to a panel re-uses the verdicts the others already gave.
"""

from __future__ import annotations

import math
import statistics
from typing import Any, Literal, cast

import numpy as np
import pandas as pd

from eval_pipeline.evaluators.judge.length_control import LENGTH_METRICS
from eval_pipeline.evaluators.judge.parse import STATUS_REFUSAL, STATUS_UNPARSEABLE
from eval_pipeline.evaluators.judge.prompts import PromptTemplate, default_prompt
from eval_pipeline.evaluators.judge.requests import evaluator_hash, judge_identity
from eval_pipeline.evaluators.judge.rows import FAMILY
from eval_pipeline.project.judge import JudgeConfig, JudgeDimension
from eval_pipeline.project.schemas import JUDGE_SCORE_COLUMNS

DISAGREE_SPREAD = 2.0
DISAGREEMENT_METRIC = "panel_disagreement_count"
BOOTSTRAP_RESAMPLES = 500
_KEY = ["eval_set", "sample_id", "repeat"]


def _majority(values: list[float]) -> float:
    counts = pd.Series(values).value_counts()
    top = counts[counts == counts.max()].index
    return float(top[0]) if len(top) == 1 else float(statistics.median(values))


def _combine(values: list[float], how: str) -> float:
    return float(np.mean(values)) if how == "mean" else _majority(values)


def aggregate_panel(
    per_judge: dict[str, pd.DataFrame], config: JudgeConfig, prompt: PromptTemplate | None = None
) -> pd.DataFrame:
    """The panel's score rows from each judge's score rows (keyed by judge model)."""
    models = list(per_judge)
    first = per_judge[models[0]]
    h = evaluator_hash(config, prompt or default_prompt(config.mode))
    identity = judge_identity(config, prompt or default_prompt(config.mode))  # the panel: "a+b+c"
    dims = {d.name: d for d in config.dimensions}
    decided = ["pairwise_win"] if config.mode == "pairwise" else list(dims)
    out: list[dict[str, Any]] = []
    index = {
        m: {(tuple(r[k] for k in _KEY), r["metric"]): r for r in _records(rows)}
        for m, rows in per_judge.items()
    }
    for base in _records(first):
        metric, key = base["metric"], tuple(base[k] for k in _KEY)
        if metric not in decided and metric not in (
            STATUS_UNPARSEABLE,
            STATUS_REFUSAL,
            *LENGTH_METRICS,
            "position_consistency",
        ):
            continue  # per-judge spreads: replaced by the across-judge spread below
        rs = [index[m].get((key, metric)) for m in models]
        vals = {m: float(r["value"]) for m, r in zip(models, rs) if r is not None and not _nan(r["value"])}
        row = {**base, "evaluator_hash": h, **identity}
        if metric in (STATUS_UNPARSEABLE, STATUS_REFUSAL):
            row["value"] = float(sum(vals.values()))
        elif metric in LENGTH_METRICS:
            pass
        elif not vals:
            row.update(value=None, reason=f"panel: no judge gave a verdict; {base['reason']}")
        else:
            how = "mean" if metric == "position_consistency" else config.aggregate
            v = _combine(list(vals.values()), how)
            row.update(
                value=v, reason=f"panel {how} {v:g} over " + ", ".join(f"{m}={x:g}" for m, x in vals.items())
            )
            if metric in dims:
                d = dims[metric]
                row["passed"] = None if d.threshold is None else d.passes(v)
                out.append(
                    {
                        **row,
                        "metric": f"{metric}_spread",
                        "value": max(vals.values()) - min(vals.values()),
                        "passed": None,
                        "reason": "max-min across the panel's judges",
                    }
                )
        out.append(row)
        if metric in decided:  # each judge's own verdict, for the agreement figures (auxiliary rows)
            for k, (m, r) in enumerate(zip(models, rs)):
                if r is not None:
                    out.append(
                        {
                            **r,
                            "metric": vote_metric(k, metric),
                            "passed": None,
                            "evaluator_hash": h,
                            "reason": f"judge {m}",
                        }
                    )
        if metric == decided[-1]:
            n, why = _disagreement(key, index, models, decided, dims, config.mode)
            out.append(
                {
                    **row,
                    "metric": DISAGREEMENT_METRIC,
                    "value": float(n),
                    "passed": None,
                    "infra_error": None,
                    "reason": "; ".join(why) or "the judges agree",
                }
            )
    return pd.DataFrame(out, columns=JUDGE_SCORE_COLUMNS)


def _records(rows: pd.DataFrame) -> list[dict[str, Any]]:
    return cast(list[dict[str, Any]], rows.to_dict("records"))


def vote_metric(k: int, metric: str) -> str:
    """The metric name of judge ``k``'s (index in ``config.judge_models``) own verdict on ``metric``."""
    return f"vote.{k}.{metric}"


def votes_by_judge(rows: pd.DataFrame, config: JudgeConfig) -> dict[str, pd.DataFrame]:
    """Each judge's own score rows, recovered from a panel's ``vote.<k>.<metric>`` rows."""
    out = {}
    for k, m in enumerate(config.judge_models):
        r = rows[rows["metric"].astype(str).str.startswith(f"vote.{k}.")]
        out[m] = r.assign(metric=r["metric"].astype(str).str.slice(len(f"vote.{k}.")))
    return out


def _nan(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def _disagreement(
    key: tuple[Any, ...],
    index: dict[str, dict[tuple[tuple[Any, ...], Any], dict[str, Any]]],
    models: list[str],
    decided: list[str],
    dims: dict[str, JudgeDimension],
    mode: str,
) -> tuple[int, list[str]]:
    why = []
    for metric in decided:
        rs = {m: index[m].get((key, metric)) for m in models}
        vals = {m: float(r["value"]) for m, r in rs.items() if r is not None and not _nan(r["value"])}
        if len(vals) < 2:
            continue
        shown = ", ".join(f"{m}={x:g}" for m, x in vals.items())
        if mode == "pairwise":
            if 1.0 in vals.values() and 0.0 in vals.values():
                why.append(f"judges_disagree: win and loss ({shown})")
            continue
        spread = max(vals.values()) - min(vals.values())
        thr = dims[metric].threshold
        split = thr is not None and len({v >= thr for v in vals.values()}) == 2
        if spread >= DISAGREE_SPREAD or split:
            why.append(f"judges_disagree: {metric} {shown}" + (" (pass/fail split)" if split else ""))
    return len(why), why


Level = Literal["nominal", "ordinal"]


def _alpha(data: np.ndarray, level: Level, domain: list[float] | None) -> float:
    import krippendorff  # noqa: PLC0415 - keeps krippendorff out of `import eval_pipeline.definitions`

    ok = (~np.isnan(data)).sum(axis=0) >= 2
    data = data[:, ok]
    if data.shape[1] < 2 or len(np.unique(data[~np.isnan(data)])) < 2:
        return math.nan
    try:
        return float(
            krippendorff.alpha(reliability_data=data, level_of_measurement=level, value_domain=domain)
        )
    except (ValueError, ZeroDivisionError):
        return math.nan


def panel_agreement(
    per_judge: dict[str, pd.DataFrame],
    config: JudgeConfig,
    seed: int = 0,
    n_resamples: int = BOOTSTRAP_RESAMPLES,
) -> dict[str, dict[str, Any]]:
    """Krippendorff's alpha per dimension (``pairwise_win`` in pairwise mode) across the panel's judges.

    Returns ``{dimension: {alpha, alpha_ci (95 % percentile bootstrap over samples), n, judges, level, test}}``.
    """
    models = list(per_judge)
    targets: dict[str, tuple[Level, list[float]]]
    if config.mode == "pairwise":
        targets = {"pairwise_win": ("nominal", [0.0, 0.5, 1.0])}
    else:
        targets = {
            d.name: ("ordinal", [float(x) for x in np.arange(d.scale[0], d.scale[1] + 0.5, 0.5)])
            for d in config.dimensions
        }
    out: dict[str, dict[str, Any]] = {}
    rng = np.random.default_rng(seed)
    for metric, (level, domain) in targets.items():
        frames = []
        for m in models:
            r = per_judge[m]
            r = r[(r["family"] == FAMILY) & (r["metric"] == metric)]
            frames.append(r.set_index(_KEY)["value"].astype(float).rename(m))
        wide = pd.concat(frames, axis=1)
        data = wide[models].to_numpy(dtype=float).T  # judges x samples
        n = int(((~np.isnan(data)).sum(axis=0) >= 2).sum())
        alpha = _alpha(data, level, domain)
        lo = hi = math.nan
        if n >= 3 and not math.isnan(alpha):
            boots = [
                _alpha(data[:, rng.integers(0, data.shape[1], data.shape[1])], level, domain)
                for _ in range(n_resamples)
            ]
            valid = np.asarray([b for b in boots if not math.isnan(b)])
            if len(valid) >= 0.9 * n_resamples:
                lo, hi = float(np.quantile(valid, 0.025)), float(np.quantile(valid, 0.975))
        out[metric] = {
            "alpha": alpha,
            "alpha_ci": (lo, hi),
            "n": n,
            "judges": models,
            "level": level,
            "test": f"Krippendorff's alpha ({level}, krippendorff package), 95% percentile bootstrap over samples",
        }
    return out
