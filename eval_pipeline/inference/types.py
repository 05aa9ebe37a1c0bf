"""Request/response types shared by every provider, the response store and the judge.

Plain data, no I/O. A provider turns a list of `ModelRequest` into a list of
`ModelResponse` in the same order; failures are *values* (``error_category``),
never exceptions, so one bad sample never loses the rest of a run.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

# Error categories. Infrastructure errors are never quality failures downstream.
INFRA_ERROR_CATEGORIES = (
    "rate_limited",  # 429 after retries
    "overloaded",  # 529 after retries
    "timeout",
    "connection",
    "api_error",  # 5xx / unexpected status / malformed body
    "replay_miss",
)
# Model-side outcomes that are recorded but are about the answer, not the plumbing.
MODEL_ERROR_CATEGORIES = (
    "refusal",
    "empty",
    "max_tokens",
    "malformed_tool_output",  # tool_use input that is not JSON or violates the tool's input_schema
)
# What produced a stored answer (``ModelResponse.provenance``, the ``provenance`` column of the
# responses table): a live provider call (or its stored copy), a replay of a live recording, or a
# synthetic recording (``data/recordings/``, scripted; no model wrote it).
PROVENANCE_LIVE, PROVENANCE_REPLAY, PROVENANCE_SYNTHETIC = "live", "replay", "synthetic"
PROVENANCES = (PROVENANCE_LIVE, PROVENANCE_REPLAY, PROVENANCE_SYNTHETIC)


@dataclass
class ModelRequest:
    sample_id: str
    model: str  # provider model id, e.g. "claude-haiku-4-5"
    messages: list[dict[str, Any]]  # Anthropic Messages API format
    system: str | None = None
    params: dict[str, Any] = field(default_factory=dict)  # temperature, max_tokens, top_p, stop_sequences
    tools: list[dict[str, Any]] | None = None
    tool_choice: dict[str, Any] | None = None
    repeat: int = 0  # repeat index: distinct repeats get distinct store keys
    epoch: str = ""  # optional extra key component (e.g. a date to force fresh daily samples)
    # Prompt caching (not part of the store key: the answer does not depend on it). ``cache_prompt``
    # marks the static prefix with ``cache_control``: the tool definitions, the system prompt and the
    # first ``static_prefix_chars`` characters of the user message (a template's static part, e.g.
    # the routing label list; 0 = none).
    cache_prompt: bool = False
    static_prefix_chars: int = 0


@dataclass
class ModelResponse:
    sample_id: str
    repeat: int
    model: str
    text: str | None
    stop_reason: str | None
    latency_s: float | None
    ttft_s: float | None
    output_tokens_per_s: float | None
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_creation_tokens: int
    cost_usd: float
    request_id: str | None
    error_category: str | None  # one of INFRA_ERROR_CATEGORIES / MODEL_ERROR_CATEGORIES or None
    error_message: str | None
    cached: bool  # served from the response store (cost still counted in the ledger)
    cache_key: str
    tool_input: dict[str, Any] | None = None  # input of the first tool_use block, if any
    attempts: int = 1
    provenance: str | None = None  # one of PROVENANCES (set by the runner); None = unknown (old rows)
    # Message Batches id when the answer came from a batch (then latency_s / ttft_s are None: a batch
    # answer has no measurable latency, and cost_usd carries the batch discount); None = a live call.
    batch_id: str | None = None
    # Every tool call of the answer, in order: ``{"id": str, "name": str, "arguments": dict}`` with
    # the tool's canonical name (as the request declared it, before any provider name mapping,
    # :mod:`eval_pipeline.inference.tool_names`); None = the answer called no tool.
    tool_calls: list[dict[str, Any]] | None = None
    # An agent loop's steps (:mod:`eval_pipeline.inference.agent`): one dict per model call with its
    # store key, tool calls and the tool results fed back; None = a single call.
    trajectory: list[dict[str, Any]] | None = None

    @property
    def cache_hit(self) -> bool:
        """The API read part of the prompt from its prompt cache."""
        return self.cache_read_tokens > 0

    @property
    def is_infra_error(self) -> bool:
        return self.error_category in INFRA_ERROR_CATEGORIES

    def to_row(self) -> dict[str, Any]:
        return asdict(self)
