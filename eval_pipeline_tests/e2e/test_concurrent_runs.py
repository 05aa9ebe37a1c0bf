"""Issue 24: two processes on one partition never pay twice (step claims on a folder and on S3),
registering partitions at once succeeds, a dead CLI run is marked failed, the shipped instance config
enables run monitoring, and a run without run.json is never history."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
import time
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from eval_pipeline.defs.partitions import MODEL_VERSION_PARTITIONS, register_model_versions
from eval_pipeline.history.aggregate import refresh_history
from eval_pipeline.history.sources import HistorySources
from eval_pipeline.inference import AnthropicProvider, ModelRequest, run_requests
from eval_pipeline.inference.store import ResponseStore
from eval_pipeline.project.paths import PROJECT_ROOT
from eval_pipeline.storage import Warehouse
from eval_pipeline.storage.claims import ClaimTimeout, step_claim
from eval_pipeline_tests.integration.history.test_aggregate import _scores
from eval_pipeline_tests.support.servers.anthropic_server import AnthropicTestServer
from eval_pipeline_tests.support.servers.fixtures import module_server

KEY = "test-key-concurrent-runs"


server = module_server("server", AnthropicTestServer, api_key=KEY, latency_s=0.2)


def _two_workers(backend, store_root: Path, server, n: int = 12) -> list[float]:
    """Two workers (own store objects, own providers) run the same partition's requests at once."""
    reqs = [
        ModelRequest(f"s{i}", "claude-good", [{"role": "user", "content": f"q{i}"}], params={"max_tokens": 9})
        for i in range(n)
    ]
    waits: list[float] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def worker() -> None:
        try:
            store = ResponseStore(store_root)
            barrier.wait()
            t0 = time.monotonic()
            with step_claim(backend, "model_responses", "2026-01-01", "mv-1", poll_s=0.05):
                waits.append(time.monotonic() - t0)
                out = run_requests(AnthropicProvider(KEY, base_url=server.base_url), reqs, store)
                assert all(r.text for r in out)
                store.publish()
            store.close()
        except BaseException as e:  # surfaced below
            errors.append(e)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    return waits


def test_two_runs_of_one_partition_on_a_folder_pay_once(server, tmp_path):
    server.reset_stats()
    wh = Warehouse.from_url(tmp_path / "wh")
    waits = _two_workers(wh.backend, tmp_path / "wh" / "response_store", server)
    assert server.stats()["total"] == 12  # not 24
    assert max(waits) > 0.1  # the second waited for the first


def test_two_runs_of_one_partition_on_s3_pay_once(server, seaweed_s3, tmp_path, monkeypatch):
    for k, v in seaweed_s3.env().items():
        monkeypatch.setenv(k, v)
    server.reset_stats()
    wh = Warehouse.from_url(f"s3://{seaweed_s3.bucket}/claims-test", endpoint_url=seaweed_s3.endpoint_url)
    _two_workers(wh.backend, tmp_path / "store", server)
    assert server.stats()["total"] == 12
    assert not wh.backend.exists("claims/model_responses/date=2026-01-01/model_version=mv-1.json")


def test_an_expired_s3_claim_of_a_dead_holder_is_taken_over(seaweed_s3, monkeypatch):
    for k, v in seaweed_s3.env().items():
        monkeypatch.setenv(k, v)
    wh = Warehouse.from_url(f"s3://{seaweed_s3.bucket}/claims-dead", endpoint_url=seaweed_s3.endpoint_url)
    key = "claims/judge_scores/date=2026-01-01/model_version=mv-1.json"
    dead = {"host": "gone", "pid": 1, "token": "x", "since": time.time() - 60, "expires": time.time() + 1.5}
    wh.backend.put(key, json.dumps(dead).encode())
    busy = step_claim(wh.backend, "judge_scores", "2026-01-01", "mv-1", wait_s=0.3, poll_s=0.1)
    with pytest.raises(ClaimTimeout, match="process 1 on gone"), busy:
        pass
    t0 = time.monotonic()
    with step_claim(wh.backend, "judge_scores", "2026-01-01", "mv-1", wait_s=10, poll_s=0.1):
        held = json.loads(wh.backend.get(key))
    assert held["pid"] == os.getpid() and time.monotonic() - t0 < 5


