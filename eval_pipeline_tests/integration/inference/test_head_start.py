"""The head start apart from Dagster: what it answers is the plan's, a run that never takes it is stopped and keeps
what was answered, and a step's different settings, requests or warehouse decline it."""

from __future__ import annotations

import json
import time

import pytest

from eval_pipeline.inference import head_start
from eval_pipeline.inference.settings import InferenceSettings
from eval_pipeline.project.loader import load_project
from eval_pipeline_tests.support.cli_env import answer_golden
from eval_pipeline_tests.support.orchestration import small_data
from eval_pipeline_tests.support.servers.anthropic_server import AnthropicTestServer, ServerConfig
from eval_pipeline_tests.support.servers.fixtures import module_server

KEY = "sk-test-head-start-unit-SECRET"
DATE = "2026-11-07"

server = module_server("server", AnthropicTestServer, api_key=KEY)


@pytest.fixture
def setup(tmp_path, server):
    data = small_data(tmp_path / "data", n_samples=40, model_names=("bot-a",))
    golden = data / "golden" / "intents.jsonl"
    rows = [json.loads(line) for line in golden.read_text().splitlines()]
    golden.write_text(
        "".join(json.dumps({**r, "input": f"ticket {i}: {r['input']}"}) + "\n" for i, r in enumerate(rows))
    )
    server.config = ServerConfig(api_key=KEY)
    answer_golden(server, data)
    server.reset_stats()
    project = load_project(data)
    settings = InferenceSettings(
        provider="anthropic", api_key=KEY, base_url=server.base_url, max_concurrency=2
    )
    yield project, project.registry.by_name("bot-a"), settings, str(tmp_path / "wh")
    head_start.settle()


def test_settle_stops_a_head_start_no_step_took_and_keeps_its_answers(setup, server):
    project, mv, settings, wh = setup
    server.config.latency_s = 0.5  # 40 requests, 2 at a time: ~10 s if nothing stopped them
    head = head_start.start(project, DATE, mv, settings, wh, None)
    assert (
        head is not None and head_start.start(project, DATE, mv, settings, wh, None) is None
    )  # one per partition
    deadline = time.monotonic() + 20
    while server.stats()["by_status"].get("200", 0) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    head_start.settle()
    assert head.thread is not None and not head.thread.is_alive()
    assert isinstance(head.error, head_start.HeadStartCancelled)
    sent = server.stats()["total"]
    assert 2 <= sent < 12  # stopped: nothing more was sent (40 distinct requests, 2 in flight at a time)
    time.sleep(0.6)
    assert server.stats()["total"] == sent
    store = settings.open_store(wh)
    try:
        assert len(store) >= 2  # what was answered is stored, so a rerun is served it
    finally:
        store.close()
    assert head_start.take(DATE, mv.key, head.requests, settings, wh) is None  # settled: nothing left to take


def test_the_step_takes_only_the_same_requests_settings_and_warehouse(setup, server):
    project, mv, settings, wh = setup
    head = head_start.start(project, DATE, mv, settings, wh, None)
    assert head is not None
    requests = list(head.requests)
    assert all(r.model == mv.model for r in requests) and len(requests) == 40
    assert not head.matches(requests[:-1], settings, wh)
    assert not head.matches(requests, settings.model_copy(update={"max_concurrency": 3}), wh)
    assert not head.matches(requests, settings, wh + "-elsewhere")
    assert head.matches(requests, settings, wh)
    taken = head_start.take(DATE, mv.key, requests, settings, wh)
    assert taken is head
    answers = taken.wait()
    assert [a.sample_id for a in answers] == [r.sample_id for r in requests]
    assert taken.timing.api_calls == server.stats()["total"] == 40
