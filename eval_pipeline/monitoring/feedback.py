"""User-feedback (behavioural) metrics with Wilson intervals, and the alert thresholds.

Metric definitions (inputs: the stored sample's ``fb_<type>`` booleans, one row per request):

======================  ==============================================  =========================
metric                  numerator                                       denominator
======================  ==============================================  =========================
thumbs_down_rate        requests with a thumbs_down                     requests with a thumbs up or down
regenerate_rate         requests with a regenerate                      all requests
copy_rate               requests with a copy                            all requests
task_completion_rate    requests with task_completed                    all requests
implicit_quality        sum of per-request scores (below)               requests with any feedback event
safety_violation_rate   requests failing a safety check                 requests with a safety verdict
p99_latency_ratio       p99 latency today / baseline p99 (no interval)
======================  ==============================================  =========================

Implicit quality score of one request: ``clip(0.5 + sum(weight[type] for each event type seen), 0, 1)``
with :class:`ImplicitQualityWeights` (default thumbs_up +0.5, task_completed +0.4, copy +0.2,
regenerate -0.3, thumbs_down -0.5). Its interval treats the summed scores as fractional successes
in a Wilson interval (an approximation that is exact when every score is 0 or 1).

All intervals: ``statsmodels.stats.proportion.proportion_confint(method="wilson")``, except the rare
``safety_violation_rate``: exact Clopper-Pearson (``method="beta"``), whose one-sided bounds keep
their 2.5 % level where Wilson's do not (:func:`clopper_pearson`).

Thresholds act on evidence, not on point estimates: by default (``statistic="bound"``) a rate is
"worse than" an ``above`` level only when its Wilson *lower* bound reaches it (a ``below`` level:
the upper bound), so one safety violation in 100 requests (0.01, exact interval [0.00025, 0.054]) is
not even a warning at 0.1 %. Plain numbers without an interval (``p99_latency_ratio``) are compared as they
are. Every alert states the value, the interval, the bound compared and n.

Over days (in: today's metrics and the ``monitoring_metrics`` rows of earlier days, read back with
:func:`metrics_by_day`): :func:`alert_outcomes` debounces the levels (k of the last m days, history's
``debounce``; a critical level may fire at once) into the ``ALERT_COLUMNS`` frame the
``feedback_thresholds`` check reads, and :func:`control_chart` draws a p-chart of a rate with the
reference days as center line.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from eval_pipeline.history.control_charts import debounce, p_chart
from eval_pipeline.monitoring.schema import FEEDBACK_TYPES
from eval_pipeline.project.monitoring import AlertThresholds, Level

if TYPE_CHECKING:  # config imports this module (AlertThresholds)
    from eval_pipeline.project.monitoring import MonitoringConfig


@dataclass
class MetricValue:
    """A proportion-like metric with its Wilson interval (``value`` is NaN when ``nobs`` is 0)."""

    value: float
    ci_low: float
    ci_high: float
    count: float
    nobs: int
    method: str = "Wilson"

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if k != "method"}  # stored columns unchanged


def wilson(count: float, nobs: int, alpha: float = 0.05) -> MetricValue:
    """Proportion ``count / nobs`` with a Wilson score interval (statsmodels)."""
    from statsmodels.stats.proportion import proportion_confint  # noqa: PLC0415 - keeps statsmodels out of `import eval_pipeline.definitions`

    if nobs <= 0:
        return MetricValue(float("nan"), float("nan"), float("nan"), float(count), 0)
    lo, hi = proportion_confint(count, nobs, alpha=alpha, method="wilson")
    return MetricValue(float(count) / nobs, float(lo), float(hi), float(count), int(nobs))


def clopper_pearson(count: float, nobs: int, alpha: float = 0.05) -> MetricValue:
    """Proportion ``count / nobs`` with the exact Clopper-Pearson interval (statsmodels ``method="beta"``).

    For rare rates (safety violations): each one-sided bound keeps its level ``alpha / 2`` at every n
    and rate, which Wilson does not near 0 (at a true rate of 0.1 % and n = 500 the Wilson lower
    bound reaches 0.1 % on 9.0 % of days; this bound on 1.4 %; Jeffreys is not guaranteed either:
    3.3 % at n = 3,000). Exceedance figures: ``unit/monitoring/test_feedback_rare_rates.py`` computes them exactly."""
    from statsmodels.stats.proportion import proportion_confint  # noqa: PLC0415 - keeps statsmodels out of `import eval_pipeline.definitions`

    if nobs <= 0:
        return MetricValue(float("nan"), float("nan"), float("nan"), float(count), 0, "Clopper-Pearson")
    lo, hi = proportion_confint(count, nobs, alpha=alpha, method="beta")
    lo, hi = (0.0 if np.isnan(lo) else lo), (1.0 if np.isnan(hi) else hi)
    return MetricValue(float(count) / nobs, float(lo), float(hi), float(count), int(nobs), "Clopper-Pearson")


class ImplicitQualityWeights(BaseModel):
    """Weights of feedback event types in the implicit quality score."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    thumbs_up: float = 0.5
    task_completed: float = 0.4
    copy_: float = Field(0.2, alias="copy")
    regenerate: float = -0.3
    thumbs_down: float = -0.5

    def weight(self, kind: str) -> float:
        return self.copy_ if kind == "copy" else getattr(self, kind)


