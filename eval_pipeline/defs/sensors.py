"""Sensors: react to configuration changes and to failed evaluation runs.

``config_change_sensor`` hashes the watched files of the data folder (model registry, prompt
templates, suites, golden sets; see ``eval_pipeline/project/registration.py``) and keeps the last good
state in its cursor, a JSON map ``{"files": {path: sha256}, "suite_inputs": {suite: hash}}``.
On each tick:

* first tick (no cursor): registers every model-version key of the registry as a
  ``model_version`` partition and records the baseline; requests nothing.
* new or changed model config (a new partition key): registers the key and requests
  ``nightly_eval_job`` for today; its ``regression_report`` compares it with the baseline.
* golden set, or the inference part of a suite, changed: ``nightly_eval_job`` for today for
  every model version on that suite (the response store serves every answer it already has).
* only scoring settings of a suite changed (checks, rubric, thresholds): ``rescore_job`` on
  the latest date with stored responses of each affected version: no model calls.
* a judge's version changed (judge model, rubric or prompt hash; the cursor's ``judges``):
  ``calibration_job``; until it ran, that judge's thresholds warn instead of blocking.
* nothing changed: skip. An invalid file: skip with the error (file and key path); the cursor
  keeps the last good state, so fixing the file resumes from there.

``eval_failure_sensor`` appends a JSON summary of every failed evaluation run to
``EVAL_ALERT_LOG`` (default ``$DAGSTER_HOME/eval_alerts.jsonl``) and POSTs it to
``EVAL_ALERT_WEBHOOK_URL`` when set.

Both are STOPPED by default; turn them on in the UI (Automation) or with
``dagster sensor start -w workspace.yaml config_change_sensor``.
"""

from __future__ import annotations

import json
import os
import urllib.request
from pathlib import Path
from typing import Any

import dagster as dg

from eval_pipeline.defs import partitions
from eval_pipeline.defs.jobs import EVAL_JOBS, calibration_job, nightly_eval_job, rescore_job
from eval_pipeline.defs.partitions import add_requests, eval_partition_key
from eval_pipeline.defs.resources import EvalConfigResource
from eval_pipeline.defs.schedules import local_date, registered_model_versions
from eval_pipeline.evaluators.calibration import project_judge_versions
from eval_pipeline.project import registration
from eval_pipeline.project.errors import ConfigError
from eval_pipeline.project.loader import Project

CURSOR_VERSION = 1


def register_model_versions(instance: dg.DagsterInstance, project: Project) -> list[str]:
    """Register every model-version key of ``project``'s registry as a partition (idempotent).

    Returns the keys that were new. For scripts and the CLI; the sensor returns the same keys
    as a ``dynamic_partitions_request`` instead of mutating the instance itself.
    """
    return partitions.register_model_versions(instance, registration.model_version_keys(project).values())


def read_cursor(raw: str | None) -> dict[str, Any] | None:
    """The sensor's last good state, or None on the first tick (or an unreadable cursor)."""
    if not raw:
        return None
    try:
        state = json.loads(raw)
    except json.JSONDecodeError:
        return None
    if (
        not isinstance(state, dict)
        or state.get("v") != CURSOR_VERSION
        or not isinstance(state.get("files"), dict)
    ):
        return None
    return state


def make_cursor(
    files: dict[str, str], suite_inputs: dict[str, str], judges: dict[str, list[str]] | None = None
) -> str:
    """Serialize the state the next tick compares against (``judges``: judge model -> calibration versions)."""
    state: dict[str, Any] = {"v": CURSOR_VERSION, "files": files, "suite_inputs": suite_inputs}
    if judges is not None:
        state["judges"] = judges
    return json.dumps(state, sort_keys=True)


