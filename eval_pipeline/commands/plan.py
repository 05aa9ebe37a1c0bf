"""``eval-pipeline plan [--suite S] [--json]``: how many samples each gated row needs, and what the current N misses.

In: the project's suites (their ``regression:`` options and blocking thresholds make the gated family), the stored
regression reports of the warehouse (``reports/regression/.../report.json``: discordance, SD, baseline, N seen) and
the golden sets (the current N where no report says it). Out: per eval set and gated metric, the N for 80 % / 90 %
power to detect a drop of ``min_effect`` and the minimal detectable effect now (``regression/planning.py``), printed;
``--json`` prints the rows as JSON. Exit 0, or 2 on a configuration error. No model call, nothing written.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from eval_pipeline.project.suites import EvalSet


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--suite", help="only this suite (default: every suite)")
    p.add_argument("--json", action="store_true", help="print the plan rows as JSON")


def current_n(eval_set: EvalSet) -> int | None:
    """Rows of the eval set's golden set after ``sample:`` (``None`` when the file does not read)."""
    from eval_pipeline.ingestion.golden import GoldenSetError, read_golden_set

    try:
        n = len(
            read_golden_set(
                eval_set.source_path,
                eval_set.file_format,
                eval_set.fields,
                eval_set.needs_expected,
                eval_set.max_record_bytes,
            )
        )
    except (GoldenSetError, OSError, ValueError):
        return None
    return (
        min(n, eval_set.sample.n)
        if eval_set.sample is not None and getattr(eval_set.sample, "n", None)
        else n
    )


def run(args: argparse.Namespace) -> int:
    from eval_pipeline.project.errors import ConfigError
    from eval_pipeline.project.loader import load_project
    from eval_pipeline.project.paths import default_warehouse_url
    from eval_pipeline.regression.planning import plan_lines, plan_suite, stored_reports
    from eval_pipeline.storage.warehouse import Warehouse

    try:
        project = load_project()
        if args.suite is not None and args.suite not in project.suites:
            raise ValueError(f"unknown suite {args.suite!r}; known: {sorted(project.suites)}")
    except (ConfigError, ValueError) as e:
        print(f"eval-pipeline plan: configuration error: {e}", file=sys.stderr)
        return 2
    wh = Warehouse.from_env(default_url=default_warehouse_url())
    rows = []
    for name, suite in sorted(project.suites.items()):
        if args.suite is not None and name != args.suite:
            continue
        plans = plan_suite(
            suite, stored_reports(wh, name), {es.name: current_n(es) for es in suite.eval_sets}
        )
        rows += [p.to_dict() for p in plans]
        if not args.json:
            cfg = suite.regression_config()
            print(
                f"suite {name}: {len(plans)} gated rows, alpha {cfg.alpha:g} ({cfg.gate_procedure}), "
                f"min effect {cfg.min_effect * 100:g} points (pass rates)"
            )
            print("\n".join("  " + line for line in plan_lines(plans, cfg.alpha)))
    if args.json:
        print(json.dumps(rows, indent=1))
    return 0
