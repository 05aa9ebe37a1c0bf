"""The whole evaluation pipeline through Dagster, against the Anthropic-compatible test server.

A small copy of the demo data (few samples) keeps it fast; the model, the SDK, the warehouse,
DuckDB and the embeddings are all real.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
import yaml

from eval_pipeline.defs.partitions import MODEL_VERSION_PARTITIONS, eval_partition_key
from eval_pipeline.defs.resources import (
    EmbeddingResource,
    EvalConfigResource,
    LLMResource,
    WarehouseResource,
    project_resource,
)
from eval_pipeline.project.loader import load_project
from eval_pipeline.project.paths import PROJECT_ROOT
from eval_pipeline_tests.support.cli_env import answer_golden, cli_env
from eval_pipeline_tests.support.servers.anthropic_server import AnthropicTestServer, ServerConfig

DATE = "2026-11-02"
API_KEY = "sk-test-e2e-SECRET-0123456789"
GOLDEN = "banking77_intent.jsonl"  # the golden set the test server answers from
EVAL_ASSETS = [
    "golden_samples",
    "model_responses",
    "deterministic_scores",
    "similarity_scores",
    "judge_scores",
    "eval_run",
    "regression_report",
    "release_approval",
]


def _small_data(tmp: Path, intent_gate: float = 0.5) -> Path:
    d = tmp / "data"
    shutil.copytree(PROJECT_ROOT / "data", d, ignore=shutil.ignore_patterns("recordings", "*.md"))
    suite = yaml.safe_load((d / "suites" / "customer_support.yaml").read_text())
    sizes = {"intent_routing": 24, "slot_extraction": 8, "faq_answers": 8, "faq_answer_quality": 4}
    # the tool-calling and conversation sets have their own end-to-end test (integration/defs/test_pipeline_tools.py)
    suite["eval_sets"] = [es for es in suite["eval_sets"] if es["name"] in sizes]
    for es in suite["eval_sets"]:
        es["sample"] = {"n": sizes[es["name"]], "seed": 3}
        if es["name"] == "intent_routing":
            es["thresholds"] = [{"metric": "pass_rate", "min": intent_gate, "blocking": True}]
        if es["name"] == "faq_answers":
            es["thresholds"] = [{"metric": "mean_cosine", "min": 0.0}]
        if es["name"] == "faq_answer_quality":
            es["judge"]["repeats"] = 1
            es["thresholds"] = [{"metric": "pass_rate", "min": 0.0}]
    (d / "suites" / "customer_support.yaml").write_text(yaml.safe_dump(suite, sort_keys=False))
    return d


@pytest.fixture
def instance():
    """A live test instance that is also Dagster's current one (defs-state storage included)."""
    with dg.instance_for_test() as inst:
        yield inst


@pytest.fixture
def server():
    s = AnthropicTestServer(ServerConfig(api_key=API_KEY)).start()
    yield s
    s.stop()


def _resources(data: Path, wh: Path, server) -> dict:
    return {
        "eval_config": EvalConfigResource(data_dir=str(data)),
        "project": project_resource,
        "warehouse": WarehouseResource(url=str(wh)),
        "llm": LLMResource(
            provider="anthropic", api_key=API_KEY, base_url=server.base_url, max_concurrency=8
        ),
        "embeddings": EmbeddingResource(),
    }


def materialize(**kwargs):
    """``dg.materialize`` of the project's assets and checks. Our definitions keep no Dagster
    defs-state, so none is looked up (a stale one left by another test module cannot break this)."""
    from dagster._core.storage.defs_state.base import set_defs_state_storage

    from eval_pipeline.definitions import defs

    with set_defs_state_storage(None):
        return dg.materialize([*defs.assets, *defs.asset_checks], raise_on_error=False, **kwargs)


def _run(resources, instance, key, selection=EVAL_ASSETS):
    return materialize(selection=selection, partition_key=key, instance=instance, resources=resources)


