"""Deterministic checks: configured per eval set in the suite YAML, one pass/fail + reason per sample.

A suite lists checks by ``type`` with the check's arguments next to it::

    checks:
      - type: label_in_set            # labels: [...] or labels_from: expected_values
      - {type: exact_match, normalize: [strip, lower], field: label}
      - {type: regex, pattern: "^[a-z_]+$", must_match: true}
      - {type: json_schema, schema_file: schemas/ticket.json}
      - {type: custom, function: "my_pkg.checks:is_polite", name: polite}

How it is built (in the spirit of inspect_ai scorers): every check type is a small *factory*
registered with :func:`check`. The factory receives the YAML arguments as keyword arguments
(validated against its signature and type hints by :func:`build_check`), and returns a function
``Sample -> CheckResult``. Text-valued checks share one plumbing function, :func:`text_check`,
which pulls the checked value out of the response (optionally a JSON ``field``) and turns the
predicate's ``(passed, reason)`` into a :class:`CheckResult`. Adding a check is ~10 lines::

    @check("starts_with")
    def starts_with(prefix: str, field: str | None = None) -> CheckFn:
        \"\"\"Response (or `field`) starts with `prefix`.\"\"\"
        return text_check(lambda v, s: (v.startswith(prefix), f"does not start with {prefix!r}"), field)

Configuration errors raise :class:`EvaluatorConfigError` naming the key path, e.g.
``data/suites/x.yaml: eval_sets[0].checks[2].pattern: invalid regex 'ab(' (...)``.

Scoring (:func:`score_deterministic`) emits one row per (sample, repeat, check) in the
long-format :data:`eval_pipeline.schemas.SCORE_COLUMNS`. Infrastructure errors give
``passed=None`` and ``infra_error=<category>`` (never a failed answer); model-side refusals and
empty answers are quality failures. Some checks also emit *auxiliary* rows (``passed=None``,
metric ``<check>.<suffix>``) that eval-set metrics read: ``exact_match.prediction`` (predicted and
gold label, optional confidence, as JSON in ``reason``) and ``json_fields_match.<field>_f1``.
"""
from __future__ import annotations

import hashlib
import importlib
import inspect
import json
import math
import re
import string
import typing
from dataclasses import dataclass, field as dc_field
from functools import cached_property
from pathlib import Path
from typing import Any, Callable, Literal

import pandas as pd

from eval_pipeline.inference.types import INFRA_ERROR_CATEGORIES, MODEL_ERROR_CATEGORIES
from eval_pipeline.schemas import SCORE_COLUMNS

FAMILY = "deterministic"
# Model-side outcomes that fail every check regardless of the text (max_tokens is scored as is).
FAILING_MODEL_ERRORS = ("refusal", "empty")


class EvaluatorConfigError(ValueError):
    """A suite's evaluator configuration is invalid; the message starts with the key path."""


class ArgError(Exception):
    """Raised by a check factory for an invalid argument; :func:`build_check` adds the key path."""

    def __init__(self, arg: str, message: str):
        super().__init__(message)
        self.arg = arg
        self.message = message


# --------------------------------------------------------------------------------------------
# Data passed to and returned by checks
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CheckResult:
    """Verdict of one check on one sample.

    ``value`` defaults to 1.0/0.0 from ``passed``; ``extras`` are auxiliary score rows
    ``(metric_suffix, value, reason)`` with ``passed=None`` (e.g. a per-sample F1).
    """

    passed: bool | None
    reason: str
    value: float | None = None
    extras: tuple[tuple[str, float | None, str], ...] = ()


_FENCE_RE = re.compile(r"^\s*```[A-Za-z0-9_-]*[ \t]*\n(.*?)\n?[ \t]*```\s*$", re.S)


def parse_json_text(text: str, allow_code_fence: bool = True) -> tuple[bool, Any, str]:
    """Parse a model response as JSON -> ``(ok, value, error)``.

    With ``allow_code_fence`` a single Markdown fence (```json ... ```) around the JSON is accepted.
    """
    body = text
    if allow_code_fence:
        m = _FENCE_RE.match(text)
        if m:
            body = m.group(1)
    try:
        return True, json.loads(body), ""
    except (json.JSONDecodeError, TypeError) as exc:
        return False, None, f"not valid JSON ({exc})"


@dataclass
class Sample:
    """One graded sample as the checks see it (response text plus golden fields)."""

    sample_id: str
    repeat: int = 0
    text: str = ""  # response text ("" when the model gave none)
    input: Any = None
    expected: Any = None
    metadata: dict = dc_field(default_factory=dict)
    category: str | None = None
    error_category: str | None = None
    eval_set_labels: frozenset[str] = frozenset()  # all string expected values of the eval set

    @cached_property
    def parsed(self) -> tuple[bool, Any, str]:
        """The response parsed as JSON (code fences tolerated): ``(ok, value, error)``."""
        return parse_json_text(self.text)


