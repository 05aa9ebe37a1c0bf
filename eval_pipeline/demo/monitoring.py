"""Monitoring demo: SYNTHETIC production traffic for a few days, then the monitoring assets per day.

Called by ``eval_pipeline/demo/driver.py`` (after the evaluation demo)::

    from eval_pipeline.demo.monitoring import run_monitoring_demo
    summary["monitoring"] = run_monitoring_demo(instance, days=8, say=say)

The last day carries an injected drift (category mix and input length) and unhappier users, so
its ``no_significant_drift`` check warns and the drift report shows the shift next to quality.
"""
from __future__ import annotations

from typing import Any, Callable

import dagster as dg

from eval_pipeline.defs.monitoring.schedules import MONITORING_ASSETS
from eval_pipeline.monitoring.config import REPORT_PREFIX
from eval_pipeline.monitoring.day import traffic_location
from eval_pipeline.demo.synthetic_traffic import write_demo_traffic


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
    from eval_pipeline.definitions import defs
    from eval_pipeline.defs.resources import build_resources

    resources = resources or build_resources()
    instance = instance or dg.DagsterInstance.ephemeral()
    wh = resources["warehouse"].get()
    written = write_demo_traffic(wh, days=days, end_date=end_date, seed=seed, n_rows=n_rows)
    say(f"monitoring: wrote {len(written)} days of SYNTHETIC traffic to {traffic_location(wh).display} "
        f"({written[0]['day']} .. {written[-1]['day']}, drift injected on the last day)")
    out: dict = {"days": [], "traffic": traffic_location(wh).display}
    for w in written:
        day = w["day"]
        result = dg.materialize([*defs.assets, *defs.asset_checks], selection=list(MONITORING_ASSETS), partition_key=day,
                                instance=instance, resources=resources, raise_on_error=False)
        checks = {e.check_name: ("pass" if e.passed else e.severity.value) for e in result.get_asset_check_evaluations()}
        entry = {"day": day, "ok": result.success, "checks": checks, "synthetic": True}
        for mat in result.get_asset_materialization_events():
            m = mat.materialization
            md = {k: getattr(v, "value", v) for k, v in m.metadata.items()}
            name = m.asset_key.to_user_string()
            if name == "traffic_sample":
                entry.update(n_read=md.get("n_read"), n_sampled=md.get("n_sampled"), n_malformed=md.get("n_malformed"))
            elif name == "traffic_drift":
                entry.update(drift=md.get("summary"), max_psi=md.get("max_psi"))
            elif name == "feedback_metrics":
                entry["alerts_firing"] = md.get("n_alerts_firing")
        out["days"].append(entry)
        say(f"   {day}: sampled {entry.get('n_sampled')} of {entry.get('n_read')} ({entry.get('n_malformed')} malformed); "
            f"{entry.get('drift')}; checks {checks}")
    last = out["days"][-1]
    out["drift_flagged_last_day"] = last["checks"].get("no_significant_drift") not in (None, "pass")
    out["reports"] = wh.uri(REPORT_PREFIX)
    return out
