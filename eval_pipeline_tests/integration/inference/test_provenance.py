"""Synthetic recordings never answer a live provider; every answer says what produced it.

* The store keeps recordings in their own namespace: a live lookup never gets them, not even an
  old copy of the recording shard inside the store (what earlier versions wrote).
* With a live provider (anthropic, fake key) on the test server, a nightly partition on a recorded
  demo date and ``judge_calibration`` make one request per answer, counted at the server (before,
  the recordings answered them: 0 requests).
* ``auto`` without a key fails at once with a message naming ANTHROPIC_API_KEY and EVAL_PROVIDER=replay.
* The demo replay (EVAL_PROVIDER=replay) is labelled synthetic in run.json, the eval_run metadata
  and the history.
"""

import json
import shutil
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from eval_pipeline.defs.partitions import MODEL_VERSION_PARTITIONS, eval_partition_key
from eval_pipeline.defs.resources import (
    AUTO_WITHOUT_KEY,
    EmbeddingResource,
    EvalConfigResource,
    LLMResource,
    WarehouseResource,
    project_resource,
)
from eval_pipeline.demo.calendar import DEMO_DATES
from eval_pipeline.inference.providers import ReplayProvider
from eval_pipeline.inference.runner import run_requests
from eval_pipeline.inference.store import ResponseStore
from eval_pipeline.inference.types import ModelRequest, ModelResponse
from eval_pipeline.project.hashing import request_key
from eval_pipeline.project.loader import load_project
from eval_pipeline.project.paths import PROJECT_ROOT
from eval_pipeline_tests.support.servers.anthropic_server import AnthropicTestServer, ServerConfig

API_KEY = "sk-test-provenance-0123456789"
RECORDINGS = PROJECT_ROOT / "data" / "recordings"
DATE = DEMO_DATES[4]  # a recorded date of the demo week (production version only)


def _materialize(**kwargs):
    from dagster._core.storage.defs_state.base import set_defs_state_storage

    from eval_pipeline.definitions import defs

    with set_defs_state_storage(None):
        return dg.materialize([*defs.assets, *defs.asset_checks], raise_on_error=False, **kwargs)


def _md(result, asset: str) -> dict:
    mat = next(
        e.materialization
        for e in result.get_asset_materialization_events()
        if e.materialization.asset_key.to_user_string() == asset
    )
    return {k: getattr(v, "value", v) for k, v in mat.metadata.items()}


@pytest.fixture
def server():
    s = AnthropicTestServer(ServerConfig(api_key=API_KEY)).start()
    yield s
    s.stop()


@pytest.fixture
def instance():
    with dg.instance_for_test() as inst:
        yield inst


def _response(key: str, text: str, request_id: str) -> ModelResponse:
    return ModelResponse(
        sample_id="s",
        repeat=0,
        model="m",
        text=text,
        stop_reason="end_turn",
        latency_s=0.1,
        ttft_s=0.05,
        output_tokens_per_s=None,
        input_tokens=1,
        output_tokens=1,
        cache_read_tokens=0,
        cache_creation_tokens=0,
        cost_usd=0.0,
        request_id=request_id,
        error_category=None,
        error_message=None,
        cached=False,
        cache_key=key,
    )


def test_store_keeps_recordings_in_their_own_namespace(tmp_path):
    req = ModelRequest(sample_id="a", model="m", messages=[{"role": "user", "content": "hi"}])
    key = request_key("anthropic", req)
    rec_dir, root = tmp_path / "recordings", tmp_path / "store"
    rec_dir.mkdir()
    line = json.dumps(
        {**_response(key, "invented", "req_synth").__dict__, "stored_at": 0.0}
    )  # no provenance field, as shipped
    (rec_dir / "responses-demo-recordings.jsonl").write_text(line + "\n")
    store = ResponseStore(root, recordings=[rec_dir])
    assert store.lookup(req, key) is None  # a live provider never sees a recording
    replayed = store.lookup(req, key, replay=True)
    assert replayed.text == "invented" and replayed.provenance == "synthetic"

    # An old copy of the recording shard inside the store (what LLMResource.store used to do).
    root2 = tmp_path / "store2"
    root2.mkdir()
    shutil.copyfile(rec_dir / "responses-demo-recordings.jsonl", root2 / "responses-demo-recordings.jsonl")
    legacy = ResponseStore(root2, recordings=[rec_dir])
    assert legacy.lookup(req, key) is None and legacy.lookup(req, key, replay=True).provenance == "synthetic"
    live = _response(key, "real", "req_live")
    live.provenance = "live"
    legacy.put(live)
    legacy.close()
    # Reopened: the live answer wins over the synthetic shard (which sorts after it by name).
    reopened = ResponseStore(root2, recordings=[rec_dir])
    assert reopened.lookup(req, key).text == "real" and reopened.lookup(req, key).provenance == "live"
    assert reopened.lookup(req, key, replay=True).provenance == "replay"


