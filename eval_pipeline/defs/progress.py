"""Progress of a Dagster run's steps on the terminal (rich), while the run executes in this process
(``eval-pipeline run`` and the demo; defines nothing).

In: the instance and a function that runs (``execute_in_process`` / ``materialize``) and returns. Out: the
function's result; meanwhile a background thread polls the instance's event log for the newest run
(step starts, successes, failures) and draws one bar per run - ``model_responses`` ... ``eval_run`` -
plus one bar of requests per waiting step (:mod:`eval_pipeline.inference.progress` reports them),
on the process's stderr. Nothing is drawn when it is not a terminal (CI logs stay clean), or with ``quiet``.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from typing import TypeVar

import dagster as dg

from eval_pipeline.inference import progress as sinks

T = TypeVar("T")
POLL_S = 0.4


def _step_events(instance, run_id: str):

    kinds = {
        dg.DagsterEventType.STEP_START,
        dg.DagsterEventType.STEP_SUCCESS,
        dg.DagsterEventType.STEP_FAILURE,
    }
    out = []
    for rec in instance.all_logs(run_id):
        ev = rec.dagster_event
        if ev is not None and ev.event_type in kinds:
            out.append((ev.event_type_value, ev.step_key))
    return out


def with_progress(instance, label: str, expected_steps: int, fn: Callable[[], T], quiet: bool = False) -> T:
    """Run ``fn`` while drawing the step progress of the newest run (``label`` + its partition); returns
    what ``fn`` returns."""
    term = sys.__stderr__  # the terminal even while the demo sends Dagster's log (sys.stderr) to a file
    if quiet or term is None or not term.isatty():
        return fn()
    from rich.console import Console  # noqa: PLC0415 - keeps rich out of `import eval_pipeline.definitions`
    from rich.progress import (  # noqa: PLC0415 - keeps rich out of `import eval_pipeline.definitions`
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TaskID,
        TextColumn,
        TimeElapsedColumn,
    )

    started = time.time()
    done = threading.Event()

    def poll(progress: Progress, task) -> None:
        while not done.wait(POLL_S):
            try:  # the newest run started since we began (``fn`` may run several, one after another)
                records = instance.get_run_records(limit=1)
                if not records or records[0].create_timestamp.timestamp() < started - 1:
                    continue
                run = records[0].dagster_run
                events = _step_events(instance, run.run_id)
            except Exception:  # a read racing the run's own writes: try again on the next tick
                continue
            part = run.tags.get("dagster/partition", "")
            progress.update(task, description=f"{label} {part}".strip())
            finished = {k for t, k in events if t != "STEP_START"}
            running = [k for t, k in events if t == "STEP_START" and k not in finished]
            total = max(expected_steps, len({k for _, k in events}))
            progress.update(
                task, total=total, completed=len(finished), status=", ".join(running[-2:]) or "starting"
            )

    columns = (
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[unit]}  {task.fields[status]}"),
        TimeElapsedColumn(),
    )

    with Progress(*columns, console=Console(file=term), transient=True) as progress:
        task = progress.add_task(label, total=expected_steps, status="starting", unit="steps")
        requests: dict[str, TaskID] = {}

        def request_sink(step: str, p) -> None:  # the model calls of a waiting step, as a second bar
            if step not in requests:
                requests[step] = progress.add_task(f"  {step}", total=p.total, status="", unit="requests")
            status = (
                f"{p.cache_hits} from store, {p.in_flight} in flight, {p.retried} retried, {p.errors} errors"
            )
            progress.update(requests[step], total=p.total, completed=p.done, status=status)

        previous = sinks._SINK[0] if sinks._SINK else None  # e.g. the CLI's plain stderr lines: replaced here
        sinks.set_progress_sink(request_sink)
        thread = threading.Thread(target=poll, args=(progress, task), daemon=True)
        thread.start()
        try:
            return fn()
        finally:
            done.set()
            thread.join(2)
            sinks.set_progress_sink(previous)
