"""Judge calibration: metric functions vs scikit-learn / scipy, dataset sampling, the gate, a full run."""

from __future__ import annotations

import json
import math

import pytest
from scipy.stats import spearmanr
from sklearn.metrics import cohen_kappa_score

from eval_pipeline.evaluators import calibration as C
from eval_pipeline.evaluators import calibration_data as CD
from eval_pipeline.evaluators import calibration_metrics as CM
from eval_pipeline.evaluators import judge as J
from eval_pipeline_tests.support.judge import FakeExecutor, user_text

HUMAN = [1.0, 2.33, 3.67, 4.5, 5.0, 2.0, 3.0, 4.0, 1.67, 5.0]
JUDGE = [1, 2, 4, 4, 5, 3, 3, 5, 2, 4]


# ----------------------------------------------------------------------------- pure metrics
def test_rating_agreement_matches_sklearn_and_scipy():
    m = CM.rating_agreement(HUMAN, JUDGE, scale=(1, 5))
    rounded = [1, 2, 4, 5, 5, 2, 3, 4, 2, 5]  # half-up rounding of HUMAN, by hand
    assert m["n"] == 10
    assert m["exact_agreement"] == pytest.approx(0.6)  # 6 of 10 equal, counted by hand
    assert m["agreement_within_one"] == pytest.approx(1.0)
    assert m["weighted_kappa"] == pytest.approx(
        cohen_kappa_score(rounded, JUDGE, weights="quadratic", labels=[1, 2, 3, 4, 5])
    )
    assert m["spearman"] == pytest.approx(spearmanr(HUMAN, JUDGE).statistic)
    assert m["spearman_p"] == pytest.approx(spearmanr(HUMAN, JUDGE).pvalue)
    # quadratic weighting differs from unweighted kappa on this data: the right variant is used
    assert m["weighted_kappa"] != pytest.approx(cohen_kappa_score(rounded, JUDGE))


def test_rating_agreement_maps_human_scale_and_handles_degenerate_input():
    assert CM.map_to_scale([1, 6, 3.5], (1, 6), (1, 5)).tolist() == [1.0, 5.0, 3.0]
    assert CM.round_half_up([0.5, 1.5, 2.5, 2.49]).tolist() == [1, 2, 3, 2]
    human_1_6 = [1.0, 6.0, 3.5, 2.25]  # -> 1, 5, 3, 1.8 on 1-5 -> rounded 1, 5, 3, 2
    m = CM.rating_agreement(human_1_6, [1, 5, 3, 2], scale=(1, 5), human_scale=(1, 6))
    assert m["exact_agreement"] == 1.0 and m["weighted_kappa"] == pytest.approx(1.0)
    const = CM.rating_agreement([3, 3, 3], [3, 3, 3], scale=(1, 5))
    assert const["exact_agreement"] == 1.0 and math.isnan(const["spearman"])
    empty = CM.rating_agreement([math.nan], [3], scale=(1, 5))
    assert empty["n"] == 0 and math.isnan(empty["weighted_kappa"])
    with pytest.raises(ValueError, match="equal length"):
        CM.rating_agreement([1, 2], [1], scale=(1, 5))


def test_pairwise_agreement_matches_sklearn():
    human = [1, 1, 2, 2, 1, 2, 1, 2]
    ab = [1, 1, 2, 1, 0, 2, 1, 2]
    ba = [1, 2, 2, 1, 0, 1, 1, 2]
    final, consistent = CM.combine_orders(ab, ba)
    assert final.tolist() == [1, 0, 2, 1, 0, 0, 1, 2]
    m = CM.pairwise_agreement(human, final, consistent)
    assert m["position_consistency"] == pytest.approx(6 / 8)
    assert m["pairwise_accuracy"] == pytest.approx(4 / 8)
    assert m["pairwise_accuracy_ties_half"] == pytest.approx((4 + 1.5) / 8)
    assert m["tie_rate"] == pytest.approx(3 / 8)
    assert m["pairwise_kappa"] == pytest.approx(cohen_kappa_score(human, final.tolist(), labels=[1, 2, 0]))


