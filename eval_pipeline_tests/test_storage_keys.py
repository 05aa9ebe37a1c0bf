"""storage.keys: the one place storage keys are spelled out agrees with what is written and read.

Each key function is checked against the code that writes or reads that key today (the
warehouse itself, the history reader, the model-version snapshots, the noise floor, the
monitoring reports), so replacing those literals with keys.* keeps the layout identical.
"""
from __future__ import annotations

import inspect
import json
import re
from pathlib import Path, PurePosixPath

import pandas as pd
import pytest

from eval_pipeline.noise import floor as noise_floor
from eval_pipeline.project import versions
from eval_pipeline.project.config import load_project
from eval_pipeline.history import aggregate
from eval_pipeline.history import runs as history_runs
from eval_pipeline.monitoring import config as monitoring_config
from eval_pipeline.storage import Warehouse, WarehouseError, keys

D, MV = "2025-01-02", "bot-v1"


@pytest.fixture
def wh(tmp_path: Path) -> Warehouse:
    return Warehouse.from_url(tmp_path / "wh")


def _frame() -> pd.DataFrame:
    return pd.DataFrame({"sample_id": ["a", "b"], "value": [1.0, 0.0]})


def test_table_partition_is_the_file_write_table_writes_and_the_history_glob_matches_it(wh: Warehouse):
    cases = [(keys.GOLDEN, None), (keys.RESPONSES, None), (keys.SCORES, "judge")]
    for table, family in cases:
        part = keys.run_partition(D, MV) if family is None else keys.scores_partition(family, D, MV)
        uri = wh.write_table(table, _frame(), part)
        key = keys.table_partition(table, D, MV, family=family)
        assert wh.list_keys(f"{table}/") == [key]
        assert uri == wh.uri(key)
        assert keys.parse_partition_key(table, key) == part
        glob = keys.partition_files_glob(table)
        assert len(glob.split("/")) == len(key.split("/")) and PurePosixPath(key).match(glob)
    assert keys.table_partition(keys.SCORES, D, MV, family="judge") == (
        f"scores/family=judge/date={D}/model_version={MV}/data.parquet")
    sources = aggregate.HistorySources.for_warehouse(wh)
    assert sources.scores_glob == f"{wh.root}/{keys.partition_files_glob(keys.SCORES)}"
    assert sources.responses_glob == f"{wh.root}/{keys.partition_files_glob(keys.RESPONSES)}"
    assert sources.runs_glob == f"{wh.root}/{keys.run_artifacts_glob()}"


def test_run_artifact_key_is_read_back_by_the_history(wh: Warehouse):
    wh.write_bytes(keys.run_artifact(D, MV), json.dumps({"passed": False}).encode())
    wh.write_bytes(keys.run_artifact("2025-01-03", MV), json.dumps({"status": "passed"}).encode())
    assert keys.run_artifact(D, MV) == f"runs/date={D}/model_version={MV}/run.json"
    con = wh.connect_duckdb()
    try:
        runs = history_runs.load_runs(con, aggregate.HistorySources.for_warehouse(wh).runs_glob)
    finally:
        con.close()
    assert runs.to_dict("records") == [
        {"date": D, "model_version": MV, "passed": False},
        {"date": "2025-01-03", "model_version": MV, "passed": True},
    ]


def test_model_version_snapshot_key_is_where_versions_saves_and_resolves(wh: Warehouse):
    project = load_project()
    mv = project.registry.models[0]
    uri = versions.save_snapshot(wh, mv)
    assert uri == wh.uri(keys.model_version_snapshot(mv.key))
    assert wh.exists(f"model_versions/{mv.key}.json")
    json.loads(wh.read_bytes(keys.model_version_snapshot(mv.key)))  # valid JSON at that key


