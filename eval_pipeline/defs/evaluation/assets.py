"""Evaluation: one asset per evaluator family, the run artifact with its quality gate, calibrations.

Scores are long-format rows (``eval_pipeline.project.schemas.SCORE_COLUMNS``) written to
``scores/family=<f>/date=<d>/model_version=<mv>/data.parquet``. Every partition run writes its
file, even when the model version has no eval set of that family, so backfills never hang.
"""
import time

import dagster as dg
import pandas as pd

from eval_pipeline import scoring
from eval_pipeline.project import versions
from eval_pipeline.defs.inference.assets import API_POOL
from eval_pipeline.defs.partitions import EVAL_PARTITIONS, partition_parts
from eval_pipeline.defs.resources import EmbeddingResource, EvalConfigResource, LLMResource, WarehouseResource
from eval_pipeline.ingestion.golden import decode_golden

GROUP = "evaluation"


def _graded(wh, date: str, mv_key: str) -> pd.DataFrame:
    part = {"date": date, "model_version": mv_key}
    golden, responses = wh.read_table("golden", part), wh.read_table("responses", part)
    if golden.empty or responses.empty:
        raise dg.Failure(f"no golden samples or responses for {mv_key} on {date}: materialize golden_samples and model_responses first")
    return scoring.graded_samples(decode_golden(golden), responses)


def _family_metadata(project, mv, scores: pd.DataFrame, graded: pd.DataFrame, family: str, uri: str) -> dict:
    from eval_pipeline.evaluators.metrics import top_failures

    rows = []
    for suite, es in mv.eval_sets(project, family):
        s = scores[(scores["suite"] == suite.name) & (scores["eval_set"] == es.name)]
        m = scoring.set_metrics(s, es)
        for name in ("pass_rate", "cosine_pass_rate", "mean_cosine", "accuracy", "macro_f1", "win_rate"):
            if name in m and m[name].get("value") is not None:
                v = m[name]
                ci = f"[{v['ci_low']:.3f}, {v['ci_high']:.3f}]" if v.get("ci_low") is not None else "-"
                rows.append({"eval set": f"{suite.name}/{es.name}", "metric": name, "value": round(v["value"], 4), "95% CI": ci, "n": v["n"]})
        infra = m.get("infra_error_count", {}).get("value") or 0
        if infra:
            rows.append({"eval set": f"{suite.name}/{es.name}", "metric": "infra errors (excluded)", "value": infra, "95% CI": "-", "n": m["infra_error_count"]["n"]})
    md = pd.DataFrame(rows).to_markdown(index=False) if rows else f"No {family} eval sets for this model version."
    return {
        "dagster/row_count": len(scores),
        "metrics": dg.MetadataValue.md(md),
        "top_failures": dg.MetadataValue.md(top_failures(scores, graded, n=10) if len(scores) else "No scores."),
        "path": dg.MetadataValue.path(uri),
    }


def _write_scores(wh, family: str, date: str, mv_key: str, df: pd.DataFrame) -> str:
    return wh.write_table("scores", df, {"family": family, "date": date, "model_version": mv_key})


@dg.asset(
    partitions_def=EVAL_PARTITIONS,
    deps=["model_responses"],
    group_name=GROUP,
    kinds={"python", "parquet"},
    description="Deterministic checks (JSON schema, label in set, exact match, regex, forbidden phrases...) per sample, with reasons.",
)
def deterministic_scores(context: dg.AssetExecutionContext, eval_config: EvalConfigResource, warehouse: WarehouseResource) -> dg.MaterializeResult:
    date, mv_key = partition_parts(context)
    project, wh = eval_config.load(), warehouse.get()
    mv = versions.resolve(project, wh, mv_key)
    graded = _graded(wh, date, mv_key)
    scores = scoring.score_deterministic_family(project, mv, graded, date, mv_key)
    uri = _write_scores(wh, "deterministic", date, mv_key, scores)
    return dg.MaterializeResult(metadata=_family_metadata(project, mv, scores, graded, "deterministic", uri))