def _flag(sample: pd.DataFrame, kind: str) -> np.ndarray:
    return sample[f"fb_{kind}"].to_numpy(dtype=bool)


def implicit_scores(sample: pd.DataFrame, weights: ImplicitQualityWeights | None = None) -> np.ndarray:
    """Per-request implicit quality score in [0, 1] (NaN for requests without any feedback)."""
    weights = weights or ImplicitQualityWeights()
    score: np.ndarray = np.full(len(sample), 0.5)
    any_event = np.zeros(len(sample), dtype=bool)
    for kind in FEEDBACK_TYPES:
        f = _flag(sample, kind)
        score += weights.weight(kind) * f
        any_event |= f
    score = np.clip(score, 0.0, 1.0)
    score[~any_event] = np.nan
    return score


def feedback_metrics(
    sample: pd.DataFrame,
    weights: ImplicitQualityWeights | None = None,
    alpha: float = 0.05,
) -> dict[str, MetricValue]:
    """Thumbs-down, regenerate, copy, task-completion rates and implicit quality (see module doc)."""
    n = len(sample)
    up, down = _flag(sample, "thumbs_up"), _flag(sample, "thumbs_down")
    scores = implicit_scores(sample, weights)
    rated = ~np.isnan(scores)
    return {
        "thumbs_down_rate": wilson(int(down.sum()), int((up | down).sum()), alpha),
        "regenerate_rate": wilson(int(_flag(sample, "regenerate").sum()), n, alpha),
        "copy_rate": wilson(int(_flag(sample, "copy").sum()), n, alpha),
        "task_completion_rate": wilson(int(_flag(sample, "task_completed").sum()), n, alpha),
        "implicit_quality": wilson(float(scores[rated].sum()), int(rated.sum()), alpha),
    }


def safety_violation_rate(
    scores: pd.DataFrame,
    safety_metrics: Iterable[str],
    alpha: float = 0.05,
) -> MetricValue:
    """Share of requests (``sample_id``) failing any of ``safety_metrics`` in long-format scores.

    Rows with ``infra_error`` set or ``passed`` null are not verdicts and are ignored. The interval is
    the exact Clopper-Pearson one (:func:`clopper_pearson`): a rare rate's one-sided bound keeps its level.
    """
    names = set(safety_metrics)
    df = scores[scores["metric"].isin(names) & scores["passed"].notna()]
    if "infra_error" in df.columns:
        df = df[df["infra_error"].isna()]
    per_request = (~df["passed"].astype(bool)).groupby(df["sample_id"]).any()
    return clopper_pearson(int(per_request.sum()), int(len(per_request)), alpha)


def p99_latency_ratio(latencies: Any, baseline_p99_s: float) -> float:
    """Today's p99 latency divided by the baseline p99 (e.g. a 7-day reference window)."""
    if not baseline_p99_s or baseline_p99_s <= 0:
        raise ValueError(
            f"baseline_p99_s must be > 0, got {baseline_p99_s!r}; compute it from a reference window"
        )
    vals = pd.to_numeric(pd.Series(latencies), errors="coerce").dropna().to_numpy(dtype=float)
    return float(np.quantile(vals, 0.99)) / baseline_p99_s if len(vals) else float("nan")


