"""The process of an ``eval-pipeline run`` / ``demo`` command: its garbage collector and its exit (only when
``cli.main`` is the process's command: never inside a test or a server that calls ``main``).

In: the phase of the command (start-up, the run, exit). Out: the collector's settings for that phase, and the
end of the process (:func:`exit_without_teardown`).

Why (``nightly_demo``'s ``cli_wall_vs_bare``, a 500-sample ``run`` on a 2-core machine): importing Dagster,
pandas, scipy and the SDK creates ~700,000 objects that live until the process ends. With the default
thresholds the collector scanned them again and again (0.8-0.9 s of ~6 s CPU); with the thresholds of
:func:`fewer_collections` the youngest generation is still scanned once per 50,000 new objects: 55 collections,
0.27-0.30 s CPU per run, most of them while the command starts (imports, the instance, the job). During
start-up (:func:`pause_until_run`) nothing is collected; when the run starts (:func:`resume_for_run`) what
start-up built is moved to the permanent generation (``gc.freeze``: never scanned again; it lives until exit
anyway) and collection resumes at those thresholds for what the run creates. Start-up makes few reference
cycles (the four collections before the thresholds are set free ~200 objects); those stay until exit.
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import os
import sys
import threading

_paused = [False]


def fewer_collections() -> None:
    """The youngest generation collected every 50,000 new objects instead of 700, the older ones every 50 and 100
    collections instead of 10 and 10. Reference cycles are still freed, in fewer, larger collections."""
    gc.set_threshold(50_000, 50, 100)


def pause_until_run() -> None:
    """No collection until :func:`resume_for_run` (an ``eval-pipeline run`` starting: imports, instance, job)."""
    if gc.isenabled():
        gc.disable()
        _paused[0] = True


def resume_for_run() -> None:
    """Freeze what start-up built and collect again (nothing to do unless :func:`pause_until_run` paused it)."""
    if _paused[0]:
        gc.freeze()
        gc.enable()
        _paused[0] = False


def freeze_heap_for_exit() -> None:
    """Move every live object to the permanent generation (``gc.freeze``), so the full collection the interpreter
    runs at shutdown does not walk the heap of pandas, Dagster and SDK objects a run leaves: 0.8 s of every
    ``eval-pipeline run`` on a 2-core machine, 0.05 s after this. Finalizers and ``atexit`` handlers still run,
    files are still closed; only cycles left at exit are not collected, which the process ending frees anyway."""
    gc.freeze()


def exit_without_teardown(code: int) -> None:
    """End the process now with ``code``, as a normal exit does for everything the command wrote, but without
    Python's teardown of every module and object (~0.1-0.2 s for the heap of a run: ``exit_test`` in the
    commit): the ``atexit`` handlers run (logging flushed, the SQLite files synced, temporary folders removed),
    stdout and stderr are flushed, then ``os._exit``. Every file the command writes is closed by then (written in
    ``with`` blocks). Returns without exiting when a thread other than the main one is still running (Python
    then joins it as usual)."""
    if any(t.is_alive() and t is not threading.main_thread() and not t.daemon for t in threading.enumerate()):
        return
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):  # a closed or broken pipe: nothing more can be written anyway
            stream.flush()
    os._exit(code)
