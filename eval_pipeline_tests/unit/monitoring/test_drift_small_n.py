"""Drift significance that holds at small n (issue 22 item 7): exact-conditional p-values when expected
counts are small, and Holm over the day's features."""

from __future__ import annotations

import numpy as np
import pandas as pd

from eval_pipeline.monitoring.drift import DriftResult, holm_levels, homogeneity_p_value


def _result(feature: str, psi: float, p: float) -> DriftResult:
    return DriftResult(feature, psi, psi / 2, "significant", 350, 50, pd.DataFrame(), p)


def test_features_of_one_day_are_holm_adjusted():
    # three features, one day: raw p 0.03 / 0.04 / 0.5 each with PSI >= 0.25 is not a family-wise
    # significant drift (Holm: 0.09 / 0.09 / 0.5); main called two of them significant
    res = holm_levels(
        [_result("input_length", 0.3, 0.03), _result("category", 0.3, 0.04), _result("emb", 0.3, 0.5)]
    )
    assert [r.level for r in res] == ["none", "none", "none"]
    assert [round(r.p_adjusted, 3) for r in res] == [0.09, 0.09, 0.5]
    strong = holm_levels([_result("input_length", 0.3, 0.001), _result("category", 0.12, 0.02)])
    assert [r.level for r in strong] == ["significant", "moderate"]
    assert "p_adjusted" in strong[0].to_dict() and "Holm" in strong[0].test


def test_small_expected_counts_use_the_exact_conditional_test():
    from scipy.stats import chi2_contingency

    ref = np.array([120, 2, 1, 1, 0, 1, 2, 1])
    cur = np.array([14, 0, 1, 2, 1, 0, 0, 2])
    table = np.vstack([ref, cur])
    table = table[:, table.sum(0) > 0]
    asymptotic = chi2_contingency(table, correction=False).pvalue
    p = homogeneity_p_value(ref, cur)
    assert p == homogeneity_p_value(ref, cur)  # reproducible
    assert p > asymptotic  # the chi-square approximation overstates the evidence here
    # large expected counts: the ordinary chi-square test
    big_ref, big_cur = np.array([400, 300, 300]), np.array([40, 30, 30])
    assert homogeneity_p_value(big_ref, big_cur) == chi2_contingency(np.vstack([big_ref, big_cur])).pvalue


def test_quiet_days_at_n50_rarely_alarm_through_compute_drift():
    from eval_pipeline_tests.benchmarks.monitoring_bounds import drift_quiet_alarms

    res = drift_quiet_alarms(50, seeds=1, days=20, embeddings=False, seed=3)
    assert res["any"] <= 3.0  # per 30 days; main: 1.75-2.25 significant and 2.25-2.5 any (4 x 30 days)
