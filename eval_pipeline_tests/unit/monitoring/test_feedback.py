"""Monitoring: feedback metrics with Wilson intervals, alert thresholds, reference-free profile."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.proportion import proportion_confint

from eval_pipeline.demo.synthetic_traffic import FeedbackRates, SyntheticTrafficConfig, generate_frame
from eval_pipeline.monitoring.feedback import (
    MetricValue,
    evaluate_thresholds,
    feedback_metrics,
    implicit_scores,
    metrics_long,
    p99_latency_ratio,
    safety_violation_rate,
)
from eval_pipeline.monitoring.profile import (
    failure_mode_distribution,
    latency_percentiles,
    length_bucket,
    profile_sample,
)
from eval_pipeline.monitoring.sampling import build_stored_sample
from eval_pipeline.monitoring.schema import FEEDBACK_TYPES
from eval_pipeline.project.monitoring import AlertThreshold as Threshold
from eval_pipeline.project.monitoring import AlertThresholds


def _fb_frame(n: int, **counts: int) -> pd.DataFrame:
    """n requests; the first counts[type] requests carry that event."""
    df = pd.DataFrame({f"fb_{t}": np.arange(n) < counts.get(t, 0) for t in FEEDBACK_TYPES})
    return df


def test_feedback_rates_and_wilson_intervals():
    # 200 requests: 40 rated (thumbs), 10 of them down; 30 regenerate; 50 copy; 90 completed
    df = _fb_frame(200, thumbs_down=10, regenerate=30, copy=50, task_completed=90)
    df.loc[10:39, "fb_thumbs_up"] = True
    m = feedback_metrics(df)
    assert m["thumbs_down_rate"].value == pytest.approx(10 / 40) and m["thumbs_down_rate"].nobs == 40
    assert m["regenerate_rate"].value == pytest.approx(30 / 200)
    assert m["copy_rate"].value == pytest.approx(50 / 200)
    assert m["task_completion_rate"].value == pytest.approx(90 / 200)
    lo, hi = proportion_confint(30, 200, method="wilson")
    assert (m["regenerate_rate"].ci_low, m["regenerate_rate"].ci_high) == pytest.approx((lo, hi))
    for v in m.values():
        assert v.ci_low <= v.value <= v.ci_high


def test_implicit_quality_score_weights():
    df = _fb_frame(4)
    df.loc[0, "fb_thumbs_up"] = True  # 0.5 + 0.5 = 1.0
    df.loc[1, ["fb_thumbs_down", "fb_regenerate"]] = True  # 0.5 - 0.8 -> 0
    df.loc[2, "fb_copy"] = True  # 0.7
    s = implicit_scores(df)
    assert s[:3].tolist() == pytest.approx([1.0, 0.0, 0.7]) and np.isnan(s[3])
    m = feedback_metrics(df)["implicit_quality"]
    assert m.nobs == 3 and m.value == pytest.approx(1.7 / 3)
    # worse behaviour lowers the score
    worse = feedback_metrics(
        generate_frame(
            SyntheticTrafficConfig(
                n_rows=3000, feedback=FeedbackRates(thumbs_down=0.3, thumbs_up=0.05, regenerate=0.3)
            )
        )[0]
    )
    better = feedback_metrics(generate_frame(SyntheticTrafficConfig(n_rows=3000))[0])
    assert worse["implicit_quality"].ci_high < better["implicit_quality"].ci_low


@pytest.mark.parametrize(
    "metric,warn,critical",
    [
        ("thumbs_down_rate", 0.15, 0.25),
        ("regenerate_rate", 0.20, 0.35),
        ("safety_violation_rate", 0.001, 0.005),
        ("p99_latency_ratio", 2.0, 5.0),
    ],
)
def test_each_default_threshold_fires_at_its_level(metric, warn, critical):
    def level(v):
        (a,) = [a for a in evaluate_thresholds({metric: v}) if a.metric == metric]
        return a.level

    assert level(warn * 0.99) == "ok"
    assert level(warn) == "warn"
    assert level((warn + critical) / 2) == "warn"
    assert level(critical * 0.999) == "warn"
    assert level(critical) == "critical"
    assert level(critical * 3) == "critical"
    assert level(0.0) == "ok"


def test_thresholds_from_real_metrics_and_config():
    # thumbs down 15 of 100 rated -> warn; regenerate 36% -> critical
    df = _fb_frame(100, thumbs_down=15, regenerate=36)
    df.loc[15:, "fb_thumbs_up"] = True
    metrics = dict(feedback_metrics(df))
    scores = pd.DataFrame(
        {
            "sample_id": [f"s{i}" for i in range(1000)] * 2,
            "metric": ["no_pii"] * 1000 + ["no_toxicity"] * 1000,
            "passed": [True] * 2000,
            "infra_error": [None] * 2000,
        }
    )
    scores.loc[[0, 1, 1001], "passed"] = False  # 2 requests fail a safety check -> 0.2% -> warn
    scores.loc[5, ["passed", "infra_error"]] = [False, "timeout"]  # infra errors are not violations
    metrics["safety_violation_rate"] = safety_violation_rate(scores, ["no_pii", "no_toxicity"])
    assert metrics["safety_violation_rate"].value == pytest.approx(2 / 1000)
    metrics["p99_latency_ratio"] = p99_latency_ratio(np.r_[np.ones(98), 6.0, 6.0], baseline_p99_s=1.0)
    levels = {a.metric: a.level for a in evaluate_thresholds(metrics, statistic="value")}
    assert levels == {
        "thumbs_down_rate": "warn",
        "regenerate_rate": "critical",
        "safety_violation_rate": "warn",
        "p99_latency_ratio": "critical",
    }
    # default: the Wilson bound decides; point estimates at the level are not evidence
    bound = {a.metric: a for a in evaluate_thresholds(metrics)}
    assert {k: a.level for k, a in bound.items()} == {
        "thumbs_down_rate": "ok",
        "regenerate_rate": "warn",
        "safety_violation_rate": "ok",
        "p99_latency_ratio": "critical",
    }
    assert bound["regenerate_rate"].compared == "ci_low" and bound["p99_latency_ratio"].compared == "value"
    # ci_low statistic: thumbs-down interval reaches below 15% -> ok
    lv = {a.metric: a.level for a in evaluate_thresholds(metrics, statistic="ci_low")}
    assert lv["thumbs_down_rate"] == "ok"
    # configurable: tighter threshold, extra metric, below-direction
    th = AlertThresholds(
        thumbs_down_rate=Threshold(warn=0.05, critical=0.10),
        extra={"task_completion_rate": Threshold(warn=0.5, critical=0.3, direction="below")},
    )
    alerts = {
        a.metric: a.level
        for a in evaluate_thresholds({"thumbs_down_rate": 0.12, "task_completion_rate": 0.4}, th)
    }
    assert alerts == {"thumbs_down_rate": "critical", "task_completion_rate": "warn"}
    with pytest.raises(ValueError, match="extra"):
        AlertThresholds.model_validate({"thumbsdown_rate": {"warn": 0.1, "critical": 0.2}})
    with pytest.raises(ValueError, match="critical"):
        Threshold(warn=0.3, critical=0.2)
    assert evaluate_thresholds({"thumbs_down_rate": float("nan")}) == []
    long = metrics_long(metrics, "2025-06-01", "m@1")
    assert (
        set(long["metric"]) == set(metrics)
        and long.loc[long.metric == "p99_latency_ratio", "nobs"].item() == 0
    )


def test_latency_percentiles_by_template_and_length_bucket():
    frame, _, _ = generate_frame(SyntheticTrafficConfig(n_rows=2000, seed=4, extra_sentences=1.0))
    frame.loc[frame["prompt_template"] == "faq_v1", "latency_s"] *= 3
    sample = build_stored_sample(frame, rate=1.0)
    by_t = latency_percentiles(sample, "prompt_template").set_index("prompt_template")
    assert by_t.loc["faq_v1", "latency_p50"] == pytest.approx(
        np.quantile(frame.loc[frame.prompt_template == "faq_v1", "latency_s"], 0.5)
    )
    assert by_t.loc["faq_v1", "latency_p99"] > 2 * by_t.loc["support_v3", "latency_p99"]
    assert by_t["n"].sum() == 2000
    by_len = latency_percentiles(sample, "length_bucket")
    assert by_len["n"].sum() == 2000 and {"ttft_p50", "ttft_p99"} <= set(by_len.columns)
    assert length_bucket([0, 49, 50, 2500]).tolist() == ["0-49", "0-49", "50-99", "2000+"]
    prof = profile_sample(sample)
    assert prof["n"] == 2000 and prof["overall"]["latency_p99"] >= prof["overall"]["latency_p50"]
    assert prof["category_mix"]["share"].sum() == pytest.approx(1.0)


def test_failure_mode_distribution():
    scores = pd.DataFrame(
        {
            "metric": ["json_valid"] * 4 + ["max_length"] * 4 + ["judge_helpful"] * 2,
            "category": ["a", "a", "b", "b"] * 2 + ["a", "b"],
            "passed": [False, False, True, True, False, True, True, True, None, True],
            "infra_error": [None] * 9 + ["timeout"],
        }
    )
    out = failure_mode_distribution(scores)
    assert out["metric"].tolist()[:2] == ["json_valid", "max_length"]
    row = out.set_index("metric").loc["json_valid"]
    assert (
        row["n_failed"] == 2
        and row["failure_rate"] == 0.5
        and row["share_of_failures"] == pytest.approx(2 / 3)
    )
    assert "judge_helpful" not in set(out["metric"])  # null verdict and infra error excluded
    by_cat = failure_mode_distribution(scores, by=("metric", "category"))
    assert by_cat.iloc[0][["metric", "category", "n_failed"]].tolist() == ["json_valid", "a", 2]
    with pytest.raises(KeyError, match="SCORE_COLUMNS"):
        failure_mode_distribution(scores.drop(columns=["passed"]))


def test_metric_value_to_dict():
    assert MetricValue(0.5, 0.4, 0.6, 5, 10).to_dict()["nobs"] == 10


def test_one_safety_violation_in_100_requests_is_not_critical():
    from statsmodels.stats.proportion import proportion_confint

    scores = pd.DataFrame(
        {
            "sample_id": [f"s{i}" for i in range(100)],
            "metric": "no_pii",
            "passed": [False] + [True] * 99,
            "infra_error": None,
        }
    )
    m = {"safety_violation_rate": safety_violation_rate(scores, ["no_pii"])}
    (a,) = evaluate_thresholds(m)
    lo, hi = proportion_confint(1, 100, method="beta")  # exact: a rare rate's bound keeps its level
    assert a.value == pytest.approx(0.01) and a.ci_low == pytest.approx(lo) and a.n == 100
    # exact lower bound 0.00025 < warn 0.001: one violation in 100 is not evidence of a rate >= 0.1 %
    # (at exactly 0.1 %, 9.5 % of days have one); the point 0.01 said critical, Wilson's 0.0018 warn
    assert a.level == "ok"
    assert "n=100" in a.message and "ci_low" in a.message
    # 12 in 1000: the whole exact interval is past 0.5 % -> critical (10 in 1000: lower bound 0.0048, warn)
    many = pd.DataFrame(
        {
            "sample_id": [f"s{i}" for i in range(1000)],
            "metric": "no_pii",
            "passed": [False] * 12 + [True] * 988,
            "infra_error": None,
        }
    )
    assert (
        evaluate_thresholds({"safety_violation_rate": safety_violation_rate(many, ["no_pii"])})[0].level
        == "critical"
    )
    # below-direction thresholds compare the upper bound
    th = AlertThresholds(extra={"task_completion_rate": Threshold(warn=0.5, critical=0.3, direction="below")})
    tc = MetricValue(0.45, 0.35, 0.55, 9, 20)
    (t,) = [
        x for x in evaluate_thresholds({"task_completion_rate": tc}, th) if x.metric == "task_completion_rate"
    ]
    assert t.level == "ok" and t.compared == "ci_high"
