"""The paired tests the regression report runs (regression/paired_tests.py): McNemar exact and mid-p, BH / Holm /
Bonferroni adjustment, Wilcoxon and t intervals, the stratified exact test; checked against scipy, statsmodels
and brute force."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from eval_pipeline.regression.paired_tests import (
    bh_adjust,
    effect_interval,
    mcnemar_exact,
    mcnemar_midp,
    paired_location_test,
)


def test_mcnemar_matches_statsmodels_and_binomial():
    # baseline pass / candidate fail = 15, baseline fail / candidate pass = 4, plus concordant pairs
    b = np.array([1] * 60 + [1] * 15 + [0] * 4 + [0] * 21, bool)
    c = np.array([1] * 60 + [0] * 15 + [1] * 4 + [0] * 21, bool)
    worse, better, p = mcnemar_exact(b, c)
    assert (worse, better) == (15, 4)
    from statsmodels.stats.contingency_tables import mcnemar

    assert p == pytest.approx(mcnemar([[60, 15], [4, 21]], exact=True).pvalue)
    assert p == pytest.approx(stats.binomtest(4, 19, 0.5).pvalue)
    assert mcnemar_exact(b, b) == (0, 0, 1.0)


def test_mcnemar_midp_is_the_exact_p_minus_half_the_observed_probability():
    """Fagerland, Lydersen & Laake (2013): mid-p = exact conditional p - 0.5 P(X = x) one-sided; two-sided
    (b != c) = exact two-sided p - P(X = min(b, c)), X ~ Binomial(b + c, 1/2); checked against scipy."""
    b = np.array([1] * 60 + [1] * 15 + [0] * 4 + [0] * 21, bool)
    c = np.array([1] * 60 + [0] * 15 + [1] * 4 + [0] * 21, bool)
    worse, better, p = mcnemar_midp(b, c)
    assert (worse, better) == (15, 4)
    assert p == pytest.approx(stats.binomtest(4, 19, 0.5).pvalue - stats.binom.pmf(4, 19, 0.5))
    assert mcnemar_midp(b, c, "worse")[2] == pytest.approx(
        stats.binomtest(15, 19, 0.5, alternative="greater").pvalue - 0.5 * stats.binom.pmf(15, 19, 0.5)
    )
    assert mcnemar_midp(b, c, "better")[2] == pytest.approx(
        stats.binomtest(4, 19, 0.5, alternative="greater").pvalue - 0.5 * stats.binom.pmf(4, 19, 0.5)
    )
    assert mcnemar_midp(b, c, "worse")[2] + mcnemar_midp(b, c, "better")[2] == pytest.approx(1.0)
    assert mcnemar_midp(b, c)[2] < mcnemar_exact(b, c)[2]  # less conservative than the exact test
    tie = np.array([1] * 5 + [0] * 5, bool)
    assert mcnemar_midp(tie, ~tie)[2] == pytest.approx(1.0)  # b == c: two-sided mid-p is 1
    assert mcnemar_midp(b, b) == (0, 0, 1.0)
    with pytest.raises(ValueError):
        mcnemar_midp(b, c, "less")


def test_bh_matches_hand_computed_values():
    p = [0.001, 0.008, 0.039, 0.041, 0.042, 0.06, 0.074, 0.205]
    expected = [0.008, 0.032, 0.0672, 0.0672, 0.0672, 0.08, 0.0845714, 0.205]
    np.testing.assert_allclose(bh_adjust(p), expected, rtol=1e-5)
    out = bh_adjust([0.01, np.nan, 0.04])
    assert np.isnan(out[1]) and out[0] == pytest.approx(0.02) and out[2] == pytest.approx(0.04)


def test_wilcoxon_and_t_interval_match_scipy():
    rng = np.random.default_rng(3)
    d = rng.normal(-0.2, 1.0, 60)
    assert paired_location_test(d) == pytest.approx(stats.wilcoxon(d).pvalue)
    eff, lo, hi = effect_interval(d, 0.95, "t")
    ci = stats.ttest_1samp(d, 0).confidence_interval(0.95)
    assert (eff, lo, hi) == pytest.approx((d.mean(), ci.low, ci.high))
    eff_b, lo_b, hi_b = effect_interval(d, 0.95, "bootstrap", n_resamples=999)
    assert lo_b < eff_b < hi_b and abs(lo_b - lo) < 0.15
    assert paired_location_test(np.zeros(10)) == 1.0
    assert 0 < paired_location_test(d, "sign_flip", n_resamples=999) <= 1


def test_vectorized_adjust_equals_multipletests():
    from statsmodels.stats.multitest import multipletests

    from eval_pipeline.regression.paired_tests import adjust

    rng = np.random.default_rng(5)
    for m in (1, 2, 3, 7, 20):
        for _ in range(30):
            p = np.round(rng.beta(0.5, 2.0, m), 2)  # rounded: ties
            for proc, method in (("holm", "holm"), ("bh", "fdr_bh"), ("bonferroni", "bonferroni")):
                np.testing.assert_allclose(
                    adjust(p, proc), multipletests(p, method=method)[1], rtol=1e-12, atol=1e-15
                )
    np.testing.assert_allclose(adjust([0.01, np.nan, 0.04], "holm"), [0.02, np.nan, 0.04])


def test_stratified_exact_is_mcnemar_with_one_draw_and_exact_with_many():
    from itertools import combinations, product

    from eval_pipeline.regression.paired_tests import binomial_support, stratified_exact

    rng = np.random.default_rng(0)
    b, c = rng.random(300) < 0.8, rng.random(300) < 0.75
    ones = np.ones(300, int)
    for alt in ("worse", "better", "two-sided"):
        w, bt, p, sup = stratified_exact(c.astype(int), ones, b.astype(int), ones, alt)
        assert (w, bt) == mcnemar_exact(b, c)[:2] and p == pytest.approx(mcnemar_exact(b, c, alt)[2])
        if alt != "two-sided":
            np.testing.assert_allclose(sup, binomial_support(w + bt, alt))
    # unequal draws per sample: the null distribution by brute force over every relabelling of each sample's draws
    kc, kb, xc, xb = (
        np.array([1, 2, 1, 3]),
        np.array([3, 2, 2, 1]),
        np.array([0, 1, 1, 1]),
        np.array([2, 2, 1, 1]),
    )
    per_sample = []
    for i in range(4):
        draws = [1] * (xc[i] + xb[i]) + [0] * (kc[i] + kb[i] - xc[i] - xb[i])
        per_sample.append([sum(draws[j] for j in comb) for comb in combinations(range(len(draws)), kc[i])])
    totals = np.array([sum(t) for t in product(*per_sample)])
    assert stratified_exact(xc, kc, xb, kb, "worse")[2] == pytest.approx(np.mean(totals <= xc.sum()))
    assert stratified_exact(xc, kc, xb, kb, "better")[2] == pytest.approx(np.mean(totals >= xc.sum()))
    # 5 samples from 3 of 3 to 2 of 3 (issue 10): exact two-sided p = 2 / 32
    assert stratified_exact([2] * 5, [3] * 5, [3] * 5, [3] * 5)[2] == pytest.approx(0.0625)
    assert stratified_exact([1, 0], [1, 1], [1, 0], [1, 1])[2] == 1.0  # no informative sample
    with pytest.raises(ValueError):
        stratified_exact([1], [1], [0], [1], "less")
