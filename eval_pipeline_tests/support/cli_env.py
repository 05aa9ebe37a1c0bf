"""The environment an end-to-end ``eval-pipeline`` / ``dagster`` test runs the project in.

In: a temp folder, a project data folder (e.g. ``orchestration.small_data``), a test model server and its key.
Out: a scratch ``DAGSTER_HOME`` (telemetry off), the server's answer key taught from a golden set, and the
environment variables that point the CLI at all of them (set through ``monkeypatch``, or returned as a dict
for a subprocess), and those of a long-running Dagster process (``dagster dev``, the daemon) over the same.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest


def scratch_dagster_home(tmp_path: Path) -> Path:
    """``tmp_path/dagster_home`` with a ``dagster.yaml`` that only turns telemetry off."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    return home


def answer_golden(server: Any, data: Path, golden: str = "intents.jsonl") -> None:
    """Teach the test server a golden set: each record's ``input`` is answered with its ``expected`` label
    (at the model's accuracy)."""
    for line in (data / "golden" / golden).read_text().splitlines():
        rec = json.loads(line)
        server.config.answer_key[rec["input"]] = rec["expected"]


def cli_env(
    tmp_path: Path, data: Path, key: str, base_url: str | None = None, provider: str = "anthropic"
) -> dict[str, str]:
    """A scratch Dagster home, ``data`` as the project and ``tmp_path/wh`` as the warehouse; the Anthropic
    key (and the test server's URL when given) for ``provider``."""
    env = {
        "DAGSTER_HOME": str(scratch_dagster_home(tmp_path)),
        "EVAL_DATA_DIR": str(data),
        "EVAL_WAREHOUSE_URL": str(tmp_path / "wh"),
        "EVAL_PROVIDER": provider,
        "ANTHROPIC_API_KEY": key,
    }
    if base_url is not None:
        env["ANTHROPIC_BASE_URL"] = base_url
    return env


def served_env(
    tmp_path: Path, data: Path, home: Path, key: str, base_url: str, max_concurrency: int
) -> dict[str, str]:
    """The environment of a long-running Dagster process (``dagster dev``, the daemon, a code server) over ``data``
    and the test server at ``base_url``: its instance in ``home``; warehouse, response store, history database
    and alert log in ``tmp_path``; at most ``max_concurrency`` model requests at once."""
    return {
        "DAGSTER_HOME": str(home),
        "EVAL_DATA_DIR": str(data),
        "EVAL_WAREHOUSE_URL": str(tmp_path / "wh"),
        "EVAL_RESPONSE_STORE": str(tmp_path / "store"),
        "EVAL_PROVIDER": "anthropic",
        "ANTHROPIC_API_KEY": key,
        "ANTHROPIC_BASE_URL": base_url,
        "EVAL_MAX_CONCURRENCY": str(max_concurrency),
        "EVAL_HISTORY_DB": str(tmp_path / "history.duckdb"),
        "EVAL_ALERT_LOG": str(tmp_path / "alerts.jsonl"),
    }


def use_env(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    """Set ``env`` for the test; no GitHub step summary is written unless the test asks for one."""
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
