"""``eval-pipeline run --sequential``: pay only for the samples the sequential gate needs.

In: the Dagster instance, the project, one candidate model version, a date, the score families, the look size
and the scoring order's seed. Out: the candidate's :class:`~eval_pipeline.release.ci_report.CIResult` (its stored
regression report decided by the sequential gate) and the report's ``sequential`` section.

The baseline is the suite's declared one (its full run is made first when it has none for the date). Then, one
look at a time: the candidate's partition runs on the units scored so far plus the ones the gate asks for next
(``golden_samples`` config ``only``); ``regression_report`` (config ``sequential``) replays the gate over what is
stored (:mod:`eval_pipeline.regression.sequential_replay`) and says ``continue`` with the next units, or
``stopped`` with the verdict. Every earlier answer is a response-store hit, so each look pays only for its new
units, and rerunning the command pays nothing.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import dagster as dg

from eval_pipeline.defs.ci import evaluate
from eval_pipeline.project.loader import Project
from eval_pipeline.project.paths import default_warehouse_url
from eval_pipeline.regression.baselines import declared_baseline
from eval_pipeline.regression.sequential_replay import SequentialOptions, first_units, summary_line
from eval_pipeline.release import ci_report
from eval_pipeline.release.ci_report import CIResult
from eval_pipeline.storage import keys
from eval_pipeline.storage.warehouse import Warehouse

MAX_LOOKS = 1000  # a guard: a gate that asks for no new unit twice is a bug, not a reason to loop forever


def _units(wh: Warehouse, date: str, mv_key: str) -> list[str]:
    golden = wh.read_table("golden", keys.run_partition(date, mv_key))
    return sorted(set(golden["eval_set"].astype(str) + "/" + golden["sample_id"].astype(str)))


def run_sequential(
    instance: dg.DagsterInstance,
    project: Project,
    name: str,
    date: str,
    families: list[str],
    *,
    baseline: str | None = None,
    suite: str | None = None,
    chunk: int,
    seed: int = 0,
    run_config: dict[str, Any] | None = None,
    log_level: str = "CRITICAL",
) -> tuple[list[CIResult], dict[str, Any] | None]:
    """Run ``name`` sequentially on ``date``; returns (results, the report's ``sequential`` section or None)."""
    reg = project.registry
    mv = reg.by_name(name)
    declared = declared_baseline(project, mv.key)[0]
    if declared is None or declared == mv.key:
        raise ValueError(
            f"--sequential compares {name} with its suite's baseline, and {name} has none other than itself "
            "(set baseline_model_version in the suite, or mark another version production)"
        )
    base = reg.by_key(declared)
    if baseline is not None and reg.by_name(baseline).key != declared:
        raise ValueError(
            f"--sequential compares with the suite's declared baseline {base.name}, not {baseline}; "
            "drop --baseline or declare it"
        )
    if chunk < 1:
        raise ValueError(f"--chunk must be >= 1, got {chunk}")
    wh = Warehouse.from_env(default_url=default_warehouse_url())
    if not wh.exists(keys.run_artifact(date, base.key)):  # the baseline's full run, once
        evaluate(
            instance,
            project,
            [base.name],
            date,
            families,
            suite=suite,
            run_config=run_config,
            log_level=log_level,
        )
    opts = SequentialOptions(seed=seed, chunk=chunk)
    scored: set[str] = set()
    ask = first_units(_units(wh, date, base.key), opts)
    results: list[CIResult] = []
    section: dict[str, Any] | None = None
    for _ in range(MAX_LOOKS):
        new = set(ask) - scored
        if not new:
            raise RuntimeError(f"the sequential gate asked for no new sample after {len(scored)}: {ask[:3]}")
        scored |= new
        ops = dict((run_config or {}).get("ops", {}))
        ops["golden_samples"] = {"config": {"only": sorted(scored)}}
        ops["regression_report"] = {"config": {"sequential": True, "seed": seed, "chunk": chunk}}
        results = evaluate(
            instance,
            project,
            [name],
            date,
            families,
            suite=suite,
            run_config={**(run_config or {}), "ops": ops},
            log_level=log_level,
        )
        res = results[0]
        rep_key = keys.regression_report(date, mv.key)
        if res.error or not wh.exists(rep_key):
            return results, None
        section = json.loads(wh.read_bytes(rep_key)).get("sequential")
        if not section or section.get("state") != "continue":
            return results, section
        ask = section["next_units"]
    raise RuntimeError(f"the sequential run did not stop within {MAX_LOOKS} looks")


def cli_run_sequential(
    args: argparse.Namespace,
    project: Project,
    instance: dg.DagsterInstance,
    names: list[str],
    date: str,
    families: list[str],
    run_config: dict[str, Any] | None,
) -> int:
    """``eval-pipeline run --sequential``: the PASS/FAIL table, the sequential gate's line, the exit code."""
    if len(names) != 1:
        print("eval-pipeline run --sequential: give one --model-version (the candidate)", file=sys.stderr)
        return ci_report.EXIT_ERROR
    try:
        results, section = run_sequential(
            instance, project, names[0], date, families, baseline=args.baseline, suite=args.suite,
            chunk=args.chunk, seed=args.seed, run_config=run_config,
            log_level="INFO" if args.verbose else "CRITICAL",
        )  # fmt: skip
    except ValueError as e:
        print(f"eval-pipeline run --sequential: {e}", file=sys.stderr)
        return ci_report.EXIT_ERROR
    print(ci_report.table(results))
    if section:
        print(summary_line(section))
    return ci_report.exit_code(results)
