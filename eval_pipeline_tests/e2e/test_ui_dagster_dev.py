"""End to end in a real browser: ``dagster dev`` on 127.0.0.1, driven by headless Chromium.

Opens the asset graph, launches a materialization of one demo partition (date x model version)
from the asset's Materialize dialog, waits for the run to succeed and opens the materialization's
metadata. Screenshots go to ``test-artifacts/`` (gitignored). Slow by nature (~40-70 s: the
webserver, the daemon and a run process each import the code location).

Needs Debian's ``chromium`` at /usr/bin/chromium (``apt-get install chromium``) and the
Playwright Python package; the browser is never downloaded.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import dagster as dg
import pytest

from eval_pipeline.project.loader import load_project
from eval_pipeline.project.paths import PROJECT_ROOT

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = PROJECT_ROOT / "test-artifacts"
DATE = "2026-11-20"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_http(url: str, timeout: float, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"dagster dev exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"{url} not up after {timeout}s:\n{log.read_text()[-3000:]}")


def _wait_for_run(home: Path, partition: str, timeout: float) -> str:
    """Poll the instance for the run of ``partition``; return its id once it succeeded."""
    deadline = time.monotonic() + timeout
    with dg.DagsterInstance.from_config(str(home)) as instance:
        while time.monotonic() < deadline:
            runs = instance.get_runs(dg.RunsFilter(tags={"dagster/partition": partition}), limit=1)
            if runs and runs[0].is_finished:
                assert runs[0].status == dg.DagsterRunStatus.SUCCESS, (
                    f"run {runs[0].run_id} ended {runs[0].status}"
                )
                return runs[0].run_id
            time.sleep(1)
    raise AssertionError(f"no finished run for {partition} after {timeout}s")


@pytest.fixture
def dagster_dev(tmp_path):
    """``dagster dev -w workspace.yaml`` on a free loopback port with a scratch DAGSTER_HOME
    (a copy of the repo's dagster.yaml) and warehouse; the demo partitions registered first."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(PROJECT_ROOT / ".dagster_home" / "dagster.yaml", home / "dagster.yaml")
    keys = [m.key for m in load_project().registry.models]
    instance = dg.DagsterInstance.from_config(str(home))
    instance.add_dynamic_partitions("model_version", keys)
    instance.dispose()

    port = _free_port()
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "EVAL_WAREHOUSE_URL": str(tmp_path / "warehouse"),
        "EVAL_PROVIDER": "replay",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
    }
    env.pop("EVAL_DATA_DIR", None)  # the demo data in ./data
    log = tmp_path / "dagster_dev.log"
    dagster_bin = Path(sys.executable).parent / "dagster"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [str(dagster_bin), "dev", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _wait_http(f"http://127.0.0.1:{port}/server_info", 90, proc, log)
        yield {
            "url": f"http://127.0.0.1:{port}",
            "keys": keys,
            "warehouse": tmp_path / "warehouse",
            "log": log,
            "home": home,
        }
    finally:
        _stop_group(proc)


def pick_partitions(page, keys: list[str]) -> None:
    """In the open "Select a partition" dropdown of a launch dialog, check each of ``keys``.

    The dropdown is its own popover whose options are checkbox menu items. Scoped to it (a bare text
    locator can resolve to the same name elsewhere on the page, hidden behind the dialog, and the list
    re-renders while partition statuses load), each option is found through the popover's filter box,
    clicked, and confirmed checked before the next one."""
    from playwright.sync_api import expect

    popover = page.locator(".dagster-popover[data-state='open']").filter(
        has=page.get_by_placeholder("Filter partitions")
    )
    for _ in range(
        3
    ):  # the opening click can land while the dialog re-renders: open it again if it did not open
        try:
            expect(popover).to_be_visible(timeout=10_000)
            break
        except AssertionError:
            page.get_by_role("dialog").first.get_by_text("Select a partition or create one").click()
    for key in keys:
        popover.get_by_placeholder("Filter partitions").fill(key)
        option = popover.locator("[role=menuitem]:has(input[type=checkbox])").filter(
            has=page.get_by_text(key, exact=True)
        )
        expect(option).to_have_count(1)
        option.click()
        expect(option.locator("input[type=checkbox]")).to_be_checked()
    popover.get_by_placeholder("Filter partitions").fill("")


def _stop_group(proc: subprocess.Popen) -> None:
    """Stop ``dagster dev`` and everything it started (its own process group, by id)."""
    os.killpg(proc.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=20)
    time.sleep(2)  # give the webserver, daemon and code servers a moment to exit on their own
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def test_launch_demo_partition_from_the_ui(dagster_dev):
    from playwright.sync_api import expect, sync_playwright

    assert Path(CHROMIUM).exists(), "install Debian's chromium: apt-get install -y chromium"
    ARTIFACTS.mkdir(exist_ok=True)
    for old in ARTIFACTS.glob("ui_*.png"):
        old.unlink()
    base, key = dagster_dev["url"], dagster_dev["keys"][0]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.set_default_timeout(60_000)
        try:
            # 1. The asset graph: every stage of the pipeline is a group.
            page.goto(f"{base}/asset-groups", wait_until="networkidle")
            for group in (
                "ingestion",
                "inference",
                "evaluators",
                "calibration",
                "scoring",
                "history",
                "noise",
            ):
                expect(page.get_by_text(group, exact=True).first).to_be_visible()
            page.screenshot(path=ARTIFACTS / "ui_1_asset_graph.png")

            # 2. Launch one partition of golden_samples from its Materialize dialog.
            page.goto(f"{base}/assets/golden_samples", wait_until="networkidle")
            page.locator("button", has_text="Materialize").first.click()
            dialog = page.get_by_role("dialog")
            date_input = dialog.get_by_placeholder("ex:")
            date_input.fill(DATE)
            date_input.press("Enter")
            dialog.get_by_text("Select a partition or create one").click()
            pick_partitions(page, [key])
            page.keyboard.press("Escape")  # close the dropdown, keep the dialog
            expect(dialog.get_by_text("1 partition", exact=True)).to_be_visible()
            page.screenshot(path=ARTIFACTS / "ui_2_launch_dialog.png")
            dialog.get_by_role("button", name="Launch 1 run").click()

            # 3. Follow the run to success (its id from the instance: the launch toast may vanish on a busy machine).
            run_id = _wait_for_run(dagster_dev["home"], f"{DATE}|{key}", timeout=150)
            page.goto(f"{base}/runs/{run_id}", wait_until="networkidle")
            expect(page.get_by_text("Success", exact=True).first).to_be_visible()
            expect(page.get_by_text(f"{DATE}|{key}").first).to_be_visible()
            page.screenshot(path=ARTIFACTS / "ui_3_run_success.png")

            # 4. The materialization's metadata on the asset page.
            page.goto(
                f"{base}/assets/golden_samples?view=events&partition={DATE}%7C{key}", wait_until="networkidle"
            )
            for label in ("content_hash", "eval_sets", "dagster/row_count"):
                expect(page.get_by_text(label, exact=True).first).to_be_visible()
            expect(page.get_by_text("intent_routing").first).to_be_visible()
            page.screenshot(path=ARTIFACTS / "ui_4_metadata.png", full_page=True)
        except Exception:
            page.screenshot(path=ARTIFACTS / "ui_failure.png", full_page=True)
            raise
        finally:
            browser.close()
    # The run wrote the partition's golden table into the scratch warehouse.
    written = list(Path(dagster_dev["warehouse"]).rglob(f"*{key}*"))
    assert written, f"nothing written for {key} in {dagster_dev['warehouse']}"
