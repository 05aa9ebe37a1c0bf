"""Scoring a frame with deterministic checks: the score columns, infra errors and refusals (never quality
failures), unknown error categories, expected JSON decoded and labels taken from the eval set."""

from __future__ import annotations

import json

import pandas as pd

from eval_pipeline.evaluators.deterministic import (
    score_deterministic,
    validate_check_specs,
)
from eval_pipeline.project.schemas import SCORE_COLUMNS

WHERE = "data/suites/x.yaml: eval_sets[0].checks"


# ------------------------------------------------------------------ scoring a frame
def _frame(rows):
    base = {"input": "q", "metadata": {}, "category": "c", "error_category": None}
    return pd.DataFrame([{**base, **r} for r in rows])


def test_score_frame_columns_infra_errors_and_refusals():
    checks = validate_check_specs(
        [{"type": "exact_match", "field": "label"}, {"type": "forbidden_phrases", "phrases": ["sorry"]}],
        WHERE,
    )
    df = _frame(
        [
            {
                "sample_id": "a",
                "repeat": 0,
                "response_text": '{"label": "x", "confidence": 0.7}',
                "expected": "x",
            },
            {
                "sample_id": "b",
                "repeat": 0,
                "response_text": None,
                "expected": "y",
                "error_category": "timeout",
            },
            {
                "sample_id": "c",
                "repeat": 0,
                "response_text": None,
                "expected": "y",
                "error_category": "refusal",
            },
            {
                "sample_id": "d",
                "repeat": 0,
                "response_text": '{"label": "x"}',
                "expected": "y",
                "error_category": "max_tokens",
            },
        ]
    )
    out = score_deterministic(df, checks, date="2024-05-01", model_version="m1", suite="s", eval_set="e")
    assert list(out.columns) == SCORE_COLUMNS
    assert set(out["date"]) == {"2024-05-01"} and set(out["family"]) == {"deterministic"}

    infra = out[out["sample_id"] == "b"]
    assert len(infra) == 2  # one per check, no auxiliary rows
    assert infra["passed"].isna().all() and set(infra["infra_error"]) == {"timeout"}
    assert infra["reason"].str.contains("infra error: timeout").all()

    refusal = out[(out["sample_id"] == "c") & ~out["metric"].str.contains(".", regex=False)]
    assert (refusal["passed"] == False).all() and refusal["infra_error"].isna().all()  # noqa: E712
    assert refusal["reason"].str.startswith("model refusal").all()

    d = out[(out["sample_id"] == "d") & (out["metric"] == "exact_match")].iloc[0]
    assert not d["passed"] and "expected 'y', got 'x'" in d["reason"]

    pred = out[(out["sample_id"] == "a") & (out["metric"] == "exact_match.prediction")].iloc[0]
    assert pd.isna(pred["passed"]) and json.loads(pred["reason"]) == {
        "pred": "x",
        "gold": "x",
        "confidence": 0.7,
    }


def test_unknown_error_category_is_not_a_quality_failure():
    checks = validate_check_specs([{"type": "valid_json"}], WHERE)
    out = score_deterministic(
        _frame(
            [
                {
                    "sample_id": "a",
                    "repeat": 0,
                    "response_text": None,
                    "expected": None,
                    "error_category": "gremlins",
                }
            ]
        ),
        checks,
    )
    assert out["passed"].isna().all() and out["infra_error"].iloc[0] == "gremlins"


def test_expected_json_column_is_decoded_and_labels_come_from_the_set():
    checks = validate_check_specs([{"type": "label_in_set", "labels_from": "expected_values"}], WHERE)
    df = pd.DataFrame(
        {
            "sample_id": ["a", "b"],
            "repeat": [0, 0],
            "response_text": ["y", "z"],
            "error_category": [None, None],
            "input_json": ['"q1"', '"q2"'],
            "expected_json": ['"x"', '"y"'],
            "metadata_json": ["{}", "{}"],
            "category": ["c", "c"],
        }
    )
    out = score_deterministic(df, checks)
    assert out.set_index("sample_id")["passed"].to_dict() == {"a": True, "b": False}
