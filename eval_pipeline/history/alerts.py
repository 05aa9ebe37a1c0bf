"""Alert rules over the history tables (``score_history`` / ``ops_history`` frames).

Rules (all configurable through :class:`~eval_pipeline.history.alert_rules.AlertRules`, defaults
from the seeds):

* ``pass_rate_drop``: pass rate more than ``pass_rate_drop`` (3 points, the effect size) below its
  trailing ``trailing_days`` (7) calendar-day average AND significantly below the pooled trailing
  rate: one-sided two-proportion score test (statsmodels ``test_proportions_2indep``) of today's
  ``n_passed / n_graded`` against the trailing days' pooled counts, ``p < trend_alpha`` (0.05) on a debounced 2 of 3 days.
  Without counts there is no evidence and the rule does not fire.
* ``dimension_below_threshold``: a metric (e.g. a judge dimension) below its configured minimum on
  ``consecutive_days`` (2) consecutive days, on evidence: the day's one-sided 95 % upper bound (Wilson for
  a pass rate, t for a mean from ``std_value`` and n) is below the minimum (:func:`upper_bound`).
* ``latency_p95_increase``: p95 latency up more than 20 % over its trailing average
  while the pass rate did not gain at least ``quality_gain`` *with evidence*: the gain excuses the
  latency only when it is >= ``quality_gain`` and the lower bound of its 95 % score interval
  (statsmodels ``confint_proportions_2indep``, pooled counts vs the trailing days) is above 0.
* ``cost_increase``: cost per sample (per response without an infrastructure error) up more than
  ``cost_increase`` over its trailing average.
* ``control_chart``: the chosen chart (:mod:`control_charts`) flags the point. Its centre is the
  pooled pass rate of the baseline points and its sigma the larger of the binomial sigma
  (:func:`~eval_pipeline.history.control_charts.binomial_baseline`, floored, never 0) and the
  baseline points' standard deviation (or ``control_sigma``, e.g. the A/A noise floor); the
  limits also carry the centre's standard error.

Every alert row states ``n`` (today's graded samples / responses), ``p_value`` and a 95 % Wilson
interval ``ci_low`` / ``ci_high`` of today's pass rate where the rule has one (NaN otherwise).

Point-wise breaches are debounced: a rule fires at a point only when at least
``debounce_k`` of the last ``debounce_m`` points of that series breached
(``dimension_below_threshold`` is debounced by its consecutive-days definition).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from eval_pipeline.history.alert_rules import AlertRules
from eval_pipeline.history.control_charts import CHARTS, binomial_baseline, debounce, p_chart, segmented_chart
from eval_pipeline.history.sql import ALL, SEGMENT_ALL, SERIES_COLUMNS
from eval_pipeline.history.trend_test import combined_p, prediction_p
from eval_pipeline.regression.judge_changes import judge_segments

# What an alert row says beyond the series it is about: the value, its reference and the evidence.
EVIDENCE_COLUMNS = ["value", "reference", "n", "p_value", "ci_low", "ci_high", "message"]
ALERT_COLUMNS = ["rule", "severity", *SERIES_COLUMNS, *EVIDENCE_COLUMNS]
SERIES_KEYS = SERIES_COLUMNS[1:]  # a series: everything but the date
OPS_KEYS = ["model_version", "suite", "eval_set"]


def _trailing_mean(dates: pd.Series, values: pd.Series, days: int, min_points: int) -> np.ndarray:
    """Mean of the values in the ``days`` calendar days before each date (current day excluded)."""
    s = pd.Series(values.to_numpy(dtype=float), index=pd.to_datetime(dates.to_numpy()))
    r = s.rolling(f"{days}D", closed="left")
    mean, count = r.mean().to_numpy(), r.count().to_numpy()
    return np.where(count >= min_points, mean, np.nan)


def _trailing_sum(dates: pd.Series, values: pd.Series | np.ndarray, days: int) -> np.ndarray:
    """Sum of the values in the ``days`` calendar days before each date (current day excluded)."""
    s = pd.Series(np.asarray(values, dtype=float), index=pd.to_datetime(dates.to_numpy()))
    return s.rolling(f"{days}D", closed="left").sum().to_numpy()


def _counts(g: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """``(n_passed, n_graded)`` as floats (NaN where the frame has no counts)."""
    nan = np.full(len(g), np.nan)
    k = pd.to_numeric(g["n_passed"], errors="coerce").to_numpy(dtype=float) if "n_passed" in g else nan
    n = pd.to_numeric(g["n_graded"], errors="coerce").to_numpy(dtype=float) if "n_graded" in g else nan
    return k, n


def lower_test(k: npt.ArrayLike, n: npt.ArrayLike, k_ref: npt.ArrayLike, n_ref: npt.ArrayLike) -> np.ndarray:
    """One-sided p-values of "today's rate k/n is below the reference rate k_ref/n_ref" (two-proportion
    score test, statsmodels ``test_proportions_2indep``); NaN where either side has no counts."""
    from statsmodels.stats.proportion import test_proportions_2indep  # noqa: PLC0415 - keeps statsmodels out of `import eval_pipeline.definitions`

    k, n, k_ref, n_ref = (np.asarray(a, dtype=float) for a in (k, n, k_ref, n_ref))
    out = np.full(k.shape, np.nan)
    ok = ~np.isnan(k + n + k_ref + n_ref) & (n > 0) & (n_ref > 0)
    if ok.any():
        with np.errstate(divide="ignore", invalid="ignore"):
            res = test_proportions_2indep(
                k[ok], n[ok], k_ref[ok], n_ref[ok], alternative="smaller", method="score"
            )
        out[ok] = np.nan_to_num(np.asarray(res.pvalue, dtype=float), nan=1.0)
    return out


def _wilson(k: float, n: float) -> tuple[float, float]:
    from statsmodels.stats.proportion import proportion_confint  # noqa: PLC0415 - keeps statsmodels out of `import eval_pipeline.definitions`

    if not n or np.isnan(n) or np.isnan(k):
        return float("nan"), float("nan")
    lo, hi = proportion_confint(k, n, alpha=0.05, method="wilson")
    return float(lo), float(hi)


def _alert(
    rule: str,
    rules: AlertRules,
    rec: dict[str, Any],
    value: float,
    reference: float,
    message: str,
    n: float = float("nan"),
    p_value: float = float("nan"),
    ci: tuple[float, float] | None = None,
) -> dict[str, Any]:
    row = {k: rec.get(k, "") for k in SERIES_COLUMNS}
    lo, hi = ci if ci is not None else (float("nan"), float("nan"))
    return {
        "rule": rule,
        "severity": rules.severity[rule],
        **row,
        "value": value,
        "reference": reference,
        "n": n,
        "p_value": p_value,
        "ci_low": lo,
        "ci_high": hi,
        "message": message,
    }


def _series(df: pd.DataFrame, keys: list[str]) -> Iterator[tuple[dict[str, Any], pd.DataFrame]]:
    for key, g in df.groupby(keys, sort=True):
        yield dict(zip(keys, key)), g.sort_values("date").reset_index(drop=True)


def pass_rate_drop_alerts(scores: pd.DataFrame, rules: AlertRules) -> list[dict[str, Any]]:
    """Debounced 'pass rate more than N points below its trailing average, and significantly below
    the pooled trailing rate' alerts (every date). A day breaches only on both: effect and evidence."""
    out = []
    for key, g in _series(scores.dropna(subset=["pass_rate"]), SERIES_KEYS):
        ref = _trailing_mean(g["date"], g["pass_rate"], rules.trailing_days, rules.min_trailing_points)
        k, n = _counts(g)
        k_ref = _trailing_sum(g["date"], k, rules.trailing_days)
        n_ref = _trailing_sum(g["date"], n, rules.trailing_days)
        p_score = lower_test(k, n, k_ref, n_ref)
        p_pred = prediction_p(
            g["date"],
            g["pass_rate"],
            rules.trailing_days,
            rules.min_trailing_points,
            lag=rules.debounce_m - 1,
        )
        p = combined_p(p_score, p_pred)
        breach = (g["pass_rate"].to_numpy() < ref - rules.pass_rate_drop) & (p < rules.trend_alpha)
        fired = debounce(breach, rules.debounce_k, rules.debounce_m) & breach
        for i in np.flatnonzero(fired):
            rec = key | {"date": g["date"].iloc[i]}
            v = float(g["pass_rate"].iloc[i])
            lo, hi = _wilson(k[i], n[i])
            out.append(
                _alert(
                    "pass_rate_drop",
                    rules,
                    rec,
                    v,
                    float(ref[i]),
                    f"pass rate {v:.1%} [95% CI {lo:.1%}, {hi:.1%}] (n={int(n[i])}) is "
                    f"{(ref[i] - v) * 100:.1f} pts below its trailing {rules.trailing_days}-day average "
                    f"{ref[i]:.1%} (n={int(n_ref[i])}); one-sided p={p[i]:.2g} < {rules.trend_alpha:g}, the larger "
                    f"of the two-proportion score test p={p_score[i]:.2g} and the day-to-day prediction test "
                    f"p={p_pred[i]:.2g} ({rules.debounce_k} of last {rules.debounce_m} points breached)",
                    n=float(n[i]),
                    p_value=float(p[i]),
                    ci=(lo, hi),
                )
            )
    return out