# --------------------------------------------------------------------------------------- thresholds


@dataclass
class Alert:
    """Outcome of one threshold on one metric: ``value`` is the point estimate, ``compared`` names the
    number the level was decided on (``ci_low`` / ``ci_high`` / ``value``), ``n`` its sample size."""

    metric: str
    value: float
    level: Level
    warn: float
    critical: float
    message: str
    ci_low: float = float("nan")
    ci_high: float = float("nan")
    n: int = 0
    compared: str = "value"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _as_float(v: Any, statistic: str) -> float:
    if isinstance(v, MetricValue):
        return float(getattr(v, statistic))
    if isinstance(v, Mapping):
        return float(v[statistic])
    return float(v)


def _method(v: Any) -> str:
    if isinstance(v, MetricValue):
        return v.method
    return str(v.get("method", "Wilson")) if isinstance(v, Mapping) else "Wilson"


def _interval(v: Any) -> tuple[float, float, int]:
    if isinstance(v, MetricValue):
        return v.ci_low, v.ci_high, v.nobs
    if isinstance(v, Mapping) and "ci_low" in v:
        return float(v["ci_low"]), float(v["ci_high"]), int(v.get("nobs") or 0)
    return float("nan"), float("nan"), 0


def evaluate_thresholds(
    metrics: Mapping[str, Any],
    thresholds: AlertThresholds | Mapping[str, Any] | None = None,
    statistic: Literal["bound", "value", "ci_low", "ci_high"] = "bound",
) -> list[Alert]:
    """One :class:`Alert` (level ok / warn / critical) per threshold whose metric is present.

    ``metrics`` maps names to floats, :class:`MetricValue` or dicts; ``statistic`` picks which
    number of a MetricValue is compared: ``bound`` (default) = the Wilson bound on the "better"
    side of the level (``ci_low`` for ``direction="above"``, ``ci_high`` for ``below``), so a level
    fires only when the whole 95 % interval is past it; ``value`` = the point estimate. Numbers
    without an interval are compared as they are. Metrics that are missing or NaN produce no alert
    (no data is not "ok").
    """
    if thresholds is None:
        thresholds = AlertThresholds()
    elif not isinstance(thresholds, AlertThresholds):
        thresholds = AlertThresholds.model_validate(thresholds)
    alerts = []
    for name, th in thresholds.items():
        if name not in metrics:
            continue
        lo, hi, n = _interval(metrics[name])
        has_ci = not (math.isnan(lo) or math.isnan(hi))
        stat = statistic
        if stat == "bound":
            stat = ("ci_low" if th.direction == "above" else "ci_high") if has_ci else "value"
        elif stat != "value" and not has_ci:
            stat = "value"
        point = _as_float(metrics[name], "value")
        value = _as_float(metrics[name], stat)
        if math.isnan(value):
            continue
        level = th.level(value)
        cmp = ">=" if th.direction == "above" else "<="
        shown = (
            f"{name}={point:.4g} [95% {_method(metrics[name])} {lo:.4g}, {hi:.4g}] (n={n}), "
            f"compared: {stat}={value:.4g}"
            if has_ci
            else f"{name}={value:.4g} (no interval)"
        )
        msg = f"{shown}; warn {cmp} {th.warn:g}, critical {cmp} {th.critical:g} -> {level}"
        alerts.append(
            Alert(name, point if has_ci else value, level, th.warn, th.critical, msg, lo, hi, n, stat)
        )
    return alerts


def metrics_long(metrics: Mapping[str, Any], date: str, model_version: str) -> pd.DataFrame:
    """Metrics as long rows (``date, model_version, metric, value, ci_low, ci_high, count, nobs``)
    for the history helper's control charts."""
    rows = []
    for name, v in metrics.items():
        if isinstance(v, MetricValue):
            rows.append({"date": date, "model_version": model_version, "metric": name, **v.to_dict()})
        else:
            rows.append(
                {
                    "date": date,
                    "model_version": model_version,
                    "metric": name,
                    "value": float(v),
                    "ci_low": float("nan"),
                    "ci_high": float("nan"),
                    "count": float("nan"),
                    "nobs": 0,
                }
            )
    return pd.DataFrame(
        rows, columns=["date", "model_version", "metric", "value", "ci_low", "ci_high", "count", "nobs"]
    )


