"""A/A noise floor and the human review queue: thin assets over ``eval_pipeline/noise/floor.py``.

In: the partition's golden samples (A/A) or its judge and similarity scores (review). Out:
``keys.noise_report(date, mv)`` and ``keys.review_file(date, mv)``. Group ``noise``.

* ``aa_noise_floor``: two fresh runs of the same model version, their disagreement
  and difference bands, and the check ``thresholds_clear_noise_floor``.
* ``review_queue``: judge samples worth a human look, exported as JSONL.
"""

import dagster as dg
import pandas as pd

from eval_pipeline.defs.eval_partition import ProjectParam, partition, partitioned_asset
from eval_pipeline.defs.resources import API_POOL, EmbeddingResource, LLMResource, WarehouseResource
from eval_pipeline.history.alert_rules import AlertRules
from eval_pipeline.inference.runner import run_requests
from eval_pipeline.noise import floor as nf

GROUP = "noise"


@partitioned_asset(group=GROUP, deps=["golden_samples"], kinds=("anthropic", "json"), pool=API_POOL)
def aa_noise_floor(
    context: dg.AssetExecutionContext, project: ProjectParam, llm: LLMResource, embeddings: EmbeddingResource
) -> dg.MaterializeResult:
    """The A/A noise floor of the production model version: how much two runs of the same version differ by chance, per metric."""
    p = project.partition(context)
    date, mv_key = p.date, p.mv_key
    golden = p.golden()
    provider = llm.provider_for(p.project.registry, p.mv)
    store = llm.store(project.url)
    factory = embeddings.scorer_factory(project.url)
    try:
        run = nf.run_aa(
            p.project, p.mv, golden, date, mv_key, lambda reqs: run_requests(provider, reqs, store), factory
        )
    except LookupError as e:  # ReplayMissError: no A/A recordings
        raise dg.Failure(
            f"A/A run needs fresh model answers (the demo recordings have none for the aa:<date>:A/B epochs; "
            f"use provider anthropic with ANTHROPIC_API_KEY): {e}"
        ) from None
    noise = nf.noise_frame(run)
    report = nf.noise_threshold_report(p.project, p.mv, noise, run)
    uri = p.write_json(nf.noise_key(date, mv_key), nf.noise_payload(date, mv_key, noise, report, run))
    context.log.info(
        f"A/A {mv_key} on {date}: {run.requests} requests ({run.cache_hits} from store), {len(noise)} metrics"
    )
    return dg.MaterializeResult(metadata=_aa_metadata(noise, report, run, uri))


def _aa_metadata(noise: pd.DataFrame, report: pd.DataFrame, run: nf.AARun, uri: str) -> dict:
    overall = noise[noise["metric"].isin([nf.COMPOSITE_PASS_METRIC, "cosine"])] if len(noise) else noise
    return {
        "disagreement_rate": float(overall["disagreement_rate"].mean()) if len(overall) else 0.0,
        "max_diff_q95_pts": float(noise["diff_q95"].max() * 100) if len(noise) else 0.0,
        "noise_floor": dg.MetadataValue.md(nf.noise_markdown(noise)),
        "too_noisy": dg.MetadataValue.md(nf.too_noisy_summary(report)),
        "requests": run.requests,
        "cache_hits": run.cache_hits,
        "path": dg.MetadataValue.path(uri),
    }


@dg.asset_check(
    asset=aa_noise_floor,
    description=f"WARN when a regression minimum effect, the pass-rate-drop alert ({AlertRules().pass_rate_drop * 100:g} points) or a gated threshold sits inside the 95% A/A noise band.",
)
def thresholds_clear_noise_floor(
    context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource
) -> dg.AssetCheckResult:
    p = partition(context, None, warehouse)
    data = p.read_json(nf.noise_key(p.date, p.mv_key))
    report = pd.DataFrame(data["thresholds"])
    bad = nf.inside_noise(report)
    return dg.AssetCheckResult(
        passed=bad.empty,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "too_noisy_eval_sets": ", ".join(data["too_noisy"]) or "none",
            "n_thresholds_inside_noise": len(bad),
            "details": dg.MetadataValue.md(nf.too_noisy_summary(report)),
        },
    )


@partitioned_asset(group=GROUP, deps=["judge_scores", "similarity_scores"], kinds=("json",))
def review_queue(context: dg.AssetExecutionContext, project: ProjectParam) -> dg.MaterializeResult:
    """Samples worth a human look (judge repeats or judges disagree, low margin, judge and similarity disagree), exported for labelling."""
    p = project.partition(context)
    date, mv_key = p.date, p.mv_key
    judge_rows, sim_rows = p.read("scores", family="judge"), p.read("scores", family="similarity")
    graded = p.graded() if len(judge_rows) else pd.DataFrame()
    prod = (
        p.project.registry.production
    )  # a pairwise eval set's answer B: the baseline's, as judge_scores used
    baseline = p.samples(prod.key) if prod is not None and prod.key != mv_key and len(judge_rows) else None
    items = nf.review_items(p.project, p.mv, graded, judge_rows, sim_rows, baseline)
    uri = p.wh.write_bytes(
        nf.review_key(date, mv_key), nf.export_review_bytes(items), content_type="application/x-ndjson"
    )
    counts = nf.reason_counts(items)
    context.log.info(f"review queue {mv_key} on {date}: {len(items)} item(s) {counts}")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(items),
            "by_reason": dg.MetadataValue.json(counts),
            "preview": dg.MetadataValue.md(nf.review_preview(items)),
            "path": dg.MetadataValue.path(uri),
        }
    )
