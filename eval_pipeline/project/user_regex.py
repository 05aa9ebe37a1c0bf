"""Regular expressions from user configuration, with bounded matching time.

In: a pattern from a suite (Python ``re`` syntax, the documented syntax of the ``regex`` check)
and ``ignore_case``. Out: :func:`compile_user_regex` -> :class:`UserRegex`, whose
:meth:`UserRegex.search` returns ``(start, end, matched text)`` or None, and raises
:class:`RegexBudgetError` instead of hanging. A pattern Python rejects is a ``ValueError``.

Which engine matches a text:

* **RE2** (``google-re2``: linear time, no catastrophic backtracking) whenever it means exactly
  what Python's ``re`` means: the pattern compiles in RE2 (no backreferences, lookaround,
  ``\\Z``, ``(?x)``, possessive or atomic groups) and has no POSIX-looking ``[:``; and, when it
  uses ``\\w \\W \\d \\D \\s \\S \\b \\B`` (Unicode in Python, ASCII in RE2), the text is ASCII
  without ``\\v`` or ``\\x1c``-``\\x1f`` (where both agree). Python's ``$`` also matches before a
  final newline; RE2's only at the end, so a text ending in ``\\n`` is tried without it too.
  A pattern Python itself flags as ambiguous (``[[:alpha:]]``, a ``FutureWarning``) is refused.
* otherwise the backtracking engine (the ``regex`` package, Python-``re`` compatible) with a time
  budget per text (``budget_s``, default 1 s): past it, :class:`RegexBudgetError` names the pattern
  and the engine's reason. (One known difference from ``re``: its ``\\s`` leaves out the control
  characters ``\\x1c``-``\\x1f``.) ``(a+)+$`` on ``"a"*34+"!"`` runs in RE2 at once; Python's
  ``re`` backtracks exponentially (issue 24: no result after 116 s, about 25 minutes extrapolated).
"""

from __future__ import annotations

import logging
import re
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Protocol

import re2
import regex as backtracking
from jsonschema import ValidationError, validators
from jsonschema.protocols import Validator

if TYPE_CHECKING:  # the class jsonschema hands to keyword functions (the Validator protocol has no descend())
    from jsonschema.validators import _Validator

DEFAULT_BUDGET_S = 1.0
_UNICODE_ESCAPES = frozenset("wWdDsSbB")
_RE2_SPACE_GAPS = ("\x0b", "\x1c", "\x1d", "\x1e", "\x1f")  # Python's \s has them, RE2's has not


class RegexBudgetError(TimeoutError):
    """A pattern ran over its time budget on one text (only the backtracking engine can)."""


def _escapes(pattern: str) -> set[str]:
    """The letters after each backslash escape of ``pattern`` (``\\\\`` is one escape)."""
    out, i = set(), 0
    while i < len(pattern):
        if pattern[i] == "\\" and i + 1 < len(pattern):
            out.add(pattern[i + 1])
            i += 2
        else:
            i += 1
    return out


class _Re2Match(Protocol):
    """What this module reads of an RE2 match (``google-re2`` ships no type information)."""

    def start(self) -> int: ...
    def end(self) -> int: ...
    def group(self, index: int, /) -> str: ...


class _Re2Pattern(Protocol):
    """What this module calls on a compiled RE2 pattern."""

    def search(self, text: str, /) -> _Re2Match | None: ...


def _re2(pattern: str, ignore_case: bool) -> tuple[_Re2Pattern | None, str]:
    """RE2's compiled pattern, or None and why RE2 cannot run it exactly like Python's ``re``."""
    if "[:" in pattern:
        return None, "it has '[:' (a POSIX class in RE2, literal characters in Python)"
    opts = re2.Options()
    opts.log_errors = False
    opts.case_sensitive = not ignore_case
    try:
        return re2.compile(pattern, options=opts), ""
    except re2.error as exc:
        msg = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        return None, f"RE2 cannot run it ({msg}: backreferences, lookaround and similar need backtracking)"


