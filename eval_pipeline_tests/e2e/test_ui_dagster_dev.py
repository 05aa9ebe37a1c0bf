"""End to end in a real browser: ``dagster dev`` on 127.0.0.1, driven by headless Chromium.

Opens the asset graph, launches a materialization of one demo partition (date x model version)
from the asset's Materialize dialog, waits for the run to succeed and opens the materialization's
metadata. Screenshots go to ``test-artifacts/`` (gitignored). Slow by nature (~40-70 s: the
webserver, the daemon and a run process each import the code location).

Needs Debian's ``chromium`` at /usr/bin/chromium (``apt-get install chromium``) and the
Playwright Python package; the browser is never downloaded.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import dagster as dg
import pytest

from eval_pipeline.project.loader import load_project
from eval_pipeline.project.paths import PROJECT_ROOT
from eval_pipeline_tests.support.browser import ARTIFACTS, chromium_page, dagster_web, pick_partitions

DATE = "2026-11-20"


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
    with dagster_web("dagster", ["dev", "-w", "workspace.yaml"], env, log, timeout=90) as url:
        yield {"url": url, "keys": keys, "warehouse": tmp_path / "warehouse", "log": log, "home": home}


def test_launch_demo_partition_from_the_ui(dagster_dev):
    from playwright.sync_api import expect

    ARTIFACTS.mkdir(exist_ok=True)
    for old in ARTIFACTS.glob("ui_*.png"):
        old.unlink()
    base, key = dagster_dev["url"], dagster_dev["keys"][0]
    with chromium_page(1400, 900, timeout_ms=60_000, failure_shot="ui_failure.png") as page:
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
    # The run wrote the partition's golden table into the scratch warehouse.
    written = list(Path(dagster_dev["warehouse"]).rglob(f"*{key}*"))
    assert written, f"nothing written for {key} in {dagster_dev['warehouse']}"
