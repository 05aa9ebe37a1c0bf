"""Monitoring: reading one day of traffic logs; malformed lines are reported, never dropped silently."""

from __future__ import annotations

import json

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from eval_pipeline.demo.synthetic_traffic import SyntheticTrafficConfig, generate_records
from eval_pipeline.demo.traffic_days import write_synthetic_day
from eval_pipeline.monitoring.schema import TRAFFIC_COLUMNS
from eval_pipeline.monitoring.traffic import errors_frame, malformed_summary, read_traffic_day

DAY = "2025-06-01"


def _rec(i: int, **over) -> dict:
    r = {
        "request_id": f"r{i}",
        "timestamp": f"{DAY}T10:00:{i % 60:02d}Z",
        "model_version": "m@1",
        "prompt_template": "t1",
        "input": f"question {i}",
        "output": f"answer {i}",
        "latency_s": 1.0 + i / 100,
        "ttft_s": 0.2,
        "input_tokens": 5,
        "output_tokens": 7,
        "session_id": f"s{i // 2}",
        "category": "c",
        "feedback": [{"type": "thumbs_down", "timestamp": f"{DAY}T10:01:00Z"}, {"type": "copy"}],
    }
    r.update(over)
    return r


def test_malformed_lines_are_reported_with_file_and_line_and_rest_is_read(tmp_path):
    part = tmp_path / f"date={DAY}"
    part.mkdir()
    lines = [
        json.dumps(_rec(1)),
        "{not json",  # line 2: invalid JSON
        json.dumps({k: v for k, v in _rec(3).items() if k != "output"}),  # 3: missing field
        "",  # 4: blank, ignored
        json.dumps(_rec(5, latency_s=-1)),  # 5: negative latency
        json.dumps(_rec(6, timestamp="2025-06-01T10:00:00")),  # 6: no UTC offset
        json.dumps(_rec(7, feedback=[{"type": "like"}])),  # 7: unknown feedback type
        json.dumps(_rec(1)),  # 8: duplicate request id
        "[1, 2]",  # 9: not an object
        json.dumps(_rec(10, extra_field="ignored")),  # 10: fine
    ]
    (part / "a.jsonl").write_text("\n".join(lines) + "\n")
    (part / "b.parquet").write_bytes(b"PAR1 this is not parquet")  # unreadable file
    rows = [_rec(20), _rec(21, request_id="")]
    pq.write_table(pa.Table.from_pylist(rows), part / "c.parquet")

    frame, errors = read_traffic_day(str(tmp_path), DAY)
    assert sorted(frame["request_id"]) == ["r1", "r10", "r20"]
    got = {(e["file"].rsplit("/", 1)[-1], e["line"]) for e in errors}
    assert got == {
        ("a.jsonl", 2),
        ("a.jsonl", 3),
        ("a.jsonl", 5),
        ("a.jsonl", 6),
        ("a.jsonl", 7),
        ("a.jsonl", 8),
        ("a.jsonl", 9),
        ("b.parquet", None),
        ("c.parquet", 2),
    }
    by_line = {e["line"]: e["error"] for e in errors if e["file"].endswith("a.jsonl")}
    assert "invalid JSON" in by_line[2]
    assert by_line[3].startswith("output:")
    assert "latency_s" in by_line[5]
    assert "UTC offset" in by_line[6]
    assert "feedback.0.type" in by_line[7]
    assert "duplicate request_id 'r1'" in by_line[8] and "a.jsonl:1" in by_line[8]
    assert all(e["file"].startswith(str(tmp_path)) for e in errors)
    assert malformed_summary(errors)["n_malformed"] == 9
    assert list(errors_frame(errors).columns) == ["file", "line", "error"]
    assert list(frame.columns) == TRAFFIC_COLUMNS
    r1 = frame.set_index("request_id").loc["r1"]
    assert bool(r1["fb_thumbs_down"]) and bool(r1["fb_copy"]) and not bool(r1["fb_regenerate"])
    assert r1["n_feedback_events"] == 2 and r1["source_line"] == 1
    assert str(frame["timestamp"].dt.tz) == "UTC"


