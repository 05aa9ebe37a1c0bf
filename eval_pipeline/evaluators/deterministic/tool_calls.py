"""Tool-call checks: ``tool_calls_match`` (BFCL AST match), ``tool_called``, ``tool_not_called``,
``tool_order``, ``max_steps``.

In: the model's tool calls (``Sample.tool_calls``: ``{id, name, arguments}`` with canonical names,
every step of an agent loop in order), its agent steps (``Sample.trajectory``), the golden row
(``expected``; ``input.tools`` for the schemas). Out: pass/fail with the first mismatch as reason.

:func:`ast_match` follows the Berkeley Function Calling Leaderboard's AST checker
(``bfcl_eval/eval_checker/ast_eval/ast_checker.py``): ``expected`` is a list of
``{function_name: {argument: [acceptable values, ...]}}``; the model's calls must be as many as
the expected ones and pair up one to one in any order (BFCL's parallel "no order" checker), each
pair with the same function name, no argument outside the function's schema or the expected
arguments, every expected argument present with one of its acceptable values unless ``""`` is
among them (optional), values of the schema's type (an integer where a number is declared is
fine; so is a value of the acceptable values' type when that differs from the schema's, as in
BFCL's ``type_checker``), strings compared after BFCL's ``standardize_string`` (lower case, without spaces and
``,./-_*^``), lists element by element, objects key by key (BFCL's dict checker).
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal

from eval_pipeline.evaluators.deterministic.base import CheckFn, CheckResult, Sample, excerpt
from eval_pipeline.evaluators.deterministic.check_registry import check

_STRIP = re.compile(r"[ ,./\-_*^]")


def standardize_string(s: str) -> str:
    """BFCL's normalisation: lower case, without spaces and ``,./-_*^``; single quotes as double."""
    return _STRIP.sub("", s).lower().replace("'", '"')


_PY_TYPES = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "array": (list, tuple),
    "object": (dict,),
}


def _type_ok(value: Any, schema: dict[str, Any] | None) -> bool:
    kind = (schema or {}).get("type")
    if not isinstance(kind, str) or kind not in _PY_TYPES:
        return True
    if isinstance(value, bool) and kind != "boolean":
        return False
    return isinstance(value, _PY_TYPES[kind])


def _norm(value: Any) -> Any:
    """A concrete value with every string standardised (for comparing lists and nested values)."""
    if isinstance(value, str):
        return standardize_string(value)
    if isinstance(value, (list, tuple)):
        return [_norm(v) for v in value]
    if isinstance(value, dict):
        return {k: _norm(v) for k, v in value.items()}
    if isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def _dict_match(got: dict[str, Any], option: dict[str, Any]) -> str | None:
    """BFCL's dict checker: ``option`` maps keys to acceptable values (a missing key is fine when
    ``""`` is acceptable)."""
    for k, v in got.items():
        if k not in option:
            return f"unexpected key {k!r}"
        if not _value_ok(v, _options(option[k])):
            return f"key {k!r}: {excerpt(json.dumps(v))} is not one of {excerpt(json.dumps(option[k]))}"
    for k, acceptable in option.items():
        if k not in got and "" not in _options(acceptable):
            return f"missing key {k!r}"
    return None


def _options(acceptable: Any) -> list[Any]:
    """Acceptable values as a list (a nested object sometimes gives one value, not a list)."""
    return acceptable if isinstance(acceptable, list) else [acceptable]


def _value_ok(value: Any, acceptable: list[Any]) -> bool:
    for option in acceptable:
        if option == "" and value in ("", None):
            return True
        if isinstance(option, dict) and isinstance(value, dict):
            if _dict_match(value, option) is None:
                return True
        elif _norm(value) == _norm(option):
            return True
    return False


def match_call(
    call: dict[str, Any], name: str, expected_args: dict[str, list[Any]], schema: dict[str, Any] | None
) -> str | None:
    """None when one model call matches one expected call, else why not."""
    if call.get("name") != name:
        return f"called {call.get('name')!r}, expected {name!r}"
    args = call.get("arguments") or {}
    props = (schema or {}).get("properties")
    for arg, value in args.items():
        if (props is not None and arg not in props) or arg not in expected_args:
            return f"{name}: unexpected argument {arg!r}"
        if (
            value is not None
            and props is not None
            and not _type_ok(value, props.get(arg))
            and not any(type(value) is type(o) for o in expected_args[arg] if o != "")
        ):  # BFCL: a value of the acceptable values' type passes when they differ from the schema's
            return f"{name}: argument {arg!r} = {excerpt(json.dumps(value))} is not of type {props[arg].get('type')}"
        if not _value_ok(value, expected_args[arg]):
            return (
                f"{name}: argument {arg!r} = {excerpt(json.dumps(value))} is not one of "
                f"{excerpt(json.dumps(expected_args[arg]))}"
            )
    for arg, acceptable in expected_args.items():
        if arg not in args and "" not in acceptable:
            return f"{name}: required argument {arg!r} missing"
    return None


