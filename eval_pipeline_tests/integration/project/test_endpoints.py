"""models.yaml for providers: endpoints validated with the file and key named, endpoint identity in
the partition key, judges routed to another vendor, model families of real vendor ids."""

from __future__ import annotations

import pytest
import yaml

from eval_pipeline.inference.runner import run_requests
from eval_pipeline.inference.types import ModelRequest
from eval_pipeline.project.errors import ConfigError
from eval_pipeline.project.loader import load_project
from eval_pipeline.project.registry import model_family
from eval_pipeline_tests.support.orchestration import edit_yaml, small_data
from eval_pipeline_tests.support.servers.anthropic_server import ServerConfig
from eval_pipeline_tests.support.servers.openai_server import OpenAITestServer

KEY = "sk-config-SECRET"


def _project(tmp_path, fn):
    data = small_data(tmp_path / "data", n_samples=2, model_names=("bot-a", "bot-b"))
    edit_yaml(data / "models.yaml", fn)
    return load_project(data)


def _openai_b(d, **endpoint):
    d["models"][1].update(provider="openai", model="gpt-4o-mini", endpoint=endpoint or None)
    d["pricing"]["gpt-4o-mini"] = {"input": 0.15, "output": 0.6}


@pytest.mark.parametrize(
    ("edit", "where", "says"),
    [
        (lambda d: _openai_b(d, base_url="http://x", api_key="inline"), "models[1].endpoint", "api_key"),
        (
            lambda d: d["models"][1].update(endpoint="nowhere"),
            "models[1].endpoint",
            "unknown endpoint 'nowhere'",
        ),
        (lambda d: d["models"][1].update(provider="http"), "models[1].endpoint", "needs an endpoint"),
        (
            lambda d: (_openai_b(d), d["models"][1].update(batch=True)),
            "models[1].batch",
            "batch: true needs provider anthropic",
        ),
        (
            lambda d: (_openai_b(d), d["pricing"].pop("gpt-4o-mini")),
            "models[1].model",
            "no price for 'gpt-4o-mini'",
        ),
        (lambda d: d.update(endpoints={"j": {"provider": "openai", "bogus": 1}}), "endpoints.j", "bogus"),
        (
            lambda d: d.update(judge_endpoints={"gpt-4o": "missing"}),
            "judge_endpoints.gpt-4o",
            "unknown endpoint",
        ),
        (
            lambda d: d["models"][1].update(
                provider="http", endpoint={"url": "http://x", "response": {"answer": "a"}}
            ),
            "models[1].endpoint",
            "unknown response field",
        ),
    ],
)
def test_bad_endpoints_name_the_file_and_key(tmp_path, edit, where, says):
    with pytest.raises(ConfigError) as e:
        _project(tmp_path, edit)
    assert where in str(e.value) and says in str(e.value) and "models.yaml" in str(e.value)


def test_endpoint_identity_is_in_the_partition_key_but_not_flow_control(tmp_path):
    def two_endpoints(d):
        _openai_b(d, base_url="http://127.0.0.1:1/v1")
        d["models"].append(
            {**d["models"][1], "name": "bot-c", "endpoint": {"base_url": "http://127.0.0.1:2/v1"}}
        )
        d["models"].append(
            {
                **d["models"][1],
                "name": "bot-d",
                "endpoint": {"base_url": "http://127.0.0.1:1/v1", "max_concurrency": 99},
            }
        )

    reg = _project(tmp_path, two_endpoints).registry
    keys = {m.name: m.key.rsplit("-", 1)[1] for m in reg.models}
    assert keys["bot-b"] != keys["bot-c"]  # another server: other answers, another partition
    assert keys["bot-b"] == keys["bot-d"]  # concurrency does not change answers
    # a version without an endpoint keeps the key it had before endpoints existed
    plain = _project(tmp_path / "p", lambda d: None).registry.by_name("bot-a")
    assert plain.endpoint_settings is not None and plain.key == reg.by_name("bot-a").key


