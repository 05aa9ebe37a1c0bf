"""Check specs of agent and conversation checks: tool calls, their order, steps, turns.

In: the arguments of a ``tool_calls_match``, ``tool_called``, ``tool_not_called``, ``tool_order``,
``max_steps`` or ``turns`` check entry. Out: its validated :class:`~.check_spec.CheckSpec` model (part of
:data:`.checks.CHECK_SPECS`). Plain Python: no stage is imported here.
"""

from __future__ import annotations

from typing import Any, Literal

from eval_pipeline.project.check_spec import ArgError, CheckContext, CheckSpec


class ToolCallsMatch(CheckSpec):
    """The model's tool calls match ``expected`` (BFCL's AST match, order-free)."""

    type: Literal["tool_calls_match"] = "tool_calls_match"
    expected_field: str | None = None


class ToolCalled(CheckSpec):
    """The model called ``tool`` at least ``min_times`` times."""

    type: Literal["tool_called"] = "tool_called"
    tool: str
    min_times: int = 1

    @classmethod
    def check_args(cls, args: dict[str, Any], context: CheckContext) -> None:
        if args.get("min_times", 1) < 1:
            raise ArgError("min_times", "must be at least 1 (use tool_not_called for 0)")


class ToolNotCalled(CheckSpec):
    """The model never called ``tool``."""

    type: Literal["tool_not_called"] = "tool_not_called"
    tool: str


class ToolOrder(CheckSpec):
    """The sequence of called tool names against ``tools`` (exact, in order, any order)."""

    type: Literal["tool_order"] = "tool_order"
    tools: list[str]
    mode: Literal["exact", "in_order", "any_order"] = "in_order"

    @classmethod
    def check_args(cls, args: dict[str, Any], context: CheckContext) -> None:
        if not args["tools"]:
            raise ArgError("tools", "list at least one tool name")


class MaxSteps(CheckSpec):
    """The agent took at most ``max`` model calls and ended with a final answer."""

    type: Literal["max_steps"] = "max_steps"
    max: int

    @classmethod
    def check_args(cls, args: dict[str, Any], context: CheckContext) -> None:
        if args["max"] < 1:
            raise ArgError("max", "must be at least 1")


class Turns(CheckSpec):
    """The conversation had between ``min`` and ``max`` assistant turns."""

    type: Literal["turns"] = "turns"
    min: int = 1
    max: int | None = None

    @classmethod
    def check_args(cls, args: dict[str, Any], context: CheckContext) -> None:
        lo, hi = args.get("min", 1), args.get("max")
        if lo < 0 or (hi is not None and hi < lo):
            raise ArgError("max", "need 0 <= min <= max")
