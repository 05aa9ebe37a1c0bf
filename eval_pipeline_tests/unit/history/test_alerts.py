"""Alert rules and control charts on constructed series; A/A noise floor."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from eval_pipeline.history.alert_rules import AlertRules
from eval_pipeline.history.alerts import evaluate_alerts, worst_severity
from eval_pipeline.history.control_charts import cusum_chart, debounce, ewma_chart, p_chart, shewhart_chart
from eval_pipeline.noise.aa_noise import aa_noise_floor, check_thresholds
from eval_pipeline_tests.support import simulate as sim


def _history(pass_rates, *, metric="correct", mean_values=None, start="2024-01-01", n=500, mv="v1"):
    dates = pd.date_range(start, periods=len(pass_rates), freq="D").strftime("%Y-%m-%d")
    pr = np.asarray(pass_rates, float)
    return pd.DataFrame(
        {
            "date": dates,
            "model_version": mv,
            "suite": "s",
            "eval_set": "e",
            "family": "deterministic",
            "metric": metric,
            "segment": "__all__",
            "n_rows": n,
            "n_graded": n,
            "n_passed": np.round(pr * n),
            "pass_rate": pr,
            "mean_value": pr if mean_values is None else np.asarray(mean_values, float),
            "std_value": 0.1,
            "n_infra_error": 0,
        }
    )


NO_CHART = AlertRules(control_chart=None)


def test_pass_rate_drop_fires_on_sustained_drift_not_on_noise_or_a_single_dip():
    rng = np.random.default_rng(0)
    noise = 0.80 + rng.normal(0, 0.008, 30)
    assert evaluate_alerts(_history(noise), rules=NO_CHART).empty
    drift = noise.copy()
    drift[20:] -= 0.06
    alerts = evaluate_alerts(_history(drift), rules=NO_CHART)
    assert set(alerts["rule"]) == {"pass_rate_drop"}
    # earliest possible is the second breached day (2 of the last 3); the evidence test may need one more
    assert alerts["date"].min() in ("2024-01-22", "2024-01-23")
    assert worst_severity(alerts) == "ERROR"
    dip = noise.copy()
    dip[20] -= 0.08  # one bad day, then back to normal: debounced away
    assert evaluate_alerts(_history(dip), rules=NO_CHART).empty
    assert not evaluate_alerts(_history(dip), rules=AlertRules(control_chart=None, debounce_k=1)).empty


def test_dimension_below_threshold_needs_consecutive_days():
    vals = [4.0, 4.1, 3.2, 4.0, 3.1, 3.0, 4.2]
    rules = AlertRules.from_dict(
        {"dimension_thresholds": {"helpfulness": 3.5}, "control_chart": None, "pass_rate_drop": 0.5}
    )
    alerts = evaluate_alerts(_history(np.full(7, 0.9), metric="helpfulness", mean_values=vals), rules=rules)
    assert list(alerts["date"]) == ["2024-01-06"]
    assert alerts.iloc[0]["rule"] == "dimension_below_threshold"
    gap = _history(np.full(7, 0.9), metric="helpfulness", mean_values=vals)
    gap = gap.drop(index=5)  # day 6 missing: 01-05 and 01-07 are not consecutive
    gap.loc[6, "mean_value"] = 3.0
    assert evaluate_alerts(gap, rules=rules).empty


def test_dimension_below_threshold_needs_evidence_not_a_point_estimate():
    """n=20 judge scores with SD 1.0: a mean of 3.3 two days running is below 3.5 as a point estimate, but its
    upper bound (3.3 + 1.73 * 1.0 / sqrt(20) = 3.69) is not: no alert (before: alerted on the point estimate).
    At n=500 the same means are evidence (bound 3.37) and alert, stating the bound and n."""
    rules = AlertRules.from_dict(
        {"dimension_thresholds": {"helpfulness": 3.5}, "control_chart": None, "pass_rate_drop": 0.5}
    )
    vals = [4.0, 4.1, 3.3, 3.3, 4.0]
    small = _history(np.full(5, 0.9), metric="helpfulness", mean_values=vals, n=20).assign(std_value=1.0)
    assert evaluate_alerts(small, rules=rules).empty
    big = _history(np.full(5, 0.9), metric="helpfulness", mean_values=vals, n=500).assign(std_value=1.0)
    alerts = evaluate_alerts(big, rules=rules)
    assert list(alerts["date"]) == ["2024-01-04"] and alerts.iloc[0]["n"] == 500
    assert alerts.iloc[0]["ci_high"] == pytest.approx(3.3 + 1.6479 / np.sqrt(500), abs=1e-3)
    assert "upper bound" in alerts.iloc[0]["message"]


def _ops(lat, cost, mv="v1"):
    dates = pd.date_range("2024-01-01", periods=len(lat), freq="D").strftime("%Y-%m-%d")
    return pd.DataFrame(
        {
            "date": dates,
            "model_version": mv,
            "suite": "s",
            "eval_set": "e",
            "latency_p95": lat,
            "cost_per_sample": cost,
        }
    )


def test_latency_rule_respects_quality_gain_and_cost_rule_fires():
    lat = np.r_[np.full(10, 2.0), np.full(3, 2.6)]
    cost = np.r_[np.full(10, 0.010), np.full(3, 0.014)]
    flat = _history(np.full(13, 0.8))
    alerts = evaluate_alerts(flat, _ops(lat, cost), rules=NO_CHART)
    assert set(alerts["rule"]) == {"latency_p95_increase", "cost_increase"}
    assert worst_severity(alerts) == "WARN"
    better = _history(np.r_[np.full(10, 0.8), np.full(3, 0.85)])
    alerts2 = evaluate_alerts(better, _ops(lat, np.full(13, 0.01)), rules=NO_CHART)
    assert alerts2.empty  # slower, but 5 points better: no latency alert


def test_control_charts_flag_what_they_should():
    rng = np.random.default_rng(1)
    base = 0.8 + rng.normal(0, 0.01, 20)
    jump = base.copy()
    jump[15] = 0.70
    sh = shewhart_chart(jump, baseline=10)
    assert list(np.flatnonzero(sh["out_of_control"])) == [15] and sh.loc[15, "direction"] == "low"
    assert sh.loc[0, "ucl"] == pytest.approx(base[:10].mean() + 3 * base[:10].std(ddof=1))
    slow = base - np.r_[np.zeros(10), np.linspace(0, 0.03, 10)]
    assert ewma_chart(slow, baseline=10)["out_of_control"].iloc[10:].any()
    assert cusum_chart(slow, baseline=10)["out_of_control"].iloc[10:].any()
    assert not ewma_chart(base, baseline=10)["out_of_control"].any()
    pc = p_chart([80, 82, 60], [100, 100, 100], baseline=2)
    assert pc["center"].iloc[0] == pytest.approx(0.81)
    assert pc["lcl"].iloc[0] == pytest.approx(0.81 - 3 * np.sqrt(0.81 * 0.19 / 100))
    assert list(pc["out_of_control"]) == [False, False, True]


def test_debounce_k_of_m():
    f = [1, 0, 0, 1, 1, 0, 1, 0, 0, 0]
    assert list(debounce(f, 2, 3)) == [False, False, False, False, True, True, True, False, False, False]
    with pytest.raises(ValueError):
        debounce(f, 4, 3)


def test_control_chart_rule_in_evaluate_alerts():
    rng = np.random.default_rng(2)
    pr = 0.8 + rng.normal(0, 0.005, 25)
    pr[15:] -= np.linspace(0.01, 0.025, 10)  # slow drift, never 3 points below the trailing average
    rules = AlertRules(control_chart="ewma", pass_rate_drop=0.05)
    # day-to-day noise sd 0.005 is the binomial sd of n = 5000 samples; at n = 500 (binomial sd 0.018)
    # the same 2.5-point drift is within noise and the binomial-sigma chart rightly stays quiet
    alerts = evaluate_alerts(_history(pr, n=5000), rules=rules)
    assert set(alerts["rule"]) == {"control_chart"} and alerts["date"].min() > "2024-01-15"
    assert evaluate_alerts(_history(pr, n=5000), rules=rules, as_of="2024-01-25")["date"].tolist() == [
        "2024-01-25"
    ]
    assert evaluate_alerts(_history(pr, n=500), rules=rules).empty


def test_aa_noise_floor_and_threshold_check():
    rng = np.random.default_rng(4)
    p = sim.sample_pass_probabilities(1000, rng=rng)
    a = sim.score_frame(sim.draw_outcomes(p, 1, rng))
    b = sim.score_frame(sim.draw_outcomes(p, 1, rng))
    nf = aa_noise_floor(a, b).iloc[0]
    pa = a["passed"].to_numpy()
    pb = b["passed"].to_numpy()
    assert nf["disagreement_rate"] == pytest.approx(np.mean(pa != pb))
    assert nf["observed_diff"] == pytest.approx(pb.mean() - pa.mean())
    nd = int(np.sum(pa != pb))
    assert nf["diff_q95"] == pytest.approx((2 * stats.binom.ppf(0.975, nd, 0.5) - nd) / 1000)
    assert abs(nf["disagreement_rate"] - sim.expected_disagreement(p)) < 0.03
    chk = check_thresholds(aa_noise_floor(a, b), {"tiny": 0.005, "ok": 0.2})
    assert list(chk["clears_noise"]) == [False, True]
    assert "raise the threshold" in chk.iloc[0]["message"]


def test_alert_config_errors_name_the_key():
    with pytest.raises(ValueError, match=r"alerts\.dimension_thresholds\.tone"):
        AlertRules.from_dict({"dimension_thresholds": {"tone": "high"}})
    with pytest.raises(ValueError, match=r"alerts\.control_chart"):
        AlertRules.from_dict({"control_chart": "xbar"})
    assert evaluate_alerts(pd.DataFrame()).empty


@pytest.mark.parametrize("chart", ["ewma", "shewhart", "cusum", "p_chart"])
def test_control_chart_never_has_zero_width_limits_after_perfect_days(chart):
    # seven perfect days at n = 50, one dip to 0.98 (49/50), then perfect again: pure noise
    pr = np.r_[np.ones(7), 0.98, 1.0, 1.0, 1.0]
    rules = AlertRules(control_chart=chart, pass_rate_drop=0.5)
    assert evaluate_alerts(_history(pr, n=50), rules=rules).empty
    from eval_pipeline.history.alerts import control_chart_for

    ch = control_chart_for(_history(pr, n=50), rules)
    assert (ch["center"] - ch["lcl"] > 0).all() if chart != "cusum" else (ch["lcl"] < 0).all()
    # a real drop after the same perfect baseline still fires
    drop = np.r_[np.ones(7), np.full(4, 0.80)]
    assert set(evaluate_alerts(_history(drop, n=50), rules=rules)["rule"]) == {"control_chart"}


def test_pass_rate_drop_needs_evidence_not_just_three_points():
    # 7 days at 40/50, then two days at 37/50: 6 points below the trailing mean, but at n = 50 that is
    # one binomial sd (one-sided p ~ 0.16): noise. The old rule raised an ERROR on both days.
    pr = np.r_[np.full(7, 0.80), 0.74, 0.74]
    assert evaluate_alerts(_history(pr, n=50), rules=NO_CHART).empty
    # the same 6-point drop at n = 2000 is evidence; so is a 20-point drop at n = 50
    big = evaluate_alerts(_history(pr, n=2000), rules=NO_CHART)
    assert list(big["rule"]) == ["pass_rate_drop"] and big.iloc[0]["n"] == 2000
    assert big.iloc[0]["p_value"] < 0.05 and big.iloc[0]["ci_high"] < 0.80
    assert "score test p=" in big.iloc[0]["message"] and "n=2000" in big.iloc[0]["message"]
    assert len(evaluate_alerts(_history(np.r_[np.full(7, 0.80), 0.60, 0.60], n=50), rules=NO_CHART)) == 1
    # effect size still required: significant but smaller than 3 points does not fire
    small = np.r_[np.full(7, 0.80), 0.78, 0.78]
    assert evaluate_alerts(_history(small, n=100_000), rules=NO_CHART).empty


def test_latency_is_excused_only_by_an_evidenced_quality_gain():
    lat = np.r_[np.full(10, 2.0), np.full(3, 2.6)]
    ops = _ops(lat, np.full(13, 0.01)).assign(n_responses=50, n_infra_error=0)
    # +2 points at n = 50 is noise: it no longer excuses a 30 % slower p95 (the old rule took any >= 1 pt)
    noisy_gain = _history(np.r_[np.full(10, 0.80), np.full(3, 0.82)], n=50)
    alerts = evaluate_alerts(noisy_gain, ops, rules=NO_CHART)
    assert set(alerts["rule"]) == {"latency_p95_increase"}
    assert "score test p=" in alerts.iloc[0]["message"] and alerts.iloc[0]["n"] == 50
    # a 10-point gain at n = 500 is evidence: excused
    real_gain = _history(np.r_[np.full(10, 0.80), np.full(3, 0.90)], n=500)
    assert evaluate_alerts(real_gain, ops, rules=NO_CHART).empty


def test_alert_benchmark_runs_the_real_rules_and_reports_the_headline_key():
    from eval_pipeline_tests.benchmarks.alert_detection import run_alert_benchmark

    res = run_alert_benchmark(seeds=3, ns=(50,), verbose=False)
    rules = {r["rule"] for r in res["rows"]}
    assert rules == {
        "pass_rate_drop",
        "control_chart:ewma",
        "control_chart:shewhart",
        "control_chart:cusum",
        "control_chart:p_chart",
    }
    assert res["alert_false_per_30d_n50"] == max(r["false_per_30d"] for r in res["rows"])
    assert all(0 <= r["detected"] <= 1 for r in res["rows"])
