"""Semantic similarity with the real all-MiniLM-L6-v2 (loaded once per module): ordering of
paraphrase vs unrelated pairs, cache hits on rerun, score rows, calibration, config validation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from eval_pipeline.evaluators.deterministic import EvaluatorConfigError
from eval_pipeline.evaluators.embeddings import (
    DEFAULT_MODEL_ID,
    EmbeddingCache,
    SimilarityScorer,
    default_model_path,
    model_id_for,
)
from eval_pipeline.evaluators.similarity import SimilarityConfig, score_similarity, validate_similarity_config
from eval_pipeline.evaluators.similarity_calibration import calibrate_similarity
from eval_pipeline.project.schemas import SCORE_COLUMNS

PARAPHRASE_SET = (
    Path(__file__).resolve().parents[3] / "data" / "calibration" / "covid_question_similarity.jsonl"
)
LOCAL_COPY = Path(__file__).resolve().parents[3] / "data" / "golden" / "covid_question_similarity.jsonl"


@pytest.fixture(scope="module")
def model():
    """The packaged model, loaded once for the whole module (loading dominates test time)."""
    from eval_pipeline.evaluators.embeddings import load_model

    return load_model()


def scorer(model, **kw) -> SimilarityScorer:
    return SimilarityScorer(model=model, **kw)


def test_default_model_is_the_packaged_minilm():
    path = default_model_path()
    assert (path / "modules.json").is_file() and (path / "model.safetensors").is_file()
    assert model_id_for(path) == DEFAULT_MODEL_ID


def test_paraphrase_scores_above_unrelated(model):
    s = scorer(model)
    cos = s.cosine(
        [
            "How long does it take for my new card to arrive?",
            "How long does it take for my new card to arrive?",
        ],
        ["When will my new card be delivered?", "The weather in Paris is sunny today."],
    )
    assert cos.shape == (2,) and cos[0] > cos[1] + 0.3
    assert cos.min() >= -1.0 and cos.max() <= 1.0001
    direct = model.encode(["When will my new card be delivered?"], normalize_embeddings=True)[0]
    assert np.allclose(s.embed(["When will my new card be delivered?"])[0], direct, atol=1e-5)


def test_rerun_encodes_only_new_texts(model, tmp_path):
    responses = ["Your card arrives in 5 days.", "Reset the PIN in the app."]
    references = ["Cards arrive within a week.", "You can change your PIN in the app."]
    first = scorer(model, cache_dir=tmp_path)
    c1 = first.cosine(responses, references)
    assert first.encoded_texts == 4 and first.encode_calls == 1
    # a new process (new scorer, same folder): everything is on disk
    second = scorer(model, cache_dir=tmp_path)
    c2 = second.cosine(responses, references)
    assert second.encoded_texts == 0 and np.allclose(c1, c2)
    # new model answers, same references: only the new responses are encoded
    third = scorer(model, cache_dir=tmp_path, cache_responses=False)
    third.cosine(["A brand new answer.", "Another new answer."], references)
    assert third.encoded_texts == 2
    assert len(EmbeddingCache(tmp_path, first.model_id)) == 4  # unpersisted responses not on disk
    # duplicates inside one call are encoded once
    fourth = scorer(model)
    fourth.cosine(["same", "same", "same"], ["ref", "ref", "same"])
    assert fourth.encoded_texts == 2


def test_cache_namespaced_by_model_id(model, tmp_path):
    a = scorer(model, cache_dir=tmp_path)
    a.embed(["hello"])
    b = scorer(model, cache_dir=tmp_path, model_id="some/other-model")
    b.embed(["hello"])
    assert b.encoded_texts == 1


def test_score_similarity_rows(model):
    df = pd.DataFrame(
        [
            {
                "sample_id": "a",
                "repeat": 0,
                "response_text": "Wash your hands often with soap.",
                "error_category": None,
                "input": "q",
                "expected": "Wash your hands frequently with soap and water.",
                "metadata": {},
                "category": "faq",
            },
            {
                "sample_id": "b",
                "repeat": 0,
                "response_text": "Our office is closed on Sundays.",
                "error_category": None,
                "input": "q",
                "expected": "Wash your hands frequently with soap and water.",
                "metadata": {},
                "category": "faq",
            },
            {
                "sample_id": "c",
                "repeat": 0,
                "response_text": None,
                "error_category": "overloaded",
                "input": "q",
                "expected": "x",
                "metadata": {},
                "category": "faq",
            },
            {
                "sample_id": "d",
                "repeat": 0,
                "response_text": None,
                "error_category": "refusal",
                "input": "q",
                "expected": "x",
                "metadata": {},
                "category": "faq",
            },
            {
                "sample_id": "e",
                "repeat": 0,
                "response_text": "y",
                "error_category": None,
                "input": "q",
                "expected": None,
                "metadata": {},
                "category": "faq",
            },
        ]
    )
    s = scorer(model)
    out = score_similarity(
        df, s, SimilarityConfig(threshold=0.6), date="d", model_version="m", suite="s", eval_set="e"
    )
    assert list(out.columns) == SCORE_COLUMNS
    r = out.set_index("sample_id")
    assert r.loc["a", "passed"] == True and r.loc["a", "value"] > 0.6 and "cosine" in r.loc["a", "reason"]  # noqa: E712
    assert r.loc["b", "passed"] == False and r.loc["b", "value"] < 0.6  # noqa: E712
    assert pd.isna(r.loc["c", "passed"]) and r.loc["c", "infra_error"] == "overloaded"
    assert r.loc["d", "passed"] == False and r.loc["d", "value"] == 0.0 and "refusal" in r.loc["d", "reason"]  # noqa: E712
    assert pd.isna(r.loc["e", "passed"]) and r.loc["e", "reason"] == "no reference text"
    assert s.encoded_texts == 3  # two responses + one shared reference
    # a different threshold changes the evaluator hash (results are keyed by config)
    other = score_similarity(df, s, threshold=0.9)
    assert other["evaluator_hash"].iloc[0] != out["evaluator_hash"].iloc[0]


def test_calibration_on_labelled_paraphrases(model):
    path = LOCAL_COPY if LOCAL_COPY.is_file() else PARAPHRASE_SET
    rep = calibrate_similarity(scorer(model), path, configured_threshold=0.85)
    assert rep.n > 200 and 0 < rep.n_positive < rep.n
    assert rep.auc > 0.5
    assert 0.0 < rep.best_threshold < 1.0
    assert rep.accuracy_at_best >= rep.accuracy_at_configured  # Youden's threshold is no worse here
    assert "ROC AUC" in rep.to_markdown()


@pytest.mark.parametrize(
    "spec, message",
    [
        (
            {"threshold": 1.5},
            "x.yaml: eval_sets[1].similarity.threshold: must be a number within [0, 1] (cosine), got 1.5",
        ),
        ({"threshold": -0.1}, "x.yaml: eval_sets[1].similarity.threshold: must be a number within [0, 1]"),
        ({"threshold": "high"}, "x.yaml: eval_sets[1].similarity.threshold: must be a number"),
        ({"treshold": 0.8}, "x.yaml: eval_sets[1].similarity.treshold: unknown key"),
        (
            {"reference_field": "a..b"},
            "x.yaml: eval_sets[1].similarity.reference_field: malformed field path",
        ),
    ],
)
def test_similarity_config_errors(spec, message):
    with pytest.raises(EvaluatorConfigError) as err:
        validate_similarity_config(spec, "x.yaml: eval_sets[1].similarity")
    assert str(err.value).startswith(message)


def test_similarity_config_defaults():
    assert validate_similarity_config(None, "w").threshold == 0.85
    assert validate_similarity_config({"threshold": 0.7}, "w") == SimilarityConfig(0.7)


def test_similarity_config_from_settings_objects(tmp_path):
    class Settings:  # stands in for the suite's pydantic SimilaritySettings
        threshold = 0.7
        reference_field = "answer"
        response_field = None
        model_path = None

    cfg = SimilarityConfig.from_any(Settings())
    assert cfg == SimilarityConfig(0.7, "answer", None, None)
    assert SimilarityConfig.from_any({"threshold": 0.6}).threshold == 0.6
    with pytest.raises(EvaluatorConfigError, match=r"^w\.model_path: .* \(no modules\.json\)"):
        validate_similarity_config({"model_path": str(tmp_path)}, "w")


def test_paraphrase_loader_reports_every_bad_line_as_value_error(tmp_path):
    """Lines are read by golden.read_jsonl: a non-object line and a broken line are both named
    (file and line) in one ValueError, instead of an AttributeError / the first line only."""
    from eval_pipeline.evaluators.similarity_calibration import load_pair_labels

    good = '{"input": {"question_1": "a", "question_2": "b"}, "expected": 1}'
    path = tmp_path / "pairs.jsonl"
    path.write_text("\n".join([good, "[1, 2]", "{broken", "", good]) + "\n", encoding="utf-8")
    with pytest.raises(ValueError) as err:
        load_pair_labels(path)
    text = str(err.value)
    assert "2 invalid line(s)" in text
    assert f"{path}:2: expected a JSON object, got list" in text
    assert f"{path}:3: invalid JSON" in text
