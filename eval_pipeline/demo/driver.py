"""The demo driver: the recorded week materialized in process through the Dagster assets.

In: the project's registry (its ``nightly`` versions), the recorded demo calendar
(``demo/calendar.py``), the replay recordings in ``data/recordings``. Out: a local warehouse with the
calibrations, a week of runs, regression reports, release decisions, the history and (optionally)
a week of synthetic monitoring; returns a summary dict that ``eval_pipeline/cli.py demo`` prints.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import time
from typing import Any

import dagster as dg

from eval_pipeline.definitions import defs
from eval_pipeline.defs.jobs import ALL_FAMILIES_ASSETS
from eval_pipeline.defs.partitions import eval_partition_key, local_instance, register_model_versions
from eval_pipeline.defs.progress import with_progress
from eval_pipeline.defs.resources import WarehouseResource, build_resources
from eval_pipeline.demo.calendar import CANDIDATE_DATES, DEMO_DATES
from eval_pipeline.demo.monitoring import run_canary_demo, run_monitoring_demo
from eval_pipeline.project.loader import load_project
from eval_pipeline.project.paths import default_warehouse_url
from eval_pipeline.release import verdict as vd
from eval_pipeline.storage import keys
from eval_pipeline.storage.location import Location


def materialize(defs, selection: list[str], instance, partition_key=None) -> tuple[bool, dict[str, float]]:
    """Materialize an asset selection (with its checks) in process; returns (success, seconds per step)."""

    t0 = time.monotonic()
    result = with_progress(  # a progress bar of the run's steps on a terminal
        instance,
        "demo",
        len(selection) + 1,
        lambda: dg.materialize(
            [*defs.assets, *(defs.asset_checks or [])],
            selection=selection,
            partition_key=partition_key,
            instance=instance,
            resources=build_resources(),
            raise_on_error=False,
        ),
    )
    steps: dict[str, float] = {}
    for ev in result.all_events:
        if ev.step_key is not None and ev.event_type_value in ("STEP_SUCCESS", "STEP_FAILURE"):
            steps[ev.step_key] = round(getattr(ev.event_specific_data, "duration_ms", 0.0) / 1000, 3)
    steps["_total"] = round(time.monotonic() - t0, 3)
    return result.success, steps


def run_demo(date: str | None = None, quiet: bool = False, with_monitoring: bool = True) -> dict:
    """The demo: calibrations; the recorded week (the production version every night, the candidate
    on the last two nights, production first each night); the history; online monitoring.

    Selects the ``replay`` provider explicitly (``EVAL_PROVIDER=replay``) unless ``EVAL_PROVIDER``
    is already set: ``auto`` no longer falls back to replay without a key."""
    if not os.environ.get(
        "EVAL_PROVIDER"
    ):  # unset or empty (= not configured, see project/environment.py SETTINGS)
        os.environ["EVAL_PROVIDER"] = "replay"
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

    say = (lambda *a: None) if quiet else print
    # The demo prints its own summary; Dagster's console log (stack traces of the expected gate
    # failure included) stays in the run's event log, visible in the UI.

    logging.getLogger("dagster").setLevel(logging.CRITICAL)
    instance = local_instance()
    project = load_project()
    dates = [date] if date else list(DEMO_DATES)
    versions = sorted((m for m in project.registry.models if m.nightly), key=lambda m: not m.production)
    register_model_versions(instance, [m.key for m in versions])
    wh_url = default_warehouse_url()
    wh = WarehouseResource(url=wh_url).get()
    last = dates[-1]
    summary: dict = {"dates": dates, "warehouse": wh_url, "versions": {}, "timings": {}}
    provider = os.environ["EVAL_PROVIDER"]
    say(
        f"eval_pipeline demo: {dates[0]} .. {last}, warehouse {wh_url}, provider {provider}"
        + (
            " (replaying the SYNTHETIC recordings in data/recordings: no model wrote these answers)"
            if provider == "replay"
            else ""
        )
    )

    say("1/4 calibrating the judge and the similarity threshold on human-labelled data ...")
    ok, steps = materialize(defs, ["judge_calibration", "similarity_calibration"], instance)
    summary["timings"]["calibration"] = steps
    if not ok:
        say("   calibration failed: see the Dagster run log (make ui)")
    evaluation = list(ALL_FAMILIES_ASSETS)
    for day in dates:
        for mv in versions:
            if not mv.production and date is None and day not in CANDIDATE_DATES:
                continue  # the candidate was introduced on the last two nights of the recorded week
            ok, steps = materialize(defs, evaluation, instance, partition_key=eval_partition_key(day, mv.key))
            summary["timings"][f"{mv.key}@{day}"] = steps
            art_key = keys.run_artifact(day, mv.key)
            entry: dict[str, Any] = {"pipeline_ok": ok}
            if wh.exists(art_key):
                art = json.loads(wh.read_bytes(art_key))
                entry.update(
                    overall=art["overall"],
                    blocking_failures=art["blocking_failures"],
                    warnings=art["warnings"],
                    artifact=wh.uri(art_key),
                    cost_usd=art["cost_usd"],
                    answers=art.get("answers"),
                    answer_provenance=art.get("answer_provenance"),
                )
                entry.update(why=vd.quality_verdict(vd.artifact_thresholds(art)).why)
            rep_key = keys.regression_report(day, mv.key)
            if wh.exists(rep_key):
                entry.update(regression=vd.regression_verdict(json.loads(wh.read_bytes(rep_key))).line())
            if day == last:
                summary["versions"][mv.name] = entry
            status = entry.get("overall", "not evaluated (see the run log: make ui)")
            say(f"2/4 {day} {mv.name}: {status}" + (f" - {entry['why']}" if entry.get("why") else ""))
    say("3/4 refreshing the history (DuckDB, alerts, control charts, HTML report) ...")
    ok, steps = materialize(defs, ["eval_history"], instance)
    summary["timings"]["history"] = steps
    summary["history_report"] = Location.parse(wh_url).child(keys.history_report())
    if with_monitoring:
        say(
            "4/4 online monitoring on SYNTHETIC production traffic (8 days, drift injected on the last day) ..."
        )

        yesterday = (
            dt.date.fromisoformat(last) - dt.timedelta(days=1)
        ).isoformat()  # only complete days are sampled
        summary["monitoring"] = run_monitoring_demo(
            instance, days=8, end_date=yesterday, n_rows=1000, say=say
        )
        say("   canary rollout on SYNTHETIC hourly traffic: one degraded canary, analysed hour by hour ...")

        summary["canary"] = run_canary_demo(instance, day=last, say=say)
        say("   the history report again, now with the monitoring and canary sections ...")
        materialize(defs, ["eval_history"], instance)
    return summary
