"""Deterministic checks: every check type passes and fails with the right reason, and the package's layout (bad
configuration: test_deterministic_config.py; scoring a frame, infra errors never quality failures:
test_deterministic_frame.py)."""

from __future__ import annotations

import json

import pytest

from eval_pipeline.evaluators.deterministic import (
    CHECK_TYPES,
    CheckResult,
    EvaluatorConfigError,
    Sample,
    build_check,
)


def run(spec: dict, text: str | None, expected=None, labels=(), **kw) -> CheckResult:
    c = build_check(spec, "t", base_dir=kw.pop("base_dir", None))
    return c(Sample("s1", text=text or "", expected=expected, eval_set_labels=frozenset(labels), **kw))


# A custom check importable by dotted path (used by the `custom` tests below).
def polite(sample: Sample, word: str = "please") -> tuple[bool, str]:
    return word in sample.text.lower(), f"no {word!r}"


def crashes(sample: Sample) -> bool:
    return 1 / 0 > 0


# ------------------------------------------------------------------ each check: pass and fail
@pytest.mark.parametrize(
    "spec, text, expected, passed, reason_part",
    [
        ({"type": "valid_json"}, '{"a": 1}', None, True, "ok"),
        ({"type": "valid_json"}, '```json\n{"a": 1}\n```', None, True, "ok"),
        (
            {"type": "valid_json", "allow_code_fence": False},
            '```json\n{"a": 1}\n```',
            None,
            False,
            "not valid JSON",
        ),
        ({"type": "valid_json"}, "{a: 1}", None, False, "not valid JSON"),
        ({"type": "valid_json", "require_type": "object"}, "[1]", None, False, "not a object"),
        (
            {
                "type": "json_schema",
                "schema": {
                    "type": "object",
                    "required": ["label"],
                    "properties": {"label": {"type": "string"}},
                },
            },
            '{"label": "x"}',
            None,
            True,
            "ok",
        ),
        (
            {"type": "json_schema", "schema": {"type": "object", "required": ["label"]}},
            '{"x": 1}',
            None,
            False,
            "'label' is a required property",
        ),
        (
            {"type": "json_schema", "schema": {"type": "object", "properties": {"n": {"type": "integer"}}}},
            '{"n": "7"}',
            None,
            False,
            "schema violation at n",
        ),
        ({"type": "json_schema", "schema": {"type": "object"}}, "not json", None, False, "not valid JSON"),
        ({"type": "label_in_set", "labels": ["card_arrival", "card_lost"]}, " card_lost\n", None, True, "ok"),
        (
            {"type": "label_in_set", "labels": ["card_arrival", "card_lost"]},
            "Card_Lost",
            None,
            False,
            "not in the 2 allowed labels",
        ),
        (
            {"type": "label_in_set", "labels": ["card_lost"], "normalize": ["strip", "lower"]},
            "Card_Lost",
            None,
            True,
            "ok",
        ),
        (
            {"type": "label_in_set", "labels": ["a", "b"], "field": "label"},
            '{"label": "b"}',
            None,
            True,
            "ok",
        ),
        (
            {"type": "label_in_set", "labels": ["a", "b"], "field": "label"},
            '{"lab": "b"}',
            None,
            False,
            "no field 'label'",
        ),
        ({"type": "exact_match"}, "card_lost ", "card_lost", True, "ok"),
        ({"type": "exact_match"}, "card_found", "card_lost", False, "expected 'card_lost', got 'card_found'"),
        (
            {"type": "exact_match", "normalize": ["strip", "lower", "collapse_whitespace"]},
            "  Hello   World ",
            "hello world",
            True,
            "ok",
        ),
        ({"type": "exact_match", "field": "answer.value"}, '{"answer": {"value": 42}}', 42, True, "ok"),
        ({"type": "exact_match"}, "1", 1, True, "ok"),
        ({"type": "exact_match"}, "0", 1, False, "expected '1', got '0'"),
        (
            {"type": "exact_match", "field": "intents", "unordered": True},
            '{"intents": ["b", "a"]}',
            {"intents": ["a", "b"]},
            True,
            "ok",
        ),
        (
            {"type": "exact_match", "field": "intents"},
            '{"intents": ["b", "a"]}',
            {"intents": ["a", "b"]},
            False,
            "expected",
        ),
        ({"type": "regex", "pattern": "^[a-z_]+$"}, "card_lost", None, True, "ok"),
        ({"type": "regex", "pattern": "^[a-z_]+$"}, "Card lost", None, False, "does not match /^[a-z_]+$/"),
        (
            {"type": "regex", "pattern": r"\d{4}-\d{4}", "must_match": False},
            "call 1234-5678",
            None,
            False,
            "matches",
        ),
        ({"type": "regex", "pattern": r"\d{4}-\d{4}", "must_match": False}, "call us", None, True, "ok"),
        ({"type": "regex", "pattern": "^HELLO", "ignore_case": True}, "hello there", None, True, "ok"),
        (
            {"type": "forbidden_phrases", "phrases": ["as an AI", "I cannot"]},
            "As an ai model I think",
            None,
            False,
            "as an AI",
        ),
        (
            {"type": "forbidden_phrases", "phrases": ["as an AI"], "ignore_case": False},
            "As an ai",
            None,
            True,
            "ok",
        ),
        (
            {"type": "contains_all", "values": ["refund", "5 days"]},
            "Your REFUND arrives in 5 days",
            None,
            True,
            "ok",
        ),
        (
            {"type": "contains_all", "values": ["refund", "5 days"]},
            "Your refund is coming",
            None,
            False,
            "missing ['5 days']",
        ),
        ({"type": "contains_any", "values": ["sorry", "apolog"]}, "We apologise", None, True, "ok"),
        ({"type": "contains_any", "values": ["sorry", "apolog"]}, "Too bad", None, False, "contains none of"),
        ({"type": "length", "min_chars": 1, "max_chars": 5}, " abc ", None, True, "ok"),
        ({"type": "length", "min_chars": 1, "max_chars": 5}, "abcdefg", None, False, "7 chars > max 5"),
        ({"type": "length", "min_chars": 1}, "   ", None, False, "0 chars < min 1"),
        ({"type": "length", "max_words": 2}, "one two three", None, False, "3 words > max 2"),
        (
            {"type": "rouge_l", "min_score": 0.5},
            "the cat sat on the mat",
            "the cat is on the mat",
            True,
            "ok",
        ),
        (
            {"type": "rouge_l", "min_score": 0.9},
            "the cat sat on the mat",
            "the cat is on the mat",
            False,
            "rougeL=0.833 < 0.9",
        ),
        ({"type": "bleu", "min_score": 0.99}, "the cat is on the mat", "the cat is on the mat", True, "ok"),
        ({"type": "bleu", "min_score": 0.5}, "a dog runs", "the cat is on the mat", False, "bleu="),
        ({"type": "custom", "function": f"{__name__}:polite"}, "Please wait", None, True, "ok"),
        (
            {"type": "custom", "function": f"{__name__}:polite", "kwargs": {"word": "thanks"}},
            "Please wait",
            None,
            False,
            "no 'thanks'",
        ),
    ],
)
def test_check_pass_and_fail(spec, text, expected, passed, reason_part):
    res = run(spec, text, expected)
    assert res.passed is passed, res
    assert reason_part in res.reason


