"""Issue 24 "say why, with the right code": every command exits 0 / 1 / 2 (config or data) / 3 (infra),
and the summary line, JUnit and markdown carry the root cause (endpoint, path), not Dagster's wrapper."""

from __future__ import annotations

import json
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from eval_pipeline import cli
from eval_pipeline.storage.errors import WarehouseError
from eval_pipeline.storage.local import LocalBackend
from eval_pipeline_tests.e2e.test_cli_run import DATE, KEY, env, server  # noqa: F401  (fixtures)
from eval_pipeline_tests.support.orchestration import edit_yaml


def _run(*argv):
    return cli.main(["run", "--date", DATE, "--families", "deterministic", *argv])


def test_wrong_api_key_exits_2_naming_the_endpoint_and_sends_only_a_few(env, server, monkeypatch, capsys):  # noqa: F811
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-wrong-key-000000")
    summary = env["tmp"] / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    junit = env["tmp"] / "junit.xml"
    code = _run("--model-version", "bot-a", "--junit", str(junit))
    out = capsys.readouterr().out
    assert code == 2
    assert f"authentication failed at {server.base_url}: check ANTHROPIC_API_KEY" in out
    assert "DagsterExecutionStepExecutionError" not in out
    assert server.stats()["total"] <= 3 + 16  # the first few, not all 8 x retries
    xml = ET.parse(junit).getroot()
    assert "authentication failed at" in ET.tostring(xml, encoding="unicode")
    assert "authentication failed at" in summary.read_text()
    assert "sk-wrong-key-000000" not in out + summary.read_text()


def test_wrong_api_key_in_batch_mode_exits_2_and_sends_nothing_more(env, server, monkeypatch, capsys):  # noqa: F811
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-wrong-key-000000")
    code = _run("--model-version", "bot-a", "--batch")
    out = capsys.readouterr().out
    assert code == 2
    assert f"authentication failed at {server.base_url}: check ANTHROPIC_API_KEY" in out
    assert server.stats()["batch_calls"] == {"create": 1} and server.stats()["total"] == 0
    assert "sk-wrong-key-000000" not in out


def test_hanging_model_endpoint_exits_3_naming_it(env, server, monkeypatch, capsys):  # noqa: F811
    server.config.fault_probabilities = {"slow": 1.0}
    server.config.slow_s = 3600
    monkeypatch.setenv("EVAL_REQUEST_TIMEOUT_S", "1")
    monkeypatch.setenv("EVAL_STALL_TIMEOUT_S", "1")
    code = _run("--model-version", "bot-a")
    out = capsys.readouterr().out
    assert code == 3
    assert f"model endpoint {server.base_url} did not answer" in out


def test_unwritable_warehouse_exits_3_naming_the_path(env, monkeypatch, capsys):  # noqa: F811
    blocker = env["tmp"] / "not-a-folder"
    blocker.write_text("a file where the warehouse folder should be")
    monkeypatch.setenv("EVAL_WAREHOUSE_URL", str(blocker / "wh"))
    code = _run("--model-version", "bot-a")
    captured = capsys.readouterr()
    assert code == 3
    assert str(blocker) in captured.out + captured.err
    assert "Traceback" not in captured.err


def test_validate_exits_2_for_a_broken_golden_set_and_an_unrenderable_prompt(env, capsys):  # noqa: F811
    assert cli.main(["validate"]) == 0
    golden = env["data"] / "golden" / "intents.jsonl"
    good = golden.read_text()
    golden.write_text(good + "{not json\n")
    assert cli.main(["validate"]) == 2
    assert "intents.jsonl" in capsys.readouterr().err
    golden.write_text(good)
    prompts = list((env["data"] / "prompts").rglob("*.yaml")) + list((env["data"] / "prompts").rglob("*.j2"))
    assert prompts, "the small project has a prompt template"
    prompts[0].write_text(prompts[0].read_text().replace("{{ input }}", "{{ no_such_variable }}"))
    assert cli.main(["validate"]) == 2
    assert "no_such_variable" in capsys.readouterr().err