@dg.asset(
    partitions_def=EVAL_PARTITIONS,
    deps=["model_responses"],
    group_name=GROUP,
    kinds={"pytorch", "parquet"},
    description="Cosine similarity of each response to its reference answer (sentence-transformers all-MiniLM-L6-v2, "
    "reference embeddings cached by content hash).",
)
def similarity_scores(
    context: dg.AssetExecutionContext, eval_config: EvalConfigResource, warehouse: WarehouseResource, embeddings: EmbeddingResource
) -> dg.MaterializeResult:
    date, mv_key = partition_parts(context)
    project, wh = eval_config.load(), warehouse.get()
    mv = versions.resolve(project, wh, mv_key)
    graded = _graded(wh, date, mv_key)
    t0 = time.monotonic()
    scorers = {}

    def factory(model_path):
        key = model_path or embeddings.model_path or None
        if key not in scorers:
            scorers[key] = embeddings.scorer(key, warehouse.resolved_url())
        return scorers[key]

    scores = scoring.score_similarity_family(project, mv, graded, date, mv_key, factory)
    encoded = sum(s.encoded_texts for s in scorers.values())
    context.log.info(f"similarity: {len(scores)} rows in {time.monotonic() - t0:.1f}s, {encoded} texts encoded (rest from the embedding cache)")
    uri = _write_scores(wh, "similarity", date, mv_key, scores)
    md = _family_metadata(project, mv, scores, graded, "similarity", uri)
    md["texts_encoded"] = encoded
    return dg.MaterializeResult(metadata=md)


@dg.asset(
    partitions_def=EVAL_PARTITIONS,
    deps=["model_responses"],
    group_name=GROUP,
    kinds={"anthropic", "parquet"},
    pool=API_POOL,
    description="LLM-as-judge rubric scores (median of repeats, spread) or pairwise wins against the production "
    "baseline (both orders). Verdicts via tool use; unparseable verdicts are counted, never dropped.",
)
def judge_scores(
    context: dg.AssetExecutionContext, eval_config: EvalConfigResource, warehouse: WarehouseResource, llm: LLMResource
) -> dg.MaterializeResult:
    from eval_pipeline.inference.runner import run_requests, summarize

    date, mv_key = partition_parts(context)
    project, wh = eval_config.load(), warehouse.get()
    mv = versions.resolve(project, wh, mv_key)
    graded = _graded(wh, date, mv_key)
    baseline = None
    prod = project.registry.production
    if prod is not None and prod.key != mv_key:
        part = {"date": date, "model_version": prod.key}
        bg, br = wh.read_table("golden", part), wh.read_table("responses", part)
        if not bg.empty and not br.empty:
            baseline = scoring.graded_samples(decode_golden(bg), br)
    provider = llm.make_provider(project.registry.price_table())
    store = llm.store(warehouse.resolved_url())
    calls = {"requests": 0, "api_calls": 0, "cost": 0.0}
    provenance: dict = {}

    def execute(requests):
        out = run_requests(provider, requests, store)
        s = summarize(out)
        for k, v in s["answer_provenance"].items():
            provenance[k] = provenance.get(k, 0) + v
        calls["requests"] += len(out)
        calls["api_calls"] += s["api_calls"]
        calls["cost"] += s["cost_usd"]
        context.log.info(f"judge: {len(out)} verdict requests, {s['cache_hits']} from store")
        return out

    try:
        scores = scoring.score_judge_family(project, mv, graded, date, mv_key, execute, baseline)
    except LookupError as e:
        raise dg.Failure(str(e)) from None
    uri = _write_scores(wh, "judge", date, mv_key, scores)
    md = _family_metadata(project, mv, scores, graded, "judge", uri)
    md.update(judge_requests=calls["requests"], judge_api_calls=calls["api_calls"], judge_cost_usd=round(calls["cost"], 6))
    if provenance:  # what produced the verdicts (live / replay / synthetic); eval_run reports it in run.json
        from eval_pipeline.inference.provenance import provenance_label, write_stage_provenance

        write_stage_provenance(wh, "judge", date, mv_key, provenance, llm.recordings_label())
        md.update(judge_verdict_provenance=dg.MetadataValue.json(provenance),
                  judge_verdicts=provenance_label(provenance, llm.recordings_label()))
    return dg.MaterializeResult(metadata=md)


