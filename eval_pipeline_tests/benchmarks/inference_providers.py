"""The other providers and the agent loop, for :mod:`.inference` (which prints the summary line).

* :func:`provider_points`: N samples at concurrency C through each of the ``openai``, ``bedrock``,
  ``http`` and ``python`` providers (real ``openai`` SDK, real boto3, aiohttp, an ``async def``
  target) against its loopback server in a separate process (the python target sleeps in-process:
  it has no server), through the runner with a response store, streaming where the API streams.
  Span = first request sent -> last response stored; efficiency = ceil(N / C) x latency / span;
  the best of ``repeats`` runs.
* :func:`agent_ratio`: N samples through the agent loop (:func:`eval_pipeline.inference.agent.arun_with_agents`)
  with 3 tool-calling steps each (the server answers every step with a tool call; ``max_steps=3``)
  vs the same samples with one step (``max_steps=1``), Anthropic provider; ratio = wall time of the
  3-step loops / wall time of 1 step (ideal 3.0: the steps of one sample are sequential).
"""

from __future__ import annotations

import asyncio
import math
import os
import tempfile
import time
from collections.abc import Callable
from typing import Any

from eval_pipeline.inference import ModelRequest, ResponseStore, RunTiming, arun_requests
from eval_pipeline.inference.providers import Provider
from eval_pipeline_tests.support.tools import ORDER_LOOKUP

KEY = "bench-key"
AWS_KEY_ID = "AKIABENCHMARK"


async def _span(provider: Provider, requests: list[ModelRequest], store_dir: str) -> float:
    store = ResponseStore(store_dir)
    await provider.astart()
    timing = RunTiming()
    try:
        out = await arun_requests(provider, requests, store, timing=timing)
    finally:
        await provider.aclose()
        store.close()
    errors = [r for r in out if r.error_category]
    if errors:
        raise RuntimeError(
            f"{provider.name}: {len(errors)} errors, e.g. {errors[0].error_category}: {errors[0].error_message}"
        )
    assert timing.span_s is not None
    return timing.span_s


def _servers(latency: float) -> dict[str, Any]:
    from eval_pipeline_tests.support.servers.bedrock_server import BedrockServerProcess
    from eval_pipeline_tests.support.servers.http_app import SupportAppProcess
    from eval_pipeline_tests.support.servers.openai_server import OpenAIServerProcess

    common = {"latency_s": latency, "ttft_fraction": 0.3}
    return {
        "openai": OpenAIServerProcess(api_key=KEY, **common),
        "bedrock": BedrockServerProcess(api_key=AWS_KEY_ID, **common),
        "http": SupportAppProcess(api_key=KEY, **common),
    }


def _factory(name: str, base_url: str, c: int) -> Callable[[], Provider]:
    prices = {"bench-model": {"input": 1.0, "output": 5.0}}
    if name == "openai":
        from eval_pipeline.inference.openai_provider import OpenAIProvider

        return lambda: OpenAIProvider(KEY, base_url=f"{base_url}/v1", max_concurrency=c, prices=prices)
    if name == "bedrock":
        from eval_pipeline.inference.bedrock_provider import BedrockProvider

        os.environ.update(
            AWS_ACCESS_KEY_ID=AWS_KEY_ID, AWS_SECRET_ACCESS_KEY="bench-secret", AWS_REGION="us-east-1"
        )
        return lambda: BedrockProvider(
            endpoint_url=base_url, region="us-east-1", max_concurrency=c, prices=prices
        )
    if name == "http":
        from eval_pipeline.inference.http_provider import HttpProvider
        from eval_pipeline.project.endpoints import HttpEndpoint
        from eval_pipeline_tests.support.servers.http_app import ENDPOINT

        os.environ["SUPPORT_APP_TOKEN"] = KEY
        return lambda: HttpProvider(
            HttpEndpoint(url=f"{base_url}/chat", **ENDPOINT), max_concurrency=c, prices=prices
        )
    from eval_pipeline.inference.python_provider import PythonProvider

    return lambda: PythonProvider(
        "eval_pipeline_tests.support.targets:slow_router", max_concurrency=c, prices=prices
    )


