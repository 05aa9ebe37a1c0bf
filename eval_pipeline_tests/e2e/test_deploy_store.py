"""The response store shared through S3 (a real SeaweedFS on 127.0.0.1) by processes on different disks.

* Two processes, each with its own local folder, materialize the same partition against one S3
  warehouse: the first pays for every answer, the second makes zero API calls (counted at the server).
* Segments: many writers append at once without losing or duplicating an answer; compaction is
  idempotent and a lookup reads only the row groups of the keys asked for, not the store.
* A writer killed mid-run leaves its journal; the next store on that folder seals it for everyone.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import pytest

from eval_pipeline.inference.segment_format import ROW_GROUP, records_table
from eval_pipeline.inference.segments import SegmentStore
from eval_pipeline.inference.store import ResponseStore
from eval_pipeline.inference.types import ModelResponse
from eval_pipeline.storage.warehouse import open_backend
from eval_pipeline_tests.support.servers.anthropic_server import AnthropicTestServer, ServerConfig

REPO = Path(__file__).resolve().parents[2]
DATE = "2026-11-22"
N = 6

_MATERIALIZE = r"""
import sys, json
import dagster as dg
from eval_pipeline.definitions import defs
from eval_pipeline.defs.partitions import eval_partition_key
from eval_pipeline.defs.resources import EvalConfigResource, LLMResource, WarehouseResource, project_resource
from eval_pipeline.project.loader import load_project
data, wh_url, endpoint, local, base_url, key = sys.argv[1:7]
from pathlib import Path
mv = load_project(Path(data)).registry.models[0]
instance = dg.DagsterInstance.ephemeral()
instance.add_dynamic_partitions("model_version", [mv.key])
res = {"eval_config": EvalConfigResource(data_dir=data), "warehouse": WarehouseResource(url=wh_url, endpoint_url=endpoint),
       "project": project_resource,
       "llm": LLMResource(provider="anthropic", api_key=key, base_url=base_url, store_path=local, s3_endpoint_url=endpoint)}
r = dg.materialize([a for a in defs.assets if a.key.path[-1] in ("golden_samples", "model_responses")], partition_key=eval_partition_key(sys.argv[7], mv.key),
                   instance=instance, resources=res, raise_on_error=False)
md = [e.event_specific_data.materialization.metadata for e in r.all_events if e.event_type_value == "ASSET_MATERIALIZATION"
      and e.event_specific_data.materialization.asset_key.path[-1] == "model_responses"]
print(json.dumps({"success": r.success, "api_calls": md[0]["api_calls"].value if md else None, "cache_hits": md[0]["cache_hits"].value if md else None}))
"""


def _resp(key: str, text: str = "x", provenance: str = "live", stored_at: float = 1.0) -> dict:
    return {
        "sample_id": "s",
        "repeat": 0,
        "model": "m",
        "text": text,
        "cache_key": key,
        "provenance": provenance,
        "stored_at": stored_at,
    }


def _key(i: int) -> str:
    import hashlib

    return hashlib.sha256(str(i).encode()).hexdigest()


def _answer(i: int) -> ModelResponse:
    """Sample ``s<i>``'s stored answer ``t<i>`` under key ``_key(i)``."""
    return ModelResponse(
        f"s{i}",
        0,
        "m",
        f"t{i}",
        "end_turn",
        0.1,
        None,
        None,
        1,
        1,
        0,
        0,
        0.0,
        None,
        None,
        None,
        False,
        _key(i),
    )


@pytest.fixture
def s3_prefix(seaweed_s3, monkeypatch):
    for k, v in seaweed_s3.env().items():
        monkeypatch.setenv(k, v)
    return f"s3://{seaweed_s3.bucket}/deploy-{uuid.uuid4().hex[:8]}"


