"""config_change_sensor across successive ticks, and the run-failure alert sensor.

Each tick is evaluated with ``build_sensor_context`` against a temporary copy of ``data/``;
the partition requests a tick returns are applied to the instance the way the daemon would.
"""

from __future__ import annotations

import json

import dagster as dg
import pytest

from eval_pipeline.defs.partitions import eval_partition_key
from eval_pipeline.defs.resources import EvalConfigResource
from eval_pipeline.defs.schedules import local_date
from eval_pipeline.defs.sensors import config_change_sensor, read_cursor
from eval_pipeline.project import registration
from eval_pipeline.project.loader import load_project
from eval_pipeline_tests.support.orchestration import apply_dynamic_partition_requests, copy_data, edit_yaml


class Ticker:
    """Runs the sensor tick after tick, carrying the cursor like the daemon does."""

    def __init__(self, data_dir):
        self.data_dir = data_dir
        self.instance = dg.DagsterInstance.ephemeral()
        self.cursor: str | None = None

    def tick(self):
        ctx = dg.build_sensor_context(
            instance=self.instance,
            cursor=self.cursor,
            resources={"eval_config": EvalConfigResource(data_dir=str(self.data_dir))},
        )
        result = config_change_sensor(ctx)
        if isinstance(result, dg.SensorResult):
            apply_dynamic_partition_requests(self.instance, result)
            if result.cursor is not None:
                self.cursor = result.cursor
        return result

    def registered(self) -> set[str]:
        return set(self.instance.get_dynamic_partitions("model_version"))

    def keys(self) -> dict[str, str]:
        return registration.model_version_keys(load_project(self.data_dir))


@pytest.fixture
def ticker(tmp_path):
    return Ticker(copy_data(tmp_path / "data"))


def _skip_text(result) -> str:
    if isinstance(result, dg.SkipReason):
        return result.skip_message or ""
    reason = result.skip_reason
    return (reason.skip_message if isinstance(reason, dg.SkipReason) else reason) or ""


def test_first_tick_registers_keys_and_records_baseline(ticker):
    result = ticker.tick()
    assert isinstance(result, dg.SensorResult)
    assert not result.run_requests
    assert ticker.registered() == set(ticker.keys().values())
    state = json.loads(result.cursor)
    assert set(state["files"]) == set(registration.content_hashes(ticker.data_dir))
    assert state["files"]["models.yaml"] == registration.content_hashes(ticker.data_dir)["models.yaml"]
    assert "first tick" in _skip_text(result)


def test_no_change_requests_nothing(ticker):
    ticker.tick()
    before = ticker.cursor
    result = ticker.tick()
    assert not getattr(result, "run_requests", None)
    assert not getattr(result, "dynamic_partitions_requests", None)
    assert "no change" in _skip_text(result)
    assert ticker.cursor == before


def test_prompt_change_registers_new_key_and_requests_evaluation(ticker):
    ticker.tick()
    old = ticker.keys()
    prompt = ticker.data_dir / "prompts" / "classify_intent_v2.yaml"
    prompt.write_text(
        prompt.read_text(encoding="utf-8").replace(
            "Pick the single best intent.", "Pick exactly one intent."
        ),
        encoding="utf-8",
    )
    new = ticker.keys()
    assert new["support-bot-v1"] == old["support-bot-v1"] and new["support-bot-v2"] != old["support-bot-v2"]

    result = ticker.tick()
    assert [r.partition_keys for r in result.dynamic_partitions_requests] == [[new["support-bot-v2"]]]
    assert (
        new["support-bot-v2"] in ticker.registered() and old["support-bot-v2"] in ticker.registered()
    )  # history kept
    (req,) = result.run_requests
    assert req.job_name == "nightly_eval_job"
    assert req.partition_key == eval_partition_key(local_date(), new["support-bot-v2"])
    assert req.run_key == f"config:{local_date()}:{new['support-bot-v2']}"
    # The next tick sees the new state as the baseline.
    assert "no change" in _skip_text(ticker.tick())


