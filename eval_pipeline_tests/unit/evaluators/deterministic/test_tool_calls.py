"""tool_calls_match checked independently on the 600 shared BFCL rows (data/golden/bfcl_tool_calls.jsonl):
the expected call itself passes; wrong function, a required argument missing, a value outside the
acceptable list, an unknown argument, one call too many or too few each fail; parallel calls pass in
any order. Plus tool_called / tool_not_called / tool_order / max_steps."""

from __future__ import annotations

import copy
import json
import random
from pathlib import Path

import pytest

from eval_pipeline.evaluators.deterministic import Sample, build_check, score_sample, validate_check_specs
from eval_pipeline.evaluators.deterministic.tool_calls import ast_match

ROWS = [
    json.loads(line)
    for line in (Path(__file__).parents[4] / "data" / "golden" / "bfcl_tool_calls.jsonl")
    .read_text()
    .splitlines()
]


def _concrete(acceptable):
    """One acceptable value of an argument (a non-empty one when there is), objects made concrete."""
    acceptable = acceptable if isinstance(acceptable, list) else [acceptable]
    value = next((v for v in acceptable if v != ""), "")
    if isinstance(value, dict):
        return {k: _concrete(v) for k, v in value.items() if v != "" and v != [""]}
    return value


def expected_calls(expected):
    out = []
    for i, exp in enumerate(expected):
        ((name, args),) = exp.items()
        out.append(
            {
                "id": f"c{i}",
                "name": name,
                "arguments": {a: _concrete(v) for a, v in args.items() if any(x != "" for x in v)},
            }
        )
    return out


def _outside(value):
    """A value of the same type that no acceptable list holds."""
    if isinstance(value, (int, float)):
        return value + 7919
    if isinstance(value, str):
        return value + " zzqx"
    if isinstance(value, list):
        return [*value, "zzqx"]
    return {**value, "zzqx_key": "x"}


def test_rows_are_the_shared_bfcl_set():
    assert len(ROWS) == 600
    assert all(r["metadata"]["license"] == "Apache-2.0" for r in ROWS)


def test_expected_call_passes_and_every_perturbation_fails_on_all_600_rows():
    rng = random.Random(7)
    counts = dict.fromkeys(
        ["wrong_function", "missing_required", "outside_value", "unknown_arg", "too_many", "too_few"], 0
    )
    for row in ROWS:
        tools, exp = row["input"]["tools"], row["expected"]
        calls = expected_calls(exp)
        ok, why = ast_match(calls, exp, tools)
        assert ok, (row["id"], why)

        other = [t["name"] for t in tools if t["name"] not in {c["name"] for c in calls}]
        bad = copy.deepcopy(calls)
        bad[0]["name"] = rng.choice(other)
        assert not ast_match(bad, exp, tools)[0], row["id"]
        counts["wrong_function"] += 1

        ((name, args),) = exp[0].items()
        required = [a for a, v in args.items() if "" not in v]
        if required:
            bad = copy.deepcopy(calls)
            del bad[0]["arguments"][rng.choice(required)]
            assert not ast_match(bad, exp, tools)[0], row["id"]
            counts["missing_required"] += 1
        plain = sorted(
            a for a, v in calls[0]["arguments"].items() if v is not None and not isinstance(v, bool)
        )
        if plain:
            bad = copy.deepcopy(calls)
            arg = rng.choice(plain)
            bad[0]["arguments"][arg] = _outside(bad[0]["arguments"][arg])
            assert not ast_match(bad, exp, tools)[0], (row["id"], arg)
            counts["outside_value"] += 1

        bad = copy.deepcopy(calls)
        bad[0]["arguments"]["zz_not_in_schema"] = "x"
        assert not ast_match(bad, exp, tools)[0], row["id"]
        counts["unknown_arg"] += 1

        assert not ast_match([*calls, copy.deepcopy(calls[0])], exp, tools)[0], row["id"]
        counts["too_many"] += 1
        assert not ast_match(calls[:-1], exp, tools)[0], row["id"]
        counts["too_few"] += 1
    assert counts["wrong_function"] == counts["unknown_arg"] == 600
    assert counts["missing_required"] > 400 and counts["outside_value"] > 500


def test_parallel_calls_pass_in_any_order_and_pair_one_to_one():
    expected = [
        {"get_weather": {"city": ["Paris", "Paris, France"], "unit": ["celsius", ""]}},
        {"get_weather": {"city": ["Tokyo"], "unit": ["celsius", ""]}},
        {"get_time": {"tz": ["Europe/Paris"]}},
    ]
    calls = [
        {"id": "a", "name": "get_weather", "arguments": {"city": "Paris"}},
        {"id": "b", "name": "get_weather", "arguments": {"city": "Tokyo", "unit": "celsius"}},
        {"id": "c", "name": "get_time", "arguments": {"tz": "Europe/Paris"}},
    ]
    for perm in ([0, 1, 2], [2, 1, 0], [1, 2, 0], [2, 0, 1]):
        assert ast_match([calls[i] for i in perm], expected, None)[0]
    # two calls for Paris do not cover Tokyo
    twice = [calls[0], calls[0], calls[2]]
    ok, why = ast_match(twice, expected, None)
    assert not ok and "Tokyo" in why or "get_weather" in why


