"""Command line: ``python -m eval_pipeline.cli <command>`` (also installed as ``eval-pipeline``).

Commands
--------
demo        Run the nightly evaluation of the demo suite end to end, headless, on the embedded
            defaults (local warehouse, replayed synthetic recordings of one week, real MiniLM
            embeddings), then print where the results and the run artifacts are. The demo selects
            EVAL_PROVIDER=replay itself (unless EVAL_PROVIDER is set); its results say they rest on
            synthetic answers. Everything else needs ANTHROPIC_API_KEY or an explicit EVAL_PROVIDER.
            The driver is ``eval_pipeline/demo/driver.py``; this module only parses arguments and prints.
validate    Load and cross-check every suite, golden-set path and the model registry.
register    Register the registry's model versions as Dagster partitions (what the sensor does).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from eval_pipeline.project.paths import default_warehouse_url


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
    from eval_pipeline.defs.partitions import MODEL_VERSION_PARTITIONS, local_instance, register_model_versions
    from eval_pipeline.project.config import load_project

    instance = local_instance()
    new = register_model_versions(instance, [m.key for m in load_project().registry.models])
    print(f"registered {len(new)} new model version partition(s); known: {sorted(instance.get_dynamic_partitions(MODEL_VERSION_PARTITIONS.name))}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    import contextlib

    from eval_pipeline.demo.driver import run_demo

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
    print("  inspect it all in the UI:  make ui   (dg dev, then http://127.0.0.1:3000)")
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
