"""The verdict in the Dagster UI, in a real browser, after a failing candidate run.

``eval-pipeline run`` evaluates a good baseline (bot-a) and a candidate (bot-b) that falls below its blocking
threshold and is significantly worse than the baseline (40 samples, the Anthropic test server on loopback).
Then ``dagster-webserver`` serves that instance on 127.0.0.1 and headless Chromium checks what a person sees:

* ``eval_run`` on the candidate's partition: ``verdict`` FAIL and ``why`` (metric, value, 95% interval, n,
  bound) in the metadata table, without opening any markdown;
* the ``quality_gate`` and ``no_significant_regression`` checks: Failed, on that partition, with the same why
  (the regression's effect in points with its interval and p), and the check's partition view counts it failed;
* the run page: the release gate's verdict as the failure message, not a DagsterAssetCheckFailedError.

Screenshots go to ``test-artifacts/ui_verdict_*.png``. Needs Debian's chromium at /usr/bin/chromium and the
Playwright package (the browser is never downloaded).
"""

from __future__ import annotations

import json
import os

import pytest

from eval_pipeline import cli
from eval_pipeline.release import verdict as vd
from eval_pipeline_tests.support.browser import ARTIFACTS, chromium_page, dagster_web
from eval_pipeline_tests.support.cli_env import answer_golden, cli_env, use_env
from eval_pipeline_tests.support.orchestration import edit_yaml, small_data
from eval_pipeline_tests.support.servers.anthropic_server import AnthropicTestServer, ServerConfig

KEY = "sk-test-ui-verdict"
DATE = "2026-11-04"


@pytest.fixture
def failing_candidate(tmp_path, monkeypatch):
    """A baseline run and a failing candidate run through the CLI; their instance, warehouse and run ids."""
    data = small_data(tmp_path / "data", n_samples=40, model_names=("bot-a", "bot-b"))
    edit_yaml(
        data / "suites" / "mini.yaml",
        lambda d: d["eval_sets"][0].update(
            thresholds=[{"metric": "pass_rate", "min": 0.8, "blocking": True}]
        ),
    )
    env = cli_env(tmp_path, data, KEY)
    srv = AnthropicTestServer(ServerConfig(api_key=KEY)).start()
    try:
        answer_golden(srv, data)
        use_env(monkeypatch, {**env, "ANTHROPIC_BASE_URL": srv.base_url})
        run = ["run", "--date", DATE, "--families", "deterministic", "--model-version"]
        srv.config.model_accuracy = {"claude-haiku-4-5": 1.0}
        assert cli.main([*run, "bot-a"]) == 0
        srv.config.model_accuracy = {"claude-haiku-4-5": 0.45}
        assert cli.main([*run, "bot-b", "--baseline", "bot-a"]) == 1
    finally:
        srv.stop()
    from eval_pipeline.project.loader import load_project

    bkey = load_project().registry.by_name("bot-b").key
    return {
        "env": env,
        "home": tmp_path / "dagster_home",
        "wh": tmp_path / "wh",
        "key": bkey,
        "tmp": tmp_path,
    }


@pytest.fixture
def webserver(failing_candidate):
    """``dagster-webserver`` on a free loopback port over the candidate's instance."""
    env = {**os.environ, **failing_candidate["env"], "EVAL_PROVIDER": "replay", "HF_HUB_OFFLINE": "1"}
    log = failing_candidate["tmp"] / "webserver.log"
    with dagster_web("dagster-webserver", ["-w", "workspace.yaml"], env, log, timeout=120) as url:
        yield url


def _dismiss_popup(page) -> None:
    """The first visit shows a "Join the Dagster community" dialog over the page."""
    skip = page.get_by_role("button", name="Skip")
    if skip.count():
        skip.first.click()


def test_the_ui_shows_fail_and_why_on_the_failing_partition(failing_candidate, webserver):
    from playwright.sync_api import expect

    ARTIFACTS.mkdir(exist_ok=True)
    wh, key = failing_candidate["wh"], failing_candidate["key"]
    art = json.loads((wh / f"runs/date={DATE}/model_version={key}/run.json").read_text())
    report = json.loads((wh / f"reports/regression/date={DATE}/model_version={key}/report.json").read_text())
    quality, regression = vd.quality_verdict(vd.artifact_thresholds(art)), vd.regression_verdict(report)
    assert quality.verdict == regression.verdict == "FAIL"
    assert " < 0.8 (n=40)" in quality.why and " pts [" in regression.why and "p=" in regression.why
    partition = f"{DATE}|{key}"
    with chromium_page(1400, 1000, timeout_ms=60_000) as page:
        # 1. eval_run on the candidate's partition: verdict FAIL and why, in the metadata table.
        page.goto(
            f"{webserver}/assets/eval_run?view=partitions&partition={partition}", wait_until="networkidle"
        )
        _dismiss_popup(page)
        verdict_row = page.locator("tr").filter(has=page.get_by_text("verdict", exact=True)).first
        expect(verdict_row).to_contain_text("FAIL")
        expect(page.get_by_text(quality.why, exact=True).first).to_be_visible()
        page.screenshot(path=ARTIFACTS / "ui_verdict_1_eval_run_partition.png")

        # 2. The quality gate check: Failed, on that partition, with why (not behind "Show Markdown").
        page.goto(f"{webserver}/assets/eval_run?view=checks", wait_until="networkidle")
        _dismiss_popup(page)
        expect(page.get_by_text("Failed").first).to_be_visible()
        expect(page.get_by_text(partition, exact=True).first).to_be_visible()
        expect(page.get_by_text(quality.why, exact=True).first).to_be_visible()
        page.screenshot(path=ARTIFACTS / "ui_verdict_2_quality_gate.png")
        page.get_by_text("Partitions", exact=True).last.click()
        expect(page.get_by_text("Failed (1)")).to_be_visible()

        # 3. The regression gate check: Failed, with the regressed metric's effect, interval and p.
        page.goto(f"{webserver}/assets/regression_report?view=checks", wait_until="networkidle")
        _dismiss_popup(page)
        expect(page.get_by_text(partition, exact=True).first).to_be_visible()
        expect(page.get_by_text(regression.why, exact=True).first).to_be_visible()
        page.screenshot(path=ARTIFACTS / "ui_verdict_3_regression_gate.png")

        # 4. The run page: the release gate's verdict is the failure, not a blocking-check stack trace.
        import dagster as dg

        with dg.DagsterInstance.from_config(str(failing_candidate["home"])) as instance:
            run_id = instance.get_runs(dg.RunsFilter(tags={"dagster/partition": partition}), limit=1)[
                0
            ].run_id
        page.goto(f"{webserver}/runs/{run_id}", wait_until="networkidle")
        _dismiss_popup(page)
        expect(page.get_by_text(f"release gate FAIL for {key}@{DATE}").first).to_be_visible()
        expect(page.get_by_text("DagsterAssetCheckFailedError")).to_have_count(0)
        page.screenshot(path=ARTIFACTS / "ui_verdict_4_run.png")