def test_synthetic_malformed_injection_matches_report(tmp_path):
    cfg = SyntheticTrafficConfig(day=DAY, n_rows=800, seed=5, n_files=3, malformed_rate=0.03)
    written = write_synthetic_day(tmp_path, cfg)
    frame, errors = read_traffic_day(str(tmp_path), DAY)
    assert len(written.malformed) > 10
    assert sorted((e["file"], e["line"]) for e in errors) == sorted(
        (m["file"], m["line"]) for m in written.malformed
    )
    assert len(frame) == written.n_rows == 800 - len(written.malformed)
    assert frame["synthetic"].all()
    # rerun is idempotent
    write_synthetic_day(tmp_path, cfg)
    frame2, errors2 = read_traffic_day(str(tmp_path), DAY)
    pd.testing.assert_frame_equal(frame, frame2)
    assert errors == errors2


def test_flat_layout_filters_by_timestamp_and_missing_day_is_empty(tmp_path):
    recs = [
        _rec(1),
        _rec(2, timestamp="2025-06-02T00:00:01Z"),
        _rec(3, timestamp="2025-06-01T23:59:59+00:00"),
    ]
    (tmp_path / "logs.jsonl").write_text("\n".join(json.dumps(r) for r in recs))
    frame, errors = read_traffic_day(str(tmp_path), DAY)
    assert sorted(frame["request_id"]) == ["r1", "r3"] and errors == []
    frame, errors = read_traffic_day(str(tmp_path / "nothing"), DAY)
    assert frame.empty and errors == []
    with pytest.raises(ValueError):
        read_traffic_day(str(tmp_path), "2025-13-01")


def test_synthetic_rows_are_labelled_and_deterministic():
    cfg = SyntheticTrafficConfig(n_rows=50, seed=9)
    a, _, _ = generate_records(cfg)
    b, _, _ = generate_records(cfg)
    assert a == b
    assert all(r["synthetic"] is True and r["metadata"]["synthetic"] is True for r in a)
    assert all(r["request_id"].startswith("syn-") for r in a)
    c, _, _ = generate_records(cfg.model_copy(update={"seed": 10}))
    assert c != a


def test_process_day_end_to_end(tmp_path):
    from eval_pipeline.demo.synthetic_traffic import FeedbackRates, PiiRates
    from eval_pipeline_tests.support.monitoring_daily import process_day

    cfg = SyntheticTrafficConfig(
        day=DAY,
        n_rows=1200,
        seed=21,
        malformed_rate=0.01,
        pii=PiiRates(email=0.1),
        feedback=FeedbackRates(thumbs_down=0.2, thumbs_up=0.1, regenerate=0.1),
    )
    written = write_synthetic_day(tmp_path, cfg)
    res = process_day(str(tmp_path), DAY, rate=0.5, salt="d", baseline_p99_s=1.0)  # p99 ~2.7 s -> ratio ~2.7
    assert res.n_read == written.n_rows and 500 < len(res.sample) < 700
    assert len(res.errors) == len(written.malformed)
    levels = {a.metric: a.level for a in res.alerts}
    assert levels["thumbs_down_rate"] == "critical"  # ~2/3 of rated requests are thumbs down
    assert levels["regenerate_rate"] == "ok" and levels["p99_latency_ratio"] == "warn"
    summary = res.summary()
    assert summary["n_malformed"] == len(written.malformed)
    assert "@" not in json.dumps(summary, default=str)


def test_reads_through_a_warehouse_object(tmp_path):
    from eval_pipeline.storage import Warehouse

    wh = Warehouse.from_url(str(tmp_path / "wh"))
    cfg = SyntheticTrafficConfig(day=DAY, n_rows=120, seed=2, n_files=2, malformed_rate=0.05)
    written = write_synthetic_day(tmp_path / "logs", cfg)
    for f in written.files:
        wh.write_bytes(f"traffic/date={DAY}/{f.rsplit('/', 1)[-1]}", open(f, "rb").read())  # noqa: SIM115
    wh.write_bytes("traffic/date=2025-06-02/part-0000.jsonl", b"{}\n")  # another day: not read
    frame, errors = read_traffic_day("traffic", DAY, warehouse=wh)
    local, local_errors = read_traffic_day(str(tmp_path / "logs"), DAY)
    assert frame["request_id"].tolist() == local["request_id"].tolist()
    assert [(e["file"].rsplit("/", 1)[-1], e["line"]) for e in errors] == [
        (e["file"].rsplit("/", 1)[-1], e["line"]) for e in local_errors
    ]
    assert all(e["file"].startswith(str(tmp_path / "wh")) for e in errors) and errors
