"""Fault-tolerance benchmark: the inference step under a realistic fault mix.

    python -m eval_pipeline_tests.benchmarks.faults [--samples 500] [--concurrency 32]

500 samples at C = 32, 250 ms server latency (separate server process), streaming. Fault mix per
request: 429 = 10% (retry-after 1 s), 529 = 5%, 500 = 5%, dropped connection = 2% (dropped after
the full latency, the costly case). First a fault-free run, then the same samples (fresh store)
with faults. Every sample must end with a response; completed answers must equal the fault-free
answers (an infrastructure error is never turned into a wrong answer); slowdown = faulted span /
fault-free span (target <= 1.5).

Last line: ``faults completed=<n> total=<N> slowdown=<x>``
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
from collections import Counter

from eval_pipeline.inference import (
    AnthropicProvider,
    ModelResponse,
    ResponseStore,
    RunTiming,
    arun_requests,
    summarize,
)
from eval_pipeline_tests.benchmarks.inference import API_KEY, MODEL, make_requests
from eval_pipeline_tests.support.servers.anthropic_server import (
    ServerProcess,
    remote_configure,
    remote_reset,
    remote_stats,
)

FAULT_MIX = {"rate_limit": 0.10, "overloaded": 0.05, "server_error": 0.05, "drop": 0.02}
PRICES = {MODEL: {"input": 1.0, "output": 5.0}}


async def one_run(base_url: str, n: int, c: int, tag: str) -> tuple[list[ModelResponse], float, str]:
    """One pass over the samples with a fresh store; returns responses, span and limiter state."""
    provider = AnthropicProvider(API_KEY, base_url=base_url, max_concurrency=c, stream=True, prices=PRICES)
    with tempfile.TemporaryDirectory() as d:
        store = ResponseStore(d)
        await provider.astart()
        timing = RunTiming()
        out = await arun_requests(provider, make_requests(n, tag), store, timing=timing)
        lim = provider.limiter
        limiter = f"concurrency limit min {lim.min_seen:.1f} / end {lim.limit:.1f} of {c}, {lim.decreases} decreases, peak in flight {lim.peak_in_flight}"
        await provider.aclose()
        store.close()
    assert timing.span_s is not None
    return out, timing.span_s, limiter


def main(argv: list[str] | None = None) -> None:
    """Run fault-free then faulted; print figures; last line is the summary."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--samples", type=int, default=500)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--latency", type=float, default=0.25)
    ap.add_argument("--retry-after", type=float, default=1.0)
    a = ap.parse_args(argv)
    n, c = a.samples, a.concurrency
    print(
        f"fault benchmark: {n} samples, C={c}, latency {a.latency * 1000:.0f} ms, fault mix {FAULT_MIX}, "
        f"retry-after {a.retry_after}s; load average at start {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores",
        flush=True,
    )
    with ServerProcess(
        api_key=API_KEY,
        latency_s=a.latency,
        ttft_fraction=0.3,
        retry_after_s=a.retry_after,
        drop_after_latency=True,
        seed=7,
    ) as server:
        clean, clean_span, _ = asyncio.run(one_run(server.base_url, n, c, "run"))
        clean_errors = sum(1 for r in clean if r.error_category)
        print(f"fault-free: span {clean_span:.3f}s, errors {clean_errors}", flush=True)
        remote_configure(server.base_url, fault_probabilities=FAULT_MIX)
        remote_reset(server.base_url)
        faulted, span, limiter = asyncio.run(one_run(server.base_url, n, c, "run"))
        stats = remote_stats(server.base_url)
    s = summarize(faulted)
    completed = sum(1 for r in faulted if r.error_category is None)
    answered = sum(1 for r in faulted if r is not None)
    wrong = sum(1 for r, ref in zip(faulted, clean) if r.error_category is None and r.text != ref.text)
    slowdown = span / clean_span
    print(f"server saw {stats['total']} requests: by status {stats['by_status']}, faults {stats['by_fault']}")
    print(
        f"faulted: span {span:.3f}s; responses {answered}/{n}; completed {completed}/{n}; "
        f"error categories {dict(Counter(r.error_category for r in faulted if r.error_category))}; retries {s['retries']}; "
        f"answers differing from the fault-free run {wrong} (target 0)"
    )
    print(f"adaptive limiter: {limiter}")
    print(f"slowdown {slowdown:.3f} (target <= 1.5; reference: Inspect AI 1.7x, promptfoo 17-25x)")
    print(f"faults completed={completed} total={n} slowdown={slowdown:.2f}")


if __name__ == "__main__":
    main()