CheckFn = Callable[[Sample], CheckResult]


# --------------------------------------------------------------------------------------------
# Registry
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CheckType:
    """A registered check factory and its argument specification."""

    name: str
    factory: Callable[..., CheckFn]
    params: dict[str, inspect.Parameter]
    hints: dict[str, Any]
    doc: str

    @property
    def required(self) -> list[str]:
        return [n for n, p in self.params.items() if p.default is inspect.Parameter.empty]


CHECK_TYPES: dict[str, CheckType] = {}
_CONTEXT_PARAM = "context"  # factories may take a `context: BuildContext` injected by build_check
RESERVED_KEYS = ("type", "name")


def check(name: str) -> Callable[[Callable[..., CheckFn]], Callable[..., CheckFn]]:
    """Register a check factory under ``name`` (the YAML ``type``)."""

    def register(factory: Callable[..., CheckFn]) -> Callable[..., CheckFn]:
        sig = inspect.signature(factory)
        params = {n: p for n, p in sig.parameters.items() if n != _CONTEXT_PARAM}
        hints = typing.get_type_hints(factory)
        CHECK_TYPES[name] = CheckType(name, factory, params, hints, inspect.getdoc(factory) or "")
        return factory

    return register


@dataclass(frozen=True)
class BuildContext:
    """What a factory may need beyond its arguments: where relative files are resolved from."""

    base_dir: Path
    where: str


@dataclass(frozen=True)
class Check:
    """A configured check: ``name`` is the ``metric`` of its score rows."""

    name: str
    type: str
    args: dict[str, Any]
    fn: CheckFn
    evaluator_hash: str

    def __call__(self, sample: Sample) -> CheckResult:
        return self.fn(sample)


# --------------------------------------------------------------------------------------------
# Shared plumbing
# --------------------------------------------------------------------------------------------
_PATH_TOKEN = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def parse_field_path(path: str) -> list[str | int]:
    """Parse a JSON path like ``a.b[0].c`` into keys/indices; raises ValueError if malformed."""
    if not isinstance(path, str) or not path.strip():
        raise ValueError("empty field path")
    parts: list[str | int] = []
    pos = 0
    for m in _PATH_TOKEN.finditer(path):
        if m.start() != pos and path[pos:m.start()] != ".":
            raise ValueError(f"malformed field path {path!r} at position {pos}")
        parts.append(m.group(1) if m.group(1) is not None else int(m.group(2)))
        pos = m.end()
    if pos != len(path) or not parts:
        raise ValueError(f"malformed field path {path!r} at position {pos}")
    return parts


def get_field(obj: Any, parts: list[str | int]) -> tuple[bool, Any]:
    """Follow a parsed path into a JSON value -> ``(found, value)``."""
    cur = obj
    for p in parts:
        if isinstance(p, int) and isinstance(cur, list) and -len(cur) <= p < len(cur):
            cur = cur[p]
        elif isinstance(cur, dict) and str(p) in cur:
            cur = cur[str(p)]
        else:
            return False, None
    return True, cur


def _as_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True)


def response_value(sample: Sample, field: list[str | int] | None) -> tuple[bool, Any, str]:
    """The checked value: the whole response text, or ``field`` of the parsed JSON response."""
    if field is None:
        return True, sample.text, ""
    ok, obj, err = sample.parsed
    if not ok:
        return False, None, f"response {err}"
    found, value = get_field(obj, field)
    if not found:
        return False, None, f"response JSON has no field {_path_str(field)!r}"
    return True, value, ""


def _path_str(parts: list[str | int]) -> str:
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (("." if out else "") + p)
    return out


def _field_arg(field: str | None, arg: str = "field") -> list[str | int] | None:
    if field is None:
        return None
    try:
        return parse_field_path(field)
    except ValueError as exc:
        raise ArgError(arg, str(exc)) from None


def text_check(predicate: Callable[[str, Sample], tuple[bool, str]], field: list[str | int] | None) -> CheckFn:
    """Plumbing for text checks: extract the value (text or JSON field), run the predicate.

    ``predicate(value_text, sample) -> (passed, reason_if_failed)``; the pass reason is "ok".
    """

    def run(sample: Sample) -> CheckResult:
        ok, value, err = response_value(sample, field)
        if not ok:
            return CheckResult(False, err)
        passed, reason = predicate(_as_text(value), sample)
        return CheckResult(bool(passed), "ok" if passed else reason)

    return run


def excerpt(text: Any, n: int = 60) -> str:
    """Short single-line repr for reasons."""
    s = _as_text(text)
    s = re.sub(r"\s+", " ", s)
    return repr(s if len(s) <= n else s[: n - 1] + "…")


