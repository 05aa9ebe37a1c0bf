"""Calibrations: how far the judge and the similarity threshold agree with human labels (unpartitioned).

In: the project's judge eval sets and similarity thresholds, the human-labelled files under
``data/calibration/`` and ``data/reviews/``. Out: ``keys.judge_calibration(model)`` per judge model
(read by ``eval_run``: judge thresholds block only when calibrated, for the judge versions - model +
rubric + prompt hash - listed in ``calibration_versions``; after a judge change the judge warns until
this asset re-runs, which the config-change sensor requests) and
``keys.similarity_calibration()``.
"""

import dagster as dg

from eval_pipeline import scoring
from eval_pipeline.defs.inference.assets import API_POOL
from eval_pipeline.defs.resources import EmbeddingResource, EvalConfigResource, LLMResource, WarehouseResource
from eval_pipeline.storage import keys

GROUP = "calibration"


@dg.asset(
    group_name=GROUP,
    kinds={"anthropic", "json"},
    pool=API_POOL,
    description="Agreement of each suite's judge with human ratings, and whether its thresholds may block.",
)
def judge_calibration(
    context: dg.AssetExecutionContext,
    eval_config: EvalConfigResource,
    warehouse: WarehouseResource,
    llm: LLMResource,
) -> dg.MaterializeResult:
    from eval_pipeline.evaluators import calibration
    from eval_pipeline.evaluators.judge.executor import store_executor
    from eval_pipeline.inference.batches import BatchOptions

    project, wh = eval_config.load(), warehouse.get()
    provider = llm.judge_provider(project.registry)
    store = llm.store(warehouse.resolved_url())
    judges = {}
    for suite in project.suites.values():
        for es in suite.eval_sets:
            if es.family == "judge":
                cfg = es.judge_config
                for model in cfg.judge_models:  # each member of a panel is calibrated on its own
                    judges.setdefault(model, (cfg.single(model), suite))
    versions = calibration.project_judge_versions(project)
    tables, summary = [], {}
    cal_dir = project.base / "calibration"
    from eval_pipeline.inference.provenance import provenance_counts, provenance_label

    all_prov: dict = {}
    review_summary: dict = {}
    for model, (cfg, suite) in sorted(judges.items()):  # noqa: B007
        datasets = [
            cal_dir / "sf_dialogue_nlg_ratings.jsonl",
            cal_dir / "llmbar_pairwise.jsonl",
            cal_dir / "human_preference_pairwise.jsonl",
        ]
        prov: dict = {}

        def count(out, prov=prov):
            for k, v in provenance_counts(r.provenance for r in out).items():
                prov[k] = prov.get(k, 0) + v

        execute = store_executor(
            provider, store, batch_options=BatchOptions(log=context.log.info), on_responses=count
        )

        try:
            result = calibration.run_calibration(
                execute, cfg, datasets, n=calibration_n(), seed=0, data_dir=cal_dir
            )
        except LookupError as e:
            raise dg.Failure(str(e)) from e
        # Every human label from the review loop (data/reviews/) joins as human_review/<dimension>;
        # entries with fewer than MIN_N_TO_DECIDE labels are reported, not used to decide blocking.
        from eval_pipeline.noise.review_calibration import deciding_metrics, review_calibration

        reviews = review_calibration(project.base, judge_model=model, project=project)
        result.metrics.update(reviews.metrics)
        ok, reasons = calibration.calibration_gate(
            deciding_metrics(result.metrics, reviews.reported_only),
            cfg.min_calibration,
            use=cfg.calibration_gate,
        )
        for k, v in prov.items():
            all_prov[k] = all_prov.get(k, 0) + v
        # Valid for these judge versions (model + rubric + prompt of each eval set using the judge): a change re-calibrates.
        payload = {
            "judge_model": model,
            "calibration_versions": versions.get(model, []),
            "calibration_gate": cfg.calibration_gate,
            "metrics": result.metrics,
            "reported_only": reviews.reported_only,
            "human_review": reviews.summary,
            "may_block": ok,
            "reasons": reasons,
            "judge_failures": result.judge_failures,
            "cost_usd": result.cost_usd,
            "verdict_provenance": prov,
            "live_verdicts_only": set(prov) <= {"live"},
            "verdicts": provenance_label(prov, llm.recordings_label()),
        }
        wh.write_bytes(keys.judge_calibration(model), scoring.dumps(payload), content_type="application/json")
        summary[model] = ok
        tables.append(
            f"### {model}: {'may block' if ok else 'warn only'} ({payload['verdicts']})\n"
            + ("\n".join(f"- {r}" for r in reasons) + "\n\n" if reasons else "\n")
            + calibration.metrics_table(result.metrics).round(3).to_markdown(index=False)
            + "\n\n"
            + reviews.markdown()
        )
        review_summary[model] = reviews.summary
    return dg.MaterializeResult(
        metadata={
            "calibration": dg.MetadataValue.md("\n\n".join(tables) or "No judge eval sets configured."),
            "judges_may_block": dg.MetadataValue.json(summary),
            "human_review": dg.MetadataValue.json(review_summary),
            "human_review_labels": sum(s["labels"] for s in review_summary.values()),
            "verdicts": provenance_label(all_prov, llm.recordings_label()),
            "verdict_provenance": dg.MetadataValue.json(all_prov),
            "live_verdicts_only": set(all_prov) <= {"live"},
        }
    )


def calibration_n() -> int:
    import os

    return int(os.environ.get("EVAL_CALIBRATION_N", "50"))


@dg.asset(
    group_name=GROUP,
    kinds={"pytorch", "json"},
    description="ROC AUC of MiniLM cosine on human-labelled paraphrase pairs and the threshold that best separates "
    "them (Youden's J): choose similarity thresholds from data.",
)
def similarity_calibration(
    context: dg.AssetExecutionContext,
    eval_config: EvalConfigResource,
    warehouse: WarehouseResource,
    embeddings: EmbeddingResource,
) -> dg.MaterializeResult:
    from eval_pipeline.evaluators import similarity_calibration

    project, wh = eval_config.load(), warehouse.get()
    configured = sorted(
        {
            es.similarity.threshold
            for s in project.suites.values()
            for es in s.eval_sets
            if es.family == "similarity"
        }
    ) or [0.85]
    scorer = embeddings.scorer(None, warehouse.resolved_url())
    cal = similarity_calibration.calibrate_similarity(
        scorer,
        project.base / "calibration" / "covid_question_similarity.jsonl",
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
