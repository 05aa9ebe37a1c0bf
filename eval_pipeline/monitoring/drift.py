"""Distribution drift between today's sample and a reference window, next to quality.

Features: input length (quantile bins taken from the reference), category mix, and
input-embedding clusters (k-means fitted on reference embeddings; the embedding function is
injected: default MiniLM, tests may use :func:`~.embedders.hashing_embedder`).

Divergences (scipy): ``kl = scipy.stats.entropy(p_today, p_ref)`` and
``psi = entropy(p_today, p_ref) + entropy(p_ref, p_today)`` (= sum (p - q) ln(p / q)), on bin shares
smoothed by ``eps`` so empty bins stay finite. PSI alone ignores sample size (50 requests from the
same distribution give PSI >= 0.25 on ~30 % of days), so every result also carries ``p_value``: the
chi-square test of homogeneity of the binned counts (``scipy.stats.chi2_contingency``, reference vs
today, bins empty on both sides dropped; at small n, where Cochran's rule fails, its exact
conditional Monte Carlo version, valid at any n). :func:`compute_drift` Holm-adjusts the p-values of
the day's features (``p_adjusted``), so a quiet day has at most ``alpha`` chance of any drift level.
Levels need both effect and evidence: ``psi >= 0.25`` and ``p < alpha`` (0.05) significant,
``psi >= 0.1`` and ``p < alpha`` moderate, else none.

The embedders are in :mod:`.embedders`; the ``traffic_drift`` step (drift next to quality, the
divergence flag, :func:`~eval_pipeline.monitoring.drift_report.compute_drift`) in :mod:`.drift_report`.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy.stats import chi2_contingency, entropy, random_table

from eval_pipeline.monitoring.embedders import EmbedFn, minilm_embedder

if TYPE_CHECKING:
    pass

PSI_MODERATE = 0.10
PSI_SIGNIFICANT = 0.25
DRIFT_ALPHA = 0.05
EPS = 1e-4


DriftLevel = Literal["none", "moderate", "significant"]
# DriftResult.to_dict's keys, in order: the columns of a drift row (the bins go to the report)
RESULT_KEYS = ("feature", "psi", "kl", "level", "p_value", "p_adjusted", "n_ref", "n_cur", "test")


@dataclass
class DriftResult:
    """Drift of one feature. ``table`` has ``bin, ref_n, cur_n, ref_share, cur_share``."""

    feature: str
    psi: float
    kl: float
    level: DriftLevel
    n_ref: int
    n_cur: int
    table: pd.DataFrame = field(repr=False)
    p_value: float = float("nan")
    test: str = (
        "chi-square test of homogeneity (scipy chi2_contingency; exact-conditional Monte Carlo where "
        "Cochran's rule fails), Holm over the day's features"
    )
    p_adjusted: float = float("nan")

    def to_dict(self) -> dict[str, Any]:
        """Every field but ``table``, in the order of :data:`RESULT_KEYS` (a drift row's columns)."""
        return {k: getattr(self, k) for k in RESULT_KEYS}


def psi_level(psi: float, p_value: float | None = None) -> DriftLevel:
    """``none`` / ``moderate`` / ``significant`` for a PSI value (:data:`PSI_MODERATE`, :data:`PSI_SIGNIFICANT`);
    with ``p_value``, a level above ``none`` also needs ``p_value <`` :data:`DRIFT_ALPHA` (a NaN p-value is no
    evidence)."""
    if p_value is not None and not p_value < DRIFT_ALPHA:
        return "none"
    return "significant" if psi >= PSI_SIGNIFICANT else "moderate" if psi >= PSI_MODERATE else "none"


MC_RESAMPLES = 2000


def homogeneity_p_value(
    ref_counts: npt.ArrayLike, cur_counts: npt.ArrayLike, seed: int | None = None
) -> float:
    """p-value of "both samples come from the same binned distribution": Pearson chi-square test of
    homogeneity on the 2 x bins table (``scipy.stats.chi2_contingency``); bins empty on both sides
    are dropped; 1.0 with a single non-empty bin, NaN when a side is empty.

    When Cochran's rule fails (an expected count below 1, or more than 20 % of them below 5: small n,
    rare bins) the chi-square approximation is anti-conservative, so the statistic is referred to its exact conditional distribution instead:
    ``MC_RESAMPLES`` tables with the same margins (``scipy.stats.random_table``), ``p = (1 +
    #{X^2_sim >= X^2_obs}) / (B + 1)``, valid at any n. The draws are seeded from the table itself
    (reproducible; one fixed seed for every table would reuse one Monte Carlo error for all days
    with the same margins)."""

    table = np.vstack([np.asarray(ref_counts, dtype=float), np.asarray(cur_counts, dtype=float)])
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] == 0 or (table.sum(axis=1) == 0).any():
        return float("nan")
    if table.shape[1] == 1:
        return 1.0
    res = chi2_contingency(table, correction=False)
    exp = res.expected_freq
    if exp.min() >= 1 and np.mean(exp < 5) <= 0.2:  # Cochran's rule: the approximation holds
        return float(res.pvalue)
    if seed is None:
        seed = zlib.crc32(table.astype(np.int64).tobytes())
    sims = random_table(table.sum(axis=1).astype(int), table.sum(axis=0).astype(int), seed=seed).rvs(
        MC_RESAMPLES
    )
    stat = ((sims - exp) ** 2 / exp).sum(axis=(1, 2))
    return float((1 + np.sum(stat >= res.statistic * (1 - 1e-12))) / (MC_RESAMPLES + 1))


