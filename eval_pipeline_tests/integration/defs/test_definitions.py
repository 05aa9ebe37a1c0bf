"""Definitions load and validate; jobs select what they promise; the failure sensor alerts."""

from __future__ import annotations

import http.server
import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import dagster as dg
import pytest

from eval_pipeline.defs.jobs import JOBS
from eval_pipeline.defs.partitions import eval_partition_key
from eval_pipeline.defs.resources import EvalConfigResource, WarehouseResource
from eval_pipeline.defs.schedules import SCHEDULES
from eval_pipeline.defs.sensors import SENSORS, eval_failure_sensor, failure_summary
from eval_pipeline.project.paths import PROJECT_ROOT
from eval_pipeline_tests.support.orchestration import project_defs, small_data


@pytest.fixture(scope="module")
def defs():
    from eval_pipeline.definitions import defs

    return defs


def _selected(defs, job_name: str) -> set[str]:
    return {k.to_user_string() for k in defs.resolve_job_def(job_name).asset_layer.selected_asset_keys}


def test_definitions_validate_and_register_all_jobs_schedules_sensors(defs):
    dg.Definitions.validate_loadable(defs)
    repo = defs.get_repository_def()
    assert {j.name for j in JOBS} <= {j.name for j in repo.get_all_jobs()}
    from eval_pipeline.defs.monitoring.schedules import SCHEDULES as MONITORING_SCHEDULES

    assert {s.name for s in [*SCHEDULES, *MONITORING_SCHEDULES]} == {s.name for s in repo.schedule_defs}
    assert {s.name for s in SENSORS} <= {s.name for s in repo.sensor_defs}
    for sensor in SENSORS:
        assert repo.get_sensor_def(sensor.name).default_status == dg.DefaultSensorStatus.STOPPED
        assert repo.get_sensor_def(sensor.name).description


def test_job_selections(defs):
    gated = {"eval_run", "regression_report", "release_approval"}
    assert (
        _selected(defs, "nightly_eval_job")
        == {"golden_samples", "model_responses", "deterministic_scores", "similarity_scores"} | gated
    )
    assert (
        _selected(defs, "weekly_judge_job") == {"golden_samples", "model_responses", "judge_scores"} | gated
    )
    rescore = _selected(defs, "rescore_job")
    assert "model_responses" not in rescore and "golden_samples" not in rescore
    assert {"deterministic_scores", "similarity_scores", "judge_scores"} | gated == rescore
    assert _selected(defs, "calibration_job") == {"judge_calibration", "similarity_calibration"}
    assert _selected(defs, "history_job") == {"eval_history"}
    # The gate checks on eval_run run inside the partitioned jobs.
    for name in ("nightly_eval_job", "weekly_judge_job", "rescore_job"):
        checks = {k.name for k in defs.resolve_job_def(name).asset_layer.asset_graph.asset_check_keys}
        assert {"quality_gate", "no_significant_regression"} <= checks, name
        assert defs.resolve_job_def(name).partitions_def is not None


def test_dagster_cli_validates_the_workspace(tmp_path):
    """``dagster definitions validate -w workspace.yaml`` from the venv, on a scratch DAGSTER_HOME."""
    dagster_bin = Path(sys.executable).parent / "dagster"
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path)}
    shutil.copy(PROJECT_ROOT / ".dagster_home" / "dagster.yaml", tmp_path / "dagster.yaml")
    out = subprocess.run(
        [str(dagster_bin), "definitions", "validate", "-w", "workspace.yaml"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "eval_pipeline" in out.stdout + out.stderr


def test_dg_check_defs(tmp_path):
    """``dg check defs`` (Dagster 1.13's project CLI) loads every autoloaded definition under ``defs/``."""
    dg_bin = Path(sys.executable).parent / "dg"
    env = {
        **os.environ,
        "DAGSTER_HOME": str(tmp_path),
        "VIRTUAL_ENV": str(Path(sys.executable).parent.parent),
    }
    shutil.copy(PROJECT_ROOT / ".dagster_home" / "dagster.yaml", tmp_path / "dagster.yaml")
    out = subprocess.run(
        [str(dg_bin), "check", "defs"], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=180
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "All definitions loaded successfully" in out.stdout + out.stderr


class _Hook(http.server.BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self):  # noqa: N802 (http.server naming)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Hook.received.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_failure_sensor_logs_and_posts_a_real_failed_run(tmp_path, monkeypatch):
    data = small_data(tmp_path / "data")
    (data / "golden" / "intents.jsonl").write_text(
        '{"id": "s1", "input": "hello"}\n', encoding="utf-8"
    )  # no "expected"
    test_defs = project_defs(
        eval_config=EvalConfigResource(data_dir=str(data)),
        warehouse=WarehouseResource(url=str(tmp_path / "wh")),
    )
    from eval_pipeline.project.loader import load_project

    key = load_project(data).registry.models[0].key
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("model_version", [key])
    result = test_defs.resolve_job_def("nightly_eval_job").execute_in_process(
        partition_key=eval_partition_key("2026-11-20", key), instance=instance, raise_on_error=False
    )
    assert not result.success

    server = http.server.HTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _Hook.received.clear()
    monkeypatch.setenv("EVAL_ALERT_LOG", str(tmp_path / "alerts.jsonl"))
    monkeypatch.setenv("EVAL_ALERT_WEBHOOK_URL", f"http://127.0.0.1:{server.server_port}/hook")
    try:
        failure = next(e for e in result.all_events if e.event_type_value == "PIPELINE_FAILURE")
        ctx = dg.build_run_status_sensor_context(
            sensor_name=eval_failure_sensor.name,
            dagster_event=failure,
            dagster_instance=instance,
            dagster_run=result.dagster_run,
        ).for_run_failure()
        summary = failure_summary(ctx)
        eval_failure_sensor(ctx)
    finally:
        server.shutdown()
    assert summary["job"] == "nightly_eval_job" and summary["partition"] == f"2026-11-20|{key}"
    (step,) = summary["failed_steps"]
    assert (
        step["step"] == "golden_samples" and "intents.jsonl" in step["error"] and "expected" in step["error"]
    )
    logged = [json.loads(line) for line in (tmp_path / "alerts.jsonl").read_text().splitlines()]
    assert logged == [summary] and _Hook.received == [summary]