def test_pipeline_end_to_end_rerun_is_free_and_key_never_leaks(tmp_path, server, instance, caplog):
    data, wh = _small_data(tmp_path), tmp_path / "wh"
    answer_golden(server, data, GOLDEN)
    project = load_project(data)
    mv = project.registry.by_name("support-bot-v1")
    instance.add_dynamic_partitions(MODEL_VERSION_PARTITIONS.name, [mv.key])
    resources = _resources(data, wh, server)
    key = eval_partition_key(DATE, mv.key)

    result = _run(resources, instance, key)
    assert result.success
    first_calls = server.stats()["total"]
    assert first_calls >= 24 + 8 + 8 + 4  # every sample (judge calls on top)
    art = json.loads((wh / f"runs/date={DATE}/model_version={mv.key}/run.json").read_text())
    assert art["overall"] == "PASS" and art["model_version"] == mv.key and art["samples"] == 44
    assert (
        json.loads((wh / f"releases/date={DATE}/model_version={mv.key}.json").read_text())["approved"] is True
    )
    sets = {s["eval_set"]: s for s in art["eval_sets"]}
    assert set(sets) == {"intent_routing", "slot_extraction", "faq_answers", "faq_answer_quality"}
    pr = sets["intent_routing"]["metrics"]["pass_rate"]
    assert pr["ci_low"] <= pr["value"] <= pr["ci_high"] and pr["n"] == 24
    scores = pd.read_parquet(
        wh / f"scores/family=deterministic/date={DATE}/model_version={mv.key}/data.parquet"
    )
    assert set(scores["eval_set"]) == {"intent_routing", "slot_extraction"}

    # Re-materializing the unchanged partition: zero model calls, identical scores.
    result = _run(resources, instance, key)
    assert result.success
    assert server.stats()["total"] == first_calls
    again = pd.read_parquet(
        wh / f"scores/family=deterministic/date={DATE}/model_version={mv.key}/data.parquet"
    )
    pd.testing.assert_frame_equal(scores, again)
    assert (
        len(list((wh / "scores" / "family=deterministic").rglob("*.parquet"))) == 1
    )  # replaced, not duplicated

    # The API key appears in no written file and no log line.
    for f in wh.rglob("*"):
        if f.is_file():
            assert API_KEY.encode() not in f.read_bytes(), f
    for rec in instance.all_logs(result.run_id):
        assert API_KEY not in (rec.user_message or "") and API_KEY not in str(rec.dagster_event or "")
    assert API_KEY not in caplog.text


def test_golden_error_stops_run_before_any_model_call(tmp_path, server, instance):
    data, wh = _small_data(tmp_path), tmp_path / "wh"
    lines = (data / "golden" / "banking77_intent.jsonl").read_text().splitlines()
    rec = json.loads(lines[36])
    del rec["expected"]
    lines[36] = json.dumps(rec)
    (data / "golden" / "banking77_intent.jsonl").write_text("\n".join(lines) + "\n")
    mv = load_project(data).registry.by_name("support-bot-v1")
    instance.add_dynamic_partitions(MODEL_VERSION_PARTITIONS.name, [mv.key])
    result = _run(_resources(data, wh, server), instance, eval_partition_key(DATE, mv.key))
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    msg = str(failure.event_specific_data.error)
    assert "banking77_intent.jsonl, line 37, field 'expected'" in msg and "no model was called" in msg
    assert server.stats()["total"] == 0
    assert not (wh / "responses").exists()


