"""The Dagster side of ``eval-pipeline run`` / ``compare``: one partition of the nightly job, in process.

In: the project, model-version names, a date, the score families, an optional baseline name, the
Dagster instance of ``DAGSTER_HOME``. Out: one :class:`~eval_pipeline.release.ci_report.CIResult`
per model version (run artifact, quality gate, regression gate, or the error that stopped it);
:func:`compare` returns the regression report of two stored runs.

``run_partition`` executes ``nightly_eval_job`` itself (``execute_in_process``, so the run is in the
instance's run storage under the job's name and shows in the UI, tagged ``eval/trigger=cli``) on
the asset subset of the chosen families. The in-process executor keeps the orchestration overhead
small (no process per step); a failed step still only skips what depends on it: the other
families' steps run. The resources are built from the environment at call time
(:func:`~eval_pipeline.defs.resources.build_resources`).
"""

from __future__ import annotations

import importlib
import json
import os
import socket
import time
from typing import Any

import dagster as dg

from eval_pipeline.defs.jobs import nightly_eval_job
from eval_pipeline.defs.partitions import eval_partition_key, register_model_versions
from eval_pipeline.defs.resources import WarehouseResource, build_resources
from eval_pipeline.history.runs import known_runs, list_runs_from_files, load_run_scores
from eval_pipeline.history.sources import HistorySources
from eval_pipeline.regression.baselines import RunRef, declared_baseline
from eval_pipeline.regression.compare import report_dict
from eval_pipeline.regression.stored_runs import compare_runs
from eval_pipeline.release.ci_report import CIResult
from eval_pipeline.release.decision import quality_gate, regression_gate
from eval_pipeline.scoring.errors_report import root_cause
from eval_pipeline.storage import keys
from eval_pipeline.storage.location import Location

FAMILY_ASSETS = {
    "deterministic": "deterministic_scores",
    "similarity": "similarity_scores",
    "judge": "judge_scores",
}
DEFAULT_FAMILIES = ("deterministic", "similarity")  # the nightly job's families
# Steps whose failure is a gate doing its job, not an error: the blocking regression check and
# release_approval (the decision itself is read from the artifacts).
GATE_STEPS = ("release_approval", "regression_report_no_significant_regression", "eval_run_quality_gate")


def _warehouse():
    """(resource, warehouse) of ``EVAL_WAREHOUSE_URL`` read now (outside a run, so no EnvVar to resolve)."""

    res = WarehouseResource(
        url=os.environ.get("EVAL_WAREHOUSE_URL", ""),
        endpoint_url=os.environ.get("EVAL_S3_ENDPOINT_URL") or None,
    )
    return res, res.get()


def selection(families) -> list[str]:
    """The nightly job's assets for ``families`` (score assets of those families only)."""
    unknown = [f for f in families if f not in FAMILY_ASSETS]
    if unknown:
        raise ValueError(
            f"unknown famil{'ies' if len(unknown) > 1 else 'y'} {unknown}; use {sorted(FAMILY_ASSETS)}"
        )
    return [
        "golden_samples",
        "model_responses",
        *(FAMILY_ASSETS[f] for f in families),
        "eval_run",
        "regression_report",
        "release_approval",
    ]


# The Dagster modules of the evaluation graph (what nightly_eval_job / weekly_judge_job select and
# read). Loading only these, not the whole code location (monitoring, PII recognizers, canary),
# keeps the command's start-up small; test_cli_run checks the job is the code location's.
EVAL_MODULES = (
    "eval_pipeline.defs.ingestion.assets",
    "eval_pipeline.defs.inference.assets",
    "eval_pipeline.defs.evaluators.assets",
    "eval_pipeline.defs.evaluators.calibration",
    "eval_pipeline.defs.scoring.assets",
    "eval_pipeline.defs.regression.assets",
    "eval_pipeline.defs.release.assets",
    "eval_pipeline.defs.history.assets",
)


