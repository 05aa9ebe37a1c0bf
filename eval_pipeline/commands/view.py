"""``eval-pipeline view``: open the history report in a browser, or serve it on 127.0.0.1 (``--serve``).

In: the warehouse of ``EVAL_WAREHOUSE_URL``. Out: the report's location printed, a browser opened (when
there is a display) or a loopback server of the reports (:mod:`eval_pipeline.history.report_server`: the
report, its diff pages, and any pair's per-sample diff built on request). The refresh before it
(``eval_history`` in process) is :mod:`eval_pipeline.defs.cli_history`, called by ``cli.py``. Plain Python.
"""

from __future__ import annotations

import argparse
import os
import sys
import webbrowser
from pathlib import Path


def report_location() -> str:
    from eval_pipeline.project.paths import default_warehouse_url
    from eval_pipeline.storage import keys
    from eval_pipeline.storage.location import Location

    return Location.parse(default_warehouse_url()).child(keys.history_report())


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--no-refresh", action="store_true", help="open the report as it is (no eval_history run)")
    p.add_argument(
        "--serve", action="store_true", help="serve the report on 127.0.0.1 instead of opening a browser"
    )
    p.add_argument("--port", type=int, default=8000, help="port of --serve (default 8000)")


def show(args: argparse.Namespace) -> int:
    """Print where the report is and open it (or ``--serve`` it); 2 when there is none yet."""
    where = report_location()
    from eval_pipeline.storage.location import Location

    if Location.parse(where).is_remote:
        print(f"history report: {where} (on object storage: download it, or use a local EVAL_WAREHOUSE_URL)")
        return 0
    path = Path(where)
    if not path.exists():
        print(
            f"eval-pipeline view: no history report at {path} yet: run `eval-pipeline run` first",
            file=sys.stderr,
        )
        return 2
    print(f"history report: {path}")
    if args.serve:  # the reports folder (diff links work) and any pair's diff on request
        import uvicorn

        from eval_pipeline.history.report_server import create_app
        from eval_pipeline.project.paths import default_warehouse_url
        from eval_pipeline.storage.warehouse import Warehouse

        app = create_app(Warehouse.from_url(default_warehouse_url()))
        print(f"serving on http://127.0.0.1:{args.port}/ (the history report; Ctrl-C stops)", flush=True)
        uvicorn.run(app, host="127.0.0.1", port=args.port, access_log=False, log_level="warning")
        return 0
    if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY") or sys.platform in ("darwin", "win32"):
        webbrowser.open(path.as_uri())
    else:
        print("no display here: open it from a machine with a browser, or `eval-pipeline view --serve`")
    return 0
