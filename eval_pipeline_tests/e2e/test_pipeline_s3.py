"""The pipeline with the warehouse on S3 (a real SeaweedFS on 127.0.0.1): Parquet written by the
assets, history aggregated by DuckDB over s3:// through httpfs, reruns replace partitions."""

import json

import boto3

from eval_pipeline.defs.partitions import MODEL_VERSION_PARTITIONS, eval_partition_key
from eval_pipeline.defs.resources import (
    EmbeddingResource,
    EvalConfigResource,
    LLMResource,
    WarehouseResource,
    project_resource,
)
from eval_pipeline.project.loader import load_project
from eval_pipeline_tests.e2e.test_pipeline import GOLDEN, _small_data, instance, materialize  # noqa: F401 (fixture)
from eval_pipeline_tests.support.cli_env import answer_golden
from eval_pipeline_tests.support.servers.anthropic_server import AnthropicTestServer, ServerConfig

DATE = "2026-11-03"
SELECTION = ["golden_samples", "model_responses", "deterministic_scores", "eval_run", "eval_history"]


def test_pipeline_on_s3_warehouse(tmp_path, seaweed_s3, monkeypatch, instance):  # noqa: F811
    for k, v in seaweed_s3.env().items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("EVAL_HISTORY_DB", str(tmp_path / "history.duckdb"))
    data = _small_data(tmp_path)
    server = AnthropicTestServer(ServerConfig(api_key="k3")).start()
    try:
        answer_golden(server, data, GOLDEN)
        mvs = load_project(data).registry.models
        instance.add_dynamic_partitions(MODEL_VERSION_PARTITIONS.name, [m.key for m in mvs])
        url = f"s3://{seaweed_s3.bucket}/evals"
        resources = {
            "eval_config": EvalConfigResource(data_dir=str(data)),
            "project": project_resource,
            "warehouse": WarehouseResource(url=url, endpoint_url=seaweed_s3.endpoint_url),
            "llm": LLMResource(
                provider="anthropic",
                api_key="k3",
                base_url=server.base_url,
                store_path=str(tmp_path / "store"),
            ),
            "embeddings": EmbeddingResource(cache_path=str(tmp_path / "emb")),
        }
        for _ in range(2):  # the second pass re-materializes: partitions are replaced, not duplicated
            for m in mvs:
                res = materialize(
                    selection=SELECTION,
                    partition_key=eval_partition_key(DATE, m.key),
                    instance=instance,
                    resources=resources,
                )
                assert res.success, [e.message for e in res.all_events if e.is_failure]
                hist_md = res.asset_materializations_for_node("eval_history")[0].metadata
                assert (
                    hist_md["n_non_live_runs"].value == 0
                )  # every answer came from the (test) live endpoint
        s3 = boto3.client("s3", endpoint_url=seaweed_s3.endpoint_url)
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket=seaweed_s3.bucket, Prefix="evals/")["Contents"]]
        det = [k for k in keys if k.startswith("evals/scores/family=deterministic/")]
        assert len(det) == 2 and all(k.endswith("/data.parquet") for k in det)
        assert sum(k.startswith("evals/runs/") for k in keys) == 2
        assert "evals/history/score_history.parquet" in keys and "evals/reports/history/latest.html" in keys
        # DuckDB over s3:// (httpfs from the pip package) sees both model versions' runs.
        wh = resources["warehouse"].get()
        df = wh.query(
            "SELECT model_version, count(*) AS n FROM scores GROUP BY 1 ORDER BY 1", tables=["scores"]
        )
        assert list(df["model_version"]) == sorted(m.key for m in mvs) and (df["n"] > 0).all()
        art = json.loads(wh.read_bytes(f"runs/date={DATE}/model_version={mvs[0].key}/run.json"))
        assert art["overall"] in ("PASS", "FAIL") and art["samples"] == 44
    finally:
        server.stop()
