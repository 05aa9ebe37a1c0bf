"""The evaluation jobs' executor (``defs/executor.py``): in process by default, multiprocess by run config or
``EVAL_EXECUTOR``; a step that raises in a launched in-process run fails alone."""

from __future__ import annotations

import dagster as dg
import pytest

from eval_pipeline.demo.calendar import DEMO_DATES
from eval_pipeline.project.paths import PROJECT_ROOT

DATE = DEMO_DATES[0]  # the recordings hold this date's answers


def _nightly_job():
    """The nightly job as the code location defines it (reconstructable: a module-level function)."""
    from eval_pipeline.definitions import defs

    return defs.resolve_job_def("nightly_eval_job")


def test_default_mode_is_in_process_and_a_bad_setting_names_the_variable(monkeypatch):
    from eval_pipeline.defs import executor as ex

    monkeypatch.delenv("EVAL_EXECUTOR", raising=False)
    assert ex.default_mode() == "in_process"
    monkeypatch.setenv("EVAL_EXECUTOR", "multiprocess")
    assert ex.default_mode() == "multiprocess"
    monkeypatch.setenv("EVAL_EXECUTOR", "threads")
    with pytest.raises(ValueError, match=r"EVAL_EXECUTOR='threads': use one of in_process, multiprocess"):
        ex.default_mode()


def test_run_config_selects_dagsters_own_executors():
    from dagster._core.executor.in_process import InProcessExecutor
    from dagster._core.executor.multiprocess import MultiprocessExecutor

    job = _nightly_job()
    assert job.executor_def.name == "eval_executor"

    def build(config):
        with dg.instance_for_test() as instance:
            return job.executor_def.executor_creation_fn(
                dg.InitExecutorContext(
                    job=dg.reconstructable(_nightly_job),
                    executor_def=job.executor_def,
                    executor_config=config,
                    instance=instance,
                )
            )

    assert isinstance(build({"in_process": {"retries": {"enabled": {}}}}), InProcessExecutor)
    mp = build({"multiprocess": {"retries": {"enabled": {}}}})
    assert isinstance(mp, MultiprocessExecutor) and mp._start_method == "forkserver"
    assert "eval_pipeline.definitions" in mp._explicit_forkserver_preload
    spawn = build({"multiprocess": {"retries": {"enabled": {}}, "start_method": {"spawn": {}}}})
    assert spawn._start_method == "spawn"
    for execution in ({"in_process": {}}, {"multiprocess": {"max_concurrent": 2}}):
        assert dg.validate_run_config(job, {"execution": {"config": execution}})
    with pytest.raises(dg.DagsterInvalidConfigError):
        dg.validate_run_config(job, {"execution": {"config": {"threads": {}}}})


@pytest.mark.parametrize(
    "execution", [None, {"multiprocess": {}}], ids=["in_process (default)", "multiprocess (run config)"]
)
def test_a_step_that_raises_fails_alone_in_a_launched_run(tmp_path, monkeypatch, execution):
    """A launched run (``execute_job`` of the reconstructable job, as the run worker does) of a demo partition whose
    similarity step cannot load its embedding model: the deterministic family beside it still materializes, the
    steps that need similarity scores are skipped, and the run is marked failed - in process (the default) and in
    the multiprocess mode a run selects (forkserver, a process per step)."""
    from eval_pipeline.defs.partitions import eval_partition_key
    from eval_pipeline.project.loader import load_project

    wh = tmp_path / "wh"
    monkeypatch.delenv("EVAL_EXECUTOR", raising=False)
    for k, v in {
        "EVAL_WAREHOUSE_URL": str(wh),
        "EVAL_PROVIDER": "replay",
        "EVAL_RESPONSE_STORE": str(wh / "response_store"),
        "EVAL_RECORDINGS_DIR": str(PROJECT_ROOT / "data" / "recordings"),
        "EVAL_DATA_DIR": "",
        "EVAL_EMBEDDING_MODEL": str(tmp_path / "no-such-model"),
        "EVAL_EMBEDDING_CACHE": str(tmp_path / "emb"),
    }.items():
        monkeypatch.setenv(k, v)
    key = next(m.key for m in load_project().registry.models if m.nightly)
    pk = eval_partition_key(DATE, key)
    (tmp_path / "home").mkdir()
    with dg.instance_for_test(temp_dir=str(tmp_path / "home")) as instance:
        instance.add_dynamic_partitions("model_version", [key])
        tags = {
            "dagster/partition": str(pk),
            "dagster/partition/date": DATE,
            "dagster/partition/model_version": key,
        }
        run_config = {"execution": {"config": execution}} if execution else None
        with dg.execute_job(
            dg.reconstructable(_nightly_job),
            instance=instance,
            tags=tags,
            run_config=run_config,
            raise_on_error=False,
        ) as result:
            assert not result.success
            status = {s.step_key: s.status.value for s in instance.get_run_step_stats(result.run_id)}
            run = instance.get_run_by_id(result.run_id)
        assert status["similarity_scores"] == "FAILURE"
        assert status["deterministic_scores"] == "SUCCESS" and status["model_responses"] == "SUCCESS"
        assert "eval_run" not in status or status["eval_run"] == "SKIPPED"
        assert run.status == dg.DagsterRunStatus.FAILURE
        engine = [
            e.message or ""
            for e in instance.all_logs(result.run_id)
            if e.dagster_event and e.dagster_event.is_engine_event
        ]
        per_step = any(
            "Launching subprocess" in m or "Executing steps using multiprocess" in m for m in engine
        )
        assert per_step == (execution is not None), engine[
            :5
        ]  # the mode the run selected is the one that ran
        for asset in ("golden_samples", "model_responses", "deterministic_scores"):
            assert str(pk) in instance.get_materialized_partitions(dg.AssetKey(asset)), asset
        assert str(pk) not in instance.get_materialized_partitions(dg.AssetKey("similarity_scores"))
