"""Paired-test primitives of the regression gate (thin wrappers over statsmodels / scipy).

In: paired outcomes or differences (numpy arrays). Out: p-values (two-sided or one-sided), effects with
confidence intervals, and multiplicity-adjusted p-values (discrete Holm, Holm, Bonferroni, Benjamini-Hochberg).

Paired pass/fail rows with one draw per side use McNemar's exact conditional test (via :func:`stratified_exact`,
which with one draw a side *is* :func:`mcnemar_exact`: binomial on the discordant pairs; closed-form support
:func:`binomial_support`); it is exact under the gate's null "the candidate is no worse on the task distribution"
because the (baseline, candidate) pairs of independently drawn samples are i.i.d. With repeats or pooled nights a
sample's draws need not be exchangeable (a different model at temperature 0, replayed answers, drift), so those rows
use :func:`paired_t` on the per-sample differences (the sample is the unit; valid for any draw counts). McNemar is
discrete: with
n discordant pairs only n + 1 p-values can occur, so a test at level alpha has an actual size below alpha, and
plain Holm, which treats every p-value as if it could take any value, wastes that slack on every row.
:func:`discrete_holm` (Döhler 2010, "Validation of credit default probabilities using multiple-testing
procedures", J. Risk Model Validation 4(4); Zhu & Guo 2019, Biometrical J. 61(1):40; after Tarone 1990)
spends it: at step l it sums, over the hypotheses not yet rejected, the largest p-value each one *can attain*
at or below p_(l) (the support :func:`stratified_exact` returns) instead of p_(l) itself. Family-wise error stays <= alpha under any dependence between the rows, and it is never less
powerful than Holm (a row without a known support - Wilcoxon, sign-flip - counts as continuous, F(t) = t,
which makes the procedure Holm on those rows). McNemar's mid-p test (:func:`mcnemar_midp`, Fagerland et al.
2013) is closer to the nominal level row by row but does not guarantee it (1000 simulated A/A gates: 5.1 %),
so it is kept for reference and does not gate.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import numpy.typing as npt

from eval_pipeline.project.regression_config import GATE_PROCEDURES

ScipyAlternative = Literal["two-sided", "less", "greater"]
_T_ALTERNATIVE: dict[str, ScipyAlternative] = {"two-sided": "two-sided", "less": "less", "greater": "greater"}
Supports = Sequence[npt.ArrayLike | None]  # per p-value, the p-values its test can attain (None: continuous)
EXACT_MAX_NONZERO = 13  # up to this many non-zero paired differences: exact sign-flip enumeration (2^n)
PERMUTATION_MAX_NONZERO = 50  # up to this many: Monte Carlo sign-flip p-value (valid: (hits+1)/(B+1))
PERMUTATION_RESAMPLES = 4999


# ---------------------------------------------------------------------------


def mcnemar_exact(
    baseline_pass: np.ndarray, candidate_pass: np.ndarray, alternative: str = "two-sided"
) -> tuple[int, int, float]:
    """McNemar's exact test on paired pass/fail outcomes.

    Returns ``(n_worse, n_better, p_value)`` where ``n_worse`` counts samples the
    baseline passed and the candidate failed. ``alternative="two-sided"``: statsmodels
    ``mcnemar(exact=True)``; ``"worse"``: one-sided, the candidate fails more often -
    ``scipy.stats.binomtest(n_worse, n_worse + n_better, 0.5, alternative="greater")`` on the
    discordant pairs; ``"better"``: the mirror image.
    """
    from scipy import stats  # noqa: PLC0415 - keeps scipy out of `eval-pipeline run`'s start-up (inference/warmup.py loads it during the requests)
    from statsmodels.stats.contingency_tables import mcnemar  # noqa: PLC0415 - keeps statsmodels out of `import eval_pipeline.definitions`

    b = np.asarray(baseline_pass, dtype=bool)
    c = np.asarray(candidate_pass, dtype=bool)
    table = [[int(np.sum(b & c)), int(np.sum(b & ~c))], [int(np.sum(~b & c)), int(np.sum(~b & ~c))]]
    worse, better = table[0][1], table[1][0]
    if worse + better == 0:
        return 0, 0, 1.0
    if alternative == "two-sided":
        return worse, better, float(mcnemar(table, exact=True).pvalue)
    if alternative not in ("worse", "better"):
        raise ValueError(f"alternative={alternative!r}: use 'two-sided', 'worse' or 'better'")
    k = worse if alternative == "worse" else better
    return worse, better, float(stats.binomtest(k, worse + better, 0.5, alternative="greater").pvalue)


def mcnemar_midp(
    baseline_pass: np.ndarray, candidate_pass: np.ndarray, alternative: str = "two-sided"
) -> tuple[int, int, float]:
    """McNemar's mid-p test on paired pass/fail outcomes (Fagerland, Lydersen & Laake 2013).

    Returns ``(n_worse, n_better, p_value)`` as :func:`mcnemar_exact`. Conditional on the ``n = b + c``
    discordant pairs, ``X ~ Binomial(n, 0.5)`` under the null. ``"worse"`` (one-sided, the candidate fails
    more often): ``P(X > n_worse) + 0.5 P(X = n_worse)``; ``"better"``: the same with ``n_better``;
    ``"two-sided"``: ``2 [P(X < m) + 0.5 P(X = m)]`` with ``m = min(b, c)``, capped at 1
    (``scipy.stats.binom`` ``sf`` / ``cdf`` / ``pmf``). No discordant pair gives ``(0, 0, 1.0)``.
    """

    from scipy import stats  # noqa: PLC0415 - keeps scipy out of `eval-pipeline run`'s start-up (inference/warmup.py loads it during the requests)

    b = np.asarray(baseline_pass, dtype=bool)
    c = np.asarray(candidate_pass, dtype=bool)
    worse, better = int(np.sum(b & ~c)), int(np.sum(~b & c))
    n = worse + better
    if n == 0:
        return 0, 0, 1.0
    if alternative == "two-sided":
        m = min(worse, better)
        p = 2.0 * (stats.binom.cdf(m - 1, n, 0.5) + 0.5 * stats.binom.pmf(m, n, 0.5))
        return worse, better, float(min(1.0, p))
    if alternative not in ("worse", "better"):
        raise ValueError(f"alternative={alternative!r}: use 'two-sided', 'worse' or 'better'")
    k = worse if alternative == "worse" else better
    return worse, better, float(stats.binom.sf(k, n, 0.5) + 0.5 * stats.binom.pmf(k, n, 0.5))


def stratified_exact(
    cand_passes: npt.ArrayLike,
    cand_k: npt.ArrayLike,
    base_passes: npt.ArrayLike,
    base_k: npt.ArrayLike,
    alternative: str = "two-sided",
) -> tuple[int, int, float, np.ndarray]:
    """Exact conditional test of paired pass/fail counts with any number of draws per sample and side: the
    Mantel-Haenszel statistic over per-sample 2 x 2 tables, its null distribution computed exactly.

    Sample i has ``cand_k[i]`` graded candidate draws (``cand_passes[i]`` passed) and ``base_k[i]`` baseline draws
    (repeats, and pooled baseline nights). Under the null (both sides draw from the same per-sample pass
    probability) the draws of a sample are exchangeable, so given its total passes s_i the candidate's passes
    are ``Hypergeom(k_c + k_b, s_i, k_c)`` (scipy ``hypergeom``), independent across samples; the statistic is
    their sum T, its exact distribution the convolution of those pmfs. ``"worse"``: ``P(T <= t)``; ``"better"``:
    ``P(T >= t)``; ``"two-sided"``: twice the smaller, capped at 1. With one draw per side it *is* the exact
    McNemar test (samples with one pass of two are the discordant pairs, X ~ Bernoulli(1/2)).

    Returns ``(n_worse, n_better, p, support)``: samples whose candidate pass fraction is below / above the
    baseline's, the p-value and every p-value the test could give for these margins (for :func:`discrete_holm`).
    """

    from scipy import stats  # noqa: PLC0415 - keeps scipy out of `eval-pipeline run`'s start-up (inference/warmup.py loads it during the requests)

    if alternative not in ("two-sided", "worse", "better"):
        raise ValueError(f"alternative={alternative!r}: use 'two-sided', 'worse' or 'better'")
    xc, kc = np.asarray(cand_passes, dtype=int), np.asarray(cand_k, dtype=int)
    xb, kb = np.asarray(base_passes, dtype=int), np.asarray(base_k, dtype=int)
    frac = xc / np.maximum(kc, 1) - xb / np.maximum(kb, 1)
    worse, better = int(np.sum(frac < 0)), int(np.sum(frac > 0))
    s, m = xc + xb, kc + kb
    informative = (s > 0) & (s < m) & (kc > 0) & (kb > 0)  # a sample all pass / all fail carries no evidence
    if not informative.any():
        return worse, better, 1.0, np.array([1.0])
    pmf = np.array([1.0])
    lo = 0  # the smallest attainable T of the informative samples
    for (mi, si, ki), count in zip(*np.unique(np.c_[m, s, kc][informative], axis=0, return_counts=True)):
        low, high = max(0, ki - (mi - si)), min(ki, si)
        one = stats.hypergeom.pmf(np.arange(low, high + 1), mi, si, ki)
        lo += low * count
        pmf = np.convolve(pmf, _convolution_power(one, int(count)))
    pmf = np.clip(pmf, 0.0, None)
    pmf /= pmf.sum()
    cdf = np.minimum(np.cumsum(pmf), 1.0)  # P(T <= lo + j)
    sf = np.minimum(np.cumsum(pmf[::-1])[::-1], 1.0)  # P(T >= lo + j)
    j = int(xc[informative].sum()) - lo
    if alternative == "worse":
        p, support = cdf[j], cdf
    elif alternative == "better":
        p, support = sf[j], sf
    else:
        two = np.minimum(1.0, 2.0 * np.minimum(cdf, sf))
        p, support = two[j], two
    return worse, better, float(p), np.unique(support)


def _convolution_power(pmf: np.ndarray, count: int) -> np.ndarray:
    """The pmf of the sum of ``count`` independent draws of ``pmf`` (binary exponentiation of ``np.convolve``)."""
    out, base = np.array([1.0]), pmf
    while count:
        if count & 1:
            out = np.convolve(out, base)
        count >>= 1
        if count:
            base = np.convolve(base, base)
    return out


def paired_t(diff: np.ndarray, alternative: str = "two-sided") -> float:
    """p-value of the paired t-test that the mean per-sample difference is 0 (scipy ``ttest_1samp``).

    The sample is the unit: ``diff[i]`` is sample i's candidate minus baseline (pass fraction or mean value over
    however many draws each side has), i.i.d. across samples drawn from the task distribution, so the test is
    (asymptotically) valid for unequal repeats, replayed or correlated draws and a different model - it assumes
    neither symmetry (Wilcoxon, sign flips) nor independent draws within a sample (the stratified exact test).
    ``alternative``: ``"two-sided"``, ``"less"`` or ``"greater"``. All-equal differences: p = 1 (0 mean) or, for
    a non-zero constant, 0 / 1 by its side (no variance: the sign decides)."""

    from scipy import stats  # noqa: PLC0415 - keeps scipy out of `eval-pipeline run`'s start-up (inference/warmup.py loads it during the requests)

    if alternative not in _T_ALTERNATIVE:
        raise ValueError(f"alternative={alternative!r}: use 'two-sided', 'less' or 'greater'")
    d = np.asarray(diff, dtype=float)
    d = d[~np.isnan(d)]
    if d.size < 2 or np.all(d == d[0]):
        m = float(d[0]) if d.size else 0.0
        if m == 0 or d.size < 2:
            return 1.0
        return 0.0 if (alternative == "two-sided" or (m < 0) == (alternative == "less")) else 1.0
    return float(stats.ttest_1samp(d, 0.0, alternative=_T_ALTERNATIVE[alternative]).pvalue)


def paired_location_test(
    diff: np.ndarray,
    method: str = "wilcoxon",
    n_resamples: int = 2000,
    seed: int = 0,
    alternative: str = "two-sided",
) -> float:
    """p-value that paired differences are centred on 0.

    ``alternative``: ``"two-sided"`` (default), ``"less"`` (the differences tend to be negative)
    or ``"greater"``, as in scipy. ``wilcoxon``: signed-rank test on the non-zero differences
    (``zero_method="wilcox"``), statistic T+ with mid-ranks. With at most :data:`EXACT_MAX_NONZERO`
    of them the p-value is exact (all 2^n sign flips enumerated, ``scipy.stats.permutation_test``);
    up to :data:`PERMUTATION_MAX_NONZERO` a Monte Carlo sign-flip p-value (valid at any n); above
    that scipy's tie-corrected normal approximation. So ties (e.g. pass fractions of 3 repeats)
    never make a small test anti-conservative. ``sign_flip``: ``scipy.stats.permutation_test`` of
    the mean (exact when 2^n <= ``n_resamples``). All-zero differences give p = 1.
    """

    from scipy import stats  # noqa: PLC0415 - keeps scipy out of `eval-pipeline run`'s start-up (inference/warmup.py loads it during the requests)

    if alternative not in _T_ALTERNATIVE:
        raise ValueError(f"alternative={alternative!r}: use 'two-sided', 'less' or 'greater'")
    alt = _T_ALTERNATIVE[alternative]
    if method == "t":
        return paired_t(diff, alternative)
    d = np.asarray(diff, dtype=float)
    d = d[~np.isnan(d)]
    if d.size == 0 or np.all(d == 0):
        return 1.0
    if method == "wilcoxon":
        nz = d[d != 0]
        if nz.size == 1:  # exact over the 2 sign flips: two-sided both are as extreme; one-sided 1/2 or 1
            if alternative == "two-sided":
                return 1.0
            return 0.5 if (nz[0] < 0) == (alternative == "less") else 1.0
        if nz.size <= PERMUTATION_MAX_NONZERO:
            ranks: npt.NDArray[np.float64] = stats.rankdata(
                np.abs(nz)
            )  # mid-ranks; |d| is unchanged by any sign flip

            def t_plus(x: npt.NDArray[np.float64], axis: int = -1) -> npt.NDArray[np.float64]:
                stat: npt.NDArray[np.float64] = np.sum(
                    ranks * (x > 0), axis=axis
                )  # numpy types sum(axis=) as Any
                return stat

            b = 2**nz.size if nz.size <= EXACT_MAX_NONZERO else PERMUTATION_RESAMPLES
            res = stats.permutation_test(
                (nz,),
                t_plus,
                permutation_type="samples",
                n_resamples=b,
                alternative=alt,
                vectorized=True,
                batch=2**14,
                rng=np.random.default_rng(seed),
            )
            return float(min(1.0, res.pvalue))
        return float(stats.wilcoxon(nz, zero_method="wilcox", alternative=alt, method="approx").pvalue)
    if method == "sign_flip":
        res = stats.permutation_test(
            (d,),
            np.mean,
            permutation_type="samples",
            n_resamples=n_resamples,
            alternative=alt,
            rng=np.random.default_rng(seed),
        )
        return float(res.pvalue)
    raise ValueError(f"unknown paired test {method!r}: use 't', 'wilcoxon' or 'sign_flip'")


def effect_interval(
    diff: np.ndarray, level: float = 0.95, method: str = "t", n_resamples: int = 2000, seed: int = 0
) -> tuple[float, float, float]:
    """Mean paired difference and its confidence interval: ``(effect, low, high)``.

    ``t``: statsmodels ``DescrStatsW(diff).tconfint_mean``; ``bootstrap``:
    ``scipy.stats.bootstrap`` (BCa) of the mean difference.
    """
    from scipy import stats  # noqa: PLC0415 - keeps scipy out of `eval-pipeline run`'s start-up (inference/warmup.py loads it during the requests)
    from statsmodels.stats.weightstats import DescrStatsW  # noqa: PLC0415 - keeps statsmodels out of `import eval_pipeline.definitions`

    d = np.asarray(diff, dtype=float)
    d = d[~np.isnan(d)]
    if d.size == 0:
        return float("nan"), float("nan"), float("nan")
    eff = float(d.mean())
    if d.size < 2 or np.all(d == d[0]):
        return eff, eff, eff
    if method == "t":
        lo, hi = DescrStatsW(d).tconfint_mean(alpha=1 - level)
    else:
        res = stats.bootstrap(
            (d,),
            np.mean,
            confidence_level=level,
            n_resamples=n_resamples,
            method="BCa",
            rng=np.random.default_rng(seed),
        )
        lo, hi = res.confidence_interval
    return eff, float(lo), float(hi)


def bh_adjust(p_values: npt.ArrayLike, alpha: float = 0.05) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (statsmodels ``multipletests(method="fdr_bh")``); NaN stays NaN."""
    return adjust(p_values, "bh", alpha)


