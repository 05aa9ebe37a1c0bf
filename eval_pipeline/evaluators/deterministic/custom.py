"""The ``custom`` check: a user function imported by dotted path.

In: ``function: package.module:function`` and optional ``kwargs``; the function gets the
:class:`.base.Sample`. Out: its :class:`.base.CheckResult`, bool or ``(passed, reason)`` as a
result; an exception fails the sample with the exception as the reason. The function's source is
part of the evaluator hash, so editing it re-keys the scores.
"""

from __future__ import annotations

import inspect
from typing import Any

from eval_pipeline.evaluators.deterministic.base import ArgError, CheckFn, CheckResult, Sample
from eval_pipeline.evaluators.deterministic.check_registry import BuildContext, check
from eval_pipeline.project.checks import import_function as import_function  # declared with the check specs


def _function_source(args: dict[str, Any], context: BuildContext) -> str:
    """The imported function's source (empty when it has none, e.g. a builtin)."""
    try:
        return inspect.getsource(import_function(args["function"]))
    except (OSError, TypeError):
        return ""


@check("custom", hash_extra=_function_source)
def custom(function: str, kwargs: dict[str, Any] = {}) -> CheckFn:  # noqa: B006 - never mutated
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
