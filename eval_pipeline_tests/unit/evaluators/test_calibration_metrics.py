"""Calibration bounds that hold at small n (issue 22 item 7): the agreement shares' lower bounds keep their
2.5 % one-sided level with 20 labels (exact Clopper-Pearson instead of a percentile bootstrap)."""

from __future__ import annotations

import numpy as np
from scipy import stats

from eval_pipeline.evaluators.calibration_metrics import pairwise_agreement, rating_agreement


def _labels(hits: int, n: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """Human and judge ratings (1-5) that agree within one point on exactly ``hits`` of ``n`` items."""
    human = np.tile([2.0, 3.0, 4.0], n)[:n]
    judge = human.copy()
    judge[hits:] = np.where(human[hits:] <= 3, human[hits:] + 2, human[hits:] - 2)
    return human, judge


def test_within_one_lower_bound_keeps_its_level_with_20_labels():
    truth, n = 0.94, 20
    lows = np.array(
        [rating_agreement(*_labels(k), (1, 5), seed=0)["agreement_within_one_ci_low"] for k in range(n + 1)]
    )
    exceed = float(stats.binom.pmf(np.arange(n + 1), n, truth)[lows > truth].sum())
    # main's percentile bootstrap gave [1, 1] when all 20 agree (29 % of label sets): exceedance 0.29
    assert exceed <= 0.025


def test_pairwise_accuracy_interval_is_exact():
    from statsmodels.stats.proportion import proportion_confint

    human = np.array([1, 2] * 10)
    judge = human.copy()
    judge[:3] = 3 - judge[:3]  # 17 of 20 correct
    out = pairwise_agreement(human, judge)
    lo, hi = proportion_confint(17, 20, method="beta")
    assert out["pairwise_accuracy_ci_low"] == lo and out["pairwise_accuracy_ci_high"] == hi
