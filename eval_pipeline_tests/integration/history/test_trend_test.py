"""Trend rule under day-to-day variance (issue 22 item 7): the pass-rate drop alert accounts for the
trailing days' day-to-day variance (provider drift), and its description comes from the config defaults."""

from __future__ import annotations

import numpy as np
import pandas as pd

from eval_pipeline.history.alert_rules import AlertRules
from eval_pipeline.history.alerts import evaluate_alerts

NO_CHART = AlertRules(control_chart=None)


def _history(pass_rates, n):
    pr = np.asarray(pass_rates, float)
    return pd.DataFrame(
        {
            "date": pd.date_range("2024-01-01", periods=len(pr), freq="D").strftime("%Y-%m-%d"),
            "model_version": "v1",
            "suite": "s",
            "eval_set": "e",
            "family": "deterministic",
            "metric": "correct",
            "segment": "__all__",
            "n_rows": n,
            "n_graded": n,
            "n_passed": np.round(pr * n),
            "pass_rate": pr,
            "mean_value": pr,
            "std_value": np.nan,
            "n_infra_error": 0,
        }
    )


def test_a_day_inside_the_day_to_day_spread_is_not_a_drop():
    # The provider drifts: the trailing days vary by ~3 points (SD), far more than binomial at n = 2000
    # (0.9 points). Two days 4.5 points below the trailing mean are within that spread (prediction
    # t = -1.4, p ~ 0.1); the pooled score test alone (p < 1e-5) called it a drop. Main alerted here.
    pr = np.r_[0.78, 0.83, 0.76, 0.84, 0.80, 0.77, 0.82, 0.755, 0.755]
    assert evaluate_alerts(_history(pr, 2000), rules=NO_CHART).empty
    # a drop well outside the spread still fires, and the message names both tests
    out = evaluate_alerts(_history(np.r_[pr[:7], 0.66, 0.66], 2000), rules=NO_CHART)
    assert list(out["rule"]) == ["pass_rate_drop"]
    assert "prediction test p=" in out.iloc[0]["message"] and "score test p=" in out.iloc[0]["message"]


def test_prediction_p_is_uniform_for_exchangeable_normal_days():
    from eval_pipeline.history.trend_test import prediction_p

    rng = np.random.default_rng(1)
    dates = pd.date_range("2024-01-01", periods=8, freq="D")
    p = np.array([prediction_p(dates, rng.normal(0.8, 0.03, 8), days=7)[-1] for _ in range(4000)])
    assert abs(np.mean(p < 0.05) - 0.05) < 0.012  # exact t prediction interval: level 5 %


def test_quality_alerts_description_comes_from_the_rules():
    from eval_pipeline.defs.history.assets import quality_alerts
    from eval_pipeline.history.alert_rules import quality_alerts_description

    text = quality_alerts_description(AlertRules(pass_rate_drop=0.05, trailing_days=14, trend_alpha=0.01))
    assert "> 5 points" in text and "14-day" in text and "p < 0.01" in text
    spec = next(iter(quality_alerts.check_specs))
    assert spec.description == quality_alerts_description()


def test_headline_false_alert_function_drives_the_real_rules():
    from eval_pipeline_tests.benchmarks.alert_detection import alert_false_per_30d_n50, false_alerts_per_30d

    res = false_alerts_per_30d(50, seeds=2, drift_sd=0.4)
    assert (
        res["per_30d"] == res["trend"] + res["chart"] and res["ci95"][0] <= res["per_30d"] <= res["ci95"][1]
    )
    assert isinstance(alert_false_per_30d_n50(seeds=2), float)