def test_rating_metrics_from_frame_groups_by_dimension():
    import pandas as pd

    frame = pd.DataFrame(
        {
            "dimension": ["a"] * 10 + ["b"] * 4,
            "human": HUMAN + [1, 2, 3, 3],
            "judge": JUDGE + [1, 2, 3, 1],
            "scale_lo": 1,
            "scale_hi": [5] * 10 + [3] * 4,
        }
    )
    out = CM.rating_metrics_from_frame(frame, prefix="x/")
    assert set(out) == {"x/a", "x/b"}
    assert out["x/a"] == CM.rating_agreement(HUMAN, JUDGE, (1, 5))
    assert out["x/b"]["exact_agreement"] == 0.75 and out["x/b"]["agreement_within_one"] == 0.75


# ----------------------------------------------------------------------------- gate
def test_calibration_gate():
    good = {"ds/overall": {"n": 40, "agreement_within_one": 0.9, "spearman": 0.9}}
    mixed = {**good, "ds/naturalness": {"n": 40, "agreement_within_one": 0.7, "spearman": float("nan")}}
    req = J.MinCalibration(agreement_within_one=0.8, spearman=0.85)
    assert C.calibration_gate(good, req) == (True, [])
    ok, reasons = C.calibration_gate(mixed, req)
    assert not ok and len(reasons) == 2
    assert any("ds/naturalness: agreement_within_one 0.700 < required 0.8" in r for r in reasons)
    assert any("spearman undefined (NaN)" in r for r in reasons)
    ok, reasons = C.calibration_gate(good, {"weighted_kappa": 0.6})
    assert not ok and "weighted_kappa: no calibration result reports it" in reasons[0]
    assert C.calibration_gate({"agreement_within_one": 0.95, "n": 10}, {"agreement_within_one": 0.8}) == (
        True,
        [],
    )
    assert C.calibration_gate(mixed, None) == (True, [])
    with pytest.raises(Exception):  # noqa: B017
        C.calibration_gate(good, {"spearmann": 0.8})  # typo in the requirement is an error, not ignored


# ----------------------------------------------------------------------------- data
def test_sample_in_hash_order_is_deterministic_and_order_invariant():
    recs = [{"id": f"r{i}"} for i in range(100)]
    a = [r["id"] for r in CD.sample_in_hash_order(recs, 10, seed=1)]
    b = [r["id"] for r in CD.sample_in_hash_order(list(reversed(recs)), 10, seed=1)]
    c = [r["id"] for r in CD.sample_in_hash_order(recs, 10, seed=2)]
    assert a == b and a != c and len(set(a)) == 10
    assert len(CD.sample_in_hash_order(recs, None)) == 100


def test_build_samples_from_shared_datasets():
    samples, human = CD.build_rating_samples(
        CD.DEFAULT_DATA_DIR / "sf_dialogue_nlg_ratings.jsonl", n=12, seed=0
    )
    assert len(samples) == 12 and set(human.dimension) == {"informativeness", "naturalness", "overall"}
    assert len(human) == 36 and human.human.between(1, 6).all()
    assert isinstance(samples.input.iat[0], dict) and "dialogue_act" in samples.input.iat[0]
    assert samples.expected.notna().all()  # reference utterance
    pairs, labels = CD.build_pairwise_samples(CD.DEFAULT_DATA_DIR / "llmbar_pairwise.jsonl", n=8)
    assert len(pairs) == 8 and set(labels.unique()) <= {1, 2} and "baseline_text" in pairs.columns
    assert list(labels.index) == list(pairs.sample_id)


def test_bad_dataset_files_name_the_line(tmp_path):
    with pytest.raises(ValueError, match="unknown calibration dataset 'mystery'"):
        CD.dataset_name(tmp_path / "mystery.jsonl")
    bad = tmp_path / "llmbar_pairwise.jsonl"
    rec = {"id": "x", "input": {"instruction": "i", "output_1": "a", "output_2": "b"}, "expected": 3}
    bad.write_text(json.dumps({**rec, "expected": 1, "id": "ok"}) + "\n" + json.dumps(rec) + "\n")
    with pytest.raises(ValueError, match=r"llmbar_pairwise\.jsonl:2: expected must be 1 or 2"):
        CD.build_pairwise_samples(bad, n=None)
    bad.write_text("{not json\n")
    with pytest.raises(ValueError, match=r"llmbar_pairwise\.jsonl:1: invalid JSON"):
        CD.build_pairwise_samples(bad)


