"""User regexes never hang (issue 24 item 2): RE2 where it means what Python's ``re`` means, a time
budget per answer otherwise, and a check error naming the check, the sample and the pattern."""

import re
import time

import pandas as pd
import pytest

from eval_pipeline.evaluators.deterministic import (
    EvaluatorConfigError,
    Sample,
    score_deterministic,
    validate_check_specs,
)
from eval_pipeline.evaluators.deterministic.frame import check_errors
from eval_pipeline.evaluators.metrics import eval_set_metrics
from eval_pipeline.project.user_regex import RegexBudgetError, compile_user_regex

EVIL = "a" * 34 + "!"


def _frame(texts: dict[str, str]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "sample_id": list(texts),
            "repeat": 0,
            "response_text": list(texts.values()),
            "error_category": None,
            "input": "q",
            "expected": "x",
            "metadata": [{}] * len(texts),
            "category": "c",
        }
    )


def test_catastrophic_pattern_finishes_fast_in_re2():
    """``(a+)+$`` on 34 a's and a '!' took Python's re about 25 minutes; RE2 is linear."""
    (chk,) = validate_check_specs([{"type": "regex", "pattern": "(a+)+$"}], "s.yaml: eval_sets[0].checks")
    t0 = time.perf_counter()
    res = chk(Sample("s1", text=EVIL))
    assert time.perf_counter() - t0 < 2.0  # microseconds in RE2; minutes with backtracking
    assert res.passed is False and "does not match" in res.reason
    assert chk(Sample("s2", text="aaaa")).passed is True
    assert compile_user_regex("(a+)+$").engine == "re2"


def test_backtracking_pattern_gets_a_budget_and_a_named_check_error():
    """Lookbehind needs the backtracking engine: over budget -> passed empty, reason names check,
    sample and pattern; after three overruns the budget shrinks; the eval set counts them."""
    pattern = r"^(a|aa)+$(?<!b)"
    checks = validate_check_specs(
        [
            {"type": "regex", "name": "shape", "pattern": pattern, "timeout_s": 0.05},
            {"type": "length", "max_chars": 100},
        ],
        "s.yaml: eval_sets[0].checks",
    )
    assert compile_user_regex(pattern).engine == "backtracking"
    texts = {f"bad{i}": "a" * 60 + "!" for i in range(6)} | {"ok": "aaa", "no": "aab"}
    t0 = time.perf_counter()
    scores = score_deterministic(
        _frame(texts), checks, date="2026-01-01", model_version="m", suite="s", eval_set="e"
    )
    assert time.perf_counter() - t0 < 10.0  # 3 budgets of 0.05 s, then 3 of 0.0025 s
    shape = scores[scores["metric"] == "shape"].set_index("sample_id")
    assert shape.loc["ok", "passed"] == True and shape.loc["no", "passed"] == False  # noqa: E712
    for i in range(6):
        row = shape.loc[f"bad{i}"]
        assert pd.isna(row["passed"]) and pd.isna(row["value"])
        assert row["reason"].startswith(f"check error: 'shape' on sample 'bad{i}': ")
        assert pattern in row["reason"]
    assert "0.05 s budget" in shape.loc["bad0", "reason"] and "0.0025 s budget" in shape.loc["bad5", "reason"]
    assert check_errors(scores) == (6, 16)  # scoring reports it as check_error_count
    m = eval_set_metrics(scores)
    assert m["shape.pass_rate"]["n"] == 2  # the undecided rows are out of the denominator, and counted
    with pytest.raises(RegexBudgetError, match=re.escape(pattern)):
        compile_user_regex(pattern, budget_s=0.05).search("a" * 60 + "!")


PATTERNS = [
    r"^\d+$",
    r"\bcafé\b",
    r"^\w+$",
    r"\s",
    r"^[a-z_]+$",
    r"colou?r",
    r"(?i)STRASSE",
    r"^\S+@\S+$",
    r"foo$",
    r"[:;]",
    r"(\w)\1",
    r"^(?!.*sorry).*$",
    r"\Aabc\Z",
    r"(?x) a b # comment",
]
TEXTS = [
    "123",
    "123\n",
    "١٢٣",
    "un café noir",
    "cafés",
    "Thérèse",
    "snake_case",
    "a\x0bb",
    "a\x1cb",
    "colour",
    "Hauptstrasse 5",
    "me@x.org",
    "foo\n",
    "foo\n\n",
    "I am sorry",
    "abc",
    "abc\n",
    "aa",
    ":]",
    "",
]


