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
import importlib
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
class SimulatedUser:
    """A model playing the user (``model``, ``params``) towards ``goal`` for up to ``max_turns``
    assistant turns; it ends the conversation by answering :data:`DONE`."""

    model: str
    goal: str
    max_turns: int = 3
    params: dict[str, Any] = field(default_factory=dict)
    provider: Provider | None = None  # the user model's provider (None = the assistant's)


DONE = "[DONE]"
SIMULATED_USER_SYSTEM = (
    "You are simulating a customer who talks to a support assistant. Your goal: {goal}\n"
    "Write only the customer's next message, briefly. When the goal is reached, or cannot be "
    "reached, answer exactly " + DONE + "."
)


@dataclass
class AgentSpec:
    """How one sample's agent loop runs: at most ``max_steps`` model calls per assistant turn; tool
    results from ``scripted`` (the golden row's ``input.tool_results``) first, then ``tool_fn``;
    with ``simulate`` a simulated user answers each final assistant answer (a multi-turn conversation)."""

    max_steps: int = 5
    scripted: list[dict[str, Any]] = field(default_factory=list)
    tool_fn: ToolFn | None = None
    simulate: SimulatedUser | None = None

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
        results: list[dict[str, Any]] = sample_input["tool_results"]
        return results
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
    assistant: dict[
        int, ModelRequest
    ] = {}  # simulated conversations: the assistant request awaiting the user's turn
    while current:
        order = sorted(current)
        groups: dict[int, tuple[Provider, list[int]]] = {}  # by provider: the simulated users' may differ
        for i in order:
            sim = specs[i].simulate if specs[i] is not None and i in assistant else None  # type: ignore[union-attr]
            p = sim.provider if sim is not None and sim.provider is not None else provider
            groups.setdefault(id(p), (p, []))[1].append(i)
        parts = await asyncio.gather(
            *(arun_requests(p, [current[i] for i in idx], store, **options) for p, idx in groups.values())
        )
        by_index = {i: a for (_, idx), got in zip(groups.values(), parts) for i, a in zip(idx, got)}
        nxt: dict[int, ModelRequest] = {}
        for i, answer in ((i, by_index[i]) for i in order):
            spec = specs[i]
            answers[i].append(answer)
            if spec is None:
                continue
            if i in assistant:  # the simulated user's turn arrived
                follow = _after_user_turn(assistant.pop(i), answer, steps[i])
                if follow is not None:
                    nxt[i] = follow
                continue
            n = sum(1 for s in steps[i] if s.get("role") != "simulated_user")
            step: dict[str, Any] = {
                "step": n,
                "cache_key": answer.cache_key,
                "text": answer.text,
                "tool_calls": answer.tool_calls or [],
                "stop_reason": answer.stop_reason,
                "error_category": answer.error_category,
            }
            steps[i].append(step)
            in_turn = n - _turn_start(steps[i])
            if answer.error_category or not answer.tool_calls or in_turn + 1 >= spec.max_steps:
                sim = spec.simulate
                turns = sum(1 for s in steps[i] if s.get("final"))
                step["final"] = True
                if (
                    sim is not None
                    and not answer.error_category
                    and not answer.tool_calls
                    and turns + 1 < sim.max_turns
                ):
                    said = {"role": "assistant", "content": answer.text or ""}
                    assistant[i] = replace(current[i], messages=[*current[i].messages, said])
                    nxt[i] = user_request(requests[i].sample_id, sim, assistant[i])
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


def _turn_start(steps: list[dict[str, Any]]) -> int:
    """Index (among assistant steps) where the current assistant turn began."""
    assistant = [s for s in steps if s.get("role") != "simulated_user"]
    done = [k for k, s in enumerate(assistant[:-1]) if s.get("final")]
    return done[-1] + 1 if done else 0


def _flat_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "\n".join(
        b.get("text", "") for b in content or [] if isinstance(b, dict) and b.get("type") == "text"
    )


def user_request(sample_id: str, sim: SimulatedUser, conversation: ModelRequest) -> ModelRequest:
    """The simulated user's request: the conversation so far with the roles swapped (text only;
    tool blocks are the assistant's business), its goal in the system prompt."""
    flipped: list[dict[str, Any]] = [
        {"role": "user", "content": "(the assistant is ready; start or continue the chat)"}
    ]
    for m in conversation.messages:
        text = _flat_text(m.get("content"))
        if not text.strip():
            continue
        role = "user" if m["role"] == "assistant" else "assistant"
        if flipped[-1]["role"] == role:
            flipped[-1] = {"role": role, "content": flipped[-1]["content"] + "\n\n" + text}
        else:
            flipped.append({"role": role, "content": text})
    if flipped[-1]["role"] == "assistant":  # ends with the customer's own turn: nothing to answer
        flipped.append({"role": "user", "content": "(no answer yet)"})
    return ModelRequest(
        sample_id=sample_id,
        model=sim.model,
        messages=flipped,
        system=SIMULATED_USER_SYSTEM.format(goal=sim.goal),
        params=dict(sim.params),
        repeat=conversation.repeat,
        epoch=conversation.epoch,
    )


