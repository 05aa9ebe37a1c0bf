"""Every schedule evaluated with ``build_schedule_context`` and its run config validated."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys

import dagster as dg
import pytest

from eval_pipeline.defs.partitions import eval_partition_key
from eval_pipeline.defs.resources import EvalConfigResource
from eval_pipeline.defs.schedules import (
    SCHEDULES,
    history_refresh_schedule,
    nightly_eval_schedule,
    weekly_calibration_schedule,
    weekly_judge_schedule,
)
from eval_pipeline.project import registration
from eval_pipeline.project.loader import load_project
from eval_pipeline.project.paths import PROJECT_ROOT
from eval_pipeline_tests.support.orchestration import copy_data, edit_yaml

WHEN = dt.datetime(2026, 11, 20, 2, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def defs():
    from eval_pipeline.definitions import defs

    return defs


@pytest.fixture
def data(tmp_path):
    return copy_data(tmp_path / "data")


def _context(defs, instance, data, when=WHEN):
    """A schedule context on ``instance`` with the repository (partitioned run requests are resolved against it)."""
    return dg.build_schedule_context(
        instance=instance,
        scheduled_execution_time=when,
        resources={"eval_config": EvalConfigResource(data_dir=str(data))},
        repository_def=defs.get_repository_def(),
    )


@pytest.fixture(scope="module")
def shared_instance():
    """A persistent temporary instance (schedule contexts need one; ``DAGSTER_HOME`` is not used)."""
    with dg.instance_for_test() as inst:
        yield inst


@pytest.fixture
def instance(shared_instance):
    """The shared instance with no model_version partition registered."""
    for key in shared_instance.get_dynamic_partitions("model_version"):
        shared_instance.delete_dynamic_partition("model_version", key)
    return shared_instance


def _register(instance, keys):
    instance.add_dynamic_partitions("model_version", list(keys))
    return instance


def _check_requests(defs, schedule, ctx):
    data = schedule.evaluate_tick(ctx)
    job = defs.resolve_job_def(schedule.job_name)
    for req in data.run_requests or []:
        assert dg.validate_run_config(job, req.run_config) is not None
        if job.partitions_def is not None:
            with dg.partition_loading_context(dynamic_partitions_store=ctx.instance):
                assert job.partitions_def.has_partition_key(str(req.partition_key)), req.partition_key
    return data


@pytest.mark.parametrize(
    "schedule, kind", [(nightly_eval_schedule, "nightly"), (weekly_judge_schedule, "weekly_judge")]
)
def test_fan_out_one_run_per_nightly_version(defs, data, instance, schedule, kind):
    edit_yaml(data / "models.yaml", lambda d: d["models"][1].update(nightly=False))
    keys = registration.model_version_keys(load_project(data))
    ctx = _context(defs, _register(instance, keys.values()), data)
    result = _check_requests(defs, schedule, ctx)
    (req,) = result.run_requests  # support-bot-v2 is not nightly
    assert req.partition_key == eval_partition_key("2026-11-20", keys["support-bot-v1"])
    assert req.run_key == f"{kind}:2026-11-20:{keys['support-bot-v1']}"
    # Evaluating the same tick again yields the same run key (the daemon launches it once).
    assert [r.run_key for r in schedule.evaluate_tick(ctx).run_requests] == [req.run_key]


def test_nightly_date_follows_the_timezone_of_the_tick(defs, data, instance):
    keys = registration.model_version_keys(load_project(data))
    late = dt.datetime(
        2026, 11, 20, 23, 30, tzinfo=dt.timezone(dt.timedelta(hours=-5))
    )  # 04:30 UTC on the 21st
    result = _check_requests(
        defs, nightly_eval_schedule, _context(defs, _register(instance, keys.values()), data, late)
    )
    assert {r.partition_key.keys_by_dimension["date"] for r in result.run_requests} == {"2026-11-21"}
    assert len(result.run_requests) == 2


def test_unregistered_versions_are_skipped_with_a_message(defs, data, instance):
    keys = registration.model_version_keys(load_project(data))
    result = nightly_eval_schedule.evaluate_tick(_context(defs, instance, data))
    assert not result.run_requests
    assert "unregistered" in result.skip_message and keys["support-bot-v1"] in result.skip_message

    result = _check_requests(
        defs, nightly_eval_schedule, _context(defs, _register(instance, [keys["support-bot-v2"]]), data)
    )
    assert [r.partition_key.keys_by_dimension["model_version"] for r in result.run_requests] == [
        keys["support-bot-v2"]
    ]


def test_invalid_registry_skips_the_tick(defs, data, instance):
    (data / "models.yaml").write_text("models: [\n", encoding="utf-8")
    result = nightly_eval_schedule.evaluate_tick(_context(defs, instance, data))
    assert not result.run_requests and "models.yaml" in result.skip_message


@pytest.mark.parametrize(
    "schedule, prefix", [(weekly_calibration_schedule, "calibration"), (history_refresh_schedule, "history")]
)
def test_unpartitioned_schedules(defs, data, instance, schedule, prefix):
    result = _check_requests(defs, schedule, _context(defs, instance, data))
    (req,) = result.run_requests
    assert req.run_key == f"{prefix}:2026-11-20" and req.partition_key is None


def test_schedules_are_registered_described_and_stopped_by_default(defs):
    for schedule in SCHEDULES:
        loaded = defs.resolve_schedule_def(schedule.name)
        assert loaded.description and len(loaded.description) > 40
        assert loaded.default_status == dg.DefaultScheduleStatus.STOPPED
    assert (
        nightly_eval_schedule.cron_schedule == "0 2 * * *"
        and nightly_eval_schedule.execution_timezone == "UTC"
    )
    assert weekly_judge_schedule.cron_schedule == "0 3 * * 0"


def test_cron_and_timezone_come_from_the_environment():
    env = {**os.environ, "EVAL_NIGHTLY_CRON": "30 1 * * 1-5", "EVAL_TIMEZONE": "Europe/Paris"}
    code = "from eval_pipeline.defs.schedules import nightly_eval_schedule as s; print(s.cron_schedule, s.execution_timezone)"
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["30", "1", "*", "*", "1-5", "Europe/Paris"]
