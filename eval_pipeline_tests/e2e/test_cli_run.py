"""``eval-pipeline run`` / ``compare``: exit codes 0 / 1 / 2, JUnit XML, the run in the Dagster instance."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import dagster as dg
import pytest

from eval_pipeline import cli
from eval_pipeline_tests.support.cli_env import answer_golden, cli_env, use_env
from eval_pipeline_tests.support.orchestration import edit_yaml, small_data
from eval_pipeline_tests.support.servers.anthropic_server import AnthropicTestServer, ServerConfig
from eval_pipeline_tests.support.servers.fixtures import module_server

KEY = "sk-test-cli-run-SECRET"
DATE = "2026-11-04"


server = module_server("server", AnthropicTestServer, api_key=KEY)


@pytest.fixture
def env(tmp_path, server, monkeypatch):
    """A tiny project (two model versions, one blocking routing threshold) against the test server."""
    data = small_data(tmp_path / "data", n_samples=8, model_names=("bot-a", "bot-b"))
    edit_yaml(
        data / "suites" / "mini.yaml",
        lambda d: d["eval_sets"][0].update(
            thresholds=[{"metric": "pass_rate", "min": 0.5, "blocking": True}]
        ),
    )
    server.config = ServerConfig(api_key=KEY)
    answer_golden(server, data)
    server.reset_stats()
    use_env(monkeypatch, cli_env(tmp_path, data, KEY, server.base_url))
    return {"data": data, "home": tmp_path / "dagster_home", "wh": tmp_path / "wh", "tmp": tmp_path}


def _run(*argv, report: bool = False):
    """``eval-pipeline run`` of one date; the history refresh only where a test looks at it (it costs a run)."""
    return cli.main(
        ["run", "--date", DATE, "--families", "deterministic", *argv, *([] if report else ["--no-report"])]
    )


def test_run_passes_writes_junit_and_the_run_is_in_the_instance(env, capsys, monkeypatch):
    summary = env["tmp"] / "step_summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    junit = env["tmp"] / "out" / "junit.xml"
    assert _run("--model-version", "bot-a", "--junit", str(junit), report=True) == 0
    out = capsys.readouterr().out
    assert (
        "bot-a" in out
        and "mini/routing:pass_rate" in out
        and ">= 0.5" in out
        and "overall: PASS (exit 0)" in out
    )
    assert "(n=8)" in out  # the deciding threshold states its n and interval
    root = ET.parse(junit).getroot()
    suite = root.find("testsuite")
    assert (
        suite.get("name") == f"bot-a@{DATE}" and suite.get("failures") == "0" and suite.get("errors") == "0"
    )
    names = [c.get("name") for c in suite.findall("testcase")]
    assert names == ["mini/routing:pass_rate >= 0.5", "no_significant_regression"]
    assert "## Eval: PASS" in summary.read_text()
    assert KEY not in out and KEY not in junit.read_text()
    # the run went through the nightly job on the DAGSTER_HOME instance (what the UI shows)
    instance = dg.DagsterInstance.from_config(str(env["home"]))
    # run refreshes the history report afterwards: eval_history in its own run, on the same instance
    report = env["wh"] / "reports" / "history" / "latest.html"
    assert report.exists() and f"history report: {report}" in out
    refreshes = [r for r in instance.get_runs() if r.job_name != "nightly_eval_job"]
    assert len(refreshes) == 1 and refreshes[0].tags.get("eval/trigger") == "cli"
    runs = [r for r in instance.get_runs() if r.job_name == "nightly_eval_job"]
    assert (
        len(runs) == 1
        and runs[0].job_name == "nightly_eval_job"
        and runs[0].tags.get("eval/trigger") == "cli"
    )
    assert runs[0].tags.get("dagster/partition") and runs[0].run_id in out


def test_failed_blocking_gate_exits_1_and_junit_has_the_failure(env, server, capsys):
    server.config.model_accuracy = {"claude-haiku-4-5": 0.0}  # every answer wrong: pass rate 0 < 0.5
    junit = env["tmp"] / "junit.xml"
    assert _run("--model-version", "bot-a", "--junit", str(junit)) == 1
    out = capsys.readouterr().out
    assert (
        "FAIL" in out
        and "blocking failures: mini/routing:pass_rate" in out
        and "overall: FAIL (exit 1)" in out
    )
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite.get("failures") == "1"
    failure = suite.find("testcase[@name='mini/routing:pass_rate >= 0.5']/failure")
    assert failure is not None and "mini/routing pass_rate 0.000 [0.000, 0.324] < 0.5 (n=8)" in failure.get(
        "message"
    )


def test_configuration_and_data_errors_exit_2(env, capsys):
    assert _run("--model-version", "no-such-bot") == 2
    assert "configuration error" in capsys.readouterr().err
    assert _run("--families", "deterministic,astrology") == 2
    # a data error: a golden line without its expected answer stops the run before any model call
    golden = env["data"] / "golden" / "intents.jsonl"
    lines = golden.read_text().splitlines()
    bad = json.loads(lines[2])
    del bad["expected"]
    golden.write_text("\n".join(lines[:2] + [json.dumps(bad)] + lines[3:]) + "\n")
    junit = env["tmp"] / "junit.xml"
    assert _run("--model-version", "bot-a", "--junit", str(junit)) == 2
    out = capsys.readouterr().out
    assert "ERROR" in out and "golden_samples" in out and "overall: ERROR (exit 2)" in out
    assert ET.parse(junit).getroot().find("testsuite/testcase/error") is not None


def test_baseline_and_compare(env, server, capsys):
    # bot-b answers worse than bot-a; --baseline runs bot-a first on the same date and compares
    server.config.model_accuracy = {"claude-haiku-4-5": 1.0}
    assert _run("--model-version", "bot-a") == 0
    capsys.readouterr()
    code = cli.main(["compare", "bot-a", "bot-a", "--date", DATE])
    assert code == 0 and "regression gate: NOT TESTED: no gated comparison" in capsys.readouterr().out
    assert cli.main(["compare", "bot-a", "bot-b", "--date", DATE]) == 2  # bot-b has no run yet
    assert "no scores for" in capsys.readouterr().err
    assert _run("--model-version", "bot-b", "--baseline", "bot-a") in (0, 1)
    out = capsys.readouterr().out
    assert "regression vs bot-a" in out
    assert cli.main(["compare", "bot-b", "bot-a"]) in (0, 1)
    assert "vs" in capsys.readouterr().out


def test_the_cli_job_is_the_code_locations_nightly_job():
    """The CLI loads only the evaluation modules; its nightly job selects the same assets and checks."""
    from eval_pipeline.definitions import defs
    from eval_pipeline.defs.ci import eval_definitions

    full = defs.resolve_job_def("nightly_eval_job")
    mine = eval_definitions().resolve_job_def("nightly_eval_job")
    assert mine.asset_layer.executable_asset_keys == full.asset_layer.executable_asset_keys
    assert set(mine.asset_layer.asset_graph.asset_check_keys) == set(
        full.asset_layer.asset_graph.asset_check_keys
    )


def test_a_failed_gate_check_step_is_a_gate_not_an_error(env, monkeypatch, capsys):
    """A gate step (no_significant_regression, release_approval) that fails shows as a failed step; it must not turn
    the verdict into an error (exit 2 or 3): the decision is read from the artifacts."""
    from eval_pipeline.defs import ci

    real = ci.run_partition

    def with_failed_check(*a, **kw):
        run = real(*a, **kw)
        run["failed"]["regression_report_no_significant_regression"] = ["blocking check failed"]
        return run

    monkeypatch.setattr(ci, "run_partition", with_failed_check)
    assert _run("--model-version", "bot-a") == 0
    monkeypatch.setattr(
        ci, "run_partition", lambda *a, **kw: {**real(*a, **kw), "failed": {"deterministic_scores": ["boom"]}}
    )
    assert _run("--model-version", "bot-a") == 3  # a step that failed for no known reason: a crash (issue 24)
    assert "deterministic_scores: boom" in capsys.readouterr().out


def test_a_gate_failure_prints_the_verdict_with_its_numbers_and_no_traceback(
    env, server, capsys, monkeypatch
):
    """A candidate below its blocking threshold and significantly worse than its baseline: the table, JUnit and
    the step summary name the metric, its value, 95% interval and n against the bound, and the regressed metric's
    effect with its interval and p - the same words - and no traceback is printed (a gate failing is a verdict)."""
    import re

    data = small_data(env["tmp"] / "data40", n_samples=40, model_names=("bot-a", "bot-b"))
    edit_yaml(
        data / "suites" / "mini.yaml",
        lambda d: d["eval_sets"][0].update(
            thresholds=[{"metric": "pass_rate", "min": 0.8, "blocking": True}]
        ),
    )
    monkeypatch.setenv("EVAL_DATA_DIR", str(data))
    server.config.model_accuracy = {"claude-haiku-4-5": 1.0}
    assert _run("--model-version", "bot-a") == 0
    capsys.readouterr()
    server.config.model_accuracy = {"claude-haiku-4-5": 0.45}
    summary = env["tmp"] / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    junit = env["tmp"] / "junit-fail.xml"
    assert _run("--model-version", "bot-b", "--baseline", "bot-a", "--junit", str(junit)) == 1
    out, err = capsys.readouterr()
    for noise in ("Traceback", "Stack Trace", "DagsterAssetCheckFailedError", "dagster._core"):
        assert noise not in out + err, (noise, out + err)
    threshold = re.search(r"mini/routing pass_rate 0\.\d{3} \[0\.\d{3}, 0\.\d{3}\] < 0\.8 \(n=40\)", out)
    effect = re.search(
        r"mini/routing exact_match -\d+\.\d pts \[-\d+\.\d, -\d+\.\d\], p=0\.\d{4} \(mcnemar_exact, n=40 pairs\)",
        out,
    )
    assert threshold and effect, out
    assert f"why: thresholds: {threshold.group(0)}; regression: {effect.group(0)}" in out
    failures = [f.get("message") for f in ET.parse(junit).getroot().iter("failure")]
    assert any(threshold.group(0) in m for m in failures) and any(effect.group(0) in m for m in failures)
    md = summary.read_text()
    assert threshold.group(0) in md and effect.group(0) in md and "## Eval: FAIL" in md
