"""Text checks: ``regex``, ``forbidden_phrases``, ``contains_all``, ``contains_any``, ``length``.

In: the response text, or one JSON field of it as text (``field``). Out: pass/fail with a
reason naming what matched, what is missing or which bound was crossed. Every check here is a
predicate handed to :func:`.base.text_check`.
"""

from __future__ import annotations

from collections.abc import Callable

from eval_pipeline.evaluators.deterministic.base import (
    ArgError,
    CheckError,
    CheckFn,
    Sample,
    excerpt,
    field_arg,
    text_check,
)
from eval_pipeline.evaluators.deterministic.check_registry import check
from eval_pipeline.project.user_regex import DEFAULT_BUDGET_S, RegexBudgetError, compile_user_regex

# budget overruns of one regex check after which the rest of its answers get a 20x shorter budget
# (1,000 pathological answers then cost under a minute, not 17)
MAX_OVERRUNS = 3


@check("regex")
def regex(
    pattern: str,
    must_match: bool = True,
    ignore_case: bool = False,
    field: str | None = None,
    timeout_s: float = DEFAULT_BUDGET_S,
) -> CheckFn:
    """The response (or ``field``) matches (``re.search``) / does not match a regular expression.

    Args:
        pattern: Python regular expression; anchor it (``^...$``) for a full match. Runs in RE2
            (linear time) wherever RE2 means the same; patterns that need backtracking (lookaround,
            backreferences) run with a time budget per answer (see ``project/user_regex.py``).
        must_match: true: must match; false: must not match.
        ignore_case: case-insensitive matching.
        field: JSON path into the parsed response.
        timeout_s: time budget per answer of the backtracking engine; past it the sample gets a
            check error (``passed`` empty, counted in ``check_error_count``), never a hang.
    """
    try:
        rx = compile_user_regex(pattern, ignore_case=ignore_case, budget_s=timeout_s)
    except ValueError as exc:
        raise ArgError("timeout_s" if "budget" in str(exc) else "pattern", str(exc)) from None
    overruns: list[str] = []  # samples over the budget; after MAX_OVERRUNS the budget shrinks 20x

    def predicate(value: str, sample: Sample) -> tuple[bool, str]:
        budget = timeout_s / 20 if len(overruns) >= MAX_OVERRUNS else timeout_s
        try:
            m = rx.search(value, budget_s=budget)
        except RegexBudgetError as exc:
            overruns.append(sample.sample_id)
            raise CheckError(str(exc)) from None
        if must_match:
            return m is not None, f"does not match /{pattern}/"
        return m is None, f"matches /{pattern}/ at {excerpt(m[2], 40) if m else ''}"

    return text_check(predicate, field_arg(field))


def _substring_check(
    values: list[str],
    arg: str,
    ignore_case: bool,
    field: str | None,
    verdict: Callable[[list[str]], tuple[bool, str]],
) -> CheckFn:
    """Plumbing for substring checks: ``verdict(values found in the text) -> (passed, reason)``."""
    fold = str.casefold if ignore_case else (lambda s: s)

    def predicate(value: str, sample: Sample) -> tuple[bool, str]:
        return verdict([v for v in values if fold(v) in fold(value)])

    return text_check(predicate, field_arg(field))


@check("forbidden_phrases")
def forbidden_phrases(phrases: list[str], ignore_case: bool = True, field: str | None = None) -> CheckFn:
    """None of the phrases occurs in the response (substring match).

    Args:
        phrases: phrases that must not appear.
        ignore_case: case-insensitive matching.
        field: JSON path into the parsed response.
    """
    return _substring_check(
        phrases,
        "phrases",
        ignore_case,
        field,
        lambda hits: (not hits, f"contains forbidden phrase(s) {hits}"),
    )


_VALUES_DOC = """{summary}

Args:
    values: {values_doc}
    ignore_case: case-insensitive matching.
    field: JSON path into the parsed response.
"""


def _values_check(
    name: str, summary: str, values_doc: str, verdict: Callable[[list[str], list[str]], tuple[bool, str]]
) -> Callable[..., CheckFn]:
    """Register check ``name`` over a ``values`` list: ``verdict(values, values found) -> (passed, reason)``."""

    def factory(values: list[str], ignore_case: bool = True, field: str | None = None) -> CheckFn:
        return _substring_check(values, "values", ignore_case, field, lambda hits: verdict(values, hits))

    factory.__name__ = factory.__qualname__ = name
    factory.__doc__ = _VALUES_DOC.format(summary=summary, values_doc=values_doc)
    return check(name)(factory)


def _all_found(values: list[str], hits: list[str]) -> tuple[bool, str]:
    missing = [v for v in values if v not in hits]
    return not missing, f"missing {missing}"


contains_all = _values_check(
    "contains_all",
    "Every value occurs in the response (substring match).",
    "required substrings.",
    _all_found,
)
contains_any = _values_check(
    "contains_any",
    "At least one value occurs in the response (substring match).",
    "candidate substrings.",
    lambda values, hits: (bool(hits), f"contains none of {values}"),
)


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

    def predicate(value: str, sample: Sample) -> tuple[bool, str]:
        n = {"chars": len(value.strip()), "words": len(value.split())}
        for unit in ("chars", "words"):
            lo, hi = bounds[f"min_{unit}"], bounds[f"max_{unit}"]
            if lo is not None and n[unit] < lo:
                return False, f"{n[unit]} {unit} < min {lo}"
            if hi is not None and n[unit] > hi:
                return False, f"{n[unit]} {unit} > max {hi}"
        return True, ""

    return text_check(predicate, field_arg(field))
