"""What the monitoring assets share: the daily asset decorator, the partition preamble, report writing.

In: a traffic-day partition, the ``project`` resource (config and warehouse). Out: :func:`day_asset` (an
asset of one traffic day in the monitoring group), :func:`monitoring_partition` (day, validated
monitoring config, warehouse), :func:`write_report` (a JSON report at
``keys.monitoring_report(day, name)``), :func:`report_check` (a check that decides from such a
report) and :func:`response_executor` (requests through a provider and the response store, tallied).
"""

import json
from collections.abc import Callable
from typing import Any

import dagster as dg

from eval_pipeline.defs.eval_partition import EvalProject
from eval_pipeline.defs.monitoring.partitions import TRAFFIC_DATE_PARTITIONS
from eval_pipeline.defs.resources import LLMResource, WarehouseResource
from eval_pipeline.inference.provenance import provenance_counts
from eval_pipeline.inference.runner import run_requests, summarize
from eval_pipeline.project.errors import ConfigError
from eval_pipeline.project.monitoring import MonitoringConfig, load_monitoring_config
from eval_pipeline.storage import keys

GROUP = "monitoring"


def day_asset(deps: tuple[str, ...] = (), kinds: tuple[str, ...] = ("python", "parquet"), **kwargs):
    """``dg.asset`` of one traffic day (daily partitions, the monitoring group)."""
    return dg.asset(
        partitions_def=TRAFFIC_DATE_PARTITIONS, deps=list(deps), group_name=GROUP, kinds=set(kinds), **kwargs
    )


def monitoring_partition(context, project: EvalProject) -> tuple[str, MonitoringConfig, Any]:
    """``(partition key, monitoring config, warehouse)`` of the partition being materialized."""

    try:
        cfg = load_monitoring_config(project.eval_config.data_dir or None)
    except (ConfigError, ValueError) as e:
        raise dg.Failure(f"invalid monitoring config: {e}") from None
    return context.partition_key, cfg, project.wh()


def write_report(warehouse, day: str, name: str, payload: dict) -> str:
    data = json.dumps(payload, indent=1, default=str).encode("utf-8")
    return warehouse.write_bytes(keys.monitoring_report(day, name), data, content_type="application/json")


def response_executor(context, llm: LLMResource, warehouse: WarehouseResource, provider, tally: dict):
    """``execute(requests) -> responses`` through ``provider`` (a model version's, or the judges')
    and the response store (retries, cost ledger, replay); counts requests, API calls and cost into ``tally``."""

    store = llm.store(warehouse.resolved_url())

    def execute(requests):
        out = run_requests(provider, requests, store)
        s = summarize(out)
        tally["requests"] = tally.get("requests", 0) + len(out)
        tally["api_calls"] = tally.get("api_calls", 0) + s["api_calls"]
        tally["cost_usd"] = round(tally.get("cost_usd", 0.0) + s["cost_usd"], 6)
        prov = tally.setdefault("answer_provenance", {})  # live / replay / synthetic: said wherever shown
        for k, v in provenance_counts(r.provenance for r in out).items():
            prov[k] = prov.get(k, 0) + v
        context.log.info(f"{len(out)} requests, {s['cache_hits']} from the response store")
        return out

    return execute


Decision = tuple[bool, dict[str, Any]] | tuple[bool, dict[str, Any], dg.AssetCheckSeverity]


def report_check(asset: Any, report: str, description: str, missing: str | None = None):
    """An asset check of ``asset`` that decides from the day's JSON report ``report``: the decorated
    function takes the parsed report and returns ``(passed, metadata[, severity])`` (WARN unless
    given). ``missing``: the note of a pass when the report is absent (else reading it fails)."""

    def wrap(decide: Callable[[dict[str, Any]], Decision]) -> dg.AssetChecksDefinition:
        @dg.asset_check(asset=asset, name=decide.__name__, description=description)
        def check(
            context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource
        ) -> dg.AssetCheckResult:
            wh, key = warehouse.get(), keys.monitoring_report(context.partition_key, report)
            if missing is not None and not wh.exists(key):
                return dg.AssetCheckResult(passed=True, metadata={"note": missing})
            passed, metadata, *severity = decide(json.loads(wh.read_bytes(key)))
            return dg.AssetCheckResult(
                passed=passed,
                severity=severity[0] if severity else dg.AssetCheckSeverity.WARN,
                metadata=metadata,
            )

        return check

    return wrap
