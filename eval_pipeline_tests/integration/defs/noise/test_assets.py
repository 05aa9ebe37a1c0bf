"""A/A noise floor and the human review queue, through Dagster against the Anthropic-compatible test server.

The A/A run's two request batches have identical bodies (the epoch is a store-key component, not
sent to the API); at temperature > 0 the server's per-body occurrence counter makes the second copy
a fresh sample, as a real model would (at temperature 0 it answers identically: no A/A noise).
"""

import json
import threading
from collections import Counter

import dagster as dg
import pandas as pd
import pytest
import yaml

from eval_pipeline.defs.partitions import MODEL_VERSION_PARTITIONS, eval_partition_key
from eval_pipeline.evaluators import review_calibration as RC
from eval_pipeline.ingestion import reviews as RI
from eval_pipeline.noise import floor as nf
from eval_pipeline.project.loader import load_project
from eval_pipeline.project.paths import PROJECT_ROOT
from eval_pipeline_tests.e2e.test_pipeline import API_KEY, GOLDEN, _resources, _small_data
from eval_pipeline_tests.support.cli_env import answer_golden
from eval_pipeline_tests.support.servers.anthropic_server import AnthropicTestServer, ServerConfig

DATE = "2026-11-09"
SET_SIZES = {"intent_routing": 24, "slot_extraction": 8, "faq_answers": 8}  # from _small_data


def _run(resources, instance, key, selection):
    from eval_pipeline.definitions import defs

    return dg.materialize(
        [*defs.assets, *defs.asset_checks],
        selection=selection,
        partition_key=key,
        instance=instance,
        resources=resources,
        raise_on_error=False,
    )


def _setup(tmp_path, server, judge_repeats=None, temperature=None):
    data, wh = _small_data(tmp_path), tmp_path / "wh"
    if temperature is not None:  # the test server samples afresh for a repeated body only at temperature > 0
        f = data / "models.yaml"
        reg = yaml.safe_load(f.read_text())
        next(m for m in reg["models"] if m["name"] == "support-bot-v1")["params"]["temperature"] = temperature
        f.write_text(yaml.safe_dump(reg, sort_keys=False))
    if judge_repeats:
        f = data / "suites" / "customer_support.yaml"
        suite = yaml.safe_load(f.read_text())
        next(es for es in suite["eval_sets"] if es["name"] == "faq_answer_quality")["judge"]["repeats"] = (
            judge_repeats
        )
        f.write_text(yaml.safe_dump(suite, sort_keys=False))
    answer_golden(server, data, GOLDEN)
    project = load_project(data)
    mv = project.registry.by_name("support-bot-v1")
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(MODEL_VERSION_PARTITIONS.name, [mv.key])
    return data, wh, project, mv, instance, eval_partition_key(DATE, mv.key)


def _check_result(result, name):
    evals = [
        e.event_specific_data for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"
    ]
    return next(ev for ev in evals if ev.check_name == name)


@pytest.fixture
def server():
    s = AnthropicTestServer(ServerConfig(api_key=API_KEY)).start()
    yield s
    s.stop()


def test_aa_noise_floor_disagrees_writes_report_and_warns(tmp_path, server):
    server.config.model_accuracy = {
        "claude-haiku-4-5": 0.6
    }  # a noisy model: A and B disagree on some samples
    data, wh, project, mv, instance, key = _setup(tmp_path, server, temperature=1.0)
    resources = _resources(data, wh, server)

    # No golden table for the partition yet: a clear failure, no model call.
    result = _run(resources, instance, key, ["aa_noise_floor"])
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert "materialize golden_samples" in str(failure.event_specific_data.error)
    assert server.stats()["total"] == 0

    result = _run(resources, instance, key, ["golden_samples", "aa_noise_floor"])
    assert result.success
    n_requests = 2 * sum(SET_SIZES.values())  # deterministic + similarity sets, twice; no judge
    assert server.stats()["total"] == n_requests

    report = json.loads((wh / nf.noise_key(DATE, mv.key)).read_text())
    assert report["runs"] == [f"aa:{DATE}:A", f"aa:{DATE}:B"] and report["requests"] == n_requests
    noise = pd.DataFrame(report["noise"])
    intent = noise[(noise["eval_set"] == "intent_routing") & (noise["metric"] == "pass_rate")].iloc[0]
    assert intent["n_pairs"] == 24 and intent["disagreement_rate"] > 0
    assert 0 < intent["diff_q95"] <= intent["diff_q99"]
    assert set(noise["eval_set"]) == {"intent_routing", "slot_extraction", "faq_answers"}

    # The 3-point minimum effect is inside intent_routing's band: the check warns and names it.
    check = _check_result(result, "thresholds_clear_noise_floor")
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    assert "customer_support/intent_routing" in check.metadata["too_noisy_eval_sets"].value
    assert "customer_support/intent_routing" in report["too_noisy"]
    mat = result.asset_materializations_for_node("aa_noise_floor")[0]
    assert mat.metadata["disagreement_rate"].value > 0
    assert (
        "95% band" in mat.metadata["noise_floor"].value
        and "intent_routing" in mat.metadata["noise_floor"].value
    )

    # Rerun: both runs come from the response store (distinct keys per epoch), same report.
    result = _run(resources, instance, key, ["aa_noise_floor"])
    assert result.success and server.stats()["total"] == n_requests
    again = json.loads((wh / nf.noise_key(DATE, mv.key)).read_text())
    assert again["noise"] == report["noise"] and again["cache_hits"] == n_requests


