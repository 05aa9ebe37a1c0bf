"""The review page in a real browser (Playwright + Debian's /usr/bin/chromium) against the real server
(uvicorn on 127.0.0.1, a free port): three items labelled with the keyboard only land in
``<data>/reviews/`` (a temporary copy of the data folder) and raise the judge-vs-human ``n`` of the next
calibration (:func:`eval_pipeline.noise.floor.labelled_review_metrics`, what ``judge_calibration`` adds)
by three; progress is shown; a hostile answer stays text. A screenshot goes to ``test-artifacts/``.
"""

from __future__ import annotations

import json
import shutil
import threading
import time

import pytest

from eval_pipeline.noise import review_server as rs
from eval_pipeline.noise.floor import labelled_review_metrics
from eval_pipeline.project.paths import PROJECT_ROOT
from eval_pipeline.storage.warehouse import Warehouse
from eval_pipeline_tests.review_fixtures import HOSTILE, JUDGE, item, write_queue

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]
ARTIFACTS = PROJECT_ROOT / "test-artifacts"


@pytest.fixture
def served(tmp_path):
    """(url, data folder): the review server over a 4-item queue and a data copy with 2 earlier labels."""
    import uvicorn

    data = tmp_path / "data"
    shutil.copytree(PROJECT_ROOT / "data", data, ignore=shutil.ignore_patterns("recordings", "synthetic"))
    (data / "reviews").mkdir()
    earlier = [dict(item(i), human_label={"accuracy": 4, "helpfulness": 4, "tone": 5}) for i in (8, 9)]
    (data / "reviews" / "earlier.jsonl").write_text("".join(json.dumps(r) + "\n" for r in earlier))
    write_queue(tmp_path / "wh", [item(1), item(2, HOSTILE), item(3), item(4)])
    store = rs.ReviewStore(Warehouse.from_url(str(tmp_path / "wh")), data / "reviews")
    server = uvicorn.Server(
        uvicorn.Config(rs.create_app(store), host="127.0.0.1", port=0, access_log=False, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "review server did not start"
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}/", data
    server.should_exit = True
    thread.join(10)


def _n(data) -> dict[str, int]:
    metrics = labelled_review_metrics(data, judge_model=JUDGE, min_n=1)
    return {k: int(v["n"]) for k, v in metrics.items()}


def test_three_items_labelled_with_the_keyboard_feed_calibration(served):
    from playwright.sync_api import expect, sync_playwright

    url, data = served
    ARTIFACTS.mkdir(exist_ok=True)
    before = _n(data)
    assert before == {f"human_review/{d}": 2 for d in ("accuracy", "helpfulness", "tone")}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        errors, dialogs = [], []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.goto(url)
        expect(page.locator("#progress-text")).to_have_text("0 of 4 labelled · 4 open")
        expect(page.locator("#item-list li")).to_have_count(4)
        # the hostile answer (second item) is shown as text and never runs
        page.keyboard.press("n")
        expect(page.locator("#response")).to_have_text(HOSTILE)
        assert page.evaluate("window.__pwned") is None
        assert page.locator("#response img, #response script").count() == 0
        page.keyboard.press("b")
        for k, scores in enumerate(["435", "222", "541"]):
            rid = page.locator("#item-id").inner_text()
            for s in scores:  # a digit scores the active dimension, then the next one is active
                page.keyboard.press(s)
            expect(page.locator(".dim button.chosen")).to_have_count(3)
            if k == 1:  # the docs' screenshot (docs/img/review-page.png): the hostile answer, scored, as text
                page.screenshot(path=str(ARTIFACTS / "review_page.png"))
            page.keyboard.press("Enter")
            expect(page.locator("#status")).to_have_text(f"saved {rid}")
            expect(page.locator("#progress-text")).to_have_text(f"{k + 1} of 4 labelled · {3 - k} open")
            expect(page.locator("#item-list li", has_text=rid)).to_have_count(0)  # labelled: left the queue
        browser.close()
    assert not errors and not dialogs
    files = sorted((data / "reviews").glob("*.jsonl"))
    assert [f.name for f in files] == ["2026-01-05_claude-candidate.jsonl", "earlier.jsonl"]
    stored = [json.loads(line) for line in files[0].read_text().splitlines()]
    assert sorted(tuple(r["human_label"].values()) for r in stored) == sorted(
        [(4, 3, 5), (2, 2, 2), (5, 4, 1)]
    )
    after = _n(data)
    assert after == {k: v + 3 for k, v in before.items()}
