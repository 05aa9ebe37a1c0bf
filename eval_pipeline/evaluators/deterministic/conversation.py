"""Conversation checks: ``turns`` and ``every_turn``.

In: a sample's trajectory (``Sample.trajectory``: the steps of an agent loop or a simulated
conversation; assistant steps that ended a turn carry ``final``, the simulated user's turns
``role: simulated_user``); without one, the answer is one turn. Out: pass/fail. ``goal_reached``
is a judge dimension (the judge sees the transcript): see docs/conversations-and-tools.md.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from eval_pipeline.evaluators.deterministic.base import CheckFn, CheckResult, Sample
from eval_pipeline.evaluators.deterministic.check_registry import BuildContext, check


def assistant_turns(sample: Sample) -> list[str]:
    """The text of each assistant turn (the last step of each), in order."""
    steps = sample.trajectory
    if not steps:
        return [sample.text]
    return [s.get("text") or "" for s in steps if s.get("role") != "simulated_user" and s.get("final")]


@check("turns")
def turns(min: int = 1, max: int | None = None) -> CheckFn:  # noqa: A002 - the YAML keys
    """The conversation had between ``min`` and ``max`` assistant turns."""

    def fn(sample: Sample) -> CheckResult:
        n = len(assistant_turns(sample))
        ok = n >= min and (max is None or n <= max)
        return CheckResult(ok, f"{n} assistant turn(s), expected {min}..{max if max is not None else 'any'}")

    return fn


@check("every_turn")
def every_turn(check: dict[str, Any], context: BuildContext) -> CheckFn:
    """Another check (``check: {type: ..., ...}``) applied to every assistant turn; passes when it
    passes on each, the reason names the first turn that failed."""
    from eval_pipeline.evaluators.deterministic.build import build_check  # noqa: PLC0415 - import cycle: evaluators.deterministic.build imports this module

    inner = build_check(check, f"{context.where}.check", base_dir=context.base_dir)

    def fn(sample: Sample) -> CheckResult:
        texts = assistant_turns(sample)
        for n, text in enumerate(texts):
            res = inner(replace(sample, text=text, trajectory=None))
            if res.passed is False:
                return CheckResult(False, f"turn {n + 1} of {len(texts)}: {res.reason}")
        return CheckResult(True, f"{len(texts)} turn(s) pass {inner.name}")

    return fn
