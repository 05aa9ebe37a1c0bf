"""Monitoring: PSI/KL drift (length, category mix, embedding clusters), divergence flag, report."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import entropy

from eval_pipeline.demo.synthetic_traffic import SyntheticTrafficConfig, generate_frame
from eval_pipeline.monitoring.drift import (
    category_drift,
    embedding_cluster_drift,
    input_length_drift,
    psi_kl,
    psi_level,
)
from eval_pipeline.monitoring.drift_report import divergence_flag, drift_quality_report
from eval_pipeline.monitoring.embedders import hashing_embedder

N = 2500


@pytest.fixture(scope="module")
def frames():
    base = SyntheticTrafficConfig(n_rows=N, extra_sentences=0.3)
    ref = generate_frame(base.model_copy(update={"seed": 1, "day": "2025-05-31"}))[0]
    same = generate_frame(base.model_copy(update={"seed": 2}))[0]  # resample of the same distribution
    drifted = generate_frame(
        base.model_copy(
            update={
                "seed": 3,
                "extra_sentences": 2.5,
                "category_weights": {"banking": 6, "credit_cards": 3, "travel": 0.5, "small_talk": 0.5},
            }
        )
    )[0]
    return ref, same, drifted


def test_input_length_drift(frames):
    ref, same, drifted = frames
    lens = lambda f: f["input"].str.len()  # noqa: E731
    stable = input_length_drift(lens(ref), lens(same))
    shifted = input_length_drift(lens(ref), lens(drifted))
    assert stable.psi < 0.1 and stable.level == "none"
    assert shifted.psi > 0.25 and shifted.level == "significant"
    assert shifted.kl > stable.kl
    assert stable.table["ref_share"].sum() == pytest.approx(1.0) and len(stable.table) >= 5


def test_category_drift(frames):
    ref, same, drifted = frames
    assert category_drift(ref["category"], same["category"]).psi < 0.1
    d = category_drift(ref["category"], drifted["category"])
    assert d.psi > 0.25 and d.level == "significant"
    assert set(d.table["bin"]) == set(ref["category"]) | set(drifted["category"])


def test_embedding_cluster_drift(frames):
    ref, same, drifted = frames
    emb = hashing_embedder()
    stable = embedding_cluster_drift(ref["input"], same["input"], emb, k=6)
    shifted = embedding_cluster_drift(ref["input"], drifted["input"], emb, k=6)
    assert stable.psi < 0.1
    assert shifted.psi > 0.25
    assert stable.table["ref_n"].sum() == N


def test_psi_matches_symmetric_kl_and_levels():
    ref, cur = [50, 30, 20], [20, 30, 50]
    psi, kl = psi_kl(ref, cur)
    p, q = np.array(cur) / 100, np.array(ref) / 100
    assert kl == pytest.approx(entropy(p, q), rel=1e-3)
    assert psi == pytest.approx(float(np.sum((p - q) * np.log(p / q))), rel=1e-3)
    assert psi_kl([1, 0], [1, 0])[0] == pytest.approx(0.0)
    assert np.isfinite(psi_kl([10, 0], [0, 10])[0])  # empty bins stay finite
    assert [psi_level(x) for x in (0.05, 0.1, 0.2, 0.25, 1)] == [
        "none",
        "moderate",
        "moderate",
        "significant",
        "significant",
    ]
    with pytest.raises(ValueError, match="both sides"):
        input_length_drift([], [1, 2])


def test_divergence_flag_and_report(frames):
    ref, _, drifted = frames
    div = divergence_flag(automated_today=0.91, automated_ref=0.92, behaviour_today=0.55, behaviour_ref=0.68)
    assert div.flagged and "DIVERGENCE" in div.message
    assert not divergence_flag(0.80, 0.92, 0.55, 0.68).flagged  # automated also fell: plain degradation
    assert not divergence_flag(0.92, 0.92, 0.67, 0.68).flagged  # behaviour stable
    drift = [category_drift(ref["category"], drifted["category"])]
    shift = drift_quality_report(
        drift, quality={"judge_pass_rate": (0.90, 0.91)}, behaviour={"implicit_quality": (0.66, 0.67)}
    )
    assert list(shift["kind"]) == ["drift", "quality", "behaviour", "diagnosis"]
    assert shift.iloc[-1]["note"].startswith("distribution shift: inputs changed")
    degr = drift_quality_report(
        [category_drift(ref["category"], ref["category"])], quality={"judge_pass_rate": (0.80, 0.91)}
    )
    assert degr.iloc[-1]["note"].startswith("model degradation")
    diverged = drift_quality_report(
        [],
        quality={"judge_pass_rate": (0.91, 0.92)},
        behaviour={"implicit_quality": (0.55, 0.68)},
        divergence=div,
    )
    assert diverged.iloc[-1]["note"].startswith("divergence") and diverged.iloc[-1]["level"] == "flag"


def test_psi_needs_evidence_small_samples_from_the_same_distribution_rarely_drift():
    from scipy.stats import chi2_contingency

    from eval_pipeline.monitoring.drift import homogeneity_p_value, numeric_drift

    rng = np.random.default_rng(0)
    ref = rng.lognormal(4, 0.5, 5000)
    results = [numeric_drift(ref, rng.lognormal(4, 0.5, 50)) for _ in range(200)]
    high_psi = np.mean([r.psi >= 0.25 for r in results])
    significant = np.mean([r.level == "significant" for r in results])
    assert high_psi > 0.15  # PSI alone: same distribution, 50 requests -> "significant" on many days
    # PSI and the homogeneity test together: about alpha at most (11 of 200 here, 0.055: binomial noise
    # around a test that is exact-conditional at this n, where 10 bins of 50 have expected counts < 5)
    assert significant <= 0.06
    r = results[0]
    assert 0 <= r.p_value <= 1 and r.to_dict()["p_value"] == r.p_value and r.to_dict()["n_cur"] == 50
    t = r.table
    big = numeric_drift(ref, rng.lognormal(4, 0.5, 500))  # expected counts >= 5: the chi-square test
    tb = big.table
    assert big.p_value == pytest.approx(
        chi2_contingency(
            np.vstack([tb["ref_n"], tb["cur_n"]])[:, (tb["ref_n"] + tb["cur_n"]) > 0], correction=False
        ).pvalue
    )
    assert r.p_value == homogeneity_p_value(t["ref_n"], t["cur_n"])
    # a real shift with enough requests is both large and significant
    shifted = numeric_drift(ref, rng.lognormal(4.6, 0.5, 200))
    assert shifted.psi >= 0.25 and shifted.p_value < 1e-6 and shifted.level == "significant"
    assert homogeneity_p_value([5, 0, 5], [5, 0, 5]) == pytest.approx(1.0)
