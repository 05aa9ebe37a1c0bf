"""Start-up settings of the ``eval-pipeline`` process (``nightly_demo``'s ``cli_wall_vs_bare``): the garbage
collector runs less often in a ``run`` / ``demo`` process, and only there (not in other commands, not when
``main`` is called inside another program such as a test)."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
from pathlib import Path

from eval_pipeline import cli

REPO = Path(__file__).resolve().parents[2]
PROBE = (
    "import gc, sys; sys.argv = ['eval-pipeline', *sys.argv[1:]]; from eval_pipeline import cli; "
    "code = cli.main(); print('RESULT', code, *gc.get_threshold())"
)


def _thresholds(tmp_path: Path, *argv: str) -> tuple[int, tuple[int, ...]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EVAL_", "DAGSTER_"))}
    env.update(
        PYTHONPATH=str(REPO), DAGSTER_HOME=str(tmp_path / "home"), EVAL_WAREHOUSE_URL=str(tmp_path / "wh")
    )
    out = subprocess.run(
        [sys.executable, "-c", PROBE, *argv],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    line = next(x for x in out.stdout.splitlines() if x.startswith("RESULT"))
    code, *thresholds = (int(x) for x in line.split()[1:])
    return code, tuple(thresholds)


def test_run_process_collects_less_often_other_commands_keep_the_defaults(tmp_path):
    # an out-of-range date stops `run` before any work (exit 2), after the setting was made
    assert _thresholds(tmp_path, "run", "--date", "2026-13-40") == (2, (50_000, 50, 100))
    assert _thresholds(tmp_path, "validate") == (0, gc.get_threshold())


def test_main_called_in_process_leaves_the_collector_alone(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    before = gc.get_threshold()
    assert cli.main(["run", "--date", "2026-13-40"]) == 2
    assert gc.get_threshold() == before
