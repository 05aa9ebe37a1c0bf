"""Judge calibration metrics: agreement of judge verdicts with human labels, with intervals.

In: arrays of human labels and judge scores / final pairwise verdicts (or a long frame of them).
Out: flat ``{metric_name: value}`` dicts whose names match the fields of
:class:`eval_pipeline.evaluators.judge.MinCalibration`, each with ``n``:

* :func:`rating_agreement` - quadratic-weighted Cohen's kappa, Spearman, exact and within-one
  agreement (scikit-learn / scipy); :func:`rating_metrics_from_frame` per dimension.
* :func:`pairwise_agreement` - accuracy, Cohen's kappa, position consistency, tie rate.

Every agreement metric also gets a 95 % interval ``<metric>_ci_low`` / ``<metric>_ci_high``: the
shares (exact agreement, within-one agreement, pairwise accuracy, position consistency) an exact
Clopper-Pearson interval (:func:`exact_share_interval`, valid at any n: a calibration bound of 20
labels keeps its 2.5 % one-sided level); kappa and Spearman a paired percentile bootstrap
(``scipy.stats.bootstrap``, 1000 resamples, fixed seed, all resamples in one vectorized call -
kappa from numpy confusion matrices, :func:`kappa_along_axis`). Pure functions, no I/O.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

BOOTSTRAP_RESAMPLES = 1000
CI_LEVEL = 0.95
# The figures of rating_agreement / pairwise_agreement besides n (NaN when undefined).
RATING_AGREEMENT = ("exact_agreement", "agreement_within_one", "weighted_kappa", "spearman", "spearman_p")
PAIRWISE_AGREEMENT = (
    "pairwise_accuracy",
    "pairwise_accuracy_ties_half",
    "pairwise_kappa",
    "tie_rate",
    "position_consistency",
)


def bootstrap_interval(
    statistic: Callable[..., Any],
    *arrays: np.ndarray,
    n_resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = 0,
    level: float = CI_LEVEL,
    vectorized: bool = False,
) -> tuple[float, float]:
    """Paired percentile bootstrap interval of ``statistic(*arrays)`` (``scipy.stats.bootstrap``).

    ``vectorized=True``: ``statistic(*arrays, axis=-1)`` computes all resamples at once (same
    resamples, hence the same interval, as the scalar form for a given seed - only faster).
    Resamples where the statistic is undefined (NaN, e.g. a constant resample for Spearman) are
    dropped; with more than 10 % of them, or fewer than 3 items, the interval is ``(nan, nan)``."""

    from scipy.stats import bootstrap  # noqa: PLC0415 - keeps scipy out of `eval-pipeline run`'s start-up (inference/warmup.py loads it during the requests)

    if len(arrays[0]) < 3:
        return math.nan, math.nan
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = bootstrap(
            arrays,
            statistic,
            paired=True,
            vectorized=vectorized,
            n_resamples=n_resamples,
            method="percentile",
            confidence_level=level,
            random_state=np.random.default_rng(seed),
        )
    dist = np.asarray(res.bootstrap_distribution, dtype=float)
    ok = dist[~np.isnan(dist)]
    if ok.size < 0.9 * dist.size:
        return math.nan, math.nan
    a = (1 - level) / 2
    return float(np.quantile(ok, a)), float(np.quantile(ok, 1 - a))


def exact_share_interval(hits: Any, level: float = CI_LEVEL) -> tuple[float, float]:
    """Exact Clopper-Pearson interval (statsmodels ``method="beta"``) of the share of true ``hits``.

    For the agreement shares: each one-sided bound keeps its level at any n. The percentile bootstrap
    did not at small n (20 labels, true within-one agreement 0.94: its lower bound was above the
    truth in 25 % of label sets, since 30 % of them agree everywhere and the bootstrap gives [1, 1])."""
    from statsmodels.stats.proportion import proportion_confint  # noqa: PLC0415 - keeps statsmodels out of `import eval_pipeline.definitions`

    x = np.asarray(hits, dtype=bool)
    if x.size == 0:
        return math.nan, math.nan
    lo, hi = proportion_confint(int(x.sum()), int(x.size), alpha=1 - level, method="beta")
    return (0.0 if np.isnan(lo) else float(lo)), (1.0 if np.isnan(hi) else float(hi))


def share_equal(a: np.ndarray, b: np.ndarray, axis: int = -1) -> np.ndarray:
    """Share of positions where ``a == b`` along ``axis`` (a vectorized bootstrap statistic)."""
    share: np.ndarray = np.mean(np.asarray(a) == np.asarray(b), axis=axis)  # numpy: mean(axis=) is Any
    return share


def share_within_one(a: np.ndarray, b: np.ndarray, axis: int = -1) -> np.ndarray:
    """Share of positions where ``|a - b| <= 1`` along ``axis``."""
    share: np.ndarray = np.mean(
        np.abs(np.asarray(a, dtype=float) - np.asarray(b, dtype=float)) <= 1, axis=axis
    )
    return share


def kappa_along_axis(a: Any, b: Any, labels: Any, weights: str | None = None, axis: int = -1) -> np.ndarray:
    """Cohen's kappa of ``a`` vs ``b`` along ``axis`` for every other index at once (numpy).

    Same definition as sklearn ``cohen_kappa_score(a, b, labels=labels, weights=weights)``
    (``None``, ``"linear"`` or ``"quadratic"``; weights by position in ``labels``; pairs with a
    value outside ``labels`` are ignored): one confusion matrix per slice, kappa =
    1 - sum(w * observed) / sum(w * expected). Undefined (zero denominator) -> NaN. Used for the
    bootstrap (1000 resamples in one call instead of 1000 sklearn calls)."""
    a = np.moveaxis(np.asarray(a), axis, -1)
    b = np.moveaxis(np.asarray(b), axis, -1)
    a, b = np.broadcast_arrays(a, b)
    labels = np.asarray(labels)
    k = len(labels)
    order = np.argsort(labels, kind="stable")
    ordered = labels[order]

    def position(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        pos = np.clip(np.searchsorted(ordered, x), 0, k - 1)
        return order[pos], ordered[pos] == x

    ia, ok_a = position(a)
    ib, ok_b = position(b)
    batch = a.shape[:-1]
    rows = int(np.prod(batch, dtype=int))
    slice_id = np.broadcast_to(np.arange(rows).reshape(batch + (1,)), a.shape)
    valid = ok_a & ok_b
    codes = (slice_id[valid] * k + ia[valid]) * k + ib[valid]
    observed = np.bincount(codes, minlength=rows * k * k).reshape(batch + (k, k)).astype(float)
    n = observed.sum(axis=(-2, -1))
    with np.errstate(invalid="ignore", divide="ignore"):
        expected = observed.sum(-1)[..., :, None] * observed.sum(-2)[..., None, :] / n[..., None, None]
        grid = np.arange(k)
        if weights is None:
            w = 1.0 - np.eye(k)
        elif weights == "linear":
            w = np.abs(grid[:, None] - grid[None, :]).astype(float)
        elif weights == "quadratic":
            w = ((grid[:, None] - grid[None, :]) ** 2).astype(float)
        else:
            raise ValueError(f"weights={weights!r}: use None, 'linear' or 'quadratic'")
        denominator = (w * expected).sum(axis=(-2, -1))
        kappa = 1.0 - (w * observed).sum(axis=(-2, -1)) / denominator
    return np.where((denominator == 0) | (n == 0), np.nan, kappa)


def spearman_along_axis(a: Any, b: Any, axis: int = -1) -> np.ndarray:
    """Spearman's rho along ``axis`` (Pearson correlation of average ranks, as scipy ``spearmanr``);
    NaN where either side is constant."""

    from scipy.stats import rankdata  # noqa: PLC0415 - keeps scipy out of `eval-pipeline run`'s start-up (inference/warmup.py loads it during the requests)

    ra = np.moveaxis(rankdata(a, axis=axis), axis, -1)
    rb = np.moveaxis(rankdata(b, axis=axis), axis, -1)
    ra = ra - ra.mean(-1, keepdims=True)
    rb = rb - rb.mean(-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = (ra * rb).sum(-1) / np.sqrt((ra * ra).sum(-1) * (rb * rb).sum(-1))
    constant = (np.ptp(ra, axis=-1) == 0) | (np.ptp(rb, axis=-1) == 0)
    return np.where(constant, np.nan, np.clip(rho, -1.0, 1.0))


def finite_pairs(a: Any, b: Any) -> tuple[np.ndarray, np.ndarray]:
    """``a`` and ``b`` as float arrays, without the positions where either is NaN."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    keep = ~(np.isnan(a) | np.isnan(b))
    return a[keep], b[keep]


