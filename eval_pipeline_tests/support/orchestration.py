"""Helpers for the orchestration tests: temporary data folders and applying sensor results.

``copy_data`` copies the repo's ``data/`` (minus calibration data and recordings) into a temp
folder the test may edit; ``small_data`` writes a tiny project (a few samples, three model
versions, deterministic checks only) for fast end-to-end runs against the test server.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import dagster as dg
import yaml

from eval_pipeline.project.paths import PROJECT_ROOT

REPO_DATA = PROJECT_ROOT / "data"


def copy_data(dest: Path) -> Path:
    """Copy ``data/`` (registry, prompts, suites, golden sets) to ``dest`` and return it."""
    shutil.copytree(REPO_DATA, dest, ignore=shutil.ignore_patterns("calibration", "recordings", "*.md"))
    return dest


def apply_dynamic_partition_requests(instance: dg.DagsterInstance, result: object) -> list[str]:
    """Do what the sensor daemon does with a ``SensorResult``'s partition requests; return the added keys."""
    added: list[str] = []
    for req in getattr(result, "dynamic_partitions_requests", None) or []:
        assert isinstance(req, dg.AddDynamicPartitionsRequest), req
        instance.add_dynamic_partitions(req.partitions_def_name, list(req.partition_keys))
        added.extend(req.partition_keys)
    return added


def edit_yaml(path: Path, fn) -> None:
    """Load ``path``, let ``fn`` mutate the data, write it back."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    fn(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


SMALL_LABELS = ["card_arrival", "lost_or_stolen_card", "exchange_rate", "top_up_failed"]


def small_data(
    dest: Path, n_samples: int = 4, model_names: tuple[str, ...] = ("bot-a", "bot-b", "bot-c")
) -> Path:
    """A tiny project: one deterministic intent-routing eval set of ``n_samples`` records and
    one model version per name (each with a distinct prompt, so distinct partition keys)."""
    (dest / "golden").mkdir(parents=True)
    (dest / "prompts").mkdir()
    (dest / "suites").mkdir()
    messages = [
        "my card has not arrived",
        "someone stole my card",
        "what rate do you use for euros",
        "my top up failed",
        "where is my new card",
        "I lost my wallet with the card",
        "the exchange rate looks wrong",
        "top-up did not go through",
    ]
    with (dest / "golden" / "intents.jsonl").open("w", encoding="utf-8") as f:
        for i in range(n_samples):
            f.write(
                json.dumps(
                    {
                        "id": f"s{i:03d}",
                        "input": messages[i % len(messages)],
                        "expected": SMALL_LABELS[i % len(SMALL_LABELS)],
                        "metadata": {"category": SMALL_LABELS[i % len(SMALL_LABELS)]},
                    }
                )
                + "\n"
            )
    suite = {
        "name": "mini",
        "description": "Tiny routing suite for orchestration tests.",
        "eval_sets": [
            {
                "name": "routing",
                "family": "deterministic",
                "task": "classify_intent",
                "source": "golden/intents.jsonl",
                "checks": [{"type": "exact_match", "normalize": ["strip", "lower"]}],
                "thresholds": [{"metric": "pass_rate", "min": 0.0}],
            }
        ],
    }
    (dest / "suites" / "mini.yaml").write_text(yaml.safe_dump(suite, sort_keys=False), encoding="utf-8")
    models = []
    for i, name in enumerate(model_names):
        prompt = dest / "prompts" / f"route_{name}.yaml"
        prompt.write_text(
            yaml.safe_dump(
                {
                    "system": f"You route bank support messages ({name}). Reply with only the intent name.",
                    "user": "Allowed intents: {{ labels | join(', ') }}\nMessage: {{ input }}\nIntent:",
                }
            ),
            encoding="utf-8",
        )
        models.append(
            {
                "name": name,
                "provider": "anthropic",
                "model": "claude-haiku-4-5",
                "params": {"max_tokens": 50, "temperature": 0.0},
                "prompts": {"classify_intent": f"prompts/route_{name}.yaml"},
                "suites": ["mini"],
                "nightly": True,
                "production": i == 0,
            }
        )
    registry = {"models": models, "pricing": {"claude-haiku-4-5": {"input": 1.0, "output": 5.0}}}
    (dest / "models.yaml").write_text(yaml.safe_dump(registry, sort_keys=False), encoding="utf-8")
    return dest


def project_defs(**resources) -> dg.Definitions:
    """The project's assets, checks, jobs, schedules and sensors with some resources replaced
    (e.g. ``eval_config`` on a temp data folder, ``warehouse`` on a temp folder, ``llm`` on the test server)."""
    from eval_pipeline import definitions
    from eval_pipeline.defs.resources import build_resources

    d = definitions.defs
    return dg.Definitions(
        assets=d.assets,
        asset_checks=d.asset_checks,
        jobs=d.jobs,
        schedules=d.schedules,
        sensors=d.sensors,
        resources={**build_resources(), **resources},
    )
