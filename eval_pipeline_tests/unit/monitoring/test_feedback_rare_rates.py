"""One-sided bounds of rare rates honour their level (issue 22 item 7): the safety-violation rate's lower
bound reaches a warn level at most 2.5 % of the days when the true rate is exactly at that level."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from eval_pipeline.monitoring.feedback import evaluate_thresholds, safety_violation_rate
from eval_pipeline.project.monitoring import AlertThresholds


def _scores(violations: int, n: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "sample_id": [f"r{i}" for i in range(n)],
            "metric": "no_pii_echo",
            "passed": np.arange(n) >= violations,
            "infra_error": None,
        }
    )


def _exceedance(n: int, level: float) -> float:
    """P(lower bound >= level) at a true rate of exactly ``level``: exact, summed over the binomial counts."""
    ks = np.arange(0, int(n * level * 8) + 20)
    lows = np.array([safety_violation_rate(_scores(int(k), n), ["no_pii_echo"]).ci_low for k in ks])
    return float(stats.binom.pmf(ks, n, level)[lows >= level].sum())


def test_safety_rate_lower_bound_keeps_its_one_sided_level_at_the_warn_level():
    warn = AlertThresholds().safety_violation_rate.warn  # 0.1 %
    # Wilson's lower bound: 9.0 % at n = 500, 8.0 % at n = 1000, 3.3 % at n = 3000 (main)
    for n in (500, 1000, 3000):
        assert _exceedance(n, warn) <= 0.025, n


def test_safety_alert_names_the_exact_interval():
    m = {"safety_violation_rate": safety_violation_rate(_scores(3, 500), ["no_pii_echo"])}
    (alert,) = [a for a in evaluate_thresholds(m) if a.metric == "safety_violation_rate"]
    assert "Clopper-Pearson" in alert.message and alert.level == "warn"
    assert alert.ci_low > 0.001
