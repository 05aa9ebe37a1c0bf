"""Eval-set metrics and the thresholds of the suite files applied to them.

In: the score rows of one eval set (``SCORE_COLUMNS``) and its ``EvalSet`` config (family, thresholds,
judge settings); for judge sets, whether the judge is calibrated enough to block.
Out: ``set_metrics`` -> metric name -> {value, ci_low, ci_high, n}; ``apply_thresholds`` -> one
``ThresholdResult`` per configured threshold (passed, blocking as configured, blocking as enforced);
``thresholds_markdown`` -> the table shown in the run's metadata.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pandas as pd

from eval_pipeline.evaluators import judge, metrics
from eval_pipeline.evaluators.deterministic.frame import check_errors
from eval_pipeline.evaluators.judge.panel import (
    DISAGREEMENT_METRIC,
    panel_agreement,
    votes_by_judge,
)
from eval_pipeline.project.suites import EvalSet, Suite


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


def set_metrics(
    scores: pd.DataFrame, eval_set: EvalSet, human: pd.DataFrame | None = None
) -> dict[str, dict[str, Any]]:
    """Eval-set metrics (with intervals). Judge sets also get ``pass_rate`` (all thresholded dimensions
    pass) and, in pairwise mode, ``win_rate`` and the length-controlled ``lc_win_rate`` (with
    ``length_bias``); pointwise, per dimension ``<dim>.length_spearman`` and ``<dim>.length_adjusted_mean``,
    and with ``human`` (review ratings of the eval set) the PPI++ ``ppi:<metric>`` records (ppi_metrics.py)."""
    from eval_pipeline.scoring.ppi_metrics import ppi_metrics  # noqa: PLC0415 - import cycle: scoring.ppi_metrics imports this module

    out = metrics.eval_set_metrics(scores)
    undecided = check_errors(scores)  # a regex over its time budget: counted (0 too, so it can gate)
    if undecided is not None:
        out["check_error_count"] = metrics.metric_value(undecided[0], n=undecided[1])
    if eval_set.family == "judge" and not scores.empty:
        cfg = eval_set.judge_config
        if cfg.is_panel:  # inter-judge agreement of the panel, per dimension (Krippendorff's alpha)
            for name, a in panel_agreement(votes_by_judge(scores, cfg), cfg).items():
                out[f"{name}.panel_alpha"] = _interval_metric(a, "alpha", "judges", "test")
            dis = scores[(scores["metric"] == DISAGREEMENT_METRIC) & scores["value"].notna()]
            out["panel_disagreements"] = metrics.metric_value(int((dis["value"] > 0).sum()), n=len(dis))
        if cfg.mode == "pairwise":
            s = judge.summarize_pairwise(scores)
            out["win_rate"] = _interval_metric(s, "win_rate")
            out["position_consistency"] = metrics.metric_value(s["position_consistency"], n=s["n"])
            lc = s["length_control"]  # gate on it with a threshold on `lc_win_rate` (length-controlled)
            out["lc_win_rate"] = _interval_metric(
                lc, "lc_win_rate", "length_bias", "length_p", "length_coef", "mean_length_diff", "test"
            )
        else:
            s = judge.summarize_pointwise(scores, cfg)
            if "all_pass_rate" in s:
                lo, hi = s["all_pass_ci"]
                out["pass_rate"] = metrics.metric_value(s["all_pass_rate"], lo, hi, n=s["n_samples"])
            for name, d in s["dimensions"].items():
                out[f"{name}.mean"] = metrics.metric_value(d["mean"], n=d["n"])
                la = s["length_association"].get(name)
                if (
                    la and la["n"]
                ):  # score vs length; the adjusted mean differs from the mean only when significant
                    out[f"{name}.length_spearman"] = _interval_metric(
                        la, "spearman", p_value="spearman_p", length_bias="length_bias", test="test"
                    )
                    out[f"{name}.length_adjusted_mean"] = _interval_metric(
                        la, "adjusted_mean", "reference_length"
                    )
            out["judge_unparseable"] = metrics.metric_value(s.get("judge_unparseable", 0), n=len(scores))
            out.update(ppi_metrics(scores, cfg, human))
    return out


def _interval_metric(summary: dict[str, Any], value: str, *same: str, **renamed: str) -> metrics.MetricValue:
    """The metric record of ``summary[value]`` with its interval ``summary[value + "_ci"]`` and ``summary["n"]``;
    ``same`` keys are copied under their own name, ``renamed`` ones as ``{record key: summary key}``."""
    lo, hi = summary[f"{value}_ci"]
    extra = {**{k: summary[k] for k in same}, **{k: summary[v] for k, v in renamed.items()}}
    return metrics.metric_value(summary[value], lo, hi, n=summary["n"], **extra)


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def apply_thresholds(
    suite: Suite,
    eval_set: EvalSet,
    m: dict[str, dict[str, Any]],
    judge_may_block: bool = True,
    judge_note: str = "",
) -> list[ThresholdResult]:
    out = []
    from eval_pipeline.scoring.ppi_metrics import threshold_key  # noqa: PLC0415 - import cycle: scoring.ppi_metrics imports this module

    for t in eval_set.thresholds:
        key = threshold_key(t.metric, t.estimator)
        mv = m.get(key)
        value = None if mv is None else mv.get("value")
        if _missing(value):
            passed, note = (
                False,
                f"metric {key!r} was not produced (available: {', '.join(sorted(m)) or 'none'})"
                + (
                    "; estimator: ppi needs >= 2 human labels of this eval set in data/reviews/"
                    if key != t.metric
                    else ""
                ),
            )
        else:
            assert value is not None  # _missing() is true for None
            passed = (t.min is None or value >= t.min) and (t.max is None or value <= t.max)
            note = ""
        enforced = t.blocking
        if eval_set.family == "judge" and t.blocking and not judge_may_block:
            enforced = False
            note = (
                note + "; " if note else ""
            ) + f"judge not calibrated enough to block ({judge_note}): warning only"
        out.append(
            ThresholdResult(
                suite.name,
                eval_set.name,
                eval_set.family,
                key,
                value,
                (mv or {}).get("ci_low"),
                (mv or {}).get("ci_high"),
                int((mv or {}).get("n") or 0),
                t.min,
                t.max,
                t.blocking,
                bool(passed),
                enforced,
                note,
            )
        )
    return out


def thresholds_markdown(results: list[ThresholdResult]) -> str:
    if not results:
        return "No thresholds configured."

    def f(x: float | None) -> str:
        return "-" if _missing(x) else f"{x:.3f}"

    lines = ["| eval set | metric | value (95% CI) | n | gate | result |", "|---|---|---|---|---|---|"]
    for r in results:
        gate = " and ".join(
            x
            for x in (
                (f">= {r.min:g}" if r.min is not None else ""),
                (f"<= {r.max:g}" if r.max is not None else ""),
            )
            if x
        )
        gate += " (blocking)" if r.enforced_blocking else ""
        ci = f" [{f(r.ci_low)}, {f(r.ci_high)}]" if r.ci_low is not None else ""
        res = "PASS" if r.passed else ("**FAIL**" if r.enforced_blocking else "fail (warn)")
        lines.append(
            f"| {r.eval_set} | {r.metric} | {f(r.value)}{ci} | {r.n} | {gate} | {res}{' - ' + r.note if r.note else ''} |"
        )
    return "\n".join(lines)