def adjust(
    p_values: npt.ArrayLike, procedure: str = "bh", alpha: float = 0.05, supports: Supports | None = None
) -> np.ndarray:
    """Adjusted p-values of one family (statsmodels ``multipletests``: ``holm``, ``bonferroni`` or
    ``bh`` = ``fdr_bh``; ``discrete_holm``: :func:`discrete_holm` with ``supports``, one entry per
    p-value, ``None`` for a continuous one); NaN stays NaN."""
    if procedure not in GATE_PROCEDURES:
        raise ValueError(f"procedure={procedure!r}: use one of {list(GATE_PROCEDURES)}")
    p = np.asarray(p_values, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = ~np.isnan(p)
    if ok.any():
        if procedure == "discrete_holm":
            sup: list[npt.ArrayLike | None] = [None] * p.size if supports is None else list(supports)
            if len(sup) != p.size:
                raise ValueError(f"{len(sup)} supports for {p.size} p-values")
            out[ok] = discrete_holm(p[ok], [s for s, keep in zip(sup, ok) if keep])
        else:
            out[ok] = _adjusted(p[ok], procedure)
    return out


def binomial_support(n: int, alternative: str = "worse") -> np.ndarray:
    """Every p-value the exact McNemar test can give with ``n`` discordant pairs, ascending.

    One-sided (``"worse"`` / ``"better"``): ``P(X >= k)`` for k = 0..n, ``X ~ Binomial(n, 1/2)``
    (scipy ``binom.sf(k - 1)``; the p-values :func:`mcnemar_exact` returns). ``"two-sided"``:
    ``min(1, 2 P(X <= m))`` for m = 0..n // 2 (statsmodels' exact McNemar). ``n = 0``: ``[1.0]``."""

    from scipy import stats  # noqa: PLC0415 - keeps scipy out of `eval-pipeline run`'s start-up (inference/warmup.py loads it during the requests)

    if n <= 0:
        return np.array([1.0])
    if alternative == "two-sided":
        return np.unique(np.minimum(1.0, 2.0 * stats.binom.cdf(np.arange(n // 2 + 1), n, 0.5)))
    if alternative not in ("worse", "better"):
        raise ValueError(f"alternative={alternative!r}: use 'two-sided', 'worse' or 'better'")
    return np.unique(stats.binom.sf(np.arange(n + 1) - 1, n, 0.5))


def discrete_holm(p_values: npt.ArrayLike, supports: Supports) -> np.ndarray:
    """Adjusted p-values of the discrete Holm step-down procedure (Döhler 2010; Zhu & Guo 2019; Westfall &
    Wolfinger 1997). Döhler, Durand & Roquain (2018) is the discrete *FDR* paper, not this one.

    ``supports[i]``: the p-values test i can attain (for an exact McNemar row :func:`binomial_support`), or
    ``None`` for a test treated as continuous. With ``F_i(t)`` = the largest attainable p-value of test i at or
    below t (0 if none; ``t`` for a continuous test) - the most its null distribution can put at or below t -
    and p_(1) <= ... <= p_(m) with their tests in that order,
    ``p~_(k) = max_{l <= k} min(1, sum_{j >= l} F_(j)(p_(l)))``. Reject where ``p~ < alpha``. Every F_i(t) <= t,
    so p~ never exceeds Holm's adjusted p-value; with all tests continuous it is Holm's. Family-wise error
    <= alpha under arbitrary dependence (the Bonferroni-inequality argument of Holm's proof with F_i in place of t).
    """
    p = np.asarray(p_values, dtype=float)
    m = p.size
    if len(supports) != m:
        raise ValueError(f"{len(supports)} supports for {m} p-values")
    order = np.argsort(p, kind="mergesort")
    ps = p[order]
    # F[l, j] = F_(j)(p_(l)): rows are the thresholds, columns the tests in p order
    f = np.empty((m, m))
    tol = 1e-9  # an observed p-value is an attainable one up to floating-point noise of the two computations
    for j, i in enumerate(order):
        s = supports[i]
        if s is None:
            f[:, j] = ps
            continue
        s = np.sort(np.asarray(s, dtype=float))
        at = np.searchsorted(s, ps * (1 + tol) + 1e-15, side="right") - 1
        f[:, j] = np.where(at >= 0, s[np.clip(at, 0, None)], 0.0)
    tails = np.array([f[l, l:].sum() for l in range(m)])  # noqa: E741
    adj = np.minimum(np.maximum.accumulate(tails), 1.0)
    out = np.empty(m)
    out[order] = adj
    return out


def _adjusted(p: npt.NDArray[np.float64], procedure: str) -> npt.NDArray[np.float64]:
    """The adjusted p-values of statsmodels ``multipletests(method=holm|bonferroni|fdr_bh)[1]``, vectorized
    (multipletests runs a garbage collection per call; a test checks the equality)."""
    m = p.size
    if procedure == "bonferroni":
        return np.minimum(p * m, 1.0)
    order = np.argsort(p, kind="mergesort")
    ps = p[order]
    if procedure == "holm":
        adj = np.minimum(np.maximum.accumulate((m - np.arange(m)) * ps), 1.0)
    else:  # bh
        adj = np.minimum(np.minimum.accumulate((ps * m / np.arange(1, m + 1))[::-1])[::-1], 1.0)
    out = np.empty(m)
    out[order] = adj
    return out
