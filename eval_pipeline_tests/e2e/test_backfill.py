"""A backfill over three model versions through Dagster's Python API, then a re-score backfill.

The model is the Anthropic-compatible test server (loopback, key ``test-key``); every request it
receives is counted. The re-score after a threshold and checks change must not call it at all.
Slow-ish (~30 s on 2 busy cores): six real partition runs, each step with its own warehouse I/O.
"""

from __future__ import annotations

import dagster as dg
import pytest

from eval_pipeline.defs.partitions import eval_partition_key
from eval_pipeline.defs.resources import EvalConfigResource, LLMResource, WarehouseResource
from eval_pipeline.project.loader import load_project
from eval_pipeline_tests.support.orchestration import SMALL_LABELS, edit_yaml, project_defs, small_data
from eval_pipeline_tests.support.servers.anthropic_server import AnthropicTestServer, ServerConfig

N_SAMPLES = 4
DATE = "2026-11-20"
NIGHTLY = (
    "golden_samples",
    "model_responses",
    "deterministic_scores",
    "similarity_scores",
    "eval_run",
    "regression_report",
    "release_approval",
)
RESCORE = (
    "deterministic_scores",
    "similarity_scores",
    "judge_scores",
    "eval_run",
    "regression_report",
    "release_approval",
)


@pytest.fixture
def server():
    answers = {
        "my card has not arrived": "card_arrival",
        "someone stole my card": "lost_or_stolen_card",
        "what rate do you use": "exchange_rate",
        "my top up failed": "top_up_failed",
    }
    assert set(answers.values()) == set(SMALL_LABELS)
    srv = AnthropicTestServer(ServerConfig(api_key="test-key", answer_key=answers)).start()
    yield srv
    srv.stop()


def _run_partitions(
    job: dg.JobDefinition, instance: dg.DagsterInstance, keys: list[str]
) -> list[dg.ExecuteInProcessResult]:
    """One run per (date, model version) partition, as a backfill launches them."""
    return [
        job.execute_in_process(
            partition_key=eval_partition_key(DATE, k),
            instance=instance,
            raise_on_error=False,
            tags={"eval/kind": "test_backfill"},
        )
        for k in keys
    ]


def _gate(result: dg.ExecuteInProcessResult):
    (evaluation,) = [e for e in result.get_asset_check_evaluations() if e.check_name == "quality_gate"]
    return evaluation


def _eval_run_metadata(instance: dg.DagsterInstance, key: str) -> dict:
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(
            asset_key=dg.AssetKey("eval_run"), asset_partitions=[str(eval_partition_key(DATE, key))]
        ),
        limit=1,
    ).records
    assert records, key
    return records[0].asset_materialization.metadata


def test_backfill_three_versions_then_rescore_without_model_calls(tmp_path, server):
    data = small_data(tmp_path / "data", n_samples=N_SAMPLES)
    keys = [m.key for m in load_project(data).registry.models]
    assert len(keys) == 3
    defs = project_defs(
        eval_config=EvalConfigResource(data_dir=str(data)),
        warehouse=WarehouseResource(url=str(tmp_path / "warehouse")),
        llm=LLMResource(
            provider="anthropic",
            api_key="test-key",
            base_url=server.base_url,
            store_path=str(tmp_path / "store"),
            max_concurrency=4,
        ),
    )
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("model_version", keys)

    results = _run_partitions(defs.resolve_job_def("nightly_eval_job"), instance, keys)
    assert all(r.success for r in results), [e.message for r in results for e in r.all_events if e.is_failure]
    assert [_gate(r).passed for r in results] == [True] * 3
    expected = {str(eval_partition_key(DATE, k)) for k in keys}
    for asset in NIGHTLY:
        assert instance.get_materialized_partitions(dg.AssetKey(asset)) == expected, asset
    assert server.stats()["total"] == len(keys) * N_SAMPLES  # one call per sample and version, no retries
    before = {k: _eval_run_metadata(instance, k) for k in keys}

    # A threshold and a check change: scoring only.
    def tighten(suite):
        es = suite["eval_sets"][0]
        es["thresholds"] = [{"metric": "pass_rate", "min": 0.99}]
        es["checks"].append({"type": "length", "max_chars": 5})  # every label is longer: all samples now fail

    edit_yaml(data / "suites" / "mini.yaml", tighten)
    server.reset_stats()
    results = _run_partitions(defs.resolve_job_def("rescore_job"), instance, keys)
    assert all(r.success for r in results), [e.message for r in results for e in r.all_events if e.is_failure]
    assert server.stats()["total"] == 0  # re-scored from stored responses: zero model calls
    for asset in RESCORE:
        assert instance.get_materialized_partitions(dg.AssetKey(asset)) == expected, asset
    for r, k in zip(results, keys):
        after = _eval_run_metadata(instance, k)
        assert "0.99" in after["thresholds"].value and "0.99" not in before[k]["thresholds"].value
        gate = _gate(r)  # the non-blocking threshold now fails: a warning, the run still completes
        assert not gate.passed and gate.severity == dg.AssetCheckSeverity.WARN