# ----------------------------------------------------------------------------- full run
def rating_oracle(samples, human, noise=None):
    """A judge that answers the (rounded) human ratings, found by the response text in the prompt."""
    lookup = {}
    for rec in samples.itertuples():
        scores = human[human.sample_id == rec.sample_id].set_index("dimension").human
        lookup[(rec.input["dialogue_act"], rec.response_text)] = {
            d: int(CM.round_half_up(v)) for d, v in scores.items()
        }

    def responder(req):
        text = user_text(req)
        for (act, resp), scores in lookup.items():
            if act in text and f"## Response to evaluate\n{resp}\n" in text:
                return {"tool_input": {"reasoning": "oracle", **scores}}
        raise AssertionError("prompt not recognised")

    return responder


def test_run_calibration_oracle_and_biased_judges():
    base = J.JudgeConfig(
        model="claude-sonnet-4-5", repeats=1, dimensions=[{"name": "accuracy", "threshold": 3}]
    )
    samples, human = CD.build_rating_samples(
        CD.DEFAULT_DATA_DIR / "sf_dialogue_nlg_ratings.jsonl", n=20, seed=0
    )
    res = C.run_calibration(
        FakeExecutor(rating_oracle(samples, human)), base, ["sf_dialogue_nlg_ratings"], n=20, seed=0
    )
    overall = res.metrics["sf_dialogue_nlg_ratings/overall"]
    assert (
        overall["n"] == 20
        and overall["exact_agreement"] == 1.0
        and overall["weighted_kappa"] == pytest.approx(1.0)
    )
    assert overall["spearman"] > 0.95
    # 20 items: every point estimate clears spearman 0.85, but two lower bounds do not -> no evidence yet
    ok, reasons = C.calibration_gate(res.metrics, {"agreement_within_one": 0.8, "spearman": 0.85})
    assert not ok and all("lower bound" in r and "(n=20)" in r for r in reasons)
    assert all(m["spearman"] >= 0.85 for m in res.metrics.values())
    ok, reasons = C.calibration_gate(res.metrics, {"agreement_within_one": 0.8, "spearman": 0.6})
    assert ok, reasons

    # a judge that always prefers the first answer: orders disagree -> ties, gate fails
    biased = FakeExecutor(lambda req: {"tool_input": {"reasoning": "first", "winner": "A"}})
    res2 = C.run_calibration(biased, base, ["llmbar_pairwise"], n=10)
    m = res2.metrics["llmbar_pairwise"]
    assert m["position_consistency"] == 0.0 and m["tie_rate"] == 1.0 and m["pairwise_accuracy"] == 0.0
    assert len(biased.requests) == 20  # both orders
    ok, reasons = C.calibration_gate(res2.metrics, {"pairwise_accuracy": 0.8, "position_consistency": 0.8})
    assert not ok and len(reasons) == 2


def test_run_calibration_pairwise_oracle_and_failures():
    base = J.JudgeConfig(
        model="claude-sonnet-4-5", repeats=1, max_attempts=1, dimensions=[{"name": "accuracy"}]
    )
    pairs, labels = CD.build_pairwise_samples(CD.DEFAULT_DATA_DIR / "human_preference_pairwise.jsonl", n=12)
    by_outputs = {(p.response_text, p.baseline_text): labels[p.sample_id] for p in pairs.itertuples()}
    broken = pairs.sample_id.iat[0]
    broken_output = pairs.response_text.iat[0]

    def oracle(req):
        text = user_text(req)
        slot_a = text.split("## Answer A\n", 1)[1].split("\n\n## Answer B\n", 1)[0]
        slot_b = text.split("\n\n## Answer B\n", 1)[1].rsplit("\n\n## Criteria", 1)[0]
        if broken_output in (slot_a, slot_b):
            return {"tool_input": {"reasoning": "?", "winner": "first"}}  # invalid: counted, excluded
        if (slot_a, slot_b) in by_outputs:  # output_1 shown as A
            return {
                "tool_input": {
                    "reasoning": "oracle",
                    "winner": "A" if by_outputs[(slot_a, slot_b)] == 1 else "B",
                }
            }
        if (slot_b, slot_a) in by_outputs:  # output_1 shown as B
            return {
                "tool_input": {
                    "reasoning": "oracle",
                    "winner": "B" if by_outputs[(slot_b, slot_a)] == 1 else "A",
                }
            }
        raise AssertionError("prompt not recognised")

    res = C.run_calibration(FakeExecutor(oracle), base, ["human_preference_pairwise"], n=12)
    m = res.metrics["human_preference_pairwise"]
    assert m["n"] == 11 and m["pairwise_accuracy"] == 1.0 and m["position_consistency"] == 1.0
    assert m["pairwise_kappa"] == pytest.approx(1.0)
    assert res.judge_failures["human_preference_pairwise"] == {"judge_unparseable": 2}
    assert broken not in res.frames["human_preference_pairwise"].index
    assert res.cost_usd == pytest.approx(0.001 * 24)


