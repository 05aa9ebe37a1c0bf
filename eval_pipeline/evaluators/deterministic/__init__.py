"""Deterministic checks: configured per eval set in the suite YAML, one pass/fail + reason per sample.

In: a suite's check list and the graded-samples frame of one eval set. Out: score rows in the
long format :data:`eval_pipeline.project.schemas.SCORE_COLUMNS`. A suite lists checks by ``type`` with
the check's arguments next to it::

    checks:
      - type: label_in_set            # labels: [...] or labels_from: expected_values
      - {type: exact_match, normalize: [strip, lower], field: label}
      - {type: regex, pattern: "^[a-z_]+$", must_match: true}
      - {type: json_schema, schema_file: schemas/ticket.json}
      - {type: custom, function: "my_pkg.checks:is_polite", name: polite}

How it is built (in the spirit of inspect_ai scorers, one small file per group of checks):

* :mod:`.base`: :class:`Sample` in, :class:`CheckResult` out; JSON paths, normalizers, and
  :func:`text_check`, the one plumbing function text-valued checks share.
* :mod:`.check_registry`: the ``@check("type")`` decorator and :data:`CHECK_TYPES`.
* check files: :mod:`.json_checks` (valid_json, json_schema, json_fields_match),
  :mod:`.labels` (label_in_set, exact_match), :mod:`.text` (regex, forbidden_phrases,
  contains_all, contains_any, length), :mod:`.overlap` (rouge_l, bleu), :mod:`.custom`,
  :mod:`.tool_calls` (tool_calls_match - BFCL's AST match -, tool_called, tool_not_called,
  tool_order, max_steps), :mod:`.conversation` (turns, every_turn).
* :mod:`.build`: YAML -> :class:`Check`, validated against the factory's signature and type
  hints; errors raise :class:`EvaluatorConfigError` naming the key path.
* :mod:`.frame`: :func:`score_deterministic`, one row per (sample, repeat, check). Infra errors
  give ``passed=None`` and ``infra_error=<category>``; refusals and empty answers fail. Auxiliary
  rows (``passed=None``, metric ``<check>.<suffix>``) feed eval-set metrics:
  ``exact_match.prediction`` and ``json_fields_match.<field>_f1``.

Adding a check is ten lines in a check file (a new file: import it below). The factory gets the
YAML arguments as keyword arguments and returns ``Sample -> CheckResult``::

    @check("starts_with")
    def starts_with(prefix: str, field: str | None = None) -> CheckFn:
        \"\"\"The response (or ``field``) starts with ``prefix``.\"\"\"
        if not prefix:
            raise ArgError("prefix", "must not be empty")

        def predicate(value: str, sample: Sample) -> tuple[bool, str]:
            return value.startswith(prefix), f"does not start with {prefix!r}"

        return text_check(predicate, field_arg(field))

and a suite uses it as ``- {type: starts_with, prefix: "Dear"}``.
"""

from __future__ import annotations

from eval_pipeline.evaluators.deterministic.base import (
    NORMALIZERS,
    ArgError,
    CheckError,
    CheckFn,
    CheckResult,
    EvaluatorConfigError,
    Sample,
    excerpt,
    field_arg,
    get_field,
    parse_field_path,
    parse_json_text,
    response_value,
    text_check,
)
from eval_pipeline.evaluators.deterministic.build import build_check, describe_checks, validate_check_specs
from eval_pipeline.evaluators.deterministic.check_registry import (
    CHECK_TYPES,
    RESERVED_KEYS,
    BuildContext,
    Check,
    CheckType,
    check,
)
from eval_pipeline.evaluators.deterministic.conversation import every_turn, turns
from eval_pipeline.evaluators.deterministic.custom import custom, import_function
from eval_pipeline.evaluators.deterministic.frame import (
    FAILING_MODEL_ERRORS,
    FAMILY,
    finish_score_frame,
    is_infra_error,
    samples_from_frame,
    score_deterministic,
    score_sample,
)

# The check files register their types on import.
from eval_pipeline.evaluators.deterministic.json_checks import json_fields_match, json_schema, valid_json
from eval_pipeline.evaluators.deterministic.labels import exact_match, label_in_set
from eval_pipeline.evaluators.deterministic.overlap import bleu, rouge_l
from eval_pipeline.evaluators.deterministic.text import (
    contains_all,
    contains_any,
    forbidden_phrases,
    length,
    regex,
)
from eval_pipeline.evaluators.deterministic.tool_calls import (
    max_steps,
    tool_called,
    tool_calls_match,
    tool_not_called,
    tool_order,
)

__all__ = [
    "ArgError",
    "BuildContext",
    "CHECK_TYPES",
    "Check",
    "CheckError",
    "CheckFn",
    "CheckResult",
    "CheckType",
    "EvaluatorConfigError",
    "FAILING_MODEL_ERRORS",
    "FAMILY",
    "NORMALIZERS",
    "RESERVED_KEYS",
    "Sample",
    "bleu",
    "build_check",
    "check",
    "contains_all",
    "contains_any",
    "custom",
    "describe_checks",
    "exact_match",
    "excerpt",
    "field_arg",
    "finish_score_frame",
    "forbidden_phrases",
    "get_field",
    "import_function",
    "is_infra_error",
    "json_fields_match",
    "json_schema",
    "label_in_set",
    "length",
    "parse_field_path",
    "parse_json_text",
    "regex",
    "response_value",
    "rouge_l",
    "samples_from_frame",
    "score_deterministic",
    "score_sample",
    "text_check",
    "tool_called",
    "turns",
    "every_turn",
    "tool_calls_match",
    "tool_not_called",
    "tool_order",
    "max_steps",
    "valid_json",
    "validate_check_specs",
]