def _with_ci(out: dict[str, Any], name: str, interval: tuple[float, float]) -> None:
    lo, hi = interval
    out[f"{name}_ci_low"] = math.nan if math.isnan(lo) else lo
    out[f"{name}_ci_high"] = math.nan if math.isnan(hi) else hi


def round_half_up(values: Any) -> np.ndarray:
    """Round to the nearest integer, .5 upwards (numpy's default rounds half to even)."""
    return np.floor(np.asarray(values, dtype=float) + 0.5).astype(int)


def map_to_scale(values: Any, src: tuple[float, float], dst: tuple[float, float]) -> np.ndarray:
    """Linearly map values from scale ``src`` to ``dst`` (e.g. a 1-6 human mean to a 1-5 judge scale)."""
    v = np.asarray(values, dtype=float)
    (a, b), (c, d) = src, dst
    return c + (v - a) * (d - c) / (b - a)


def rating_agreement(
    human: Any,
    judge: Any,
    scale: tuple[int, int],
    human_scale: tuple[float, float] | None = None,
    ci: bool = True,
    seed: int = 0,
) -> dict[str, float]:
    """Agreement of judge scores with human ratings on an ordinal scale.

    ``human`` may be means over annotators (floats); they are mapped from ``human_scale`` to
    the judge ``scale`` (if given), then rounded half-up and clipped for the categorical
    metrics. Judge medians (possibly x.5) are rounded the same way.

    Returns ``n``, ``exact_agreement`` (share of rounded equal), ``agreement_within_one``
    (share with |difference| <= 1), ``weighted_kappa`` (sklearn ``cohen_kappa_score``,
    ``weights="quadratic"``, labels = the whole scale), ``spearman`` and ``spearman_p``
    (scipy ``spearmanr`` on the unrounded values), and for each of the four a 95 % interval
    ``<name>_ci_low`` / ``<name>_ci_high`` (shares: exact Clopper-Pearson; kappa and Spearman:
    paired bootstrap, :func:`bootstrap_interval`; off with ``ci=False``). Undefined values (e.g. a constant input) are NaN.
    """
    from scipy.stats import spearmanr  # noqa: PLC0415 - keeps scipy out of `eval-pipeline run`'s start-up (inference/warmup.py loads it during the requests)
    from sklearn.metrics import cohen_kappa_score

    h = np.asarray(human, dtype=float)
    j = np.asarray(judge, dtype=float)
    if h.shape != j.shape or h.ndim != 1:
        raise ValueError(f"human and judge must be 1-D arrays of equal length, got {h.shape} and {j.shape}")
    h, j = finite_pairs(h, j)
    if human_scale is not None and tuple(human_scale) != tuple(scale):
        h = map_to_scale(h, human_scale, scale)
    lo, hi = scale
    hr = np.clip(round_half_up(h), lo, hi)
    jr = np.clip(round_half_up(j), lo, hi)
    n = int(len(h))
    out = {"n": n, **dict.fromkeys(RATING_AGREEMENT, math.nan)}
    names = ("exact_agreement", "agreement_within_one", "weighted_kappa", "spearman")
    if ci:
        for name in names:
            _with_ci(out, name, (math.nan, math.nan))
    if n == 0:
        return out
    labels = list(range(lo, hi + 1))

    def kappa(a: np.ndarray, b: np.ndarray) -> float:
        with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # undefined kappa (one label only) is reported as NaN
            return float(cohen_kappa_score(a, b, labels=labels, weights="quadratic"))

    out["exact_agreement"] = float(np.mean(hr == jr))
    out["agreement_within_one"] = float(np.mean(np.abs(hr - jr) <= 1))
    out["weighted_kappa"] = kappa(hr, jr)
    if n >= 2 and np.ptp(h) > 0 and np.ptp(j) > 0:
        res = spearmanr(h, j)
        out["spearman"], out["spearman_p"] = float(res.statistic), float(res.pvalue)
    if ci:

        def kappa_batch(a: np.ndarray, b: np.ndarray, axis: int = -1) -> np.ndarray:
            return kappa_along_axis(a, b, labels, weights="quadratic", axis=axis)

        boot: dict[str, Any] = {"seed": seed, "vectorized": True}
        _with_ci(out, "exact_agreement", exact_share_interval(hr == jr))
        _with_ci(out, "agreement_within_one", exact_share_interval(np.abs(hr - jr) <= 1))
        _with_ci(out, "weighted_kappa", bootstrap_interval(kappa_batch, hr, jr, **boot))
        if not math.isnan(out["spearman"]):
            _with_ci(out, "spearman", bootstrap_interval(spearman_along_axis, h, j, **boot))
    return out


