"""Prediction-powered inference (PPI++): a judge metric corrected by human labels on a subset.

In: the human values ``y`` of the labelled samples, the judge's values ``yhat`` on the same
samples, and the judge's values ``yhat_unlabelled`` on the samples without a human label (0/1 for
a pass rate, scores for a mean). Out: :func:`ppi_mean` -> :class:`PPIEstimate`, the PPI++ point
estimate of the *human* mean with its normal (CLT) interval, next to the human-only estimate and the
raw judge estimate with theirs.

The estimator (Angelopoulos, Duchi & Zrnic 2023, "PPI++: Efficient Prediction-Powered
Inference", arXiv:2311.01453, the mean case)::

    theta = lam * mean(yhat_unlabelled) + mean(y - lam * yhat)
    var   = lam^2 * Var(yhat_unlabelled) / N + Var(y - lam * yhat) / n
    lam   = Cov(y, yhat) / ((1 + n/N) * Var(yhat over all N + n judged samples)), clipped to [0, 1]

``lam = 1`` is the original PPI, ``lam = 0`` the human-only (classical) estimate; the power-tuned
``lam`` makes the interval never much wider than the human-only one and narrower the better the
judge tracks the humans. It is unbiased whatever the judge's bias, because the rectifier
``mean(y - lam * yhat)`` measures that bias on the labelled samples. This is the formula of the
authors' ``ppi_py`` (``ppi_mean_ci`` with ``lam=None``); that package is not a dependency here
(it pulls numba and a Google-Drive downloader for a ten-line estimator).

Assumptions (the interval is only as good as these): the labelled samples are a uniformly random
subset of the judged ones (items picked for review *because* the judges disagreed are not: the
rectifier then measures the bias on the hard items), the human label is the truth, and n is
large enough for the normal approximation (the benchmark checks n = 100).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PPIEstimate:
    """PPI++ estimate of the human mean, with the human-only and raw-judge estimates beside it."""

    value: float
    ci_low: float
    ci_high: float
    lam: float  # power-tuning weight on the judge (0: human-only, 1: plain PPI)
    n_labelled: int
    n_unlabelled: int
    human: tuple[float, float, float]  # human-only (value, ci_low, ci_high) over the labelled samples
    judge: tuple[float, float, float]  # raw judge (value, ci_low, ci_high) over all judged samples

    @property
    def width(self) -> float:
        return self.ci_high - self.ci_low


def _clt(x: np.ndarray, z: float) -> tuple[float, float, float]:
    m = float(x.mean())
    h = z * float(x.std(ddof=1)) / math.sqrt(len(x)) if len(x) > 1 else math.inf
    return m, m - h, m + h


def ppi_mean(
    y: np.ndarray | list[float],
    yhat: np.ndarray | list[float],
    yhat_unlabelled: np.ndarray | list[float],
    alpha: float = 0.05,
    lam: float | None = None,
) -> PPIEstimate:
    """PPI++ estimate and (1 - ``alpha``) two-sided interval of the mean of ``y`` (see module doc).

    Args:
        y: human values of the n labelled samples.
        yhat: the judge's values of the same n samples, in the same order.
        yhat_unlabelled: the judge's values of the N samples without a human label.
        alpha: error level of the intervals.
        lam: fixed weight on the judge; None = power-tuned (PPI++).

    Raises:
        ValueError: fewer than 2 labelled samples, mismatched lengths, or non-finite values.
    """
    from scipy.stats import norm  # noqa: PLC0415 - keeps scipy out of `eval-pipeline run`'s start-up (inference/warmup.py loads it during the requests)

    y, yhat, yu = (np.asarray(a, dtype=float).ravel() for a in (y, yhat, yhat_unlabelled))
    n, big_n = len(y), len(yu)
    if len(yhat) != n:
        raise ValueError(
            f"y has {n} labelled values but yhat has {len(yhat)}: pair each human label with the judge's"
        )
    if n < 2:
        raise ValueError(f"PPI needs at least 2 labelled samples, got {n}")
    if not (np.isfinite(y).all() and np.isfinite(yhat).all() and np.isfinite(yu).all()):
        raise ValueError("PPI inputs must be finite numbers (drop unparseable verdicts first)")
    z = float(norm.ppf(1 - alpha / 2))
    if lam is None:
        pooled = np.concatenate([yhat, yu])
        var_hat = float(pooled.var(ddof=1)) if len(pooled) > 1 else 0.0
        cov = float(np.cov(y, yhat, ddof=1)[0, 1])
        ratio = n / big_n if big_n else math.inf
        lam = 0.0 if var_hat <= 0 or not big_n else float(np.clip(cov / ((1 + ratio) * var_hat), 0.0, 1.0))
    if not big_n:
        lam = 0.0
    rect = y - lam * yhat
    value = (lam * float(yu.mean()) if big_n else 0.0) + float(rect.mean())
    var = float(rect.var(ddof=1)) / n + ((lam**2) * float(yu.var(ddof=1)) / big_n if big_n > 1 else 0.0)
    h = z * math.sqrt(var)
    return PPIEstimate(
        value=value,
        ci_low=value - h,
        ci_high=value + h,
        lam=float(lam),
        n_labelled=n,
        n_unlabelled=big_n,
        human=_clt(y, z),
        judge=_clt(np.concatenate([yhat, yu]), z),
    )
