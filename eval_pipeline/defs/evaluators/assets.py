"""Evaluators: one asset per evaluator family, over ``eval_pipeline/evaluators`` and ``scoring/families.py``.

In: the partition's golden samples and model responses. Out: long-format score rows
(``eval_pipeline.project.schemas.SCORE_COLUMNS``) in ``keys.scores_partition(family, date, mv)``.
Every partition run writes its file, even when the model version has no eval set of that family,
so backfills never hang.
"""

import time
from functools import partial

import dagster as dg
import pandas as pd

from eval_pipeline import scoring
from eval_pipeline.defs.eval_partition import Partition, ProjectParam, partitioned_asset
from eval_pipeline.defs.resources import API_POOL, EmbeddingResource, LLMResource
from eval_pipeline.evaluators.judge.executor import store_executor
from eval_pipeline.evaluators.judge.tally import VerdictTally
from eval_pipeline.evaluators.metrics import top_failures
from eval_pipeline.inference.batches import BatchOptions
from eval_pipeline.inference.provenance import provenance_label, write_stage_provenance
from eval_pipeline.storage.claims import step_claim

GROUP = "evaluators"
family_asset = partial(partitioned_asset, group=GROUP, deps=["model_responses"])  # one asset per family
METRICS_SHOWN = (
    "pass_rate",
    "cosine_pass_rate",
    "mean_cosine",
    "accuracy",
    "macro_f1",
    "win_rate",
    "lc_win_rate",
    "panel_disagreements",
)
# judge bias controls per dimension: score vs length, length-adjusted mean, panel agreement (Krippendorff's alpha)
JUDGE_SUFFIXES = (".length_spearman", ".length_adjusted_mean", ".panel_alpha")


def _family_metadata(p: Partition, scores: pd.DataFrame, graded: pd.DataFrame, family: str, uri: str) -> dict:

    rows = []
    for suite, es in p.eval_sets(family):
        s = scores[(scores["suite"] == suite.name) & (scores["eval_set"] == es.name)]
        m = scoring.set_metrics(s, es)
        for name in (*METRICS_SHOWN, *sorted(k for k in m if k.endswith(JUDGE_SUFFIXES))):
            if name in m and m[name].get("value") is not None:
                v = m[name]
                ci = f"[{v['ci_low']:.3f}, {v['ci_high']:.3f}]" if v.get("ci_low") is not None else "-"
                flag = " (length bias: p < 0.05)" if v.get("length_bias") else ""
                rows.append(
                    {
                        "eval set": f"{suite.name}/{es.name}",
                        "metric": name + flag,
                        "value": round(v["value"], 4),
                        "95% CI": ci,
                        "n": v["n"],
                    }
                )
        infra = m.get("infra_error_count", {}).get("value") or 0
        if infra:
            rows.append(
                {
                    "eval set": f"{suite.name}/{es.name}",
                    "metric": "infra errors (excluded)",
                    "value": infra,
                    "95% CI": "-",
                    "n": m["infra_error_count"]["n"],
                }
            )
    md = (
        pd.DataFrame(rows).to_markdown(index=False)
        if rows
        else f"No {family} eval sets for this model version."
    )
    return {
        "dagster/row_count": len(scores),
        "metrics": dg.MetadataValue.md(md),
        "top_failures": dg.MetadataValue.md(
            top_failures(scores, graded, n=10) if len(scores) else "No scores."
        ),
        "path": dg.MetadataValue.path(uri),
    }


def _scored(p: Partition, family: str, scores: pd.DataFrame, graded: pd.DataFrame) -> dict:
    """Write the family's scores of the partition; their metadata."""
    uri = p.write("scores", scores, family=family)
    return _family_metadata(p, scores, graded, family, uri)


@family_asset(kinds=("python", "parquet"))
def deterministic_scores(context: dg.AssetExecutionContext, project: ProjectParam) -> dg.MaterializeResult:
    """Deterministic checks (JSON schema, label in set, exact match, regex, forbidden phrases...) per sample, with reasons."""
    p = project.partition(context)
    graded = p.graded()
    scores = scoring.score_deterministic_family(p.project, p.mv, graded, p.date, p.mv_key)
    return dg.MaterializeResult(metadata=_scored(p, "deterministic", scores, graded))


@family_asset(kinds=("pytorch", "parquet"))
def similarity_scores(
    context: dg.AssetExecutionContext, project: ProjectParam, embeddings: EmbeddingResource
) -> dg.MaterializeResult:
    """Cosine similarity of each response to its reference answer (sentence-transformers all-MiniLM-L6-v2, reference embeddings cached by content hash)."""
    p = project.partition(context)
    graded = p.graded()
    t0 = time.monotonic()
    factory = embeddings.scorer_factory(project.url)
    scores = scoring.score_similarity_family(p.project, p.mv, graded, p.date, p.mv_key, factory)
    encoded = sum(s.encoded_texts for s in factory.scorers.values())
    context.log.info(
        f"similarity: {len(scores)} rows in {time.monotonic() - t0:.1f}s, {encoded} texts encoded (rest from the embedding cache)"
    )
    md = _scored(p, "similarity", scores, graded)
    md["texts_encoded"] = encoded
    return dg.MaterializeResult(metadata=md)


class JudgeRunConfig(dg.Config):
    """Run config of ``judge_scores``: how often a judge with ``batch: true`` polls its Message Batches."""

    batch_poll_interval_s: float = 30.0


@family_asset(kinds=("anthropic", "parquet"), pool=API_POOL)
def judge_scores(
    context: dg.AssetExecutionContext, config: JudgeRunConfig, project: ProjectParam, llm: LLMResource
) -> dg.MaterializeResult:
    """LLM-as-judge scores of the responses (rubric medians over repeats, or pairwise wins against the baseline), unparseable verdicts counted."""
    p = project.partition(context)
    for warning in p.project.registry.warnings_for(p.mv.name):  # a judge of this version's own family
        context.log.warning(warning)
    graded = p.graded()
    prod = p.project.registry.production
    baseline = p.samples(prod.key) if prod is not None and prod.key != p.mv_key else None
    store, tally = llm.store(project.url), VerdictTally()

    def count(out):
        s = tally.record(out)
        context.log.info(
            f"judge: {len(out)} verdict requests, {s['cache_hits']} from store, {s['batch_answers']} by Message Batches"
        )

    batch = BatchOptions(poll_interval_s=config.batch_poll_interval_s, log=context.log.info)
    execute = store_executor(
        llm.judge_provider(p.project.registry), store, batch_options=batch, on_responses=count
    )
    try:
        with step_claim(p.wh.backend, "judge_scores", p.date, p.mv_key, log=context.log.warning):
            scores = scoring.score_judge_family(p.project, p.mv, graded, p.date, p.mv_key, execute, baseline)
            store.publish()
    except LookupError as e:
        raise dg.Failure(str(e)) from e
    md = {**_scored(p, "judge", scores, graded), **tally.figures()}
    if (split := tally.prompt_cache()) is not None:  # a judge with cache_prompt: true
        md["judge_prompt_cache"] = dg.MetadataValue.json(split)
    if (
        tally.provenance
    ):  # what produced the verdicts (live / replay / synthetic); eval_run reports it in run.json
        write_stage_provenance(p.wh, "judge", p.date, p.mv_key, tally.provenance, llm.recordings_label())
        md["judge_verdict_provenance"] = dg.MetadataValue.json(tally.provenance)
        md["judge_verdicts"] = provenance_label(tally.provenance, llm.recordings_label())
    return dg.MaterializeResult(metadata=md)