def holm_levels(results: list[DriftResult]) -> list[DriftResult]:
    """Holm-adjust the p-values of one day's features (statsmodels ``multipletests``), so the chance of
    any false drift level on a quiet day is at most ``DRIFT_ALPHA``; levels recomputed from the
    adjusted p (``p_adjusted``). Returns ``results`` (changed in place)."""
    from statsmodels.stats.multitest import multipletests  # noqa: PLC0415 - keeps statsmodels out of `import eval_pipeline.definitions`

    ok = [r for r in results if not np.isnan(r.p_value)]
    if ok:
        adj = multipletests([r.p_value for r in ok], method="holm")[1]
        for r, a in zip(ok, adj, strict=True):
            r.p_adjusted = float(a)
            r.level = psi_level(r.psi, p_value=float(a))
    return results


def _shares(counts: npt.NDArray[np.float64], eps: float) -> npt.NDArray[np.float64]:
    p = counts / max(counts.sum(), 1)
    p = np.maximum(p, eps)
    shares: npt.NDArray[np.float64] = p / p.sum()  # numpy types the division as Any
    return shares


def psi_kl(ref_counts: npt.ArrayLike, cur_counts: npt.ArrayLike, eps: float = EPS) -> tuple[float, float]:
    """(PSI, KL(today || ref)) from aligned bin counts, via ``scipy.stats.entropy``."""

    r = _shares(np.asarray(ref_counts, dtype=float), eps)
    c = _shares(np.asarray(cur_counts, dtype=float), eps)
    kl = float(entropy(c, r))
    return kl + float(entropy(r, c)), kl


def _result(
    feature: str, labels: Sequence[Any], ref_counts: np.ndarray, cur_counts: np.ndarray, eps: float
) -> DriftResult:
    psi, kl = psi_kl(ref_counts, cur_counts, eps)
    p = homogeneity_p_value(ref_counts, cur_counts)
    table = pd.DataFrame(
        {
            "bin": [str(x) for x in labels],
            "ref_n": ref_counts.astype(int),
            "cur_n": cur_counts.astype(int),
            "ref_share": ref_counts / max(ref_counts.sum(), 1),
            "cur_share": cur_counts / max(cur_counts.sum(), 1),
        }
    )
    return DriftResult(
        feature, psi, kl, psi_level(psi, p_value=p), int(ref_counts.sum()), int(cur_counts.sum()), table, p
    )


def _require(n_ref: int, n_cur: int, feature: str) -> None:
    if n_ref == 0 or n_cur == 0:
        raise ValueError(
            f"{feature} drift needs data on both sides (reference n={n_ref}, today n={n_cur}); "
            "widen the reference window or check that today's sample is not empty"
        )