def recalibration_request(
    previous: dict[str, Any], judges: dict[str, list[str]], digest: str
) -> dg.RunRequest | None:
    """``calibration_job`` when a judge's version (model, rubric or prompt hash) is new since the last tick:
    until it has run, that judge's thresholds warn instead of blocking (``calibration.may_block``)."""
    before = previous.get("judges")
    if before is None:  # a cursor from before judge versions were recorded: record them, request nothing
        return None
    changed = sorted(m for m, v in judges.items() if set(v) - set(before.get(m, [])))
    if not changed:
        return None
    return dg.RunRequest(
        run_key=f"recalibrate:{digest}",
        job_name=calibration_job.name,
        tags={"eval/kind": "recalibration", "eval/reason": _short([f"judge changed: {', '.join(changed)}"])},
    )


def latest_response_date(instance: dg.DagsterInstance, model_version: str) -> str | None:
    """The latest date with materialized ``model_responses`` for ``model_version`` (what a re-score can use)."""
    dates = []
    for key in instance.get_materialized_partitions(dg.AssetKey("model_responses")):
        parts = key.split("|")  # multi-partition keys: "<date>|<model_version>" (dimensions sorted by name)
        if len(parts) == 2 and parts[1] == model_version:
            dates.append(parts[0])
    return max(dates) if dates else None


def _short(reasons: list[str]) -> str:
    text = "; ".join(reasons)
    return text if len(text) <= 200 else text[:197] + "..."


def change_requests(
    context: dg.SensorEvaluationContext, plan: registration.ChangePlan, digest: str
) -> tuple[list[dg.RunRequest], list[str]]:
    """Turn a change plan into run requests (and notes about what was left out)."""
    date = local_date()
    notes = []

    def request(
        run_key: str, job: dg.JobDefinition, day: str, key: str, kind: str, reason: str
    ) -> dg.RunRequest:
        return dg.RunRequest(
            run_key=run_key,
            job_name=job.name,
            partition_key=eval_partition_key(day, key),
            tags={"eval/kind": kind, "eval/reason": reason, "eval/model_version": key},
        )

    requests = [
        request(
            f"config:{date}:{key}",
            nightly_eval_job,
            date,
            key,
            "config_change",
            "new or changed model version",
        )
        for key in plan.new_keys
    ]
    requests += [
        request(
            f"config:{date}:{key}:{digest}", nightly_eval_job, date, key, "config_change", _short(reasons)
        )
        for key, reasons in sorted(plan.rerun.items())
    ]
    for key, reasons in sorted(plan.rescore.items()):
        last = latest_response_date(context.instance, key)
        if last is None:
            notes.append(
                f"{key}: no stored responses to re-score yet (the next nightly run scores with the new settings)"
            )
            continue
        requests.append(
            request(f"rescore:{last}:{key}:{digest}", rescore_job, last, key, "rescore", _short(reasons))
        )
    return requests, notes


@dg.sensor(
    name="config_change_sensor",
    jobs=[nightly_eval_job, rescore_job, calibration_job],
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description="Watches data/models.yaml, prompts/, suites/ and golden/ (sha256 per file in the cursor). Registers "
    "new model-version partitions and evaluates them; re-runs or re-scores the versions a changed suite or golden "
    "set affects; skips with the error message while a file is invalid. STOPPED by default.",
)
def config_change_sensor(context: dg.SensorEvaluationContext, eval_config: EvalConfigResource):
    """Evaluate one tick; see the module docstring for the rules."""
    try:
        project = eval_config.load()
    except ConfigError as e:
        return dg.SkipReason(
            f"invalid configuration, nothing registered or requested; fix the file and the next tick resumes: {e}"
        )
    hashes = registration.content_hashes(project.base)
    inputs = registration.suite_inference_hashes(project)

    judges = project_judge_versions(project)
    cursor = make_cursor(hashes, inputs, judges)
    registered = registered_model_versions(context.instance)
    previous = read_cursor(context.cursor)

    if previous is None:
        new_keys = [k for k in registration.model_version_keys(project).values() if k not in registered]
        return dg.SensorResult(
            dynamic_partitions_requests=add_requests(new_keys),
            cursor=cursor,
            skip_reason=f"first tick: registered {len(new_keys)} model version(s) {new_keys} and recorded {len(hashes)} "
            "watched files as the baseline; later changes trigger runs",
        )

    plan = registration.plan_changes(
        project, previous["files"], hashes, previous.get("suite_inputs", {}), registered
    )
    recal = recalibration_request(previous, judges, registration.state_digest(hashes))
    if plan.empty and recal is None:
        what = (
            f"files changed but no evaluation is affected ({plan.files.summary()})"
            if plan.files
            else f"no change in {len(hashes)} watched files"
        )
        return dg.SensorResult(skip_reason=what, cursor=cursor)

    requests, notes = change_requests(context, plan, registration.state_digest(hashes))
    if recal is not None:
        requests.insert(0, recal)
    context.log.info(
        f"{plan.files.summary()}; new keys {plan.new_keys}; re-run {sorted(plan.rerun)}; re-score {sorted(plan.rescore)}"
    )
    for note in notes:
        context.log.info(note)
    return dg.SensorResult(
        run_requests=requests,
        dynamic_partitions_requests=add_requests(plan.new_keys),
        cursor=cursor,
        skip_reason=None if requests else "; ".join(notes),
    )


