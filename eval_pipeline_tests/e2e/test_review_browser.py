"""The review page in a real browser (Playwright + Debian's /usr/bin/chromium) against the real server
(uvicorn on 127.0.0.1, a free port): three items labelled with the keyboard only land in
``<data>/reviews/`` (a temporary copy of the data folder), and the next ``judge_calibration`` (the Dagster
asset, replaying the judge's recorded calibration verdicts: synthetic) counts them: its ``human_review/*``
entries' ``n`` and its reviewed items go up by exactly three, and they stay reported-only (fewer than 20
labels) so the judge's blocking decision is unchanged. Progress is shown; a hostile answer stays text.
A screenshot goes to ``test-artifacts/``.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import threading
import time

import dagster as dg
import pytest

from eval_pipeline.defs.evaluators.calibration import judge_calibration
from eval_pipeline.defs.resources import EvalConfigResource, LLMResource, WarehouseResource, project_resource
from eval_pipeline.noise import review_server as rs
from eval_pipeline.project.paths import PROJECT_ROOT
from eval_pipeline.storage.warehouse import Warehouse
from eval_pipeline_tests.support.browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS
from eval_pipeline_tests.support.review_fixtures import DATE, HOSTILE, JUDGE, MV, item, pair_item, write_queue


@contextlib.contextmanager
def _serve(store):
    """The review app on uvicorn, 127.0.0.1 and a free port; yields its URL."""
    import uvicorn

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
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.fixture
def served(tmp_path):
    """(url, data folder): the review server over a 4-item queue and a data copy with 2 earlier labels."""
    data = tmp_path / "data"
    shutil.copytree(PROJECT_ROOT / "data", data, ignore=shutil.ignore_patterns("recordings", "synthetic"))
    (data / "reviews").mkdir()
    earlier = [dict(item(i), human_label={"accuracy": 4, "helpfulness": 4, "tone": 5}) for i in (8, 9)]
    (data / "reviews" / "earlier.jsonl").write_text("".join(json.dumps(r) + "\n" for r in earlier))
    write_queue(tmp_path / "wh", [item(1), item(2, HOSTILE), item(3), item(4)])
    with _serve(rs.ReviewStore(Warehouse.from_url(str(tmp_path / "wh")), data / "reviews")) as url:
        yield url, data


def _calibrate(data, tmp) -> dict:
    """Materialize ``judge_calibration`` over ``data`` (replayed verdicts); its stored payload for JUDGE."""
    wh = tmp / "wh_cal"
    result = dg.materialize(
        [judge_calibration],
        resources={
            "eval_config": EvalConfigResource(data_dir=str(data)),
            "project": project_resource,
            "warehouse": WarehouseResource(url=str(wh)),
            "llm": LLMResource(
                provider="replay",
                store_path=str(tmp / "store_cal"),
                recordings_path=str(PROJECT_ROOT / "data" / "recordings"),
            ),
        },
    )
    assert result.success
    md = result.asset_materializations_for_node("judge_calibration")[0].metadata
    payload = json.loads((wh / "calibration" / "judge" / f"{JUDGE}.json").read_text())
    assert md["human_review"].value[JUDGE] == payload["human_review"]
    assert md["human_review_labels"].value == payload["human_review"]["labels"]
    return payload


def _n(payload) -> dict[str, int]:
    return {k: int(v["n"]) for k, v in payload["metrics"].items() if k.startswith("human_review/")}


def test_three_items_labelled_with_the_keyboard_feed_calibration(served, tmp_path, monkeypatch):
    from playwright.sync_api import expect, sync_playwright

    monkeypatch.setenv(
        "EVAL_CALIBRATION_N", "50"
    )  # the size the judge's calibration verdicts were recorded at
    url, data = served
    ARTIFACTS.mkdir(exist_ok=True)
    first = _calibrate(data, tmp_path)
    before = _n(first)
    assert before == {f"human_review/{d}": 2 for d in ("accuracy", "helpfulness", "tone")}
    assert first["human_review"]["items"] == 2 and first["reported_only"] == sorted(before)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
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
            expect(page.locator(".dim:not(.verdict) button.chosen")).to_have_count(3)
            if k == 2:  # the whole item fails (p / f): a verdict beside the scores
                page.keyboard.press("f")
                expect(page.locator(".dim.verdict button.chosen")).to_have_text("fail")
            if k == 1:  # test-artifacts/review_page.png: the hostile answer, scored, shown as text
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
    assert sorted(r["human_verdict"] or "-" for r in stored) == ["-", "-", "fail"]
    second = _calibrate(data, tmp_path)
    # every dimension's n up by exactly three; the one whole-item verdict is its own 0-1 entry beside the judge's
    assert _n(second) == {**{k: v + 3 for k, v in before.items()}, "human_review/pass_fail": 1}
    assert second["human_review"]["items"] == first["human_review"]["items"] + 3
    assert (
        second["human_review"]["labels"] == first["human_review"]["labels"] + 10
    )  # 3 items x 3 dimensions + 1 verdict
    assert "2026-01-05_claude-candidate.jsonl" in second["human_review"]["files"]
    # 5 labels per dimension: reported with n, held back from the blocking decision, which is unchanged
    assert second["reported_only"] == sorted(_n(second)) and second["may_block"] == first["may_block"]
    assert second["reasons"] == first["reasons"]
    others = {k: v for k, v in second["metrics"].items() if not k.startswith("human_review/")}
    assert others == {k: v for k, v in first["metrics"].items() if not k.startswith("human_review/")}


def test_a_pairwise_item_shows_both_answers_and_takes_the_preferred_one_by_key(tmp_path):
    from playwright.sync_api import expect, sync_playwright

    write_queue(tmp_path / "wh", [pair_item(1, "A")])
    reviews = tmp_path / "data" / "reviews"
    with (
        _serve(rs.ReviewStore(Warehouse.from_url(str(tmp_path / "wh")), reviews)) as url,
        sync_playwright() as p,
    ):
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(url)
        expect(page.locator("#progress-text")).to_have_text("0 of 1 labelled · 1 open")
        a, b = page.locator("#response"), page.locator("#baseline")
        expect(b).to_have_text("Answer B 1: yes, at any ATM or in the app.")
        ba, bb = a.bounding_box(), b.bounding_box()
        assert bb["x"] > ba["x"] + ba["width"] - 1 and abs(bb["y"] - ba["y"]) < 2  # side by side
        expect(page.locator("#judge-pair")).to_contain_text("judge prefers: A")
        page.keyboard.press("2")
        expect(page.locator(".dim.preference button.chosen")).to_have_text("B (2)")
        page.screenshot(path=str(ARTIFACTS / "review_page_pairwise.png"))
        page.keyboard.press("Enter")
        expect(page.locator("#progress-text")).to_have_text("1 of 1 labelled · 0 open")
        browser.close()
    stored = [json.loads(line) for line in (reviews / f"{DATE}_{MV}.jsonl").read_text().splitlines()]
    assert [(r["human_preference"], r["judge_preference"]) for r in stored] == [("B", "A")]
