"""Model inference: golden samples x model version -> one stored response per (sample, repeat).

The response store is consulted first, so re-materializing an unchanged partition makes no
API call and a run that died half-way only pays for what is missing. Every row carries its
``provenance`` (live / replay / synthetic); the metadata says when any answer was not live.
"""

import time

import dagster as dg
import pandas as pd

from eval_pipeline.defs.eval_partition import partition, partitioned_asset
from eval_pipeline.defs.resources import EvalConfigResource, LLMResource, WarehouseResource
from eval_pipeline.inference import warmup
from eval_pipeline.inference.agent import agent_specs, run_agent_loops
from eval_pipeline.inference.progress import emit_progress
from eval_pipeline.inference.prompts import build_requests
from eval_pipeline.inference.runner import (
    ErrorRateExceeded,
    check_error_rate,
    prompt_cache_split,
    provenance_label,
    run_requests,
    summarize,
)
from eval_pipeline.inference.trajectory import response_table_row
from eval_pipeline.project.schemas import RESPONSE_KEY_COLUMNS
from eval_pipeline.storage.claims import step_claim

API_POOL = "anthropic_api"


class InferenceConfig(dg.Config):
    """Run config of ``model_responses``: ``batch`` overrides the model version's ``batch:`` (None = as
    registered); the batch poll interval and retry policy (see eval_pipeline/inference/batches.py)."""

    batch: bool | None = None
    batch_poll_interval_s: float = 30.0
    batch_retry_batches: int = 1
    batch_then_live: bool = True


def _fmt(x, spec=".3f"):
    return "-" if x is None else format(x, spec)


def _per_plan(plan, responses, fn):
    """``fn`` over each plan entry's slice of ``responses`` (the plan's order)."""
    out, i = [], 0
    for *_, reqs in plan:
        out.append(fn(responses[i : i + len(reqs)]))
        i += len(reqs)
    return out


def _summary_md(summary: dict) -> str:
    lat, ttft = summary.get("latency_s", {}), summary.get("ttft_s", {})
    rows = [
        ("samples", summary.get("samples")),
        ("api calls", summary.get("api_calls", "-")),
        ("cache hits", summary.get("cache_hits")),
        ("latency p50 / p95 / p99 (s)", " / ".join(_fmt(lat.get(k)) for k in ("p50", "p95", "p99"))),
        ("TTFT p50 / p95 / p99 (s)", " / ".join(_fmt(ttft.get(k)) for k in ("p50", "p95", "p99"))),
        (
            "input / output tokens",
            f"{summary.get('input_tokens', 0):,} / {summary.get('output_tokens', 0):,}",
        ),
        ("cost (USD, incl. cached)", _fmt(summary.get("cost_usd"), ".4f")),
        (
            "errors by category",
            ", ".join(f"{k}={v}" for k, v in summary.get("errors_by_category", {}).items()) or "none",
        ),
        (
            "answer provenance",
            ", ".join(f"{k}={v}" for k, v in summary.get("answer_provenance", {}).items()) or "-",
        ),
        ("batch answers (no latency/TTFT measured)", summary.get("batch_answers", 0)),
        ("prompt cache hit rate (n)", _cache_cell(summary.get("prompt_cache") or {})),
        (
            "latency p50 cache hit / miss (s)",
            " / ".join(
                _fmt((summary.get("prompt_cache") or {}).get(k))
                for k in ("latency_p50_hit", "latency_p50_miss")
            ),
        ),
        (
            "TTFT p50 cache hit / miss (s)",
            " / ".join(
                _fmt((summary.get("prompt_cache") or {}).get(k)) for k in ("ttft_p50_hit", "ttft_p50_miss")
            ),
        ),
    ]
    return "| | |\n|---|---|\n" + "\n".join(f"| {a} | {b} |" for a, b in rows)


def _cache_cell(c: dict) -> str:
    if not c.get("n"):
        return "-"
    lo, hi = c["hit_rate_ci95"]
    return f"{c['hit_rate']:.1%} [{lo:.1%}, {hi:.1%}] (n={c['n']})"


