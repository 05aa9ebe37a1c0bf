"""Simulated eval runs with realistic sampling noise, for power analysis and benchmarks.

Model: each golden sample *i* has its own pass probability ``p_i`` (its
difficulty for this model version), drawn from a Beta distribution with mean
``mean`` and concentration ``a + b``. Every run re-draws each outcome as
Bernoulli(``p_i``), so two runs of the *same* model disagree on a share of
samples (the A/A disagreement rate, ``2 * mean(p_i * (1 - p_i))`` in expectation:
typical of sampling at temperature > 0). A regression is a shift of every
``p_i`` on the logit scale, calibrated so the mean pass probability drops by
exactly the requested number of points: samples that are almost always right or
wrong barely move, borderline samples move most.

Used by ``eval_pipeline_tests/benchmarks/detection.py`` and by
:func:`power_curve` to answer "what N / repeats does a suite need?".
"""

from __future__ import annotations

import numpy as np
import pandas as pd

_EPS = 1e-6


def sample_pass_probabilities(
    n: int, mean: float = 0.8, concentration: float = 0.5, rng: np.random.Generator | None = None
) -> np.ndarray:
    """Per-sample pass probabilities ~ Beta(mean * c, (1 - mean) * c); small ``c`` = U-shaped (realistic)."""
    rng = rng or np.random.default_rng()
    return rng.beta(mean * concentration, (1 - mean) * concentration, size=n)


def expected_disagreement(p: np.ndarray) -> float:
    """Expected share of samples on which two independent runs disagree: ``2 * mean(p (1 - p))``."""
    p = np.asarray(p, dtype=float)
    return float(2 * np.mean(p * (1 - p)))


def shift_probabilities(p: np.ndarray, delta: float) -> np.ndarray:
    """Shift every probability on the logit scale so the mean changes by exactly ``delta``."""
    from scipy.optimize import brentq
    from scipy.special import expit, logit

    if delta == 0:
        return np.asarray(p, dtype=float).copy()
    lp = logit(np.clip(p, _EPS, 1 - _EPS))
    target = float(np.mean(p)) + delta
    return expit(lp + brentq(lambda s: float(np.mean(expit(lp + s))) - target, -30, 30))


def draw_outcomes(p: np.ndarray, repeats: int = 1, rng: np.random.Generator | None = None) -> np.ndarray:
    """Bernoulli outcomes, shape ``(len(p), repeats)``: one fresh draw per sample and repeat."""
    rng = rng or np.random.default_rng()
    return rng.random((len(p), repeats)) < np.asarray(p)[:, None]


def score_frame(
    outcomes: np.ndarray,
    *,
    metric: str = "correct",
    family: str = "deterministic",
    suite: str = "sim",
    eval_set: str = "golden",
    categories: np.ndarray | None = None,
    date: str = "2024-01-01",
    model_version: str = "sim",
) -> pd.DataFrame:
    """Long-format score rows (``SCORE_COLUMNS``) for an outcome matrix (samples x repeats)."""
    n, k = outcomes.shape
    sid = np.repeat(np.arange(n), k)
    cats = np.asarray(categories)[sid] if categories is not None else np.full(n * k, "all")
    passed = outcomes.reshape(-1)
    return pd.DataFrame(
        {
            "date": date,
            "model_version": model_version,
            "suite": suite,
            "eval_set": eval_set,
            "sample_id": pd.Series(sid).map("s{:05d}".format),
            "repeat": np.tile(np.arange(k), n),
            "family": family,
            "metric": metric,
            "value": passed.astype(float),
            "passed": passed,
            "reason": np.where(passed, "ok", "wrong answer"),
            "category": cats,
            "infra_error": None,
            "evaluator_hash": "sim",
        }
    )


def power_curve(
    ns=(500, 1000, 2000),
    repeats=(1, 3, 5),
    drop: float = 0.05,
    seeds: int = 200,
    mean: float = 0.8,
    concentration: float = 0.5,
    alpha: float = 0.05,
    min_effect: float = 0.03,
    seed: int = 0,
) -> pd.DataFrame:
    """Simulated power / false-alarm rate of :func:`regression_report` for each N and repeat count.

    One metric, no segments; regression = a ``drop`` in mean pass probability.
    """
    from eval_pipeline.project.regression_config import RegressionConfig
    from eval_pipeline.regression.compare import regression_report

    cfg = RegressionConfig(alpha=alpha, min_effect=min_effect, segments=False)
    rng = np.random.default_rng(seed)
    rows = []
    for n in ns:
        for k in repeats:
            hits = {"regressed": 0, "null": 0}
            for _ in range(seeds):
                p = sample_pass_probabilities(n, mean, concentration, rng)
                base = score_frame(draw_outcomes(p, k, rng))
                for name, q in (("regressed", shift_probabilities(p, -drop)), ("null", p)):
                    rep = regression_report(score_frame(draw_outcomes(q, k, rng)), base, cfg)
                    hits[name] += rep.has_regression
            rows.append(
                {
                    "n": n,
                    "repeats": k,
                    "power": hits["regressed"] / seeds,
                    "false_alarm": hits["null"] / seeds,
                }
            )
    return pd.DataFrame(rows)