def upper_bound(g: pd.DataFrame, field: str, level: float = 0.95) -> np.ndarray:
    """One-sided ``level`` upper confidence bound of each day's ``field``: for ``pass_rate`` the Wilson bound of
    ``n_passed / n_graded`` (statsmodels, two-sided ``2 * level - 1``), for a mean the t bound ``mean + t * std /
    sqrt(n)`` (scipy) with n = graded rows. NaN (no evidence) where counts or spread are missing."""
    from scipy import stats  # noqa: PLC0415 - keeps scipy out of `eval-pipeline run`'s start-up (inference/warmup.py loads it during the requests)
    from statsmodels.stats.proportion import proportion_confint  # noqa: PLC0415 - keeps statsmodels out of `import eval_pipeline.definitions`

    vals = pd.to_numeric(g[field], errors="coerce").to_numpy(dtype=float)
    k, n = _counts(g)
    if field == "pass_rate":
        ok = ~np.isnan(k) & (n > 0)
        out = np.full(len(g), np.nan)
        if ok.any():
            out[ok] = proportion_confint(k[ok], n[ok], alpha=2 * (1 - level), method="wilson")[1]
        return out
    sd = (
        pd.to_numeric(g["std_value"], errors="coerce").to_numpy(dtype=float)
        if "std_value" in g
        else np.full(len(g), np.nan)
    )
    with np.errstate(all="ignore"):
        return np.where(n > 1, vals + stats.t.ppf(level, np.maximum(n - 1, 1)) * sd / np.sqrt(n), np.nan)


