"""Deployment settings are read when a run starts, not when the code location loads.

The shipped, already loaded ``eval_pipeline.definitions.defs`` runs the same partition twice; between
the runs the environment changes the API key, the base URL (another test server that only accepts
the new key), the warehouse, the store folder and the concurrency. The second run must use every new
value, and the key must appear in no event, run config or written file.
"""

from __future__ import annotations

import dagster as dg

from eval_pipeline.defs.partitions import MODEL_VERSION_PARTITIONS, eval_partition_key
from eval_pipeline.defs.resources import build_resources
from eval_pipeline.project.environment import SETTINGS
from eval_pipeline.project.loader import load_project
from eval_pipeline_tests.support.orchestration import small_data
from eval_pipeline_tests.support.servers.anthropic_server import AnthropicTestServer, ServerConfig

DATE = "2026-11-21"
N = 4
KEYS = ("sk-ant-first-SECRET-111111", "sk-ant-second-SECRET-222222")


def test_env_changed_between_two_runs_of_the_loaded_definitions_is_used(tmp_path, monkeypatch):
    from eval_pipeline.definitions import defs

    # Every resource setting is a dg.EnvVar: the loaded definitions hold names, not values.
    res = build_resources()
    for field, name in (
        (res["llm"].api_key, "ANTHROPIC_API_KEY"),
        (res["llm"].base_url, "ANTHROPIC_BASE_URL"),
        (res["warehouse"].url, "EVAL_WAREHOUSE_URL"),
        (res["warehouse"].endpoint_url, "EVAL_S3_ENDPOINT_URL"),
        (res["llm"].store_path, "EVAL_RESPONSE_STORE"),
        (res["llm"].provider, "EVAL_PROVIDER"),
    ):
        assert isinstance(field, dg.EnvVar) and field.env_var_name == name and name in SETTINGS
    assert res["llm"].max_concurrency.name == "EVAL_MAX_CONCURRENCY"

    data = small_data(tmp_path / "data", n_samples=N)
    mv = load_project(data).registry.models[0]
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(MODEL_VERSION_PARTITIONS.name, [mv.key])
    job = defs.resolve_implicit_global_asset_job_def()
    servers = [AnthropicTestServer(ServerConfig(api_key=k, latency_s=0.01)).start() for k in KEYS]
    try:
        monkeypatch.setenv("EVAL_DATA_DIR", str(data))
        monkeypatch.setenv("EVAL_PROVIDER", "anthropic")
        run_ids = []
        for i, (key, srv) in enumerate(zip(KEYS, servers)):
            monkeypatch.setenv("ANTHROPIC_API_KEY", key)
            monkeypatch.setenv("ANTHROPIC_BASE_URL", srv.base_url)
            monkeypatch.setenv("EVAL_WAREHOUSE_URL", str(tmp_path / f"wh{i}"))
            monkeypatch.setenv("EVAL_RESPONSE_STORE", str(tmp_path / f"store{i}"))
            monkeypatch.setenv("EVAL_MAX_CONCURRENCY", str(2 + i))
            result = job.execute_in_process(
                partition_key=eval_partition_key(DATE, mv.key),
                instance=instance,
                raise_on_error=False,
                asset_selection=[dg.AssetKey("golden_samples"), dg.AssetKey("model_responses")],
            )
            assert result.success, [e.message for e in result.all_events if e.is_failure]
            run_ids.append(result.run_id)
            # this run used this iteration's server (its key), warehouse and store folder; the other server got nothing new
            assert servers[i].stats()["total"] == N and all(
                s.stats()["total"] == (N if j <= i else 0) for j, s in enumerate(servers)
            )
            assert (
                tmp_path / f"wh{i}" / f"responses/date={DATE}/model_version={mv.key}/data.parquet"
            ).is_file()
            assert list((tmp_path / f"store{i}").glob("responses-*.jsonl"))
            llm_config = instance.get_run_by_id(result.run_id).run_config.get("resources", {}).get("llm", {})
            assert key not in str(llm_config)
    finally:
        for s in servers:
            s.stop()
    for run_id in run_ids:  # the key is in no event of either run and in no file written
        for rec in instance.all_logs(run_id):
            assert not any(k in (rec.user_message or "") or k in str(rec.dagster_event or "") for k in KEYS)
    for f in tmp_path.rglob("*"):
        if f.is_file():
            assert not any(k.encode() in f.read_bytes() for k in KEYS), f