# Normalizers for string comparison (exact_match, label_in_set).
NORMALIZERS: dict[str, Callable[[str], str]] = {
    "strip": str.strip,
    "lower": str.lower,
    "casefold": str.casefold,
    "collapse_whitespace": lambda s: re.sub(r"\s+", " ", s),
    "strip_punctuation": lambda s: s.translate(str.maketrans("", "", string.punctuation)),
    "strip_quotes": lambda s: s.strip().strip("\"'`"),
}


def _normalizer(names: list[str], arg: str = "normalize") -> Callable[[str], str]:
    unknown = [n for n in names if n not in NORMALIZERS]
    if unknown:
        raise ArgError(arg, f"unknown normalizer(s) {unknown}; known: {sorted(NORMALIZERS)}")
    fns = [NORMALIZERS[n] for n in names]

    def apply(s: str) -> str:
        for f in fns:
            s = f(s)
        return s

    return apply


def _expected_value(sample: Sample, parts: list[str | int] | None) -> tuple[bool, Any]:
    """Gold value: ``expected`` or, when it is an object and a path is given, that field of it."""
    if sample.expected is None:
        return False, None
    if parts is None or not isinstance(sample.expected, (dict, list)):
        return True, sample.expected
    return get_field(sample.expected, parts)


# --------------------------------------------------------------------------------------------
# Check types
# --------------------------------------------------------------------------------------------
@check("valid_json")
def valid_json(allow_code_fence: bool = True, require_type: Literal["any", "object", "array"] = "any") -> CheckFn:
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


@check("json_schema")
def json_schema(
    schema: dict | None = None, schema_file: str | None = None, field: str | None = None, *, context: BuildContext
) -> CheckFn:
    """The parsed response (or ``field`` of it) validates against a JSON Schema.

    Args:
        schema: the schema inline; or
        schema_file: path to a JSON (or YAML) schema, relative to the suite file.
        field: JSON path into the response to validate instead of the whole document.
    """
    import jsonschema

    if (schema is None) == (schema_file is None):
        raise ArgError("schema", "give exactly one of `schema` or `schema_file`")
    arg = "schema"
    if schema_file is not None:
        arg = "schema_file"
        path = Path(schema_file)
        path = path if path.is_absolute() else context.base_dir / path
        if not path.is_file():
            raise ArgError(arg, f"schema file not found: {path}")
        try:
            if path.suffix in (".yaml", ".yml"):
                import yaml

                schema = yaml.safe_load(path.read_text())
            else:
                schema = json.loads(path.read_text())
        except Exception as exc:  # noqa: BLE001 - reported with the key path
            raise ArgError(arg, f"cannot read schema file {path}: {exc}") from None
        if not isinstance(schema, dict):
            raise ArgError(arg, f"schema file {path} does not hold a JSON object")
    validator_cls = jsonschema.validators.validator_for(schema)
    try:
        validator_cls.check_schema(schema)
    except jsonschema.SchemaError as exc:
        loc = "".join(f"[{p!r}]" for p in exc.path)
        raise ArgError(arg, f"invalid JSON Schema{(' at ' + loc) if loc else ''}: {exc.message}") from None
    validator = validator_cls(schema)
    parts = _field_arg(field)

    def run(sample: Sample) -> CheckResult:
        if parts is None:
            ok, value, err = sample.parsed
            if not ok:
                return CheckResult(False, f"response {err}")
        else:
            ok, value, err = response_value(sample, parts)
            if not ok:
                return CheckResult(False, err)
        error = jsonschema.exceptions.best_match(validator.iter_errors(value))
        if error is None:
            return CheckResult(True, "ok")
        where = "/".join(str(p) for p in error.absolute_path) or "<root>"
        return CheckResult(False, f"schema violation at {where}: {error.message}")

    return run


@check("label_in_set")
def label_in_set(
    labels: list[str] | None = None,
    labels_from: Literal["expected_values"] | None = None,
    normalize: list[str] = ["strip"],  # noqa: B006 - never mutated
    field: str | None = None,
) -> CheckFn:
    """The response (or ``field``) is one of the allowed labels.

    Args:
        labels: the allowed labels; or
        labels_from: ``expected_values``: every expected label of the eval set.
        normalize: normalizers applied to both sides (strip, lower, casefold, collapse_whitespace, ...).
        field: JSON path of the label in a JSON response (e.g. ``label``).
    """
    if (labels is None) == (labels_from is None):
        raise ArgError("labels", "give exactly one of `labels` or `labels_from: expected_values`")
    if labels is not None and not labels:
        raise ArgError("labels", "the label list is empty")
    norm = _normalizer(normalize)
    fixed = frozenset(norm(x) for x in labels) if labels is not None else None

    def predicate(value: str, sample: Sample) -> tuple[bool, str]:
        allowed = fixed if fixed is not None else frozenset(norm(x) for x in sample.eval_set_labels)
        got = norm(value)
        return got in allowed, f"label {excerpt(got)} not in the {len(allowed)} allowed labels"

    return text_check(predicate, _field_arg(field))


