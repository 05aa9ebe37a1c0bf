"""Cost benchmark: the demo suite's nightly requests priced live / live + caching / batch (+ caching).

    python -m eval_pipeline_tests.benchmarks.cost [--concurrency 16]

The production model version's nightly requests (deterministic + similarity eval sets of the demo
suite, as the ``model_responses`` asset builds them from the sampled golden sets) are sent four ways
to the Anthropic-compatible test server (in-process thread, no latency), through the real SDK:

* ``live``            - streaming calls, no cache markers
* ``live+cache``      - ``cache_prompt``: system prompt + the template's static prefix (the routing
                        label list) marked with ``cache_control``; concurrent requests that start
                        before the first cache write completes miss, as with the real API
* ``batch``           - Message Batches, no cache markers
* ``batch+cache``     - Message Batches with the cache markers

Costs come from the usage the server reports (its prefix cache: reads / writes of the marked
prefix, 4 characters per token) priced with ``data/models.yaml`` (cache read 0.1x, write 1.25x
input; batch answers at 0.5x). Targets: ``batch_ratio`` = batch / live = 0.5; caching cuts the
routing eval set's input cost (input + cache read + cache write tokens, priced) by >= 60%
(``cache_input_ratio`` <= 0.4). ``cache_hit_rate``: share of the routing eval set's live+cache
answers that read the cache. Caveat: the real API only caches prefixes above a per-model minimum
length (1,024-4,096 tokens depending on the model); the server caches any marked prefix.

Last line: ``cost batch_ratio=<x> cache_input_ratio=<y> cache_hit_rate=<z>``
"""

from __future__ import annotations

import argparse
import tempfile
import time

from eval_pipeline.inference import AnthropicProvider, ResponseStore, run_requests, summarize
from eval_pipeline.inference.batches import BatchOptions
from eval_pipeline.inference.prompts import build_requests
from eval_pipeline.ingestion.golden import decode_golden, golden_frame, read_golden_set, sample_in_file_order
from eval_pipeline.project.loader import load_project
from eval_pipeline_tests.support.servers.anthropic_server import AnthropicTestServer, ServerConfig

KEY = "bench-cost-key"
NIGHTLY_FAMILIES = ("deterministic", "similarity")
ROUTING = "intent_routing"


def nightly_requests(cache: bool):
    """(eval set name, requests) of the production version's nightly eval sets."""
    project = load_project()
    mv = project.registry.production
    mv = mv.model_copy(update={"cache_prompt": cache})
    mv._prompt_paths, mv._prompt_texts = (
        project.registry.production._prompt_paths,
        project.registry.production._prompt_texts,
    )
    out = []
    for suite, es in mv.eval_sets(project, NIGHTLY_FAMILIES):
        records = read_golden_set(
            es.source_path, es.file_format, es.fields, es.needs_expected, es.max_record_bytes
        )
        picked = sample_in_file_order(
            records, es.sample.n if es.sample else None, es.sample.seed if es.sample else 0
        )
        golden = decode_golden(golden_frame(suite.name, es.name, picked, str(es.source_path)))
        out.append((es.name, build_requests(golden, suite, es, mv, "2026-11-05")))
    return project, out


def input_cost(rows, price) -> float:
    return (
        sum(
            r.input_tokens * price["input"]
            + r.cache_read_tokens * price["cache_read"]
            + r.cache_creation_tokens * price["cache_write"]
            for r in rows
        )
        / 1e6
        * (0.5 if rows and rows[0].batch_id else 1.0)
    )


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--concurrency", type=int, default=16)
    args = ap.parse_args(argv)
    server = AnthropicTestServer(ServerConfig(api_key=KEY, latency_s=0.0)).start()
    results = {}
    try:
        for mode in ("live", "live+cache", "batch", "batch+cache"):
            project, plan = nightly_requests(cache=mode.endswith("cache"))
            prices = project.registry.price_table()
            server._cached_prefixes.clear()
            server.reset_stats()
            provider = AnthropicProvider(
                KEY, base_url=server.base_url, max_concurrency=args.concurrency, prices=prices
            )
            reqs = [r for _, rs in plan for r in rs]
            t0 = time.perf_counter()
            with tempfile.TemporaryDirectory() as store:
                out = run_requests(
                    provider,
                    reqs,
                    ResponseStore(store),
                    batch=BatchOptions(poll_interval_s=0.05) if mode.startswith("batch") else None,
                )
            wall = time.perf_counter() - t0
            by_set, i = {}, 0
            for name, rs in plan:
                by_set[name] = out[i : i + len(rs)]
                i += len(rs)
            price = next(iter(prices.values())) if len(prices) == 1 else prices[reqs[0].model]
            results[mode] = {
                "summary": summarize(out),
                "by_set": by_set,
                "wall": wall,
                "price": price,
                "batches": server.stats()["batches_created"],
            }
    finally:
        server.stop()

    live, lc, b, bc = (results[m] for m in ("live", "live+cache", "batch", "batch+cache"))
    n = live["summary"]["samples"]
    print(
        f"demo suite nightly requests: {n} ({', '.join(f'{k}={len(v)}' for k, v in live['by_set'].items())}), "
        f"model {next(iter(live['by_set'].values()))[0].model}, prices from data/models.yaml"
    )
    print(
        f"{'mode':<12} {'cost USD':>10} {'vs live':>8} {'input tok':>10} {'cache read':>10} {'cache write':>11} {'hit rate':>8} {'batches':>7} {'wall s':>7}"
    )
    for mode, r in results.items():
        s = r["summary"]
        hr = s["prompt_cache"]["hit_rate"] or 0.0
        print(
            f"{mode:<12} {s['cost_usd']:>10.6f} {s['cost_usd'] / live['summary']['cost_usd']:>8.3f} {s['input_tokens']:>10,} "
            f"{s['cache_read_tokens']:>10,} {s['cache_creation_tokens']:>11,} {hr:>8.1%} {r['batches']:>7} {r['wall']:>7.2f}"
        )
    batch_ratio = b["summary"]["cost_usd"] / live["summary"]["cost_usd"]
    both_ratio = bc["summary"]["cost_usd"] / live["summary"]["cost_usd"]
    routing_live = input_cost(live["by_set"][ROUTING], live["price"])
    routing_cache = input_cost(lc["by_set"][ROUTING], lc["price"])
    cache_input_ratio = routing_cache / routing_live
    routing_split = summarize(lc["by_set"][ROUTING])["prompt_cache"]
    hit = routing_split["hit_rate"] or 0.0
    lo, hi = routing_split["hit_rate_ci95"]
    print(f"batch / live cost: {batch_ratio:.3f} (target 0.5: the Message Batches discount; same usage)")
    print(f"batch+cache / live cost: {both_ratio:.3f} (discount and cache together)")
    print(
        f"routing eval set input cost, caching / none: {cache_input_ratio:.3f} (target <= 0.40, a >= 60% cut); "
        f"hit rate {hit:.1%} [{lo:.1%}, {hi:.1%}] n={routing_split['n']} at C={args.concurrency} "
        f"(the first concurrent wave misses); batch+cache routing hit rate "
        f"{(summarize(bc['by_set'][ROUTING])['prompt_cache']['hit_rate'] or 0):.1%}"
    )
    print(
        f"cost batch_ratio={batch_ratio:.3f} cache_input_ratio={cache_input_ratio:.3f} cache_hit_rate={hit:.3f}"
    )


if __name__ == "__main__":
    main()