@partitioned_asset(
    group="inference",
    deps=["golden_samples"],
    kinds=("anthropic", "parquet"),
    pool=API_POOL,
    description="One response per golden sample and repeat from the partition's model version, from the response store when it has the answer.",
)
def model_responses(
    context: dg.AssetExecutionContext,
    config: InferenceConfig,
    eval_config: EvalConfigResource,
    warehouse: WarehouseResource,
    llm: LLMResource,
) -> dg.MaterializeResult:
    p = partition(context, eval_config, warehouse)
    date, mv_key, project, wh, mv = p.date, p.mv_key, p.project, p.wh, p.mv
    golden = p.golden()

    plan = []  # (suite, eval_set, prompt_hash, requests)
    specs = []  # an AgentSpec per request of an eval set with an agent loop, else None
    for suite, es in p.eval_sets():
        g = golden[(golden["suite"] == suite.name) & (golden["eval_set"] == es.name)]
        if g.empty:
            continue
        reqs = build_requests(g, suite, es, mv, date)
        plan.append((suite.name, es.name, mv.prompt_hash(es.task), reqs))
        specs += agent_specs(
            es,
            g,
            reqs,
            f"{suite.file}: eval set {es.name}",
            project.registry,
            lambda user_mv: llm.provider_for(project.registry, user_mv),
        )
    requests = [r for *_, reqs in plan for r in reqs]

    provider = llm.provider_for(project.registry, mv)
    store = llm.store(warehouse.resolved_url())
    # The process mostly waits on the network from here: import the later steps' libraries meanwhile.
    selected = context.run.asset_selection
    warmup.start(None if selected is None else [k.to_user_string() for k in selected])
    context.log.info(
        f"{mv_key} on {date}: {len(requests)} requests via {provider.name} (store: {len(store)} entries)"
    )
    last_log = [0.0]

    def progress(p):
        emit_progress("model_responses", p)
        now = time.monotonic()
        if now - last_log[0] > 5 or p.done == p.total:
            last_log[0] = now
            context.log.info(
                f"inference {p.done}/{p.total} done, {p.cache_hits} from store, {p.in_flight} in flight, "
                f"{p.retried} retried, {p.errors} errors, {p.elapsed_s:.1f}s"
            )

    from eval_pipeline.inference.runner import RunTiming

    timing = RunTiming()
    use_batch = mv.batch if config.batch is None else config.batch
    if use_batch and not provider.replay_only and not hasattr(provider, "batch_params"):
        context.log.warning(
            f"batch mode is for the anthropic provider (Message Batches); {mv.provider} answers live"
        )
        use_batch = False
    batch = None
    if use_batch and not getattr(provider, "replay_only", False):
        from eval_pipeline.inference.batches import BatchOptions

        batch = BatchOptions(
            poll_interval_s=config.batch_poll_interval_s,
            retry_batches=config.batch_retry_batches,
            then_live=config.batch_then_live,
            log=context.log.info,
        )
        context.log.info(
            "batch mode: store misses go to the Message Batches API (half price; no latency/TTFT for those answers)"
        )
    try:
        # One process at a time per partition (a second waits, then finds every answer in the store).
        with step_claim(wh.backend, "model_responses", date, mv_key, log=context.log.warning):
            if any(specs):  # agent loops (not batched: each step needs the one before)
                responses = run_agent_loops(
                    provider, requests, specs, store, progress=progress, timing=timing, budget=llm.budget()
                )
            else:
                responses = run_requests(
                    provider,
                    requests,
                    store,
                    progress=progress,
                    timing=timing,
                    batch=batch,
                    budget=llm.budget(),
                )
            store.publish()
    except LookupError as e:  # ReplayMissError: the replay provider has no recording for some samples
        raise dg.Failure(str(e)) from e

    rows, i = [], 0
    config_hash = mv.config_hash()
    for suite_name, es_name, prompt_hash, reqs in plan:
        for _ in reqs:
            row = response_table_row(responses[i])
            row.update(
                date=date,
                model_version=mv_key,
                suite=suite_name,
                eval_set=es_name,
                config_hash=config_hash,
                prompt_hash=prompt_hash,
            )
            rows.append(row)
            i += 1
    df = pd.DataFrame(rows)
    df = df[RESPONSE_KEY_COLUMNS + [c for c in df.columns if c not in RESPONSE_KEY_COLUMNS]]
    uri = p.write("responses", df)

    summary = summarize(responses)
    summary["api_calls"] = timing.api_calls
    cache_by_template = {
        f"{es_name} ({prompt_hash})": split
        for (_, es_name, prompt_hash, _), split in zip(plan, _per_plan(plan, responses, prompt_cache_split))
    }
    metadata = {
        "batch_answers": int(summary.get("batch_answers", 0)),
        "prompt_cache_hit_rate": float(summary["prompt_cache"]["hit_rate"] or 0.0),
        "prompt_cache": dg.MetadataValue.json(
            {"all": summary["prompt_cache"], "by_prompt_template": cache_by_template}
        ),
        **({"batch": dg.MetadataValue.json(timing.batch.as_dict())} if timing.batch is not None else {}),
        "dagster/row_count": len(df),
        "samples": len(df),
        "api_calls": timing.api_calls,
        "cache_hits": int(summary.get("cache_hits", 0)),
        "cost_usd": float(summary.get("cost_usd") or 0.0),
        "latency_p95_s": float(summary.get("latency_s", {}).get("p95") or 0.0),
        "ttft_p95_s": float(summary.get("ttft_s", {}).get("p95") or 0.0),
        "summary": dg.MetadataValue.md(_summary_md(summary)),
        "path": dg.MetadataValue.path(uri),
        "provider": provider.name,
        "answer_provenance": dg.MetadataValue.json(summary["answer_provenance"]),
        "answers": provenance_label(summary["answer_provenance"], llm.recordings_label()),
        "non_live_answers": int(len(df) - summary["answer_provenance"].get("live", 0)),
    }
    from eval_pipeline.inference.provenance import write_stage_provenance

    write_stage_provenance(
        wh, "responses", date, mv_key, summary["answer_provenance"], llm.recordings_label()
    )
    if metadata["non_live_answers"]:
        context.log.warning(f"{mv_key} on {date}: {metadata['answers']}")
    try:
        check_error_rate(responses, project.suites[mv.suites[0]].error_rate_ceiling)
    except ErrorRateExceeded as e:
        # The responses (and every answer in the store) are kept; only the gate fails.
        raise dg.Failure(str(e), metadata=metadata) from e
    return dg.MaterializeResult(metadata=metadata)
