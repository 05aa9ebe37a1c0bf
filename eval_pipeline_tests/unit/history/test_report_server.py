"""``eval-pipeline view --serve`` (eval_pipeline.history.report_server) through Starlette's TestClient (the real app
in process): the reports are served as files (the report's relative diff links resolve), any pair of versions and
dates gets its per-sample diff built on request - the page ``eval-pipeline diff`` writes, at the same key -
a pair without scores is a 404 naming it, and only loopback Host headers and files under reports/ are served.
The same app in Chromium against uvicorn is ``e2e/test_report_server_browser.py``."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from eval_pipeline.history.report_server import create_app
from eval_pipeline.storage import keys
from eval_pipeline.storage.warehouse import Warehouse
from eval_pipeline_tests.support import diff_synthetic as ds

LATER = "2026-01-08"


@pytest.fixture()
def client(tmp_path):
    wh = Warehouse.from_url(tmp_path / "wh")
    ds.write_pair(wh)
    ds.write_pair(wh, date=LATER)
    wh.write_bytes(keys.history_report(), b"<html>the report</html>")
    wh.write_bytes(keys.run_artifact(ds.DATE, ds.CAND), b"{}")  # outside reports/: never served
    return TestClient(create_app(wh), base_url="http://127.0.0.1"), wh


def test_reports_served_and_any_pair_built_on_request(client):
    c, wh = client
    assert c.get("/api/view").json() == {"diff_on_request": True}
    home = c.get("/", follow_redirects=False)
    assert home.headers["location"] == "/history/latest.html"
    assert c.get("/history/latest.html").text == "<html>the report</html>"
    r = c.get(
        "/diff",
        params={"candidate": f"{ds.BASE}@{LATER}", "baseline": f"{ds.CAND}@{ds.DATE}"},
        follow_redirects=False,
    )
    key = keys.diff_page(LATER, ds.BASE, against=(ds.DATE, ds.CAND))
    assert r.status_code == 303 and r.headers["location"] == "/" + key.removeprefix("reports/")
    page = c.get(r.headers["location"])
    assert page.status_code == 200 and "route-00007" in page.text and wh.exists(key)
    assert f"{ds.BASE}@{LATER} vs {ds.CAND}@{ds.DATE}" in page.text
    missing = c.get(
        "/diff", params={"candidate": f"{ds.CAND}@2025-01-01", "baseline": f"{ds.BASE}@{ds.DATE}"}
    )
    assert missing.status_code == 404 and "no scores for cand-v2 on 2025-01-01" in missing.text
    assert c.get("/diff", params={"candidate": ds.CAND}).status_code == 400
    cross = {"candidate": ds.CAND, "baseline": ds.BASE}
    assert c.get("/diff", params=cross, headers={"sec-fetch-site": "cross-site"}).status_code == 403


def test_only_loopback_hosts_and_only_reports(client):
    c, _ = client
    assert c.get("/history/latest.html", headers={"host": "evil.example"}).status_code == 400
    assert c.get("/../runs/date=2026-01-07/model_version=cand-v2/run.json").status_code == 404
    assert c.get("/%2e%2e/runs/date=2026-01-07/model_version=cand-v2/run.json").status_code == 404