def dimension_alerts(scores: pd.DataFrame, rules: AlertRules) -> list[dict[str, Any]]:
    """'Metric below its threshold on N consecutive days' alerts, on evidence: a day counts as below only when
    the one-sided 95 % upper bound of its value (:func:`upper_bound`) is below the minimum, so a noisy day of a
    small set whose interval still reaches the threshold does not count."""
    out = []
    for key, g in _series(scores[scores["metric"].isin(list(rules.dimension_thresholds))], SERIES_KEYS):
        t = rules.dimension_thresholds[key["metric"]]
        vals = g[t.field].to_numpy(dtype=float)
        upper = upper_bound(g, t.field)
        _, n = _counts(g)
        days = pd.to_datetime(g["date"]).to_numpy()
        run = 0
        for i in range(len(g)):
            consecutive = i > 0 and (days[i] - days[i - 1]) == np.timedelta64(1, "D")
            run = (run + 1 if consecutive else 1) if upper[i] < t.min else 0
            if run >= rules.consecutive_days:
                out.append(
                    _alert(
                        "dimension_below_threshold",
                        rules,
                        key | {"date": g["date"].iloc[i]},
                        float(vals[i]),
                        t.min,
                        f"{key['metric']} {t.field} {vals[i]:.3g} (one-sided 95% upper bound "
                        f"{upper[i]:.3g}, n={int(n[i])}) below {t.min:g} for {run} consecutive days",
                        n=float(n[i]),
                        ci=(float("nan"), float(upper[i])),
                    )
                )
    return out


def _quality_by_run(scores: pd.DataFrame) -> pd.DataFrame:
    """Mean overall pass rate per (date, model_version, suite, eval_set): the 'quality' of ops rules,
    with the pooled counts ``q_passed`` / ``q_graded`` its evidence test uses."""
    s = scores[scores["segment"] == SEGMENT_ALL].dropna(subset=["pass_rate"])
    k, n = _counts(s)
    s = s.assign(q_passed=k, q_graded=n)
    return s.groupby(["date"] + OPS_KEYS, as_index=False).agg(
        pass_rate=("pass_rate", "mean"), q_passed=("q_passed", "sum"), q_graded=("q_graded", "sum")
    )