def _frame(outcomes, eval_set="intent_routing", metric="exact_match"):
    return pd.DataFrame(
        {
            "date": DATE,
            "model_version": "m",
            "suite": "customer_support",
            "eval_set": eval_set,
            "sample_id": [f"s{i}" for i in range(len(outcomes))],
            "repeat": 0,
            "family": "deterministic",
            "metric": metric,
            "value": [float(o) for o in outcomes],
            "passed": list(outcomes),
            "reason": "",
            "category": "c",
            "infra_error": None,
            "evaluator_hash": "h",
        }
    )


def test_threshold_report_clears_small_noise_and_flags_a_gate_inside_it():
    """400 samples, 2 discordant: the band is ~0.5 pts, so the 3-point effect sizes clear it;
    intent_routing's pass_rate gate (min 0.80) sits 0.25 pts from the observed rate: inside the noise."""
    project = load_project(PROJECT_ROOT / "data")
    mv = project.registry.by_name("support-bot-v1")
    a = [True] * 321 + [False] * 79
    b = list(a)
    b[0], b[-1] = False, True  # two samples flip, in opposite directions
    run = nf.AARun(
        _frame(a), _frame(b), requests=800, cache_hits=0, eval_sets=["customer_support/intent_routing"]
    )
    noise = nf.noise_frame(run)
    assert set(noise["metric"]) == {"exact_match", "pass_rate"}
    rep = nf.noise_threshold_report(project, mv, noise, run)
    effects = rep[rep["threshold"].isin(nf.effect_sizes())]
    assert len(effects) == 4 and effects["clears_noise"].all()
    gate = rep[rep["threshold"].str.startswith("gate pass_rate")]
    assert len(gate) == 1 and not gate["clears_noise"].iat[0]
    assert "raise the threshold" in gate["message"].iat[0]
    assert nf.too_noisy_summary(rep).count(
        "\n"
    ) == 0 and "intent_routing [pass_rate]" in nf.too_noisy_summary(rep)
    assert (
        nf.too_noisy_eval_sets(rep)
        == ["customer_support/intent_routing"]
        == nf.noise_payload(DATE, "m", noise, rep, run)["too_noisy"]
    )
    assert nf.inside_noise(rep).equals(rep[~rep["clears_noise"].astype(bool)])


def test_threshold_check_of_nothing_keeps_its_columns():
    """An empty check (no noise rows, or no thresholds) has the report's columns, so callers can filter it."""
    from eval_pipeline.noise.aa_noise import THRESHOLD_COLUMNS, check_thresholds

    noise = nf.noise_frame(nf.AARun(_frame([True, False]), _frame([False, True]), 4, 0, []))
    assert list(check_thresholds(noise, {}).columns) == THRESHOLD_COLUMNS
    assert list(check_thresholds(noise.iloc[:0], {"x": 0.03}).columns) == THRESHOLD_COLUMNS
    assert nf.too_noisy_eval_sets(check_thresholds(noise, {})) == []


