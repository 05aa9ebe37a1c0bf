"""The report's online-monitoring and canary sections (eval_pipeline.history.report_monitoring), from a warehouse in
its real layout: feedback rates with intervals and n, debounced alerts, drift by feature, shadow verdicts, the
canary's hourly verdicts with its traffic share and minimal detectable effect - and SYNTHETIC wherever the traffic
was flagged synthetic (live traffic is labelled live)."""

from __future__ import annotations

import json

import pandas as pd

from eval_pipeline.history.report_monitoring import monitoring_html, monitoring_inputs
from eval_pipeline.storage import keys
from eval_pipeline.storage.warehouse import Warehouse

DAYS = ["2026-11-20", "2026-11-21"]
CANARY, PROD = "canary-model@v2", "prod-model@v1"


def _warehouse(tmp_path, synthetic: bool) -> Warehouse:
    wh = Warehouse.from_url(tmp_path / "wh")
    for i, d in enumerate(DAYS):
        wh.write_table(
            keys.TRAFFIC_SAMPLE,
            pd.DataFrame({"request_id": ["a", "b"], "synthetic": [synthetic] * 2}),
            {"date": d},
        )
        metrics = pd.DataFrame(
            {
                "model_version": "__all__",
                "metric": ["thumbs_down_rate", "p99_latency_ratio"],
                "value": [0.1 + 0.3 * i, 0.93],
                "ci_low": [0.05 + 0.18 * i, float("nan")],
                "ci_high": [0.2 + 0.47 * i, float("nan")],
                "count": [3.0, float("nan")],
                "nobs": [30, 0],
            }
        )
        wh.write_table(keys.MONITORING_METRICS, metrics, {"date": d})
        firing = "warn" if i else "none"
        wh.write_bytes(
            keys.monitoring_report(d, "alerts.json"),
            json.dumps(
                {
                    "alerts": [
                        {
                            "metric": "thumbs_down_rate",
                            "level_today": firing,
                            "firing": firing,
                            "message": "m",
                        }
                    ]
                }
            ).encode(),
        )
        drift = {
            "status": "ok",
            "message": f"drift message {d}",
            "drift": [
                {
                    "feature": "input_length",
                    "psi": 2.5 * i,
                    "level": "significant" if i else "none",
                    "p_adjusted": 1e-9 if i else 0.6,
                    "n_ref": 700,
                    "n_cur": 100,
                    "test": "chi-square test of homogeneity",
                }
            ],
        }
        wh.write_bytes(keys.monitoring_report(d, "drift.json"), json.dumps(drift).encode())
        shadow = {
            "status": "ok",
            "message": "",
            "candidate": "v2",
            "decision": {"verdict": "worse", "win_rate": 0.31, "ci": [0.22, 0.41], "n": 96},
            "answers": "NOT LIVE - replay answers: 192/192",
        }
        wh.write_bytes(keys.monitoring_report(d, "shadow.json"), json.dumps(shadow).encode())
    hourly = pd.DataFrame({"model_version": [PROD] * 7 + [CANARY] * 3, "synthetic": [synthetic] * 10})
    wh.write_table(keys.TRAFFIC_HOURLY, hourly, keys.hour_partition(DAYS[-1], "03"))
    canary = {
        "hour": f"{DAYS[-1]}-03:00",
        "production": PROD,
        "canaries": [
            {
                "canary": CANARY,
                "production": PROD,
                "hour": f"{DAYS[-1]}-03:00",
                "verdict": "roll back",
                "reason": "worse",
                "test": "mSPRT",
                "story": [
                    {
                        "look": 1,
                        "hour": f"{DAYS[-1]}-03:00",
                        "verdict": "roll back",
                        "deciding": ["thumbs_down_rate"],
                    }
                ],
                "metrics": [
                    {
                        "metric": "thumbs_down_rate",
                        "canary": 0.15,
                        "production": 0.1,
                        "effect": 0.05,
                        "ci_low": 0.003,
                        "ci_high": 0.099,
                        "p_value": 0.0025,
                        "mde": 0.058,
                        "min_effect": 0.015,
                        "n_canary": 3,
                        "n_production": 7,
                        "effect_unit": "difference within hour (harm side)",
                        "status": "worse",
                    }
                ],
            }
        ],
    }
    wh.write_bytes(keys.monitoring_hour_report(DAYS[-1], "03", "canary.json"), json.dumps(canary).encode())
    return wh


def test_sections_state_intervals_n_and_synthetic(tmp_path):
    m = monitoring_inputs(_warehouse(tmp_path, synthetic=True))
    assert m["synthetic"] == {d: [2, 2] for d in DAYS} and m["canary"]["traffic"] == {
        "03": {CANARY: 3, PROD: 7}
    }
    page = monitoring_html(m)
    assert "SYNTHETIC traffic: every sampled request" in page and "SYNTHETIC</b> hourly traffic" in page
    assert "40.0% [23.0, 67.0] n=30" in page  # the second day's thumbs-down rate, its Wilson interval and n
    assert "0.93 (no interval)" in page
    assert "thumbs_down_rate: warn" in page  # the debounced alert that fired
    assert "drift message 2026-11-21" in page and "Drift of 2026-11-21 by feature" in page
    assert "worse: win rate 31.0% [22.0%, 41.0%] n=96; NOT LIVE - replay answers: 192/192" in page
    assert 'id="canary-verdict">roll back' in page and "3 of 10 (30.0%)" in page  # verdict and traffic share
    assert (
        "+5.0 pts [+0.3 pts, +9.9 pts]" in page and "+5.8 pts" in page
    )  # effect, interval, minimal detectable effect


def test_live_traffic_is_labelled_live_and_nothing_monitored_draws_nothing(tmp_path):
    page = monitoring_html(monitoring_inputs(_warehouse(tmp_path, synthetic=False)))
    assert "Live traffic: no sampled request is flagged synthetic." in page and "SYNTHETIC" not in page
    assert monitoring_html(monitoring_inputs(Warehouse.from_url(tmp_path / "empty"))) == ""
