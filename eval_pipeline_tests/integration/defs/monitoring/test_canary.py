"""Canary analysis through Dagster: a SYNTHETIC degraded rollout in a temp warehouse, hour by hour.

The canary degrades from its second hour (thumbs-down 10% -> 30% of rated requests); the verdict
must reach ``roll back``, fail the blocking check, land in the alert log and be POSTed to a loopback
webhook (127.0.0.1). Both log layouts (hour folders, timestamps inside day files) give the same rows.
"""

from __future__ import annotations

import http.server
import json
import threading

import dagster as dg
import pandas as pd
import pytest

from eval_pipeline.defs.resources import EvalConfigResource, WarehouseResource, project_resource
from eval_pipeline.demo.rollout import RolloutConfig, write_rollout
from eval_pipeline.monitoring.hourly import build_hour_rows, cohort_windows, read_traffic_hour
from eval_pipeline.project.monitoring import load_monitoring_config
from eval_pipeline.storage import keys

ROLLOUT = RolloutConfig(
    start="2026-10-05T10:00:00Z",
    hours=4,
    requests_per_hour=1200,
    share_start=0.3,
    share_end=0.3,
    degrade_from_hour=1,
    effects={"thumbs_down": 0.12, "thumbs_up": 0.28},
    base_feedback={"thumbs_up": 0.36, "thumbs_down": 0.04},
)


class _Hook(http.server.BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self):  # noqa: N802 (http.server naming)
        _Hook.received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


def _resources(tmp_path):
    return {
        "eval_config": EvalConfigResource(),
        "warehouse": WarehouseResource(url=str(tmp_path / "wh")),
        "project": project_resource,
    }


def test_degraded_canary_rolled_back_blocking_check_alert_log_and_webhook(tmp_path, monkeypatch):
    from eval_pipeline.defs.monitoring.canary import canary_analysis, canary_not_rolled_back, traffic_hourly

    written = write_rollout(tmp_path / "traffic", ROLLOUT)
    assert all(w["synthetic"] for w in written)
    monkeypatch.setenv("EVAL_TRAFFIC_PREFIX", str(tmp_path / "traffic"))
    monkeypatch.setenv("EVAL_ALERT_LOG", str(tmp_path / "alerts.jsonl"))
    server = http.server.HTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _Hook.received.clear()
    monkeypatch.setenv("EVAL_ALERT_WEBHOOK_URL", f"http://127.0.0.1:{server.server_port}/hook")
    instance = dg.DagsterInstance.ephemeral()
    verdicts = []
    try:
        for w in written:
            res = dg.materialize(
                [traffic_hourly, canary_analysis, canary_not_rolled_back],
                partition_key=w["hour"],
                instance=instance,
                resources=_resources(tmp_path),
                raise_on_error=False,
            )
            (check,) = res.get_asset_check_evaluations()
            rep = json.loads(
                (
                    tmp_path
                    / "wh"
                    / keys.monitoring_hour_report(w["hour"][:10], w["hour"][11:13], "canary.json")
                ).read_text()
            )
            (c,) = rep["canaries"]
            verdicts.append((c["verdict"], check.passed))
            if c["verdict"] == "roll back":
                break
    finally:
        server.shutdown()
    assert verdicts[0] in (("continue", True), ("cannot decide yet", True))  # the first hour is not degraded
    assert verdicts[-1] == ("roll back", False)  # rolled back, the blocking check fails
    assert c["deciding_metrics"] == ["thumbs_down_rate"] and c["bonferroni_m"] >= 8
    assert [s["verdict"] for s in c["story"]][-1] == "roll back" and len(c["story"]) == len(verdicts)
    (hook,) = _Hook.received
    assert hook["kind"] == "canary_verdict" and hook["verdict"] == "roll back"
    assert hook["canary"] == ROLLOUT.canary_version and hook["production"] == ROLLOUT.production_version
    (metric,) = hook["metrics"]
    assert (
        metric["metric"] == "thumbs_down_rate"
        and metric["p_value"] <= metric["level"]
        and metric["ci_low"] > 0
    )
    logged = [json.loads(line) for line in (tmp_path / "alerts.jsonl").read_text().splitlines()]
    assert logged == [hook]
    h = written[0]["hour"]
    stored = pd.read_parquet(
        tmp_path / "wh" / keys.partition_key(keys.TRAFFIC_HOURLY, keys.hour_partition(h[:10], h[11:13]))
    )
    assert "input" not in stored.columns and "output" not in stored.columns and stored["synthetic"].all()