def _after_user_turn(
    conversation: ModelRequest, answer: ModelResponse, steps: list[dict[str, Any]]
) -> ModelRequest | None:
    """Record the simulated user's turn; the next assistant request, or None when it ended the chat."""
    text = (answer.text or "").strip()
    steps.append(
        {
            "role": "simulated_user",
            "cache_key": answer.cache_key,
            "text": text,
            "error_category": answer.error_category,
        }
    )
    if answer.error_category or not text or DONE in text:
        return None
    return replace(conversation, messages=[*conversation.messages, {"role": "user", "content": text}])


def _combine(answers: list[ModelResponse], steps: list[dict[str, Any]]) -> ModelResponse:
    user_keys = {s["cache_key"] for s in steps if s.get("role") == "simulated_user"}
    mine = [a for a in answers if a.cache_key not in user_keys] or answers
    last = mine[-1]
    calls = [c for a in mine for c in a.tool_calls or []]

    def total(attr: str) -> Any:
        values = [getattr(a, attr) for a in answers]
        return None if any(v is None for v in values) else sum(values)

    failed = next((a for a in answers if a.is_infra_error), None)  # e.g. the simulated user's call
    return replace(
        last,
        error_category=failed.error_category if failed else last.error_category,
        error_message=failed.error_message if failed else last.error_message,
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

    users = {
        id(s.simulate.provider): s.simulate.provider
        for s in specs
        if s and s.simulate and s.simulate.provider
    }

    async def main() -> list[ModelResponse]:
        try:
            return await arun_with_agents(provider, requests, specs, store, **options)
        finally:
            for p in [provider, *(u for u in users.values() if u is not provider)]:
                await p.aclose()

    return asyncio.run(main())


def import_tool_fn(spec: str, where: str) -> ToolFn:
    """``module:function`` -> the function; a ValueError naming ``where`` and the fix otherwise."""

    module, _, name = spec.partition(":")
    try:
        fn: ToolFn | None = getattr(importlib.import_module(module), name) if module and name else None
    except ImportError as exc:
        raise ValueError(
            f"{where}: cannot import {module!r} ({exc}); give 'package.module:function'"
        ) from None
    if not callable(fn):
        raise ValueError(f"{where}: {spec!r} is not a callable; give 'package.module:function'")
    return fn


def agent_specs(
    eval_set: Any,
    golden: Any,
    requests: Sequence[ModelRequest],
    where: str,
    registry: Any = None,
    provider_for: Callable[[Any], Provider] | None = None,
) -> list[AgentSpec | None]:
    """One spec per request of an eval set (None for all when it has neither ``agent:`` nor
    ``simulate:``); scripted results from each golden row's ``input.tool_results``, the simulated
    user's goal from ``simulate.goal_from``, its model and params from the registry's model version
    and its provider from ``provider_for(model_version)`` (None: the assistant's provider)."""
    agent, sim = getattr(eval_set, "agent", None), getattr(eval_set, "simulate", None)
    if agent is None and sim is None:
        return [None] * len(requests)
    fn = None
    if agent is not None and agent.tool_results:
        fn = import_tool_fn(agent.tool_results, f"{where}: agent.tool_results")
    rows = {
        r["sample_id"]: r for r in golden[["sample_id", "input", "metadata", "expected"]].to_dict("records")
    }
    user: Any = None  # the simulated user's model version
    user_provider: Any = None
    if sim is not None:
        try:
            user = registry.by_name(sim.user)
        except (AttributeError, KeyError, LookupError, ValueError):
            raise ValueError(
                f"{where}: simulate.user {sim.user!r} is not a model version of models.yaml"
            ) from None
    out: list[AgentSpec | None] = []
    for r in requests:
        row = rows.get(r.sample_id, {})
        simulated = None
        if sim is not None:
            head, _, key = sim.goal_from.partition(".")
            goal = row.get(head).get(key) if isinstance(row.get(head), dict) else None
            if not isinstance(goal, str) or not goal.strip():
                raise ValueError(
                    f"{where}, sample {r.sample_id}: no goal at {sim.goal_from} (simulate.goal_from)"
                )
            if user_provider is None and provider_for is not None:
                user_provider = provider_for(user)
            simulated = SimulatedUser(
                user.model, goal, sim.max_turns, user.params.api_params(), user_provider
            )
        out.append(
            AgentSpec(agent.max_steps if agent else 1, scripted_results(row.get("input")), fn, simulated)
        )
    return out
