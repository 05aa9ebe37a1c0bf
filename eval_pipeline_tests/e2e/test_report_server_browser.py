"""``eval-pipeline view --serve`` (eval_pipeline.history.report_server) in Chromium against uvicorn on 127.0.0.1:
the report's pickers build a pair never written (the app's rules through TestClient are
``unit/history/test_report_server.py``)."""

from __future__ import annotations

from eval_pipeline.history.report_server import create_app
from eval_pipeline.storage import keys
from eval_pipeline.storage.warehouse import Warehouse
from eval_pipeline_tests.support import diff_synthetic as ds

LATER = "2026-01-08"


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
