"""The simulated suite, models and nights of ``benchmarks.detection``, and the fast path of its gate.

Suite (as ``benchmarks.detection`` has always used; N samples per eval set, 5 category segments):
``answers`` (deterministic: exact_match, valid_json, has_citation; blocking ``pass_rate``), ``summaries`` (cosine,
blocking ``cosine_pass_rate``), ``support`` (judge, 3 dimensions on 1-5, median of 3 judge repeats >= 3.5;
blocking ``pass_rate``). The default gated family is then 7 overall pass-rate rows plus their 35 segment rows.
A fourth eval set ``safety`` (judge ``toxicity``, ``higher_is_better: false``, blocking ``toxicity.mean`` with
``max: 2``) is used by the bounded-above scenario only.

Models: per-sample latents. ``exact_match`` p_i ~ Beta(0.8 c, 0.2 c) (c = ``CONCENTRATION`` 0.3: the shipped
versions run at temperature 0, most samples are always right or always wrong; A/A flip rate about 7.5 %;
``--concentration 0.5`` gives the noisier 11 %), valid_json Beta(29.1, 0.9), has_citation Beta(9, 1), cosine level
Beta(16, 4) + N(0, 0.04) per night, judge quality N(4.3, 0.6) per dimension, each judge repeat
round(quality + N(0, 0.6)). Night drift: a provider effect per night, common to every model run that night, a
logit shift of SD ``drift`` for pass probabilities (0.05 x it for cosine, 0.5 x it judge points).

Fast path (:func:`fast_gate`): the gate's own functions on the same draws the full path would see - exact McNemar
p-values (``scipy.stats.binom``, which ``stratified_exact`` equals with one draw a side; supports from
``paired_tests.binomial_support``), ``paired_tests.paired_t`` / ``paired_location_test`` for repeats and score rows,
and ``gating.verdicts`` + ``gating.gate_rows`` for the correction and the rule. :func:`score_frames` turns the same
draws into score rows for the full path (``benchmarks.detection.full_path``).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd
from scipy import stats
from scipy.special import expit, logit

from eval_pipeline.history.sql import SEGMENT_ALL
from eval_pipeline.project.regression_schema import row_direction
from eval_pipeline.regression.gating import gate_rows, verdicts
from eval_pipeline.regression.paired_tests import binomial_support, paired_location_test, paired_t
from eval_pipeline_tests.support import simulate as sim

CONCENTRATION = 0.3
CATEGORIES = np.array(["billing", "shipping", "returns", "account", "technical"])
# (eval_set, family, metric) of the gated pass/fail rows, in the order of the draws' first axis
ROWS = [
    ("answers", "deterministic", "exact_match"),
    ("answers", "deterministic", "valid_json"),
    ("answers", "deterministic", "has_citation"),
    ("summaries", "similarity", "cosine"),
    ("support", "judge", "accuracy"),
    ("support", "judge", "helpfulness"),
    ("support", "judge", "tone"),
]
SAFETY = ("safety", "judge", "toxicity")
_EPS = 1e-6


class Model:
    """Per-sample latent parameters of one model version."""

    def __init__(self, n: int, rng: np.random.Generator, concentration: float = CONCENTRATION):
        c = concentration
        self.n = n
        self.p = np.stack([rng.beta(0.8 * c, 0.2 * c, n), rng.beta(29.1, 0.9, n), rng.beta(9.0, 1.0, n)])
        self.mu = rng.beta(16.0, 4.0, n)
        self.q = np.clip(rng.normal(4.3, 0.6, (3, n)), 1, 5)
        self.tox = np.clip(rng.gamma(2.0, 0.35, n) + 1.0, 1, 5)  # judge toxicity latent: mostly 1-2

    def copy(self) -> Model:
        m = object.__new__(Model)
        m.__dict__.update(
            {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in self.__dict__.items()}
        )
        return m

    def dropped(self, delta: float, mask: np.ndarray | None = None) -> Model:
        """exact_match's pass probabilities on ``mask`` (default all) lowered by ``delta`` on average (logit)."""
        m = self.copy()
        mask = np.ones(self.n, bool) if mask is None else mask
        m.p[0, mask] = sim.shift_probabilities(self.p[0, mask], -delta)
        return m

    def less_toxic(self, delta: float) -> Model:
        m = self.copy()
        m.tox = np.clip(self.tox - delta, 1, 5)
        return m


def draw(m: Model, rng: np.random.Generator, k: int = 1, drift: float = 0.0) -> dict[str, np.ndarray]:
    """One night of ``m``: ``passed`` / ``value`` of shape (7, n, k) for :data:`ROWS`, ``tox`` (n, k)."""
    n = m.n
    p = expit(logit(np.clip(m.p, _EPS, 1 - _EPS)) + drift)
    binary = rng.random((3, n, k)) < p[:, :, None]
    cos = m.mu[:, None] + 0.05 * drift + rng.normal(0, 0.04, (n, k))
    judge = np.clip(np.rint(m.q[:, :, None, None] + 0.5 * drift + rng.normal(0, 0.6, (3, n, k, 3))), 1, 5)
    med = np.median(judge, axis=-1)
    tox = np.median(np.clip(np.rint(m.tox[:, None, None] + rng.normal(0, 0.6, (n, k, 3))), 1, 5), axis=-1)
    value = np.concatenate([binary.astype(float), cos[None], med])
    passed = np.concatenate([binary, cos[None] >= 0.75, med >= 3.5])
    return {"passed": passed, "value": value, "tox": tox}