def test_recordings_are_read_only_when_a_lookup_needs_them(tmp_path, monkeypatch):
    """A live provider's store never reads the recordings while its lines carry their provenance; a replay lookup
    (or a line without provenance) reads them, once."""
    req = ModelRequest(sample_id="s", model="m", messages=[{"role": "user", "content": "q"}])
    key = request_key("anthropic", req)
    rec_dir = tmp_path / "recordings"
    rec_dir.mkdir()
    line = json.dumps({**_response(key, "invented", "req_synth").__dict__, "stored_at": 0.0})
    (rec_dir / "responses-demo-recordings.jsonl").write_text(line + "\n")
    reads: list[Path] = []
    real = ResponseStore._read_recordings
    monkeypatch.setattr(ResponseStore, "_read_recordings", lambda self, f: (reads.append(f), real(self, f)))
    store = ResponseStore(tmp_path / "store", recordings=[rec_dir])
    live = _response(key, "real", "req_live")
    live.provenance = "live"
    store.put(live)
    assert store.lookup(req, key).text == "real" and reads == []  # a live run: nothing read
    other = request_key("anthropic", ModelRequest(sample_id="t", model="m", messages=[]))
    assert store.lookup(req, other) is None and reads == []
    assert store.lookup(req, key, replay=True).provenance == "replay"  # a stored live answer first
    assert store.lookup(req, other, replay=True) is None and reads == [rec_dir]  # a miss: the recordings
    assert store.recorded_count == 1 and reads == [rec_dir]  # read once


def test_runner_labels_live_answers_and_replays(server, tmp_path):
    from eval_pipeline.inference.anthropic_provider import AnthropicProvider

    reqs = [
        ModelRequest(
            sample_id=f"s{i}", model="claude-haiku-4-5", messages=[{"role": "user", "content": f"q{i}"}]
        )
        for i in range(3)
    ]
    store = ResponseStore(tmp_path)
    live = run_requests(AnthropicProvider(API_KEY, base_url=server.base_url), reqs, store)
    assert [r.provenance for r in live] == ["live"] * 3 and server.stats()["total"] == 3
    again = run_requests(AnthropicProvider(API_KEY, base_url=server.base_url), reqs, store)
    assert [r.provenance for r in again] == ["live"] * 3 and all(r.cached for r in again)
    replayed = run_requests(ReplayProvider(), reqs, ResponseStore(tmp_path))
    assert [r.provenance for r in replayed] == ["replay"] * 3 and server.stats()["total"] == 3


def _recorded_share(store_root: Path, wh: Path, date: str, mv_key: str) -> tuple[int, int]:
    """(rows, rows whose cache key the shipped recordings hold): the recordings could have answered them."""
    rows = pd.read_parquet(wh / f"responses/date={date}/model_version={mv_key}/data.parquet")
    rec = ResponseStore(store_root / "_probe", recordings=[RECORDINGS])
    return len(rows), sum(
        rec.lookup(ModelRequest("x", "m", []), k, replay=True) is not None for k in rows["cache_key"]
    )