@check("exact_match")
def exact_match(
    normalize: list[str] = ["strip"],  # noqa: B006 - never mutated
    field: str | None = None,
    expected_field: str | None = None,
    unordered: bool = False,
    confidence_field: str = "confidence",
) -> CheckFn:
    """The response (or ``field``) equals the expected value after normalization.

    Args:
        normalize: normalizers applied to strings on both sides.
        field: JSON path into the parsed response; the expected value is read at the same path
            when ``expected`` is an object (override with ``expected_field``).
        expected_field: JSON path into ``expected``.
        unordered: compare lists as sets.
        confidence_field: when the response is a JSON object with this numeric key, its value is
            recorded with the prediction (for expected calibration error).

    Emits an auxiliary ``<name>.prediction`` row (JSON reason ``{"pred", "gold", "confidence"}``)
    when the gold value is a string, for accuracy / macro-F1 / confusion / ECE.
    """
    norm = _normalizer(normalize)
    parts = _field_arg(field)
    gold_parts = _field_arg(expected_field, "expected_field") if expected_field is not None else parts

    def canon(v: Any) -> Any:
        if isinstance(v, str):
            return norm(v)
        if isinstance(v, list):
            items = [canon(x) for x in v]
            return sorted(items, key=_as_text) if unordered else items
        if isinstance(v, dict):
            return {k: canon(x) for k, x in v.items()}
        return v

    def run(sample: Sample) -> CheckResult:
        has_gold, gold = _expected_value(sample, gold_parts)
        if not has_gold:
            return CheckResult(None, "no expected value")
        ok, value, err = response_value(sample, parts)
        if not ok:
            passed, reason, pred = False, err, None
        else:
            if not isinstance(gold, str) and isinstance(value, str) and parts is None:
                okj, parsed, _ = sample.parsed  # e.g. gold 1 vs response "1", gold {...} vs JSON text
                if okj:
                    value = parsed
            if isinstance(gold, str) and not isinstance(value, str):
                value = _as_text(value)
            pred = canon(value)
            passed = pred == canon(gold)
            reason = "ok" if passed else f"expected {excerpt(canon(gold))}, got {excerpt(pred)}"
        extras: tuple = ()
        if isinstance(gold, str):
            conf = None
            okj, obj, _ = sample.parsed
            if okj and isinstance(obj, dict) and isinstance(obj.get(confidence_field), (int, float)):
                conf = float(obj[confidence_field])
            record = {"pred": pred if isinstance(pred, str) else None, "gold": canon(gold), "confidence": conf}
            extras = (("prediction", None, json.dumps(record, ensure_ascii=False)),)
        return CheckResult(passed, reason, extras=extras)

    return run


_FIELD_MODES = ("exact", "set", "normalized")


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
    if not fields:
        raise ArgError("fields", "no fields to compare")
    parts = _field_arg(field)
    norm = _normalizer(["strip", "casefold", "collapse_whitespace"])

    def nrm(v: Any) -> Any:
        if isinstance(v, str):
            return norm(v)
        if isinstance(v, list):
            return [nrm(x) for x in v]
        if isinstance(v, dict):
            return {k: nrm(x) for k, x in v.items()}
        return v

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
                w = {_as_text(x) for x in (want or [])} if isinstance(want, list) else {_as_text(want)}
                g = {_as_text(x) for x in got} if isinstance(got, list) else (set() if got is None else {_as_text(got)})
                extras.append((f"{name}_f1", _set_f1(g, w), f"{len(g & w)} of {len(w)} expected, {len(g - w)} extra"))
                if g != w and ok:
                    problems.append(f"{name}: missing {sorted(w - g)}, extra {sorted(g - w)}")
            elif (nrm(got) if mode == "normalized" else got) != (nrm(want) if mode == "normalized" else want) and ok:
                problems.append(f"{name}: expected {excerpt(want, 40)}, got {excerpt(got, 40)}")
        return CheckResult(not problems, "; ".join(problems) or "ok", extras=tuple(extras))

    return run


def _set_f1(pred: set, gold: set) -> float:
    """Per-sample F1 of two sets (1.0 when both are empty, as sklearn's zero_division=1)."""
    if not pred and not gold:
        return 1.0
    tp = len(pred & gold)
    return 2 * tp / (len(pred) + len(gold))


