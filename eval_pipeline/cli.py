"""Command line: ``python -m eval_pipeline.cli <command>`` (also installed as ``eval-pipeline``).

Commands
--------
demo        Run the nightly evaluation of the demo suite end to end, headless, on the embedded
            defaults (local warehouse, replayed synthetic recordings of one week, real MiniLM
            embeddings), then print where the results and the run artifacts are. The demo selects
            EVAL_PROVIDER=replay itself (unless EVAL_PROVIDER is set); its results say they rest on
            synthetic answers. Everything else needs ANTHROPIC_API_KEY or an explicit EVAL_PROVIDER.
            The driver is ``eval_pipeline/demo/driver.py``; this module only parses arguments and prints.
run         The command a CI job runs: evaluate model versions for one date through the nightly job
            (same assets, same Dagster instance: DAGSTER_HOME; the run shows in the UI), print a
            PASS/FAIL table with the thresholds that decided it and the regression summary, write
            JUnit XML (--junit) and a markdown summary ($GITHUB_STEP_SUMMARY when set).
validate    Load and cross-check every suite, golden-set path and the model registry; read every
            golden set and render every prompt for a sample (no model call).
compare     Print the regression report of CANDIDATE against BASELINE (stored runs of one date).
diff        Write the per-sample diff page of CANDIDATE against BASELINE and print its path.
register    Register the registry's model versions as Dagster partitions (what the sensor does).
init        Scaffold a suite folder (golden sets, prompts, model versions, thresholds) that runs as is.
serve-model A SYNTHETIC Anthropic-compatible model on 127.0.0.1 answering from your golden sets: try a
            suite with no key and no network (EVAL_PROVIDER=synthetic; answers labelled synthetic).
view        Refresh the history report and open it (or serve it on 127.0.0.1).
plan        Per eval set and gated metric: the samples needed to detect a drop of min_effect (80% / 90%
            power) and the minimal detectable effect of the current N (eval_pipeline/commands/plan.py).
schema      The JSON Schema of each YAML file you write (suite, models, prompt, monitoring), printed or
            written with --out DIR, for editor completion (eval_pipeline/commands/schema.py).

Inside a folder made by ``init`` (it has data/models.yaml) the commands use ./data, ./warehouse and
./.dagster_home unless EVAL_DATA_DIR / EVAL_WAREHOUSE_URL / DAGSTER_HOME are set.

Exit codes (every command): 0 every gate passed, 1 a gate failed, 2 a configuration or data error,
3 an infrastructure error (endpoint, storage, crash); see eval_pipeline/scoring/errors_report.py.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from eval_pipeline.commands import process
from eval_pipeline.commands.dates import check_date
from eval_pipeline.project.paths import default_warehouse_url


def cmd_validate(args: argparse.Namespace) -> int:
    from eval_pipeline.project.errors import ConfigError
    from eval_pipeline.project.loader import load_project

    try:
        project = load_project()
    except (ConfigError, ValueError) as e:
        print(f"invalid configuration:\n  {e}", file=sys.stderr)
        return 2
    for name, suite in project.suites.items():
        print(
            f"suite {name}: {len(suite.eval_sets)} eval sets ({', '.join(f'{es.name}[{es.family}]' for es in suite.eval_sets)})"
        )
    for mv in project.registry.models:
        flags = ", ".join(
            x for x in ("production" if mv.production else "", "nightly" if mv.nightly else "") if x
        )
        print(
            f"model version {mv.name}: key {mv.key}, {mv.provider}/{mv.model}{' (' + flags + ')' if flags else ''}"
        )
    for warning in project.registry.warnings:  # e.g. a judge of the model version's own family
        print(f"warning: {warning}")
    from eval_pipeline.commands.segments import segment_lines
    from eval_pipeline.inference.preflight import preflight

    print("\n".join(segment_lines(project)))
    problems, counts = preflight(project)
    print(
        f"read {counts['golden_sets']} golden sets, rendered {counts['prompts_rendered']} sample prompts (no model call)"
    )
    if problems:
        print("invalid data:\n  " + "\n  ".join(problems), file=sys.stderr)
        return 2
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    import datetime as dt
    import os

    from eval_pipeline.inference import head_start
    from eval_pipeline.project.errors import ConfigError
    from eval_pipeline.project.loader import load_project
    from eval_pipeline.release import ci_report

    try:
        project = load_project()
        date = check_date(args.date) if args.date else dt.datetime.now(dt.UTC).date().isoformat()
        families = [f.strip() for f in args.families.split(",") if f.strip()] if args.families else None
        names = _versions(project, args.model_version, args.suite)
        if args.baseline:
            project.registry.by_name(args.baseline)
        from eval_pipeline.inference import warmup
        from eval_pipeline.regression.sequential_replay import suite_sequential

        warmup.start_sdks(project.registry.by_name(n).provider for n in names)  # loads while Dagster starts
        sequential = args.sequential or suite_sequential(project, names, args.suite)
        if not (sequential or args.batch or (args.baseline and args.baseline not in names)):
            head_start.start_from_env(
                project, project.registry.by_name(names[0]), date
            )  # in flight while Dagster starts
        from eval_pipeline.defs.ci import DEFAULT_FAMILIES, evaluate, selection
        from eval_pipeline.defs.ci_sequential import cli_run_sequential
        from eval_pipeline.defs.partitions import local_instance
        from eval_pipeline.defs.progress import with_progress

        families = families or list(DEFAULT_FAMILIES)
        selection(families)
        instance = local_instance(capture_compute_logs=False)  # no tail -F per run (defs/partitions.py)
        from eval_pipeline.inference.progress import set_progress_sink, stderr_sink

        set_progress_sink(stderr_sink())
        run_config = {"ops": {"model_responses": {"config": {"batch": True}}}} if args.batch else None
        process.resume_for_run()
        if sequential:
            return cli_run_sequential(args, project, instance, names, date, families, run_config)
        results = with_progress(
            instance,
            "eval",
            len(selection(families)) + 2,
            lambda: evaluate(
                instance,
                project,
                names,
                date,
                families,
                baseline=args.baseline,
                suite=args.suite,
                run_config=run_config,
                log_level="INFO" if args.verbose else "CRITICAL",  # gate verdicts are printed below
            ),
        )
    except (ConfigError, ValueError, KeyError, LookupError) as e:
        print(f"eval-pipeline run: configuration error: {e}", file=sys.stderr)
        return ci_report.EXIT_ERROR
    finally:
        head_start.settle()  # requests started for a run that stopped before using them: stored before exit
    print(ci_report.table(results))
    for r in results:  # synthetic / replayed answers are said next to the verdict they decided
        answers = (r.artifact or {}).get("answers") or ""
        if answers.startswith("NOT LIVE"):
            print(f"answers of {r.name}: {answers}")
    # the history report (and eval_history in the UI) includes this run; not after an infrastructure
    # error (the refresh would wait on the same broken storage again)
    if not args.no_report and not any(r.error_kind == "infra" for r in results):
        from eval_pipeline.defs.cli_history import refresh

        ok, where = with_progress(instance, "history report", 2, lambda: refresh(instance))
        print(f"history report: {where}" + ("" if ok else " (the refresh failed: see the run in the UI)"))
    if args.junit:
        Path(args.junit).parent.mkdir(parents=True, exist_ok=True)
        Path(args.junit).write_text(ci_report.junit_xml(results), encoding="utf-8")
        print(f"JUnit XML: {args.junit}")
    summary_path = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary_path:
        with open(summary_path, "a", encoding="utf-8") as fh:
            fh.write(ci_report.markdown(results) + "\n")
    print(
        f"Dagster runs (DAGSTER_HOME={os.environ.get('DAGSTER_HOME')}): {', '.join(r.run_id or '-' for r in results)}"
    )
    return ci_report.exit_code(results)


def _versions(project, name: str | None, suite: str | None) -> list[str]:
    """The model versions to evaluate: the one named, else the nightly ones (of ``suite``), production first."""
    if suite is not None and suite not in project.suites:
        raise ConfigErrorLike(f"unknown suite {suite!r}; known: {sorted(project.suites)}")
    if name:
        mv = project.registry.by_name(name)
        if suite is not None and suite not in mv.suites:
            raise ConfigErrorLike(
                f"model version {name!r} does not run suite {suite!r} (its suites: {mv.suites})"
            )
        return [mv.name]
    mvs = sorted(
        (m for m in project.registry.models if m.nightly and (suite is None or suite in m.suites)),
        key=lambda m: not m.production,
    )
    if not mvs:
        raise ConfigErrorLike(
            "no nightly model version to evaluate" + (f" for suite {suite!r}" if suite else "")
        )
    return [m.name for m in mvs]


class ConfigErrorLike(ValueError):
    """A bad command-line choice (exit 2)."""


def cmd_compare(args: argparse.Namespace) -> int:
    from eval_pipeline.project.errors import ConfigError
    from eval_pipeline.project.loader import load_project
    from eval_pipeline.release.decision import regression_gate
    from eval_pipeline.release.verdict import regression_verdict

    try:
        from eval_pipeline.defs.ci import compare

        report, md = compare(load_project(), args.candidate, args.baseline, args.date)
    except (ConfigError, ValueError, KeyError, LookupError) as e:
        print(f"eval-pipeline compare: {e}", file=sys.stderr)
        return 2
    print(md)
    gate = regression_gate(report)
    print(f"\nregression gate: {regression_verdict(report).line()}\n  (gate: {gate['gate']})")
    return 0 if gate["passed"] else 1


def cmd_register(args: argparse.Namespace) -> int:
    from eval_pipeline.defs.partitions import (
        MODEL_VERSION,
        local_instance,
        register_model_versions,
    )
    from eval_pipeline.project.loader import load_project

    instance = local_instance()
    new = register_model_versions(instance, [m.key for m in load_project().registry.models])
    print(
        f"registered {len(new)} new model version partition(s); known: {sorted(instance.get_dynamic_partitions(MODEL_VERSION))}"
    )
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    import contextlib

    from eval_pipeline.demo.driver import run_demo

    if args.date:
        try:
            args.date = check_date(args.date)
        except ValueError as exc:
            print(f"eval-pipeline demo: {exc}", file=sys.stderr)
            return 2
    # Dagster's per-run console logs go to a file; the terminal shows the demo's own progress.
    from eval_pipeline.storage.location import Location

    warehouse_location = Location.parse(default_warehouse_url())
    log_path = (
        Path("demo-dagster.log")
        if warehouse_location.scheme
        else warehouse_location.path / "demo-dagster.log"
    )
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "w", encoding="utf-8") as log, contextlib.redirect_stderr(log):
        s = run_demo(args.date)
    print(f"  Dagster run logs of this demo: {log_path}")
    print("\nResults")
    for name, e in s["versions"].items():
        print(f"  {name}: {e.get('overall', 'not evaluated')}  artifact: {e.get('artifact', '-')}")
        if e.get("answers"):
            print(f"    answers: {e['answers']}")
        if e.get("why"):
            print(f"    thresholds: {e['why']}")
        if e.get("regression"):
            print(f"    regression gate: {e['regression']}")
    print(f"  warehouse (Parquet, run artifacts, reports): {s['warehouse']}")
    print(f"  history report (open in a browser): {s['history_report']}")
    mon = s.get("monitoring")
    if mon:
        print(
            f"  online monitoring: {len(mon.get('days', []))} synthetic days; drift flagged on the last day: {mon.get('drift_flagged_last_day')}"
        )
    print("  inspect it all in the UI:  make ui   (dg dev, then http://127.0.0.1:3000)")
    failed = [n for n, e in s["versions"].items() if "overall" not in e]
    if failed:
        print(
            f"\nthe pipeline did not complete for: {', '.join(failed)} (see the run logs in the UI)",
            file=sys.stderr,
        )
        return 3
    print(
        "\nA FAIL above is the quality gate doing its job (the candidate regressed); the demo itself completed."
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="eval-pipeline", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--version", action="version", version=f"eval-pipeline {_version()}")
    sub = ap.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("demo", help="run the demo pipeline end to end")
    d.add_argument(
        "--date",
        help="evaluate this one date (default: the recorded demo week; other dates need "
        "EVAL_PROVIDER=anthropic and ANTHROPIC_API_KEY, since the replay provider only has the recordings)",
    )
    d.set_defaults(fn=cmd_demo)
    r = sub.add_parser(
        "run", help="evaluate model versions for one date (CI): PASS/FAIL table, JUnit XML, exit 0/1/2"
    )
    r.add_argument(
        "--suite", help="only the model versions that run this suite, and only its thresholds decide"
    )
    r.add_argument(
        "--model-version", help="model version name (default: every nightly version, production first)"
    )
    r.add_argument("--date", help="partition date YYYY-MM-DD (default: today, UTC)")
    r.add_argument(
        "--families", help="comma-separated score families (default: deterministic,similarity; also judge)"
    )
    r.add_argument(
        "--baseline", help="compare against this model version on the same date (run first if it has no run)"
    )
    r.add_argument("--junit", help="write JUnit XML here")
    r.add_argument(
        "--verbose",
        action="store_true",
        help="Dagster's step log on the console (always in the instance's event log)",
    )
    r.add_argument(
        "--batch",
        action="store_true",
        help="send the model requests through the Message Batches API (half price, slower)",
    )
    r.add_argument("--no-report", action="store_true", help="do not refresh the history report afterwards")
    r.add_argument(
        "--sequential",
        action="store_true",
        help="send samples in a random order, a look every --chunk, and stop paying once the sequential gate "
        "decides (docs/sequential.md); also a suite's regression: sequential: true",
    )
    r.add_argument("--chunk", type=int, default=25, help="samples per look of --sequential (default 25)")
    r.add_argument("--seed", type=int, default=0, help="seed of --sequential's sample order (default 0)")
    r.set_defaults(fn=cmd_run)
    c = sub.add_parser("compare", help="regression report of CANDIDATE against BASELINE")
    c.add_argument("candidate", help="model version name or partition key")
    c.add_argument("baseline", help="model version name or partition key")
    c.add_argument("--date", help="date of both runs (default: the latest date both were scored)")
    c.set_defaults(fn=cmd_compare)
    from eval_pipeline.commands import diff as diff_cmd

    df = sub.add_parser("diff", help="per-sample diff page of CANDIDATE against BASELINE (prints its path)")
    diff_cmd.add_arguments(df)
    df.set_defaults(fn=diff_cmd.run)
    sub.add_parser("validate", help="validate suites, golden-set paths and the model registry").set_defaults(
        fn=cmd_validate
    )
    sub.add_parser("register", help="register model versions as Dagster partitions").set_defaults(
        fn=cmd_register
    )
    _add_everyday_commands(sub)
    args = ap.parse_args(argv)
    if argv is None and args.cmd in ("run", "demo"):  # a command-line process that imports the pipeline
        process.fewer_collections()
        if args.cmd == "run":
            process.pause_until_run()  # resumed when the run starts (commands/process.py)
    if args.cmd != "demo":  # the demo always uses the project's own data
        from eval_pipeline.commands.workdir import apply_folder_defaults

        apply_folder_defaults()
    from eval_pipeline.scoring.errors_report import run_guarded

    code = run_guarded(args.fn, args, f"eval-pipeline {args.cmd}")
    commits = sys.modules.get("eval_pipeline.defs.sqlite_commits")
    if commits is not None:  # the command opened the local instance: its SQLite files synced now
        commits.release()
    if argv is None:  # a command-line process (the ``eval-pipeline`` script, ``python -m``) about to exit
        process.freeze_heap_for_exit()
        if args.cmd == "run":
            process.exit_without_teardown(code)
    return code


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("eval_pipeline")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown (not installed)"


def cmd_view(args: argparse.Namespace) -> int:
    from eval_pipeline.commands.view import show

    if not args.no_refresh:
        from eval_pipeline.defs.cli_history import refresh

        ok, _ = refresh()
        if not ok:
            print(
                "eval-pipeline view: the history refresh failed; see the run in the UI (make ui)",
                file=sys.stderr,
            )
    return show(args)


def _add_everyday_commands(sub) -> None:
    """``init``, ``serve-model``, ``view``, ``plan``, ``review``: implemented in ``eval_pipeline/commands/``."""
    from eval_pipeline.commands import init, plan, review, schema, serve_model, view

    i = sub.add_parser("init", help="scaffold a suite folder that validates and runs right away")
    init.add_arguments(i)
    i.set_defaults(fn=init.run)
    s = sub.add_parser(
        "serve-model",
        help="a SYNTHETIC model server on 127.0.0.1 (no key, no network; EVAL_PROVIDER=synthetic)",
    )
    serve_model.add_arguments(s)
    s.set_defaults(fn=serve_model.run)
    v = sub.add_parser("view", help="refresh the history report and open it (or --serve it on 127.0.0.1)")
    view.add_arguments(v)
    v.set_defaults(fn=cmd_view)
    pl = sub.add_parser(
        "plan", help="sample sizes for 80%%/90%% power and the detectable drop of the current N"
    )
    plan.add_arguments(pl)
    pl.set_defaults(fn=plan.run)
    rv = sub.add_parser(
        "review", help="label the human review queue in a browser (127.0.0.1; feeds calibration)"
    )
    review.add_arguments(rv)
    rv.set_defaults(fn=review.run)
    sc = sub.add_parser(
        "schema", help="JSON Schema of the YAML files (editor completion); --out DIR writes them"
    )
    schema.add_arguments(sc)
    sc.set_defaults(fn=schema.run)


if __name__ == "__main__":
    sys.exit(main())
