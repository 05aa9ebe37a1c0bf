"""What one judge step spent and where its verdicts came from, counted as the answers arrive.

In: each batch of verdict responses the judge's executor returns. Out: :class:`VerdictTally`
(requests, API calls, cost, Message Batches answers, answer provenance, the prompt-cache split of
a judge with ``cache_prompt``) and its figures for the ``judge_scores`` asset.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from eval_pipeline.inference.runner import prompt_cache_split, summarize
from eval_pipeline.inference.types import ModelResponse


class VerdictTally:
    """Counts of one judge step: ``counts`` (requests, api_calls, cost, batch), ``provenance``
    (answers per origin) and every verdict response (``answers``)."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.provenance: dict[str, int] = {}
        self.answers: list[ModelResponse] = []

    def record(self, out: list[ModelResponse]) -> dict[str, Any]:
        """Count one batch of verdict responses; returns its summary."""
        self.answers.extend(out)
        s = summarize(out)
        for k, v in s["answer_provenance"].items():
            self.provenance[k] = self.provenance.get(k, 0) + v
        self.counts.update(
            requests=len(out), api_calls=s["api_calls"], cost=s["cost_usd"], batch=s["batch_answers"]
        )
        return s

    def figures(self) -> dict[str, Any]:
        c = self.counts
        return {
            "judge_requests": c["requests"],
            "judge_api_calls": c["api_calls"],
            "judge_cost_usd": round(float(c["cost"]), 6),
            "judge_batch_answers": c["batch"],
        }

    def prompt_cache(self) -> dict[str, Any] | None:
        """The prompt-cache split of the paid verdicts when the judge used prompt caching, else None."""
        if not self.counts["api_calls"]:
            return None
        split = prompt_cache_split(self.answers)
        return split if split["cache_read_tokens"] or split["cache_creation_tokens"] else None
