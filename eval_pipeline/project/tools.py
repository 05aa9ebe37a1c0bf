"""Tool declarations and agent-loop settings of a model version or an eval set (YAML -> typed).

In: ``tools:`` entries (``{name, description, input_schema}``: Anthropic's tool form, JSON Schema
of the input) and an eval set's ``agent:`` section. Out: validated :class:`ToolSpec` /
:class:`AgentSettings`; a bad schema is a ConfigError naming the key. Plain Python, no Dagster.
"""

from __future__ import annotations

from typing import Any

import jsonschema
from pydantic import BaseModel, Field, field_validator

from eval_pipeline.project.errors import strict


class ToolSpec(BaseModel):
    """One tool the model may call. ``name`` is kept as written (BFCL's dotted names too): a provider
    that refuses it maps it (:mod:`eval_pipeline.inference.tool_names`)."""

    model_config = strict()
    name: str = Field(min_length=1, max_length=200)
    description: str = ""
    input_schema: dict[str, Any] = Field(default_factory=lambda: {"type": "object", "properties": {}})

    @field_validator("input_schema")
    @classmethod
    def _schema(cls, v: dict[str, Any]) -> dict[str, Any]:

        try:
            jsonschema.Draft202012Validator.check_schema(v)
        except jsonschema.SchemaError as e:
            raise ValueError(f"not a valid JSON Schema: {e.message}") from None
        if v.get("type", "object") != "object":
            raise ValueError("a tool's input_schema must describe an object (type: object)")
        return v

    def as_request_tool(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "input_schema": self.input_schema}


class AgentSettings(BaseModel):
    """Run each sample as an agent loop: model call, tool results fed back, until a final answer
    or ``max_steps`` model calls. Tool results come from the golden row's ``input.tool_results``
    (scripted, keyed by tool name and arguments), then from ``tool_results`` (``module:function``
    called as ``fn(name, arguments, sample_id)``)."""

    model_config = strict()
    max_steps: int = Field(5, ge=1, le=50)
    tool_results: str | None = Field(
        None,
        description="module:function giving a tool's result: fn(name, arguments, sample_id) -> str | JSON",
    )


class SimulateSettings(BaseModel):
    """Play the user with another model: ``user`` (a model version of the registry: its model id and
    params) pursues the goal at ``goal_from`` (``input.<key>`` / ``metadata.<key>`` / ``expected.<key>``
    of the golden row) for up to ``max_turns`` assistant turns; it ends the chat when the goal is
    reached. The transcript is the response's trajectory."""

    model_config = strict()
    user: str = Field(min_length=1)
    goal_from: str = "metadata.goal"
    max_turns: int = Field(3, ge=1, le=20)

    @field_validator("goal_from")
    @classmethod
    def _goal_from(cls, v: str) -> str:
        if v.split(".", 1)[0] not in ("input", "metadata", "expected") or "." not in v:
            raise ValueError("give input.<key>, metadata.<key> or expected.<key> of the golden row")
        return v


def merge_tools(*groups: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
    """Tool dicts of several sources in order, a later tool of the same name replacing an earlier one."""
    by_name: dict[str, dict[str, Any]] = {}
    for group in groups:
        for t in group or []:
            by_name.pop(t["name"], None)
            by_name[t["name"]] = t
    return list(by_name.values()) or None
