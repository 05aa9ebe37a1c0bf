"""Postgres-backed Dagster with the daemon, for real: the deployment of docs/operations.md.

A real PostgreSQL (``support/servers/postgres.py``), the instance of ``deploy/dagster.yaml.template`` copied
as-is (dagster-postgres storage, QueuedRunCoordinator, DefaultRunLauncher, ``anthropic_api`` at one
step at a time), ``dagster-daemon run`` on the project's workspace, settings through the
environment (``dg.EnvVar``). A backfill over three partitions is added to the instance; the daemon
is killed with SIGKILL once a run has finished and restarted. Asserted: every run succeeds, the
pool never had more steps in flight than its limit (step start/end events of the event log), the
history schedule and the failure sensor ticked (rows in Postgres), and every sample was sent to the
model exactly once (counted at the test server) although the daemon died mid-backfill.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest

from eval_pipeline.defs.partitions import MODEL_VERSION_PARTITIONS, eval_partition_key
from eval_pipeline.project.loader import load_project
from eval_pipeline_tests.support.cli_env import served_env
from eval_pipeline_tests.support.orchestration import small_data
from eval_pipeline_tests.support.servers.anthropic_server import AnthropicTestServer, ServerConfig
from eval_pipeline_tests.support.servers.postgres import PostgresServer, wait_for
from eval_pipeline_tests.support.servers.seaweed import free_ports

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "deploy" / "dagster.yaml.template"
DATE = "2026-11-23"
N = 4
KEY = "sk-ant-daemon-SECRET-333"
POOL_LIMIT = 1  # default_limit of the template


@pytest.fixture(scope="module")
def postgres():
    with PostgresServer() as pg:
        pg.create_database("dagster")
        yield pg


def _start_instigators(instance: dg.DagsterInstance) -> None:
    """What ``dagster schedule start history_refresh_schedule`` / ``dagster sensor start eval_failure_sensor``
    store, from the definitions already loaded in this process (same location name as the workspace, so
    the daemon finds the states by their selector)."""
    from dagster._core.remote_origin import InProcessCodeLocationOrigin
    from dagster._core.types.loadable_target_origin import LoadableTargetOrigin

    origin = InProcessCodeLocationOrigin(
        LoadableTargetOrigin(
            executable_path=sys.executable,
            module_name="eval_pipeline.definitions",
            working_directory=str(REPO),
        ),
        location_name="eval_pipeline",
    )
    with origin.create_location(instance) as location:
        repo = location.get_repository("__repository__")
        instance.start_schedule(repo.get_schedule("history_refresh_schedule"))
        instance.start_sensor(repo.get_sensor("eval_failure_sensor"))


def _daemon(env: dict, home: Path, log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [str(Path(sys.executable).with_name("dagster-daemon")), "run", "-w", str(home / "workspace.yaml")],
        env=env,
        cwd=str(home),
        stdout=open(log, "ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _max_in_flight(instance: dg.DagsterInstance, run_ids: list[str], step: str) -> tuple[int, int]:
    """(most ``step`` executions running at once across the runs, how many ran) from STEP_START / STEP_SUCCESS|FAILURE."""
    edges = []
    for run_id in run_ids:
        for rec in instance.all_logs(run_id):
            ev = rec.dagster_event
            if ev is None or ev.step_key != step:
                continue
            if ev.event_type_value == "STEP_START":
                edges.append((rec.timestamp, 1))
            elif ev.event_type_value in ("STEP_SUCCESS", "STEP_FAILURE"):
                edges.append((rec.timestamp, -1))
    level = peak = 0
    for _, d in sorted(edges, key=lambda e: (e[0], e[1])):  # an end before a start at the same instant
        level += d
        peak = max(peak, level)
    return peak, sum(1 for _, d in edges if d == 1)


def _ticks(pg: PostgresServer) -> list[tuple[str, str, str]]:
    import psycopg2

    con = psycopg2.connect(host="127.0.0.1", port=pg.port, user=pg.user, dbname="dagster")
    try:
        with con.cursor() as cur:
            cur.execute("SELECT type, status, tick_body FROM job_ticks")
            return [(t, s, json.loads(b).get("job_name", "")) for t, s, b in cur.fetchall()]
    finally:
        con.close()


def test_backfill_through_the_daemon_on_postgres_survives_a_daemon_kill(tmp_path, postgres, monkeypatch):
    from dagster._core.execution.backfill import BulkActionStatus, PartitionBackfill
    from dagster._core.utils import make_new_backfill_id

    from eval_pipeline.definitions import defs

    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copyfile(TEMPLATE, home / "dagster.yaml")  # the documented file, unchanged
    # The code location as its own service (as on Kubernetes): the runs it launches do not die with the daemon.
    code_port = free_ports(1)[0]
    (home / "workspace.yaml").write_text(
        f"load_from:\n  - grpc_server:\n      host: 127.0.0.1\n      port: {code_port}\n      location_name: eval_pipeline\n"
    )
    data = small_data(tmp_path / "data", n_samples=N)
    mvs = [m.key for m in load_project(data).registry.models]
    assert len(mvs) == 3
    server = AnthropicTestServer(ServerConfig(api_key=KEY, latency_s=1.0)).start()
    env = {
        **os.environ,
        **postgres.env("dagster"),
        **served_env(tmp_path, data, home, KEY, server.base_url, max_concurrency=2),
        "PYTHONPATH": str(REPO),
        "EVAL_HISTORY_CRON": "* * * * *",
        "DAGSTER_CLI_API_GRPC_CONTAINER_CONTEXT": "",
    }
    env.pop("DAGSTER_CLI_API_GRPC_CONTAINER_CONTEXT")
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    daemon = None
    log = tmp_path / "daemon.log"
    code_server = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("dagster")),
            "code-server",
            "start",
            "-h",
            "127.0.0.1",
            "-p",
            str(code_port),
            "-m",
            "eval_pipeline.definitions",
            "--location-name",
            "eval_pipeline",
        ],
        env=env,
        cwd=str(REPO),
        stdout=open(tmp_path / "code_server.log", "ab"),  # noqa: SIM115
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        instance = dg.DagsterInstance.from_config(str(home))
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
        assert type(instance.run_launcher).__name__ == "DefaultRunLauncher"
        instance.add_dynamic_partitions(MODEL_VERSION_PARTITIONS.name, mvs)
        _start_instigators(instance)

        def code_server_up():
            import socket

            with socket.socket() as sock:
                return sock.connect_ex(("127.0.0.1", code_port)) == 0

        wait_for(
            code_server_up,
            240,
            what=lambda: f"the code server ({(tmp_path / 'code_server.log').read_text()[-2000:]})",
        )

        daemon = _daemon(env, home, log)
        backfill_id = make_new_backfill_id()
        instance.add_backfill(
            PartitionBackfill.from_asset_partitions(
                backfill_id=backfill_id,
                asset_graph=defs.resolve_asset_graph(),
                partition_names=[str(eval_partition_key(DATE, k)) for k in mvs],
                asset_selection=[dg.AssetKey("golden_samples"), dg.AssetKey("model_responses")],
                backfill_timestamp=time.time(),
                tags={},
                dynamic_partitions_store=instance,
                all_partitions=False,
                title="deploy test",
                description=None,
                run_config={"execution": {"config": {"in_process": {}}}},
            )
        )  # one process per run: faster on 2 cores; pools still apply

        def runs():
            return instance.get_runs(filters=dg.RunsFilter(tags={"dagster/backfill": backfill_id}))

        # Kill the daemon (SIGKILL, no clean-up) once one run has finished and the backfill is not done.
        wait_for(
            lambda: any(r.status == dg.DagsterRunStatus.SUCCESS for r in runs()),
            600,
            what=lambda: f"a first run ({log.read_text()[-3000:] if log.exists() else ''})",
        )
        done_before = sum(r.status == dg.DagsterRunStatus.SUCCESS for r in runs())
        os.kill(daemon.pid, signal.SIGKILL)
        daemon.wait()
        assert instance.get_backfill(backfill_id).status == BulkActionStatus.REQUESTED and done_before < 3
        time.sleep(2)
        daemon = _daemon(env, home, log)

        wait_for(
            lambda: instance.get_backfill(backfill_id).status != BulkActionStatus.REQUESTED,
            600,
            what=lambda: f"the backfill to finish ({log.read_text()[-3000:]})",
        )
        assert instance.get_backfill(backfill_id).status == BulkActionStatus.COMPLETED_SUCCESS
        final = runs()
        assert len(final) == 3 and all(r.status == dg.DagsterRunStatus.SUCCESS for r in final)
        for asset in ("golden_samples", "model_responses"):
            assert instance.get_materialized_partitions(dg.AssetKey(asset)) == {
                str(eval_partition_key(DATE, k)) for k in mvs
            }
        # every sample went to the model once: the daemon's death re-ran nothing that had finished
        assert server.stats()["total"] == 3 * N
        peak, started = _max_in_flight(instance, [r.run_id for r in final], "model_responses")
        assert started == 3 and 1 <= peak <= POOL_LIMIT

        # a schedule tick and a sensor tick, stored in Postgres
        def both_kinds():
            t = _ticks(postgres)
            return t if {"SCHEDULE", "SENSOR"} <= {x[0] for x in t} else None

        ticks = wait_for(both_kinds, 90, what=lambda: f"a schedule and a sensor tick, got {_ticks(postgres)}")
        names = {(t, n) for t, _, n in ticks}
        assert ("SCHEDULE", "history_refresh_schedule") in names and (
            "SENSOR",
            "eval_failure_sensor",
        ) in names
        for run in final:  # the key is in no event
            assert not any(
                KEY in (r.user_message or "") or KEY in str(r.dagster_event or "")
                for r in instance.all_logs(run.run_id)
            )
        instance.dispose()
    finally:
        if daemon is not None and daemon.poll() is None:
            os.killpg(daemon.pid, signal.SIGTERM)
            try:
                daemon.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(daemon.pid, signal.SIGKILL)
        os.killpg(code_server.pid, signal.SIGKILL)
        code_server.wait()
        server.stop()
