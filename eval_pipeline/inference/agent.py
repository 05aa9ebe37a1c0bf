"""The agent loop: a model that calls tools, fed the tools' results, until a final answer or ``max_steps``.

In: a provider, the first :class:`ModelRequest` of each sample (its ``tools`` set), an
:class:`AgentSpec` per sample (``max_steps``, where tool results come from), the response store.
Out: one :class:`ModelResponse` per sample: the last step's answer, with ``tool_calls`` = every call
of every step in order, ``trajectory`` = the steps (store key, text, calls, the results fed back),
and tokens, cost, latency and attempts summed over the steps.

Every step is one request answered through the response store exactly like a single-turn request
(it goes through :func:`~.runner.arun_requests`): looked up first, stored the moment it arrives. The next step's request is a pure function of the
previous answer and the tool results (scripted or from a deterministic function), so a rerun of a
killed run replays the finished steps from the store and pays only for the missing ones. An
infrastructure error in a step ends the sample with that error (the steps before it are stored).

Tool results (:func:`scripted_results` / ``AgentSpec.tool_fn``):
* scripted, from the golden row: ``input.tool_results: [{name, arguments?, result}]``; a call is
  answered by the first entry with its name whose ``arguments`` (if given) equal the call's;
* a Python function ``fn(name, arguments, sample_id) -> result`` the suite names (``module:function``);
* none matched: an ``is_error`` result saying so (the model sees it, as it would a failing tool).

:func:`arun_with_agents` runs plain requests (through :func:`~.runner.arun_requests`) and agent
samples together; :func:`run_agent_loops` is the synchronous entry the benchmarks use.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from eval_pipeline.inference.providers import Provider
from eval_pipeline.inference.runner import RunTiming, arun_requests
from eval_pipeline.inference.store import ResponseStore
from eval_pipeline.inference.types import ModelRequest, ModelResponse

ToolFn = Callable[[str, dict[str, Any], str], Any]


@dataclass
class AgentSpec:
    """How one sample's agent loop runs: at most ``max_steps`` model calls; tool results from
    ``scripted`` (the golden row's ``input.tool_results``) first, then ``tool_fn``."""

    max_steps: int = 5
    scripted: list[dict[str, Any]] = field(default_factory=list)
    tool_fn: ToolFn | None = None

    def result(self, name: str, arguments: dict[str, Any], sample_id: str) -> tuple[Any, bool]:
        """(result, is_error) of one call."""
        for entry in self.scripted:
            if entry.get("name") == name and ("arguments" not in entry or entry["arguments"] == arguments):
                return entry.get("result"), bool(entry.get("is_error", False))
        if self.tool_fn is not None:
            try:
                return self.tool_fn(name, arguments, sample_id), False
            except Exception as exc:  # noqa: BLE001 - a failing tool is a result the model sees
                return f"tool {name} failed: {type(exc).__name__}: {exc}", True
        return f"no result for {name}({json.dumps(arguments, sort_keys=True)})", True


def scripted_results(sample_input: Any) -> list[dict[str, Any]]:
    """The scripted tool results of a golden row's input (``input.tool_results``), or []."""
    if isinstance(sample_input, dict) and isinstance(sample_input.get("tool_results"), list):
        return sample_input["tool_results"]
    return []


def _content(result: Any) -> str:
    return result if isinstance(result, str) else json.dumps(result, ensure_ascii=False, sort_keys=True)


def next_request(request: ModelRequest, answer: ModelResponse, results: list[dict[str, Any]]) -> ModelRequest:
    """The request of the next step: the answer's tool_use blocks and the results appended."""
    blocks: list[dict[str, Any]] = [{"type": "text", "text": answer.text}] if answer.text else []
    blocks += [
        {"type": "tool_use", "id": c["id"], "name": c["name"], "input": c["arguments"]}
        for c in answer.tool_calls or []
    ]
    feedback = [
        {
            "type": "tool_result",
            "tool_use_id": r["id"],
            "content": r["content"],
            **({"is_error": True} if r["is_error"] else {}),
        }
        for r in results
    ]
    messages = [
        *request.messages,
        {"role": "assistant", "content": blocks},
        {"role": "user", "content": feedback},
    ]
    return replace(request, messages=messages)


async def arun_with_agents(
    provider: Provider,
    requests: Sequence[ModelRequest],
    specs: Sequence[AgentSpec | None],
    store: ResponseStore | None = None,
    **options: Any,
) -> list[ModelResponse]:
    """Answer ``requests`` in order: those whose spec is None with one call, the others through
    their agent loop. Runs in rounds: round n sends the n-th step of every sample still going (and,
    in round 0, every single-call request) through :func:`~.runner.arun_requests` with ``options``
    (store lookup, coalescing, retries budget, secret redaction, progress), so all samples' steps
    run concurrently and every step is stored the moment it arrives."""
    if len(specs) != len(requests):
        raise ValueError(f"arun_with_agents: {len(specs)} specs for {len(requests)} requests")
    options = dict(options)
    options.setdefault("timing", RunTiming())
    current: dict[int, ModelRequest] = dict(enumerate(requests))
    answers: dict[int, list[ModelResponse]] = {i: [] for i in range(len(requests))}
    steps: dict[int, list[dict[str, Any]]] = {i: [] for i in range(len(requests))}
    while current:
        order = sorted(current)
        got = await arun_requests(provider, [current[i] for i in order], store, **options)
        nxt: dict[int, ModelRequest] = {}
        for i, answer in zip(order, got):
            spec = specs[i]
            answers[i].append(answer)
            if spec is None:
                continue
            n = len(steps[i])
            step: dict[str, Any] = {
                "step": n,
                "cache_key": answer.cache_key,
                "text": answer.text,
                "tool_calls": answer.tool_calls or [],
                "stop_reason": answer.stop_reason,
                "error_category": answer.error_category,
            }
            steps[i].append(step)
            if answer.error_category or not answer.tool_calls or n + 1 >= spec.max_steps:
                continue
            results = []
            for c in answer.tool_calls:
                value, is_error = spec.result(c["name"], c["arguments"], requests[i].sample_id)
                results.append(
                    {"id": c["id"], "name": c["name"], "content": _content(value), "is_error": is_error}
                )
            step["tool_results"] = results
            nxt[i] = next_request(current[i], answer, results)
        current = nxt
    return [
        answers[i][0] if specs[i] is None else _combine(answers[i], steps[i]) for i in range(len(requests))
    ]


def _combine(answers: list[ModelResponse], steps: list[dict[str, Any]]) -> ModelResponse:
    last = answers[-1]
    calls = [c for a in answers for c in a.tool_calls or []]

    def total(attr: str) -> Any:
        values = [getattr(a, attr) for a in answers]
        return None if any(v is None for v in values) else sum(values)

    return replace(
        last,
        tool_calls=calls or None,
        trajectory=steps,
        latency_s=total("latency_s"),
        ttft_s=answers[0].ttft_s,
        input_tokens=sum(a.input_tokens for a in answers),
        output_tokens=sum(a.output_tokens for a in answers),
        cache_read_tokens=sum(a.cache_read_tokens for a in answers),
        cache_creation_tokens=sum(a.cache_creation_tokens for a in answers),
        cost_usd=sum(a.cost_usd for a in answers),
        attempts=sum(a.attempts for a in answers),
        cached=all(a.cached for a in answers),
        provenance=last.provenance,
    )


def run_agent_loops(
    provider: Provider,
    requests: Sequence[ModelRequest],
    specs: Sequence[AgentSpec | None],
    store: ResponseStore | None = None,
    **options: Any,
) -> list[ModelResponse]:
    """Synchronous :func:`arun_with_agents` (its own event loop; the provider is closed after)."""

    async def main() -> list[ModelResponse]:
        try:
            return await arun_with_agents(provider, requests, specs, store, **options)
        finally:
            await provider.aclose()

    return asyncio.run(main())


def import_tool_fn(spec: str, where: str) -> ToolFn:
    """``module:function`` -> the function; a ValueError naming ``where`` and the fix otherwise."""
    import importlib

    module, _, name = spec.partition(":")
    try:
        fn = getattr(importlib.import_module(module), name) if module and name else None
    except ImportError as exc:
        raise ValueError(
            f"{where}: cannot import {module!r} ({exc}); give 'package.module:function'"
        ) from None
    if not callable(fn):
        raise ValueError(f"{where}: {spec!r} is not a callable; give 'package.module:function'")
    return fn


def agent_specs(
    eval_set: Any, golden: Any, requests: Sequence[ModelRequest], where: str
) -> list[AgentSpec | None]:
    """One spec per request of an eval set (None for all when it has no ``agent:`` section); the
    scripted results come from each golden row's ``input.tool_results``."""
    agent = getattr(eval_set, "agent", None)
    if agent is None:
        return [None] * len(requests)
    fn = import_tool_fn(agent.tool_results, f"{where}: agent.tool_results") if agent.tool_results else None
    inputs = dict(zip(golden["sample_id"], golden["input"]))
    return [AgentSpec(agent.max_steps, scripted_results(inputs.get(r.sample_id)), fn) for r in requests]