def test_calibration_metrics_have_bootstrap_intervals_and_the_gate_uses_the_lower_bound():
    import numpy as np
    from scipy.stats import bootstrap

    m = CM.rating_agreement(HUMAN, JUDGE, scale=(1, 5))
    for k in ("exact_agreement", "agreement_within_one", "weighted_kappa", "spearman"):
        assert m[f"{k}_ci_low"] <= m[k] <= m[f"{k}_ci_high"], k
    rounded = np.array([1, 2, 4, 5, 5, 2, 3, 4, 2, 5])
    # shares: exact Clopper-Pearson (keeps its level at small n); kappa: the paired percentile bootstrap
    from statsmodels.stats.proportion import proportion_confint

    hits = int(np.sum(rounded == np.array(JUDGE)))
    assert m["exact_agreement_ci_low"] == pytest.approx(proportion_confint(hits, 10, method="beta")[0])
    ref = bootstrap(
        (rounded, np.array(JUDGE)),
        lambda a, b: CM.kappa_along_axis(a, b, [1, 2, 3, 4, 5], weights="quadratic"),
        paired=True,
        vectorized=False,
        n_resamples=CM.BOOTSTRAP_RESAMPLES,
        method="percentile",
        random_state=np.random.default_rng(0),
    )
    dist = np.asarray(ref.bootstrap_distribution, dtype=float)
    assert m["weighted_kappa_ci_low"] == pytest.approx(np.quantile(dist[~np.isnan(dist)], 0.025))
    # pairwise: accuracy 0.85 on 20 items clears 0.8 as a point estimate, not as a lower bound
    human = [1, 2] * 10
    final = list(human)
    final[0], final[1], final[2] = 2, 1, 2
    p = CM.pairwise_agreement(human, final, [True] * 20)
    assert p["pairwise_accuracy"] == pytest.approx(0.85) and p["pairwise_accuracy_ci_low"] < 0.8
    assert p["position_consistency_ci_low"] < 1.0 == p["position_consistency"]
    ok, reasons = C.calibration_gate({"ds": p}, {"pairwise_accuracy": 0.8})
    assert not ok and "lower bound" in reasons[0] and "(n=20)" in reasons[0]
    assert C.calibration_gate({"ds": p}, {"pairwise_accuracy": 0.6}) == (True, [])


def test_load_jsonl_names_every_bad_line_and_keeps_line_numbers(tmp_path):
    """Calibration files are read by golden.read_jsonl: all bad lines in one ValueError; good
    records keep their 1-based line (blank lines counted) for later messages."""
    p = tmp_path / "llmbar_pairwise.jsonl"
    p.write_text('{"id": "a"}\n\n{"id": "b"}\n', encoding="utf-8")
    assert [(r["id"], r["_line"]) for r in CD.load_jsonl(p)] == [("a", 1), ("b", 3)]
    p.write_text('{"id": "a"}\n"text"\n{oops\n{"x": 1}\n', encoding="utf-8")
    with pytest.raises(ValueError) as err:
        CD.load_jsonl(p)
    assert f"{p}:2: expected a JSON object" in str(err.value) and f"{p}:3: invalid JSON" in str(err.value)


