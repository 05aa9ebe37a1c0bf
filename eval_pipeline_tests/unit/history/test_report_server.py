"""``eval-pipeline view --serve`` (eval_pipeline.history.report_server) through Starlette's TestClient (the real app
in process): the reports are served as files (the report's relative diff links resolve), any pair of versions and
dates gets its per-sample diff built on request - the page ``eval-pipeline diff`` writes, at the same key -
a pair without scores is a 404 naming it, and only loopback Host headers and files under reports/ are served; in
Chromium against uvicorn, the report's pickers build a pair never written."""

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


def test_only_loopback_hosts_and_only_reports(client):
    c, _ = client
    assert c.get("/history/latest.html", headers={"host": "evil.example"}).status_code == 400
    assert c.get("/../runs/date=2026-01-07/model_version=cand-v2/run.json").status_code == 404
    assert c.get("/%2e%2e/runs/date=2026-01-07/model_version=cand-v2/run.json").status_code == 404


def test_served_report_builds_any_pair_from_the_pickers_in_a_browser(tmp_path):
    """Under ``view --serve`` (uvicorn on 127.0.0.1) the report's pickers offer a pair never written as a link that
    builds it; following it opens that pair's diff page, whose own pickers then link back to written pages."""
    import threading
    import time

    import pandas as pd
    import uvicorn
    from playwright.sync_api import sync_playwright

    from eval_pipeline.history.pair_index import picker_data, scored_runs
    from eval_pipeline.history.report_page import build_report_html

    wh = Warehouse.from_url(tmp_path / "wh")
    ds.write_pair(wh)
    ds.write_pair(wh, date=LATER)
    runs = scored_runs(wh)
    scores = pd.DataFrame(
        [
            {
                "date": d,
                "model_version": mv,
                "suite": "s",
                "eval_set": "e",
                "family": "deterministic",
                "metric": "exact_match",
                "segment": "__all__",
                "n_rows": 50,
                "n_graded": 50,
                "n_passed": 40 + i,
                "pass_rate": (40 + i) / 50,
                "mean_value": (40 + i) / 50,
                "std_value": 0.4,
                "n_infra_error": 0,
            }
            for i, (mv, dates) in enumerate(runs.items())
            for d in dates
        ]
    )
    page_html = build_report_html(
        scores, None, production=ds.BASE, pairs=picker_data(wh, keys.history_report(), runs)
    )
    wh.write_bytes(keys.history_report(), page_html.encode())
    server = uvicorn.Server(
        uvicorn.Config(create_app(wh), host="127.0.0.1", port=0, access_log=False, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"]
            )
            page = browser.new_page()
            page.goto(f"http://127.0.0.1:{port}/")
            page.select_option("#pick-c", ds.CAND)
            page.select_option("#pick-cd", LATER)
            page.select_option("#pick-b", ds.CAND)
            page.select_option("#pick-bd", ds.DATE)
            link = page.locator("#pair-link")
            link.wait_for()
            assert link.inner_text() == "sample by sample (built now)"
            link.click()
            page.wait_for_function("window.diffStatus && window.diffStatus.done_ms !== null", timeout=30_000)
            assert f"{ds.CAND}@{LATER} vs {ds.CAND}@{ds.DATE}" in page.title()
            assert page.inner_text("#pair-result") == "(this page)"
            browser.close()
    finally:
        server.should_exit = True
        thread.join(10)
    assert wh.exists(keys.diff_page(LATER, ds.CAND, against=(ds.DATE, ds.CAND)))
