"""Tool calls and agent trajectories in the responses table.

In: :class:`~eval_pipeline.inference.types.ModelResponse` objects. Out: table rows whose tool calls
(``tool_calls_json``: the final answer's calls) and agent steps (``trajectory_json``: every step of
an agent loop, see :mod:`eval_pipeline.inference.agent`) are JSON strings, so Parquet keeps one
string column whatever the arguments look like; :func:`decode_json_column` reads them back.
"""

from __future__ import annotations

import json
from typing import Any

from eval_pipeline.inference.types import ModelResponse


def response_table_row(response: ModelResponse) -> dict[str, Any]:
    """``response.to_row()`` for the responses table: without ``tool_input`` (an internal of the
    judge), tool calls and trajectory as JSON strings (None when absent)."""
    row = response.to_row()
    row.pop("tool_input", None)
    calls = row.pop("tool_calls", None)
    row["tool_calls_json"] = json.dumps(calls, ensure_ascii=False, sort_keys=True) if calls else None
    steps = row.pop("trajectory", None)
    row["trajectory_json"] = json.dumps(steps, ensure_ascii=False, sort_keys=True) if steps else None
    return row


def decode_json_column(value: Any) -> Any:
    """A ``*_json`` cell back as a value (None for null / NaN / empty)."""
    if isinstance(value, str) and value:
        return json.loads(value)
    if isinstance(value, (list, dict)):
        return value
    return None