def test_validate_exits_2_for_a_config_error(env):  # noqa: F811
    edit_yaml(env["data"] / "suites" / "mini.yaml", lambda d: d.update(eval_sets="not a list"))
    assert cli.main(["validate"]) == 2


def _tmpfs(path: Path, size: str) -> bool:
    path.mkdir(parents=True, exist_ok=True)
    r = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True
    )
    return r.returncode == 0


def test_disk_full_on_the_warehouse_names_the_path_and_leaves_nothing_half_written(tmp_path):
    root = tmp_path / "small"
    if not _tmpfs(root, "256k"):
        pytest.skip("cannot mount a tmpfs here (needs root); the chaos benchmark reports the same")
    try:
        be = LocalBackend(root)
        be.put("runs/a.json", b"old")
        with pytest.raises(WarehouseError) as e:
            be.put("runs/a.json", b"x" * 1_000_000)
        msg = str(e.value)
        assert "No space left on device" in msg and str(root) in msg and "runs/a.json" in msg
        assert be.get("runs/a.json") == b"old"
        assert not [p for p in root.rglob(".*tmp-*")]
    finally:
        subprocess.run(["umount", str(root)], check=False)


def test_root_cause_of_a_failed_step_is_the_projects_error(env, monkeypatch):  # noqa: F811
    from eval_pipeline.defs.ci import run_partition
    from eval_pipeline.defs.partitions import local_instance, register_model_versions
    from eval_pipeline.project.loader import load_project

    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-wrong-key-000000")
    mv = load_project(env["data"]).registry.by_name("bot-a")
    instance = local_instance()
    register_model_versions(instance, [mv.key])
    run = run_partition(instance, DATE, mv.key, ["deterministic"])
    cause = run["causes"]["model_responses"]
    assert cause.cls_name == "EndpointRejected" and cause.kind == "config"
    assert json.dumps(run["failed"]).count("DagsterExecutionStepExecutionError") == 0


def test_the_api_key_echoed_by_the_model_is_in_no_file_and_no_event(env, server, capsys):  # noqa: F811
    from eval_pipeline.defs.partitions import local_instance

    server.responder = lambda body: f"my key is {KEY}"
    try:
        _run("--model-version", "bot-a")
    finally:
        server.responder = None
    for f in env["tmp"].rglob("*"):
        if f.is_file() and f.stat().st_size < 50_000_000:
            assert KEY.encode() not in f.read_bytes(), f
    instance = local_instance()
    for run in instance.get_runs():
        for rec in instance.all_logs(run.run_id):
            assert KEY not in (rec.user_message or "") and KEY not in str(rec.dagster_event or "")
    assert KEY not in capsys.readouterr().out


def test_a_hanging_s3_endpoint_fails_naming_it_and_the_wait(monkeypatch):
    import socket
    import threading
    import time

    from eval_pipeline.storage import Warehouse

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    held = []
    stop = threading.Event()

    def accept():  # accept connections and never answer
        sock.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(sock.accept()[0])
            except OSError:
                continue

    threading.Thread(target=accept, daemon=True).start()
    monkeypatch.setenv("EVAL_S3_READ_TIMEOUT_S", "0.5")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "y")
    endpoint = f"http://127.0.0.1:{sock.getsockname()[1]}"
    t0 = time.monotonic()
    try:
        with pytest.raises(WarehouseError) as e:
            Warehouse.from_url("s3://bucket/p", endpoint_url=endpoint).write_bytes("runs/x.json", b"{}")
    finally:
        stop.set()
        for c in held:
            c.close()
        sock.close()
    assert time.monotonic() - t0 < 15
    assert endpoint in str(e.value) and "did not answer within 0 s" not in str(e.value)
    assert "did not answer within" in str(e.value)