# --------------------------------------------------------------------------- run artifact + gate


def judge_calibration_status(wh, es, live_run: bool = False) -> tuple[bool, str]:
    """May this judge eval set's thresholds block? Reads the latest judge_calibration result.

    ``live_run``: the run's answers are all live; a calibration computed from replayed or
    synthetic verdicts (``live_verdicts_only: false``) then never lets the judge block."""
    import json

    from eval_pipeline.evaluators import calibration, judge

    cfg = judge.validate_judge_config(es.judge)
    if cfg.min_calibration is None:
        return True, "no minimum calibration required"
    key = f"calibration/judge/{cfg.model}.json"
    if not wh.exists(key):
        return False, f"no calibration for judge {cfg.model} yet (materialize judge_calibration)"
    payload = json.loads(wh.read_bytes(key))
    if live_run and payload.get("live_verdicts_only") is False:
        return False, (f"judge {cfg.model} was calibrated on non-live verdicts ({payload.get('verdicts', 'replay')}); "
                       f"materialize judge_calibration with a live provider")
    ok, reasons = calibration.calibration_gate(payload["metrics"], cfg.min_calibration)
    return ok, "calibrated" if ok else "; ".join(reasons[:3])


@dg.asset(
    partitions_def=EVAL_PARTITIONS,
    deps=["deterministic_scores", "similarity_scores", "judge_scores"],
    group_name=GROUP,
    kinds={"json"},
    description="The run artifact: per-eval-set metrics with 95% intervals, thresholds and PASS/FAIL, cost, duration, "
    "prompt version and code commit. Written to runs/date=<d>/model_version=<mv>/run.json.",
)
def eval_run(context: dg.AssetExecutionContext, eval_config: EvalConfigResource, warehouse: WarehouseResource) -> dg.MaterializeResult:
    started = time.time()
    date, mv_key = partition_parts(context)
    project, wh = eval_config.load(), warehouse.get()
    mv = versions.resolve(project, wh, mv_key)
    part = {"date": date, "model_version": mv_key}
    scores = pd.concat([wh.read_table("scores", {"family": f, **part}) for f in scoring.FAMILIES], ignore_index=True)
    responses = wh.read_table("responses", part)
    metrics_by_set, results = {}, []
    live_run = "provenance" in responses and len(responses) > 0 and bool((responses["provenance"] == "live").all())
    for suite, es in mv.eval_sets(project):
        s = scores[(scores["suite"] == suite.name) & (scores["eval_set"] == es.name)] if len(scores) else scores
        if s.empty:
            continue  # family not run in this partition (e.g. the judge runs weekly)
        m = scoring.set_metrics(s, es)
        metrics_by_set[(suite.name, es.name)] = m
        may_block, note = judge_calibration_status(wh, es, live_run) if es.family == "judge" else (True, "")
        results.extend(scoring.apply_thresholds(suite, es, m, may_block, note))
    from eval_pipeline.inference.provenance import read_stage_provenance

    resp_prov, judge_prov = (read_stage_provenance(wh, stage, date, mv_key) for stage in ("responses", "judge"))
    has_judge = len(scores) and (scores["family"] == "judge").any()
    artifact = scoring.run_artifact(
        run_id=context.run_id, date=date, mv=mv, mv_key=mv_key, project=project,
        metrics_by_set=metrics_by_set, thresholds=results, responses=responses, started_at=started,
        judge_provenance=judge_prov["counts"] if judge_prov and has_judge else None,
        recordings_label=(resp_prov or judge_prov or {}).get("source", ""),
    )
    uri = wh.write_bytes(f"runs/date={date}/model_version={mv_key}/run.json", scoring.dumps(artifact), content_type="application/json")
    context.log.info(f"run artifact {uri}: overall {artifact['overall']}")
    # Numeric entries per gated metric: the asset's "Plots" tab then shows them across materializations.
    plots = {f"{r.eval_set}/{r.metric}": float(r.value) for r in results if r.value is not None}
    return dg.MaterializeResult(
        metadata={
            **plots,
            "overall": artifact["overall"],
            "thresholds": dg.MetadataValue.md(scoring.thresholds_markdown(results)),
            "blocking_failures": ", ".join(artifact["blocking_failures"]) or "none",
            "cost_usd": artifact["cost_usd"],
            "samples": artifact["samples"],
            "artifact": dg.MetadataValue.path(uri),
            # Which answers this run's verdict rests on: anything but live answers is said here.
            "answers": artifact["answers"],
            "live_answers_only": artifact["live_answers_only"],
            "answer_provenance": dg.MetadataValue.json(artifact["answer_provenance"]),
            **({"judge_verdict_provenance": dg.MetadataValue.json(artifact["judge_verdict_provenance"])}
               if artifact["judge_verdict_provenance"] else {}),
        }
    )