def ops_alerts(ops: pd.DataFrame, scores: pd.DataFrame, rules: AlertRules) -> list[dict[str, Any]]:
    """Debounced latency-p95 and cost-per-sample increase alerts per model version and suite."""
    if ops is None or ops.empty:
        return []
    o = ops[ops["suite"] != ALL]  # per (suite, eval_set); the __all__ roll-up mixes suites
    q = (
        _quality_by_run(scores)
        if scores is not None and len(scores)
        else pd.DataFrame(columns=["date", *OPS_KEYS, "pass_rate", "q_passed", "q_graded"])
    )
    o = o.merge(q, on=["date", *OPS_KEYS], how="left")
    out = []
    for key, g in _series(o, OPS_KEYS):
        qual_ref = _trailing_mean(g["date"], g["pass_rate"], rules.trailing_days, rules.min_trailing_points)
        qk = g["q_passed"].to_numpy(dtype=float)
        qn = g["q_graded"].to_numpy(dtype=float)
        # evidence of a gain: reference significantly below today (one-sided 2.5 %, i.e. the lower
        # bound of the 95 % interval of the gain above 0), and the gain at least quality_gain
        p_gain = lower_test(
            _trailing_sum(g["date"], qk, rules.trailing_days),
            _trailing_sum(g["date"], qn, rules.trailing_days),
            qk,
            qn,
        )
        gained = ((g["pass_rate"].to_numpy(dtype=float) - qual_ref) >= rules.quality_gain) & (p_gain < 0.025)
        n_ok = (
            (
                pd.to_numeric(g["n_responses"], errors="coerce")
                - pd.to_numeric(g["n_infra_error"], errors="coerce")
            ).to_numpy(dtype=float)
            if {"n_responses", "n_infra_error"} <= set(g.columns)
            else np.full(len(g), np.nan)
        )
        for rule, col, share, excuse in (
            ("latency_p95_increase", "latency_p95", rules.latency_p95_increase, gained),
            ("cost_increase", "cost_per_sample", rules.cost_increase, np.zeros(len(g), bool)),
        ):
            ref = _trailing_mean(g["date"], g[col], rules.trailing_days, rules.min_trailing_points)
            v = g[col].to_numpy(dtype=float)
            breach = (v > ref * (1 + share)) & ~excuse
            fired = debounce(breach, rules.debounce_k, rules.debounce_m) & breach
            for i in np.flatnonzero(fired):
                if rule == "latency_p95_increase":
                    why = (
                        f" without an evidenced quality gain (pass rate {g['pass_rate'].iloc[i]:.1%} vs trailing "
                        f"{qual_ref[i]:.1%}, one-sided score test p={p_gain[i]:.2g}, needs >= "
                        f"{rules.quality_gain * 100:g} pts and p < 0.025)"
                    )
                else:
                    why = " (per response without an infrastructure error)"
                out.append(
                    _alert(
                        rule,
                        rules,
                        key | {"date": g["date"].iloc[i], "metric": col},
                        float(v[i]),
                        float(ref[i]),
                        f"{col} {v[i]:.4g} (n={n_ok[i]:.0f} responses) is {(v[i] / ref[i] - 1):.0%} above "
                        f"its trailing {rules.trailing_days}-day average {ref[i]:.4g}" + why,
                        n=float(n_ok[i]),
                        p_value=float(p_gain[i]) if rule == "latency_p95_increase" else float("nan"),
                    )
                )
    return out


def control_chart_for(g: pd.DataFrame, rules: AlertRules) -> pd.DataFrame:
    """The configured control chart over the last ``control_window`` points of one pass-rate series.

    A judge series breaks at every judge change (``judge_model`` / ``rubric_hash`` columns of
    ``score_history``): limits are recomputed per judge (:func:`~eval_pipeline.history.control_charts.segmented_chart`)
    and the chart has a ``judge_change`` marker column.

    Centre: the pooled baseline pass rate; sigma: ``control_sigma`` if set, else the larger of the
    binomial sigma from n (floored, never 0) and the baseline points' standard deviation; the limits
    include the centre's standard error. Without counts, the baseline mean / standard deviation
    (a constant baseline then has no limits and flags nothing)."""
    g = g.tail(rules.control_window)
    if "judge_model" in g and g["judge_model"].notna().any():
        seg = judge_segments(g["judge_model"], g["rubric_hash"])
        if seg.max() > 0:
            return segmented_chart(
                lambda sub: _one_chart(sub, rules), g, seg, baseline=rules.control_baseline_points
            )
    return _one_chart(g, rules)