def test_second_process_on_another_disk_makes_zero_api_calls(tmp_path, seaweed_s3, s3_prefix):
    from eval_pipeline_tests.support.orchestration import small_data

    data = small_data(tmp_path / "data", n_samples=N)
    env = {
        **os.environ,
        **seaweed_s3.env(),
        "PYTHONPATH": str(REPO),
        "EVAL_HISTORY_DB": str(tmp_path / "h.duckdb"),
    }
    with AnthropicTestServer(ServerConfig(api_key="k-deploy", latency_s=0.01)) as srv:
        outs = []
        for i in range(2):
            local = tmp_path / f"host{i}" / "store"  # each process has its own disk
            p = subprocess.run(
                [
                    sys.executable,
                    "-c",
                    _MATERIALIZE,
                    str(data),
                    s3_prefix,
                    seaweed_s3.endpoint_url,
                    str(local),
                    srv.base_url,
                    "k-deploy",
                    DATE,
                ],
                env=env,
                cwd=REPO,
                capture_output=True,
                text=True,
                timeout=300,
            )
            assert p.returncode == 0, p.stderr[-3000:]
            outs.append(json.loads(p.stdout.strip().splitlines()[-1]))
            outs[-1]["server_total"] = srv.stats()["total"]
            assert not list(
                local.glob("responses-*.jsonl")
            )  # sealed into S3 segments on teardown, journal removed
    assert outs[0]["success"] and outs[0]["api_calls"] == N and outs[0]["server_total"] == N
    assert (
        outs[1]["success"]
        and outs[1]["api_calls"] == 0
        and outs[1]["cache_hits"] == N
        and outs[1]["server_total"] == N
    )
    client = seaweed_s3.client()
    bucket, prefix = s3_prefix[5:].split("/", 1)
    objs = [
        o["Key"]
        for o in client.list_objects_v2(Bucket=bucket, Prefix=f"{prefix}/response_store/segments/")[
            "Contents"
        ]
    ]
    assert objs and all(k.endswith(".parquet") for k in objs)


def test_concurrent_writers_lose_and_duplicate_nothing_and_compaction_is_idempotent(
    tmp_path, seaweed_s3, s3_prefix
):
    backend = open_backend(s3_prefix, seaweed_s3.endpoint_url)
    writers = 6
    per = 150

    def write(w: int) -> None:
        seg = SegmentStore(backend, "rs")
        for chunk in range(3):
            seg.write_fresh(
                [_resp(_key(w * 1000 + i), text=f"w{w}-{i}") for i in range(chunk * 50, chunk * 50 + 50)]
            )

    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    # a duplicate answer for one key (two writers both missed): a synthetic later copy never wins
    SegmentStore(backend, "rs").write_fresh(
        [_resp(_key(0), text="synthetic-dup", provenance="synthetic", stored_at=0.5)]
    )
    wanted = [_key(w * 1000 + i) for w in range(writers) for i in range(per)]
    reader = SegmentStore(backend, "rs")
    got = reader.get_many(wanted + ["f" * 64])
    assert len(got) == writers * per and got[_key(0)]["text"] == "w0-0"

    first = SegmentStore(backend, "rs").compact()
    assert (
        first["rows_out"] == writers * per
        and first["fresh_in"] == writers * 3 + 1
        and first["deleted"] == first["fresh_in"]
    )
    again = SegmentStore(backend, "rs").compact()  # nothing new: nothing rewritten, nothing lost
    assert again["shards_written"] == 0 and again["deleted"] == 0
    after = SegmentStore(backend, "rs")
    got2 = after.get_many(wanted)
    assert {k: v["text"] for k, v in got2.items()} == {k: v["text"] for k, v in got.items()}
    assert not after.listing()[0] and len(after.listing()[1]) == len({k[:2] for k in wanted})


