"""Self-preference: model ids map to model families; a judge of the candidate's family warns, or errors
with ``forbid_same_family_judge: true``; the run artifact records judge and candidate families."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml

from eval_pipeline.project.errors import ConfigError
from eval_pipeline.project.loader import load_project
from eval_pipeline.project.registry import model_family

JUDGE_SET = {
    "name": "quality",
    "family": "judge",
    "task": "answer",
    "source": "golden/g.jsonl",
    "judge": {"model": "claude-sonnet-4-5", "dimensions": [{"name": "helpful", "threshold": 3}]},
}


def _project(
    tmp_path: Path,
    judge: dict,
    candidate: str = "claude-haiku-4-5",
    forbid: bool | None = None,
    families: dict | None = None,
) -> Path:
    d = tmp_path / "data"
    for sub in ("suites", "golden", "prompts"):
        (d / sub).mkdir(parents=True, exist_ok=True)
    (d / "golden" / "g.jsonl").write_text('{"id": "1", "input": "hi", "expected": "hello"}\n')
    (d / "prompts" / "p.yaml").write_text("user: '{{ input }}'\n")
    suite = {"name": "mini", "eval_sets": [{**JUDGE_SET, "judge": {**JUDGE_SET["judge"], **judge}}]}
    if forbid is not None:
        suite["forbid_same_family_judge"] = forbid
    (d / "suites" / "mini.yaml").write_text(yaml.safe_dump(suite))
    models = {
        "models": [
            {
                "name": "bot-v1",
                "model": candidate,
                "prompts": {"answer": "prompts/p.yaml"},
                "suites": ["mini"],
            }
        ],
        "pricing": {candidate: {"input": 1.0, "output": 5.0}},
    }
    if families:
        models["model_families"] = families
    (d / "models.yaml").write_text(yaml.safe_dump(models))
    return d


@pytest.mark.parametrize(
    "model,family",
    [
        ("claude-sonnet-4-5", "anthropic-claude"),
        ("us.anthropic.claude-3-haiku", "anthropic-claude"),
        ("gpt-4o-mini", "openai-gpt"),
        ("gemini-2.0-flash", "google-gemini"),
        ("Llama-3.1-70B", "meta-llama"),
        ("meta-llama/Llama-3-8b", "meta-llama"),
        ("mistral-large", "mistral"),
        ("mixtral-8x7b", "mistral"),
        ("my-model", "unknown"),
    ],
)
def test_model_family_prefixes(model, family):
    assert model_family(model) == family


def test_same_family_judge_warns_by_default(tmp_path):
    p = load_project(_project(tmp_path, {}))
    assert len(p.registry.warnings) == 1
    w = p.registry.warnings[0]
    assert "quality" in w and "anthropic-claude" in w and "bot-v1" in w


def test_other_family_judge_no_warning_and_registry_families_configurable(tmp_path):
    p = load_project(_project(tmp_path, {}, candidate="gpt-4o-mini"))
    assert p.registry.warnings == []
    # the registry can map an in-house id to a family: then it is the judge's family -> warning
    p2 = load_project(
        _project(tmp_path / "b", {}, candidate="acme-chat-1", families={"acme-chat": "anthropic-claude"})
    )
    assert p2.registry.family_of("acme-chat-1") == "anthropic-claude" and len(p2.registry.warnings) == 1


def test_forbid_same_family_judge_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError) as ei:
        load_project(_project(tmp_path, {}, forbid=True))
    msg = str(ei.value)
    assert "mini.yaml" in msg and "eval_sets[0].judge" in msg and "forbid_same_family_judge" in msg
    # a panel: one same-family member is enough to fail
    with pytest.raises(ConfigError):
        load_project(
            _project(
                tmp_path / "b",
                {"model": None, "models": ["gpt-4o", "claude-opus-4"]},
                candidate="claude-haiku-4-5",
                forbid=True,
            )
        )
    load_project(
        _project(tmp_path / "c", {"model": None, "models": ["gpt-4o", "gemini-2.0-pro"]}, forbid=True)
    )


def test_run_artifact_records_judge_and_candidate_families(tmp_path):
    from eval_pipeline import scoring

    p = load_project(_project(tmp_path, {}))
    mv = p.registry.by_name("bot-v1")
    m = {"pass_rate": {"value": 1.0, "ci_low": 0.5, "ci_high": 1.0, "n": 1}}
    art = scoring.run_artifact(
        run_id="r",
        date="2025-01-01",
        model_version=mv,
        model_version_key=mv.key,
        project=p,
        metrics_by_set={("mini", "quality"): m},
        thresholds=[],
        responses=pd.DataFrame({"cost_usd": [0.0]}),
        started_at=0.0,
    )
    j = art["eval_sets"][0]["judge"]
    assert j == {
        "models": ["claude-sonnet-4-5"],
        "families": {"claude-sonnet-4-5": "anthropic-claude"},
        "candidate_model": "claude-haiku-4-5",
        "candidate_family": "anthropic-claude",
        "same_family": True,
    }