@dg.asset_check(
    asset=eval_run,
    blocking=True,
    description="Quality gate: ERROR (stops downstream assets and fails the run) when a blocking threshold fails; "
    "WARN when only non-blocking thresholds fail. Judge thresholds block only when the judge is calibrated.",
)
def quality_gate(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource) -> dg.AssetCheckResult:
    import json

    date, mv_key = partition_parts(context)
    wh = warehouse.get()
    art = json.loads(wh.read_bytes(f"runs/date={date}/model_version={mv_key}/run.json"))
    from eval_pipeline.scoring.release import quality_gate as gate_of

    gate = gate_of(art)  # the same function release_approval and the detection benchmark use
    failing = gate["failing"]
    blocking = [t for t in failing if t["enforced_blocking"]]
    table = "\n".join(
        f"- {t['suite']}/{t['eval_set']} {t['metric']} = {t['value'] if t['value'] is None else round(t['value'], 4)} "
        f"(min {t['min']}, max {t['max']}){' BLOCKING' if t['enforced_blocking'] else ''} {t['note']}"
        for t in failing
    ) or "all thresholds pass"
    return dg.AssetCheckResult(
        passed=not failing,
        severity=dg.AssetCheckSeverity.ERROR if blocking else dg.AssetCheckSeverity.WARN,
        metadata={"overall": art["overall"], "failing_thresholds": dg.MetadataValue.md(table), "n_failing": len(failing), "n_blocking": len(blocking)},
    )


# --------------------------------------------------------------------------- calibrations