def test_vectorized_kappa_and_spearman_equal_sklearn_and_scipy_per_resample():
    """The bootstrap computes kappa from numpy confusion matrices for all resamples at once: each row
    equals sklearn cohen_kappa_score (quadratic, unweighted, labels outside the list, one-label rows)."""
    import warnings

    import numpy as np

    rng = np.random.default_rng(5)
    a = rng.integers(1, 6, (300, 12))
    b = np.clip(
        a + rng.integers(-2, 3, a.shape), 0, 6
    )  # 0 and 6 fall outside labels 1..5: ignored as sklearn does
    a[0], b[0] = 3, 3  # one label only: undefined
    a[1], b[1] = 2, 4
    for weights in ("quadratic", "linear", None):
        got = CM.kappa_along_axis(a, b, [1, 2, 3, 4, 5], weights=weights)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref = [cohen_kappa_score(x, y, labels=[1, 2, 3, 4, 5], weights=weights) for x, y in zip(a, b)]
        np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-12, equal_nan=True)
    assert np.isnan(CM.kappa_along_axis(a, b, [1, 2, 3, 4, 5], "quadratic")[0])
    h, f = rng.choice([1, 2], (200, 9)), rng.choice([1, 2, 0], (200, 9))
    ref = [cohen_kappa_score(x, y, labels=[1, 2, 0]) for x, y in zip(h, f)]
    np.testing.assert_allclose(
        CM.kappa_along_axis(h, f, [1, 2, 0]), ref, rtol=1e-12, atol=1e-12, equal_nan=True
    )
    x, y = rng.normal(size=(200, 10)).round(1), rng.integers(1, 4, (200, 10)).astype(float)
    y[0] = 2.0  # constant: NaN
    ref = [spearmanr(u, v).statistic if np.ptp(v) > 0 else math.nan for u, v in zip(x, y)]
    np.testing.assert_allclose(CM.spearman_along_axis(x, y), ref, rtol=1e-12, atol=1e-12, equal_nan=True)


def test_vectorized_bootstrap_intervals_equal_the_per_resample_sklearn_intervals():
    """Same seed, same resamples: the fast intervals are the ones the scalar sklearn / scipy statistic gives."""
    import warnings

    import numpy as np

    rng = np.random.default_rng(11)
    human = rng.integers(1, 7, 40) + rng.choice([0.0, 0.33, 0.5], 40)
    judge = np.clip(np.round(CM.map_to_scale(human, (1, 6), (1, 5)) + rng.normal(0, 0.8, 40)), 1, 5)
    m = CM.rating_agreement(human, judge, (1, 5), human_scale=(1, 6), seed=3)
    h = CM.map_to_scale(human, (1, 6), (1, 5))
    hr, jr = np.clip(CM.round_half_up(h), 1, 5), np.clip(CM.round_half_up(judge), 1, 5)

    def kappa(a, b):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return float(cohen_kappa_score(a, b, labels=[1, 2, 3, 4, 5], weights="quadratic"))

    scalar = {  # the per-resample statistics, as before vectorization
        "weighted_kappa": CM.bootstrap_interval(kappa, hr, jr, seed=3),
        "spearman": CM.bootstrap_interval(lambda a, b: float(spearmanr(a, b).statistic), h, judge, seed=3),
    }
    # the agreement shares are exact Clopper-Pearson intervals (no bootstrap): unit/evaluators/test_calibration_metrics.py
    for name, (lo, hi) in scalar.items():
        assert m[f"{name}_ci_low"] == pytest.approx(lo, abs=1e-12) and m[f"{name}_ci_high"] == pytest.approx(
            hi, abs=1e-12
        ), name
        assert lo < m[name] < hi, name
    human_p = rng.choice([1, 2], 30)
    final = np.where(rng.random(30) < 0.8, human_p, rng.choice([1, 2, 0], 30))
    p = CM.pairwise_agreement(human_p, final, seed=4)
    lo, hi = CM.bootstrap_interval(
        lambda a, b: float(cohen_kappa_score(a, b, labels=[1, 2, 0])),
        human_p,
        final,
        seed=4,
        n_resamples=CM.BOOTSTRAP_RESAMPLES,
    )
    assert (p["pairwise_kappa_ci_low"], p["pairwise_kappa_ci_high"]) == (
        pytest.approx(lo, abs=1e-12),
        pytest.approx(hi, abs=1e-12),
    )
