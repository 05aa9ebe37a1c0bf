"""The committed ``.dagster_home/dagster.yaml`` is a valid instance config with the pools we rely on.

This is the only test that reads that file (from a temporary copy, so no state lands in the
repo); all other tests use ephemeral or temporary instances.
"""

from __future__ import annotations

import shutil

import dagster as dg
import pytest
import yaml

from eval_pipeline.project.paths import PROJECT_ROOT

CONFIG = PROJECT_ROOT / ".dagster_home" / "dagster.yaml"


@pytest.fixture
def instance(tmp_path):
    shutil.copy(CONFIG, tmp_path / "dagster.yaml")
    inst = dg.DagsterInstance.from_config(str(tmp_path))
    yield inst
    inst.dispose()


def test_repo_instance_config_is_valid_and_limits_pools(instance):
    config = instance.get_concurrency_config()
    assert config.pool_config.default_pool_limit == 1
    assert config.pool_config.pool_granularity.value == "op"
    assert config.run_queue_config.max_concurrent_runs == 4
    assert {"key": "dagster/backfill", "limit": 3} in config.run_queue_config.tag_concurrency_limits
    assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
    raw = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    assert raw["telemetry"] == {"enabled": False}

    # A pool is created with the default limit the first time a step asks for it.
    for pool in ("anthropic_api", "duckdb_writer"):
        instance.event_log_storage.initialize_concurrency_limit_to_default(pool)
        assert instance.event_log_storage.get_concurrency_info(pool).slot_count == 1
    # An explicit limit (what `dagster instance concurrency set anthropic_api 2` stores) wins.
    instance.event_log_storage.set_concurrency_slots("anthropic_api", 2)
    assert instance.event_log_storage.get_concurrency_info("anthropic_api").slot_count == 2


def test_api_bound_assets_share_the_api_pool():
    from eval_pipeline.definitions import defs

    graph = defs.resolve_asset_graph()
    pools = {key.to_user_string(): graph.get(key).pools for key in graph.get_all_asset_keys()}
    api_bound = {"model_responses", "judge_scores", "judge_calibration"}
    for name in api_bound:
        assert pools[name] == {"anthropic_api"}, (name, pools[name])
    used = set().union(*pools.values())
    assert used <= {"anthropic_api", "duckdb_writer"}, f"pool without documented limit: {used}"


def test_cli_instance_captures_no_compute_logs_unless_configured(tmp_path, monkeypatch):
    """``eval-pipeline run`` opens its home without Dagster's per-run ``tail -F`` capture, on the same storages
    and settings; a ``compute_logs`` set in the home's dagster.yaml is kept."""
    from eval_pipeline.defs.partitions import local_instance

    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(CONFIG, home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    cli = local_instance(capture_compute_logs=False)
    assert type(cli.compute_log_manager).__name__ == "NoOpComputeLogManager"
    assert type(cli.run_storage).__name__ == "SqliteRunStorage"
    assert cli.get_concurrency_config().run_queue_config.max_concurrent_runs == 4
    cli.add_dynamic_partitions("model_version", ["mv-1"])
    default = local_instance()  # the demo, `register`, the UI: as configured (Dagster's default here)
    assert type(default.compute_log_manager).__name__ == "LocalComputeLogManager"
    assert default.get_dynamic_partitions("model_version") == ["mv-1"]  # the same databases

    configured = {
        "module": "dagster._core.storage.local_compute_log_manager",
        "class": "LocalComputeLogManager",
    }
    raw = yaml.safe_load((home / "dagster.yaml").read_text(encoding="utf-8"))
    raw["compute_logs"] = {**configured, "config": {"base_dir": str(tmp_path / "logs")}}
    (home / "dagster.yaml").write_text(yaml.safe_dump(raw), encoding="utf-8")
    kept = local_instance(capture_compute_logs=False)
    assert type(kept.compute_log_manager).__name__ == "LocalComputeLogManager"
    for inst in (cli, default, kept):
        inst.dispose()