def test_registering_partitions_twice_at_once_succeeds(tmp_path):
    (tmp_path / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    instances = [dg.DagsterInstance.from_config(str(tmp_path)) for _ in range(4)]
    errors: list[str] = []
    for rnd in range(6):
        keys = [f"k{rnd}-{i}" for i in range(5)]
        barrier = threading.Barrier(len(instances))

        def go(inst, keys=keys, barrier=barrier):
            barrier.wait()
            try:
                register_model_versions(inst, keys)
            except Exception as e:
                errors.append(f"{type(e).__name__}: {e}"[:200])

        threads = [threading.Thread(target=go, args=(i,)) for i in instances]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert not errors, errors
    assert len(instances[0].get_dynamic_partitions(MODEL_VERSION_PARTITIONS.name)) == 30


def test_shipped_instance_configs_enable_run_monitoring():
    inst = dg.DagsterInstance.from_config(str(PROJECT_ROOT / ".dagster_home"))
    assert inst.run_monitoring_enabled and 0 < inst.run_monitoring_max_runtime_seconds <= 24 * 3600
    template = (PROJECT_ROOT / "deploy" / "dagster.yaml.template").read_text()
    assert "max_runtime_seconds:" in template and "run_monitoring:\n  enabled: true" in template


def test_a_cli_run_whose_process_died_is_marked_failed(tmp_path):
    from eval_pipeline.defs.ci import fail_dead_runs, worker_tags

    (tmp_path / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    instance = dg.DagsterInstance.from_config(str(tmp_path))
    gone = subprocess.Popen(["true"])
    gone.wait()  # a pid that no longer runs
    tags = {**worker_tags(), "eval/pid": str(gone.pid), "eval/trigger": "cli"}
    alive = {**worker_tags(), "eval/trigger": "cli"}  # this process: still running
    runs = []
    for t in (tags, alive):
        run = instance.create_run_for_job(job_def=_noop_job(), tags=t)
        instance.handle_run_event(
            run.run_id,
            dg.DagsterEvent(event_type_value="PIPELINE_START", job_name=run.job_name, message="start"),
        )
        runs.append(run.run_id)
    assert instance.get_run_by_id(runs[0]).status == dg.DagsterRunStatus.STARTED
    assert fail_dead_runs(instance) == [runs[0]]
    assert instance.get_run_by_id(runs[0]).status == dg.DagsterRunStatus.FAILURE
    assert instance.get_run_by_id(runs[1]).status == dg.DagsterRunStatus.STARTED
    assert socket.gethostname() in str([e.message for e in instance.all_logs(runs[0])])


def _noop_job():
    @dg.op
    def noop():
        return None

    @dg.job
    def noop_job():
        noop()

    return noop_job


def test_a_run_without_its_run_json_is_not_history(tmp_path):
    root = tmp_path / "wh"
    for mv in ("done", "killed"):
        part = root / f"scores/family=deterministic/date=2026-01-02/model_version={mv}"
        part.mkdir(parents=True)
        _scores("2026-01-02", mv, "deterministic", [True, False], ["a", "b"]).to_parquet(
            part / "data.parquet"
        )
    run = root / "runs/date=2026-01-02/model_version=done"
    run.mkdir(parents=True)
    (run / "run.json").write_text("{}")
    con = duckdb.connect()
    sources = HistorySources.for_root(root, complete_runs_only=True)
    files = refresh_history(con, sources, db_path=tmp_path / "h.duckdb")
    hist = duckdb.connect(str(files.db_path), read_only=True)
    mvs = {r[0] for r in hist.execute("SELECT DISTINCT model_version FROM score_history").fetchall()}
    assert mvs == {"done"}


def test_two_processes_opening_a_fresh_instance_at_once_leave_it_usable(tmp_path, monkeypatch):
    """Without the lock in local_instance, 5 of 5 fresh homes ended with a doubled alembic_version
    ("more than one head") and no longer opened."""
    from eval_pipeline.defs.partitions import local_instance

    for i in range(3):
        home = tmp_path / f"home{i}"
        home.mkdir()
        (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
        monkeypatch.setenv("DAGSTER_HOME", str(home))
        barrier = threading.Barrier(4)
        errors: list[BaseException] = []

        def go(barrier=barrier, errors=errors):
            barrier.wait()
            try:
                local_instance().get_runs()
            except BaseException as e:
                errors.append(e)

        threads = [threading.Thread(target=go) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors, errors
        dg.DagsterInstance.from_config(str(home)).get_runs()  # still opens
