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

from eval_pipeline.history import aggregate
from eval_pipeline.history import runs as history_runs
from eval_pipeline.history.sources import HistorySources
from eval_pipeline.monitoring import settings as monitoring_config
from eval_pipeline.noise import floor as noise_floor
from eval_pipeline.project.loader import load_project
from eval_pipeline.storage import Warehouse, WarehouseError, key_rules, keys
from eval_pipeline.storage import model_versions as versions

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
        f"scores/family=judge/date={D}/model_version={MV}/data.parquet"
    )
    sources = HistorySources.for_warehouse(wh)
    assert sources.scores_glob == f"{wh.root}/{keys.partition_files_glob(keys.SCORES)}"
    assert sources.responses_glob == f"{wh.root}/{keys.partition_files_glob(keys.RESPONSES)}"
    assert sources.runs_glob == f"{wh.root}/{keys.run_artifacts_glob()}"


def test_run_artifact_key_is_read_back_by_the_history(wh: Warehouse):
    wh.write_bytes(
        keys.run_artifact(D, MV), json.dumps({"passed": False, "live_answers_only": True}).encode()
    )
    wh.write_bytes(keys.run_artifact("2025-01-03", MV), json.dumps({"status": "passed"}).encode())
    assert keys.run_artifact(D, MV) == f"runs/date={D}/model_version={MV}/run.json"
    con = wh.connect_duckdb()
    try:
        runs = history_runs.load_runs(con, HistorySources.for_warehouse(wh).runs_glob)
    finally:
        con.close()
    assert runs.to_dict("records") == [
        {"date": D, "model_version": MV, "passed": False, "live_answers_only": True},
        {"date": "2025-01-03", "model_version": MV, "passed": True, "live_answers_only": None},
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
    assert keys.DAY_TABLES == (
        monitoring_config.SAMPLE_TABLE,
        monitoring_config.SCORES_TABLE,
        monitoring_config.METRICS_TABLE,
        monitoring_config.DRIFT_TABLE,
        monitoring_config.SHADOW_TABLE,
    )
    assert keys.monitoring_report(D, "drift.json") == f"reports/monitoring/date={D}/drift.json"
    assert keys.release(D, MV) == f"releases/date={D}/model_version={MV}.json"
    assert keys.regression_report(D, MV) == f"reports/regression/date={D}/model_version={MV}/report.json"
    assert keys.regression_chart(D, MV) == f"reports/regression/date={D}/model_version={MV}/comparison.png"
    assert keys.judge_calibration("claude-x") == "calibration/judge/claude-x.json"
    assert keys.similarity_calibration() == "calibration/similarity/latest.json"
    assert (keys.history_report(), keys.history_alerts(), keys.history_trend_chart(0)) == (
        "reports/history/latest.html",
        "reports/history/alerts.json",
        "reports/history/trend_0.png",
    )
    assert keys.traffic_day(D, "traffic") == f"traffic/date={D}" and keys.traffic_day(D) == f"date={D}"


def test_every_run_key_is_a_valid_warehouse_key_that_names_its_date_and_model_version(wh: Warehouse):
    run_keys = [
        keys.run_artifact,
        keys.release,
        keys.regression_report,
        keys.regression_chart,
        keys.noise_report,
        keys.review_file,
    ]
    for fn in run_keys:
        key = fn(D, MV)
        assert key_rules.check_key(key) == key
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
        key_rules.check_key("runs/../x")
    assert keys.day_partition(D) == {"date": D}


def test_provenance_history_and_store_keys_are_where_the_modules_write(
    wh: Warehouse, tmp_path: Path, monkeypatch
):
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


def _scores(date: str, mv: str, family: str) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "date": [date],
            "model_version": [mv],
            "suite": ["s"],
            "eval_set": ["e"],
            "sample_id": ["a"],
            "repeat": [0],
            "family": [family],
            "metric": ["m"],
            "value": [1.0],
            "passed": [True],
            "category": ["c"],
            "infra_error": [None],
        }
    )


