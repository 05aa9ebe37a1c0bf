"""The same suite end to end against each provider's loopback target, through ``eval-pipeline run``
(the nightly job's Dagster assets), and a candidate on one vendor compared with a baseline on another
through the regression gate."""

from __future__ import annotations

import pandas as pd
import pytest

from eval_pipeline import cli
from eval_pipeline_tests.support.cli_env import answer_golden, cli_env, use_env
from eval_pipeline_tests.support.orchestration import edit_yaml, small_data
from eval_pipeline_tests.support.servers.anthropic_server import ServerConfig
from eval_pipeline_tests.support.servers.fixtures import module_server
from eval_pipeline_tests.support.servers.http_app import ENDPOINT
from eval_pipeline_tests.support.servers.vendors import VendorsServer

KEY = "sk-e2e-providers-SECRET"
DATE = "2026-11-05"
N = 8


PROVIDERS = ("openai", "bedrock", "http", "python")


server = module_server("server", VendorsServer, api_key=KEY)


def _target(provider: str, srv) -> dict:
    """The model-version fields that point a candidate at ``provider``'s loopback target."""
    if provider == "openai":
        ep = {"base_url": srv.openai_base_url, "api_key_env": "E2E_OPENAI_KEY"}
        return {"provider": "openai", "model": "gpt-4o-mini", "endpoint": ep}
    if provider == "bedrock":
        ep = {"endpoint_url": srv.base_url, "region": "us-east-1"}
        return {"provider": "bedrock", "model": "us.meta.llama3-1-8b-instruct-v1:0", "endpoint": ep}
    if provider == "http":
        return {"provider": "http", "model": "support-app", "endpoint": {"url": srv.chat_url, **ENDPOINT}}
    if provider == "python":
        ep = {"function": "eval_pipeline_tests.support.targets:support_router"}
        return {"provider": "python", "model": "support-router", "endpoint": ep}
    raise AssertionError(provider)


@pytest.fixture
def env(tmp_path, server, monkeypatch):
    data = small_data(tmp_path / "data", n_samples=N, model_names=("bot-a", *(f"bot-{p}" for p in PROVIDERS)))

    def point(d):
        for m in d["models"][1:]:
            m.update(_target(m["name"].removeprefix("bot-"), server))
            m["production"] = False
            if m["provider"] in ("openai", "bedrock"):
                d["pricing"][m["model"]] = {"input": 0.15, "output": 0.6}

    edit_yaml(data / "models.yaml", point)
    server.config = ServerConfig(api_key=KEY)
    answer_golden(server, data)
    server.reset_stats()
    env = cli_env(tmp_path, data, KEY, server.base_url, provider="auto")
    use_env(
        monkeypatch,
        {
            **env,
            "E2E_OPENAI_KEY": KEY,
            "AWS_ACCESS_KEY_ID": KEY,
            "AWS_SECRET_ACCESS_KEY": "e2e-aws-secret",
            "AWS_REGION": "us-east-1",
            "SUPPORT_APP_TOKEN": KEY,
        },
    )
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    return {"data": data, "wh": tmp_path / "wh"}


def _responses(wh, name: str) -> pd.DataFrame:
    files = [p for p in wh.rglob("*.parquet") if "responses" in str(p) and f"model_version={name}-" in str(p)]
    return pd.concat([pd.read_parquet(p) for p in files])


def _run(*argv: str) -> int:
    return cli.main(["run", "--date", DATE, "--families", "deterministic", *argv])


def test_each_vendor_as_candidate_against_the_anthropic_baseline(env, server, capsys):
    assert _run("--model-version", "bot-a") == 0
    capsys.readouterr()
    for provider in PROVIDERS:
        code = _run("--model-version", f"bot-{provider}", "--baseline", "bot-a")
        out = capsys.readouterr().out
        assert code in (0, 1) and "regression vs bot-a" in out, (provider, out)
        assert KEY not in out
        target = _target(provider, server)
        rows = _responses(env["wh"], f"bot-{provider}")
        assert len(rows) == N and set(rows["provenance"]) == {"live"}, provider
        assert rows["error_category"].isna().all() and (rows["model"] == target["model"]).all(), provider
        if provider in ("openai", "bedrock"):  # priced per model in models.yaml
            assert (rows["cost_usd"] > 0).all()
    by_model = server.stats()["by_model"]
    assert by_model["claude-haiku-4-5"] == N
    assert all(by_model[_target(p, server)["model"]] == N for p in ("openai", "bedrock", "http"))
    # the python router answers every routing question right
    assert (_responses(env["wh"], "bot-python")["text"].notna()).all()
    # a rerun pays nothing: every answer comes from the store
    server.reset_stats()
    assert _run("--model-version", "bot-bedrock") in (0, 1)
    assert server.stats()["total"] == 0


def test_judge_on_another_vendor_through_the_judge_asset(env, server, capsys):
    """A Claude candidate graded by a GPT judge on the OpenAI-compatible endpoint (judge_endpoints)."""
    import yaml

    suite_file = env["data"] / "suites" / "mini.yaml"
    suite = yaml.safe_load(suite_file.read_text())
    judged = {k: v for k, v in suite["eval_sets"][0].items() if k not in ("checks", "thresholds")}
    judged.update(
        name="judged",
        family="judge",
        judge={"model": "gpt-4o", "repeats": 1, "dimensions": [{"name": "quality"}]},
    )
    suite["eval_sets"].append(judged)
    suite_file.write_text(yaml.safe_dump(suite, sort_keys=False))

    def judge_on_openai(d):
        d["endpoints"] = {
            "oai": {"provider": "openai", "base_url": server.openai_base_url, "api_key_env": "E2E_OPENAI_KEY"}
        }
        d["judge_endpoints"] = {"gpt-4o": "oai"}
        d["pricing"]["gpt-4o"] = {"input": 2.5, "output": 10.0}

    edit_yaml(env["data"] / "models.yaml", judge_on_openai)
    code = cli.main(["run", "--date", DATE, "--families", "deterministic,judge", "--model-version", "bot-a"])
    out = capsys.readouterr().out
    assert code == 0 and KEY not in out, out
    by_model = server.stats()["by_model"]
    # the two eval sets send the same prompts: one call each (the store key coalesces them)
    assert by_model.get("gpt-4o") == N and by_model.get("claude-haiku-4-5") == N, by_model
    files = [p for p in env["wh"].rglob("*.parquet") if "judge" in str(p) and "scores" in str(p)]
    scores = pd.concat([pd.read_parquet(p) for p in files])
    judged = scores[scores["eval_set"] == "judged"]
    assert len(judged) >= N and set(judged["judge_model"]) == {"gpt-4o"}
