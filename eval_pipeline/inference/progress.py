"""Where a waiting step's progress goes besides the Dagster log: one process-wide sink.

In: ``(step, Progress)`` from the assets' progress callbacks (done / total / from store / in flight /
retried / errors / seconds; :class:`~eval_pipeline.inference.runner.Progress`). Out: nothing, unless a
front end installed a sink with :func:`set_progress_sink` (the CLI does, to show a waiting step;
``eval-pipeline run`` runs its steps in process, so the sink sees them). The sink must be cheap and
never raise; errors in it are swallowed so progress display can never fail a step.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable
from typing import Any

__all__ = ["emit_progress", "set_progress_sink"]

_SINK: list[Callable[[str, Any], None]] = []


def set_progress_sink(sink: Callable[[str, Any], None] | None) -> None:
    """Install (or with None remove) the process's progress sink."""
    _SINK[:] = [sink] if sink is not None else []


def emit_progress(step: str, progress: Any) -> None:
    """Pass one progress report to the sink, if any."""
    for sink in _SINK:
        with contextlib.suppress(Exception):  # display only: never fail the step
            sink(step, progress)


def stderr_sink(min_elapsed_s: float = 5.0, every_s: float = 5.0) -> Callable[[str, Any], None]:
    """A minimal sink for the CLI: once a step has waited ``min_elapsed_s``, one line to stderr every
    ``every_s`` (and when it ends): ``<step>: done/total done, n in flight, n retried (s)``."""

    last: dict[str, float] = {}

    def sink(step: str, p: Any) -> None:
        if p.elapsed_s < min_elapsed_s:
            return
        now = time.monotonic()
        if now - last.get(step, 0.0) < every_s and p.done != p.total:
            return
        last[step] = now
        print(
            f"  {step}: {p.done}/{p.total} done ({p.cache_hits} from store), {p.in_flight} in flight, "
            f"{p.retried} retried, {p.errors} errors ({p.elapsed_s:.0f} s)",
            file=sys.stderr,
            flush=True,
        )

    return sink
