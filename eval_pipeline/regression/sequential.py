"""Anytime-valid early stopping of the release gate: score samples in random order in chunks, pay only for the
samples that can still change a gated row's decision.

In: per gated row its members among the N samples (a segment row: its category), the per-sample paired **drops**
``D_i = baseline pass - candidate pass`` in [-1, 1] as they are scored (pass fractions with repeats are fine), the
row's minimum effect and its levels (:func:`row_levels`, from the gate's :class:`RegressionConfig`). Out:
:class:`SequentialGate` - per look the row statuses, which samples to score next, whether the run stops, the
verdict and the samples used. The driver (``defs/ci_sequential.py`` for ``eval-pipeline run --sequential``, the benchmark) sends what
:meth:`SequentialGate.next_samples` asks for, feeds the drops to :meth:`~SequentialGate.add` and calls
:meth:`~SequentialGate.look`.

A row is **open**, or settled one of three ways:

* **regression** (blocks, final): a mixture-of-bets e-process for H0 "no worse" (E[D] <= 0),
  ``E = mean_l prod_i (1 + l D_i)`` (Waudby-Smith & Ramdas 2023; an average of test supermartingales is one, and
  Ville's inequality makes ``E >= 1 / level`` a valid test at every look, however many) reaches ``1 / level`` *and*
  the observed drop is at least the row's minimum effect (the fixed gate's rule). ``level``: ``early_share`` of
  alpha, split as the fixed gate splits it (overall rows ``1 - segment_alpha_share``, segment rows the rest,
  Bonferroni within each part). The run stops at the first block.
* **no_worse** (non-inferiority at the minimum effect m, anytime-valid): the e-process for H0' "worse by m or
  more" (E[D] >= m), ``E' = mean_l prod_i (1 + l (m - D_i))``, reaches ``1 / beta_row``: a row worse by m or more
  is settled this way with probability <= ``beta_row`` (``beta`` split like alpha).
* **below_mde** (futility, non-binding): the drop the data still allow - the one-sided upper bound
  ``mean + z SE`` (``z`` 0.8: 79 %) - is below the row's **MDE** (the drop its final test at the row's full n is
  sized to catch, 80 % power: :func:`row_mde`, as ``eval-pipeline plan`` computes it) *and* the conditional power
  at the MDE - the chance the final test would still block, given the drops so far and a true drop of the MDE
  (Lan, Simon & Halperin 1982) - is below ``gamma`` (0.5; it keeps a row that is close to blocking near the end
  open). Normal approximations with the per-sample variance seen so far, floored at m (a binary row worse by m
  discords on >= m of the samples). Re-evaluated at every look while the row's samples are still scored: a row
  can reopen.

**Which samples are scored.** A unit is one eval set's sample (one request). It is scored only while some open
row contains it; rows whose remaining members are no longer all scored are **frozen** (their status is final - once
the scoring order is restricted to some categories, an overall row's stream is no longer a random sample). While
an eval set's overall row is open every sample of that eval set is scored; once they are all settled, only its
categories with an open segment row are, and an eval set whose rows are all settled is not paid for. The run stops
when a row blocks or no open row has an unscored member. Rows still open then have all their members: the
**fixed-N gate** decides them (exact McNemar / paired t, discrete Holm) at ``1 - early_share`` of alpha
(:func:`final_config`), frozen rows taking p = 1 (they cannot block; raising p-values never adds a Holm rejection).

**Errors.** False blocks: P(some true-null row's e-process crosses, ever) <= early_share alpha (Ville +
Bonferroni) plus P(the final gate blocks falsely) <= (1 - early_share) alpha - at most alpha under any stopping;
no_worse and below_mde only remove blocks, so they never add a false one (Holm and discrete Holm are monotone: a
p-value raised to 1 never adds a rejection). Power: no_worse costs a row worse by m at most ``beta_row``;
below_mde has **no** guarantee - it trades power for samples, and ``benchmarks.sequential`` measures the trade
(3-, 5-, 10-point drops, a 20-point category collapse, against the fixed gate on the same draws). Assumes samples
scored in a uniformly random order (:func:`scoring_order`), so each look sees a simple random sample of the golden
set and of each category, and per-sample drops independent across samples (one draw a side, or a sample's
repeats averaged into one value).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
import pandas as pd

from eval_pipeline.history.sql import SEGMENT_ALL
from eval_pipeline.project.regression_config import RegressionConfig
from eval_pipeline.project.regression_schema import GROUP_KEYS
from eval_pipeline.regression.composite import with_composite_pass
from eval_pipeline.regression.gating import family_measures
from eval_pipeline.regression.pairing import per_sample

BETS = np.array([0.05, 0.1, 0.2, 0.3, 0.45, 0.6, 0.8, 0.95])  # bets as shares of the largest one allowed
DEFAULT_BETA = 0.2
DEFAULT_Z = 0.8  # below_mde: one-sided upper bound at 79 % (a z of 0.8) of the drop
DEFAULT_GAMMA = 0.5
DEFAULT_CHUNK = 25
DEFAULT_EARLY_SHARE = 0.1  # share of alpha the looks spend; the rest is the fixed gate's at full N
OPEN, REGRESSION, NO_WORSE, BELOW_MDE = 0, 1, -1, -2
STATUS_NAMES = {OPEN: "open", REGRESSION: "regression", NO_WORSE: "no_worse", BELOW_MDE: "below_mde"}
# numpy types array arithmetic of unknown dtype as Any: ``out: np.ndarray = ...`` lines below state the result


def row_levels(
    cfg: RegressionConfig,
    segment: np.ndarray,
    beta: float = DEFAULT_BETA,
    early_share: float = DEFAULT_EARLY_SHARE,
) -> tuple[np.ndarray, np.ndarray]:
    """Per gated row the level of its regression e-process (``early_share`` of alpha, split as the fixed gate splits
    it: overall / segment parts, Bonferroni within each) and its no-worse level (``beta`` split the same way).
    ``segment``: bool per row, True for a segment row."""
    segment = np.asarray(segment, bool)
    m_seg, m_all = int(segment.sum()), int((~segment).sum())
    share = cfg.segment_alpha_share if (m_seg and m_all) else (1.0 if m_seg else 0.0)
    part = np.where(segment, share / max(m_seg, 1), (1 - share) / max(m_all, 1))
    return cfg.alpha * early_share * part, beta * part


def final_levels(
    cfg: RegressionConfig, segment: np.ndarray, early_share: float = DEFAULT_EARLY_SHARE
) -> np.ndarray:
    """Per row the one-sided level its final fixed-N test is assumed to face in the conditional power: its
    Bonferroni share of ``1 - early_share`` of alpha (the first Holm step; later steps are reached only when another
    row of its part already blocks)."""
    return row_levels(cfg, segment, 0.0, 1.0)[0] * (1.0 - early_share)


def final_config(cfg: RegressionConfig, early_share: float = DEFAULT_EARLY_SHARE) -> RegressionConfig:
    """The fixed-N gate's options for the rows still open when every sample they contain is scored: alpha reduced to
    ``1 - early_share`` of it, so that P(false block at a look) + P(false block at the end) <= early_share alpha +
    (1 - early_share) alpha = alpha (union bound)."""
    return replace(cfg, alpha=cfg.alpha * (1.0 - early_share))


def _log_mixture(log_wealth: np.ndarray) -> np.ndarray:
    """log of the mean over the last axis (the bets) of exp(log wealth): a numerically safe log-mean-exp."""
    top = log_wealth.max(axis=-1, keepdims=True)
    out: np.ndarray = (top + np.log(np.mean(np.exp(log_wealth - top), axis=-1, keepdims=True)))[..., 0]
    return out


class RowTally(NamedTuple):
    """Per gated row (arrays, or numbers for one row): the sum ``S`` and sum of squares ``Q`` of the ``k`` drops seen,
    the row's members ``n_row``, its ``min_effect`` and the one-sided level its final fixed-N test faces
    (:func:`final_levels`). What the MDE, the conditional power and the futility rule read."""

    S: npt.ArrayLike
    Q: npt.ArrayLike
    k: npt.ArrayLike
    n_row: npt.ArrayLike
    min_effect: npt.ArrayLike
    final_level: npt.ArrayLike


def row_mde(rows: RowTally) -> np.ndarray:
    """Per row the drop its final test at ``n_row`` members is sized to catch: blocked with 80 % at the row's final
    level by the gate's rule (one-sided significance and an observed drop >= ``min_effect``), normal approximation
    with the per-sample variance seen so far, ``v = max(Q / k, min_effect)`` (a binary row worse by m discords on
    >= m of the samples)."""
    from scipy import special  # noqa: PLC0415 - keeps scipy out of `eval-pipeline run`'s start-up (inference/warmup.py loads it during the requests)

    Q, k, n_row, m = (np.asarray(x, float) for x in (rows.Q, rows.k, rows.n_row, rows.min_effect))
    z_power = float(-special.ndtri(0.2))  # the MDE's power: 80 %
    se = np.sqrt(np.maximum(Q / np.maximum(k, 1), m) / np.maximum(n_row, 1))
    out: np.ndarray = np.maximum(m, -special.ndtri(np.asarray(rows.final_level, float)) * se) + z_power * se
    return out


def conditional_power(rows: RowTally, drop: npt.ArrayLike) -> np.ndarray:
    """Per row P(the final test at ``n_row`` members blocks | the ``k`` drops seen (sum ``S``, sum of squares
    ``Q``), a true drop of ``drop``): the remaining members' sum ~ N(rem drop, rem (v - drop^2)), v = max(Q / k,
    drop); the test blocks when the sum reaches ``max(m n, z_level sqrt(Q_n))`` (observed drop >= m and McNemar's
    ``(W - B) / sqrt(W + B)`` at the row's level)."""
    from scipy import special  # noqa: PLC0415 - keeps scipy out of `eval-pipeline run`'s start-up (inference/warmup.py loads it during the requests)

    S, Q, k, n_row, m = (np.asarray(x, float) for x in (rows.S, rows.Q, rows.k, rows.n_row, rows.min_effect))
    drop = np.asarray(drop, float)
    rem = n_row - k
    v = np.maximum(Q / np.maximum(k, 1), drop)
    need = np.maximum(m * n_row, -special.ndtri(np.asarray(rows.final_level, float)) * np.sqrt(Q + rem * v))
    sd = np.sqrt(np.maximum(rem * (v - drop**2), 1e-12))
    out: np.ndarray = np.where(
        rem > 0, special.ndtr((S + rem * drop - need + 1e-9) / sd), (need - 1e-9 <= S) * 1.0
    )
    return out


def below_mde(rows: RowTally, z: float, gamma: float) -> np.ndarray:
    """Per row: the drop the data still allow - the upper bound ``mean + z SE`` - is below the row's MDE
    (:func:`row_mde`: even the smallest drop the full-N gate is sized to catch is implausible) *and* the final test
    would block with probability < ``gamma`` even at a true drop of the MDE (:func:`conditional_power`)."""
    S, Q, k = (np.asarray(x, float) for x in (rows.S, rows.Q, rows.k))
    mde = row_mde(rows)
    v = np.maximum(Q / np.maximum(k, 1), np.asarray(rows.min_effect, float))
    upper = S / np.maximum(k, 1) + z * np.sqrt(v / np.maximum(k, 1))
    out: np.ndarray = (k > 0) & (upper < mde) & (conditional_power(rows, mde) < gamma)
    return out


@dataclass
class SequentialGate:
    """One sequential run over ``members`` (rows, n) bool. Feed scored samples with :meth:`add`, then :meth:`look`;
    :meth:`next_samples` says what to score next. ``status`` per row (:data:`STATUS_NAMES`), ``frozen`` rows no
    longer scored, ``blocked``, ``stopped``, ``used`` (samples scored), ``looks`` (per look: samples scored, rows
    open)."""

    members: np.ndarray
    min_effect: np.ndarray
    level: np.ndarray
    beta_level: np.ndarray
    final_level: np.ndarray
    z: float = DEFAULT_Z
    gamma: float = DEFAULT_GAMMA
    names: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.members = np.asarray(self.members, bool)
        rows, n = self.members.shape
        self.min_effect = np.broadcast_to(np.asarray(self.min_effect, float), (rows,)).copy()
        if np.any(self.min_effect >= 1) or np.any(self.min_effect < 0):
            raise ValueError(f"min_effect must lie in [0, 1) (a fraction), got {self.min_effect}")
        self.n_row = self.members.sum(axis=1)
        self.k, self.S, self.Q = np.zeros(rows), np.zeros(rows), np.zeros(rows)
        self._lam_r = BETS * 0.99
        self._lam_f = BETS[None, :] * 0.99 / (1.0 - self.min_effect[:, None])
        self._log_r = np.zeros((rows, len(BETS)))
        self._log_f = np.zeros((rows, len(BETS)))
        self.scored = np.zeros(n, bool)
        self.status = np.full(rows, OPEN)
        self.no_worse = np.zeros(rows, bool)
        self.frozen = np.zeros(rows, bool)
        self.blocked = self.stopped = False
        self.looks: list[dict[str, int]] = []

    @property
    def n(self) -> int:
        return int(self.members.shape[1])

    @property
    def used(self) -> int:
        return int(self.scored.sum())

    @property
    def needs_final(self) -> bool:
        """Stopped with rows still open (all their members scored): the fixed-N gate decides them."""
        return self.stopped and not self.blocked and bool((self.status == OPEN).any())

    def needed(self) -> np.ndarray:
        """Per sample: not scored yet and a member of some open, unfrozen row."""
        open_ = (self.status == OPEN) & ~self.frozen
        out: np.ndarray = ~self.scored & self.members[open_].any(axis=0)
        return out

    def next_samples(self, order: Sequence[int] | np.ndarray, chunk: int = DEFAULT_CHUNK) -> np.ndarray:
        """The next ``chunk`` sample indices in ``order`` (the random scoring order) that are still needed."""
        pos = np.asarray(order, int)
        out: np.ndarray = pos[self.needed()[pos]][:chunk]
        return out

    def add(self, idx: npt.ArrayLike, drops: npt.ArrayLike) -> None:
        """Record the scored samples ``idx`` with their drops (rows, len(idx)); entries outside a row's members,
        and rows already frozen, are ignored."""
        idx = np.asarray(idx, int)
        if np.any(self.scored[idx]):
            raise ValueError("a sample was added twice: each sample is scored (and paid) once")
        d = np.asarray(drops, float).reshape(len(self.k), len(idx))
        w = self.members[:, idx] & ~self.frozen[:, None]
        d = np.where(w, np.nan_to_num(d), 0.0)
        if np.abs(d).max(initial=0.0) > 1:
            raise ValueError("drops must lie in [-1, 1] (pass fractions: baseline minus candidate)")
        self.k += w.sum(axis=1)
        self.S += d.sum(axis=1)
        self.Q += (d * d).sum(axis=1)
        self._log_r += np.log1p(d[..., None] * self._lam_r).sum(axis=1)
        inc_f = np.log1p((self.min_effect[:, None, None] - d[..., None]) * self._lam_f[:, None, :])
        self._log_f += np.where(w[..., None], inc_f, 0.0).sum(axis=1)
        self.scored[idx] = True

    def look(self) -> bool:
        """Update every unfrozen row's status, freeze rows no longer fully scored; True when the run stops."""
        live = ~self.frozen
        e_r, e_f = _log_mixture(self._log_r), _log_mixture(self._log_f)
        drop = self.S / np.maximum(self.k, 1)
        block = live & (self.k > 0) & (e_r >= -np.log(self.level)) & (drop >= self.min_effect - 1e-12)
        self.no_worse |= live & (e_f >= -np.log(self.beta_level))
        tally = RowTally(self.S, self.Q, self.k, self.n_row, self.min_effect, self.final_level)
        low = below_mde(tally, self.z, self.gamma)
        status = np.where(
            block, REGRESSION, np.where(self.no_worse, NO_WORSE, np.where(low, BELOW_MDE, OPEN))
        )
        self.status = np.where(live, status, self.status)
        self.blocked = bool(block.any())
        needed = self.needed()
        unscored = ~self.scored
        # a row whose unscored members are not all going to be scored can no longer be watched: its status is final
        self.frozen |= (self.members & unscored & ~needed).any(axis=1)
        self.stopped = self.blocked or not needed.any()
        self.looks.append({"used": self.used, "open": int((self.status == OPEN).sum())})
        return self.stopped

    def statuses(self) -> list[str]:
        return [STATUS_NAMES[int(s)] for s in self.status]


def run_known(
    gate: SequentialGate, drops: np.ndarray, order: Sequence[int] | np.ndarray, chunk: int = DEFAULT_CHUNK
) -> SequentialGate:
    """Drive ``gate`` over drops known in advance (rows, n) - a simulation or a replay - in ``order``; returns it
    stopped."""
    while not gate.stopped:
        idx = gate.next_samples(order, chunk)
        if len(idx):
            gate.add(idx, drops[:, idx])
        gate.look()
    return gate


def random_order(n: int, rng: np.random.Generator) -> np.ndarray:
    """The order samples are sent and scored in: a uniform random permutation (what makes a look's samples a simple
    random sample of the golden set, so the rows' drops are i.i.d. draws of the task distribution)."""
    return rng.permutation(n)


@dataclass
class GatedDrops:
    """The sequential gate's input built from two runs' score rows. Units are ``eval_set/sample_id`` (one request
    each), all of the baseline's, in ``order``; ``names`` per gated row (``suite/eval_set:metric.pass_rate[segment]``),
    ``drops`` / ``masks`` (rows, units), ``min_effect`` and ``segment`` per row, ``scored`` per unit (the candidate
    has its scores), and the gated rows it cannot take (``left_out``: mean-value rows, whose differences are
    unbounded)."""

    names: list[str]
    drops: np.ndarray
    masks: np.ndarray
    min_effect: np.ndarray
    segment: np.ndarray
    order: list[str]
    scored: np.ndarray
    left_out: list[str]


def scoring_order(units: Iterable[object], seed: int = 0) -> list[str]:
    """A reproducible random order of units (``eval_set/sample_id``): by the SHA-256 of (seed, unit) - the order a
    sequential run sends them in, independent of the file's order and of any outcome."""
    ids = sorted({str(s) for s in units})
    return sorted(ids, key=lambda s: hashlib.sha256(f"{seed}:{s}".encode()).hexdigest())


def _units(frame: pd.DataFrame) -> np.ndarray:
    return (frame["eval_set"].astype(str) + "/" + frame["sample_id"].astype(str)).to_numpy()


def gated_drops(
    candidate_scores: pd.DataFrame, baseline_scores: pd.DataFrame, cfg: RegressionConfig, seed: int = 0
) -> GatedDrops:
    """Per gated pass-rate row (overall and, with ``gate_segments``, per category) of ``cfg``'s family: members =
    the baseline's graded units of the row, drops ``baseline pass fraction - candidate pass fraction`` where the
    candidate has been scored (per sample as the fixed gate pairs them: ``pairing.per_sample``, the composite from
    ``composite.with_composite_pass``, the family from ``gating.family_measures``), in :func:`scoring_order`."""
    base = per_sample(with_composite_pass(baseline_scores))
    cand = per_sample(with_composite_pass(candidate_scores)) if len(candidate_scores) else None
    base = base.dropna(subset=["pass_frac"])
    order = scoring_order(_units(base), seed)
    pos = {u: i for i, u in enumerate(order)}
    n = len(order)
    scored = np.zeros(n, bool)
    if cand is not None and len(cand):
        scored[[pos[u] for u in set(_units(cand)) if u in pos]] = True
        both = base.merge(cand, on=GROUP_KEYS + ["sample_id"], suffixes=("_b", "_c"), how="left")
    else:
        both = base.rename(columns={c: f"{c}_b" for c in ("pass_frac", "nonbinary", "category")})
        both["pass_frac_c"], both["nonbinary_c"] = np.nan, False
    names, drops, masks, min_effect, segment, left_out = [], [], [], [], [], []
    for keys, grp in both.groupby(GROUP_KEYS, sort=True, dropna=False):
        continuous = bool(grp["nonbinary_b"].any() or grp["nonbinary_c"].fillna(False).astype(bool).any())
        measures = family_measures(cfg, str(keys[1]), str(keys[3]), continuous)
        name = f"{keys[0]}/{keys[1]}:{keys[3]}"
        left_out += [f"{name}.{m}" for m in sorted(measures - {"pass_rate"})]
        if "pass_rate" not in measures:
            continue
        idx = np.array([pos[u] for u in _units(grp)], int)
        d = np.zeros(n)
        d[idx] = (grp["pass_frac_b"] - grp["pass_frac_c"]).fillna(0.0).to_numpy(float)
        cats = [(SEGMENT_ALL, np.ones(len(grp), bool))]
        if cfg.gate_segments and cfg.segments and grp["category_b"].nunique() > 1:
            cats += [
                (str(c), (grp["category_b"] == c).to_numpy()) for c in sorted(grp["category_b"].unique())
            ]
        for seg, member in cats:
            w = np.zeros(n, bool)
            w[idx[member]] = True
            names.append(name + ".pass_rate" + ("" if seg == SEGMENT_ALL else f"[{seg}]"))
            drops.append(d)
            masks.append(w)
            segment.append(seg != SEGMENT_ALL)
            min_effect.append(
                max(cfg.min_effect, cfg.min_effect_segment) if seg != SEGMENT_ALL else cfg.min_effect
            )
    return GatedDrops(
        names,
        np.array(drops).reshape(-1, n),
        np.array(masks, bool).reshape(-1, n),
        np.array(min_effect, float),
        np.array(segment, bool),
        order,
        scored,
        left_out,
    )