def ast_match(
    calls: list[dict[str, Any]],
    expected: list[dict[str, dict[str, list[Any]]]],
    tools: list[dict[str, Any]] | None,
) -> tuple[bool, str]:
    """BFCL AST match of the model's calls against the expected list (order-free); (passed, reason)."""
    if not isinstance(expected, list) or not all(isinstance(e, dict) and len(e) == 1 for e in expected):
        return False, "expected is not in BFCL's form [{function_name: {argument: [acceptable values]}}]"
    if len(calls) != len(expected):
        return False, f"{len(calls)} tool call(s), expected {len(expected)}"
    schemas = {t.get("name"): t.get("input_schema") for t in tools or []}
    free = list(range(len(calls)))
    for exp in expected:
        ((name, args),) = exp.items()
        reasons = []
        for i in free:
            why = match_call(calls[i], name, args, schemas.get(name))
            if why is None:
                free.remove(i)
                break
            reasons.append(why)
        else:
            best = next((r for r in reasons if not r.startswith("called ")), reasons[0] if reasons else "")
            return False, f"no call matches the expected {name!r}: {best}"
    return True, f"{len(calls)} call(s) match"


def _calls(sample: Sample) -> list[dict[str, Any]]:
    return list(sample.tool_calls or [])


def _row_tools(sample: Sample) -> list[dict[str, Any]] | None:
    inp = sample.input
    return inp.get("tools") if isinstance(inp, dict) and isinstance(inp.get("tools"), list) else None


@check("tool_calls_match")
def tool_calls_match(expected_field: str | None = None) -> CheckFn:
    """The model's tool calls match ``expected`` (BFCL's form and AST-match semantics, order-free).

    Args:
        expected_field: key of the expected calls inside an object ``expected`` (default: ``expected`` itself).
    """

    def fn(sample: Sample) -> CheckResult:
        exp = sample.expected
        if expected_field is not None:
            exp = exp.get(expected_field) if isinstance(exp, dict) else None
        ok, reason = ast_match(_calls(sample), exp, _row_tools(sample))
        return CheckResult(ok, reason)

    return fn


@check("tool_called")
def tool_called(tool: str, min_times: int = 1) -> CheckFn:
    """The model called ``tool`` (by name) at least ``min_times`` times, over every step."""

    def fn(sample: Sample) -> CheckResult:
        n = sum(1 for c in _calls(sample) if c.get("name") == tool)
        return CheckResult(n >= min_times, f"{tool!r} called {n} time(s), expected at least {min_times}")

    return fn


@check("tool_not_called")
def tool_not_called(tool: str) -> CheckFn:
    """The model never called ``tool`` (by name)."""

    def fn(sample: Sample) -> CheckResult:
        n = sum(1 for c in _calls(sample) if c.get("name") == tool)
        return CheckResult(n == 0, f"{tool!r} called {n} time(s), expected never")

    return fn


@check("tool_order")
def tool_order(tools: list[str], mode: Literal["exact", "in_order", "any_order"] = "in_order") -> CheckFn:
    """The sequence of called tool names against ``tools``: ``exact`` (the same sequence),
    ``in_order`` (``tools`` appear in this order, other calls in between allowed), ``any_order``
    (each of ``tools`` called, as often as listed, in any order)."""

    def fn(sample: Sample) -> CheckResult:
        got = [c.get("name") for c in _calls(sample)]
        if mode == "exact":
            ok = got == tools
        elif mode == "in_order":
            it = iter(got)
            ok = all(any(g == t for g in it) for t in tools)
        else:
            ok = all(got.count(t) >= tools.count(t) for t in set(tools))
        return CheckResult(ok, f"called {got}, expected {tools} ({mode})")

    return fn


@check("max_steps")
def max_steps(max: int) -> CheckFn:  # noqa: A002 - the YAML key
    """The agent took at most ``max`` model calls and ended with a final answer (no call left pending)."""

    def fn(sample: Sample) -> CheckResult:
        steps = [s for s in sample.trajectory or [] if s.get("role") != "simulated_user"]
        steps = steps or [{"tool_calls": sample.tool_calls or []}]
        pending = bool(steps[-1].get("tool_calls"))
        ok = len(steps) <= max and not pending
        why = "the last step still called tools (no final answer)" if pending else ""
        return CheckResult(ok, f"{len(steps)} step(s), at most {max} allowed {why}".strip())

    return fn
