"""Calibrations: how far the judge and the similarity threshold agree with human labels (unpartitioned).

In: the project's judge eval sets and similarity thresholds, the human-labelled files under
``data/calibration/`` and ``data/reviews/``. Out: ``keys.judge_calibration(model)`` per judge model
(read by ``eval_run``: judge thresholds block only when calibrated, for the judge versions - model +
rubric + prompt hash - listed in ``calibration_versions``; after a judge change the judge warns until
this asset re-runs, which the config-change sensor requests) and
``keys.similarity_calibration()``.
"""

import os

import dagster as dg

from eval_pipeline import scoring
from eval_pipeline.defs.eval_partition import ProjectParam
from eval_pipeline.defs.metadata import as_metadata
from eval_pipeline.defs.resources import API_POOL, EmbeddingResource, LLMResource
from eval_pipeline.evaluators import calibration
from eval_pipeline.evaluators import similarity_calibration as similarity_calibration_module
from eval_pipeline.evaluators.calibration_step import ProvenanceCounter, calibrate_judge, project_judges
from eval_pipeline.evaluators.judge.executor import store_executor
from eval_pipeline.inference.batches import BatchOptions
from eval_pipeline.inference.provenance import provenance_label
from eval_pipeline.storage import keys

GROUP = "calibration"


@dg.asset(group_name=GROUP, kinds={"anthropic", "json"}, pool=API_POOL)
def judge_calibration(
    context: dg.AssetExecutionContext, project: ProjectParam, llm: LLMResource
) -> dg.MaterializeResult:
    """Agreement of each suite's judge with human ratings, and whether its thresholds may block."""
    loaded, wh = project.load(), project.wh()
    provider, store = llm.judge_provider(loaded.registry), llm.store(project.url)
    versions = calibration.project_judge_versions(loaded)
    sections, may_block, review_summary = [], {}, {}
    all_prov: dict[str, int] = {}
    for model, (cfg, _suite) in sorted(project_judges(loaded).items()):
        counter = ProvenanceCounter()
        execute = store_executor(
            provider, store, batch_options=BatchOptions(log=context.log.info), on_responses=counter
        )
        try:
            payload, section = calibrate_judge(
                model,
                cfg,
                loaded,
                execute,
                counter.counts,
                versions.get(model, []),
                calibration_n(),
                llm.recordings_label(),
            )
        except LookupError as e:
            raise dg.Failure(str(e)) from e
        wh.write_bytes(keys.judge_calibration(model), scoring.dumps(payload), content_type="application/json")
        for k, v in counter.counts.items():
            all_prov[k] = all_prov.get(k, 0) + v
        sections.append(section)
        may_block[model], review_summary[model] = payload["may_block"], payload["human_review"]
    values = {
        "human_review_labels": sum(s["labels"] for s in review_summary.values()),
        "verdicts": provenance_label(all_prov, llm.recordings_label()),
        "live_verdicts_only": set(all_prov) <= {"live"},
    }
    json = {"judges_may_block": may_block, "human_review": review_summary, "verdict_provenance": all_prov}
    md = {"calibration": "\n\n".join(sections) or "No judge eval sets configured."}
    return dg.MaterializeResult(metadata=as_metadata(values, json=json, md=md))


def calibration_n() -> int:

    return int(os.environ.get("EVAL_CALIBRATION_N", "50"))


@dg.asset(group_name=GROUP, kinds={"pytorch", "json"})
def similarity_calibration(
    context: dg.AssetExecutionContext, project: ProjectParam, embeddings: EmbeddingResource
) -> dg.MaterializeResult:
    """ROC AUC of MiniLM cosine on human-labelled paraphrase pairs and the threshold that best separates them (Youden's J): choose similarity thresholds from data."""
    loaded, wh = project.load(), project.wh()
    configured = sorted(
        {
            es.similarity.threshold
            for s in loaded.suites.values()
            for es in s.eval_sets
            if es.family == "similarity"
        }
    ) or [0.85]
    scorer = embeddings.scorer(None, project.url)
    cal = similarity_calibration_module.calibrate_similarity(
        scorer,
        loaded.base / "calibration" / "covid_question_similarity.jsonl",
        configured_threshold=configured[0],
    )
    payload = cal.to_dict()
    uri = wh.write_bytes(
        keys.similarity_calibration(), scoring.dumps(payload), content_type="application/json"
    )
    return dg.MaterializeResult(
        metadata={
            "roc_auc": float(cal.auc),
            "best_threshold": float(payload.get("best_threshold", float("nan"))),
            "report": dg.MetadataValue.md(cal.to_markdown()),
            "path": dg.MetadataValue.path(uri),
        }
    )