def test_bfcl_value_rules():
    tools = [
        {
            "name": "f",
            "input_schema": {
                "type": "object",
                "properties": {"n": {"type": "number"}, "k": {"type": "integer"}, "s": {"type": "string"}},
            },
        }
    ]
    exp = [{"f": {"n": [2.0], "k": [3], "s": ["New York, NY"]}}]
    assert ast_match([{"name": "f", "arguments": {"n": 2, "k": 3, "s": "new york ny"}}], exp, tools)[0]
    assert not ast_match([{"name": "f", "arguments": {"n": 2, "k": 3.0, "s": "New York, NY"}}], exp, tools)[0]
    assert not ast_match([{"name": "f", "arguments": {"n": 2, "k": True, "s": "New York, NY"}}], exp, tools)[
        0
    ]
    assert not ast_match([{"name": "f", "arguments": {"n": 2, "k": 3, "s": "Boston"}}], exp, tools)[0]


def _sample(calls, trajectory=None, expected=None):
    return Sample("s", tool_calls=calls, trajectory=trajectory, expected=expected)


def test_tool_called_not_called_order_and_max_steps_through_the_suite_yaml():
    checks = validate_check_specs(
        [
            {"type": "tool_called", "tool": "lookup_order"},
            {"type": "tool_not_called", "tool": "refund"},
            {"type": "tool_order", "tools": ["lookup_order", "change_booking"], "mode": "in_order"},
            {
                "type": "tool_order",
                "tools": ["change_booking", "lookup_order"],
                "mode": "any_order",
                "name": "any",
            },
            {
                "type": "tool_order",
                "tools": ["lookup_order", "change_booking"],
                "mode": "exact",
                "name": "exact",
            },
            {"type": "max_steps", "max": 3},
        ],
        where="test",
    )
    calls = [
        {"id": "1", "name": "lookup_order", "arguments": {}},
        {"id": "2", "name": "note", "arguments": {}},
        {"id": "3", "name": "change_booking", "arguments": {}},
    ]
    steps = [{"tool_calls": calls[:1]}, {"tool_calls": calls[1:]}, {"tool_calls": [], "text": "done"}]
    rows = {r["metric"]: r["passed"] for r in score_sample(_sample(calls, steps), checks)}
    assert rows == {
        "tool_called": True,
        "tool_not_called": True,
        "tool_order": True,
        "any": True,
        "exact": False,
        "max_steps": True,
    }
    rows = {
        r["metric"]: r["passed"]
        for r in score_sample(
            _sample(calls[::-1] + [{"id": "4", "name": "refund", "arguments": {}}], steps + steps), checks
        )
    }
    assert rows == {
        "tool_called": True,
        "tool_not_called": False,
        "tool_order": False,
        "any": True,
        "exact": False,
        "max_steps": False,
    }
    # no calls at all
    rows = {r["metric"]: r["passed"] for r in score_sample(_sample(None), checks)}
    assert rows["tool_called"] is False and rows["tool_not_called"] is True


def test_tool_calls_match_check_on_a_scored_row():
    row = ROWS[0]
    check = build_check({"type": "tool_calls_match"}, where="test")
    good = Sample(
        "x", input=row["input"], expected=row["expected"], tool_calls=expected_calls(row["expected"])
    )
    assert check(good).passed
    assert not check(Sample("x", input=row["input"], expected=row["expected"], tool_calls=None)).passed
    with pytest.raises(Exception, match="min_times"):
        build_check({"type": "tool_called", "tool": "a", "min_times": 0}, where="test")


def test_judge_sees_the_conversation_and_the_trajectory():
    import pandas as pd

    from eval_pipeline.evaluators.judge.prompts import _sample_context
    from eval_pipeline.project.judge import validate_judge_config

    cfg = validate_judge_config(
        {
            "model": "claude-sonnet-4-5",
            "dimensions": [{"name": "helpful", "description": "d", "scale": [1, 5]}],
        }
    )
    convo = {
        "messages": [
            {"role": "user", "content": "Where is my order?"},
            {"role": "assistant", "content": "Which one?"},
            {"role": "user", "content": "A7"},
        ]
    }
    steps = [
        {
            "tool_calls": [{"id": "1", "name": "orders.lookup", "arguments": {"order_id": "A7"}}],
            "tool_results": [{"id": "1", "name": "orders.lookup", "content": "shipped", "is_error": False}],
        },
        {"tool_calls": [], "text": "It has shipped."},
    ]
    samples = pd.DataFrame(
        [
            {
                "sample_id": "s",
                "repeat": 0,
                "input": convo,
                "expected": None,
                "trajectory_json": json.dumps(steps),
            }
        ]
    )
    ctx = _sample_context(cfg, samples, 0, response="It has shipped.")
    assert ctx["input_text"] == "[user] Where is my order?\n\n[assistant] Which one?\n\n[user] A7"
    assert ctx["response"].startswith("It has shipped.\n\n## Tool use\n")
    assert (
        'called orders.lookup({"order_id": "A7"})' in ctx["response"]
        and "returned: shipped" in ctx["response"]
    )
    plain = pd.DataFrame([{"sample_id": "s", "repeat": 0, "input": "hi", "expected": None}])
    assert _sample_context(cfg, plain, 0, response="hello")["response"] == "hello"  # unchanged without tools
