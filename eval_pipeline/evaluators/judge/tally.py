"""What one judge step spent and where its verdicts came from, counted as the answers arrive.

In: each batch of verdict responses the judge's executor returns. Out: :class:`VerdictTally`
(requests, API calls, cost, Message Batches answers, answer provenance, the prompt-cache split of
a judge with ``cache_prompt``) and its figures for the ``judge_scores`` asset.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from eval_pipeline.inference.runner import prompt_cache_split, summarize
from eval_pipeline.inference.types import ModelResponse


@dataclass
class VerdictTally:
    requests: int = 0
    api_calls: int = 0
    cost: float = 0.0
    batch: int = 0
    provenance: dict[str, int] = field(default_factory=dict)
    answers: list[ModelResponse] = field(default_factory=list)

    def record(self, out: list[ModelResponse]) -> dict[str, Any]:
        """Count one batch of verdict responses; returns its summary."""
        self.answers.extend(out)
        s = summarize(out)
        for k, v in s["answer_provenance"].items():
            self.provenance[k] = self.provenance.get(k, 0) + v
        self.requests += len(out)
        self.api_calls += s["api_calls"]
        self.cost += s["cost_usd"]
        self.batch += s["batch_answers"]
        return s

    def figures(self) -> dict[str, Any]:
        return {
            "judge_requests": self.requests,
            "judge_api_calls": self.api_calls,
            "judge_cost_usd": round(self.cost, 6),
            "judge_batch_answers": self.batch,
        }

    def prompt_cache(self) -> dict[str, Any] | None:
        """The prompt-cache split of the paid verdicts when the judge used prompt caching, else None."""
        if not self.api_calls:
            return None
        split = prompt_cache_split(self.answers)
        return split if split["cache_read_tokens"] or split["cache_creation_tokens"] else None