def test_judge_routed_to_an_openai_endpoint(tmp_path, monkeypatch):
    from eval_pipeline.defs.resources import LLMResource

    srv = OpenAITestServer(ServerConfig(api_key=KEY)).start()
    try:
        monkeypatch.setenv("JUDGE_KEY", KEY)

        def judges(d):
            d["endpoints"] = {
                "oai": {"provider": "openai", "base_url": srv.openai_base_url, "api_key_env": "JUDGE_KEY"}
            }
            d["judge_endpoints"] = {"gpt-4o": "oai"}
            d["pricing"]["gpt-4o"] = {"input": 2.5, "output": 10.0}

        reg = _project(tmp_path, judges).registry
        llm = LLMResource(provider="auto", api_key=KEY, base_url=srv.base_url)
        provider = llm.judge_provider(reg)
        verdict = {
            "name": "verdict",
            "description": "v",
            "input_schema": {
                "type": "object",
                "properties": {"score": {"type": "integer", "minimum": 1, "maximum": 5}},
                "required": ["score"],
            },
        }
        reqs = [
            ModelRequest(
                f"s-{m}",
                m,
                [{"role": "user", "content": "grade this"}],
                tools=[verdict],
                tool_choice={"type": "tool", "name": "verdict"},
                params={"max_tokens": 50},
            )
            for m in ("gpt-4o", "claude-sonnet-4-5")
        ]
        out = run_requests(provider, reqs)
        assert all(1 <= r.tool_input["score"] <= 5 for r in out)
        assert out[0].cost_usd == pytest.approx((out[0].input_tokens * 2.5 + out[0].output_tokens * 10) / 1e6)
        assert (
            provider.key_name(reqs[0]) == f"openai:{srv.openai_base_url}"
            and provider.key_name(reqs[1]) == "anthropic"
        )
        assert srv.stats()["by_model"] == {"gpt-4o": 1, "claude-sonnet-4-5": 1}
        assert KEY in provider.secrets() and srv.openai_base_url in provider.endpoint
    finally:
        srv.stop()


@pytest.mark.parametrize(
    ("model_id", "family"),
    [
        ("us.anthropic.claude-3-5-haiku-20241022-v1:0", "anthropic-claude"),
        ("us.meta.llama3-1-8b-instruct-v1:0", "meta-llama"),
        ("eu.amazon.nova-pro-v1:0", "amazon-nova"),
        ("mistral.mistral-large-2407-v1:0", "mistral"),
        ("meta-llama/Llama-3.1-8B-Instruct", "meta-llama"),
        ("openai/gpt-oss-20b", "openai-gpt"),
        ("Qwen/Qwen2.5-7B-Instruct", "alibaba-qwen"),
        ("gpt-4o-mini", "openai-gpt"),
        ("support-app", "unknown"),
    ],
)
def test_model_families_of_real_vendor_ids(model_id, family):
    assert model_family(model_id) == family


def test_same_family_judge_across_vendors_is_caught(tmp_path):
    """A Claude candidate on Bedrock judged by Claude on Anthropic: the same family, whatever the vendor."""

    def bedrock_claude(d):
        d["models"][1].update(
            provider="bedrock",
            model="us.anthropic.claude-3-5-haiku-20241022-v1:0",
            endpoint={"region": "us-east-1"},
        )
        d["pricing"]["us.anthropic.claude-3-5-haiku-20241022-v1:0"] = {"input": 0.8, "output": 4.0}

    data = small_data(tmp_path / "data", n_samples=2, model_names=("bot-a", "bot-b"))
    edit_yaml(data / "models.yaml", bedrock_claude)
    suite = yaml.safe_load((data / "suites" / "mini.yaml").read_text())
    suite["eval_sets"].append(
        {
            **suite["eval_sets"][0],
            "name": "judged",
            "family": "judge",
            "checks": None,
            "judge": {"model": "claude-sonnet-4-5", "dimensions": [{"name": "quality"}]},
        }
    )
    suite["eval_sets"][1].pop("checks")
    (data / "suites" / "mini.yaml").write_text(yaml.safe_dump(suite))
    reg = load_project(data).registry
    assert any("bot-b" in w and "anthropic-claude" in w for w in reg.warnings)