def test_every_registered_check_is_covered_above():
    covered = {
        "valid_json",
        "json_schema",
        "label_in_set",
        "exact_match",
        "regex",
        "forbidden_phrases",
        "contains_all",
        "contains_any",
        "length",
        "rouge_l",
        "bleu",
        "custom",
        "json_fields_match",
    }
    # the tool-call checks are covered in unit/evaluators/deterministic/test_tool_calls.py
    covered |= {
        "tool_calls_match",
        "tool_called",
        "tool_not_called",
        "tool_order",
        "max_steps",
        "turns",
        "every_turn",
    }
    assert set(CHECK_TYPES) == covered


def test_label_in_set_from_expected_values():
    spec = {"type": "label_in_set", "labels_from": "expected_values"}
    assert run(spec, "card_lost", labels={"card_lost", "card_arrival"}).passed is True
    res = run(spec, "pin_blocked", labels={"card_lost", "card_arrival"})
    assert res.passed is False and "not in the 2 allowed labels" in res.reason


def test_json_schema_from_file(tmp_path):
    (tmp_path / "schemas").mkdir()
    (tmp_path / "schemas" / "t.json").write_text(json.dumps({"type": "object", "required": ["label"]}))
    spec = {"type": "json_schema", "schema_file": "schemas/t.json"}
    assert run(spec, '{"label": 1}', base_dir=tmp_path).passed is True
    assert run(spec, "{}", base_dir=tmp_path).passed is False


