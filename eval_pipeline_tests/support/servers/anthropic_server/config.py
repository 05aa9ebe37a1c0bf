"""The test server's configuration and the scripted model's answer type.

In: keyword fields (from tests, ``--config-json`` or ``POST /_admin/config``).
Out: :class:`ServerConfig`, validated (an unknown fault or latency kind is named); :class:`Answer`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from eval_pipeline.mock_server.answers import Answer as MockServerAnswer

FAULTS = (
    "rate_limit",
    "overloaded",
    "server_error",
    "slow",
    "drop",
    "malformed",
    "malformed_tool",
    "refusal",
)
GOOD_ACCURACY = 0.95
DEGRADED_ACCURACY = 0.6
REFUSAL_TEXT = "I can't help with that request."


@dataclass
class Answer(MockServerAnswer):
    """What the scripted model answers: text, or a tool_use input (dict), as the package's mock server's answer;
    or several tool_use blocks at once (parallel calls): ``tool_calls=[{"name": ..., "input": {...}}, ...]``."""

    tool_calls: list[dict[str, Any]] | None = None


@dataclass
class ServerConfig:
    """Everything that shapes the server's behaviour. All fields can be patched at runtime."""

    api_key: str = "test-key"
    latency_kind: str = "fixed"  # "fixed" | "lognormal"
    latency_s: float = 0.0  # fixed total latency, or the median for lognormal
    latency_sigma: float = 0.5  # lognormal shape
    ttft_fraction: float = 0.3  # share of the latency before the first token (streaming)
    fault_probabilities: dict[str, float] = field(default_factory=dict)  # fault name -> probability
    fault_script: list[str | None] = field(default_factory=list)  # consumed one per request, first
    fault_script_by_match: dict[str, list[str | None]] = field(
        default_factory=dict
    )  # substring -> faults per attempt
    fault_delay_s: float = 0.0  # delay before an error status is returned
    drop_after_latency: bool = False  # drop after the latency (else immediately)
    retry_after_s: float = 1.0  # sent on 429 as retry-after (seconds) and retry-after-ms
    slow_s: float = 30.0
    answer_key: dict[str, str] = field(default_factory=dict)  # user-message substring -> expected answer
    model_accuracy: dict[str, float] = field(
        default_factory=dict
    )  # model id -> accuracy (overrides defaults)
    refuse_matching: list[str] = field(default_factory=list)  # user-message substrings that get refused
    missing_models: list[str] = field(default_factory=list)  # model ids answered with 404 not_found_error
    seed: int = 0
    cache_hit_ttft_factor: float = 0.3  # TTFT of a prompt-cache hit relative to a miss
    batch_delay_s: float = 0.0  # a Message Batch ends this long after it was created
    batch_outcome_by_match: dict[str, list[str | None]] = field(
        default_factory=dict
    )  # substring -> outcome per submission
    # Agents (requests with tools and no forced tool_choice): substring of the first user message ->
    # the scripted steps, one per assistant turn: a list of calls [{"name", "input"}] (tool_use
    # blocks; a name the request renamed is matched by its wire form) or a string (the final
    # answer). Past the script's end the answer is text.
    tool_script_by_match: dict[str, list[Any]] = field(default_factory=dict)
    # Without a script: how many tool steps the default model takes before it answers in text
    agent_tool_steps: int = 1

    def validate(self) -> None:
        """Raise ValueError naming the bad field."""
        for name in (
            list(self.fault_probabilities)
            + [f for s in self.fault_script_by_match.values() for f in s if f]
            + [f for f in self.fault_script if f]
        ):
            if name not in FAULTS:
                raise ValueError(f"ServerConfig: unknown fault {name!r}; use one of {FAULTS}")
        if self.latency_kind not in ("fixed", "lognormal"):
            raise ValueError(f"ServerConfig.latency_kind={self.latency_kind!r}; use 'fixed' or 'lognormal'")
        if sum(self.fault_probabilities.values()) > 1.0:
            raise ValueError("ServerConfig.fault_probabilities: probabilities sum above 1")
