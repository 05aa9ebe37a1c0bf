"""What every check sees and returns, and the plumbing the check files share.

In: a :class:`Sample` (one response joined with its golden row). Out: a :class:`CheckResult`
(pass/fail/None, a reason, optional value and auxiliary rows). Also here: the JSON-path helpers
(:func:`parse_field_path`, :func:`get_field`, :func:`field_arg`), :func:`response_value` (the
checked value: the whole text or one JSON field) and :func:`text_check`, the one plumbing
function text-valued checks are built from; the string normalizers of label comparisons.
No check types are registered here (see :mod:`.check_registry` and the check files).
"""

from __future__ import annotations

import json
import re
import string
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field as dc_field
from functools import cached_property
from typing import Any

from eval_pipeline.project.checks import NORMALIZER_NAMES
from eval_pipeline.project.checks import ArgError as ArgError  # declared with the check specs (config)
from eval_pipeline.project.checks import EvaluatorConfigError as EvaluatorConfigError
from eval_pipeline.project.checks import parse_field_path as parse_field_path


class CheckError(Exception):
    """A check could not decide on one sample through no fault of the answer (a regex over its time
    budget): the score row gets ``passed`` empty and the reason ``check error: <check> on <sample>: ...``,
    and the eval set's ``check_error_count`` counts it."""


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
    metadata: dict[str, Any] = dc_field(default_factory=dict)
    category: str | None = None
    error_category: str | None = None
    eval_set_labels: frozenset[str] = frozenset()  # all string expected values of the eval set
    tool_calls: list[dict[str, Any]] | None = None  # every call the model made: {id, name, arguments}
    trajectory: list[dict[str, Any]] | None = None  # an agent loop's steps (None = one model call)

    @cached_property
    def parsed(self) -> tuple[bool, Any, str]:
        """The response parsed as JSON (code fences tolerated): ``(ok, value, error)``."""
        return parse_json_text(self.text)


CheckFn = Callable[[Sample], CheckResult]


# --------------------------------------------------------------------------------------------
# JSON paths and the checked value
# --------------------------------------------------------------------------------------------
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


def as_text(value: Any) -> str:
    """A string as is; any other JSON value as canonical JSON text."""
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


def field_arg(field: str | None, arg: str = "field") -> list[str | int] | None:
    """A factory's JSON-path argument parsed (None stays None); a bad path is an :class:`ArgError`."""
    if field is None:
        return None
    try:
        return parse_field_path(field)
    except ValueError as exc:
        raise ArgError(arg, str(exc)) from None


def expected_value(sample: Sample, parts: list[str | int] | None) -> tuple[bool, Any]:
    """Gold value: ``expected`` or, when it is an object and a path is given, that field of it."""
    if sample.expected is None:
        return False, None
    if parts is None or not isinstance(sample.expected, (dict, list)):
        return True, sample.expected
    return get_field(sample.expected, parts)


def text_check(
    predicate: Callable[[str, Sample], tuple[bool, str]], field: list[str | int] | None
) -> CheckFn:
    """Plumbing for text checks: extract the value (text or JSON field), run the predicate.

    ``predicate(value_text, sample) -> (passed, reason_if_failed)``; the pass reason is "ok".
    """

    def run(sample: Sample) -> CheckResult:
        ok, value, err = response_value(sample, field)
        if not ok:
            return CheckResult(False, err)
        passed, reason = predicate(as_text(value), sample)
        return CheckResult(bool(passed), "ok" if passed else reason)

    return run


def excerpt(text: Any, n: int = 60) -> str:
    """Short single-line repr for reasons."""
    s = as_text(text)
    s = re.sub(r"\s+", " ", s)
    return repr(s if len(s) <= n else s[: n - 1] + "…")


# --------------------------------------------------------------------------------------------
# Normalizers for string comparison (exact_match, label_in_set, json_fields_match)
# --------------------------------------------------------------------------------------------
NORMALIZERS: dict[str, Callable[[str], str]] = {
    "strip": str.strip,
    "lower": str.lower,
    "casefold": str.casefold,
    "collapse_whitespace": lambda s: re.sub(r"\s+", " ", s),
    "strip_punctuation": lambda s: s.translate(str.maketrans("", "", string.punctuation)),
    "strip_quotes": lambda s: s.strip().strip("\"'`"),
}
assert tuple(NORMALIZERS) == NORMALIZER_NAMES, "the config's normalizer names are these"


def normalizer(names: list[str], arg: str = "normalize") -> Callable[[str], str]:
    """Compose the named :data:`NORMALIZERS`; an unknown name is an :class:`ArgError` on ``arg``."""
    unknown = [n for n in names if n not in NORMALIZERS]
    if unknown:
        raise ArgError(arg, f"unknown normalizer(s) {unknown}; known: {sorted(NORMALIZERS)}")
    fns = [NORMALIZERS[n] for n in names]

    def apply(s: str) -> str:
        for f in fns:
            s = f(s)
        return s

    return apply


def map_strings(
    fn: Callable[[str], Any], value: Any, list_fn: Callable[[list[Any]], Any] = lambda x: x
) -> Any:
    """Apply ``fn`` to every string inside a JSON value (lists passed through ``list_fn``)."""
    if isinstance(value, str):
        return fn(value)
    if isinstance(value, list):
        return list_fn([map_strings(fn, x, list_fn) for x in value])
    if isinstance(value, dict):
        return {k: map_strings(fn, x, list_fn) for k, x in value.items()}
    return value
