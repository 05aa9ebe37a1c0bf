"""JSON checks: ``valid_json``, ``json_schema``, ``json_fields_match``.

In: the response text (parsed as JSON, one Markdown code fence tolerated) and, for
``json_fields_match``, the gold object in ``expected``. Out: pass/fail with the parse error or
the first schema violation as the reason; ``json_fields_match`` also emits one auxiliary
``<name>.<field>_f1`` row per ``set``-compared field. A schema's ``pattern`` / ``patternProperties``
run in RE2 or with a time budget (``project/user_regex.py``), like the ``regex`` check.
"""

from __future__ import annotations

import hashlib
from typing import Any, Literal

import jsonschema

from eval_pipeline.evaluators.deterministic.base import (
    CheckError,
    CheckFn,
    CheckResult,
    Sample,
    as_text,
    excerpt,
    field_arg,
    map_strings,
    normalizer,
    parse_json_text,
    response_value,
)
from eval_pipeline.evaluators.deterministic.check_registry import BuildContext, check
from eval_pipeline.project.checks import read_schema_file
from eval_pipeline.project.user_regex import RegexBudgetError, bounded_validator


@check("valid_json")
def valid_json(
    allow_code_fence: bool = True, require_type: Literal["any", "object", "array"] = "any"
) -> CheckFn:
    """The response parses as JSON.

    Args:
        allow_code_fence: accept one Markdown code fence around the JSON.
        require_type: also require a top-level ``object`` or ``array``.
    """
    want = {"object": dict, "array": list}.get(require_type)

    def run(sample: Sample) -> CheckResult:
        ok, value, err = parse_json_text(sample.text, allow_code_fence)
        if not ok:
            return CheckResult(False, f"response {err}")
        if want is not None and not isinstance(value, want):
            return CheckResult(False, f"JSON is a {type(value).__name__}, not a {require_type}")
        return CheckResult(True, "ok")

    return run


def _schema_file_hash(args: dict[str, Any], context: BuildContext) -> str:
    """A schema read from a file: its bytes are part of the evaluator hash."""
    if "schema_file" not in args:
        return ""
    return hashlib.sha256(context.resolve(args["schema_file"]).read_bytes()).hexdigest()


@check("json_schema", hash_extra=_schema_file_hash)
def json_schema(
    schema: dict[str, Any] | None = None,
    schema_file: str | None = None,
    field: str | None = None,
    *,
    context: BuildContext,
) -> CheckFn:
    """The parsed response (or ``field`` of it) validates against a JSON Schema.

    Args:
        schema: the schema inline; or
        schema_file: path to a JSON (or YAML) schema, relative to the suite file.
        field: JSON path into the response to validate instead of the whole document.
    """

    if schema_file is not None:  # which of the two is given, and that it is a valid schema: checked at load
        schema = read_schema_file(schema_file, context)
    if schema is None:  # the spec (project/checks.py) requires one of the two; only a direct call misses both
        raise ValueError("json_schema needs schema or schema_file")
    validator_cls = jsonschema.validators.validator_for(schema)
    validator = bounded_validator(validator_cls)(schema)
    parts = field_arg(field)

    def run(sample: Sample) -> CheckResult:
        if parts is None:
            ok, value, err = sample.parsed
            if not ok:
                return CheckResult(False, f"response {err}")
        else:
            ok, value, err = response_value(sample, parts)
            if not ok:
                return CheckResult(False, err)
        try:
            error = jsonschema.exceptions.best_match(validator.iter_errors(value))
        except RegexBudgetError as exc:
            raise CheckError(f"JSON Schema {exc}") from None
        if error is None:
            return CheckResult(True, "ok")
        where = "/".join(str(p) for p in error.absolute_path) or "<root>"
        return CheckResult(False, f"schema violation at {where}: {error.message}")

    return run


@check("json_fields_match")
def json_fields_match(
    fields: dict[str, Literal["exact", "set", "normalized"]] = {"intents": "set", "slots": "exact"},  # noqa: B006
    field: str | None = None,
) -> CheckFn:
    """Fields of the parsed JSON response equal those of ``expected`` (structured extraction).

    Made for NLU++-style gold objects ``{"intents": [...], "slots": {...}}``.

    Args:
        fields: field name -> comparison: ``set`` (lists as sets; also emits a per-sample
            ``<name>.<field>_f1`` row), ``exact`` (JSON equality) or ``normalized`` (strings
            stripped, case-folded, whitespace collapsed, recursively).
        field: JSON path of the object inside the response (default: the whole response).
    """
    parts = field_arg(field)
    norm = normalizer(["strip", "casefold", "collapse_whitespace"])

    def nrm(v: Any) -> Any:
        return map_strings(norm, v)

    def run(sample: Sample) -> CheckResult:
        gold = sample.expected
        if not isinstance(gold, dict):
            return CheckResult(None, "expected value is not a JSON object")
        ok, obj, err = response_value(sample, parts) if parts else sample.parsed
        if not ok:
            obj, problems = {}, [err if parts else f"response {err}"]
        elif not isinstance(obj, dict):
            obj, problems = {}, [f"response JSON is a {type(obj).__name__}, not an object"]
        else:
            problems = []
        extras = []
        for name, mode in fields.items():
            want = gold.get(name)
            got = obj.get(name)
            if mode == "set":
                w = {as_text(x) for x in (want or [])} if isinstance(want, list) else {as_text(want)}
                g = (
                    {as_text(x) for x in got}
                    if isinstance(got, list)
                    else (set() if got is None else {as_text(got)})
                )
                extras.append(
                    (f"{name}_f1", _set_f1(g, w), f"{len(g & w)} of {len(w)} expected, {len(g - w)} extra")
                )
                if g != w and ok:
                    problems.append(f"{name}: missing {sorted(w - g)}, extra {sorted(g - w)}")
            elif (nrm(got) if mode == "normalized" else got) != (
                nrm(want) if mode == "normalized" else want
            ) and ok:
                problems.append(f"{name}: expected {excerpt(want, 40)}, got {excerpt(got, 40)}")
        return CheckResult(not problems, "; ".join(problems) or "ok", extras=tuple(extras))

    return run


def _set_f1(pred: set[Any], gold: set[Any]) -> float:
    """Per-sample F1 of two sets (1.0 when both are empty, as sklearn's zero_division=1)."""
    if not pred and not gold:
        return 1.0
    tp = len(pred & gold)
    return 2 * tp / (len(pred) + len(gold))
