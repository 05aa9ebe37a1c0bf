"""In a real browser, through the daemon: a whole nightly partition and a two-partition backfill.

``dagster dev`` (webserver + ``dagster-daemon``) on 127.0.0.1 over a scratch instance (the repo's
``.dagster_home/dagster.yaml``: queued runs, the ``anthropic_api`` pool at one step), a tiny project
(``orchestration_support.small_data``: 4 routing samples, 3 model versions) answered by the test
Anthropic server. Headless Chromium (Debian's /usr/bin/chromium, via Playwright):

1. the ``nightly_eval_job`` page -> "Materialize all" -> one date x model version -> "Launch 1 run":
   every asset of the nightly selection for that partition;
2. the same dialog with two model versions -> "Launch backfill".

Results are read back from the instance: the runs were queued and dequeued by the daemon (the
run coordinator is the QueuedRunCoordinator), each succeeded, the backfill completed, every nightly
asset is materialized for the three partitions, and each sample went to the model once per
partition (counted at the server). Screenshots: ``test-artifacts/daemon_ui_*.png``.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import dagster as dg
import pytest

from eval_pipeline.defs.jobs import NIGHTLY_ASSETS
from eval_pipeline.defs.partitions import MODEL_VERSION_PARTITIONS
from eval_pipeline.project.loader import load_project
from eval_pipeline.project.paths import PROJECT_ROOT
from eval_pipeline_tests.support.browser import ARTIFACTS, chromium_page, dagster_web, pick_partitions
from eval_pipeline_tests.support.cli_env import answer_golden, served_env
from eval_pipeline_tests.support.orchestration import small_data
from eval_pipeline_tests.support.servers.anthropic_server import AnthropicTestServer, ServerConfig

DATE = "2026-11-24"
N = 4
KEY = "sk-ant-ui-daemon-SECRET-777"


@pytest.fixture
def daemon_dev(tmp_path):
    """``dagster dev`` (with its daemon) on a free loopback port, a scratch DAGSTER_HOME, the tiny
    project in EVAL_DATA_DIR and the test Anthropic server (answer key = the golden labels)."""
    data = small_data(tmp_path / "data", n_samples=N)
    server = AnthropicTestServer(ServerConfig(api_key=KEY)).start()
    answer_golden(server, data)
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(PROJECT_ROOT / ".dagster_home" / "dagster.yaml", home / "dagster.yaml")
    # The run coordinator `dagster dev` uses anyway, made explicit, polling its queue every second (default 5 s).
    with (home / "dagster.yaml").open("a") as f:
        f.write(
            "\nrun_coordinator:\n  module: dagster.core.run_coordinator\n  class: QueuedRunCoordinator\n"
            "  config:\n    dequeue_interval_seconds: 1\n    dequeue_use_threads: true\n"
        )
    keys = [m.key for m in load_project(data).registry.models]
    instance = dg.DagsterInstance.from_config(str(home))
    instance.add_dynamic_partitions(MODEL_VERSION_PARTITIONS.name, keys)
    instance.dispose()

    env = {
        **os.environ,
        **served_env(tmp_path, data, home, KEY, server.base_url, max_concurrency=4),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
    }
    log = tmp_path / "dagster_dev.log"
    try:
        with dagster_web("dagster", ["dev", "-w", "workspace.yaml"], env, log, timeout=90) as url:
            yield {
                "url": url,
                "keys": keys,
                "home": home,
                "log": log,
                "server": server,
                "wh": tmp_path / "wh",
            }
    finally:
        server.stop()


def _wait(cond, timeout: float, what, log: Path):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = cond()
        if got:
            return got
        time.sleep(1)
    raise AssertionError(f"{what} not after {timeout}s:\n{log.read_text()[-3000:]}")


def _materialize_all(page, model_versions: list[str]):
    """Click the job page's "Materialize all"; confirm the warning that the optional upstream inputs
    of ``eval_run`` (judge scores, calibration: other jobs) are not materialized; in the launch dialog
    choose the date, then the model versions (dynamic dimension dropdown). Returns the dialog."""
    from playwright.sync_api import expect

    page.get_by_role("button", name="Materialize all").first.click()
    confirm, date_input = page.get_by_role("button", name="Confirm"), page.get_by_placeholder("ex:")
    expect(confirm.or_(date_input)).to_be_visible()
    if confirm.is_visible():
        confirm.click()
    dialog = page.get_by_role("dialog")
    date_input = dialog.get_by_placeholder("ex:")
    date_input.fill(DATE)
    date_input.press("Enter")
    dialog.get_by_text("Select a partition or create one").click()
    pick_partitions(page, model_versions)
    page.keyboard.press("Escape")  # close the dropdown, keep the dialog
    return dialog


def _daemon_dequeued(instance: dg.DagsterInstance, run_id: str) -> bool:
    """The run went through the queue: RUN_ENQUEUED (the webserver / the backfill daemon submitted it), then
    RUN_STARTING (the daemon's QueuedRunCoordinatorDaemon took it off the queue and launched it)."""
    kinds = [
        r.dagster_event.event_type_value for r in instance.all_logs(run_id) if r.dagster_event is not None
    ]
    enq, starting = dg.DagsterEventType.RUN_ENQUEUED.value, dg.DagsterEventType.RUN_STARTING.value
    return enq in kinds and starting in kinds and kinds.index(enq) < kinds.index(starting)


def test_nightly_partition_and_two_partition_backfill_from_the_ui_through_the_daemon(daemon_dev):
    from dagster._core.execution.backfill import BulkActionStatus
    from playwright.sync_api import expect

    ARTIFACTS.mkdir(exist_ok=True)
    for old in ARTIFACTS.glob("daemon_ui_*.png"):
        old.unlink()
    base, (single, *pair), log = daemon_dev["url"], daemon_dev["keys"], daemon_dev["log"]
    instance = dg.DagsterInstance.from_config(str(daemon_dev["home"]))
    assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
    nightly = set(NIGHTLY_ASSETS)

    def finished_run(partition: str):
        runs = instance.get_runs(dg.RunsFilter(tags={"dagster/partition": partition}), limit=1)
        return runs[0] if runs and runs[0].is_finished else None

    with chromium_page(1400, 900, timeout_ms=60_000, failure_shot="daemon_ui_failure.png") as page:
        # 1. The whole nightly selection for one partition, from the job page.
        page.goto(f"{base}/locations/eval_pipeline/jobs/nightly_eval_job", wait_until="networkidle")
        dialog = _materialize_all(page, [single])
        expect(dialog.get_by_text("1 partition", exact=True)).to_be_visible()
        page.screenshot(path=ARTIFACTS / "daemon_ui_1_nightly_dialog.png")
        dialog.get_by_role("button", name="Launch 1 run").click()
        expect(dialog).to_be_hidden()

        # 2. A two-partition backfill from the same dialog (while the first run may still be queued or running),
        # from a freshly loaded job page (the first launch's toasts and re-renders can swallow the dropdown click).
        page.goto(f"{base}/locations/eval_pipeline/jobs/nightly_eval_job", wait_until="networkidle")
        dialog = _materialize_all(page, pair)
        expect(dialog.get_by_text("2 partitions", exact=True)).to_be_visible()
        page.screenshot(path=ARTIFACTS / "daemon_ui_2_backfill_dialog.png")
        dialog.get_by_role("button", name="Launch backfill").click()
        expect(dialog).to_be_hidden()

        # Read back: the run, the backfill and its runs, from the instance.
        run = _wait(lambda: finished_run(f"{DATE}|{single}"), 180, "the nightly run", log)
        assert run.status == dg.DagsterRunStatus.SUCCESS, f"run {run.run_id} ended {run.status}"
        page.goto(f"{base}/runs/{run.run_id}", wait_until="networkidle")
        expect(page.get_by_text("Success", exact=True).first).to_be_visible()
        page.screenshot(path=ARTIFACTS / "daemon_ui_3_nightly_run.png")

        backfill = _wait(lambda: next(iter(instance.get_backfills()), None), 60, "a backfill", log)
        done = _wait(
            lambda: (
                (b := instance.get_backfill(backfill.backfill_id)).status != BulkActionStatus.REQUESTED and b
            ),
            180,
            "the backfill to finish",
            log,
        )
        page.goto(f"{base}/runs/b/{backfill.backfill_id}?tab=partitions", wait_until="networkidle")
        page.screenshot(path=ARTIFACTS / "daemon_ui_4_backfill.png", full_page=True)

    # The single run: the nightly job, every asset of its selection, through the daemon's queue.
    assert run.job_name == "nightly_eval_job", run.job_name
    assert _daemon_dequeued(instance, run.run_id)
    # The backfill: the two partitions, each its own run, queued by the daemon, all succeeded.
    assert done.status == BulkActionStatus.COMPLETED_SUCCESS, done.status
    assert sorted(done.partition_names or []) == sorted(f"{DATE}|{k}" for k in pair), done.partition_names
    bruns = instance.get_runs(dg.RunsFilter(tags={"dagster/backfill": backfill.backfill_id}))
    assert sorted(r.tags["dagster/partition"] for r in bruns) == sorted(f"{DATE}|{k}" for k in pair)
    assert all(r.status == dg.DagsterRunStatus.SUCCESS and r.job_name == "nightly_eval_job" for r in bruns), [
        (r.run_id, r.job_name, r.status) for r in bruns
    ]
    assert all(_daemon_dequeued(instance, r.run_id) for r in bruns)
    expected = {f"{DATE}|{k}" for k in (single, *pair)}
    for asset in nightly:
        assert instance.get_materialized_partitions(dg.AssetKey(asset)) == expected, asset
    # every sample sent once per partition (the model answered from the test server, nothing replayed)
    assert daemon_dev["server"].stats()["total"] == 3 * N
    for r in (run, *bruns):
        assert not any(KEY in (e.user_message or "") for e in instance.all_logs(r.run_id))
    instance.dispose()
