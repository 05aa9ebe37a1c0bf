"""Anytime-valid early stopping of the release gate: score samples in random order in chunks, stop paying when every
gated row is decided.

In: per gated row the per-sample paired **drops** ``D_i = baseline pass - candidate pass`` in [-1, 1] (pass
fractions with repeats are fine; a sample outside a segment row contributes nothing: ``masks``), in the order the
samples were scored, the row's minimum effect, and the gate's :class:`RegressionConfig` (alpha, the gated family
split into overall and segment rows, ``segment_alpha_share``). Out: per row the look at which it was decided and how
(``regression`` / ``no_worse`` / ``undecided``), the gate's verdict, the samples used (:class:`SequentialResult`).
Vectorised over a leading axis (seeds, in the benchmark).

Two e-processes per row, each a mixture over a grid of bets (an average of test supermartingales is one; Ville's
inequality makes them valid under optional stopping, Waudby-Smith & Ramdas 2023, "Estimating means of bounded random
variables by betting", JRSS-B; Howard et al. 2021):

* **regression**: H0 "no worse" (E[D] <= 0), ``E = mean_l prod_i (1 + l D_i)``. On the discordant pairs of a
  one-draw-a-side row this is the likelihood ratio of "a discordant pair is candidate-worse with probability
  (1 + l) / 2" against 1/2 (McNemar's null), mixed over l. A row **blocks** at a look when ``E >= 1 / level`` -
  level = ``early_share`` of alpha, split like the fixed gate (overall rows ``1 - segment_alpha_share`` of it,
  segment rows the rest, Bonferroni within each part) - *and* the observed drop is at least the row's minimum
  effect (the fixed gate's rule).
* **no worse** (non-inferiority): H0' "worse by the minimum effect or more" (E[D] >= m), ``E' = mean_l prod_i
  (1 + l (m - D_i))``. A row is decided **no_worse** when ``E' >= 1 / beta_row`` (``beta`` split over the rows
  like alpha): the chance that a candidate worse by the minimum effect on a row stops as "no worse" on it is at
  most ``beta_row``. This side can only pass a candidate early; it never adds a false block.

The run stops at the first look where a row blocks (blocking is final) or every row is ``no_worse``. A run that
scores every sample undecided is decided by the **fixed-N gate** (exact McNemar / paired t, discrete Holm) at
``1 - early_share`` of alpha (:func:`final_config`). False blocks: P(some true-null row crosses at a look, ever)
<= early_share alpha (Ville + Bonferroni) plus P(the final fixed gate blocks falsely) <= (1 - early_share) alpha:
at most alpha in all, under any stopping. Samples are scored in a uniformly random order
(:func:`random_order`): an i.i.d. golden set in random order is an i.i.d. sequence, so each look sees a simple random
sample of it - the file's order (sorted by category, by difficulty) must not leak into the looks.

What it cannot do (``benchmarks.sequential`` measures it): at N = 500 and a 3-point minimum effect, an equally good
candidate is almost never shown "no worse" on every gated row before the end - the per-row evidence for a 3-point
margin at half the samples is about 1-2 standard errors, and the 42 rows of the detection suite must all have it.
The savings come from regressions (a 10-point drop stops at about 0.4 of the samples).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BETS = np.array([0.05, 0.1, 0.2, 0.3, 0.45, 0.6, 0.8, 0.95])  # bets as shares of the largest one allowed
DEFAULT_BETA = 0.2
DEFAULT_CHUNK = 50
DEFAULT_EARLY_SHARE = 0.3  # share of alpha the looks spend; the rest is the fixed gate's at full N


@dataclass
class SequentialResult:
    """One sequential gate per leading index. ``decided_at``: (..., rows) samples scored when the row was decided
    (``n`` if never); ``decision``: (..., rows) 1 regression, -1 no_worse, 0 undecided; ``blocked``: (...) the gate
    blocks; ``used``: (...) samples scored when the run stopped; ``n``: samples available."""

    decided_at: np.ndarray
    decision: np.ndarray
    blocked: np.ndarray
    used: np.ndarray
    n: int
    early_blocked: np.ndarray | None = (
        None  # (...) blocked at a look by the e-process (before any final test)
    )

    @property
    def needs_final(self) -> np.ndarray:
        """Runs that scored every sample without a decision: the fixed-N gate decides them at its share of alpha
        (:func:`final_config`)."""
        return (self.used >= self.n) & ~self.blocked

    @property
    def share_used(self) -> np.ndarray:
        return self.used / self.n


def row_levels(
    cfg, segment: np.ndarray, beta: float = DEFAULT_BETA, early_share: float = DEFAULT_EARLY_SHARE
) -> tuple[np.ndarray, np.ndarray]:
    """Per gated row the level of its regression e-process (``early_share`` of alpha, split as the fixed gate splits
    it: overall / segment parts, Bonferroni within each) and its no-worse level (``beta`` split the same way).
    ``segment``: bool per row, True for a segment row."""
    segment = np.asarray(segment, bool)
    m_seg, m_all = int(segment.sum()), int((~segment).sum())
    share = cfg.segment_alpha_share if (m_seg and m_all) else (1.0 if m_seg else 0.0)
    part = np.where(segment, share / max(m_seg, 1), (1 - share) / max(m_all, 1))
    return cfg.alpha * early_share * part, beta * part


def final_config(cfg, early_share: float = DEFAULT_EARLY_SHARE):
    """The fixed-N gate's options for a run that scored every sample undecided: alpha reduced to ``1 - early_share``
    of it, so that P(false block at a look) + P(false block at the end) <= early_share alpha + (1 - early_share)
    alpha = alpha (union bound; the final test is the fixed gate on all samples, whatever the looks did)."""
    from dataclasses import replace

    return replace(cfg, alpha=cfg.alpha * (1.0 - early_share))


def _log_mixture(increments: np.ndarray) -> np.ndarray:
    """log of the mean over the last axis (the bets) of exp(cumulative log wealth): a numerically safe log-mean-exp."""
    top = increments.max(axis=-1, keepdims=True)
    return (top + np.log(np.mean(np.exp(increments - top), axis=-1, keepdims=True)))[..., 0]


def sequential_gate(
    drops: np.ndarray,
    masks: np.ndarray,
    min_effect: np.ndarray,
    level: np.ndarray,
    beta_level: np.ndarray,
    chunk: int = DEFAULT_CHUNK,
) -> SequentialResult:
    """Run the sequential gate on ``drops`` / ``masks`` of shape (..., rows, n), samples in scoring order (random);
    looks after every ``chunk`` samples and at n. ``min_effect``, ``level``, ``beta_level``: per row (rows,)."""
    d = np.asarray(drops, dtype=float)
    w = np.asarray(masks, dtype=bool)
    if d.shape != w.shape or d.ndim < 2:
        raise ValueError(f"drops {d.shape} and masks {w.shape} must both be (..., rows, n)")
    if np.nanmax(np.abs(np.where(w, d, 0.0)), initial=0.0) > 1:
        raise ValueError("drops must lie in [-1, 1] (pass fractions: baseline minus candidate)")
    n = d.shape[-1]
    m = np.asarray(min_effect, float)[:, None]
    d = np.where(w, np.nan_to_num(d), 0.0)
    looks = np.unique(np.r_[np.arange(chunk, n, chunk), n])
    # cumulative log wealth at each look, per bet: regression bets l in (0, 1); no-worse bets l in (0, 1 / (1 - m))
    lam_r = BETS * 0.99
    lam_f = BETS[None, :] * 0.99 / (1 - m)  # (rows, bets)
    inc_r = np.log1p(d[..., None] * lam_r)
    inc_f = np.where(w[..., None], np.log1p((m[..., None] - d[..., None]) * lam_f[:, None, :]), 0.0)
    cum_r = np.cumsum(inc_r, axis=-2)[..., looks - 1, :]
    cum_f = np.cumsum(inc_f, axis=-2)[..., looks - 1, :]
    log_e_r, log_e_f = _log_mixture(cum_r), _log_mixture(cum_f)  # (..., rows, looks)
    k = np.cumsum(w, axis=-1)[..., looks - 1]
    drop_mean = np.cumsum(d, axis=-1)[..., looks - 1] / np.maximum(k, 1)
    block = (log_e_r >= -np.log(np.asarray(level))[:, None]) & (drop_mean >= m - 1e-12) & (k > 0)
    fine = log_e_f >= -np.log(np.asarray(beta_level))[:, None]
    # the first look at which each row is decided (a block wins a tie: it is the one that ends the run)
    first_block = np.where(block.any(-1), block.argmax(-1), len(looks))
    first_fine = np.where(fine.any(-1), fine.argmax(-1), len(looks))
    decision = np.where(
        first_block <= first_fine, np.where(first_block < len(looks), 1, 0), -1
    )  # (..., rows)
    at = np.minimum(first_block, first_fine)
    # the run stops at the first block, or when every row is no_worse
    stop_block = np.where(decision == 1, at, len(looks)).min(-1)
    stop_all = np.where((decision == -1).all(-1), at.max(-1), len(looks))
    stop = np.minimum(stop_block, stop_all)
    blocked = stop_block <= stop_all
    blocked &= stop_block < len(looks)
    used = looks[np.minimum(stop, len(looks) - 1)]
    # rows not decided by the stop are undecided
    decision = np.where(at <= stop[..., None], decision, 0)
    decided_at = np.where(decision != 0, looks[np.minimum(at, len(looks) - 1)], n)
    return SequentialResult(decided_at, decision, blocked, used, n, early_blocked=blocked.copy())


def random_order(n: int, rng: np.random.Generator) -> np.ndarray:
    """The order samples are sent and scored in: a uniform random permutation (what makes a look's samples a simple
    random sample of the golden set, so the rows' drops are i.i.d. draws of the task distribution)."""
    return rng.permutation(n)


@dataclass
class GatedDrops:
    """The sequential gate's input built from two runs' score rows: ``names`` per row
    (``suite/eval_set:metric.pass_rate[segment]``), ``drops`` / ``masks`` (rows, n) in ``order`` (sample ids),
    ``min_effect`` and ``segment`` per row, and the gated rows it could not take (``left_out``: mean-value rows,
    whose differences are unbounded; the fixed gate decides them at N)."""

    names: list[str]
    drops: np.ndarray
    masks: np.ndarray
    min_effect: np.ndarray
    segment: np.ndarray
    order: list[str]
    left_out: list[str]


def scoring_order(sample_ids, seed: int = 0) -> list[str]:
    """A reproducible random order of sample ids: by the SHA-256 of (seed, id) - the order a sequential run sends
    the samples in, independent of the file's order and of any outcome."""
    import hashlib

    ids = sorted({str(s) for s in sample_ids})
    return sorted(ids, key=lambda s: hashlib.sha256(f"{seed}:{s}".encode()).hexdigest())


def gated_drops(candidate_scores, baseline_scores, cfg, seed: int = 0) -> GatedDrops:
    """Per gated pass-rate row (overall and, with ``gate_segments``, per category) of ``cfg``'s family, the per-sample
    drops ``baseline pass fraction - candidate pass fraction`` of the shared samples, paired as the fixed gate pairs
    them (``pairing.pair_runs``, the composite from ``composite.with_composite_pass``, the family from
    ``gating.family_measures``), ordered by :func:`scoring_order`."""
    from eval_pipeline.history.sql import SEGMENT_ALL
    from eval_pipeline.project.regression_schema import GROUP_KEYS
    from eval_pipeline.regression.composite import with_composite_pass
    from eval_pipeline.regression.gating import family_measures
    from eval_pipeline.regression.pairing import pair_runs

    pairs = pair_runs(with_composite_pass(candidate_scores), with_composite_pass(baseline_scores))
    pairs = pairs.dropna(subset=["pass_frac_c", "pass_frac_b"])
    order = scoring_order(pairs["sample_id"], seed)
    pos = {s: i for i, s in enumerate(order)}
    names, drops, masks, min_effect, segment, left_out = [], [], [], [], [], []
    for keys, grp in pairs.groupby(GROUP_KEYS, sort=True, dropna=False):
        continuous = bool(grp["nonbinary_c"].any() or grp["nonbinary_b"].any())
        measures = family_measures(cfg, str(keys[1]), str(keys[3]), continuous)
        name = f"{keys[0]}/{keys[1]}:{keys[3]}"
        left_out += [f"{name}.{m}" for m in sorted(measures - {"pass_rate"})]
        if "pass_rate" not in measures:
            continue
        idx = grp["sample_id"].astype(str).map(pos).to_numpy()
        d = np.zeros(len(order))
        d[idx] = (grp["pass_frac_b"] - grp["pass_frac_c"]).to_numpy(float)
        cats = [(SEGMENT_ALL, np.ones(len(grp), bool))]
        if cfg.gate_segments and cfg.segments and grp["category"].nunique() > 1:
            cats += [(str(c), (grp["category"] == c).to_numpy()) for c in sorted(grp["category"].unique())]
        for seg, member in cats:
            w = np.zeros(len(order), bool)
            w[idx[member]] = True
            names.append(name + ".pass_rate" + ("" if seg == SEGMENT_ALL else f"[{seg}]"))
            drops.append(d)
            masks.append(w)
            segment.append(seg != SEGMENT_ALL)
            min_effect.append(
                max(cfg.min_effect, cfg.min_effect_segment) if seg != SEGMENT_ALL else cfg.min_effect
            )
    shape = (0, len(order))
    return GatedDrops(
        names,
        np.array(drops).reshape(-1, len(order)) if drops else np.zeros(shape),
        np.array(masks).reshape(-1, len(order)) if masks else np.zeros(shape, bool),
        np.array(min_effect, float),
        np.array(segment, bool),
        order,
        left_out,
    )
