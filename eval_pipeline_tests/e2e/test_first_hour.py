"""The first hour of a new user: the README's "Try your own suite" run literally (no key, no network),
``eval-pipeline init`` -> ``validate`` -> ``run``, the synthetic model server, and the papercuts
(``--date`` errors exit 2, the same-family judge warning only where a judge runs)."""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
from pathlib import Path

import anthropic
import pytest

from eval_pipeline import cli
from eval_pipeline.commands.dates import check_date
from eval_pipeline.mock_server.answers import AnswerKey, SyntheticModel

REPO = Path(__file__).resolve().parents[2]
PORT = 8765  # the README's port


def _readme_block() -> list[str]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("## Try your own suite", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    return [line for line in block.splitlines() if line.strip()]


def _own_loopback() -> str | None:
    """The ``ip`` command when this machine lets an unprivileged user run a command in a network namespace of its
    own (``unshare --user --map-root-user --net``: a loopback where the README's port is always free, and no
    other network at all), else None."""
    ip = shutil.which("ip") or next((p for p in ("/usr/sbin/ip", "/sbin/ip") if Path(p).exists()), None)
    if ip is None or shutil.which("unshare") is None:
        return None
    probe = subprocess.run(
        ["unshare", "--user", "--map-root-user", "--net", ip, "link", "set", "lo", "up"], capture_output=True
    )
    return ip if probe.returncode == 0 else None


def _offline_env(home: Path) -> dict[str, str]:
    """No key, no network: only loopback answers (any other HTTP goes to a closed port), offline models."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("EVAL_", "ANTHROPIC_", "DAGSTER_", "AWS_")) and k != "GITHUB_STEP_SUMMARY"
    }
    env.update(
        HOME=str(home),
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        PYTHONPATH=str(REPO),
        HTTP_PROXY="http://127.0.0.1:9",
        HTTPS_PROXY="http://127.0.0.1:9",
        NO_PROXY="127.0.0.1,localhost",
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
    )
    return env


def test_readme_try_your_own_suite_literally_without_a_key(tmp_path):
    """Every command of the README block in order, in a temporary folder: validate passes, the production
    version PASSes (exit 0), the candidate FAILs (exit 1), everything says the answers are synthetic. Where the
    machine allows it, the block runs in a network namespace of its own, so the README's port is free even when
    something on this machine listens on it."""
    isolated = _own_loopback()
    if not isolated:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", PORT)) == 0:
                pytest.fail(f"port {PORT} (the README's) is taken and no network namespace can be made here")
    lines = _readme_block()
    assert len(lines) <= 10, "the README section promises at most ten commands"
    script = ["trap 'kill %1 2>/dev/null' EXIT"]  # the harness's cleanup if a line fails
    for i, line in enumerate(lines):
        cmd = line.split("  #")[0].rstrip()
        script.append(cmd if cmd.endswith("&") else f'{cmd}; echo "__exit__ {i} $?"')
    # after the README's kill, from the same loopback: is anything still listening on the README's port once the
    # signal has had up to 5 s to act (the kill returns at once; the server then closes its socket and exits)?
    listening = f"(echo > /dev/tcp/127.0.0.1/{PORT}) 2>/dev/null"
    script.append(f"for _ in $(seq 50); do {listening} || break; sleep 0.1; done")
    script.append(f"{listening} && echo __still_listening__")
    if isolated:  # the README's 8765 on a loopback of its own: free whatever listens on this machine's
        script.insert(0, f"{isolated} link set lo up")
    proc = subprocess.run(
        [
            *(["unshare", "--user", "--map-root-user", "--net"] if isolated else []),
            "bash",
            "-c",
            "\n".join(script),
        ],
        cwd=tmp_path,
        env=_offline_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=540,
    )
    out = proc.stdout
    exits = {int(i): int(c) for i, c in re.findall(r"__exit__ (\d+) (\d+)", out)}
    where = f"\nstdout:\n{out[-6000:]}\nstderr:\n{proc.stderr[-4000:]}"
    runs = [i for i, line in enumerate(lines) if " run " in f" {line} "]
    assert len(runs) == 2, lines
    assert exits.get(0) == 0 and exits.get(1) == 0, where  # init, validate
    assert exits.get(runs[0]) == 0 and exits.get(runs[1]) == 1, where
    assert "overall: PASS (exit 0)" in out and "overall: FAIL (exit 1)" in out, where
    assert "blocking failures: my_suite/routing:pass_rate" in out, where
    assert out.count("NOT LIVE - synthetic answers: 34/34") == 2, where
    assert "SYNTHETIC model server on http://127.0.0.1:8765" in out, where
    folder = tmp_path / "my-evals"
    report = folder / "warehouse" / "reports" / "history" / "latest.html"
    assert report.exists() and f"history report: {report}" in out, where
    artifacts = list((folder / "warehouse" / "runs").rglob("run.json"))
    assert len(artifacts) == 2
    for art in artifacts:
        data = json.loads(art.read_text())
        assert data["live_answers_only"] is False and data["answers"].startswith("NOT LIVE - synthetic")
    assert all(c in (0, 1) for c in exits.values()), where  # view and kill too
    assert "__still_listening__" not in out, "the README's kill left the server running" + where


def test_validate_in_a_suite_folder_names_its_segments_and_uses_the_folder(tmp_path, capsys, monkeypatch):
    for name in ("EVAL_DATA_DIR", "EVAL_WAREHOUSE_URL", "DAGSTER_HOME"):
        # empty = unset for the folder defaults; setenv records the original, so the values they set here
        # are undone after the test (delenv of an absent variable would record nothing and leak them)
        monkeypatch.setenv(name, "")
    assert cli.main(["init", str(tmp_path / "s")]) == 0
    monkeypatch.chdir(tmp_path / "s")
    assert cli.main(["validate"]) == 0
    out = capsys.readouterr().out
    assert (
        "eval set my_suite/routing: segments from metadata.category (rows in the file): booking 8, info 8, service 8"
        in out
    )
    assert os.environ["EVAL_DATA_DIR"] == str(tmp_path / "s" / "data")
    assert (tmp_path / "s" / ".dagster_home" / "dagster.yaml").exists()


def test_init_refuses_a_folder_that_has_data(tmp_path, capsys):
    assert cli.main(["init", str(tmp_path / "a")]) == 0
    files = sorted(p.relative_to(tmp_path / "a").as_posix() for p in (tmp_path / "a" / "data").rglob("*.*"))
    assert "data/models.yaml" in files and "data/suites/my_suite.yaml" in files
    row = json.loads(
        (tmp_path / "a" / "data" / "golden" / "restaurant_intents.jsonl").read_text().splitlines()[0]
    )
    assert set(row) == {"id", "input", "expected", "metadata"} and "category" in row["metadata"]
    before = (tmp_path / "a" / "data" / "models.yaml").read_text()
    assert cli.main(["init", str(tmp_path / "a")]) == 2
    assert "already exists" in capsys.readouterr().err
    assert (tmp_path / "a" / "data" / "models.yaml").read_text() == before  # nothing overwritten


@pytest.mark.parametrize(
    "date, words",
    [
        ("2031-01-01", "outside the dates that can be evaluated"),
        ("2026-13-01", "is not a date"),
        ("yesterday", "YYYY-MM-DD"),
    ],
)
def test_bad_run_date_is_a_clear_error_with_exit_2(date, words, capsys, monkeypatch):
    monkeypatch.delenv("EVAL_DATA_DIR", raising=False)
    assert cli.main(["run", "--date", date, "--families", "deterministic"]) == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err
    assert cli.main(["demo", "--date", date]) == 2


def test_check_date_range():
    import datetime as dt

    today = dt.date(2026, 12, 5)
    assert check_date("2026-12-05", today=today) == "2026-12-05"
    assert check_date("2026-10-01", today=today) == "2026-10-01"
    with pytest.raises(ValueError, match="set EVAL_START_DATE earlier"):
        check_date("2026-09-30", today=today)
    with pytest.raises(ValueError, match=r"2026-10-01 \.\. 2026-12-05"):
        check_date("2026-12-06", today=today)


def test_same_family_judge_warning_is_not_logged_at_load_only_kept_per_version(caplog):
    from eval_pipeline.project.loader import load_project

    with caplog.at_level(logging.WARNING):
        project = load_project(REPO / "data")
    assert not [r for r in caplog.records if "same model family" in r.getMessage()]
    per_version = {m.name: project.registry.warnings_for(m.name) for m in project.registry.models}
    assert sum(len(w) for w in per_version.values()) == len(project.registry.warnings) > 0
    assert all(m.name in w for m in project.registry.models for w in per_version[m.name])


def test_synthetic_model_accuracy_and_wrong_answers():
    key = AnswerKey.from_mapping({f"question number {i:03d}": f"label_{i % 5}" for i in range(400)})
    model = SyntheticModel(key, {"*": 0.9, "weak-model": 0.5})

    def share_right(m: str) -> float:
        right = 0
        for needle, answer in key.pairs:
            body = {"model": m, "messages": [{"role": "user", "content": f"Classify: {needle}"}]}
            right += model(body).text == answer
        return right / len(key)

    assert 0.85 <= share_right("good-model") <= 0.95
    assert 0.42 <= share_right("weak-model") <= 0.58
    wrong = model({"model": "x", "messages": [{"role": "user", "content": "question number 007"}]})
    assert wrong.text in key.answers  # right or another row's answer, never free text
    with pytest.raises(ValueError, match="between 0 and 1"):
        SyntheticModel(key, {"*": 90})


def test_synthetic_server_through_the_sdk_labels_and_refuses_unlabelled_requests(tmp_path):
    import asyncio

    from eval_pipeline.inference.synthetic_provider import SyntheticProvider
    from eval_pipeline.mock_server.app import SyntheticServer

    golden = tmp_path / "g.jsonl"
    golden.write_text(
        "\n".join(
            json.dumps({"id": i, "input": f"message {i}", "expected": {"intent": f"i{i}"}}) for i in range(3)
        )
        + "\n"
    )
    server = SyntheticServer(SyntheticModel(AnswerKey.from_files([golden]), {"*": 1.0}), latency_s=0.01)
    loop = asyncio.new_event_loop()
    ready = threading.Event()

    def serve():
        loop.run_until_complete(server.start())
        ready.set()
        loop.run_forever()

    threading.Thread(target=serve, daemon=True).start()
    assert ready.wait(10)
    try:
        plain = anthropic.Anthropic(api_key="anything", base_url=server.base_url, max_retries=0)
        with pytest.raises(anthropic.BadRequestError, match="EVAL_PROVIDER=synthetic"):
            plain.messages.create(
                model="m", max_tokens=50, messages=[{"role": "user", "content": "message 1"}]
            )
        labelled = anthropic.Anthropic(
            api_key="anything",
            base_url=server.base_url,
            max_retries=0,
            default_headers=SyntheticProvider.default_headers,
        )
        msg = labelled.messages.create(
            model="m", max_tokens=50, messages=[{"role": "user", "content": "Route: message 2"}]
        )
        assert json.loads(msg.content[0].text) == {"intent": "i2"}
        with labelled.messages.stream(
            model="m", max_tokens=50, messages=[{"role": "user", "content": "Route: message 1"}]
        ) as stream:
            assert json.loads(stream.get_final_text()) == {"intent": "i1"}
        with pytest.raises(ValueError, match="loopback"):
            SyntheticProvider("https://api.anthropic.com")
        # the OpenAI-compatible route, through the openai SDK and the synthetic openai provider
        import openai

        from eval_pipeline.inference.synthetic_provider import synthetic_openai_provider
        from eval_pipeline.inference.types import ModelRequest

        oa = openai.OpenAI(api_key="x", base_url=server.base_url + "/v1", max_retries=0)
        with pytest.raises(openai.BadRequestError):
            oa.chat.completions.create(model="m", messages=[{"role": "user", "content": "message 0"}])
        for stream in (False, True):
            provider = synthetic_openai_provider(server.base_url, stream=stream)
            assert provider.name == "synthetic-openai" and provider.provenance == "synthetic"
            req = ModelRequest(
                sample_id="0",
                model="m",
                messages=[{"role": "user", "content": "Route: message 0"}],
                system="s",
            )

            async def ask(provider=provider, req=req):
                try:
                    return await provider.acomplete(req, "k")
                finally:
                    await provider.aclose()

            resp = asyncio.run(ask())
            assert resp.error_category is None and json.loads(resp.text) == {"intent": "i0"}, resp
            assert resp.output_tokens > 0
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(), loop).result(5)
        loop.call_soon_threadsafe(loop.stop)


class _FakeTerminal:
    """A text stream that says it is a terminal, so rich draws its live progress into it."""

    def __init__(self):
        import io

        self.buf = io.StringIO()
        self.encoding = "utf-8"

    def write(self, s):
        return self.buf.write(s)

    def flush(self):
        pass

    def isatty(self):
        return True

    def fileno(self):
        raise OSError("not a real terminal")


def test_progress_bars_draw_steps_and_requests_on_a_terminal(monkeypatch):
    import time
    from types import SimpleNamespace

    import dagster as dg

    from eval_pipeline.defs.progress import with_progress
    from eval_pipeline.inference.progress import emit_progress

    @dg.asset
    def slow_step():
        for done in (5, 10):
            emit_progress(
                "slow_step",
                SimpleNamespace(done=done, total=10, cache_hits=2, in_flight=0, retried=1, errors=0),
            )
            time.sleep(0.8)

    term = _FakeTerminal()
    monkeypatch.setattr(sys, "__stderr__", term)
    instance = dg.DagsterInstance.ephemeral()
    result = with_progress(instance, "eval", 1, lambda: dg.materialize([slow_step], instance=instance))
    assert result.success
    out = term.buf.getvalue()
    assert "eval" in out and "steps" in out and "slow_step" in out, out[-2000:]
    assert "requests" in out and "2 from store" in out and "1 retried" in out, out[-2000:]
    # not a terminal: nothing drawn, the function still runs
    monkeypatch.setattr(sys, "__stderr__", None)
    assert with_progress(instance, "eval", 1, lambda: 42) == 42
