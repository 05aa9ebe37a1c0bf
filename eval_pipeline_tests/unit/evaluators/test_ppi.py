"""PPI++ (evaluators/ppi.py): the formula, its limits (lam 0 / 1), unbiasedness under a biased judge,
and a small coverage check (the full one is ``python -m eval_pipeline_tests.benchmarks.ppi``)."""

import math

import numpy as np
import pytest
from scipy.stats import norm

from eval_pipeline.evaluators.ppi import ppi_mean
from eval_pipeline_tests.benchmarks.ppi import simulate


def test_fixed_lambda_is_the_formula_and_its_limits():
    rng = np.random.default_rng(1)
    y = (rng.random(50) < 0.6).astype(float)
    yhat = np.where(rng.random(50) < 0.8, y, 1 - y)
    yu = (rng.random(400) < 0.7).astype(float)
    z = norm.ppf(0.975)
    for lam in (0.0, 0.5, 1.0):
        e = ppi_mean(y, yhat, yu, lam=lam)
        theta = lam * yu.mean() + (y - lam * yhat).mean()
        se = math.sqrt((y - lam * yhat).var(ddof=1) / 50 + lam**2 * yu.var(ddof=1) / 400)
        assert e.value == pytest.approx(theta) and e.ci_high - e.value == pytest.approx(z * se)
    classical = ppi_mean(y, yhat, yu, lam=0.0)  # lam = 0: the human-only estimate and interval
    assert (classical.value, classical.ci_low, classical.ci_high) == pytest.approx(classical.human)
    tuned = ppi_mean(y, yhat, yu)
    assert 0.0 <= tuned.lam <= 1.0 and (tuned.n_labelled, tuned.n_unlabelled) == (50, 400)
    pooled = np.concatenate([yhat, yu])
    want = np.cov(y, yhat)[0, 1] / ((1 + 50 / 400) * pooled.var(ddof=1))
    assert tuned.lam == pytest.approx(min(max(want, 0.0), 1.0))
    assert tuned.judge[0] == pytest.approx(pooled.mean())


def test_a_useless_judge_gets_no_weight_and_a_constant_one_none():
    rng = np.random.default_rng(2)
    y = (rng.random(80) < 0.5).astype(float)
    assert ppi_mean(y, np.ones(80), np.ones(500)).lam == 0.0  # constant judge: no information
    e = ppi_mean(y, (rng.random(80) < 0.5).astype(float), (rng.random(500) < 0.5).astype(float))
    assert e.lam < 0.3 and e.width <= 1.05 * (e.human[2] - e.human[1])  # never much wider than human-only


def test_unbiased_when_the_judge_is_biased_and_covers():
    """+10-point judge, 100 labels among 1,000: PPI++ centres on the truth; the raw judge does not."""
    r = simulate(seeds=300, judged=1000, labelled=100, rate=0.7, bias=0.1, tpr=0.99)
    assert r["coverage"] >= 0.90  # 0.95 nominal; 300 seeds: binomial SE about 0.013
    assert r["width_vs_human"] <= 0.85
    assert r["raw_judge_coverage"] <= 0.05
    est = [ppi_mean(*_draw(np.random.default_rng(100 + s))).value for s in range(300)]
    assert abs(np.mean(est) - 0.7) < 0.006  # mean of 300 estimates, each SE ~0.033


def _draw(rng):
    truth = (rng.random(1000) < 0.7).astype(float)
    judge = np.where(truth == 1, rng.random(1000) < 0.99, rng.random(1000) < (0.8 - 0.693) / 0.3).astype(
        float
    )
    lab = rng.choice(1000, 100, replace=False)
    mask = np.zeros(1000, dtype=bool)
    mask[lab] = True
    return truth[mask], judge[mask], judge[~mask]


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="at least 2 labelled"):
        ppi_mean([1.0], [1.0], [0.0, 1.0])
    with pytest.raises(ValueError, match="yhat has 2"):
        ppi_mean([1.0, 0.0, 1.0], [1.0, 0.0], [0.0])
    with pytest.raises(ValueError, match="finite"):
        ppi_mean([1.0, float("nan")], [1.0, 0.0], [0.0])
    e = ppi_mean([1.0, 0.0, 1.0], [1.0, 0.0, 0.0], [])  # nothing unlabelled: human-only
    assert e.lam == 0.0 and e.value == pytest.approx(2 / 3)