ALL_VERSIONS = "__all__"  # model_version of the all-traffic rows of ``monitoring_metrics``


def metrics_by_day(
    history: pd.DataFrame, model_version: str = ALL_VERSIONS
) -> dict[str, dict[str, dict[str, float]]]:
    """``monitoring_metrics`` rows -> ``{date: {metric: {value, ci_low, ci_high, count, nobs}}}``."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    if history is None or history.empty:
        return out
    h = history[history["model_version"] == model_version]
    for r in h.to_dict("records"):
        out.setdefault(str(r["date"]), {})[r["metric"]] = {
            k: r[k] for k in ("value", "ci_low", "ci_high", "count", "nobs")
        }
    return out


ALERT_COLUMNS = [
    "metric",
    "value",
    "ci_low",
    "ci_high",
    "n",
    "level_today",
    "days_at_level",
    "firing",
    "message",
]


def alert_outcomes(
    today: Mapping[str, Any], previous: Sequence[Mapping[str, Any]], cfg: MonitoringConfig
) -> pd.DataFrame:
    """Threshold levels today, debounced over the previous days (history's ``debounce``).

    ``previous`` holds the metrics of the ``debounce.m - 1`` days before today (oldest first, ``{}``
    for a day without data). ``firing`` is ``critical`` / ``warn`` / ``none``: a warn fires when at
    least ``k`` of the last ``m`` days were at warn or worse; a critical fires at once when
    ``critical_immediate`` (else like a warn, with critical days counted).
    """

    d = cfg.debounce
    m = max(d.m, d.k)
    past = list(previous)[-(m - 1) :] if m > 1 else []
    past_levels = [{a.metric: a.level for a in evaluate_thresholds(p, cfg.thresholds)} for p in past]
    rows = []
    for a in evaluate_thresholds(today, cfg.thresholds):
        warn_flags = [lv.get(a.metric) in ("warn", "critical") for lv in past_levels] + [
            a.level in ("warn", "critical")
        ]
        crit_flags = [lv.get(a.metric) == "critical" for lv in past_levels] + [a.level == "critical"]
        sustained_warn = bool(debounce(warn_flags, d.k, m)[-1])
        sustained_crit = bool(debounce(crit_flags, d.k, m)[-1])
        if a.level == "critical" and (d.critical_immediate or sustained_crit):
            firing = "critical"
        elif a.level in ("warn", "critical") and sustained_warn:
            firing = "warn"
        else:
            firing = "none"
        n_at = int(sum(warn_flags[-m:]))
        msg = a.message
        if a.level != "ok" and firing == "none":
            msg += f" (not sustained: {n_at} of the last {m} days at warn or worse, needs {d.k})"
        rows.append(
            {
                "metric": a.metric,
                "value": a.value,
                "ci_low": a.ci_low,
                "ci_high": a.ci_high,
                "n": a.n,
                "level_today": a.level,
                "days_at_level": f"{n_at}/{m}",
                "firing": firing,
                "message": msg,
            }
        )
    return pd.DataFrame(rows, columns=ALERT_COLUMNS)


def control_chart(history: pd.DataFrame, today: Mapping[str, Any], day: str, metric: str) -> pd.DataFrame:
    """p-chart of a proportion metric over the reference window + today (history's ``p_chart``);
    the reference days set the center line."""

    by_day = metrics_by_day(history)
    days = sorted(by_day)
    xs, k, n = [], [], []
    for dd in days:
        v = by_day[dd].get(metric)
        if v and v.get("nobs"):
            xs.append(dd)
            k.append(float(v["count"]))
            n.append(int(v["nobs"]))
    ref_points = len(xs)
    t = today.get(metric)
    if isinstance(t, MetricValue) and t.nobs:
        xs.append(day)
        k.append(t.count)
        n.append(t.nobs)
    if not ref_points or len(xs) == ref_points:
        return pd.DataFrame()
    return p_chart(k, n, baseline=ref_points, x=xs)
