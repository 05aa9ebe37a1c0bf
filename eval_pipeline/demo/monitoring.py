"""Monitoring demo: SYNTHETIC production traffic for a few days, then the monitoring assets per day.

Called by ``eval_pipeline/demo/driver.py`` (after the evaluation demo)::

    from eval_pipeline.demo.monitoring import run_monitoring_demo
    summary["monitoring"] = run_monitoring_demo(instance, days=8, say=say)

The last day carries an injected drift (category mix and input length) and unhappier users, so
its ``no_significant_drift`` check warns and the drift report shows the shift next to quality.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import dagster as dg

from eval_pipeline.definitions import defs
from eval_pipeline.defs.monitoring.canary import CANARY_ASSETS
from eval_pipeline.defs.monitoring.schedules import MONITORING_ASSETS
from eval_pipeline.defs.resources import build_resources
from eval_pipeline.demo.rollout import RolloutConfig, write_rollout
from eval_pipeline.demo.traffic_days import write_demo_traffic
from eval_pipeline.monitoring.day import traffic_location
from eval_pipeline.monitoring.settings import REPORT_PREFIX


def warehouse_of(resources: dict):
    """The warehouse of ``resources`` outside a run: ``dg.build_resources`` resolves the resource's
    ``dg.EnvVar`` settings (``build_resources()`` gives every setting as an EnvVar, read at run time)."""
    with dg.build_resources({"warehouse": resources["warehouse"]}) as res:
        return res.warehouse.get()


def run_monitoring_demo(
    instance: dg.DagsterInstance | None = None,
    days: int = 8,
    end_date: str | None = None,
    seed: int = 0,
    n_rows: int = 2000,
    say: Callable[..., Any] = print,
    resources: dict | None = None,
) -> dict:
    """Write ``days`` synthetic days ending ``end_date`` (default yesterday, UTC) under the traffic
    prefix and materialize the monitoring assets for each, oldest first. Returns a summary:
    ``{"days": [{day, ok, n_sampled, max_psi, drift, alerts_firing, checks}], "drift_flagged_last_day", ...}``."""

    resources = resources or build_resources()
    instance = instance or dg.DagsterInstance.ephemeral()
    wh = warehouse_of(resources)
    written = write_demo_traffic(wh, days=days, end_date=end_date, seed=seed, n_rows=n_rows)
    say(
        f"monitoring: wrote {len(written)} days of SYNTHETIC traffic to {traffic_location(wh).display} "
        f"({written[0]['day']} .. {written[-1]['day']}, drift injected on the last day)"
    )
    out: dict = {"days": [], "traffic": traffic_location(wh).display}
    for w in written:
        day = w["day"]
        result, checks, materialized = _materialize(defs, MONITORING_ASSETS, day, instance, resources)
        entry = {"day": day, "ok": result.success, "checks": checks, "synthetic": True}
        for name, md in materialized:
            if name == "traffic_sample":
                entry.update(
                    n_read=md.get("n_read"), n_sampled=md.get("n_sampled"), n_malformed=md.get("n_malformed")
                )
            elif name == "traffic_drift":
                entry.update(drift=md.get("summary"), max_psi=md.get("max_psi"))
            elif name == "feedback_metrics":
                entry["alerts_firing"] = md.get("n_alerts_firing")
        out["days"].append(entry)
        say(
            f"   {day}: sampled {entry.get('n_sampled')} of {entry.get('n_read')} ({entry.get('n_malformed')} malformed); "
            f"{entry.get('drift')}; checks {checks}"
        )
    last = out["days"][-1]
    out["drift_flagged_last_day"] = last["checks"].get("no_significant_drift") not in (None, "pass")
    out["reports"] = wh.uri(REPORT_PREFIX)
    return out


def run_canary_demo(
    instance: dg.DagsterInstance | None = None,
    day: str = "2026-11-22",
    hours: int = 6,
    requests_per_hour: int = 3000,
    say: Callable[..., Any] = print,
    resources: dict | None = None,
) -> dict:
    """A SYNTHETIC canary rollout on ``day`` (hour folders under the traffic prefix): the canary takes
    20% -> 30% of the traffic and degrades from its third hour (thumbs-down 10% -> 20% of rated
    requests). ``traffic_hourly`` and ``canary_analysis`` are materialized hour by hour until the
    verdict is ``roll back`` (the hourly story is the partition list of ``canary_analysis`` in the UI).
    Returns ``{"hours": [{hour, verdict, deciding, check}], "rolled_back_at", "canary", ...}``."""

    resources = resources or build_resources()
    instance = instance or dg.DagsterInstance.ephemeral()
    wh = warehouse_of(resources)
    loc = traffic_location(wh)
    cfg = RolloutConfig(
        start=f"{day}T00:00:00Z",
        hours=hours,
        requests_per_hour=requests_per_hour,
        share_start=0.20,
        share_end=0.30,
        ramp_hours=3,
        degrade_from_hour=2,
        effects={"thumbs_down": 0.08, "thumbs_up": 0.32},
    )
    cfg = cfg.model_copy(
        update={
            "base_feedback": cfg.base_feedback.model_copy(update={"thumbs_up": 0.36, "thumbs_down": 0.04})
        }
    )
    written = (
        write_rollout(loc.prefix, cfg, warehouse=wh) if loc.in_warehouse else write_rollout(loc.prefix, cfg)
    )
    say(
        f"canary: SYNTHETIC rollout of {cfg.canary_version} next to {cfg.production_version} on {day} "
        f"({requests_per_hour} requests/hour, canary 20% -> 30%, degraded from hour 02: thumbs-down 10% -> 20% of rated requests)"
    )
    out: dict = {
        "canary": cfg.canary_version,
        "production": cfg.production_version,
        "hours": [],
        "rolled_back_at": None,
        "synthetic": True,
    }
    for w in written:
        _, checks, materialized = _materialize(defs, CANARY_ASSETS, w["hour"], instance, resources)
        verdict = "none"
        for name, md in materialized:
            if name == "canary_analysis":
                verdict = str(md.get(f"{cfg.canary_version}: verdict", "none"))
        entry = {
            "hour": w["hour"],
            "n_canary": w["n_canary"],
            "verdict": verdict,
            "check": checks.get("canary_not_rolled_back"),
        }
        out["hours"].append(entry)
        say(f"   {w['hour']}: {w['n_canary']} canary of {w['n_rows']} requests -> {verdict}")
        if verdict.startswith("roll back"):
            out["rolled_back_at"] = w["hour"]
            break
    return out


def _materialize(defs, selection, partition_key: str, instance, resources):
    """Materialize ``selection`` for one partition (errors recorded, not raised): ``(result, {check:
    pass | severity}, [(asset name, metadata values)])``."""
    result = dg.materialize(
        [*defs.assets, *defs.asset_checks],
        selection=list(selection),
        partition_key=partition_key,
        instance=instance,
        resources=resources,
        raise_on_error=False,
    )
    checks = {
        e.check_name: ("pass" if e.passed else e.severity.value) for e in result.get_asset_check_evaluations()
    }
    materialized = [
        (
            mat.materialization.asset_key.to_user_string(),
            {k: getattr(v, "value", v) for k, v in mat.materialization.metadata.items()},
        )
        for mat in result.get_asset_materialization_events()
    ]
    return result, checks, materialized