@lru_cache(maxsize=4096)
def _support(n: int) -> np.ndarray:
    return binomial_support(n, "worse")


def _segments(n: int) -> list[tuple[str, np.ndarray]]:
    cats = CATEGORIES[np.arange(n) % len(CATEGORIES)]
    return [(SEGMENT_ALL, np.ones(n, bool))] + [(str(c), cats == c) for c in sorted(set(cats))]


def pass_rows(cand: dict, base: dict, cfg, rows=ROWS) -> list[dict]:
    """The gated pass-rate rows (overall and segments) of one comparison, tested as ``regression_report`` does."""
    cp, bp = cand["passed"], base["passed"]
    n, kc, kb = cp.shape[1], cp.shape[2], bp.shape[2]
    out = []
    for r, (eval_set, _family, metric) in enumerate(rows):
        c, b = cp[r], bp[r]
        for seg, mask in _segments(n) if cfg.segments else _segments(n)[:1]:
            cs, bs = c[mask], b[mask]
            d = cs.mean(axis=1) - bs.mean(axis=1)
            row = {"eval_set": eval_set, "metric": metric, "segment": seg, "measure": "pass_rate"}
            if kc == 1 and kb == 1:
                worse, better = int(np.sum(bs[:, 0] & ~cs[:, 0])), int(np.sum(~bs[:, 0] & cs[:, 0]))
                nd = worse + better
                p_worse = float(stats.binom.sf(worse - 1, nd, 0.5)) if nd else 1.0
                p_two = float(min(1.0, 2 * stats.binom.cdf(min(worse, better), nd, 0.5))) if nd else 1.0
                row |= {
                    "p_worse": p_worse,
                    "p_value": p_two,
                    "_support_worse": _support(nd),
                    "test": "mcnemar_exact",
                }
            else:
                row |= {"p_worse": paired_t(d, "less"), "p_value": paired_t(d), "_support_worse": None}
                row["test"] = "paired_t"
            seg_min = cfg.min_effect if seg == SEGMENT_ALL else max(cfg.min_effect, cfg.min_effect_segment)
            row |= {
                "effect": float(d.mean()),
                "n_pairs": int(mask.sum()),
                "direction": "higher",
                "min_effect": seg_min,
                "gating": seg == SEGMENT_ALL or cfg.gate_segments,
                "_support_two_sided": None,
            }
            out.append(row)
    return out


def tox_rows(cand: dict, base: dict, cfg) -> list[dict]:
    """The gated ``toxicity`` mean rows (overall and segments) in the direction the suite declares."""
    eval_set, _family, metric = SAFETY
    direction = row_direction(cfg, eval_set, metric)
    vc, vb = cand["tox"].mean(axis=1), base["tox"].mean(axis=1)
    out = []
    for seg, mask in _segments(len(vc)):
        d = vc[mask] - vb[mask]
        side = "greater" if direction == "lower" else "less"
        out.append(
            {
                "eval_set": eval_set,
                "metric": metric,
                "segment": seg,
                "measure": "mean_value",
                "test": cfg.continuous_test,
                "p_worse": paired_location_test(d, cfg.continuous_test, alternative=side),
                "p_value": paired_location_test(d, cfg.continuous_test),
                "effect": float(d.mean()),
                "n_pairs": int(mask.sum()),
                "direction": direction,
                "min_effect": cfg.min_effect_by_metric.get(metric, cfg.min_effect_judge),
                "gating": (seg == SEGMENT_ALL or cfg.gate_segments) and direction != "unknown",
                "_support_worse": None,
                "_support_two_sided": None,
            }
        )
    return out


def fast_gate(rows: list[dict], cfg) -> tuple[bool, pd.DataFrame]:
    """``gating.verdicts`` (the correction and the rule) on tested rows; blocked iff ``gate_rows`` is not empty."""
    df = verdicts(pd.DataFrame(rows), cfg)
    return bool(len(gate_rows(df))), df


def score_frames(night: dict, model_version: str, date: str, with_tox: bool = False) -> pd.DataFrame:
    """The score rows (``SCORE_COLUMNS``) of one night's draws, as the evaluators would write them."""
    passed, value = night["passed"], night["value"]
    _, n, k = passed.shape
    sid = np.repeat(pd.Series(np.arange(n)).map("s{:05d}".format).to_numpy(), k)
    rep = np.tile(np.arange(k), n)
    cat = np.repeat(CATEGORIES[np.arange(n) % len(CATEGORIES)], k)
    frames = []
    specs = [(r, *ROWS[r]) for r in range(len(ROWS))]
    for r, eval_set, family, metric in specs:
        frames.append(
            pd.DataFrame(
                {
                    "sample_id": sid,
                    "repeat": rep,
                    "eval_set": eval_set,
                    "family": family,
                    "metric": metric,
                    "value": value[r].ravel(),
                    "passed": pd.array(passed[r].ravel(), dtype="boolean"),
                    "category": cat,
                }
            )
        )
    if with_tox:
        frames.append(
            pd.DataFrame(
                {
                    "sample_id": sid,
                    "repeat": rep,
                    "eval_set": SAFETY[0],
                    "family": SAFETY[1],
                    "metric": SAFETY[2],
                    "value": night["tox"].ravel(),
                    "passed": pd.array([None] * (n * k), dtype="boolean"),
                    "category": cat,
                }
            )
        )
    df = pd.concat(frames, ignore_index=True)
    return df.assign(
        date=date,
        model_version=model_version,
        suite="sim",
        reason="sim",
        infra_error=None,
        evaluator_hash="sim",
    )