# ----------------------------------------------------------------------------- failures


def alert_log_path() -> Path:
    """``EVAL_ALERT_LOG``, default ``$DAGSTER_HOME/eval_alerts.jsonl`` (or ``./eval_alerts.jsonl``)."""
    if os.environ.get("EVAL_ALERT_LOG"):
        return Path(os.environ["EVAL_ALERT_LOG"])
    return Path(os.environ.get("DAGSTER_HOME") or ".") / "eval_alerts.jsonl"


def failure_summary(context: dg.RunFailureSensorContext) -> dict[str, Any]:
    """What failed: run, job, partition, the run failure message and each failed step's error."""
    run = context.dagster_run
    steps = []
    for event in context.get_step_failure_events():
        error = event.step_failure_data.error if event.event_specific_data else None
        steps.append(
            {
                "step": event.step_key,
                "error": (error.message.strip() if error else event.message or "")[:2000],
            }
        )
    ui = os.environ.get("EVAL_UI_URL", "http://127.0.0.1:3000").rstrip("/")
    return {
        "run_id": run.run_id,
        "job": run.job_name,
        "partition": run.tags.get("dagster/partition"),
        "kind": run.tags.get("eval/kind"),
        "message": context.failure_event.message,
        "failed_steps": steps,
        "url": f"{ui}/runs/{run.run_id}",
    }


def post_alert(summary: dict[str, Any], log: Any = None) -> None:
    """Append ``summary`` to the alert log and POST it to ``EVAL_ALERT_WEBHOOK_URL`` if set (never raises)."""
    path = alert_log_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as f:
        f.write(json.dumps(summary, sort_keys=True) + "\n")
    url = os.environ.get("EVAL_ALERT_WEBHOOK_URL")
    if not url:
        return
    req = urllib.request.Request(
        url,
        data=json.dumps(summary).encode("utf-8"),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            resp.read()
    except Exception as e:  # an unreachable webhook must not break the sensor; the log file has the alert
        if log is not None:
            log.warning(f"alert webhook {url} failed: {e}")


@dg.run_failure_sensor(
    name="eval_failure_sensor",
    monitored_jobs=list(EVAL_JOBS),
    default_status=dg.DefaultSensorStatus.STOPPED,
    description="Appends a JSON summary of each failed evaluation run (blocking gate, golden-set error, API error "
    "rate) to EVAL_ALERT_LOG and POSTs it to EVAL_ALERT_WEBHOOK_URL when set. STOPPED by default.",
)
def eval_failure_sensor(context: dg.RunFailureSensorContext):
    post_alert(failure_summary(context), context.log)


SENSORS = [config_change_sensor, eval_failure_sensor]
"""Add to ``dg.Definitions(sensors=...)`` in ``eval_pipeline/definitions.py``."""
