"""Check specs: the ``checks:`` entries of an eval set, one typed model per check type (base: :mod:`.check_spec`).

In: the YAML list of check mappings of one eval set (``type``, optional ``name``, the check's
arguments) and the folder relative files resolve from. Out: :class:`CheckSpec` objects (one
subclass per type, :data:`CHECK_SPECS`; :data:`AnyCheckSpec` is their discriminated union, for the
JSON Schema), validated with every error an :class:`EvaluatorConfigError` whose message starts
with the key path (``data/suites/x.yaml: eval_sets[0].checks[2].pattern: invalid regex ...``).

The evaluators own what a check *does* (``evaluators/deterministic``: ``@check`` factories); this
module owns what a check *accepts*: the factories' parameters are these models' fields (the
registry asserts they agree), and a check type registered only in the evaluators (a user's own
``@check``) is added here by :func:`register_check_spec`. Plain Python: no stage is imported here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import jsonschema
from pydantic import ConfigDict, Field, TypeAdapter, ValidationError

from eval_pipeline.project.check_spec import (
    NAME_RE,
    NORMALIZER_NAMES,
    RESERVED_KEYS,
    ArgError,
    CheckContext,
    CheckSpec,
    EvaluatorConfigError,
    field_ok,
    import_function,
    normalizers_ok,
    parse_field_path,
    read_schema_file,
    strings_ok,
    user_check_base,
)
from eval_pipeline.project.tool_check_specs import (
    MaxSteps,
    ToolCalled,
    ToolCallsMatch,
    ToolNotCalled,
    ToolOrder,
    Turns,
)
from eval_pipeline.project.user_regex import DEFAULT_BUDGET_S, compile_user_regex

__all__ = [
    "CHECK_SPECS",
    "NORMALIZER_NAMES",
    "ArgError",
    "AnyCheckSpec",
    "CheckContext",
    "CheckSpec",
    "EvaluatorConfigError",
    "import_function",
    "parse_check_spec",
    "parse_check_specs",
    "parse_field_path",
    "read_schema_file",
    "register_check_spec",
    "user_check_base",
]


class ValidJson(CheckSpec):
    """The response parses as JSON."""

    type: Literal["valid_json"] = "valid_json"
    allow_code_fence: bool = True
    require_type: Literal["any", "object", "array"] = "any"


class JsonSchema(CheckSpec):
    """The parsed response (or ``field`` of it) validates against a JSON Schema (``schema`` or ``schema_file``)."""

    type: Literal["json_schema"] = "json_schema"
    schema_: dict[str, Any] | None = Field(None, alias="schema")
    schema_file: str | None = None
    field: str | None = None
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @classmethod
    def check_args(cls, args: dict[str, Any], context: CheckContext) -> None:
        schema: Any = args.get("schema")  # the YAML value as given: check_schema says if it is a schema
        schema_file = args.get("schema_file")
        if (schema is None) == (schema_file is None):
            raise ArgError("schema", "give exactly one of `schema` or `schema_file`")
        arg = "schema"
        if schema_file is not None:
            arg = "schema_file"
            schema = read_schema_file(schema_file, context)
        try:
            jsonschema.validators.validator_for(schema).check_schema(schema)
        except jsonschema.SchemaError as exc:
            loc = "".join(f"[{p!r}]" for p in exc.path)
            raise ArgError(
                arg, f"invalid JSON Schema{(' at ' + loc) if loc else ''}: {exc.message}"
            ) from None
        field_ok(args.get("field"), "field")


FieldMatch = Literal["exact", "set", "normalized"]


class JsonFieldsMatch(CheckSpec):
    """Fields of the parsed JSON response equal those of ``expected`` (exact, set or normalized)."""

    type: Literal["json_fields_match"] = "json_fields_match"
    fields: dict[str, FieldMatch] = Field(
        default_factory=lambda: dict[str, FieldMatch](intents="set", slots="exact")
    )
    field: str | None = None

    @classmethod
    def check_args(cls, args: dict[str, Any], context: CheckContext) -> None:
        if not args.get("fields", True):
            raise ArgError("fields", "no fields to compare")
        field_ok(args.get("field"), "field")


class LabelInSet(CheckSpec):
    """The response (or ``field``) is one of the allowed labels (``labels`` or ``labels_from``)."""

    type: Literal["label_in_set"] = "label_in_set"
    labels: list[str] | None = None
    labels_from: Literal["expected_values"] | None = None
    normalize: list[str] = Field(default_factory=lambda: ["strip"])
    field: str | None = None

    @classmethod
    def check_args(cls, args: dict[str, Any], context: CheckContext) -> None:
        labels, labels_from = args.get("labels"), args.get("labels_from")
        if (labels is None) == (labels_from is None):
            raise ArgError("labels", "give exactly one of `labels` or `labels_from: expected_values`")
        if labels is not None and not labels:
            raise ArgError("labels", "the label list is empty")
        normalizers_ok(args.get("normalize", ["strip"]))
        field_ok(args.get("field"), "field")


class ExactMatch(CheckSpec):
    """The response (or ``field``) equals the expected value after normalization."""

    type: Literal["exact_match"] = "exact_match"
    normalize: list[str] = Field(default_factory=lambda: ["strip"])
    field: str | None = None
    expected_field: str | None = None
    unordered: bool = False
    confidence_field: str = "confidence"

    @classmethod
    def check_args(cls, args: dict[str, Any], context: CheckContext) -> None:
        normalizers_ok(args.get("normalize", ["strip"]))
        field_ok(args.get("field"), "field")
        field_ok(args.get("expected_field"), "expected_field")


class Regex(CheckSpec):
    """The response (or ``field``) matches / does not match a regular expression (RE2, or a time budget)."""

    type: Literal["regex"] = "regex"
    pattern: str
    must_match: bool = True
    ignore_case: bool = False
    field: str | None = None
    timeout_s: float = DEFAULT_BUDGET_S

    @classmethod
    def check_args(cls, args: dict[str, Any], context: CheckContext) -> None:
        try:
            compile_user_regex(
                args["pattern"],
                ignore_case=args.get("ignore_case", False),
                budget_s=args.get("timeout_s", DEFAULT_BUDGET_S),
            )
        except ValueError as exc:
            raise ArgError("timeout_s" if "budget" in str(exc) else "pattern", str(exc)) from None
        field_ok(args.get("field"), "field")


class ForbiddenPhrases(CheckSpec):
    """None of the phrases occurs in the response (substring match)."""

    type: Literal["forbidden_phrases"] = "forbidden_phrases"
    phrases: list[str]
    ignore_case: bool = True
    field: str | None = None

    @classmethod
    def check_args(cls, args: dict[str, Any], context: CheckContext) -> None:
        strings_ok(args["phrases"], "phrases")
        field_ok(args.get("field"), "field")


class ContainsAll(CheckSpec):
    """Every value occurs in the response (substring match)."""

    type: Literal["contains_all"] = "contains_all"
    values: list[str]
    ignore_case: bool = True
    field: str | None = None

    @classmethod
    def check_args(cls, args: dict[str, Any], context: CheckContext) -> None:
        strings_ok(args["values"], "values")
        field_ok(args.get("field"), "field")


class ContainsAny(ContainsAll):
    """At least one value occurs in the response (substring match)."""

    type: Literal["contains_any"] = "contains_any"  # type: ignore[assignment]


class Length(CheckSpec):
    """The response length is within bounds (characters after stripping; whitespace-separated words)."""

    type: Literal["length"] = "length"
    min_chars: int | None = None
    max_chars: int | None = None
    min_words: int | None = None
    max_words: int | None = None
    field: str | None = None

    @classmethod
    def check_args(cls, args: dict[str, Any], context: CheckContext) -> None:
        bounds = {k: args.get(k) for k in ("min_chars", "max_chars", "min_words", "max_words")}
        if all(v is None for v in bounds.values()):
            raise ArgError("min_chars", "give at least one of min_chars, max_chars, min_words, max_words")
        for k, v in bounds.items():
            if v is not None and v < 0:
                raise ArgError(k, f"must be >= 0, got {v}")
        for unit in ("chars", "words"):
            lo, hi = bounds[f"min_{unit}"], bounds[f"max_{unit}"]
            if lo is not None and hi is not None and lo > hi:
                raise ArgError(f"max_{unit}", f"max_{unit}={hi} is below min_{unit}={lo}")
        field_ok(args.get("field"), "field")


class RougeL(CheckSpec):
    """ROUGE-L F-measure of the response against the reference (``expected``)."""

    type: Literal["rouge_l"] = "rouge_l"
    min_score: float | None = None
    expected_field: str | None = None
    field: str | None = None

    @classmethod
    def check_args(cls, args: dict[str, Any], context: CheckContext) -> None:
        min_score = args.get("min_score")
        if min_score is not None and not 0.0 <= min_score <= 1.0:
            raise ArgError("min_score", f"must be within [0, 1], got {min_score}")
        field_ok(args.get("expected_field"), "expected_field")
        field_ok(args.get("field"), "field")


class Bleu(RougeL):
    """Sentence BLEU of the response against the reference, scaled to [0, 1]."""

    type: Literal["bleu"] = "bleu"  # type: ignore[assignment]


class Custom(CheckSpec):
    """A user function ``f(sample, **kwargs)`` imported by dotted path."""

    type: Literal["custom"] = "custom"
    function: str = Field(description="package.module:function, called as f(sample, **kwargs)")
    kwargs: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def check_args(cls, args: dict[str, Any], context: CheckContext) -> None:
        try:
            import_function(args["function"])
        except ValueError as exc:
            raise ArgError("function", str(exc)) from None


class EveryTurn(CheckSpec):
    """Another check applied to every assistant turn."""

    type: Literal["every_turn"] = "every_turn"
    check: dict[str, Any] = Field(
        description="another check mapping (not every_turn), applied to every assistant turn"
    )

    @classmethod
    def check_args(cls, args: dict[str, Any], context: CheckContext) -> None:
        inner = args["check"]
        if not isinstance(inner, dict) or inner.get("type") in (None, "every_turn"):
            raise ArgError("check", "give one check mapping with a `type` (not every_turn)")
        parse_check_spec(inner, f"{context.where}.check", base_dir=context.base_dir)


BUILTIN_CHECK_SPECS: tuple[type[CheckSpec], ...] = (
    ValidJson,
    JsonSchema,
    JsonFieldsMatch,
    LabelInSet,
    ExactMatch,
    Regex,
    ForbiddenPhrases,
    ContainsAll,
    ContainsAny,
    Length,
    RougeL,
    Bleu,
    Custom,
    ToolCallsMatch,
    ToolCalled,
    ToolNotCalled,
    ToolOrder,
    MaxSteps,
    Turns,
    EveryTurn,
)
# YAML ``type`` -> its spec model; a user's ``@check`` adds its own (register_check_spec).
CHECK_SPECS: dict[str, type[CheckSpec]] = {m.model_fields["type"].default: m for m in BUILTIN_CHECK_SPECS}

AnyCheckSpec = Annotated[
    ValidJson
    | JsonSchema
    | JsonFieldsMatch
    | LabelInSet
    | ExactMatch
    | Regex
    | ForbiddenPhrases
    | ContainsAll
    | ContainsAny
    | Length
    | RougeL
    | Bleu
    | Custom
    | ToolCallsMatch
    | ToolCalled
    | ToolNotCalled
    | ToolOrder
    | MaxSteps
    | Turns
    | EveryTurn,
    Field(discriminator="type"),
]


def register_check_spec(name: str, model: type[CheckSpec]) -> None:
    """Add a check type known only to the evaluators (a user's ``@check``) so suites may use it."""
    CHECK_SPECS[name] = model


def _type_error(value: Any, hint: Any) -> str | None:
    """Check ``value`` against a type hint with pydantic (strict); return an error text or None."""
    try:
        TypeAdapter(hint).validate_python(value, strict=True)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = "".join(f"[{p!r}]" for p in first["loc"] if not isinstance(p, str) or p not in ("list", "dict"))
        return f"{first['msg'].lower()}{(' at ' + loc) if loc else ''} (got {value!r:.80})"
    return None


def parse_check_spec(spec: Any, where: str = "check", *, base_dir: str | Path | None = None) -> CheckSpec:
    """One check mapping validated as its type's :class:`CheckSpec`; ``where`` is its key path."""
    if not isinstance(spec, dict):
        raise EvaluatorConfigError(f"{where}: a check must be a mapping with a `type`, got {spec!r:.80}")
    ctype = spec.get("type")
    if ctype not in CHECK_SPECS:
        raise EvaluatorConfigError(
            f"{where}.type: unknown check {ctype!r}; known checks: {', '.join(sorted(CHECK_SPECS))}"
        )
    model = CHECK_SPECS[ctype]
    name = spec.get("name", ctype)
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise EvaluatorConfigError(
            f"{where}.name: must be a word ([A-Za-z0-9_-], no dots: dots separate auxiliary metrics), got {name!r}"
        )
    params = {(f.alias or k): f for k, f in model.params().items()}
    args = {k: v for k, v in spec.items() if k not in RESERVED_KEYS}
    extra = sorted(set(args) - set(params))
    if extra:
        raise EvaluatorConfigError(
            f"{where}.{extra[0]}: unknown argument for check {ctype!r}; allowed: "
            f"{', '.join(sorted(params)) or '(none)'} (plus `name`)"
        )
    missing = [p for p, f in params.items() if f.is_required() and p not in args]
    if missing:
        raise EvaluatorConfigError(f"{where}.{missing[0]}: missing required argument for check {ctype!r}")
    for k, v in args.items():
        err = _type_error(v, params[k].annotation)
        if err:
            raise EvaluatorConfigError(f"{where}.{k}: {err}")
    context = CheckContext(base_dir=Path(base_dir) if base_dir is not None else Path.cwd(), where=where)
    try:
        model.check_args(args, context)
    except ArgError as exc:
        raise EvaluatorConfigError(f"{where}.{exc.arg}: {exc.message}") from None
    out = model.model_validate(spec)
    out._raw = dict(spec)
    out._metric = name
    out._base_dir = context.base_dir
    return out


def parse_check_specs(specs: Any, where: str, *, base_dir: str | Path | None = None) -> list[CheckSpec]:
    """A suite's check list validated; metric names made unique (``regex``, ``regex_2``, ...).

    Args:
        specs: the YAML list of check mappings (or already parsed specs, kept).
        where: key path of the list itself, e.g. ``"data/suites/x.yaml: eval_sets[0].checks"``;
            errors read ``<where>[<i>].<key>: <problem>``.
        base_dir: folder relative ``schema_file`` paths are resolved from.
    """
    if not isinstance(specs, list):
        raise EvaluatorConfigError(f"{where}: must be a list of checks, got {type(specs).__name__}")
    out: list[CheckSpec] = []
    seen: dict[str, int] = {}
    for i, spec in enumerate(specs):
        raw = spec.raw if isinstance(spec, CheckSpec) else spec
        c = parse_check_spec(raw, f"{where}[{i}]", base_dir=base_dir)
        if "name" not in raw and c.metric in seen:  # second check of the same type: regex_2, ...
            c._metric = f"{c.type}_{sum(1 for x in out if x.type == c.type) + 1}"
        if c.metric in seen:
            raise EvaluatorConfigError(
                f"{where}[{i}].name: duplicate check name {c.metric!r} (also checks[{seen[c.metric]}]); set a unique `name`"
            )
        seen[c.metric] = i
        out.append(c)
    return out
