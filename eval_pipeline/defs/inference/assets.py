"""Model inference: golden samples x model version -> one stored response per (sample, repeat).

The response store is consulted first, so re-materializing an unchanged partition makes no
API call and a run that died half-way only pays for what is missing. Every row carries its
``provenance`` (live / replay / synthetic); the metadata says when any answer was not live.
"""

import time

import dagster as dg

from eval_pipeline.defs.eval_partition import ProjectParam, partitioned_asset
from eval_pipeline.defs.metadata import as_metadata
from eval_pipeline.defs.resources import API_POOL, LLMResource
from eval_pipeline.inference import head_start, warmup
from eval_pipeline.inference.batches import BatchOptions
from eval_pipeline.inference.progress import emit_progress
from eval_pipeline.inference.provenance import write_stage_provenance
from eval_pipeline.inference.response_run import (
    plan_inference,
    response_figures,
    response_frame,
    run_plan,
    summary_markdown,
)
from eval_pipeline.inference.runner import ErrorRateExceeded, RunTiming, check_error_rate


class InferenceConfig(dg.Config):
    """Run config of ``model_responses``: ``batch`` overrides the model version's ``batch:`` (None = as
    registered); the batch poll interval and retry policy (see eval_pipeline/inference/batches.py)."""

    batch: bool | None = None
    batch_poll_interval_s: float = 30.0
    batch_retry_batches: int = 1
    batch_then_live: bool = True


def _answer(
    context, config: InferenceConfig, llm: LLMResource, p, plan, provider, store, timing, head
) -> list:
    """The partition's answers (:func:`~eval_pipeline.inference.response_run.run_plan`, or the command's
    :mod:`~eval_pipeline.inference.head_start` of this very plan): batch mode as configured, progress in the UI and
    the log; a replay without a recording fails the step."""
    try:
        if head is not None:
            return _taken(context, head)
        return run_plan(
            plan,
            provider,
            store,
            (p.wh.backend, p.date, p.mv_key),
            context.log.warning,
            progress=_progress_logger(context),
            timing=timing,
            batch=_batch_options(context, config, p.mv, provider),
            budget=llm.budget(),
        )
    except LookupError as e:  # ReplayMissError: the replay provider has no recording for some samples
        raise dg.Failure(str(e)) from e


def _taken(context: dg.AssetExecutionContext, head: head_start.HeadStart) -> list:
    """The head start's answers once the last arrives, with its warnings and last progress in this step's log."""
    responses = head.wait()
    for warning in head.warnings:
        context.log.warning(warning)
    if head.last_progress is not None:
        _progress_logger(context)(head.last_progress)
    return responses


def _store_note(store, head: head_start.HeadStart | None) -> str:
    """The store's size for the step's first log line (and that the requests started before the run, if they did)."""
    if head is None:
        return f"(store: {len(store)} entries)"
    return f"(store: {head.store_entries} entries; sent since the command started, before this run)"


def _announce(context: dg.AssetExecutionContext, message: str) -> None:
    """Log what the step will do; the process mostly waits on the network from here, so the later
    steps' libraries are imported meanwhile (:mod:`eval_pipeline.inference.warmup`)."""
    selected = context.run.asset_selection
    warmup.start(None if selected is None else [k.to_user_string() for k in selected])
    context.log.info(message)


def _progress_logger(context: dg.AssetExecutionContext):
    """A progress callback: the UI's progress event, and a log line at most every 5 s."""
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

    return progress


def _batch_options(
    context: dg.AssetExecutionContext, config: InferenceConfig, mv, provider
) -> BatchOptions | None:
    """Message Batches options when the run config or the model version asks for batch mode and the
    provider has it, else None (live calls)."""
    use_batch = mv.batch if config.batch is None else config.batch
    if use_batch and not provider.replay_only and not hasattr(provider, "batch_params"):
        context.log.warning(
            f"batch mode is for the anthropic provider (Message Batches); {mv.provider} answers live"
        )
        return None
    if not use_batch or getattr(provider, "replay_only", False):
        return None
    context.log.info(
        "batch mode: store misses go to the Message Batches API (half price; no latency/TTFT for those answers)"
    )
    return BatchOptions(
        poll_interval_s=config.batch_poll_interval_s,
        retry_batches=config.batch_retry_batches,
        then_live=config.batch_then_live,
        log=context.log.info,
    )


@partitioned_asset(group="inference", deps=["golden_samples"], kinds=("anthropic", "parquet"), pool=API_POOL)
def model_responses(
    context: dg.AssetExecutionContext, config: InferenceConfig, project: ProjectParam, llm: LLMResource
) -> dg.MaterializeResult:
    """One response per golden sample and repeat from the partition's model version, from the response store when it has the answer."""
    p = project.partition(context)
    date, mv_key, registry, mv = p.date, p.mv_key, p.project.registry, p.mv
    plan = plan_inference(
        p.golden(), p.eval_sets(), mv, date, registry, lambda user_mv: llm.provider_for(registry, user_mv)
    )
    provider = llm.provider_for(registry, mv)
    head = head_start.take(date, mv_key, plan.requests, llm, project.url)  # `eval-pipeline run` started them
    store = None if head is not None else llm.store(project.url)
    _announce(
        context,
        f"{mv_key} on {date}: {len(plan.requests)} requests via {provider.name} " + _store_note(store, head),
    )
    timing = head.timing if head is not None else RunTiming()
    responses = _answer(context, config, llm, p, plan, provider, store, timing, head)
    uri = p.write("responses", response_frame(plan, responses, date, mv_key, mv.config_hash()))
    numbers, detail, summary = response_figures(plan, responses, timing.api_calls, llm.recordings_label())
    batch_detail = {"batch": timing.batch.as_dict()} if timing.batch is not None else {}
    metadata = as_metadata(
        {**numbers, "provider": provider.name},
        json={**detail, **batch_detail},
        md={"summary": summary_markdown(summary)},
        paths={"path": uri},
    )
    write_stage_provenance(
        p.wh, "responses", date, mv_key, detail["answer_provenance"], llm.recordings_label()
    )
    if numbers["non_live_answers"]:
        context.log.warning(f"{mv_key} on {date}: {numbers['answers']}")
    try:
        check_error_rate(responses, p.project.suites[mv.suites[0]].error_rate_ceiling)
    except ErrorRateExceeded as e:
        # The responses (and every answer in the store) are kept; only the gate fails.
        raise dg.Failure(str(e), metadata=metadata) from e
    return dg.MaterializeResult(metadata=metadata)
