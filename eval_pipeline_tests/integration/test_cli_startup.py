"""Start-up and exit settings of the ``eval-pipeline`` process (``nightly_demo``'s ``cli_wall_vs_bare``): the garbage
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
# the thresholds at exit, from an exit handler (a `run` process ends in os._exit after its exit handlers)
PROBE = (
    "import atexit, gc, sys; sys.argv = ['eval-pipeline', *sys.argv[1:]]; from eval_pipeline import cli; "
    "atexit.register(lambda: print('RESULT', *gc.get_threshold(), flush=True)); sys.exit(cli.main())"
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
    return out.returncode, tuple(int(x) for x in line.split()[1:])


def test_run_process_collects_less_often_other_commands_keep_the_defaults(tmp_path):
    # an out-of-range date stops `run` before any work (exit 2), after the setting was made
    assert _thresholds(tmp_path, "run", "--date", "2026-13-40") == (2, (50_000, 50, 100))
    assert _thresholds(tmp_path, "validate") == (0, gc.get_threshold())


def test_main_called_in_process_leaves_the_collector_alone(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    before = gc.get_threshold()
    assert cli.main(["run", "--date", "2026-13-40"]) == 2
    assert gc.get_threshold() == before


def test_run_process_exits_without_teardown_after_the_exit_handlers(tmp_path):
    out = tmp_path / "handler.txt"
    script = (
        "import atexit, sys; from eval_pipeline.commands import process; "
        f"atexit.register(lambda: open({str(out)!r}, 'w').write('ran')); "
        "print('printed', end=''); sys.stderr.write('warned'); process.exit_without_teardown(3); "
        "print('not reached')"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, env=env)
    assert (done.returncode, done.stdout, done.stderr) == (3, "printed", "warned")  # buffered output flushed
    assert out.read_text() == "ran"
    # a running non-daemon thread: the process is left to exit normally (the thread is joined)
    waiting = (
        "import threading, time; from eval_pipeline.commands import process; "
        "t = threading.Thread(target=lambda: (time.sleep(0.3), print('joined'))); t.start(); "
        "process.exit_without_teardown(3); print('returned')"
    )
    done = subprocess.run(
        [sys.executable, "-c", waiting], capture_output=True, text=True, timeout=60, env=env
    )
    assert (done.returncode, done.stdout.split()) == (0, ["returned", "joined"])