@check("regex")
def regex(pattern: str, must_match: bool = True, ignore_case: bool = False, field: str | None = None) -> CheckFn:
    """The response (or ``field``) matches (``re.search``) / does not match a regular expression.

    Args:
        pattern: Python regular expression; anchor it (``^...$``) for a full match.
        must_match: true: must match; false: must not match.
        ignore_case: case-insensitive matching.
        field: JSON path into the parsed response.
    """
    try:
        rx = re.compile(pattern, re.IGNORECASE if ignore_case else 0)
    except re.error as exc:
        raise ArgError("pattern", f"invalid regex {pattern!r} ({exc})") from None

    def predicate(value: str, sample: Sample) -> tuple[bool, str]:
        m = rx.search(value)
        if must_match:
            return m is not None, f"does not match /{pattern}/"
        return m is None, f"matches /{pattern}/ at {excerpt(m.group(0), 40) if m else ''}"

    return text_check(predicate, _field_arg(field))


def _phrases_arg(values: list[str], arg: str) -> None:
    if not values or any(not isinstance(v, str) or not v for v in values):
        raise ArgError(arg, "give a non-empty list of non-empty strings")


@check("forbidden_phrases")
def forbidden_phrases(phrases: list[str], ignore_case: bool = True, field: str | None = None) -> CheckFn:
    """None of the phrases occurs in the response (substring match).

    Args:
        phrases: phrases that must not appear.
        ignore_case: case-insensitive matching.
        field: JSON path into the parsed response.
    """
    _phrases_arg(phrases, "phrases")
    fold = str.casefold if ignore_case else (lambda s: s)

    def predicate(value: str, sample: Sample) -> tuple[bool, str]:
        hits = [p for p in phrases if fold(p) in fold(value)]
        return not hits, f"contains forbidden phrase(s) {hits}"

    return text_check(predicate, _field_arg(field))


@check("contains_all")
def contains_all(values: list[str], ignore_case: bool = True, field: str | None = None) -> CheckFn:
    """Every value occurs in the response (substring match).

    Args:
        values: required substrings.
        ignore_case: case-insensitive matching.
        field: JSON path into the parsed response.
    """
    _phrases_arg(values, "values")
    fold = str.casefold if ignore_case else (lambda s: s)

    def predicate(value: str, sample: Sample) -> tuple[bool, str]:
        missing = [v for v in values if fold(v) not in fold(value)]
        return not missing, f"missing {missing}"

    return text_check(predicate, _field_arg(field))


@check("contains_any")
def contains_any(values: list[str], ignore_case: bool = True, field: str | None = None) -> CheckFn:
    """At least one value occurs in the response (substring match).

    Args:
        values: candidate substrings.
        ignore_case: case-insensitive matching.
        field: JSON path into the parsed response.
    """
    _phrases_arg(values, "values")
    fold = str.casefold if ignore_case else (lambda s: s)

    def predicate(value: str, sample: Sample) -> tuple[bool, str]:
        return any(fold(v) in fold(value) for v in values), f"contains none of {values}"

    return text_check(predicate, _field_arg(field))


@check("length")
def length(
    min_chars: int | None = None,
    max_chars: int | None = None,
    min_words: int | None = None,
    max_words: int | None = None,
    field: str | None = None,
) -> CheckFn:
    """The response length is within bounds (characters after stripping; whitespace-separated words).

    Args:
        min_chars / max_chars: inclusive character bounds.
        min_words / max_words: inclusive word bounds.
        field: JSON path into the parsed response.
    """
    bounds = {"min_chars": min_chars, "max_chars": max_chars, "min_words": min_words, "max_words": max_words}
    if all(v is None for v in bounds.values()):
        raise ArgError("min_chars", "give at least one of min_chars, max_chars, min_words, max_words")
    for k, v in bounds.items():
        if v is not None and v < 0:
            raise ArgError(k, f"must be >= 0, got {v}")
    for unit in ("chars", "words"):
        lo, hi = bounds[f"min_{unit}"], bounds[f"max_{unit}"]
        if lo is not None and hi is not None and lo > hi:
            raise ArgError(f"max_{unit}", f"max_{unit}={hi} is below min_{unit}={lo}")

    def predicate(value: str, sample: Sample) -> tuple[bool, str]:
        n = {"chars": len(value.strip()), "words": len(value.split())}
        for unit in ("chars", "words"):
            lo, hi = bounds[f"min_{unit}"], bounds[f"max_{unit}"]
            if lo is not None and n[unit] < lo:
                return False, f"{n[unit]} {unit} < min {lo}"
            if hi is not None and n[unit] > hi:
                return False, f"{n[unit]} {unit} > max {hi}"
        return True, ""

    return text_check(predicate, _field_arg(field))