@pytest.mark.parametrize("pattern", PATTERNS)
def test_same_answers_as_python_re(pattern):
    """Whichever engine runs a text, the verdict is Python's (Unicode classes, $ before a final newline)."""
    rx = compile_user_regex(pattern)
    for text in TEXTS:
        if "\x1c" in text and not rx.uses_re2(text):
            continue  # the backtracking engine's \s is Unicode White_Space, without \x1c-\x1f (documented)
        for ic in (False, True):
            want = re.search(pattern, text, re.IGNORECASE if ic else 0) is not None
            got = compile_user_regex(pattern, ignore_case=ic).search(text) is not None
            assert got == want, (pattern, text, ic, rx.engine)


def test_invalid_pattern_and_budget_are_named_at_load():
    with pytest.raises(
        EvaluatorConfigError, match=r"s.yaml: eval_sets\[0\].checks\[0\].pattern: invalid regex 'ab\('"
    ):
        validate_check_specs([{"type": "regex", "pattern": "ab("}], "s.yaml: eval_sets[0].checks")
    with pytest.raises(EvaluatorConfigError, match=r"checks\[0\].pattern: ambiguous regex '\[\[:alpha:\]\]'"):
        validate_check_specs([{"type": "regex", "pattern": "[[:alpha:]]"}], "s.yaml: eval_sets[0].checks")
    with pytest.raises(EvaluatorConfigError, match=r"checks\[0\].timeout_s"):
        validate_check_specs(
            [{"type": "regex", "pattern": "a", "timeout_s": 0.0}], "s.yaml: eval_sets[0].checks"
        )


def test_json_schema_patterns_are_bounded_too():
    """A JSON Schema ``pattern`` ran in Python's re inside jsonschema: the same 25-minute answer."""
    (chk,) = validate_check_specs(
        [
            {
                "type": "json_schema",
                "schema": {
                    "type": "object",
                    "properties": {"code": {"type": "string", "pattern": "(a+)+$"}},
                    "patternProperties": {"^(x+)+$": {"type": "integer"}},
                },
            }
        ],
        "s.yaml: eval_sets[0].checks",
    )
    t0 = time.perf_counter()
    res = chk(Sample("s1", text='{"code": "' + EVIL + '"}'))
    assert res.passed is False and "does not match" in res.reason
    res = chk(Sample("s2", text='{"' + "x" * 34 + '!": "no", "xx": "not an int"}'))
    assert res.passed is False and "xx" in res.reason
    assert chk(Sample("s3", text='{"code": "aaa", "xxx": 3}')).passed is True
    assert time.perf_counter() - t0 < 2.0
    (slow,) = validate_check_specs(
        [{"type": "json_schema", "schema": {"type": "string", "pattern": r"^(a|aa)+$(?<!b)"}}],
        "s.yaml: eval_sets[0].checks",
    )
    scores = score_deterministic(
        _frame({"bad": '"' + "a" * 60 + '!"'}), [slow], date="d", model_version="m", suite="s", eval_set="e"
    )
    assert pd.isna(scores.loc[0, "passed"]) and scores.loc[0, "reason"].startswith(
        "check error: 'json_schema' on sample 'bad': JSON Schema pattern"
    )


def test_tool_call_arguments_are_checked_with_bounded_patterns():
    """A tool's input_schema pattern (golden-row tools) is checked on every tool call of a live answer."""
    from eval_pipeline.inference.live import check_tool_calls
    from eval_pipeline.inference.types import ModelRequest

    tools = [
        {
            "name": "lookup",
            "input_schema": {"type": "object", "properties": {"id": {"type": "string", "pattern": "(a+)+$"}}},
        }
    ]
    req = ModelRequest(sample_id="s", model="m", messages=[{"role": "user", "content": "x"}], tools=tools)
    t0 = time.perf_counter()
    assert "does not match" in check_tool_calls([{"name": "lookup", "arguments": {"id": EVIL}}], req)
    assert check_tool_calls([{"name": "lookup", "arguments": {"id": "aaa"}}], req) is None
    assert time.perf_counter() - t0 < 2.0
    slow = [
        {
            "name": "lookup",
            "input_schema": {
                "type": "object",
                "properties": {"id": {"type": "string", "pattern": r"^(a|aa)+$(?<!b)"}},
            },
        }
    ]
    req = ModelRequest(sample_id="s", model="m", messages=[{"role": "user", "content": "x"}], tools=slow)
    t0 = time.perf_counter()
    assert (
        check_tool_calls([{"name": "lookup", "arguments": {"id": "a" * 60 + "!"}}], req) is None
    )  # over budget: not held against the answer
    assert time.perf_counter() - t0 < 3.0
