"""The order tools the inference tests and benchmarks offer a model.

In: nothing. Out: tool definitions in the Anthropic shape whose names carry a dot (OpenAI and Bedrock refuse
one, so their providers must map the name on the way out and back) and whose one argument is an integer order
id from 1 to 9 (so an answer that fits the schema is checkable).
"""

from __future__ import annotations

from typing import Any


def order_tool(name: str, description: str) -> dict[str, Any]:
    """A tool ``name`` taking ``{"order_id": 1..9}``."""
    return {
        "name": name,
        "description": description,
        "input_schema": {
            "type": "object",
            "properties": {"order_id": {"type": "integer", "minimum": 1, "maximum": 9}},
            "required": ["order_id"],
        },
    }


ORDER_LOOKUP = order_tool("orders.lookup", "Look an order up")
ORDER_CANCEL = order_tool("orders.cancel", "Cancel an order")