def test_review_queue_exports_disagreeing_judge_repeats_and_round_trips(tmp_path):
    # The n-th call with the same request body gets accuracy 1, then 5, then 3: every sample's
    # three judge repeats disagree (spread 4).
    seen, lock = Counter(), threading.Lock()

    def hook(body):
        k = json.dumps(body.get("messages"), sort_keys=True)
        with lock:
            n = seen[k]
            seen[k] += 1
        return {"reasoning": f"call {n}", "accuracy": (1, 5, 3)[n % 3], "helpfulness": 4, "tone": 5}

    server = AnthropicTestServer(ServerConfig(api_key=API_KEY), judge_hook=hook).start()
    try:
        data, wh, project, mv, instance, key = _setup(tmp_path, server, judge_repeats=3)
        resources = _resources(data, wh, server)
        out = wh / nf.review_key(DATE, mv.key)

        # Judge not run yet (it is weekly): an empty queue still materializes.
        result = _run(resources, instance, key, ["golden_samples", "model_responses", "review_queue"])
        assert result.success and out.is_file() and out.read_text() == ""
        assert (
            result.asset_materializations_for_node("review_queue")[0].metadata["dagster/row_count"].value == 0
        )

        result = _run(resources, instance, key, ["similarity_scores", "judge_scores", "review_queue"])
        assert result.success
    finally:
        server.stop()
    items = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(items) == 4 and {it["eval_set"] for it in items} == {"faq_answer_quality"}
    for it in items:
        assert any(r.startswith("judge_repeats_disagree: accuracy spread 4") for r in it["reasons"])
        assert it["judge_scores"]["accuracy"] == 3.0 and it["human_label"] == {
            "accuracy": None,
            "helpfulness": None,
            "tone": None,
        }
        assert it["cosine"] is not None  # matched from faq_answers (same golden source and task)
    md = result.asset_materializations_for_node("review_queue")[0].metadata
    assert md["by_reason"].value["judge_repeats_disagree"] == 4
    assert items[0]["sample_id"] in md["preview"].value

    # A reviewer fills labels; the file goes to data/reviews/ and is read back.
    for i, it in enumerate(items):
        it["human_label"] = {"accuracy": 2 + i, "helpfulness": None, "tone": 5}
    labelled = data / "reviews" / "week1.jsonl"
    labelled.parent.mkdir()
    labelled.write_text("".join(json.dumps(it) + "\n" for it in items))
    ing = RI.ingest_review(labelled)
    assert ing.n_labelled == 4 and len(ing.ratings) == 8 and len(ing.golden) == 4
    assert set(ing.ratings["dimension"]) == {"accuracy", "tone"}
    metrics = RC.labelled_review_metrics(data, judge_model="claude-sonnet-4-5", project=project)
    assert set(metrics) == {"human_review/accuracy", "human_review/tone"}
    assert metrics["human_review/accuracy"]["n"] == 4
    assert metrics["human_review/tone"]["exact_agreement"] == 1.0  # judge 5, human 5
    assert metrics["human_review/accuracy"]["agreement_within_one"] == pytest.approx(
        0.75
    )  # human 2..5 vs judge 3
    assert RC.labelled_review_metrics(data, judge_model="another-judge", project=project) == {}
    # Every label counts; below 5 labels a dimension is reported, not deciding whether the judge blocks.
    rc = RC.review_calibration(data, judge_model="claude-sonnet-4-5", project=project, min_n_to_decide=5)
    assert rc.metrics == metrics and rc.reported_only == ["human_review/accuracy", "human_review/tone"]
    assert rc.summary["n_per_dimension"] == {"accuracy": 4, "tone": 4} and rc.summary["items"] == 4
    assert RC.deciding_metrics({"x": {}, **rc.metrics}, rc.reported_only) == {"x": {}}
    assert "Reported, not deciding" in rc.markdown() and "8 labels from 4 reviewed items" in rc.markdown()


def test_aa_noise_schedule_targets_the_registered_production_version():
    import datetime as dt

    from eval_pipeline.definitions import defs
    from eval_pipeline.defs.resources import EvalConfigResource
    from eval_pipeline.defs.schedules import aa_noise_schedule

    data = PROJECT_ROOT / "data"
    prod = load_project(data).registry.production
    assert aa_noise_schedule.default_status == dg.DefaultScheduleStatus.STOPPED
    assert defs.resolve_job_def("aa_noise_job").partitions_def is not None
    with dg.instance_for_test() as instance:

        def tick():
            ctx = dg.build_schedule_context(
                instance=instance,
                scheduled_execution_time=dt.datetime(2026, 11, 22, 4, tzinfo=dt.UTC),
                resources={"eval_config": EvalConfigResource(data_dir=str(data))},
                repository_def=defs.get_repository_def(),
            )
            return aa_noise_schedule.evaluate_tick(ctx)

        skipped = tick()
        assert not skipped.run_requests and prod.key in skipped.skip_message  # not registered yet
        instance.add_dynamic_partitions(
            MODEL_VERSION_PARTITIONS.name, [m.key for m in load_project(data).registry.models]
        )
        (req,) = tick().run_requests
        assert (
            req.partition_key == eval_partition_key("2026-11-22", prod.key)
            and req.run_key == f"aa_noise:2026-11-22:{prod.key}"
        )
