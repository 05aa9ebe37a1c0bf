"""A/A noise floor: how much two runs of the *same* model version differ by chance.

Given two runs of one model version (a scheduled A/A run), :func:`aa_noise_floor`
reports per metric the share of samples on which they disagree and the
distribution of the pass-rate difference that pure sampling noise produces.
:func:`check_thresholds` then says whether a suite's alert / regression
thresholds clear that floor (a 3-point threshold on a suite whose A/A noise is
+/-4 points fires on noise).

Null distribution of the difference: with single repeats, conditional on the
``n_d`` discordant samples, ``n * diff = 2 B - n_d`` with ``B ~ Binomial(n_d, 1/2)``
(exact, scipy ``binom``); with k repeats, the sign-flip (randomization) variance
``sum d_i**2 / n**2`` with a normal approximation.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from eval_pipeline.project.regression_schema import GROUP_KEYS
from eval_pipeline.regression.pairing import pair_runs

NOISE_COLUMNS = GROUP_KEYS + [
    "n_pairs",
    "repeats",
    "disagreement_rate",
    "observed_diff",
    "diff_sd",
    "diff_q95",
    "diff_q99",
]
THRESHOLD_COLUMNS = GROUP_KEYS + ["threshold", "value", "noise_floor", "clears_noise", "message"]


def _abs_diff_quantile(d: np.ndarray, level: float) -> float:
    """Two-sided ``level`` quantile of |mean difference| under the no-difference (sign-flip) null."""

    n = d.size
    if n == 0:
        return float("nan")
    if np.isin(d, (-1.0, 0.0, 1.0)).all():
        nd = int(np.sum(d != 0))
        if nd == 0:
            return 0.0
        hi = stats.binom.ppf(0.5 + level / 2, nd, 0.5)  # |2B - nd| <= 2*hi - nd with prob ~level
        return float((2 * hi - nd) / n)
    return float(stats.norm.ppf(0.5 + level / 2) * np.sqrt(np.sum(d**2)) / n)


def aa_noise_floor(run_a: pd.DataFrame, run_b: pd.DataFrame) -> pd.DataFrame:
    """Noise floor of each pass/fail metric from two runs of the same model version.

    Returns :data:`NOISE_COLUMNS`: ``disagreement_rate`` = share of shared samples whose
    pass fraction differs; ``observed_diff`` = pass rate B - A; ``diff_sd`` / ``diff_q95`` /
    ``diff_q99`` = spread and two-sided 95 % / 99 % quantiles of |difference| expected from
    noise alone (fractions: 0.03 = 3 points).
    """
    pairs = pair_runs(run_b, run_a).dropna(subset=["pass_frac_c", "pass_frac_b"])
    rows = []
    for keys, g in pairs.groupby(GROUP_KEYS, sort=True):
        d = (g["pass_frac_c"] - g["pass_frac_b"]).to_numpy(dtype=float)
        n = d.size
        rows.append(
            dict(zip(GROUP_KEYS, keys))
            | {
                "n_pairs": n,
                "repeats": int(max(g["k_c"].max(), g["k_b"].max())),
                "disagreement_rate": float(np.mean(d != 0)),
                "observed_diff": float(d.mean()),
                "diff_sd": float(np.sqrt(np.sum(d**2)) / n),
                "diff_q95": _abs_diff_quantile(d, 0.95),
                "diff_q99": _abs_diff_quantile(d, 0.99),
            }
        )
    return pd.DataFrame(rows, columns=NOISE_COLUMNS)


def check_thresholds(
    noise: pd.DataFrame, thresholds: dict[str, float], quantile: str = "diff_q95"
) -> pd.DataFrame:
    """Does each threshold (fraction, e.g. ``{"pass_rate_drop": 0.03, "min_effect": 0.03}``) clear the noise floor?

    One row per metric and threshold with ``clears_noise`` and a message with the fix when it does not.
    """
    rows = []
    for rec in noise.to_dict(orient="records"):
        floor = rec[quantile]
        for name, thr in thresholds.items():
            ok = bool(thr > floor)
            msg = (
                f"{name}={thr * 100:.1f} pts clears the A/A noise ({quantile}={floor * 100:.1f} pts)"
                if ok
                else f"{name}={thr * 100:.1f} pts is inside the A/A noise ({quantile}={floor * 100:.1f} pts) of "
                f"{rec['suite']}/{rec['metric']}: raise the threshold above {floor * 100:.1f} pts, add samples "
                f"or repeats, or debounce the alert"
            )
            rows.append(
                {k: rec[k] for k in GROUP_KEYS}
                | {"threshold": name, "value": thr, "noise_floor": floor, "clears_noise": ok, "message": msg}
            )
    return pd.DataFrame(rows, columns=THRESHOLD_COLUMNS)
