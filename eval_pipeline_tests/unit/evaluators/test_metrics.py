"""Eval-set metrics checked against scikit-learn / statsmodels / scipy and hand-computed values
on fixed data; infra-error rows excluded from denominators."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.metrics import accuracy_score, f1_score
from statsmodels.stats.proportion import proportion_confint

from eval_pipeline.evaluators import metrics as M
from eval_pipeline.evaluators import text_overlap
from eval_pipeline.evaluators.deterministic import score_deterministic, validate_check_specs
from eval_pipeline.project.schemas import SCORE_COLUMNS


def test_wilson_matches_statsmodels_and_known_value():
    lo, hi = M.wilson_interval(8, 10)
    assert (lo, hi) == pytest.approx(proportion_confint(8, 10, method="wilson"))
    assert lo == pytest.approx(0.4902, abs=1e-4) and hi == pytest.approx(0.9433, abs=1e-4)  # textbook value
    pm = M.proportion_metric([True] * 8 + [False] * 2)
    assert pm["value"] == 0.8 and pm["n"] == 10 and pm["ci_low"] == pytest.approx(lo)


def test_classification_metrics_match_sklearn():
    y_true = ["a", "a", "a", "b", "b", "c", "c", "c", "c"]
    y_pred = ["a", "b", "a", "b", "a", "c", "b", None, "c"]
    got = M.classification_metrics(y_true, y_pred)
    yp = [p or "<none>" for p in y_pred]
    assert got["accuracy"] == pytest.approx(accuracy_score(y_true, yp)) == pytest.approx(5 / 9)
    assert got["macro_f1"] == pytest.approx(f1_score(y_true, yp, labels=["a", "b", "c"], average="macro"))
    assert got["confused_pairs"][0] == {"gold": "a", "pred": "b", "count": 1}
    assert {(p["gold"], p["pred"]) for p in got["confused_pairs"]} == {
        ("a", "b"),
        ("b", "a"),
        ("c", "b"),
        ("c", "<none>"),
    }


def test_pass_at_k_known_values():
    assert M.pass_at_k(5, 2, 1) == pytest.approx(0.4)
    assert M.pass_at_k(5, 2, 2) == pytest.approx(1 - 3 / 10)  # 1 - C(3,2)/C(5,2)
    assert M.pass_at_k(5, 0, 3) == 0.0
    assert M.pass_at_k(5, 3, 3) == 1.0  # fewer than k failures
    with pytest.raises(ValueError):
        M.pass_at_k(3, 4, 1)


def test_ece_hand_computed_and_perfect_calibration():
    conf = [0.95, 0.95, 0.85, 0.85, 0.35, 0.35]
    correct = [True, True, True, False, False, False]
    # bins: 0.9-1.0 acc 1 conf .95 -> .05; 0.8-0.9 acc .5 conf .85 -> .35; 0.3-0.4 acc 0 conf .35 -> .35
    expected = (2 * 0.05 + 2 * 0.35 + 2 * 0.35) / 6
    assert M.expected_calibration_error(conf, correct) == pytest.approx(expected)
    assert M.expected_calibration_error([0.9] * 4, [True] * 4) == pytest.approx(0.1)  # single class path
    assert M.expected_calibration_error([0.75, 0.75, 0.75, 0.75], [True, True, True, False]) == pytest.approx(
        0.0
    )


def test_rouge_and_bleu_known_values():
    # LCS("the cat sat on the mat", "the cat is on the mat") = 5 tokens -> P = R = F = 5/6
    assert text_overlap.rouge_l_scores(["the cat sat on the mat"], ["the cat is on the mat"])[
        0
    ] == pytest.approx(5 / 6)
    assert text_overlap.sentence_bleu_scores(["the cat is on the mat"], ["the cat is on the mat"])[
        0
    ] == pytest.approx(1.0)
    assert text_overlap.corpus_bleu(["the cat is on the mat"], ["the cat is on the mat"]) == pytest.approx(
        1.0
    )
    assert text_overlap.corpus_bleu(["a b c d"], ["w x y z"]) == pytest.approx(0.0)


def test_set_f1_samples_matches_sklearn_definition():
    pred = [{"a", "b"}, {"c"}, set()]
    gold = [{"a"}, {"c", "d"}, set()]
    # per-sample F1: 2/3, 2/3, 1 (both empty)
    assert M.set_f1(pred, gold, "samples") == pytest.approx((2 / 3 + 2 / 3 + 1) / 3)
    assert M.set_f1(pred, gold, "micro") == pytest.approx(2 * 2 / (3 + 3))


def test_mean_metric_matches_scipy_t_interval():
    vals = [0.2, 0.5, 0.9, 0.4]
    got = M.mean_metric(vals)
    lo, hi = stats.t.interval(0.95, 3, loc=np.mean(vals), scale=stats.sem(vals))
    assert got["value"] == pytest.approx(0.5) and (got["ci_low"], got["ci_high"]) == pytest.approx((lo, hi))
    assert M.mean_metric(vals, bounds=(0.0, 1.0))["ci_high"] <= 1.0


# ------------------------------------------------------------------ eval_set_metrics on score rows
def _classification_scores():
    checks = validate_check_specs([{"type": "exact_match", "field": "label"}, {"type": "valid_json"}], "t")
    gold = ["a", "a", "b", "b", "c", "c"]
    preds = ["a", "b", "b", "b", "c", None]  # None -> invalid JSON
    confs = [0.9, 0.6, 0.8, 0.7, 0.95, None]
    rows = []
    for rep in range(2):
        for i, (g, p, c) in enumerate(zip(gold, preds, confs)):
            text = json.dumps({"label": p, "confidence": c}) if p else "garbage"
            rows.append(
                {
                    "sample_id": f"s{i}",
                    "repeat": rep,
                    "response_text": text,
                    "error_category": None,
                    "input": f"question {i} | with pipe",
                    "expected": g,
                    "metadata": {},
                    "category": g,
                }
            )
    rows.append(
        {
            "sample_id": "s9",
            "repeat": 0,
            "response_text": None,
            "error_category": "rate_limited",
            "input": "q",
            "expected": "a",
            "metadata": {},
            "category": "a",
        }
    )
    rows.append(
        {
            "sample_id": "s9",
            "repeat": 1,
            "response_text": None,
            "error_category": "rate_limited",
            "input": "q",
            "expected": "a",
            "metadata": {},
            "category": "a",
        }
    )
    df = pd.DataFrame(rows)
    return (
        df,
        score_deterministic(df, checks, date="d", model_version="m", suite="s", eval_set="e"),
        gold,
        preds,
        confs,
    )


def test_eval_set_metrics_classification_against_libraries():
    df, scores, gold, preds, confs = _classification_scores()
    m = M.eval_set_metrics(scores)
    # infra rows: counted, never in denominators
    assert m["infra_error_count"] == {"value": 2.0, "ci_low": None, "ci_high": None, "n": 14}
    assert m["pass_rate"]["n"] == 12
    assert m["pass_rate"]["value"] == pytest.approx(8 / 12)
    # 6 samples x 2 identical repeats: the interval is clustered by sample, at least as wide as Wilson on 6
    assert m["pass_rate"]["interval"] == "cluster-robust t by sample" and m["pass_rate"]["n_clusters"] == 6
    w6 = proportion_confint(4, 6, method="wilson")
    assert m["pass_rate"]["ci_low"] <= w6[0] and m["pass_rate"]["ci_high"] >= w6[1]
    assert m["valid_json.pass_rate"]["value"] == pytest.approx(10 / 12)
    yp = [p or "<none>" for p in preds] * 2
    assert m["accuracy"]["value"] == pytest.approx(accuracy_score(gold * 2, yp))
    assert m["macro_f1"]["value"] == pytest.approx(
        f1_score(gold * 2, yp, labels=["a", "b", "c"], average="macro")
    )
    # ECE over the 10 predictions that carry a confidence (5 per repeat)
    c = [x for x in confs if x is not None] * 2
    ok = [True, False, True, True, True] * 2
    assert m["ece"]["value"] == pytest.approx(M.expected_calibration_error(c, ok)) and m["ece"]["n"] == 10
    # pass@k over 2 repeats per sample (identical repeats -> pass@1 == pass@2 == share of passing samples)
    assert m["pass_at_k"]["k"] == 2 and m["pass_at_k"]["value"] == pytest.approx(4 / 6)
    assert m["pass_at_1"]["value"] == pytest.approx(4 / 6)
    assert M.confusion_summary(scores)[0] == {"gold": "a", "pred": "b", "count": 2}


def test_pass_at_k_with_mixed_repeats():
    rows = []
    outcomes = {"s0": [True, False, False], "s1": [False, False, False], "s2": [True, True, False]}
    for sid, outs in outcomes.items():
        for rep, ok in enumerate(outs):
            rows.append(
                {
                    "date": "d",
                    "model_version": "m",
                    "suite": "s",
                    "eval_set": "e",
                    "sample_id": sid,
                    "repeat": rep,
                    "family": "deterministic",
                    "metric": "regex",
                    "value": float(ok),
                    "passed": ok,
                    "reason": "",
                    "category": None,
                    "infra_error": None,
                    "evaluator_hash": "h",
                }
            )
    m = M.eval_set_metrics(pd.DataFrame(rows, columns=SCORE_COLUMNS))
    assert m["pass_at_1"]["value"] == pytest.approx((1 / 3 + 0 + 2 / 3) / 3)
    assert m["pass_at_k"]["k"] == 3 and m["pass_at_k"]["value"] == pytest.approx(2 / 3)
    # pass^3: no sample passed all three repeats (s2 passed two)
    assert m["pass_hat_k"]["k"] == 3 and m["pass_hat_k"]["value"] == 0.0


def test_pass_hat_k_known_values():
    assert M.pass_hat_k(5, 2, 1) == pytest.approx(0.4)  # pass^1 == pass@1
    assert M.pass_hat_k(5, 4, 2) == pytest.approx(6 / 10)  # C(4,2)/C(5,2)
    assert M.pass_hat_k(5, 5, 5) == 1.0 and M.pass_hat_k(5, 4, 5) == 0.0
    assert all(M.pass_hat_k(6, c, 3) <= M.pass_at_k(6, c, 3) for c in range(7))
    with pytest.raises(ValueError):
        M.pass_hat_k(3, 4, 1)


def test_similarity_nlupp_and_judge_rows():
    base = {
        "date": "d",
        "model_version": "m",
        "suite": "s",
        "eval_set": "e",
        "reason": "",
        "category": None,
        "evaluator_hash": "h",
        "infra_error": None,
    }
    rows = [
        {
            **base,
            "sample_id": "a",
            "repeat": 0,
            "family": "similarity",
            "metric": "cosine",
            "value": 0.9,
            "passed": True,
        },
        {
            **base,
            "sample_id": "b",
            "repeat": 0,
            "family": "similarity",
            "metric": "cosine",
            "value": 0.5,
            "passed": False,
        },
        {
            **base,
            "sample_id": "c",
            "repeat": 0,
            "family": "similarity",
            "metric": "cosine",
            "value": 0.7,
            "passed": False,
        },
        {
            **base,
            "sample_id": "d",
            "repeat": 0,
            "family": "similarity",
            "metric": "cosine",
            "value": None,
            "passed": None,
            "infra_error": "timeout",
        },
        {
            **base,
            "sample_id": "a",
            "repeat": 0,
            "family": "deterministic",
            "metric": "json_fields_match.intents_f1",
            "value": 0.5,
            "passed": None,
        },
        {
            **base,
            "sample_id": "b",
            "repeat": 0,
            "family": "deterministic",
            "metric": "json_fields_match.intents_f1",
            "value": 1.0,
            "passed": None,
        },
        {
            **base,
            "sample_id": "a",
            "repeat": 0,
            "family": "judge",
            "metric": "helpfulness",
            "value": 4.0,
            "passed": True,
        },
        {
            **base,
            "sample_id": "b",
            "repeat": 0,
            "family": "judge",
            "metric": "helpfulness",
            "value": 2.0,
            "passed": False,
        },
    ]
    m = M.eval_set_metrics(pd.DataFrame(rows, columns=SCORE_COLUMNS))
    assert m["mean_cosine"]["value"] == pytest.approx(0.7) and m["mean_cosine"]["n"] == 3
    assert m["cosine_pass_rate"]["value"] == pytest.approx(1 / 3)
    assert (m["cosine_pass_rate"]["ci_low"], m["cosine_pass_rate"]["ci_high"]) == pytest.approx(
        proportion_confint(1, 3, method="wilson")
    )
    assert m["intents_f1"]["value"] == pytest.approx(0.75)
    assert m["judge.helpfulness.mean"]["value"] == pytest.approx(3.0)
    assert m["infra_error_count"]["value"] == 1
    assert "pass_rate" not in m  # no deterministic pass/fail rows


def test_top_failures_markdown():
    df, scores, *_ = _classification_scores()
    md = M.top_failures(scores, df, n=3)
    lines = md.splitlines()
    assert lines[0] == "| sample_id | repeat | input | output | reason |"
    assert len(lines) == 2 + 3
    assert lines[2].startswith(
        "| s5 | 0 | question 5 \\| with pipe | garbage |"
    )  # most failed checks first, pipes escaped
    assert "valid_json: response not valid JSON" in lines[2]
    assert "s9" not in md  # infra errors are not failures
    assert M.top_failures(scores[scores["passed"] != False]) == "No failures."  # noqa: E712


def test_metrics_by_eval_set_splits():
    _, scores, *_ = _classification_scores()
    other = scores.assign(eval_set="f")
    out = M.metrics_by_eval_set(pd.concat([scores, other]))
    assert set(out) == {"e", "f"} and out["e"]["pass_rate"] == out["f"]["pass_rate"]