def test_live_provider_on_a_recorded_date_and_judge_calibration_call_the_api(
    server, instance, tmp_path, monkeypatch
):
    monkeypatch.setenv("EVAL_CALIBRATION_N", "50")  # the size the recordings were made with
    project = load_project()
    mv = project.registry.production
    instance.add_dynamic_partitions(MODEL_VERSION_PARTITIONS.name, [mv.key])
    wh, store = tmp_path / "wh", tmp_path / "store"
    store.mkdir()
    # The store as earlier versions left it: the synthetic recordings copied in.
    for shard in RECORDINGS.glob("responses-*.jsonl"):
        shutil.copyfile(shard, store / shard.name)
    llm = LLMResource(
        provider="anthropic",
        api_key=API_KEY,
        base_url=server.base_url,
        max_concurrency=16,
        store_path=str(store),
        recordings_path=str(RECORDINGS),
    )
    resources = {
        "eval_config": EvalConfigResource(),
        "project": project_resource,
        "warehouse": WarehouseResource(url=str(wh)),
        "llm": llm,
        "embeddings": EmbeddingResource(),
    }

    result = _materialize(
        selection=["golden_samples", "model_responses", "judge_scores"],
        partition_key=eval_partition_key(DATE, mv.key),
        instance=instance,
        resources=resources,
    )
    assert result.success
    resp_md, judge_md = _md(result, "model_responses"), _md(result, "judge_scores")
    n_rows, n_recorded = _recorded_share(tmp_path, wh, DATE, mv.key)
    assert (
        n_rows > 100 and n_recorded == n_rows
    )  # every one of these was recorded: the old store served them all
    rows = pd.read_parquet(wh / f"responses/date={DATE}/model_version={mv.key}/data.parquet")
    # Requests are coalesced by store key: golden rows with equal inputs are one request.
    n_distinct = rows["cache_key"].nunique()
    assert (
        resp_md["api_calls"] == n_distinct
        and n_distinct > 100
        and resp_md["answer_provenance"] == {"live": n_rows}
        and resp_md["non_live_answers"] == 0
    )
    n_judge = judge_md["judge_requests"]
    assert 0 < judge_md["judge_api_calls"] <= n_judge and judge_md["judge_verdict_provenance"] == {
        "live": n_judge
    }
    assert (
        server.stats()["total"] == n_distinct + judge_md["judge_api_calls"]
    )  # one request per distinct answer and verdict, counted at the server
    assert set(rows["provenance"]) == {"live"} and rows["request_id"].str.startswith("req_").all()

    server.reset_stats()
    cal = _materialize(selection=["judge_calibration"], instance=instance, resources=resources)
    assert cal.success
    md = _md(cal, "judge_calibration")
    n_cal = sum(md["verdict_provenance"].values())
    assert md["verdict_provenance"] == {"live": n_cal} and md["live_verdicts_only"] is True
    assert n_cal >= 100 and server.stats()["total"] == n_cal
    # The same calibration replayed from the recordings alone: every verdict was there (synthetic).
    replay = dict(
        resources,
        warehouse=WarehouseResource(url=str(tmp_path / "wh_replay")),
        llm=LLMResource(
            provider="replay", store_path=str(tmp_path / "store_replay"), recordings_path=str(RECORDINGS)
        ),
    )
    server.reset_stats()
    rep = _materialize(selection=["judge_calibration"], instance=instance, resources=replay)
    assert rep.success and server.stats()["total"] == 0
    rmd = _md(rep, "judge_calibration")
    assert rmd["verdict_provenance"] == {"synthetic": n_cal} and rmd["live_verdicts_only"] is False
    assert rmd["verdicts"].startswith("NOT LIVE - synthetic answers:")
    payload = json.loads((tmp_path / "wh_replay" / "calibration/judge/claude-sonnet-4-5.json").read_text())
    assert payload["live_verdicts_only"] is False and payload["verdict_provenance"] == {"synthetic": n_cal}


