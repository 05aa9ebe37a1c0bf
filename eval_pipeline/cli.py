"""Command line: ``python -m eval_pipeline.cli <command>`` (also installed as ``eval-pipeline``).

Commands
--------
demo        Run the nightly evaluation of the demo suite end to end, headless, on the embedded
            defaults (local warehouse, replayed synthetic recordings of one week, real MiniLM
            embeddings), then print where the results and the run artifacts are. The demo selects
            EVAL_PROVIDER=replay itself (unless EVAL_PROVIDER is set); its results say they rest on
            synthetic answers. Everything else needs ANTHROPIC_API_KEY or an explicit EVAL_PROVIDER.
validate    Load and cross-check every suite, golden-set path and the model registry.
register    Register the registry's model versions as Dagster partitions (what the sensor does).
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
from pathlib import Path

from eval_pipeline.project.paths import PROJECT_ROOT, default_warehouse_url


def _instance():
    import dagster as dg

    os.environ.setdefault("DAGSTER_HOME", str(PROJECT_ROOT / ".dagster_home"))
    Path(os.environ["DAGSTER_HOME"]).mkdir(parents=True, exist_ok=True)
    return dg.DagsterInstance.get()


def cmd_validate(args: argparse.Namespace) -> int:
    from eval_pipeline.project.config import ConfigError, load_project

    try:
        project = load_project()
    except (ConfigError, ValueError) as e:
        print(f"invalid configuration:\n  {e}", file=sys.stderr)
        return 1
    for name, suite in project.suites.items():
        print(f"suite {name}: {len(suite.eval_sets)} eval sets ({', '.join(f'{es.name}[{es.family}]' for es in suite.eval_sets)})")
    for mv in project.registry.models:
        flags = ", ".join(x for x in ("production" if mv.production else "", "nightly" if mv.nightly else "") if x)
        print(f"model version {mv.name}: key {mv.key}, {mv.provider}/{mv.model}{' (' + flags + ')' if flags else ''}")
    return 0


def cmd_register(args: argparse.Namespace) -> int:
    from eval_pipeline.project.config import load_project
    from eval_pipeline.defs.partitions import MODEL_VERSION_PARTITIONS

    instance = _instance()
    keys = [m.key for m in load_project().registry.models]
    existing = set(instance.get_dynamic_partitions(MODEL_VERSION_PARTITIONS.name))
    new = [k for k in keys if k not in existing]
    if new:
        instance.add_dynamic_partitions(MODEL_VERSION_PARTITIONS.name, new)
    print(f"registered {len(new)} new model version partition(s); known: {sorted(existing | set(new))}")
    return 0


def _materialize(defs, selection: list[str], instance, partition_key=None) -> tuple[bool, dict[str, float]]:
    """Materialize an asset selection (with its checks) in process; returns (success, seconds per step)."""
    import dagster as dg

    from eval_pipeline.defs.resources import build_resources

    t0 = time.monotonic()
    result = dg.materialize(
        [*defs.assets, *(defs.asset_checks or [])],
        selection=selection,
        partition_key=partition_key,
        instance=instance,
        resources=build_resources(),
        raise_on_error=False,
    )
    steps = {}
    for ev in result.all_events:
        if ev.event_type_value in ("STEP_SUCCESS", "STEP_FAILURE"):
            steps[ev.step_key] = round(getattr(ev.event_specific_data, "duration_ms", 0.0) / 1000, 3)
    steps["_total"] = round(time.monotonic() - t0, 3)
    return result.success, steps


def run_demo(date: str | None = None, quiet: bool = False, with_monitoring: bool = True) -> dict:
    """The demo: calibrations; the recorded week (the production version every night, the candidate
    on the last two nights, production first each night); the history; online monitoring.

    Selects the ``replay`` provider explicitly (``EVAL_PROVIDER=replay``) unless ``EVAL_PROVIDER``
    is already set: ``auto`` no longer falls back to replay without a key."""
    os.environ.setdefault("EVAL_PROVIDER", "replay")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from eval_pipeline.project.config import load_project
    from eval_pipeline.defs.partitions import MODEL_VERSION_PARTITIONS, eval_partition_key
    from eval_pipeline.defs.resources import WarehouseResource
    from eval_pipeline.definitions import defs
    from eval_pipeline.demo.calendar import CANDIDATE_DATES, DEMO_DATES

    say = (lambda *a: None) if quiet else print
    # The demo prints its own summary; Dagster's console log (stack traces of the expected gate
    # failure included) stays in the run's event log, visible in the UI.
    import logging

    logging.getLogger("dagster").setLevel(logging.CRITICAL)
    instance = _instance()
    project = load_project()
    dates = [date] if date else list(DEMO_DATES)
    versions = sorted((m for m in project.registry.models if m.nightly), key=lambda m: not m.production)
    keys = [m.key for m in versions]
    existing = set(instance.get_dynamic_partitions(MODEL_VERSION_PARTITIONS.name))
    if set(keys) - existing:
        instance.add_dynamic_partitions(MODEL_VERSION_PARTITIONS.name, [k for k in keys if k not in existing])
    wh_url = default_warehouse_url()
    wh = WarehouseResource(url=wh_url).get()
    last = dates[-1]
    summary: dict = {"dates": dates, "warehouse": wh_url, "versions": {}, "timings": {}}
    provider = os.environ["EVAL_PROVIDER"]
    say(f"eval_pipeline demo: {dates[0]} .. {last}, warehouse {wh_url}, provider {provider}"
        + (" (replaying the SYNTHETIC recordings in data/recordings: no model wrote these answers)" if provider == "replay" else ""))

    say("1/4 calibrating the judge and the similarity threshold on human-labelled data ...")
    ok, steps = _materialize(defs, ["judge_calibration", "similarity_calibration"], instance)
    summary["timings"]["calibration"] = steps
    if not ok:
        say("   calibration failed: see the Dagster run log (make ui)")
    evaluation = ["golden_samples", "model_responses", "deterministic_scores", "similarity_scores", "judge_scores", "eval_run", "regression_report", "release_approval"]
    for day in dates:
        for mv in versions:
            if not mv.production and date is None and day not in CANDIDATE_DATES:
                continue  # the candidate was introduced on the last two nights of the recorded week
            ok, steps = _materialize(defs, evaluation, instance, partition_key=eval_partition_key(day, mv.key))
            summary["timings"][f"{mv.key}@{day}"] = steps
            art_key = f"runs/date={day}/model_version={mv.key}/run.json"
            entry = {"pipeline_ok": ok}
            if wh.exists(art_key):
                art = json.loads(wh.read_bytes(art_key))
                entry.update(overall=art["overall"], blocking_failures=art["blocking_failures"], warnings=art["warnings"], artifact=wh.uri(art_key), cost_usd=art["cost_usd"],
                             answers=art.get("answers"), answer_provenance=art.get("answer_provenance"))
            rep_key = f"reports/regression/date={day}/model_version={mv.key}/report.json"
            if wh.exists(rep_key):
                entry.update(regression=json.loads(wh.read_bytes(rep_key))["summary"]["message"])
            if day == last:
                summary["versions"][mv.name] = entry
            status = entry.get("overall", "not evaluated (see the run log: make ui)")
            say(f"2/4 {day} {mv.name}: {status}" + (f" (blocking: {', '.join(entry['blocking_failures'])})" if entry.get("blocking_failures") else ""))
    say("3/4 refreshing the history (DuckDB, alerts, control charts, HTML report) ...")
    ok, steps = _materialize(defs, ["eval_history"], instance)
    summary["timings"]["history"] = steps
    summary["history_report"] = str(Path(wh_url) / "reports" / "history" / "latest.html") if "://" not in wh_url else f"{wh_url}/reports/history/latest.html"
    if with_monitoring:
        say("4/4 online monitoring on SYNTHETIC production traffic (8 days, drift injected on the last day) ...")
        from eval_pipeline.demo.monitoring import run_monitoring_demo

        yesterday = (dt.date.fromisoformat(last) - dt.timedelta(days=1)).isoformat()  # only complete days are sampled
        summary["monitoring"] = run_monitoring_demo(instance, days=8, end_date=yesterday, n_rows=1000, say=say)
    return summary


def cmd_demo(args: argparse.Namespace) -> int:
    import contextlib

    # Dagster's per-run console logs go to a file; the terminal shows the demo's own progress.
    log_path = Path(default_warehouse_url()) / "demo-dagster.log" if "://" not in default_warehouse_url() else Path("demo-dagster.log")
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "w", encoding="utf-8") as log, contextlib.redirect_stderr(log):
        s = run_demo(args.date)
    print(f"  Dagster run logs of this demo: {log_path}")
    print("\nResults")
    for name, e in s["versions"].items():
        print(f"  {name}: {e.get('overall', 'not evaluated')}  artifact: {e.get('artifact', '-')}")
        if e.get("answers"):
            print(f"    answers: {e['answers']}")
        if e.get("regression"):
            print(f"    vs baseline: {e['regression']}")
    print(f"  warehouse (Parquet, run artifacts, reports): {s['warehouse']}")
    print(f"  history report (open in a browser): {s['history_report']}")
    mon = s.get("monitoring")
    if mon:
        print(f"  online monitoring: {len(mon.get('days', []))} synthetic days; drift flagged on the last day: {mon.get('drift_flagged_last_day')}")
    print("  inspect it all in the UI:  make ui   (dagster dev -w workspace.yaml, then http://127.0.0.1:3000)")
    failed = [n for n, e in s["versions"].items() if "overall" not in e]
    if failed:
        print(f"\nthe pipeline did not complete for: {', '.join(failed)} (see the run logs in the UI)", file=sys.stderr)
        return 1
    print("\nA FAIL above is the quality gate doing its job (the candidate regressed); the demo itself completed.")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="eval-pipeline", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("demo", help="run the demo pipeline end to end")
    d.add_argument("--date", help="evaluate this one date (default: the recorded demo week; other dates need "
                   "EVAL_PROVIDER=anthropic and ANTHROPIC_API_KEY, since the replay provider only has the recordings)")
    d.set_defaults(fn=cmd_demo)
    sub.add_parser("validate", help="validate suites, golden-set paths and the model registry").set_defaults(fn=cmd_validate)
    sub.add_parser("register", help="register model versions as Dagster partitions").set_defaults(fn=cmd_register)
    args = ap.parse_args(argv)
    return args.fn(args)


if __name__ == "__main__":
    sys.exit(main())
