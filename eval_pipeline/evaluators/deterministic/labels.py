"""Label checks: ``label_in_set`` and ``exact_match``.

In: the response text (or one JSON field of it), normalized, and the allowed labels (fixed, or
every string ``expected`` of the eval set) / the gold ``expected`` value. Out: pass/fail with
the got/expected excerpt as the reason; ``exact_match`` also emits an auxiliary
``<name>.prediction`` row (JSON reason ``{"pred", "gold", "confidence"}``) when the gold value is
a string, which accuracy / macro-F1 / confusion / ECE read.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from eval_pipeline.evaluators.deterministic.base import (
    CheckFn,
    CheckResult,
    Sample,
    as_text,
    excerpt,
    expected_value,
    field_arg,
    map_strings,
    normalizer,
    response_value,
    text_check,
)
from eval_pipeline.evaluators.deterministic.check_registry import check


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
    norm = normalizer(normalize)
    fixed = frozenset(norm(x) for x in labels) if labels is not None else None

    def predicate(value: str, sample: Sample) -> tuple[bool, str]:
        allowed = fixed if fixed is not None else frozenset(norm(x) for x in sample.eval_set_labels)
        got = norm(value)
        return got in allowed, f"label {excerpt(got)} not in the {len(allowed)} allowed labels"

    return text_check(predicate, field_arg(field))


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
    norm = normalizer(normalize)
    parts = field_arg(field)
    gold_parts = field_arg(expected_field, "expected_field") if expected_field is not None else parts

    def canon(v: Any) -> Any:
        return map_strings(
            norm, v, (lambda items: sorted(items, key=as_text)) if unordered else (lambda items: items)
        )

    def run(sample: Sample) -> CheckResult:
        has_gold, gold = expected_value(sample, gold_parts)
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
                value = as_text(value)
            pred = canon(value)
            passed = pred == canon(gold)
            reason = "ok" if passed else f"expected {excerpt(canon(gold))}, got {excerpt(pred)}"
        extras: tuple[tuple[str, float | None, str], ...] = ()
        if isinstance(gold, str):
            conf = None
            okj, obj, _ = sample.parsed
            if okj and isinstance(obj, dict) and isinstance(obj.get(confidence_field), (int, float)):
                conf = float(obj[confidence_field])
            record = {
                "pred": pred if isinstance(pred, str) else None,
                "gold": canon(gold),
                "confidence": conf,
            }
            extras = (("prediction", None, json.dumps(record, ensure_ascii=False)),)
        return CheckResult(passed, reason, extras=extras)

    return run