def test_auto_without_a_key_fails_at_once_with_how_to_fix(server, instance, tmp_path, monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.delenv("EVAL_PROVIDER", raising=False)
    with pytest.raises(dg.Failure) as exc:
        LLMResource(provider="auto").make_provider({})
    assert "ANTHROPIC_API_KEY" in str(exc.value) and "EVAL_PROVIDER=replay" in str(exc.value)
    assert LLMResource(provider="auto", api_key="k").provider_name() == "anthropic"

    # Through the shipped definitions (EVAL_PROVIDER unset = auto): the run fails at model_responses, no replay.
    from eval_pipeline.defs.resources import build_resources

    project = load_project()
    mv = project.registry.production
    instance.add_dynamic_partitions(MODEL_VERSION_PARTITIONS.name, [mv.key])
    wh = tmp_path / "wh"
    resources = {**build_resources(), "warehouse": WarehouseResource(url=str(wh))}
    result = _materialize(
        selection=["golden_samples", "model_responses"],
        partition_key=eval_partition_key(DEMO_DATES[0], mv.key),
        instance=instance,
        resources=resources,
    )
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert failure.step_key == "model_responses" and AUTO_WITHOUT_KEY[:60] in str(
        failure.event_specific_data.error
    )
    assert not (wh / f"responses/date={DEMO_DATES[0]}").exists()


def test_demo_replay_is_labelled_synthetic_in_run_json_metadata_and_history(instance, tmp_path, monkeypatch):
    monkeypatch.setenv(
        "EVAL_PROVIDER", "replay"
    )  # what the demo selects (test_cli_demo_selects_replay_explicitly)
    from eval_pipeline.defs.resources import build_resources

    project = load_project()
    mv = project.registry.production
    instance.add_dynamic_partitions(MODEL_VERSION_PARTITIONS.name, [mv.key])
    wh = tmp_path / "wh"
    resources = {
        **build_resources(),
        "warehouse": WarehouseResource(url=str(wh)),
        "llm": LLMResource(
            provider="replay", store_path=str(tmp_path / "store"), recordings_path=str(RECORDINGS)
        ),
    }
    provider = build_resources()["llm"].provider  # a dg.EnvVar, read when the run starts
    assert provider.env_var_name == "EVAL_PROVIDER" and provider.get_value() == "replay"
    sel = [
        "golden_samples",
        "model_responses",
        "deterministic_scores",
        "similarity_scores",
        "judge_scores",
        "eval_run",
    ]
    result = _materialize(
        selection=sel, partition_key=eval_partition_key(DATE, mv.key), instance=instance, resources=resources
    )
    assert result.success
    art = json.loads((wh / f"runs/date={DATE}/model_version={mv.key}/run.json").read_text())
    n = art["samples"]
    assert n > 100 and art["answer_provenance"] == {"synthetic": n} and art["live_answers_only"] is False
    assert art["answers"].startswith(f"NOT LIVE - synthetic answers: {n}/{n} (replay of data/recordings)")
    assert set(art["judge_verdict_provenance"]) == {"synthetic"}
    md = _md(result, "eval_run")
    assert (
        md["live_answers_only"] is False
        and md["answer_provenance"] == {"synthetic": n}
        and md["answers"] == art["answers"]
    )
    assert (
        _md(result, "model_responses")["answers"]
        == f"NOT LIVE - synthetic answers: {n}/{n} (replay of data/recordings)"
    )

    from eval_pipeline.history.aggregate import refresh_warehouse_history
    from eval_pipeline.history.runs import query_history

    refresh_warehouse_history(WarehouseResource(url=str(wh)).get(), db_path=tmp_path / "history.duckdb")
    ops = query_history(tmp_path / "history.duckdb", "SELECT * FROM ops_history WHERE suite = '__all__'")
    assert ops[["n_responses", "n_live", "n_replay", "n_synthetic"]].iloc[0].tolist() == [n, 0, 0, n]


def test_cli_demo_selects_replay_explicitly(monkeypatch):
    import logging

    import eval_pipeline.demo.driver as driver

    dagster_logger = logging.getLogger("dagster")
    monkeypatch.setattr(dagster_logger, "level", dagster_logger.level)  # run_demo quiets it; restored after

    monkeypatch.delenv("EVAL_PROVIDER", raising=False)
    seen = {}

    class Stop(Exception):
        pass

    def fake_instance():
        seen["provider"] = driver.os.environ.get("EVAL_PROVIDER")
        raise Stop

    monkeypatch.setattr(driver, "local_instance", fake_instance)
    with pytest.raises(Stop):
        driver.run_demo(quiet=True)
    assert seen["provider"] == "replay"
    monkeypatch.setenv("EVAL_PROVIDER", "anthropic")  # an explicit choice is kept
    with pytest.raises(Stop):
        driver.run_demo(quiet=True)
    assert seen["provider"] == "anthropic"


def test_a_calibration_from_synthetic_verdicts_never_lets_a_live_run_block(tmp_path):
    from eval_pipeline.evaluators.calibration_policy import judge_calibration_status

    project = load_project()
    es = next(
        e
        for s in project.suites.values()
        for e in s.eval_sets
        if e.family == "judge" and e.judge.min_calibration
    )
    wh = WarehouseResource(url=str(tmp_path / "wh")).get()
    metrics = {
        "sf_dialogue_nlg_ratings": {
            "agreement_within_one": 0.97,
            "agreement_within_one_ci_low": 0.92,
            "n": 50,
            "spearman": 0.96,
            "spearman_ci_low": 0.9,
        }
    }

    def write(live_only):
        payload = {
            "judge_model": es.judge.model,
            "metrics": metrics,
            "live_verdicts_only": live_only,
            "verdicts": "NOT LIVE - synthetic answers: 50/50 (replay of data/recordings)"
            if not live_only
            else "live answers: 50/50",
        }
        wh.write_bytes(f"calibration/judge/{es.judge.model}.json", json.dumps(payload).encode())

    write(False)
    ok, note = judge_calibration_status(wh, es, live_run=True)
    assert not ok and "non-live verdicts" in note and "synthetic answers: 50/50" in note
    assert judge_calibration_status(wh, es, live_run=False) == (True, "calibrated")  # the demo replay itself
    write(True)
    assert judge_calibration_status(wh, es, live_run=True) == (True, "calibrated")
