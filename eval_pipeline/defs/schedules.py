"""Schedules: the nightly evaluation, the weekly judge run and calibration, the history refresh.

Cron strings and the timezone come from the environment when the code location loads
(a schedule's cron is part of its definition, so it cannot be a run-time resource):

=======================  ==============  ================================================
variable                 default         used by
=======================  ==============  ================================================
``EVAL_NIGHTLY_CRON``    ``0 2 * * *``   ``nightly_eval_schedule``
``EVAL_WEEKLY_CRON``     ``0 3 * * 0``   ``weekly_judge_schedule``, ``weekly_calibration_schedule``
``EVAL_HISTORY_CRON``    ``0 6 * * *``   ``history_refresh_schedule`` (after the nightly runs)
``EVAL_AA_NOISE_CRON``   ``0 4 * * 0``   ``aa_noise_schedule`` (production version only)
``EVAL_TIMEZONE``        ``UTC``         all of them, and the date partitions
=======================  ==============  ================================================

All schedules are STOPPED by default (the A/A run needs golden_samples for its date, so it runs
after the nightly one) (a fresh clone never spends API money on its own):
turn them on in the UI (Automation -> toggle) or with
``dagster schedule start -w workspace.yaml nightly_eval_schedule``.

The partitioned schedules fan out over the model versions marked ``nightly: true`` in
``data/models.yaml``, one run per version with the stable run key ``<kind>:<date>:<key>``
(a tick evaluated twice never launches twice). A schedule cannot register dynamic partitions:
keys are registered by ``config_change_sensor`` or ``eval_pipeline.defs.sensors.
register_model_versions``; an unregistered key is skipped with a message in the tick log.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from zoneinfo import ZoneInfo

import dagster as dg

from eval_pipeline.defs.jobs import (
    aa_noise_job,
    calibration_job,
    history_job,
    nightly_eval_job,
    weekly_judge_job,
)
from eval_pipeline.defs.partitions import MODEL_VERSION, START_DATE, eval_partition_key
from eval_pipeline.defs.resources import EvalConfigResource
from eval_pipeline.project import registration
from eval_pipeline.project.errors import ConfigError

NIGHTLY_CRON = os.environ.get("EVAL_NIGHTLY_CRON", "0 2 * * *")
WEEKLY_CRON = os.environ.get("EVAL_WEEKLY_CRON", "0 3 * * 0")
HISTORY_CRON = os.environ.get("EVAL_HISTORY_CRON", "0 6 * * *")
AA_NOISE_CRON = os.environ.get("EVAL_AA_NOISE_CRON", "0 4 * * 0")
TIMEZONE = os.environ.get("EVAL_TIMEZONE", "UTC")


def stopped_schedule(cron: str, job, description: str, name: str | None = None):
    """``dg.schedule`` on ``cron`` in ``EVAL_TIMEZONE``, STOPPED by default."""
    return dg.schedule(
        cron_schedule=cron,
        execution_timezone=TIMEZONE,
        job=job,
        default_status=dg.DefaultScheduleStatus.STOPPED,
        description=description,
        name=name,
    )


def local_date(when: dt.datetime | None = None) -> str:
    """``YYYY-MM-DD`` of ``when`` (default: now) in ``EVAL_TIMEZONE``: the date partition to evaluate."""
    when = when or dt.datetime.now(dt.UTC)
    if when.tzinfo is None:
        when = when.replace(tzinfo=ZoneInfo(TIMEZONE))
    return when.astimezone(ZoneInfo(TIMEZONE)).date().isoformat()


def registered_model_versions(instance: dg.DagsterInstance) -> set[str]:
    """The ``model_version`` partition keys the instance knows."""
    return set(instance.get_dynamic_partitions(MODEL_VERSION))


def dated_request(context: dg.ScheduleEvaluationContext, kind: str) -> dg.RunRequest:
    """The one run of an unpartitioned job for the scheduled date (run key ``<kind>:<date>``)."""
    date = local_date(context.scheduled_execution_time)
    return dg.RunRequest(run_key=f"{kind}:{date}", tags={"eval/kind": kind, "eval/date": date})


def partition_request(kind: str, date: str, key: str) -> dg.RunRequest:
    """The run of one (date, model version) partition, with the stable run key ``<kind>:<date>:<key>``."""
    return dg.RunRequest(
        run_key=f"{kind}:{date}:{key}",
        partition_key=eval_partition_key(date, key),
        tags={"eval/kind": kind, "eval/model_version": key, "eval/date": date},
    )


def _scheduled(context: dg.ScheduleEvaluationContext, eval_config: EvalConfigResource):
    """``(date, project)`` of a tick, or the SkipReason when the date is too early or the config invalid."""
    date = local_date(context.scheduled_execution_time)
    if date < START_DATE:
        return dg.SkipReason(f"{date} is before the first date partition {START_DATE} (EVAL_START_DATE)")
    try:
        return date, eval_config.load()
    except ConfigError as e:
        return dg.SkipReason(f"model registry or suites are invalid, nothing scheduled: {e}")


def fan_out_requests(
    context: dg.ScheduleEvaluationContext, eval_config: EvalConfigResource, kind: str
) -> Iterator[dg.RunRequest | dg.SkipReason]:
    """One ``RunRequest`` per registered nightly model version for the scheduled date.

    Unregistered keys and an invalid registry are reported, never raised: the schedule keeps
    ticking and the next tick picks up the fix.
    """
    scheduled = _scheduled(context, eval_config)
    if isinstance(scheduled, dg.SkipReason):
        yield scheduled
        return
    date, project = scheduled
    wanted = registration.nightly_keys(project)
    registered = registered_model_versions(context.instance)
    missing = [k for k in wanted if k not in registered]
    if missing:
        context.log.warning(
            f"skipping model versions not registered as partitions yet: {missing}. Turn on config_change_sensor "
            "(or call register_model_versions) to register them."
        )
    keys = [k for k in wanted if k in registered]
    if not keys:
        yield dg.SkipReason(
            f"no registered nightly model version for {date} (wanted {wanted or 'none: no version has nightly: true'}; "
            f"unregistered: {missing})"
        )
        return
    for key in keys:
        yield partition_request(kind, date, key)


def fan_out_schedule(name: str, cron: str, job, kind: str, description: str) -> dg.ScheduleDefinition:
    """A stopped schedule with one run per registered nightly model version (:func:`fan_out_requests`)."""

    @stopped_schedule(cron, job, description, name=name)
    def schedule(context: dg.ScheduleEvaluationContext, eval_config: EvalConfigResource):
        yield from fan_out_requests(context, eval_config, kind)

    return schedule


def dated_schedule(name: str, cron: str, job, kind: str, description: str) -> dg.ScheduleDefinition:
    """A stopped schedule with one run of an unpartitioned job per date (:func:`dated_request`)."""

    @stopped_schedule(cron, job, description, name=name)
    def schedule(context: dg.ScheduleEvaluationContext):
        return dated_request(context, kind)

    return schedule


nightly_eval_schedule = fan_out_schedule(
    "nightly_eval_schedule",
    NIGHTLY_CRON,
    nightly_eval_job,
    "nightly",
    f"Nightly ({NIGHTLY_CRON}, {TIMEZONE}) deterministic and semantic suites of every nightly model version.",
)
weekly_judge_schedule = fan_out_schedule(
    "weekly_judge_schedule",
    WEEKLY_CRON,
    weekly_judge_job,
    "weekly_judge",
    f"Weekly ({WEEKLY_CRON}, {TIMEZONE}) LLM-judge suites of every nightly model version.",
)
weekly_calibration_schedule = dated_schedule(
    "weekly_calibration_schedule",
    WEEKLY_CRON,
    calibration_job,
    "calibration",
    f"Weekly ({WEEKLY_CRON}, {TIMEZONE}) judge calibration and similarity-threshold calibration.",
)
history_refresh_schedule = dated_schedule(
    "history_refresh_schedule",
    HISTORY_CRON,
    history_job,
    "history",
    f"Daily ({HISTORY_CRON}, {TIMEZONE}) refresh of the history, its alerts and control charts.",
)


@stopped_schedule(
    AA_NOISE_CRON,
    aa_noise_job,
    f"Weekly ({AA_NOISE_CRON}, {TIMEZONE}) A/A noise floor of the production model version.",
)
def aa_noise_schedule(context: dg.ScheduleEvaluationContext, eval_config: EvalConfigResource):
    scheduled = _scheduled(context, eval_config)
    if isinstance(scheduled, dg.SkipReason):
        return scheduled
    date, project = scheduled
    prod = project.registry.production
    if prod is None:
        return dg.SkipReason("no production model version in the registry: nothing to A/A test")
    if prod.key not in registered_model_versions(context.instance):
        return dg.SkipReason(
            f"production version {prod.key} is not registered as a partition yet (config_change_sensor registers it)"
        )
    return partition_request("aa_noise", date, prod.key)


SCHEDULES = [
    nightly_eval_schedule,
    weekly_judge_schedule,
    weekly_calibration_schedule,
    history_refresh_schedule,
    aa_noise_schedule,
]
"""Add to ``dg.Definitions(schedules=...)`` in ``eval_pipeline/definitions.py``."""