def _reference_check(score: Callable[[str, str], float], label: str, min_score: float | None, expected_field: str | None, field: str | None) -> CheckFn:
    """Plumbing for reference-overlap metrics: value = score(response, reference), optional threshold."""
    if min_score is not None and not 0.0 <= min_score <= 1.0:
        raise ArgError("min_score", f"must be within [0, 1], got {min_score}")
    gold_parts = _field_arg(expected_field, "expected_field")
    parts = _field_arg(field)

    def run(sample: Sample) -> CheckResult:
        has_gold, gold = _expected_value(sample, gold_parts)
        if not has_gold or not isinstance(gold, str):
            return CheckResult(None, "no reference text")
        ok, value, err = response_value(sample, parts)
        if not ok:
            return CheckResult(False if min_score is not None else None, err, value=0.0)
        s = score(_as_text(value), gold)
        if min_score is None:
            return CheckResult(None, f"{label}={s:.3f}", value=s)
        passed = s >= min_score
        return CheckResult(passed, "ok" if passed else f"{label}={s:.3f} < {min_score}", value=s)

    return run


@check("rouge_l")
def rouge_l(min_score: float | None = None, expected_field: str | None = None, field: str | None = None) -> CheckFn:
    """ROUGE-L F-measure of the response against the reference (``expected``), via rouge-score.

    Args:
        min_score: pass threshold in [0, 1]; without it the row only records the value.
        expected_field / field: JSON paths into expected / the response.
    """
    from eval_pipeline.evaluators.metrics import rouge_l_scores

    return _reference_check(lambda p, r: rouge_l_scores([p], [r])[0], "rougeL", min_score, expected_field, field)


@check("bleu")
def bleu(min_score: float | None = None, expected_field: str | None = None, field: str | None = None) -> CheckFn:
    """Sentence BLEU (sacrebleu, exp smoothing) of the response against the reference, scaled to [0, 1].

    Args:
        min_score: pass threshold in [0, 1]; without it the row only records the value.
        expected_field / field: JSON paths into expected / the response.
    """
    from eval_pipeline.evaluators.metrics import sentence_bleu_scores

    return _reference_check(lambda p, r: sentence_bleu_scores([p], [r])[0], "bleu", min_score, expected_field, field)


def import_function(path: str) -> Callable[..., Any]:
    """Import ``package.module:function`` (or ``package.module.function``)."""
    if ":" in path:
        mod_name, _, attr = path.partition(":")
    else:
        mod_name, _, attr = path.rpartition(".")
    if not mod_name or not attr:
        raise ValueError(f"{path!r} is not a dotted import path like 'package.module:function'")
    try:
        module = importlib.import_module(mod_name)
    except ImportError as exc:
        raise ValueError(f"cannot import module {mod_name!r} ({exc})") from None
    obj = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ValueError(f"module {mod_name!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise ValueError(f"{path!r} is not callable")
    return obj


@check("custom")
def custom(function: str, kwargs: dict = {}) -> CheckFn:  # noqa: B006 - never mutated
    """A user function ``f(sample: Sample, **kwargs)`` imported by dotted path.

    It may return a :class:`CheckResult`, a bool, or ``(passed, reason)``.

    Args:
        function: ``package.module:function``.
        kwargs: extra keyword arguments passed on every call.
    """
    try:
        fn = import_function(function)
    except ValueError as exc:
        raise ArgError("function", str(exc)) from None

    def run(sample: Sample) -> CheckResult:
        try:
            out = fn(sample, **kwargs)
        except Exception as exc:  # noqa: BLE001 - a crashing check fails the sample, with the reason
            return CheckResult(False, f"custom check raised {type(exc).__name__}: {exc}")
        if isinstance(out, CheckResult):
            return out
        if isinstance(out, tuple) and len(out) == 2:
            return CheckResult(bool(out[0]), "ok" if out[0] else str(out[1]))
        return CheckResult(bool(out), "ok" if out else f"{function} returned {out!r}")

    return run


# --------------------------------------------------------------------------------------------
# Building checks from configuration
# --------------------------------------------------------------------------------------------
def _validate_type(value: Any, hint: Any) -> str | None:
    """Check ``value`` against a type hint with pydantic (strict); return an error text or None."""
    from pydantic import TypeAdapter, ValidationError

    try:
        TypeAdapter(hint).validate_python(value, strict=True)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = "".join(f"[{p!r}]" for p in first["loc"] if not isinstance(p, str) or p not in ("list", "dict"))
        return f"{first['msg'].lower()}{(' at ' + loc) if loc else ''} (got {value!r:.80})"
    return None


def _evaluator_hash(spec: dict[str, Any], extra: str = "") -> str:
    blob = json.dumps(spec, sort_keys=True, default=str) + extra
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]


