"""Benchmark: the nightly demo run end to end, split by asset, and the definitions import time.

    python -m eval_pipeline_tests.benchmarks.nightly_demo [--date YYYY-MM-DD] [--keep]

What runs: ``nightly_eval_job`` for every model version marked ``nightly: true`` in the demo
registry (``data/``), one partition each for the date, then ``history_job``, exactly as the
nightly and history schedules would launch them, in process on a scratch instance and a
scratch local warehouse (cold: empty embedding cache). Model answers come from the replayed
recordings in ``data/recordings/`` (no API call); embeddings are the real MiniLM model.

Per-asset time is the sum of that asset's step durations from the event log (STEP_SUCCESS /
STEP_FAILURE), over all partitions. The definitions import time is measured in fresh
subprocesses (median of 3), against the 3 s target.

Last line: ``nightly wall_s=<x> import_s=<y>``.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

IMPORT_TARGET_S = 3.0


def import_time(repeats: int = 3) -> float:
    """Median wall time of ``import eval_pipeline.definitions`` in a fresh interpreter."""
    code = "import time; t = time.perf_counter(); import eval_pipeline.definitions; print(time.perf_counter() - t)"
    times = []
    for _ in range(repeats):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300)
        times.append(float(out.stdout.strip().splitlines()[-1]))
    return statistics.median(times)


def step_seconds(instance, run_id: str) -> dict[str, float]:
    """Seconds per step of a run: STEP_START to STEP_SUCCESS / STEP_FAILURE in the event log."""
    started: dict[str, float] = {}
    out: dict[str, float] = {}
    for record in instance.all_logs(run_id):
        ev = record.dagster_event
        if ev is None or not ev.step_key:
            continue
        if ev.event_type_value == "STEP_START":
            started[ev.step_key] = record.timestamp
        elif ev.event_type_value in ("STEP_SUCCESS", "STEP_FAILURE") and ev.step_key in started:
            out[ev.step_key] = record.timestamp - started[ev.step_key]
    return out


def run_nightly(date: str | None, work: Path) -> tuple[float, dict[str, float], list[str]]:
    """Run the nightly jobs; returns (wall seconds, seconds per asset, notes about failures)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import dagster as dg

    from eval_pipeline.project.config import load_project
    from eval_pipeline.defs.schedules import local_date
    from eval_pipeline.defs.partitions import eval_partition_key
    from eval_pipeline.defs.resources import LLMResource, WarehouseResource
    from eval_pipeline.project.paths import PROJECT_ROOT
    from eval_pipeline_tests.orchestration_support import project_defs

    date = date or local_date()
    defs = project_defs(
        warehouse=WarehouseResource(url=str(work / "warehouse")),
        llm=LLMResource(provider="replay", recordings_path=str(PROJECT_ROOT / "data" / "recordings")),
    )
    keys = [m.key for m in load_project().registry.models if m.nightly]
    per_asset: dict[str, float] = defaultdict(float)
    notes: list[str] = []
    (work / "home").mkdir(parents=True, exist_ok=True)
    with dg.DagsterInstance.from_config(str(work / "home")) as instance:
        instance.add_dynamic_partitions("model_version", keys)
        t0 = time.perf_counter()
        runs = [(f"nightly {k}", defs.resolve_job_def("nightly_eval_job"), eval_partition_key(date, k)) for k in keys]
        runs.append(("history", defs.resolve_job_def("history_job"), None))
        for label, job, partition in runs:
            result = job.execute_in_process(partition_key=partition, instance=instance, raise_on_error=False)
            if not result.success:
                failed = [e.step_key for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
                gate = [e for e in result.get_asset_check_evaluations() if not e.passed and e.severity == dg.AssetCheckSeverity.ERROR]
                why = "blocking quality gate failed (expected for a regressed candidate)" if gate else "see the run log"
                notes.append(f"{label}: run stopped at {failed or 'run level'}: {why}")
            for step, seconds in step_seconds(instance, result.run_id).items():
                per_asset[step] += seconds
        wall = time.perf_counter() - t0
    return wall, dict(per_asset), notes


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--date", help="date partition (default: today in EVAL_TIMEZONE)")
    ap.add_argument("--keep", action="store_true", help="keep the scratch instance and warehouse")
    args = ap.parse_args(argv)
    load = os.getloadavg()[0]
    print(f"machine: {os.cpu_count()} cores, 1-min load average {load:.1f} at start")

    imp = import_time()
    print(f"definitions import (fresh interpreter, median of 3): {imp:.2f} s   target < {IMPORT_TARGET_S:.0f} s   {'OK' if imp < IMPORT_TARGET_S else 'OVER'}")

    work = Path(tempfile.mkdtemp(prefix="nightly_demo_"))
    wall, per_asset, notes = run_nightly(args.date, work)
    print("nightly demo run, seconds per asset (sum over partitions; ideal: inference ~0 on replay, the rest I/O- or model-bound):")
    for step, seconds in sorted(per_asset.items(), key=lambda kv: -kv[1]):
        print(f"  {step:<45} {seconds:8.2f} s  ({seconds / wall:5.1%} of wall)")
    overhead = wall - sum(per_asset.values())
    print(f"  {'(orchestration overhead: run setup, events)':<45} {overhead:8.2f} s  ({overhead / wall:5.1%} of wall)")
    for note in notes:
        print(f"  NOTE {note}")
    print(f"scratch instance and warehouse: {work}" + ("" if args.keep else " (removed)"))
    if not args.keep:
        import shutil

        shutil.rmtree(work, ignore_errors=True)
    print(f"nightly wall_s={wall:.1f} import_s={imp:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
