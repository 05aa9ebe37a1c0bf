"""The screenshots of the docs, taken with Playwright (Debian's /usr/bin/chromium) from the demo.

    python -m eval_pipeline_tests.docs_screenshots [--warehouse DIR] [--out docs/img]

Without ``--warehouse`` it runs the demo first (``eval_pipeline.demo.driver.run_demo`` with monitoring and the
canary: replayed SYNTHETIC answers and SYNTHETIC traffic, into a temporary warehouse and Dagster home, ~10 min
on 2 cores) and materializes ``review_queue`` for the failing candidate on the last date. Then it opens, offline:

* ``report-summary.png`` - the history report's verdicts of the latest date (the candidate's failing gate first);
* ``report-compare.png`` - "compare any two versions": the pickers and the table;
* ``report-monitoring.png`` / ``report-canary.png`` - the online-monitoring and canary sections;
* ``diff-page.png`` - the failing candidate's per-sample diff, opened from its summary row;
* ``review-page.png`` - ``eval-pipeline review`` (its Starlette app on 127.0.0.1) with an item being scored by
  keyboard (nothing is saved).

Every picture shows synthetic data and says so where the page does.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path

from eval_pipeline.project.paths import PROJECT_ROOT
from eval_pipeline.storage import keys

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]


def run_demo(tmp: Path) -> Path:
    """The demo (with monitoring and the canary) into ``tmp``; its warehouse, with the candidate's review queue."""
    home = tmp / "dagster_home"
    home.mkdir(parents=True)
    shutil.copy(PROJECT_ROOT / ".dagster_home" / "dagster.yaml", home / "dagster.yaml")
    os.environ.update(
        DAGSTER_HOME=str(home),
        EVAL_WAREHOUSE_URL=str(tmp / "wh"),
        EVAL_PROVIDER="replay",
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
    )
    from eval_pipeline.definitions import defs
    from eval_pipeline.defs.partitions import eval_partition_key
    from eval_pipeline.demo import driver
    from eval_pipeline.project.loader import load_project

    summary = driver.run_demo(quiet=True, with_monitoring=True)
    candidate = next(m for m in load_project().registry.models if m.nightly and not m.production)
    driver.materialize(
        defs,
        ["review_queue"],
        driver.local_instance(),
        eval_partition_key(summary["dates"][-1], candidate.key),
    )
    return tmp / "wh"


def _section(page, first: str, last: str, path: Path) -> None:
    """Screenshot from the top of ``first`` to the bottom of ``last`` (full page width)."""
    page.locator(first).first.scroll_into_view_if_needed()
    top = page.locator(first).first.bounding_box()
    bottom = page.locator(last).first.bounding_box()
    scroll = page.evaluate("window.scrollY")
    y0, y1 = top["y"] + scroll - 8, bottom["y"] + bottom["height"] + scroll + 8
    page.screenshot(path=str(path), full_page=True, clip={"x": 0, "y": y0, "width": 1400, "height": y1 - y0})


@contextlib.contextmanager
def _review_server(wh_root: Path, reviews: Path):
    import uvicorn

    from eval_pipeline.noise import review_server as rs
    from eval_pipeline.storage.warehouse import Warehouse

    app = rs.create_app(rs.ReviewStore(Warehouse.from_url(str(wh_root)), reviews))
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, access_log=False, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}/"
    finally:
        server.should_exit = True
        thread.join(10)


def take(wh_root: Path, out: Path) -> list[Path]:
    """Every screenshot of the module docstring from the demo warehouse ``wh_root`` into ``out``."""
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    report = wh_root / keys.history_report()
    shots = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(report.as_uri())
        page.wait_for_function("window.reportStatus && window.reportStatus.done_ms !== null", timeout=120_000)
        page.wait_for_function("window.compareStatus && window.compareStatus.rows > 0", timeout=30_000)
        for name, first, last in (
            ("report-summary.png", "#sec-summary", "#summary"),
            ("report-compare.png", "#sec-compare", "#compare-table"),
            ("report-monitoring.png", "#sec-monitoring", "#monitoring-days"),
            ("report-canary.png", "#sec-canary", "table.canary-metrics"),
        ):
            _section(page, first, last, out / name)
            shots.append(out / name)
        diff = (report.parent / page.locator("#summary a.diff-link").first.get_attribute("href")).resolve()
        page.goto(diff.as_uri())
        page.wait_for_function("window.diffStatus && window.diffStatus.done_ms !== null", timeout=60_000)
        page.screenshot(path=str(out / "diff-page.png"))
        shots.append(out / "diff-page.png")
        with tempfile.TemporaryDirectory() as reviews, _review_server(wh_root, Path(reviews)) as url:
            page.goto(url)
            page.wait_for_selector("#item-list li")
            for key in "113f":  # scores and the whole item's verdict by keyboard; nothing is saved
                page.keyboard.press(key)
            page.screenshot(path=str(out / "review-page.png"))
            shots.append(out / "review-page.png")
        browser.close()
    return shots


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--warehouse", help="a warehouse the demo already filled (default: run the demo first)")
    ap.add_argument("--out", default=str(PROJECT_ROOT / "docs" / "img"), help="folder of the PNGs (docs/img)")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        wh = Path(args.warehouse) if args.warehouse else run_demo(Path(tmp))
        for shot in take(wh, Path(args.out)):
            print(shot)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