def build_check(spec: dict[str, Any], where: str = "check", *, base_dir: str | Path | None = None) -> Check:
    """Build one check from its YAML mapping; ``where`` is its key path (e.g. ``x.yaml: checks[2]``)."""
    if not isinstance(spec, dict):
        raise EvaluatorConfigError(f"{where}: a check must be a mapping with a `type`, got {spec!r:.80}")
    ctype = spec.get("type")
    if ctype not in CHECK_TYPES:
        raise EvaluatorConfigError(
            f"{where}.type: unknown check {ctype!r}; known checks: {', '.join(sorted(CHECK_TYPES))}"
        )
    ct = CHECK_TYPES[ctype]
    name = spec.get("name", ctype)
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_-]*", name):
        raise EvaluatorConfigError(f"{where}.name: must be a word ([A-Za-z0-9_-], no dots: dots separate auxiliary metrics), got {name!r}")
    args = {k: v for k, v in spec.items() if k not in RESERVED_KEYS}
    extra = sorted(set(args) - set(ct.params))
    if extra:
        raise EvaluatorConfigError(
            f"{where}.{extra[0]}: unknown argument for check {ctype!r}; allowed: "
            f"{', '.join(sorted(ct.params)) or '(none)'} (plus `name`)"
        )
    missing = [p for p in ct.required if p not in args]
    if missing:
        raise EvaluatorConfigError(f"{where}.{missing[0]}: missing required argument for check {ctype!r}")
    for k, v in args.items():
        err = _validate_type(v, ct.hints.get(k, Any))
        if err:
            raise EvaluatorConfigError(f"{where}.{k}: {err}")
    ctx = BuildContext(base_dir=Path(base_dir) if base_dir is not None else Path.cwd(), where=where)
    kwargs = dict(args)
    if _CONTEXT_PARAM in inspect.signature(ct.factory).parameters:
        kwargs[_CONTEXT_PARAM] = ctx
    try:
        fn = ct.factory(**kwargs)
    except ArgError as exc:
        raise EvaluatorConfigError(f"{where}.{exc.arg}: {exc.message}") from None
    extra_hash = ""
    if ctype == "json_schema" and "schema_file" in args:
        path = Path(args["schema_file"])
        path = path if path.is_absolute() else ctx.base_dir / path
        extra_hash = hashlib.sha256(path.read_bytes()).hexdigest()
    if ctype == "custom":
        try:
            extra_hash = inspect.getsource(import_function(args["function"]))
        except (OSError, TypeError):
            extra_hash = ""
    return Check(name=name, type=ctype, args=args, fn=fn, evaluator_hash=_evaluator_hash(spec, extra_hash))


def validate_check_specs(specs: list[dict[str, Any]], where: str, *, base_dir: str | Path | None = None) -> list[Check]:
    """Build and validate a suite's check list; raises :class:`EvaluatorConfigError` with the key path.

    Args:
        specs: the YAML list of check mappings.
        where: key path of the list itself, e.g. ``"data/suites/x.yaml: eval_sets[0].checks"``;
            errors read ``<where>[<i>].<key>: <problem>``.
        base_dir: folder relative ``schema_file`` paths are resolved from (the suite file's folder).
    """
    if not isinstance(specs, list):
        raise EvaluatorConfigError(f"{where}: must be a list of checks, got {type(specs).__name__}")
    checks: list[Check] = []
    seen: dict[str, int] = {}
    for i, spec in enumerate(specs):
        c = build_check(spec, f"{where}[{i}]", base_dir=base_dir)
        if "name" not in spec and c.name in seen:  # second check of the same type: regex_2, ...
            n = sum(1 for x in checks if x.type == c.type) + 1
            c = Check(f"{c.type}_{n}", c.type, c.args, c.fn, c.evaluator_hash)
        if c.name in seen:
            raise EvaluatorConfigError(
                f"{where}[{i}].name: duplicate check name {c.name!r} (also checks[{seen[c.name]}]); set a unique `name`"
            )
        seen[c.name] = i
        checks.append(c)
    return checks


def describe_checks() -> str:
    """Markdown list of every registered check type with its arguments (for docs and errors)."""
    lines = []
    for name, ct in sorted(CHECK_TYPES.items()):
        args = ", ".join(
            n + ("" if p.default is inspect.Parameter.empty else f"={p.default!r}") for n, p in ct.params.items()
        )
        lines.append(f"- `{name}({args})`: {ct.doc.splitlines()[0] if ct.doc else ''}")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# Scoring
# --------------------------------------------------------------------------------------------
def _none_if_nan(v: Any) -> Any:
    if v is None:
        return None
    if isinstance(v, float) and math.isnan(v):
        return None
    try:
        if v is pd.NA or v is pd.NaT:
            return None
    except TypeError:
        pass
    return v