@dataclass
class UserRegex:
    """A compiled user pattern: RE2 where exact, the budgeted backtracking engine otherwise."""

    pattern: str
    ignore_case: bool = False
    budget_s: float = DEFAULT_BUDGET_S
    re2_reason: str = ""  # why RE2 does not run every text ("" when it does)
    _re2: _Re2Pattern | None = field(default=None, repr=False)
    _bt: backtracking.Pattern[str] | None = field(default=None, repr=False)
    _unicode_sensitive: bool = False

    @property
    def engine(self) -> str:
        """``re2`` (every text), ``re2+backtracking`` (RE2 for ASCII texts) or ``backtracking``."""
        if self._re2 is None:
            return "backtracking"
        return "re2+backtracking" if self._unicode_sensitive else "re2"

    def uses_re2(self, text: str) -> bool:
        """True when ``text`` is matched by RE2 (linear time, never over budget)."""
        if self._re2 is None:
            return False
        return not self._unicode_sensitive or (text.isascii() and not any(c in text for c in _RE2_SPACE_GAPS))

    def search(self, text: str, budget_s: float | None = None) -> tuple[int, int, str] | None:
        """The first match as ``(start, end, matched text)``, or None; :class:`RegexBudgetError` when
        the backtracking engine runs over ``budget_s`` (default: the pattern's) on this text."""
        budget = self.budget_s if budget_s is None else budget_s
        if self._re2 is not None and self.uses_re2(text):
            m = self._re2.search(text)
            if m is None and "$" in self.pattern and text.endswith("\n"):
                m = self._re2.search(text[:-1])  # Python's $ also matches before a final newline
            return None if m is None else (m.start(), m.end(), m.group(0))
        assert self._bt is not None  # compile_user_regex builds it whenever RE2 cannot match every text
        try:
            found = self._bt.search(text, timeout=budget)
        except TimeoutError:
            why = self.re2_reason or "the text has non-ASCII characters and the pattern Unicode classes"
            raise RegexBudgetError(
                f"pattern /{self.pattern}/ ran over its {budget:g} s budget on a {len(text):,}-character "
                f"text (backtracking engine: {why}); simplify the pattern (no nested repeats such as (a+)+) "
                "or raise timeout_s"
            ) from None
        return None if found is None else (found.start(), found.end(), found.group(0))


def compile_user_regex(
    pattern: str, *, ignore_case: bool = False, budget_s: float = DEFAULT_BUDGET_S
) -> UserRegex:
    """Compile a user pattern (Python ``re`` syntax); ``ValueError`` with Python's reason if invalid."""

    flags = re.IGNORECASE if ignore_case else 0
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", FutureWarning)  # "[[:alpha:]]": literal in re, a class elsewhere
            re.compile(pattern, flags)
    except FutureWarning as exc:
        raise ValueError(
            f"ambiguous regex {pattern!r} ({exc}: Python reads '[[:' as literal characters, other engines "
            "as a POSIX class); escape the inner '[' (\\[) or write the class out, e.g. [A-Za-z]"
        ) from None
    except re.error as exc:
        raise ValueError(f"invalid regex {pattern!r} ({exc})") from None
    if not budget_s > 0:
        raise ValueError(f"the time budget must be > 0 s, got {budget_s}")
    compiled, reason = _re2(pattern, ignore_case)
    unicode_sensitive = compiled is not None and bool(_escapes(pattern) & _UNICODE_ESCAPES)
    bt = None
    if compiled is None or unicode_sensitive:
        try:
            bt = backtracking.compile(pattern, flags=backtracking.IGNORECASE if ignore_case else 0)
        except backtracking.error as exc:
            raise ValueError(f"regex {pattern!r} is not supported ({exc})") from None
    return UserRegex(pattern, ignore_case, budget_s, reason, compiled, bt, unicode_sensitive)


@lru_cache(maxsize=32)  # one class per (validator, budget, mode): compiled patterns are reused across calls
def bounded_validator(
    validator_cls: type[Validator], budget_s: float = DEFAULT_BUDGET_S, skip_over_budget: bool = False
) -> type[Validator]:
    """A jsonschema validator class whose ``pattern`` / ``patternProperties`` run through
    :func:`compile_user_regex` instead of Python's ``re`` (jsonschema's own), so a schema's regex
    never hangs. Over the budget: :class:`RegexBudgetError`, or with ``skip_over_budget`` the
    pattern counts as matched (the value is not held against the answer) and a warning is logged."""

    compiled: dict[str, UserRegex] = {}

    def matches(p: str, value: str) -> bool:
        if p not in compiled:
            compiled[p] = compile_user_regex(p, budget_s=budget_s)
        try:
            return compiled[p].search(value) is not None
        except RegexBudgetError as exc:
            if not skip_over_budget:
                raise
            logging.getLogger(__name__).warning("JSON Schema %s: not checked", exc)
            return True

    def pattern(validator: _Validator, patrn: str, instance: Any, schema: Any) -> Iterator[ValidationError]:
        if validator.is_type(instance, "string") and not matches(patrn, instance):
            yield ValidationError(f"{instance!r} does not match {patrn!r}")

    def pattern_properties(
        validator: _Validator, pattern_props: dict[str, Any], instance: Any, schema: Any
    ) -> Iterator[ValidationError]:
        if not validator.is_type(instance, "object"):
            return
        for p, subschema in pattern_props.items():
            for k, v in instance.items():
                if matches(p, k):
                    yield from validator.descend(v, subschema, path=k, schema_path=p)

    keywords: dict[str, Callable[..., Iterator[ValidationError]]] = {
        "pattern": pattern,
        "patternProperties": pattern_properties,
    }
    # types-jsonschema leaves validators.extend() unannotated; it returns a validator class
    extended: type[Validator] = validators.extend(validator_cls, keywords)  # type: ignore[no-untyped-call]
    return extended