def eval_definitions() -> dg.Definitions:
    """The evaluation assets, their checks and the nightly job, with resources built from the environment now."""

    mods = [importlib.import_module(m) for m in EVAL_MODULES]
    return dg.Definitions(
        assets=dg.load_assets_from_modules(mods),
        asset_checks=dg.load_asset_checks_from_modules(mods),
        jobs=[nightly_eval_job],
        resources=build_resources(),
    )


def _job() -> dg.JobDefinition:

    return eval_definitions().resolve_job_def(nightly_eval_job.name)


def worker_tags() -> dict[str, str]:
    """Tags that name this process as the run's worker (host and pid), so a later CLI call can tell a
    run whose process died (SIGKILL, OOM, a closed laptop) from one still running."""

    return {"eval/host": socket.gethostname(), "eval/pid": str(os.getpid())}


def fail_dead_runs(instance: dg.DagsterInstance) -> list[str]:
    """Mark failed every STARTED run this host's CLI started whose process is gone; returns their ids.

    An in-process run (``eval-pipeline run``) has no daemon watching it: killed, it would stay STARTED
    forever. Runs the daemon launches are watched by Dagster's run monitoring (``run_monitoring:`` in
    the shipped instance config: start timeout, and ``max_runtime_seconds`` for a worker that died)."""

    host, out = socket.gethostname(), []
    records = instance.get_run_records(
        filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED], tags={"eval/host": host})
    )
    for rec in records:
        pid = int(rec.dagster_run.tags.get("eval/pid", "0") or 0)
        if pid <= 0 or pid == os.getpid():
            continue
        try:
            os.kill(pid, 0)
            continue  # still running
        except ProcessLookupError:
            pass
        except PermissionError:
            continue  # alive, another user's
        instance.report_run_failed(
            rec.dagster_run,
            f"the run's process (pid {pid} on {host}) ended before the run did (killed?); "
            "marked failed by eval-pipeline. Rerun it: only the missing answers are paid for.",
        )
        out.append(rec.dagster_run.run_id)
    return out


def run_partition(
    instance: dg.DagsterInstance,
    date: str,
    model_version_key: str,
    families,
    run_config: dict | None = None,
    log_level: str = "WARNING",
) -> dict[str, Any]:
    """Execute the nightly job for one partition; returns run id, success, failed steps (with messages), seconds.
    ``log_level``: of the console log only (the instance's event log, which the UI shows, keeps every event);
    ``eval-pipeline run`` passes CRITICAL unless ``--verbose``, so a gate that fails (an expected outcome,
    printed as a verdict) prints no traceback; another step's failure is reported by its root cause."""

    t0 = time.perf_counter()
    result = _job().execute_in_process(
        instance=instance,
        partition_key=eval_partition_key(date, model_version_key),
        raise_on_error=False,
        asset_selection=[dg.AssetKey(a) for a in selection(families)],
        run_config={"loggers": {"console": {"config": {"log_level": log_level}}}, **(run_config or {})},
        tags={"eval/trigger": "cli", "eval/kind": "nightly", **worker_tags()},
    )

    failed, causes = {}, {}
    for ev in result.all_events:
        if ev.event_type_value == "STEP_FAILURE":
            err = getattr(ev.event_specific_data, "error", None)
            causes[ev.step_key] = cause = root_cause(err)
            failed[ev.step_key] = [str(cause)]
    return {
        "run_id": result.run_id,
        "success": result.success,
        "failed": failed,
        "causes": causes,
        "seconds": time.perf_counter() - t0,
    }