def test_json_fields_match_nlupp_style():
    spec = {"type": "json_fields_match"}
    gold = {"intents": ["arrival", "card"], "slots": {"date": "tomorrow"}}
    ok = run(spec, '{"intents": ["card", "arrival"], "slots": {"date": "tomorrow"}}', gold)
    assert ok.passed is True and ok.reason == "ok"
    assert dict((m, v) for m, v, _ in ok.extras) == {"intents_f1": 1.0}
    bad = run(spec, '{"intents": ["card", "lost"], "slots": {"date": "today"}}', gold)
    assert bad.passed is False
    assert "intents: missing ['arrival'], extra ['lost']" in bad.reason and "slots: expected" in bad.reason
    assert dict((m, v) for m, v, _ in bad.extras)["intents_f1"] == pytest.approx(0.5)
    broken = run(spec, "not json", gold)
    assert broken.passed is False and "not valid JSON" in broken.reason
    assert dict((m, v) for m, v, _ in broken.extras)["intents_f1"] == 0.0


def test_exact_match_without_expected_is_not_applicable():
    res = run({"type": "exact_match"}, "x", None)
    assert res.passed is None and res.reason == "no expected value"


def test_custom_check_that_raises_fails_the_sample_with_reason():
    c = build_check({"type": "custom", "function": f"{__name__}:crashes"}, "t")
    res = c(Sample("s", text="{bad"))
    assert res.passed is False and res.reason == "custom check raised ZeroDivisionError: division by zero"


# ------------------------------------------------------------------ the package layout
def test_evaluator_hash_follows_the_schema_file_and_the_custom_source(tmp_path, monkeypatch):
    schema = tmp_path / "s.json"
    schema.write_text(json.dumps({"type": "object"}))
    spec = {"type": "json_schema", "schema_file": "s.json"}
    first = build_check(spec, "t", base_dir=tmp_path).evaluator_hash
    assert build_check(spec, "t", base_dir=tmp_path).evaluator_hash == first
    schema.write_text(json.dumps({"type": "object", "required": ["label"]}))
    assert build_check(spec, "t", base_dir=tmp_path).evaluator_hash != first

    (tmp_path / "my_det_checks.py").write_text("def ok(sample):\n    return True\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    spec = {"type": "custom", "function": "my_det_checks:ok"}
    before = build_check(spec, "t").evaluator_hash
    (tmp_path / "my_det_checks.py").write_text("def ok(sample):\n    return 'x' in sample.text\n")
    assert build_check(spec, "t").evaluator_hash != before  # same spec, edited function


def test_docstring_example_adds_a_working_check():
    import re

    from eval_pipeline.evaluators import deterministic

    doc = deterministic.__doc__
    code = doc[doc.index("Adding a check") :].split("::\n", 1)[1].split("\n\nand a suite", 1)[0]
    code = "\n".join(line[4:] for line in code.splitlines())
    assert 8 <= len([line for line in code.splitlines() if line.strip()]) <= 10
    namespace = dict(vars(deterministic))
    try:
        exec(compile(code, "<docstring example>", "exec"), namespace)  # noqa: S102 - our own docstring
        spec = {"type": "starts_with", "prefix": "Dear", "field": "greeting"}
        assert run(spec, '{"greeting": "Dear Ann"}').passed is True
        res = run(spec, '{"greeting": "Hi Ann"}')
        assert res.passed is False and res.reason == "does not start with 'Dear'"
        with pytest.raises(EvaluatorConfigError, match=re.escape("t.prefix: must not be empty")):
            build_check({"type": "starts_with", "prefix": ""}, "t")
    finally:
        CHECK_TYPES.pop("starts_with", None)


def test_package_files_are_small_and_say_what_flows_in_and_out():
    import ast
    from pathlib import Path

    from eval_pipeline.evaluators import deterministic

    files = sorted(Path(deterministic.__file__).parent.glob("*.py"))
    assert len(files) >= 8
    for f in files:
        text = f.read_text()
        assert len(text.splitlines()) <= 300, f.name
        doc = ast.get_docstring(ast.parse(text)) or ""
        assert "In:" in doc and "Out:" in doc, f.name