def numeric_drift(
    ref: npt.ArrayLike, cur: npt.ArrayLike, n_bins: int = 10, feature: str = "numeric", eps: float = EPS
) -> DriftResult:
    """PSI/KL of a numeric feature on quantile bins computed from the reference."""
    r = np.asarray(ref, dtype=float)
    c = np.asarray(cur, dtype=float)
    r, c = r[~np.isnan(r)], c[~np.isnan(c)]
    _require(len(r), len(c), feature)
    inner = np.unique(np.quantile(r, np.linspace(0, 1, n_bins + 1))[1:-1])
    rb = np.bincount(np.searchsorted(inner, r, side="right"), minlength=len(inner) + 1)
    cb = np.bincount(np.searchsorted(inner, c, side="right"), minlength=len(inner) + 1)
    edges = [-np.inf, *inner, np.inf]
    labels = [f"[{lo:g}, {hi:g})" for lo, hi in zip(edges[:-1], edges[1:])]
    return _result(feature, labels, rb.astype(float), cb.astype(float), eps)


def input_length_drift(
    ref_lengths: npt.ArrayLike, cur_lengths: npt.ArrayLike, n_bins: int = 10, eps: float = EPS
) -> DriftResult:
    """Input-length drift (characters or tokens), quantile bins from the reference."""
    return numeric_drift(ref_lengths, cur_lengths, n_bins, "input_length", eps)


def categorical_drift(
    ref: Sequence[Any] | pd.Series,
    cur: Sequence[Any] | pd.Series,
    feature: str = "category",
    eps: float = EPS,
) -> DriftResult:
    """PSI/KL of a categorical mix over the union of categories (nulls as ``<none>``)."""
    r = pd.Series(ref, dtype="object").fillna("<none>").astype(str)
    c = pd.Series(cur, dtype="object").fillna("<none>").astype(str)
    _require(len(r), len(c), feature)
    labels = sorted(set(r) | set(c))
    rc = r.value_counts().reindex(labels, fill_value=0).to_numpy(dtype=float)
    cc = c.value_counts().reindex(labels, fill_value=0).to_numpy(dtype=float)
    return _result(feature, labels, rc, cc, eps)


def category_drift(
    ref_categories: Sequence[Any] | pd.Series, cur_categories: Sequence[Any] | pd.Series, eps: float = EPS
) -> DriftResult:
    """Category-mix drift."""
    return categorical_drift(ref_categories, cur_categories, "category", eps)


def embedding_cluster_drift(
    ref_texts: Sequence[str],
    cur_texts: Sequence[str],
    embed_fn: EmbedFn | None = None,
    k: int = 8,
    seed: int = 0,
    max_texts: int = 5000,
    eps: float = EPS,
    n_threads: int = 1,
) -> DriftResult:
    """Drift of input-embedding clusters: k-means (scikit-learn) on reference embeddings, then
    PSI/KL of cluster shares. Each side is subsampled (deterministically) to ``max_texts``.

    k-means runs with ``n_threads`` BLAS/OpenMP threads (default 1: on a shared 2-core machine
    more threads oversubscribe and run ~10x slower for a few thousand texts).
    """
    from sklearn.cluster import KMeans
    from threadpoolctl import threadpool_limits  # noqa: PLC0415 - keeps threadpoolctl out of `import eval_pipeline.definitions`

    _require(len(ref_texts), len(cur_texts), "embedding_cluster")
    embed_fn = embed_fn or minilm_embedder()
    rng = np.random.default_rng(seed)

    def _sub(texts: Sequence[str]) -> list[str]:
        texts = list(texts)
        if len(texts) <= max_texts:
            return texts
        return [texts[i] for i in np.sort(rng.choice(len(texts), max_texts, replace=False))]

    ref_x = embed_fn(_sub(ref_texts))
    cur_x = embed_fn(_sub(cur_texts))
    k = max(1, min(k, len(ref_x)))
    with threadpool_limits(limits=n_threads):
        km = KMeans(n_clusters=k, n_init=4, random_state=seed).fit(ref_x)
        cur_labels = km.predict(cur_x)
    rc = np.bincount(km.labels_, minlength=k).astype(float)
    cc = np.bincount(cur_labels, minlength=k).astype(float)
    return _result("embedding_cluster", [f"cluster_{i}" for i in range(k)], rc, cc, eps)