@dg.asset(
    group_name="calibration",
    kinds={"anthropic", "json"},
    pool=API_POOL,
    description="Runs each suite's judge over human-labelled data (ratings and pairwise preferences) and reports "
    "weighted kappa, Spearman, exact / within-one agreement and position consistency. Judge thresholds only block "
    "when the suite's min_calibration is met.",
)
def judge_calibration(context: dg.AssetExecutionContext, eval_config: EvalConfigResource, warehouse: WarehouseResource, llm: LLMResource) -> dg.MaterializeResult:
    import json

    from eval_pipeline.evaluators import calibration, judge
    from eval_pipeline.inference.runner import run_requests

    project, wh = eval_config.load(), warehouse.get()
    provider = llm.make_provider(project.registry.price_table())
    store = llm.store(warehouse.resolved_url())
    judges = {}
    for suite in project.suites.values():
        for es in suite.eval_sets:
            if es.family == "judge":
                cfg = judge.validate_judge_config(es.judge)
                judges.setdefault(cfg.model, (cfg, suite))
    tables, summary = [], {}
    cal_dir = project.base / "calibration"
    from eval_pipeline.inference.provenance import provenance_counts, provenance_label

    all_prov: dict = {}
    for model, (cfg, suite) in sorted(judges.items()):
        datasets = [cal_dir / "sf_dialogue_nlg_ratings.jsonl", cal_dir / "llmbar_pairwise.jsonl", cal_dir / "human_preference_pairwise.jsonl"]
        prov: dict = {}

        def execute(reqs):
            out = run_requests(provider, reqs, store)
            for k, v in provenance_counts(r.provenance for r in out).items():
                prov[k] = prov.get(k, 0) + v
            return out

        try:
            result = calibration.run_calibration(execute, cfg, datasets, n=calibration_n(), seed=0, data_dir=cal_dir)
        except LookupError as e:
            raise dg.Failure(str(e)) from None
        # Human labels from the review loop (data/reviews/*.jsonl) count as calibration data too.
        from eval_pipeline.noise.floor import labelled_review_metrics

        result.metrics.update(labelled_review_metrics(project.base, judge_model=model, project=project, min_n=20))
        ok, reasons = calibration.calibration_gate(result.metrics, cfg.min_calibration)
        for k, v in prov.items():
            all_prov[k] = all_prov.get(k, 0) + v
        payload = {"judge_model": model, "metrics": result.metrics, "may_block": ok, "reasons": reasons,
                   "judge_failures": result.judge_failures, "cost_usd": result.cost_usd,
                   "verdict_provenance": prov, "live_verdicts_only": set(prov) <= {"live"},
                   "verdicts": provenance_label(prov, llm.recordings_label())}
        wh.write_bytes(f"calibration/judge/{model}.json", scoring.dumps(payload), content_type="application/json")
        summary[model] = ok
        tables.append(f"### {model}: {'may block' if ok else 'warn only'} ({payload['verdicts']})\n" + ("\n".join(f"- {r}" for r in reasons) + "\n\n" if reasons else "\n")
                      + calibration.metrics_table(result.metrics).round(3).to_markdown(index=False))
    return dg.MaterializeResult(metadata={
        "calibration": dg.MetadataValue.md("\n\n".join(tables) or "No judge eval sets configured."),
        "judges_may_block": dg.MetadataValue.json(summary),
        "verdicts": provenance_label(all_prov, llm.recordings_label()),
        "verdict_provenance": dg.MetadataValue.json(all_prov),
        "live_verdicts_only": set(all_prov) <= {"live"},
    })


def calibration_n() -> int:
    import os

    return int(os.environ.get("EVAL_CALIBRATION_N", "50"))


@dg.asset(
    group_name="calibration",
    kinds={"pytorch", "json"},
    description="ROC AUC of MiniLM cosine on human-labelled paraphrase pairs and the threshold that best separates "
    "them (Youden's J): choose similarity thresholds from data.",
)
def similarity_calibration(context: dg.AssetExecutionContext, eval_config: EvalConfigResource, warehouse: WarehouseResource, embeddings: EmbeddingResource) -> dg.MaterializeResult:
    from eval_pipeline.evaluators import similarity_calibration

    project, wh = eval_config.load(), warehouse.get()
    configured = sorted({es.similarity.threshold for s in project.suites.values() for es in s.eval_sets if es.family == "similarity"}) or [0.85]
    scorer = embeddings.scorer(None, warehouse.resolved_url())
    cal = similarity_calibration.calibrate_similarity(scorer, project.base / "calibration" / "covid_question_similarity.jsonl", configured_threshold=configured[0])
    payload = cal.to_dict()
    uri = wh.write_bytes("calibration/similarity/latest.json", scoring.dumps(payload), content_type="application/json")
    return dg.MaterializeResult(metadata={
        "roc_auc": float(cal.auc),
        "best_threshold": float(payload.get("best_threshold", float("nan"))),
        "report": dg.MetadataValue.md(cal.to_markdown()),
        "path": dg.MetadataValue.path(uri),
    })
