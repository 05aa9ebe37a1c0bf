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

With ``--tour`` it makes instead the three pictures of the README's UI tour from the README's "Try your own
suite" run, replayed in a temporary folder (``eval-pipeline init``, the synthetic model server, four nights of
``my-bot-v1``, then ``my-bot-v2`` on the last; ~3 min): ``ui-lineage.png`` (Dagster's global asset lineage) and
``ui-eval-run.png`` (``eval_run`` of the failing candidate), both from ``dagster-webserver`` on 127.0.0.1 over that
folder's instance, and ``history-report.png`` (the top of its history report).

Every picture shows synthetic data and says so where the page does.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from eval_pipeline.project.paths import PROJECT_ROOT
from eval_pipeline.storage import keys

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]
README_PORT = 8765  # serve-model's default: the answers' label then reads as in the README
TOUR_DATES = (
    "2026-12-02",
    "2026-12-03",
    "2026-12-04",
    "2026-12-05",
)  # the tour's four nights (fixed: same pictures)


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


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_http(url: str, proc: subprocess.Popen, timeout: float = 180.0) -> None:
    """Until ``url`` answers 200 (or ``proc`` died, or ``timeout`` passed: then an error)."""
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=2) as r:
            if r.status == 200:
                return
        time.sleep(0.5)
    raise RuntimeError(f"{url} did not answer (exit code {proc.poll()})")


@contextlib.contextmanager
def _process(cmd: list[str], ready_url: str, **kwargs):
    """A server subprocess in its own process group, stopped (the group, by id) on exit."""
    import signal

    proc = subprocess.Popen(cmd, start_new_session=True, stdout=subprocess.DEVNULL, **kwargs)
    try:
        _wait_http(ready_url, proc)
        yield proc
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)


def run_tour_suite(tmp: Path) -> tuple[Path, dict[str, str]]:
    """The README's "Try your own suite" in ``tmp/my-evals``: four nights of my-bot-v1, my-bot-v2 on the last."""
    suite, port = tmp / "my-evals", README_PORT if _port_free(README_PORT) else _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EVAL_", "ANTHROPIC_", "DAGSTER_"))}
    env.update(
        PYTHONPATH=str(PROJECT_ROOT),
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        EVAL_PROVIDER="synthetic",
        ANTHROPIC_BASE_URL=f"http://127.0.0.1:{port}",
    )
    cli = [sys.executable, "-m", "eval_pipeline.cli"]
    subprocess.run([*cli, "init", str(suite)], check=True, env=env, stdout=subprocess.DEVNULL)
    serve = [*cli, "serve-model", "--accuracy", "claude-3-5-haiku-latest=0.5", "--port", str(port)]
    with _process(serve, f"http://127.0.0.1:{port}/health", cwd=suite, env=env):
        runs = [("my-bot-v1", d, 0) for d in TOUR_DATES] + [("my-bot-v2", TOUR_DATES[-1], 1)]
        for version, date, expected in runs:
            cmd = [*cli, "run", "--model-version", version, "--date", date]
            code = subprocess.run(cmd, cwd=suite, env=env, stdout=subprocess.DEVNULL).returncode
            if code != expected:
                raise RuntimeError(
                    f"eval-pipeline run {version} --date {date} exited {code}, expected {expected}"
                )
    return suite, env


def take_tour(suite: Path, env: dict[str, str], out: Path) -> list[Path]:
    """The UI tour's pictures (module docstring) of the suite folder ``suite``, into ``out``."""
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    env = {
        **env,
        "DAGSTER_HOME": str(suite / ".dagster_home"),
        "EVAL_DATA_DIR": str(suite / "data"),
        "EVAL_WAREHOUSE_URL": str(suite / "warehouse"),
    }
    webserver = [str(Path(sys.executable).parent / "dagster-webserver"), "-m", "eval_pipeline.definitions"]
    base = f"http://127.0.0.1:{port}"
    shots = []
    with (
        _process([*webserver, "-h", "127.0.0.1", "-p", str(port)], f"{base}/server_info", cwd=suite, env=env),
        sync_playwright() as p,
    ):
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 860})
        page.set_default_timeout(120_000)
        for name, path, ready in (
            ("ui-lineage.png", "/asset-groups", "text=Global asset lineage"),
            ("ui-eval-run.png", "/assets/eval_run", "text=verdict"),
        ):
            page.goto(base + path, wait_until="networkidle")
            skip = page.get_by_role("button", name="Skip")  # the first visit's "Join the community" dialog
            if skip.count():
                skip.first.click()
            page.wait_for_selector(ready)
            page.wait_for_timeout(2000)  # the lineage graph settles its layout
            page.screenshot(path=str(out / name))
            shots.append(out / name)
        page.goto((suite / "warehouse" / keys.history_report()).as_uri())
        page.wait_for_function("window.reportStatus && window.reportStatus.done_ms !== null", timeout=120_000)
        page.evaluate("window.scrollTo(0, 0)")
        page.screenshot(path=str(out / "history-report.png"))
        shots.append(out / "history-report.png")
        browser.close()
    return shots


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--warehouse", help="a warehouse the demo already filled (default: run the demo first)")
    ap.add_argument("--out", default=str(PROJECT_ROOT / "docs" / "img"), help="folder of the PNGs (docs/img)")
    ap.add_argument("--tour", action="store_true", help="the README's UI tour pictures instead (see above)")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        if args.tour:
            shots = take_tour(*run_tour_suite(Path(tmp)), Path(args.out))
        else:
            shots = take(Path(args.warehouse) if args.warehouse else run_demo(Path(tmp)), Path(args.out))
        for shot in shots:
            print(shot)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