def test_hour_folders_and_timestamps_in_day_files_read_the_same(tmp_path, monkeypatch):
    cfg = load_monitoring_config()
    one = ROLLOUT.model_copy(update={"hours": 2})
    written = write_rollout(tmp_path / "hourly", one)
    day = tmp_path / "daily" / "date=2026-10-05"
    day.mkdir(parents=True)
    (day / "all.jsonl").write_text(
        "".join(open(f, encoding="utf-8").read() for w in written for f in w["files"])  # noqa: SIM115
    )
    from eval_pipeline.storage.warehouse import Warehouse

    wh = Warehouse.from_url(str(tmp_path / "wh"))
    out = {}
    for layout in ("hourly", "daily"):
        monkeypatch.setenv("EVAL_TRAFFIC_PREFIX", str(tmp_path / layout))
        frame, errors, where = read_traffic_hour(wh, written[1]["hour"])
        assert not errors and ("hour=11" in where) == (layout == "hourly")
        out[layout] = build_hour_rows(frame, cfg, written[1]["hour"]).sort_values("u").reset_index(drop=True)
    pd.testing.assert_frame_equal(out["hourly"], out["daily"])
    assert len(out["hourly"]) == written[1]["n_rows"] and out["hourly"]["invariant_checked"].all()
    windows = cohort_windows(out["hourly"], written[1]["hour"])
    assert set(windows["window"]) == {"short (1h)", "long (24h)"} and set(windows["model_version"]) == {
        ROLLOUT.canary_version,
        ROLLOUT.production_version,
    }
    assert (windows["session_length"] >= 1).all() and windows["session_continuation_rate"].between(0, 1).all()


def test_demo_rollout_ends_with_the_degraded_canary_rolled_back(tmp_path, monkeypatch):
    from eval_pipeline.defs.resources import build_resources
    from eval_pipeline.demo.monitoring import run_canary_demo

    monkeypatch.delenv("EVAL_TRAFFIC_PREFIX", raising=False)
    monkeypatch.delenv("EVAL_ALERT_WEBHOOK_URL", raising=False)
    monkeypatch.setenv("EVAL_ALERT_LOG", str(tmp_path / "alerts.jsonl"))
    monkeypatch.setenv(
        "EVAL_WAREHOUSE_URL", str(tmp_path / "wh")
    )  # build_resources() reads it at run time (EnvVar)
    out = run_canary_demo(
        dg.DagsterInstance.ephemeral(), day="2026-11-22", say=lambda *a: None, resources=build_resources()
    )
    story = [h["verdict"].split(" (")[0] for h in out["hours"]]
    assert (
        story[-1] == "roll back" and set(story[:-1]) <= {"continue", "cannot decide yet"} and len(story) <= 6
    )
    assert out["rolled_back_at"] == out["hours"][-1]["hour"] and out["hours"][-1]["check"] == "ERROR"
    (alert,) = [json.loads(line) for line in (tmp_path / "alerts.jsonl").read_text().splitlines()]
    assert alert["verdict"] == "roll back" and alert["canary"] == out["canary"]
    assert (
        tmp_path / "wh" / "traffic" / "date=2026-11-22" / "hour=00"
    ).is_dir()  # hour folders, labelled synthetic


def test_rollout_without_folder_or_warehouse_is_a_clear_error():
    with pytest.raises(ValueError, match="give prefix"):
        write_rollout(None, ROLLOUT)