def _one_chart(g: pd.DataFrame, rules: AlertRules) -> pd.DataFrame:
    b = rules.control_baseline_points
    k, n = _counts(g)
    center: float | None
    sigma: float | None
    center, sigma, se = binomial_baseline(k, n, baseline=b)
    if rules.control_chart == "p_chart":
        return p_chart(k, n, baseline=b, center_se=0.0 if np.isnan(se) else se, x=g["date"])
    vals = g["pass_rate"].to_numpy(dtype=float)
    if np.isnan(sigma):
        center, se = None, 0.0
        sigma = rules.control_sigma
    else:
        base = vals[:b][~np.isnan(vals[:b])]
        emp = float(base.std(ddof=1)) if base.size > 1 else 0.0
        sigma = float(rules.control_sigma) if rules.control_sigma else max(sigma, emp)
        # the centre's error includes the day-to-day variance (provider drift), not only the binomial one
        se = max(se, emp / np.sqrt(base.size)) if base.size > 1 else se
    assert rules.control_chart is not None  # control_chart_alerts returns early without a chart
    return CHARTS[rules.control_chart](
        vals, baseline=b, center=center, sigma=sigma, center_se=se, x=g["date"]
    )


def control_chart_alerts(scores: pd.DataFrame, rules: AlertRules) -> list[dict[str, Any]]:
    """Debounced out-of-control (low side) points of the configured chart on each pass-rate series."""
    if not rules.control_chart:
        return []
    out = []
    for key, g in _series(scores.dropna(subset=["pass_rate"]), SERIES_KEYS):
        if len(g) <= rules.control_baseline_points:
            continue
        ch = control_chart_for(g, rules)
        low = (ch["direction"] == "low").to_numpy().copy()
        low[: rules.control_baseline_points] = False
        fired = debounce(low, rules.debounce_k, rules.debounce_m) & low
        for i in np.flatnonzero(fired):
            r = ch.iloc[i]
            out.append(
                _alert(
                    "control_chart",
                    rules,
                    key | {"date": r["x"]},
                    float(r["value"]),
                    float(r["lcl"]),
                    f"{rules.control_chart} chart: {r['statistic']:.4g} below the lower control limit "
                    f"{r['lcl']:.4g} (centre {r['center']:.4g})",
                )
            )
    return out


def evaluate_alerts(
    scores: pd.DataFrame,
    ops: pd.DataFrame | None = None,
    rules: AlertRules | None = None,
    *,
    as_of: str | None = None,
) -> pd.DataFrame:
    """Run every rule over the history frames; returns :data:`ALERT_COLUMNS` rows.

    Args:
        scores: ``score_history`` rows (at least date, model_version, suite, eval_set, family, metric,
            segment, pass_rate, n_graded, n_passed, mean_value).
        ops: ``ops_history`` rows, or ``None``.
        rules: :class:`AlertRules` (defaults from the seeds).
        as_of: only alerts firing on this date (``'YYYY-MM-DD'``); ``None`` = every date.
    """
    rules = rules or AlertRules()
    rules.validate()
    if scores is None or scores.empty:
        out: list[dict[str, Any]] = []
    else:
        s = scores if rules.include_segments else scores[scores["segment"] == SEGMENT_ALL]
        s = s.assign(date=s["date"].astype(str))
        out = pass_rate_drop_alerts(s, rules) + dimension_alerts(s, rules) + control_chart_alerts(s, rules)
        if ops is not None:
            out += ops_alerts(ops.assign(date=ops["date"].astype(str)), s, rules)
    df = pd.DataFrame(out, columns=ALERT_COLUMNS)
    if as_of is not None:
        df = df[df["date"] == as_of]
    return df.sort_values(["date", "severity", "rule"]).reset_index(drop=True)


def worst_severity(alerts: pd.DataFrame) -> str | None:
    """``"ERROR"`` / ``"WARN"`` / ``None``: what an asset check should report."""
    if alerts is None or alerts.empty:
        return None
    return "ERROR" if (alerts["severity"] == "ERROR").any() else "WARN"