def evaluate(
    instance: dg.DagsterInstance,
    project,
    names: list[str],
    date: str,
    families,
    *,
    baseline: str | None = None,
    suite: str | None = None,
    run_config: dict | None = None,
    log_level: str = "WARNING",
) -> list[CIResult]:
    """Register and run each model version's partition (the baseline's first, when it has no run
    for ``date``); read back its artifact and decide its gates."""

    reg = project.registry
    mvs = [reg.by_name(n) for n in names]
    base_mv = reg.by_name(baseline) if baseline else None
    register_model_versions(instance, [m.key for m in mvs] + ([base_mv.key] if base_mv else []))
    fail_dead_runs(instance)
    _, wh = _warehouse()
    if (
        base_mv is not None
        and base_mv.name not in names
        and not wh.exists(keys.run_artifact(date, base_mv.key))
    ):
        run_partition(instance, date, base_mv.key, families, run_config, log_level)
    out = []
    for mv in mvs:
        res = CIResult(name=mv.name, model_version=mv.key, date=date, suite=suite, baseline=None)
        run = run_partition(instance, date, mv.key, families, run_config, log_level)
        res.run_id, res.seconds = run["run_id"], run["seconds"]
        errors = {k: v for k, v in run["failed"].items() if k not in GATE_STEPS}
        art_key = keys.run_artifact(date, mv.key)
        if errors or not wh.exists(art_key):
            detail = (
                "; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items()) or "no run artifact was written"
            )
            res.error = f"the pipeline did not complete (run {run['run_id']}): {detail}"
            kinds = [c.kind for k, c in run.get("causes", {}).items() if k in errors]
            res.error_kind = "infra" if "infra" in kinds or not kinds else "config"
            out.append(res)
            continue
        res.artifact = json.loads(wh.read_bytes(art_key))
        res.quality = quality_gate(res.artifact)
        declared = declared_baseline(project, mv.key)[0]
        report: dict[str, Any] | None
        if base_mv is not None and base_mv.key != mv.key and base_mv.key != declared:
            # another baseline than the declared one: an ad-hoc comparison (the stored report and the UI keep
            # the declared baseline), computed by the same function as the stored report
            report, _ = compare(project, mv.key, base_mv.key, date)
            res.baseline = f"{base_mv.name} ({base_mv.key}@{date}; not the declared baseline)"
        else:  # the stored report: its baseline is the declared one (same rows, same verdict as the UI)
            rep_key = keys.regression_report(date, mv.key)
            report = json.loads(wh.read_bytes(rep_key)) if wh.exists(rep_key) else None
            if report:
                res.baseline = (report.get("summary") or {}).get("baseline")
        res.regression = regression_gate(report) if report else None
        res.report = report
        out.append(res)
    return out


def compare(project, candidate: str, baseline: str, date: str | None = None) -> tuple[dict[str, Any], str]:
    """Regression report (dict, markdown) of two stored runs (model-version names or keys) on
    ``date`` (default: the latest date both were scored), with the baseline's earlier nights pooled into the
    pass/fail rows as the gate does. Raises LookupError when a run is missing."""

    def key_of(name: str) -> str:
        for m in project.registry.models:
            if name in (m.name, m.key):
                return m.key
        return name  # a key of a version no longer in the registry

    cand, base = key_of(candidate), key_of(baseline)
    resource, wh = _warehouse()
    con = wh.connect_duckdb()
    sources = HistorySources.for_root(Location.parse(resource.resolved_url()).root)
    runs = list_runs_from_files(con, sources.scores_glob)
    if date is None:
        both = set(runs.loc[runs["model_version"] == cand, "date"]) & set(
            runs.loc[runs["model_version"] == base, "date"]
        )
        if not both:
            raise LookupError(
                f"no date on which both {cand} and {base} were scored; run them first (eval-pipeline run --model-version ...)"
            )
        date = max(both)
    c = load_run_scores(con, sources.scores_glob, date, cand)
    b = load_run_scores(con, sources.scores_glob, date, base)
    for key, frame in ((cand, c), (base, b)):
        if frame.empty:
            raise LookupError(
                f"no scores for {key} on {date}; run it first (eval-pipeline run --model-version ... --date {date})"
            )
    configs = {name: suite.regression_config() for name, suite in project.suites.items()}
    # the stored report's path (regression.stored_runs.compare_runs): draws, distinct baseline nights when baseline_nights > 1
    rep = compare_runs(
        con,
        sources,
        known_runs(con, sources, runs),
        RunRef(date, cand),
        RunRef(date, base),
        configs,
        baseline_reason="given on the command line",
    )
    return json.loads(json.dumps(report_dict(rep), default=str)), rep.to_markdown(max_rows=25)