TIE = 0  # pairwise label for "no preference"


def combine_orders(label_ab: Any, label_ba: Any) -> tuple[np.ndarray, np.ndarray]:
    """Final pairwise labels from both presentation orders.

    Inputs are per-order verdicts already expressed in the original numbering (1 = output_1,
    2 = output_2, 0 = tie). Where the orders disagree the final label is a tie. Returns
    ``(final, consistent)``.
    """
    ab = np.asarray(label_ab, dtype=int)
    ba = np.asarray(label_ba, dtype=int)
    consistent = ab == ba
    return np.where(consistent, ab, TIE), consistent


def pairwise_agreement(
    human: Any, final: Any, position_consistent: Any | None = None, ci: bool = True, seed: int = 0
) -> dict[str, float]:
    """Agreement of final pairwise verdicts (1, 2 or 0 = tie) with human labels (1 or 2).

    Returns ``n``, ``pairwise_accuracy`` (a tie counts as wrong), ``pairwise_accuracy_ties_half``
    (a tie counts half), ``pairwise_kappa`` (sklearn ``cohen_kappa_score`` over labels 1, 2, 0),
    ``tie_rate`` and ``position_consistency`` (share of judgements where both orders agreed;
    NaN if not given); with ``ci``, 95 % intervals ``<name>_ci_low`` / ``<name>_ci_high`` for
    accuracy and position consistency (exact Clopper-Pearson, :func:`exact_share_interval`) and kappa
    (paired bootstrap, :func:`bootstrap_interval`).
    """
    from sklearn.metrics import cohen_kappa_score

    h = np.asarray(human, dtype=int)
    f = np.asarray(final, dtype=int)
    if h.shape != f.shape:
        raise ValueError(f"human and final must have equal length, got {h.shape} and {f.shape}")
    n = int(len(h))
    out = {"n": n, **dict.fromkeys(PAIRWISE_AGREEMENT, math.nan)}
    if ci:
        for name in ("pairwise_accuracy", "pairwise_kappa", "position_consistency"):
            _with_ci(out, name, (math.nan, math.nan))
    if position_consistent is not None and len(position_consistent):
        pc = np.asarray(position_consistent, dtype=bool)
        out["position_consistency"] = float(np.mean(pc))
        if ci:
            _with_ci(out, "position_consistency", exact_share_interval(pc))
    if n == 0:
        return out
    correct = f == h
    ties = f == TIE
    out["pairwise_accuracy"] = float(np.mean(correct))
    out["pairwise_accuracy_ties_half"] = float(np.mean(correct + 0.5 * ties))
    out["tie_rate"] = float(np.mean(ties))

    def kappa(a: np.ndarray, b: np.ndarray) -> float:
        with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return float(cohen_kappa_score(a, b, labels=[1, 2, TIE]))

    out["pairwise_kappa"] = kappa(h, f)
    if ci:

        def kappa_batch(a: np.ndarray, b: np.ndarray, axis: int = -1) -> np.ndarray:
            return kappa_along_axis(a, b, [1, 2, TIE], axis=axis)

        _with_ci(out, "pairwise_accuracy", exact_share_interval(correct))
        _with_ci(out, "pairwise_kappa", bootstrap_interval(kappa_batch, h, f, seed=seed, vectorized=True))
    return out


def rating_metrics_from_frame(frame: pd.DataFrame, prefix: str = "") -> dict[str, dict[str, float]]:
    """Per-dimension :func:`rating_agreement` from a long frame.

    ``frame`` columns: ``dimension, human, judge, scale_lo, scale_hi`` (optionally
    ``human_scale_lo, human_scale_hi`` when humans used another scale). Used for both judge
    runs over shared datasets and ingested human-review files.
    """
    out: dict[str, dict[str, float]] = {}
    for dim, g in frame.groupby("dimension", sort=True):
        first = g.iloc[0]
        scale = (int(first["scale_lo"]), int(first["scale_hi"]))
        hs = None
        if "human_scale_lo" in g.columns and g["human_scale_lo"].notna().all():
            hs = (float(first["human_scale_lo"]), float(first["human_scale_hi"]))
        out[f"{prefix}{dim}"] = rating_agreement(
            g["human"].to_numpy(float), g["judge"].to_numpy(float), scale, hs
        )
    return out