def provider_points(
    make_requests: Callable[[int, str], list[ModelRequest]], n: int, c: int, latency: float, repeats: int
) -> dict[str, dict[str, float]]:
    """Efficiency of each provider at (N, C); prints one line per provider."""
    from eval_pipeline_tests.support import targets

    targets.LATENCY_S = latency
    out: dict[str, dict[str, float]] = {}
    ideal = math.ceil(n / c) * latency
    servers = _servers(latency)
    for name in ("openai", "bedrock", "http", "python"):
        proc = servers.get(name)
        if proc is not None:
            proc.__enter__()
        try:
            make = _factory(name, proc.base_url if proc else "", c)
            spans, cpu = [], []
            for rep in range(repeats):
                reqs = [_as_model(r, "bench-model") for r in make_requests(n, f"{name}{c}r{rep}")]
                t = os.times()
                with tempfile.TemporaryDirectory() as d:
                    spans.append(asyncio.run(_span(make(), reqs, d)))
                t2 = os.times()
                cpu.append((t2.user - t.user + t2.system - t.system) / n * 1000)
            best = min(spans)
            out[name] = {"span": best, "ideal": ideal, "eff": ideal / best}
            print(
                f"{name}: N={n} C={c} span {best:.3f}s (runs: {', '.join(f'{s:.3f}' for s in spans)}; client CPU "
                f"{min(cpu):.2f} ms/request), ideal {ideal:.3f}s, efficiency {ideal / best:.3f} (target >= 0.90)",
                flush=True,
            )
        finally:
            if proc is not None:
                proc.__exit__(None, None, None)
    return out


def _as_model(r: ModelRequest, model: str) -> ModelRequest:
    from dataclasses import replace

    return replace(r, model=model)


def agent_ratio(
    base_url: str, make_requests: Callable[[int, str], list[ModelRequest]], n: int, c: int, repeats: int
) -> dict[str, float]:
    """Wall time of 3-tool-step agent loops / one step, over the same samples (best of ``repeats``)."""
    from dataclasses import replace

    from eval_pipeline.inference import AnthropicProvider
    from eval_pipeline.inference.agent import AgentSpec, arun_with_agents
    from eval_pipeline_tests.support.servers.anthropic_server import remote_configure

    remote_configure(base_url, agent_tool_steps=3)
    walls: dict[int, list[float]] = {1: [], 3: []}
    try:
        for rep in range(repeats):
            for steps in (1, 3):
                reqs = [replace(r, tools=[ORDER_LOOKUP]) for r in make_requests(n, f"agent{steps}r{rep}")]
                provider = AnthropicProvider(KEY, base_url=base_url, max_concurrency=c)

                async def run(provider=provider, reqs=reqs, steps=steps) -> tuple[float, list[Any]]:
                    with tempfile.TemporaryDirectory() as d:
                        store = ResponseStore(d)
                        await provider.astart()
                        t0 = time.perf_counter()
                        out = await arun_with_agents(
                            provider, reqs, [AgentSpec(max_steps=steps)] * len(reqs), store
                        )
                        wall = time.perf_counter() - t0
                        await provider.aclose()
                        store.close()
                    return wall, out

                wall, out = asyncio.run(run())
                bad = [r for r in out if r.error_category or len(r.trajectory or []) != steps]
                if bad:
                    raise RuntimeError(
                        f"agent benchmark: {len(bad)} samples did not take {steps} steps cleanly"
                    )
                walls[steps].append(wall)
                print(
                    f"  agent loop N={n} C={c} steps={steps} repeat {rep + 1}: wall {wall:.3f}s", flush=True
                )
    finally:
        remote_configure(base_url, agent_tool_steps=1)
    one, three = min(walls[1]), min(walls[3])
    return {"one": one, "three": three, "ratio": three / one}
