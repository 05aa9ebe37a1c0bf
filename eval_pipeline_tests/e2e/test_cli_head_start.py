"""``eval-pipeline run`` sends the first partition's requests before the Dagster run exists (the head start), and
``model_responses`` takes them: each request sent once, counted as this run's calls; a head start the step's plan
does not match is never used and never paid twice."""

from __future__ import annotations

import time

import dagster as dg
import pytest

from eval_pipeline import cli
from eval_pipeline.defs import ci
from eval_pipeline.defs.partitions import eval_partition_key
from eval_pipeline.inference import head_start
from eval_pipeline.inference.settings import InferenceSettings
from eval_pipeline.project.loader import load_project
from eval_pipeline_tests.support.cli_env import answer_golden, cli_env, use_env
from eval_pipeline_tests.support.orchestration import small_data
from eval_pipeline_tests.support.servers.anthropic_server import AnthropicTestServer, ServerConfig
from eval_pipeline_tests.support.servers.fixtures import module_server

KEY = "sk-test-head-start-SECRET"
DATE = "2026-11-06"
N = 8

server = module_server("server", AnthropicTestServer, api_key=KEY)


@pytest.fixture
def env(tmp_path, server, monkeypatch):
    data = small_data(tmp_path / "data", n_samples=N, model_names=("bot-a",))
    server.config = ServerConfig(api_key=KEY, latency_s=0.05)
    answer_golden(server, data)
    server.reset_stats()
    use_env(monkeypatch, cli_env(tmp_path, data, KEY, server.base_url))
    yield {"data": data, "home": tmp_path / "dagster_home", "tmp": tmp_path}
    head_start.settle()


def _responses_step(home) -> tuple[dict, list[str]]:
    """model_responses' metadata and its log messages, from the instance the command used."""
    instance = dg.DagsterInstance.from_config(str(home))
    key = load_project().registry.by_name("bot-a").key
    (record,) = instance.fetch_materializations(
        dg.AssetRecordsFilter(
            asset_key=dg.AssetKey("model_responses"), asset_partitions=[str(eval_partition_key(DATE, key))]
        ),
        limit=1,
    ).records
    logs = [
        r.user_message
        for r in instance.all_logs(record.run_id)
        if r.step_key == "model_responses" and r.dagster_event is None
    ]
    return record.asset_materialization.metadata, logs


def _run() -> int:
    return cli.main(
        ["run", "--date", DATE, "--families", "deterministic", "--model-version", "bot-a", "--no-report"]
    )


def test_requests_are_in_flight_before_the_run_starts_and_sent_once(env, server, monkeypatch):
    seen_before_run = []
    run_partition = ci.run_partition

    def waiting_run_partition(*args, **kwargs):
        # no Dagster run of this partition exists yet: every request is answered by the head start alone
        deadline = time.monotonic() + 30
        while server.stats()["total"] < N and time.monotonic() < deadline:
            time.sleep(0.05)
        seen_before_run.append(server.stats()["total"])
        return run_partition(*args, **kwargs)

    monkeypatch.setattr(ci, "run_partition", waiting_run_partition)
    assert _run() == 0
    assert seen_before_run == [N]
    assert server.stats()["total"] == N  # the step sent nothing again
    metadata, logs = _responses_step(env["home"])
    assert metadata["api_calls"].value == N and metadata["cache_hits"].value == 0
    assert any("sent since the command started, before this run" in m for m in logs)
    assert any(f"inference {N}/{N} done" in m for m in logs)  # the step's log still reports the requests


def test_a_head_start_the_step_does_not_match_is_not_taken_and_nothing_is_paid_twice(env, server):
    project = load_project()
    mv = project.registry.by_name("bot-a")
    other = InferenceSettings.from_env().model_copy(
        update={"max_concurrency": 3}
    )  # not what the step runs with
    head = head_start.start(project, DATE, mv, other, str(env["tmp"] / "wh"), None)
    assert head is not None
    assert (
        _run() == 0
    )  # the command starts no second head start for the partition; the step declines this one
    assert head.thread is not None and not head.thread.is_alive() and head.error is None
    assert server.stats()["total"] == N
    metadata, logs = _responses_step(env["home"])
    assert metadata["api_calls"].value == 0 and metadata["cache_hits"].value == N  # served from the store
    assert not any("before this run" in m for m in logs)


def test_an_invalid_golden_set_starts_nothing(env, server):
    golden = env["data"] / "golden" / "intents.jsonl"
    golden.write_text(golden.read_text().replace('"expected"', '"expectation"', 1))
    project = load_project()
    head = head_start.start(
        project,
        DATE,
        project.registry.by_name("bot-a"),
        InferenceSettings.from_env(),
        str(env["tmp"] / "wh"),
        None,
    )
    assert head is None
    assert _run() == 2
    assert server.stats()["total"] == 0