def test_invalid_file_skips_with_message_and_resumes_after_fix(ticker):
    ticker.tick()
    good_cursor = ticker.cursor
    registry = ticker.data_dir / "models.yaml"
    good_text = registry.read_text(encoding="utf-8")
    registry.write_text(good_text.replace("models:\n", "models:\n  - name: [broken\n", 1), encoding="utf-8")

    for _ in range(2):  # keeps skipping on every tick while the file is broken, cursor untouched
        result = ticker.tick()
        assert isinstance(result, dg.SkipReason)
        assert "models.yaml" in result.skip_message and "line" in result.skip_message
        assert ticker.cursor == good_cursor

    # A schema error (unknown key) is reported with its key path.
    registry.write_text(
        good_text.replace("nightly: true", "nightly: true\n    colour: blue", 1), encoding="utf-8"
    )
    result = ticker.tick()
    assert isinstance(result, dg.SkipReason) and "models[0].colour" in result.skip_message

    registry.write_text(good_text, encoding="utf-8")  # fixed: same content as before, nothing to do
    result = ticker.tick()
    assert isinstance(result, dg.SensorResult) and not result.run_requests
    assert "no change" in _skip_text(result)


def test_new_model_version_in_registry_is_registered_and_evaluated(ticker):
    ticker.tick()
    before = ticker.registered()

    def add_v3(data):
        v3 = dict(
            data["models"][1],
            name="support-bot-v3",
            description="Candidate with Sonnet.",
            model="claude-sonnet-4-5",
        )
        data["models"].append(v3)

    edit_yaml(ticker.data_dir / "models.yaml", add_v3)
    key = ticker.keys()["support-bot-v3"]
    result = ticker.tick()
    assert ticker.registered() == before | {key}
    assert [(r.job_name, r.partition_key) for r in result.run_requests] == [
        ("nightly_eval_job", eval_partition_key(local_date(), key))
    ]

    # Removing it again deletes nothing: its partition stays registered.
    edit_yaml(ticker.data_dir / "models.yaml", lambda d: d["models"].pop())
    result = ticker.tick()
    assert key in ticker.registered() and not result.run_requests
    assert "no evaluation is affected" in _skip_text(result)


def test_scoring_only_suite_change_requests_rescore_of_stored_responses(ticker):
    ticker.tick()
    keys = ticker.keys()
    # Responses exist for v1 on two dates and never for v2.
    for date in ("2026-11-01", "2026-11-03"):
        ticker.instance.report_runless_asset_event(
            dg.AssetMaterialization(
                "model_responses", partition=str(eval_partition_key(date, keys["support-bot-v1"]))
            )
        )

    def tighten(data):
        data["eval_sets"][0]["thresholds"][0]["min"] = 0.9

    edit_yaml(ticker.data_dir / "suites" / "customer_support.yaml", tighten)
    result = ticker.tick()
    (req,) = result.run_requests
    assert req.job_name == "rescore_job"
    assert req.partition_key == eval_partition_key("2026-11-03", keys["support-bot-v1"])
    assert req.run_key.startswith(f"rescore:2026-11-03:{keys['support-bot-v1']}:")
    assert "scoring settings" in req.tags["eval/reason"]
    assert not result.dynamic_partitions_requests


def test_golden_or_sampling_change_requests_new_inference(ticker):
    ticker.tick()
    keys = ticker.keys()
    golden = ticker.data_dir / "golden" / "covid_faq_qa.jsonl"
    lines = golden.read_text(encoding="utf-8").splitlines()
    golden.write_text("\n".join(lines[:-1]) + "\n", encoding="utf-8")  # a record removed
    result = ticker.tick()
    assert sorted((r.job_name, r.partition_key) for r in result.run_requests) == sorted(
        ("nightly_eval_job", eval_partition_key(local_date(), k)) for k in keys.values()
    )
    assert all("golden/covid_faq_qa.jsonl" in r.tags["eval/reason"] for r in result.run_requests)
    first_keys = {r.run_key for r in result.run_requests}

    # A sample-size change is an inference change too (new samples to ask), with new run keys.
    edit_yaml(
        ticker.data_dir / "suites" / "customer_support.yaml",
        lambda d: d["eval_sets"][0]["sample"].update(n=50),
    )
    result = ticker.tick()
    assert {r.job_name for r in result.run_requests} == {"nightly_eval_job"} and len(
        result.run_requests
    ) == len(keys)
    assert not first_keys & {r.run_key for r in result.run_requests}
    assert all("asked of the model" in r.tags["eval/reason"] for r in result.run_requests)


def test_unreadable_cursor_is_treated_as_first_tick(ticker):
    ticker.cursor = "not json"
    result = ticker.tick()
    assert "first tick" in _skip_text(result) and read_cursor(ticker.cursor) is not None
