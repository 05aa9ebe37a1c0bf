"""Test helpers for the judge tests: an in-process executor and sample frames.

``FakeExecutor`` stands in for the provider layer in unit tests: it turns each
``ModelRequest`` into a ``ModelResponse`` via a ``responder(request) -> dict`` whose keys
override the response fields (``tool_input``, ``error_category``, ``stop_reason``, ...).
It records every request so tests can assert on keys, retries and prompts. ``server_executor`` is the real
thing against a test server: the Anthropic provider and the response store.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd

from eval_pipeline.inference.anthropic_provider import AnthropicProvider
from eval_pipeline.inference.limits import RetryPolicy
from eval_pipeline.inference.runner import run_requests
from eval_pipeline.inference.store import ResponseStore
from eval_pipeline.inference.types import ModelRequest, ModelResponse


def make_response(req: ModelRequest, **overrides: Any) -> ModelResponse:
    """A successful tool_use response for ``req`` with ``overrides`` applied."""
    fields: dict[str, Any] = dict(
        sample_id=req.sample_id,
        repeat=req.repeat,
        model=req.model,
        text=None,
        stop_reason="tool_use",
        latency_s=0.01,
        ttft_s=None,
        output_tokens_per_s=None,
        input_tokens=100,
        output_tokens=20,
        cache_read_tokens=0,
        cache_creation_tokens=0,
        cost_usd=0.001,
        request_id="req_test",
        error_category=None,
        error_message=None,
        cached=False,
        cache_key=f"{req.epoch}|{req.repeat}",
        tool_input=None,
    )
    fields.update(overrides)
    return ModelResponse(**fields)


class FakeExecutor:
    """``execute(requests) -> responses`` backed by a responder function; records requests."""

    def __init__(self, responder: Callable[[ModelRequest], dict[str, Any]]):
        self.responder = responder
        self.requests: list[ModelRequest] = []
        self.batches: list[int] = []

    def __call__(self, requests: list[ModelRequest]) -> list[ModelResponse]:
        self.requests.extend(requests)
        self.batches.append(len(requests))
        return [make_response(r, **self.responder(r)) for r in requests]


def user_text(req: ModelRequest) -> str:
    content = req.messages[0]["content"]
    return content if isinstance(content, str) else "".join(b.get("text", "") for b in content)


def samples_frame(rows: list[dict[str, Any]], pairwise: bool = False) -> pd.DataFrame:
    """A graded-samples frame with defaults for the columns a test does not care about."""
    out = []
    for i, r in enumerate(rows):
        base = {
            "sample_id": f"s{i}",
            "repeat": 0,
            "response_text": "an answer",
            "error_category": None,
            "input": f"question {i}",
            "expected": f"reference {i}",
            "metadata": {},
            "category": "cat",
            "suite": "support",
            "eval_set": "faq",
            "date": "2025-01-01",
            "model_version": "m1",
        }
        if pairwise:
            base["baseline_text"] = "a baseline answer"
        base.update(r)
        out.append(base)
    return pd.DataFrame(out)


def server_executor(
    srv: Any, store: ResponseStore, max_concurrency: int = 8, request_timeout_s: float = 10
) -> Callable[[list[ModelRequest]], list[ModelResponse]]:
    """The judge's executor against the test server ``srv``: the real Anthropic provider (two attempts, 10 ms
    backoff) through ``store``."""
    provider = AnthropicProvider(
        api_key="test-key",
        base_url=srv.base_url,
        max_concurrency=max_concurrency,
        retry=RetryPolicy(max_attempts=2, initial_backoff_s=0.01),
        request_timeout_s=request_timeout_s,
    )
    return lambda requests: run_requests(provider, requests, store)