def test_lookup_reads_only_the_row_groups_of_the_wanted_keys(tmp_path):
    backend = open_backend(str(tmp_path / "wh"))
    seg = SegmentStore(backend, "rs")
    n_per_shard = ROW_GROUP * 20
    for shard in ("0a", "0b"):
        rows = [_resp(shard + _key(i)[2:]) for i in range(n_per_shard)]
        seg.write_shard(shard, records_table(rows))
    wanted = ["0a" + _key(i)[2:] for i in range(0, n_per_shard, n_per_shard // 3)]
    got = SegmentStore(backend, "rs")
    assert set(got.get_many(wanted)) == set(wanted)
    assert got.stats["footers"] == 1 and got.stats["row_groups"] <= len(
        wanted
    )  # shard 0b never opened; 3 of 20 row groups read


def test_lookup_with_a_manifest_reads_no_footer_and_a_stale_manifest_hides_nothing(seaweed_s3, s3_prefix):
    backend = open_backend(s3_prefix, seaweed_s3.endpoint_url)
    seg = SegmentStore(backend, "rs")
    shards = [f"{i:02x}" for i in range(6)]
    for shard in shards:
        seg.write_shard(
            shard,
            records_table([_resp(shard + _key(i)[2:], text=f"{shard}-{i}") for i in range(ROW_GROUP * 3)]),
        )
    assert seg.write_manifest() is not None
    assert (
        seg.write_manifest() is None
        and len(SegmentStore(backend, "rs").listing() and seg._manifest_keys) == 1
    )  # idempotent
    wanted = [s + _key(i)[2:] for s in shards for i in (0, ROW_GROUP * 2)]
    calls: list[str] = []
    backend.client.meta.events.register("before-call.s3", lambda event_name, **kw: calls.append(event_name))
    reader = SegmentStore(backend, "rs")
    got = reader.get_many(wanted)
    assert {k: v["text"] for k, v in got.items()} == {
        s + _key(i)[2:]: f"{s}-{i}" for s in shards for i in (0, ROW_GROUP * 2)
    }
    # one listing + one manifest GET through boto3; no footer read; only the row groups that hold the keys (<= 2 of 3 per shard)
    assert sorted(c.rsplit(".", 1)[1] for c in calls) == ["GetObject", "ListObjectsV2"], calls
    assert (
        reader.stats["footers"] == 0
        and reader.stats["manifests_read"] == 1
        and reader.stats["row_groups"] <= len(wanted)
    )

    # answers written after the manifest: a second compacted segment of shard 00, a new shard ff, a fresh segment
    seg.write_shard("00", records_table([_resp("00" + "e" * 62, text="late-00")]))
    seg.write_shard("ff", records_table([_resp("ff" + "e" * 62, text="late-ff")]))
    seg.write_fresh([_resp("01" + "e" * 62, text="late-fresh")])
    late = ["00" + "e" * 62, "ff" + "e" * 62, "01" + "e" * 62]
    stale = SegmentStore(backend, "rs")
    got = stale.get_many(wanted + late)
    assert len(got) == len(wanted) + 3 and [got[k]["text"] for k in late] == [
        "late-00",
        "late-ff",
        "late-fresh",
    ]
    assert (
        stale.stats["footers"] == 2 and stale.stats["manifests_read"] == 1
    )  # only the two segments the manifest lacks

    # the manifest vanishes between the listing and the lookup (a concurrent compaction replaced it): footers are read
    gone = SegmentStore(backend, "rs")
    gone.listing()
    backend.delete(gone._manifest_keys[-1])
    assert len(gone.get_many(wanted + late)) == len(wanted) + 3 and gone.stats["footers"] == len(shards) + 2

    report = SegmentStore(
        backend, "rs"
    ).compact()  # compaction folds them in and writes a manifest of everything
    assert report["manifest_written"] == 1 and SegmentStore(backend, "rs").compact()["manifest_written"] == 0
    after = SegmentStore(backend, "rs")
    assert len(after.get_many(wanted + late)) == len(wanted) + 3 and after.stats["footers"] == 0


def test_coalesced_s3_reads_and_a_manifest_without_key_index_are_read_right_and_replaced(
    seaweed_s3, s3_prefix
):
    import io

    import pyarrow.parquet as pq

    from eval_pipeline.storage import keys

    backend = open_backend(s3_prefix, seaweed_s3.endpoint_url)
    seg = SegmentStore(backend, "rs")
    for shard in ("00", "01"):
        seg.write_shard(
            shard,
            records_table([_resp(shard + _key(i)[2:], text=f"{shard}-{i}") for i in range(ROW_GROUP * 8)]),
        )
    assert seg.write_manifest() is not None
    text = {s + _key(i)[2:]: f"{s}-{i}" for s in ("00", "01") for i in range(ROW_GROUP * 8)}
    expect = {
        k: text[k] for s in ("00", "01") for k in sorted(k for k in text if k[:2] == s)[:: ROW_GROUP // 2]
    }  # 2 per row group
    wanted = list(expect) + ["00" + "f" * 62]  # + one key no segment holds
    one_by_one, merged = SegmentStore(backend, "rs", hole=0), SegmentStore(backend, "rs")
    for reader in (one_by_one, merged):
        assert {k: v["text"] for k, v in reader.get_many(wanted).items()} == expect
        assert reader.stats["footers"] == 0 and reader.stats["row_groups"] == 16
    assert (
        one_by_one.stats["gets"] == 16 * 2 and merged.stats["gets"] == 2
    )  # key + record chunk of each row group / one GET per segment

    # a manifest as the code before the key index wrote it (segment, size, footer): still read right, then replaced
    newest = seg.listing() and seg._manifest_keys[-1]
    t = pq.read_table(io.BytesIO(backend.get(newest))).select(["segment", "size", "footer"])
    buf = io.BytesIO()
    pq.write_table(t, buf)
    for k in seg._manifest_keys:
        backend.delete(k)
    backend.put(f"rs/{keys.response_manifest('old')}", buf.getvalue())
    old = SegmentStore(backend, "rs")
    assert {k: v["text"] for k, v in old.get_many(wanted).items()} == expect and old.stats["footers"] == 0
    assert not old._load_manifest().indexed
    assert (
        SegmentStore(backend, "rs").write_manifest() is not None
        and SegmentStore(backend, "rs").write_manifest() is None
    )
    current = SegmentStore(backend, "rs")
    assert current._load_manifest().indexed and len(current._manifest_keys) == 1


def test_killed_writer_journal_is_sealed_by_the_next_store_and_shared(tmp_path, seaweed_s3, s3_prefix):
    backend = open_backend(s3_prefix, seaweed_s3.endpoint_url)
    host_a, host_b = tmp_path / "a", tmp_path / "b"
    script = f"""
import os, sys
from eval_pipeline.inference.segments import SegmentStore
from eval_pipeline.inference.store import ResponseStore
from eval_pipeline.inference.types import ModelResponse
from eval_pipeline.storage.warehouse import open_backend
s = ResponseStore({str(host_a)!r}, segments=SegmentStore(open_backend({s3_prefix!r}, {seaweed_s3.endpoint_url!r}), "rs"), seal_every=1000)
for i in range(5):
    s.put(ModelResponse(f"s{{i}}", 0, "m", f"t{{i}}", "end_turn", 0.1, None, None, 1, 1, 0, 0, 0.0, None, None, None, False, f"ck{{i}}"))
os._exit(0)  # dies without closing: nothing sealed yet
"""
    env = {**os.environ, **seaweed_s3.env(), "PYTHONPATH": str(REPO)}
    subprocess.run([sys.executable, "-c", script], env=env, cwd=REPO, check=True, timeout=120)
    assert len(list(host_a.glob("responses-*.jsonl"))) == 1
    other = ResponseStore(host_b, segments=SegmentStore(backend, "rs"))
    assert other.get("ck0") is None  # only on host a's disk so far
    ResponseStore(
        host_a, segments=SegmentStore(backend, "rs")
    )  # restarted worker on host a: seals the dead journal
    assert not list(host_a.glob("responses-*.jsonl"))
    other.refresh()
    assert other.get("ck4")["text"] == "t4" and other.get("ck0")["text"] == "t0"


def test_local_store_compaction_keeps_every_answer(tmp_path):
    store = ResponseStore(tmp_path)
    for i in range(30):
        store.put(_answer(i))
    live = ResponseStore(tmp_path)
    assert live.compact()["journal_answers_sealed"] == 0  # the writer is alive: its journal is left alone
    store.close()
    report = ResponseStore(tmp_path).compact()
    assert report["journal_answers_sealed"] == 30 and report["rows_out"] == 30
    assert not list(tmp_path.glob("responses-*.jsonl"))
    fresh = ResponseStore(tmp_path)
    assert len(fresh) == 0 and all(fresh.get(_key(i))["text"] == f"t{i}" for i in range(30))


def test_compaction_job_seals_and_merges_the_deployment_store(tmp_path):
    import dagster as dg

    from eval_pipeline.defs.inference.compaction import response_store_compaction_job
    from eval_pipeline.defs.resources import LLMResource, WarehouseResource

    wh = tmp_path / "wh"
    root = wh / "response_store"
    for batch in range(2):  # two writers that finished (their journals are unlocked)
        s = ResponseStore(root)
        for i in range(10):
            j = batch * 10 + i
            s.put(_answer(j))
        s.close()
    defs = dg.Definitions(
        jobs=[response_store_compaction_job],
        resources={"llm": LLMResource(provider="replay"), "warehouse": WarehouseResource(url=str(wh))},
    )
    job = defs.resolve_job_def("response_store_compaction_job")
    first = job.execute_in_process()
    assert first.success and first.output_for_node("compact_response_store")["journal_answers_sealed"] == 20
    assert first.output_for_node("compact_response_store")["rows_out"] == 20 and not list(
        root.glob("responses-*.jsonl")
    )
    again = job.execute_in_process().output_for_node("compact_response_store")
    assert again["shards_written"] == 0 and again["deleted"] == 0
    store = ResponseStore(root)
    assert all(store.get(_key(j))["text"] == f"t{j}" for j in range(20))