def test_run_files_glob_narrows_the_history_read_to_one_run(wh: Warehouse):
    """keys.run_files_glob is what history.runs.load_run_scores narrows the scores glob to."""
    for date, mv in ((D, MV), ("2025-01-03", MV), (D, "bot-v2")):
        for family in ("judge", "deterministic"):
            wh.write_table(keys.SCORES, _scores(date, mv, family), keys.scores_partition(family, date, mv))
    key = keys.table_partition(keys.SCORES, D, MV, family="judge")
    assert PurePosixPath(key).match(f"{keys.SCORES}/{keys.run_files_glob(D, MV, 'judge')}")
    assert PurePosixPath(key).match(f"{keys.SCORES}/{keys.run_files_glob(D, MV)}")
    assert not PurePosixPath(key).match(f"{keys.SCORES}/{keys.run_files_glob(D, 'bot-v2')}")
    assert keys.run_files_glob(D, MV, table=keys.RESPONSES) == f"date={D}/model_version={MV}/*.parquet"
    con = wh.connect_duckdb()
    try:
        glob = HistorySources.for_warehouse(wh).scores_glob
        every = history_runs.load_run_scores(con, glob, D, MV)
        judge = history_runs.load_run_scores(con, glob, D, MV, families=["judge"])
    finally:
        con.close()
    assert sorted(every["family"]) == ["deterministic", "judge"] and list(judge["family"]) == ["judge"]


def test_history_part_glob_and_table_files_are_where_the_refresh_writes():
    part = aggregate._part_path("P", "score_history", D)
    assert PurePosixPath(part).match(f"P/{keys.history_parts_glob()}")
    assert not PurePosixPath(f"P/{keys.HISTORY_MANIFEST}").match(f"P/{keys.history_parts_glob()}")
    assert keys.history_table("ops_history") == "ops_history.parquet"


def test_response_store_shards_are_named_by_keys(tmp_path: Path):
    from eval_pipeline.inference.store import ResponseStore
    from eval_pipeline.inference.types import ModelResponse

    store = ResponseStore(tmp_path / "rs")
    resp = ModelResponse(
        "s1", 0, "m", "hi", "end_turn", 0.1, None, None, 1, 1, 0, 0, 0.0, None, None, None, False, "ck1"
    )
    assert store.put(resp)
    store.close()
    shards = sorted((tmp_path / "rs").glob(keys.RESPONSE_SHARD_GLOB))
    assert len(shards) == 1 and shards[0].name.startswith("responses-") and shards[0].suffix == ".jsonl"
    assert keys.response_shard("x") == "responses-x.jsonl"
    assert (
        ResponseStore(tmp_path / "rs").get("ck1") is not None
    )  # a fresh store finds it through the same glob


def test_monitoring_day_sample_and_traffic_folder_use_keys(wh: Warehouse, monkeypatch):
    from eval_pipeline.monitoring import day

    monkeypatch.delenv("EVAL_TRAFFIC_PREFIX", raising=False)
    loc = day.traffic_location(wh)
    assert (loc.prefix, loc.in_warehouse, loc.display) == (
        keys.TRAFFIC_PREFIX,
        True,
        f"{wh.root.rstrip('/')}/{keys.TRAFFIC_PREFIX}",
    )
    from types import SimpleNamespace

    from eval_pipeline.monitoring.schema import SAMPLE_COLUMNS

    ds = SimpleNamespace(
        day=D,
        sample=pd.DataFrame({c: pd.Series(dtype="string") for c in SAMPLE_COLUMNS}),
        location="x",
        n_read=0,
        errors=[],
    )
    uris = day.write_day_sample(wh, ds)
    assert uris["malformed"] == wh.uri(keys.monitoring_report(D, "malformed.json"))
    assert uris["sample"] == wh.uri(keys.partition_key(keys.TRAFFIC_SAMPLE, keys.day_partition(D)))
    assert (monitoring_config.SAMPLE_TABLE, monitoring_config.SHADOW_TABLE) == (
        keys.TRAFFIC_SAMPLE,
        keys.SHADOW_VERDICTS,
    )