def _decoded(row: dict[str, Any], col: str) -> Any:
    """Column ``col`` of a sample row, or the decoded ``<col>_json`` column when only that exists."""
    if col in row:
        return _none_if_nan(row[col])
    raw = _none_if_nan(row.get(f"{col}_json"))
    return json.loads(raw) if isinstance(raw, str) else raw


def samples_from_frame(samples: pd.DataFrame) -> list[Sample]:
    """Turn the graded-samples frame (see module doc) into :class:`Sample` objects."""
    rows = samples.to_dict("records")
    expected = [_decoded(r, "expected") for r in rows]
    labels = frozenset(e for e in expected if isinstance(e, str))
    out = []
    for r, exp in zip(rows, expected):
        text = _none_if_nan(r.get("response_text"))
        meta = _decoded(r, "metadata") or {}
        out.append(
            Sample(
                sample_id=str(r["sample_id"]),
                repeat=int(_none_if_nan(r.get("repeat")) or 0),
                text=text if isinstance(text, str) else "",
                input=_decoded(r, "input"),
                expected=exp,
                metadata=meta if isinstance(meta, dict) else {},
                category=_none_if_nan(r.get("category")) or (meta.get("category") if isinstance(meta, dict) else None),
                error_category=_none_if_nan(r.get("error_category")),
                eval_set_labels=labels,
            )
        )
    return out


def is_infra_error(category: str | None) -> bool:
    """True for infrastructure failures (and unknown categories): such rows are never scored."""
    return category is not None and category not in MODEL_ERROR_CATEGORIES


def score_sample(sample: Sample, checks: list[Check]) -> list[dict[str, Any]]:
    """Score rows (without the partition columns) of one sample under every check."""
    rows = []
    infra = sample.error_category if is_infra_error(sample.error_category) else None
    for c in checks:
        base = {"sample_id": sample.sample_id, "repeat": sample.repeat, "family": FAMILY, "metric": c.name,
                "category": sample.category, "infra_error": infra, "evaluator_hash": c.evaluator_hash}
        if infra is not None:
            known = infra in INFRA_ERROR_CATEGORIES
            rows.append({**base, "value": None, "passed": None,
                         "reason": f"infra error: {infra} (not scored)" if known else f"unknown error category {infra!r} (not scored)"})
            continue
        try:
            res = c(sample)
        except Exception as exc:  # noqa: BLE001 - one broken check must not lose the run
            res = CheckResult(False, f"check crashed: {type(exc).__name__}: {exc}")
        passed, reason = res.passed, res.reason
        if sample.error_category in FAILING_MODEL_ERRORS and passed is not None:
            detail = reason if (res.passed is False and sample.text.strip()) else "no usable answer"
            passed, reason = False, f"model {sample.error_category}: {detail}"
        value = res.value if res.value is not None else (None if passed is None else float(passed))
        rows.append({**base, "value": value, "passed": passed, "reason": reason})
        for suffix, v, why in res.extras:
            rows.append({**base, "metric": f"{c.name}.{suffix}", "value": v, "passed": None, "reason": why})
    return rows


def score_deterministic(
    samples: pd.DataFrame,
    checks: list[Check],
    *,
    date: str | None = None,
    model_version: str | None = None,
    suite: str | None = None,
    eval_set: str | None = None,
) -> pd.DataFrame:
    """Run every check on every (sample, repeat) row -> DataFrame with exactly ``SCORE_COLUMNS``.

    ``samples`` has columns sample_id, repeat, response_text, error_category, input, expected,
    metadata, category (``input_json``/``expected_json``/``metadata_json`` are decoded if given
    instead). Partition columns not passed as arguments are taken from the frame when present.
    """
    rows: list[dict[str, Any]] = []
    for s in samples_from_frame(samples):
        rows.extend(score_sample(s, checks))
    return finish_score_frame(rows, samples, date=date, model_version=model_version, suite=suite, eval_set=eval_set)


def finish_score_frame(rows: list[dict[str, Any]], samples: pd.DataFrame | None = None, **partition: str | None) -> pd.DataFrame:
    """Add partition columns (kwargs, else the samples frame's single value) and order/type ``SCORE_COLUMNS``."""
    df = pd.DataFrame(rows, columns=[c for c in SCORE_COLUMNS if c not in partition])
    for col, val in partition.items():
        if val is None and samples is not None and col in samples.columns and samples[col].nunique() == 1:
            val = str(samples[col].iloc[0])
        df[col] = val
    df = df[SCORE_COLUMNS]
    df["repeat"] = df["repeat"].astype("int64")
    df["value"] = df["value"].astype("float64")
    df["passed"] = df["passed"].astype("boolean")
    for col in ("date", "model_version", "suite", "eval_set", "sample_id", "family", "metric", "reason",
                "category", "infra_error", "evaluator_hash"):
        df[col] = df[col].astype(object).where(df[col].notna(), None)
    return df.reset_index(drop=True)
