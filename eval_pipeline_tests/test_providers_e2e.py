"""The same suite end to end against each provider's loopback target, through ``eval-pipeline run``
(the nightly job's Dagster assets), and a candidate on one vendor compared with a baseline on another
through the regression gate."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from eval_pipeline import cli
from eval_pipeline_tests.orchestration_support import edit_yaml, small_data
from eval_pipeline_tests.servers.anthropic_server import ServerConfig
from eval_pipeline_tests.servers.openai_server import OpenAITestServer

KEY = "sk-e2e-providers-SECRET"
DATE = "2026-11-05"
N = 8


@pytest.fixture(scope="module")
def server():
    srv = OpenAITestServer(ServerConfig(api_key=KEY)).start()  # speaks Anthropic and OpenAI
    yield srv
    srv.stop()


def _target(provider: str, srv) -> dict:
    """The model-version fields that point the candidate at ``provider``'s loopback target."""
    if provider == "openai":
        return {
            "provider": "openai",
            "model": "gpt-4o-mini",
            "endpoint": {"base_url": srv.openai_base_url, "api_key_env": "E2E_OPENAI_KEY"},
        }
    raise AssertionError(provider)


@pytest.fixture
def env(tmp_path, server, monkeypatch):
    data = small_data(tmp_path / "data", n_samples=N, model_names=("bot-a", "bot-b"))
    server.config = ServerConfig(api_key=KEY)
    for line in (data / "golden" / "intents.jsonl").read_text().splitlines():
        rec = json.loads(line)
        server.config.answer_key[rec["input"]] = rec["expected"]
    server.reset_stats()
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    for k, v in {
        "DAGSTER_HOME": str(home),
        "EVAL_DATA_DIR": str(data),
        "EVAL_WAREHOUSE_URL": str(tmp_path / "wh"),
        "EVAL_PROVIDER": "auto",
        "ANTHROPIC_API_KEY": KEY,
        "ANTHROPIC_BASE_URL": server.base_url,
        "E2E_OPENAI_KEY": KEY,
    }.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    return {"data": data, "wh": tmp_path / "wh"}


def _responses(wh, name_prefix: str) -> pd.DataFrame:
    files = [
        p for p in wh.rglob("*.parquet") if "responses" in str(p) and f"model_version={name_prefix}" in str(p)
    ]
    return pd.concat([pd.read_parquet(p) for p in files])


@pytest.mark.parametrize("provider", ["openai"])
def test_candidate_on_another_vendor_against_the_anthropic_baseline(env, server, provider, capsys):
    def point(d):
        d["models"][1].update(_target(provider, server))
        d["pricing"].setdefault(d["models"][1]["model"], {"input": 0.15, "output": 0.6})

    edit_yaml(env["data"] / "models.yaml", point)
    assert cli.main(["run", "--date", DATE, "--families", "deterministic", "--model-version", "bot-a"]) == 0
    capsys.readouterr()
    code = cli.main(
        [
            "run",
            "--date",
            DATE,
            "--families",
            "deterministic",
            "--model-version",
            "bot-b",
            "--baseline",
            "bot-a",
        ]
    )
    out = capsys.readouterr().out
    assert code in (0, 1) and "regression vs bot-a" in out, out
    assert KEY not in out
    stats = server.stats()["by_model"]
    candidate = _target(provider, server)["model"]
    assert stats.get("claude-haiku-4-5") == N and stats.get(candidate) == N
    rows = _responses(env["wh"], "bot-b")
    assert len(rows) == N and set(rows["provenance"]) == {"live"} and rows["error_category"].isna().all()
    assert (rows["cost_usd"] > 0).all() and (rows["model"] == candidate).all()
    # a rerun pays nothing: every answer comes from the store
    server.reset_stats()
    assert cli.main(["run", "--date", DATE, "--families", "deterministic", "--model-version", "bot-b"]) in (
        0,
        1,
    )
    assert server.stats()["total"] == 0