def test_blocking_gate_fails_the_cli_and_leaves_downstream_unmaterialized(tmp_path, server):
    """`dagster asset materialize` works as a CI gate: non-zero exit, release_approval not materialized."""
    data, wh = _small_data(tmp_path, intent_gate=0.99), tmp_path / "wh"
    server.config.model_accuracy = {"claude-haiku-4-5": 0.5}
    answer_golden(server, data, GOLDEN)
    mv = load_project(data).registry.by_name("support-bot-v1")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("ANTHROPIC")},
        **cli_env(tmp_path, data, API_KEY, server.base_url),
    }
    home = env["DAGSTER_HOME"]
    dagster = str(Path(sys.executable).parent / "dagster")
    instance = dg.DagsterInstance.from_config(home)
    instance.add_dynamic_partitions(MODEL_VERSION_PARTITIONS.name, [mv.key])
    select = "golden_samples,model_responses,deterministic_scores,eval_run,regression_report,release_approval"
    proc = subprocess.run(
        [
            dagster,
            "asset",
            "materialize",
            "-m",
            "eval_pipeline.definitions",
            "--select",
            select,
            "--partition",
            f"{DATE}|{mv.key}",
        ],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode != 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "quality_gate" in proc.stdout + proc.stderr
    assert API_KEY not in proc.stdout + proc.stderr
    art = json.loads((wh / f"runs/date={DATE}/model_version={mv.key}/run.json").read_text())
    assert (
        art["overall"] == "FAIL" and "customer_support/intent_routing:pass_rate" in art["blocking_failures"]
    )
    assert not (wh / "releases").exists()  # downstream of the failed gate: not materialized
    assert (
        wh / f"reports/regression/date={DATE}/model_version={mv.key}/report.json"
    ).exists()  # not gated: still reported


def test_degraded_candidate_is_flagged_and_unchanged_candidate_is_not(tmp_path, server, instance):
    """Through the test server: a candidate whose model answers worse is a significant regression
    against the production baseline (its release is not approved); one that answers as well is not."""
    data, wh = _small_data(tmp_path), tmp_path / "wh"
    suite_path = data / "suites" / "customer_support.yaml"
    suite = yaml.safe_load(suite_path.read_text())
    for es in suite["eval_sets"]:
        if es["name"] == "intent_routing":
            es["sample"]["n"] = 150
            es["thresholds"] = [{"metric": "pass_rate", "min": 0.0}]  # the gate is not what is tested here
    suite_path.write_text(yaml.safe_dump(suite, sort_keys=False))
    answer_golden(server, data, GOLDEN)
    project = load_project(data)
    v1, v2 = project.registry.by_name("support-bot-v1"), project.registry.by_name("support-bot-v2")
    instance.add_dynamic_partitions(MODEL_VERSION_PARTITIONS.name, [v1.key, v2.key])
    resources = _resources(data, wh, server)
    selection = [
        "golden_samples",
        "model_responses",
        "deterministic_scores",
        "eval_run",
        "regression_report",
        "release_approval",
    ]

    def evaluate(date, key):
        return _run(resources, instance, eval_partition_key(date, key), selection)

    def report(date, key):
        return json.loads(
            (wh / f"reports/regression/date={date}/model_version={key}/report.json").read_text()
        )

    server.config.model_accuracy = {v1.model: 0.95, v2.model: 0.55}
    assert evaluate("2026-11-04", v1.key).success
    degraded = evaluate("2026-11-04", v2.key)
    assert not degraded.success  # release_approval enforces no_significant_regression
    rep = report("2026-11-04", v2.key)
    assert rep["summary"]["baseline"] == f"{v1.key}@2026-11-04"
    regs = [r for r in rep["rows"] if r["verdict"] == "regression"]
    assert any(
        r["eval_set"] == "intent_routing" and r["metric"] == "exact_match" and r["segment"] == "__all__"
        for r in regs
    )
    assert not (wh / f"releases/date=2026-11-04/model_version={v2.key}.json").exists()

    server.config.model_accuracy = {v1.model: 0.95, v2.model: 0.95}
    assert evaluate("2026-11-05", v1.key).success
    unchanged = evaluate("2026-11-05", v2.key)
    assert unchanged.success, [e.message for e in unchanged.all_events if e.is_failure]
    rep = report("2026-11-05", v2.key)
    assert rep["summary"]["status"] == "ok" and rep["summary"]["regression"] == 0
    assert (wh / f"releases/date=2026-11-05/model_version={v2.key}.json").exists()
