"""``eval-pipeline run --sequential`` end to end against the Anthropic test server: a clearly regressed candidate
and an equal one both stop before every sample is sent (counted at the server), the verdict and the samples used
are in the stored report, the release decision and the CLI output, and a rerun pays for nothing."""

from __future__ import annotations

import json

import pytest
import yaml

from eval_pipeline import cli
from eval_pipeline_tests.support.cli_env import cli_env, use_env
from eval_pipeline_tests.support.orchestration import small_data
from eval_pipeline_tests.support.servers.anthropic_server import AnthropicTestServer, ServerConfig
from eval_pipeline_tests.support.servers.fixtures import module_server

KEY = "sk-test-sequential-SECRET"
DATE = "2026-11-05"
N = 200
LABELS = ["card_arrival", "card_lost", "exchange_rate", "top_up_failed"]


server = module_server("server", AnthropicTestServer, api_key=KEY)


@pytest.fixture
def env(tmp_path, server, monkeypatch):
    """200 distinct routing messages (so each is its own paid request); bot-a is production, bot-b answers with a
    degraded model, bot-c with the same one as bot-a (every model answers from the key at accuracy 1.0 but the
    degraded one)."""
    data = small_data(tmp_path / "data", n_samples=4, model_names=("bot-a", "bot-b", "bot-c"))
    server.config = ServerConfig(api_key=KEY, model_accuracy={"claude-haiku-4-5": 1.0})
    with (data / "golden" / "intents.jsonl").open("w", encoding="utf-8") as f:
        for i in range(N):
            label = LABELS[i % len(LABELS)]
            text = f"ticket {i:04d}: please help with {label.replace('_', ' ')}"
            f.write(json.dumps({"id": f"s{i:04d}", "input": text, "expected": label,
                                "metadata": {"category": label}}) + "\n")  # fmt: skip
            server.config.answer_key[text] = label
    models = yaml.safe_load((data / "models.yaml").read_text())
    models["models"][1]["model"] = "claude-haiku-4-5-degraded"
    models["pricing"]["claude-haiku-4-5-degraded"] = {"input": 1.0, "output": 5.0}
    (data / "models.yaml").write_text(yaml.safe_dump(models, sort_keys=False))
    suite = yaml.safe_load((data / "suites" / "mini.yaml").read_text())
    suite["eval_sets"][0]["thresholds"] = [{"metric": "pass_rate", "min": 0.0, "blocking": True}]
    (data / "suites" / "mini.yaml").write_text(yaml.safe_dump(suite, sort_keys=False))
    use_env(monkeypatch, cli_env(tmp_path, data, KEY, server.base_url))
    return {"data": data, "wh": tmp_path / "wh"}


def _run(*argv) -> int:
    return cli.main(["run", "--date", DATE, "--families", "deterministic", "--no-report", *argv])


def _stored(env, name: str, folder: str) -> dict:
    """``name``'s one stored JSON artifact under ``folder`` (reports/regression: the regression report; releases:
    the release decision)."""
    found = [p for p in (env["wh"] / folder).rglob("*.json") if f"model_version={name}" in str(p)]
    assert len(found) == 1, found
    return json.loads(found[0].read_text())


def test_sequential_stops_early_for_a_regression_and_an_equal_candidate_and_reruns_free(env, server, capsys):
    assert _run("--model-version", "bot-a") == 0  # the baseline's full run: N requests
    assert server.stats()["total"] == N
    capsys.readouterr()

    server.reset_stats()
    assert _run("--model-version", "bot-b", "--sequential", "--chunk", "40") == 1  # blocked
    out = capsys.readouterr().out
    paid = server.stats()["by_model"].get("claude-haiku-4-5-degraded", 0)
    assert 0 < paid < N / 2, paid
    assert "sequential gate: blocked after" in out and f"of {N} samples" in out
    section = _stored(env, "bot-b", "reports/regression")["sequential"]
    assert section["verdict"] == "blocked" and section["used"] == paid and section["saved_units"] == N - paid
    assert section["saved_usd"] > 0 and any(r["status"] == "regression" for r in section["rows"])

    server.reset_stats()
    assert _run("--model-version", "bot-c", "--sequential", "--chunk", "40") == 0  # equal: passes early
    out = capsys.readouterr().out
    paid_equal = server.stats()["total"]
    assert 0 < paid_equal < N, paid_equal
    assert "sequential gate: passed after" in out
    section = _stored(env, "bot-c", "reports/regression")["sequential"]
    assert section["verdict"] == "passed" and section["used"] == paid_equal and section["state"] == "stopped"
    assert _stored(env, "bot-c", "releases")["approved"]  # the release decision is written: approved

    server.reset_stats()  # the same command again: every answer is in the response store
    assert _run("--model-version", "bot-c", "--sequential", "--chunk", "40") == 0
    assert server.stats()["total"] == 0
    assert f"sequential gate: passed after {paid_equal} of {N}" in capsys.readouterr().out
