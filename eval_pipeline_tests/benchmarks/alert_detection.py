"""Benchmark of the history alert rules: false alarms on quiet days and delay to detect a real drop.

In: ``seeds`` simulated histories per sample size n in (50, 200, 500). Each history is one golden
set of n samples with per-sample pass probabilities from :mod:`eval_pipeline_tests.support.simulate`
(Beta, mean 0.8, fresh Bernoulli draws every day: the realistic day-to-day noise of re-running the
same set) plus day-level provider drift (every sample's logit shifted by one ``Normal(0, drift_sd)``
draw per day, default 0.4: about 2 points SD of the true pass rate). Out: a dict (and a printed table next to the ideal: 0 false alarms, delay 1 day) with,
per rule and n,

* ``false_per_30d``: alert days per 30 quiet days (after a 7-day warm-up), mean over seeds;
* ``delay_days``: median detection delay (1 = the first day of the drop) of a sustained 5-point
  drop (every sample's pass probability shifted on the logit scale, see ``shift_probabilities``),
  over the seeds that detected it within ``horizon`` days, and ``detected`` = that share.

Rules are the REAL ones in :mod:`eval_pipeline.history.alerts`, run the way ``eval_history`` runs
them, with the default :class:`AlertRules` except the chart (``ewma`` is the default; ``shewhart``,
``cusum``, ``p_chart`` are the configurable alternatives). ``pass_rate_drop`` is the trend rule
(ERROR): it only looks back (trailing window, debounce), so one ``evaluate_alerts`` call over the
whole history gives exactly the alerts the daily runs would; the charts use the last
``control_window`` points, so they are run every day on the history up to that day
(``control_chart_alerts``, the alerts of that day only).

Headline key ``alert_false_per_30d_n50``: the WORST rule's false alarms per 30 quiet days at n = 50;
``alert_false_per_30d_n50_default``: the total of the rules on by default (trend + EWMA chart).

:func:`alert_false_per_30d_n50` is the small importable headline for ``benchmarks.detection``: false
alerts of the rules on by default (trend + EWMA) per 30 quiet days at n = 50 under that drift.

Run: ``python -m eval_pipeline_tests.benchmarks.alert_detection [--seeds N] [--drift-sd X]``; last line
``alert_detection key=value ...``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from eval_pipeline.history.alert_rules import AlertRules
from eval_pipeline.history.alerts import control_chart_alerts, evaluate_alerts
from eval_pipeline_tests.support import simulate as sim

NS = (50, 200, 500)
CHARTS = ("ewma", "shewhart", "cusum", "p_chart")
DEFAULT_RULES = ("pass_rate_drop", "control_chart:ewma")
WARMUP = 7
QUIET_DAYS = 30
HORIZON = 21
DROP = 0.05
DRIFT_SD = 0.4  # day-level provider drift, logit SD (issue 22 measured the gate at 0.1 / 0.2 / 0.4);
# on the realistic Beta(concentration 0.5) golden set this moves the true pass rate by about 2 points (SD) a day


def _frame(k: np.ndarray, n: int, start: str = "2024-01-01") -> pd.DataFrame:
    """score_history rows for a (seeds x days) matrix of passed counts; one series per seed."""
    seeds, days = k.shape
    dates = pd.date_range(start, periods=days, freq="D").strftime("%Y-%m-%d")
    return pd.DataFrame(
        {
            "date": np.tile(dates, seeds),
            "model_version": np.repeat([f"seed{s}" for s in range(seeds)], days),
            "suite": "sim",
            "eval_set": "golden",
            "family": "deterministic",
            "metric": "correct",
            "segment": "__all__",
            "n_rows": n,
            "n_graded": n,
            "n_passed": k.reshape(-1),
            "pass_rate": k.reshape(-1) / n,
            "mean_value": k.reshape(-1) / n,
            "std_value": np.nan,
            "n_infra_error": 0,
        }
    )


def _histories(
    n: int,
    seeds: int,
    days: int,
    drop_from: int | None,
    rng: np.random.Generator,
    concentration: float = 0.5,
    drift_sd: float = 0.0,
) -> np.ndarray:
    """Passed counts, shape (seeds, days); from day index ``drop_from`` on, the 5-point-worse model.

    ``drift_sd``: day-level drift of the provider, every sample's logit shifted by the same
    ``Normal(0, drift_sd)`` draw each day (independent across days; 0 = no drift)."""
    from scipy.special import expit, logit

    out = np.zeros((seeds, days), dtype=float)
    for s in range(seeds):
        p = sim.sample_pass_probabilities(n, concentration=concentration, rng=rng)
        q = sim.shift_probabilities(p, -DROP) if drop_from is not None else p
        for d in range(days):
            probs = q if drop_from is not None and d >= drop_from else p
            if drift_sd:
                probs = expit(logit(np.clip(probs, 1e-6, 1 - 1e-6)) + rng.normal(0.0, drift_sd))
            out[s, d] = sim.draw_outcomes(probs, 1, rng).sum()
    return out


COLS = ["rule", "date", "model_version"]


def _trend_alerts(hist: pd.DataFrame, days: list[str]) -> pd.DataFrame:
    """Trend-rule alerts on ``days`` (causal rule: one call over the whole history)."""
    a = evaluate_alerts(hist, rules=AlertRules(control_chart=None))
    return a[a["date"].isin(days)][COLS]


def _daily_chart_alerts(hist: pd.DataFrame, days: list[str], rules: AlertRules) -> pd.DataFrame:
    """Chart alerts as eval_history sees them: each day, the history up to it, alerts of that day only."""
    out = []
    for d in days:
        a = pd.DataFrame(control_chart_alerts(hist[hist["date"] <= d], rules))
        if len(a):
            out.append(a[a["date"] == d][COLS])
    return pd.concat(out) if out else pd.DataFrame(columns=COLS)


def _rule_name(rule: str, chart: str) -> str:
    return f"control_chart:{chart}" if rule == "control_chart" else rule


def run_alert_benchmark(
    seeds: int = 40,
    ns=NS,
    seed: int = 0,
    verbose: bool = True,
    concentration: float = 0.5,
    drift_sd: float = DRIFT_SD,
) -> dict:
    """False alarms per 30 quiet days and detection delay of a sustained 5-point drop, per rule and n.

    ``concentration`` of the per-sample Beta (0.5: realistic golden set, day-to-day variance about a
    third of binomial; 1e4: every sample at 0.8, i.e. binomial noise, the worst case for the rules).

    Returns ``{"rows": [...], "alert_false_per_30d_n50": worst rule at n=50,
    "alert_false_per_30d_n50_default": trend + EWMA at n=50, "alert_false_per_30d_n<n>_<rule>": ...,
    "alert_delay_n<n>_<rule>": ..., "seconds": ...}``.
    """
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    rows = []
    for n in ns:
        quiet = _frame(_histories(n, seeds, WARMUP + QUIET_DAYS, None, rng, concentration, drift_sd), n)
        drop = _frame(_histories(n, seeds, WARMUP + HORIZON, WARMUP, rng, concentration, drift_sd), n)
        quiet_days = sorted(quiet["date"].unique())[WARMUP:]
        drop_days = sorted(drop["date"].unique())[WARMUP:]
        day_index = {d: i + 1 for i, d in enumerate(drop_days)}
        per_rule: dict[str, dict] = {}
        runs = [("pass_rate_drop", _trend_alerts(quiet, quiet_days), _trend_alerts(drop, drop_days))]
        for chart in CHARTS:
            rules = AlertRules(control_chart=chart)
            runs.append(
                (
                    _rule_name("control_chart", chart),
                    _daily_chart_alerts(quiet, quiet_days, rules),
                    _daily_chart_alerts(drop, drop_days, rules),
                )
            )
        for name, fa, de in runs:
            f = fa.drop_duplicates(["date", "model_version"])
            first = de.groupby("model_version")["date"].min().map(day_index)
            per_rule[name] = {
                "rule": name,
                "n": n,
                "seeds": seeds,
                "false_per_30d": len(f) / seeds * 30 / QUIET_DAYS,
                "share_30d_with_false_alarm": f["model_version"].nunique() / seeds,
                "detected": len(first) / seeds,
                "delay_days": float(first.median()) if len(first) else float("nan"),
            }
        rows.extend(per_rule.values())
    df = pd.DataFrame(rows)
    out: dict = {"rows": df.to_dict("records"), "seconds": round(time.perf_counter() - t0, 1)}
    for r in rows:
        tag = r["rule"].replace("control_chart:", "")
        out[f"alert_false_per_30d_n{r['n']}_{tag}"] = round(r["false_per_30d"], 3)
        out[f"alert_delay_n{r['n']}_{tag}"] = r["delay_days"]
    at50 = df[df["n"] == min(ns)]
    out["alert_false_per_30d_n50"] = round(float(at50["false_per_30d"].max()), 3)
    out["alert_false_per_30d_n50_worst_rule"] = str(at50.loc[at50["false_per_30d"].idxmax(), "rule"])
    out["alert_false_per_30d_n50_default"] = round(
        float(at50[at50["rule"].isin(DEFAULT_RULES)]["false_per_30d"].sum()), 3
    )
    if verbose:
        print(
            f"Alert rules on simulated daily histories ({seeds} seeds per n; golden set re-run daily, mean 0.8, "
            f"Beta concentration {concentration:g}; day-level drift logit SD {drift_sd:g}; "
            f"{QUIET_DAYS} quiet days after {WARMUP} warm-up; drop = {DROP * 100:.0f} points sustained, "
            f"horizon {HORIZON} days)"
        )
        show = df.assign(ideal_false=0.0, ideal_delay=1.0)[
            [
                "rule",
                "n",
                "false_per_30d",
                "ideal_false",
                "share_30d_with_false_alarm",
                "delay_days",
                "ideal_delay",
                "detected",
            ]
        ]
        print(show.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
        print(
            f"worst rule at n=50: {out['alert_false_per_30d_n50_worst_rule']} "
            f"({out['alert_false_per_30d_n50']} false alarms / 30 days); default rules (trend + ewma) total "
            f"{out['alert_false_per_30d_n50_default']}; {out['seconds']} s"
        )
    return out


def false_alerts_per_30d(
    n: int = 50,
    seeds: int = 40,
    seed: int = 0,
    drift_sd: float = DRIFT_SD,
    concentration: float = 0.5,
) -> dict:
    """False quality alerts per 30 quiet days at ``n`` under day-level drift, for the rules on by default.

    The same model every day (a 7-day warm-up, then 30 quiet days), every sample's logit shifted by a
    fresh ``Normal(0, drift_sd)`` each day. Rules: the real ``evaluate_alerts`` with the default
    :class:`AlertRules` (trend rule, ERROR, and EWMA chart, WARN), each run as ``eval_history`` runs it.
    Returns ``{"per_30d": trend + chart, "trend": ..., "chart": ..., "ci95": (lo, hi) of per_30d,
    "seeds": ..., "n": ...}``; the interval is a Poisson (exact, scipy chi2) interval on the count.
    """
    from scipy.stats import chi2

    rng = np.random.default_rng(seed)
    quiet = _frame(_histories(n, seeds, WARMUP + QUIET_DAYS, None, rng, concentration, drift_sd), n)
    days = sorted(quiet["date"].unique())[WARMUP:]
    trend = _trend_alerts(quiet, days).drop_duplicates(["date", "model_version"])
    chart = _daily_chart_alerts(quiet, days, AlertRules()).drop_duplicates(["date", "model_version"])
    count = len(trend) + len(chart)
    scale = 30 / QUIET_DAYS / seeds
    lo = chi2.ppf(0.025, 2 * count) / 2 if count else 0.0
    hi = chi2.ppf(0.975, 2 * count + 2) / 2
    return {
        "n": n,
        "seeds": seeds,
        "drift_sd": drift_sd,
        "per_30d": count * scale,
        "trend": len(trend) * scale,
        "chart": len(chart) * scale,
        "ci95": (lo * scale, hi * scale),
    }


def alert_false_per_30d_n50(seeds: int = 40, seed: int = 0, drift_sd: float = DRIFT_SD) -> float:
    """The headline figure for ``benchmarks.detection``: false quality alerts (default rules: trend +
    EWMA chart) per 30 quiet days at n = 50 under day-level drift of logit SD ``drift_sd``
    (:func:`false_alerts_per_30d`)."""
    return round(false_alerts_per_30d(50, seeds=seeds, seed=seed, drift_sd=drift_sd)["per_30d"], 3)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=40)
    ap.add_argument(
        "--concentration",
        type=float,
        default=0.5,
        help="per-sample Beta concentration (0.5 realistic; 1e4 = binomial noise)",
    )
    ap.add_argument("--drift-sd", type=float, default=DRIFT_SD, help="day-level drift, logit SD (0 = none)")
    args = ap.parse_args(argv)
    res = run_alert_benchmark(seeds=args.seeds, concentration=args.concentration, drift_sd=args.drift_sd)
    keys = ["alert_false_per_30d_n50", "alert_false_per_30d_n50_default"] + [
        f"alert_{m}_n{n}_{r}"
        for m in ("false_per_30d", "delay")
        for n in NS
        for r in ("pass_rate_drop", *CHARTS)
    ]
    print(
        "alert_detection "
        + " ".join(f"{k}={res[k]}" for k in keys if k in res)
        + f" worst_rule_n50={res['alert_false_per_30d_n50_worst_rule']}"
    )
    return res


if __name__ == "__main__":
    main()