def test_artifact_keys_equal_the_literals_spelled_out_in_the_modules():
    assert keys.noise_report(D, MV) == noise_floor.noise_key(D, MV)
    assert keys.review_file(D, MV) == noise_floor.review_key(D, MV)
    assert keys.MONITORING_REPORTS == monitoring_config.REPORT_PREFIX
    assert keys.DAY_TABLES == (monitoring_config.SAMPLE_TABLE, monitoring_config.SCORES_TABLE,
                               monitoring_config.METRICS_TABLE, monitoring_config.DRIFT_TABLE,
                               monitoring_config.SHADOW_TABLE)
    from eval_pipeline.defs.monitoring.assets import _report_key

    assert keys.monitoring_report(D, "drift.json") == _report_key(D, "drift.json")
    assert keys.release(D, MV) == f"releases/date={D}/model_version={MV}.json"
    assert keys.regression_report(D, MV) == f"reports/regression/date={D}/model_version={MV}/report.json"
    assert keys.regression_chart(D, MV) == f"reports/regression/date={D}/model_version={MV}/comparison.png"
    assert keys.judge_calibration("claude-x") == "calibration/judge/claude-x.json"
    assert keys.similarity_calibration() == "calibration/similarity/latest.json"
    assert (keys.history_report(), keys.history_alerts(), keys.history_trend_chart(0)) == (
        "reports/history/latest.html", "reports/history/alerts.json", "reports/history/trend_0.png")
    assert keys.traffic_day(D, "traffic") == f"traffic/date={D}" and keys.traffic_day(D) == f"date={D}"


def test_every_run_key_is_a_valid_warehouse_key_that_names_its_date_and_model_version(wh: Warehouse):
    run_keys = [keys.run_artifact, keys.release, keys.regression_report, keys.regression_chart,
                keys.noise_report, keys.review_file]
    for fn in run_keys:
        key = fn(D, MV)
        assert keys.check_key(key) == key
        # the history extracts date and model version from paths with these regexes
        assert re.search("date=([^/]+)/", key).group(1) == D
        assert re.search(r"model_version=([^/]+?)(?:\.json)?(?:/|$)", key).group(1) == MV
        wh.write_bytes(key, b"{}")
    assert len(wh.list_keys("")) == len(run_keys)  # no two artifacts of a run share a key


def test_validation_rejects_bad_partitions_and_keys():
    with pytest.raises(WarehouseError, match="partitioned by"):
        keys.table_partition(keys.SCORES, D, MV)  # scores needs a family
    with pytest.raises(WarehouseError, match="contains '/'"):
        keys.table_partition(keys.GOLDEN, D, "a/b")
    with pytest.raises(WarehouseError, match="invalid warehouse key"):
        keys.check_key("runs/../x")
    assert keys.day_partition(D) == {"date": D}


def test_provenance_history_and_store_keys_are_where_the_modules_write(wh: Warehouse, tmp_path: Path, monkeypatch):
    from eval_pipeline.defs.history.assets import _history_db_path
    from eval_pipeline.defs.resources import LLMResource, WarehouseResource
    from eval_pipeline.inference.provenance import write_stage_provenance

    uri = write_stage_provenance(wh, "responses", D, MV, {"live": 2})
    assert uri == wh.uri(keys.provenance("responses", D, MV))
    assert keys.provenance("judge", D, MV) == f"provenance/judge/date={D}/model_version={MV}.json"
    assert aggregate._part_path("P", "score_history", D) == f"P/{keys.history_part('score_history', D)}"
    assert aggregate.MANIFEST_NAME == keys.HISTORY_MANIFEST
    prefix = inspect.signature(aggregate.refresh_warehouse_history).parameters["parquet_prefix"].default
    assert prefix == keys.HISTORY_AGGREGATES
    monkeypatch.delenv("EVAL_HISTORY_DB", raising=False)
    root = tmp_path / "w"
    assert _history_db_path(WarehouseResource(url=str(root))) == str(root / keys.HISTORY_DB)
    store = LLMResource(provider="replay").store(str(root))
    assert Path(store.root) == root / keys.RESPONSE_STORE
