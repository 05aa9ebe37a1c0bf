"""A partition's model requests started before the Dagster run that uses them (``eval-pipeline run``).

In: the project, a date, a model version, the inference settings of the environment
(:class:`~eval_pipeline.inference.settings.InferenceSettings`) and the warehouse URL. Out: :func:`start` begins
answering the partition's requests in a thread - the plan ``model_responses`` makes (the same golden rows,
validated first), the same provider, response store, step claim and retry budget - and registers it for the
partition; :func:`take`, called by ``model_responses``, hands the step that :class:`HeadStart` when its own plan
asks exactly the same requests with the same settings, else None after the thread has ended (the step then
answers as always: what the head start paid for is in the store, served from there, never paid twice).

Why: an ``eval-pipeline run`` spends about two seconds importing Dagster, opening the instance and starting the
run before ``model_responses`` could send its first request, and then the process mostly waits on the network.
Started here, the requests are in flight during that start-up (``nightly_demo``'s ``cli_wall_vs_bare``). What the
step reports is unchanged: its answers, their provenance, ``api_calls`` (this process's calls) and the responses
table are what its own call would have given; it waits for the last answer as before.

What starts nothing (the step answers itself): a golden set with a problem (no model call before validation), a
plan with agent loops or tool execution, a model version in batch mode, a setting that names no working provider
(the step reports it), and every run this module did not start - launched runs, schedules, the UI. Only the
command line calls :func:`start`, for the first partition it runs.
"""

from __future__ import annotations

import contextlib
import os
import threading
from dataclasses import dataclass, field
from typing import Any

from eval_pipeline.inference import warmup
from eval_pipeline.inference.guard import StepGuard, StepStopped
from eval_pipeline.inference.progress import emit_progress
from eval_pipeline.inference.response_run import plan_inference, run_plan
from eval_pipeline.inference.runner import Progress, RunTiming
from eval_pipeline.inference.settings import InferenceSettings
from eval_pipeline.inference.types import ModelRequest, ModelResponse
from eval_pipeline.ingestion.golden import decode_golden
from eval_pipeline.ingestion.partition_golden import read_partition_golden
from eval_pipeline.project.paths import default_warehouse_url
from eval_pipeline.storage.warehouse import Warehouse

STEP = "model_responses"


class HeadStartCancelled(StepStopped):
    """The command's run stopped before its ``model_responses`` step took the requests started for it."""


@dataclass
class HeadStart:
    """One partition's requests answered in a thread: ``responses`` (or the ``error`` that stopped them), the run's
    ``timing``, the store's size when it opened, the warnings and the last progress report."""

    date: str
    model_version_key: str
    requests: list[ModelRequest]
    settings: InferenceSettings
    warehouse_url: str
    timing: RunTiming = field(default_factory=RunTiming)
    guard: StepGuard = field(default_factory=StepGuard)
    store_entries: int = 0
    warnings: list[str] = field(default_factory=list)
    last_progress: Progress | None = None
    responses: list[ModelResponse] | None = None
    error: BaseException | None = None
    thread: threading.Thread | None = None

    def _progress(self, p: Progress) -> None:
        self.last_progress = p
        emit_progress(STEP, p)

    def wait(self) -> list[ModelResponse]:
        """The answers, once every request is answered; re-raises what stopped the run of the plan."""
        if self.thread is not None:
            self.thread.join()
        if self.error is not None:
            raise self.error
        assert self.responses is not None
        return self.responses

    def cancel(self) -> None:
        """Send nothing more (within a second: the runner's watchdog sees the trip); what was answered is stored."""
        if self.guard.tripped is None:
            self.guard.tripped = HeadStartCancelled(
                f"the run stopped before model_responses took the requests started for {self.model_version_key} "
                f"on {self.date}; the answers received are stored and a rerun is served them"
            )

    def matches(self, requests: list[ModelRequest], settings: InferenceSettings, warehouse_url: str) -> bool:
        """Whether a step asking ``requests`` with ``settings`` on ``warehouse_url`` would make these very calls."""
        same = all(getattr(settings, f) == getattr(self.settings, f) for f in InferenceSettings.model_fields)
        return same and warehouse_url == self.warehouse_url and requests == self.requests


_STARTED: dict[tuple[str, str], HeadStart] = {}
_LOCK = threading.Lock()


def start(
    project: Any,
    date: str,
    model_version: Any,
    settings: InferenceSettings,
    warehouse_url: str,
    endpoint_url: str | None,
) -> HeadStart | None:
    """Start answering ``model_version``'s requests for ``date`` in a thread; None when nothing may start here
    (see the module): the step then does everything itself and reports any problem where it belongs."""
    with _LOCK:
        if getattr(model_version, "batch", False) or (date, model_version.key) in _STARTED:
            return None  # batch mode; or this partition's requests are started already
    try:
        eval_sets = model_version.eval_sets(project)
        frame, _, problems = read_partition_golden(eval_sets, project.base)
        if problems:
            return None
        plan = plan_inference(
            decode_golden(frame),
            eval_sets,
            model_version,
            date,
            project.registry,
            lambda mv: settings.provider_for(project.registry, mv),
        )
        if any(plan.specs) or not plan.requests:
            return None
        provider = settings.provider_for(project.registry, model_version)
        if not getattr(provider, "replay_only", False):  # replay answers from the store: no SDK
            warmup.import_sdks([model_version.provider])  # loaded before Dagster's import competes with it
        backend = Warehouse.from_url(warehouse_url, endpoint_url=endpoint_url).backend
    except Exception:  # the step computes the same again and reports it with its context
        return None
    head = HeadStart(date, model_version.key, plan.requests, settings, warehouse_url)

    def answer() -> None:
        try:
            store = settings.open_store(warehouse_url)
            try:
                head.store_entries = len(store)
                head.responses = run_plan(
                    plan,
                    provider,
                    store,
                    (backend, date, model_version.key),
                    head.warnings.append,
                    progress=head._progress,
                    timing=head.timing,
                    budget=settings.budget(),
                    guard=head.guard,
                )
            finally:
                store.close()
        except BaseException as e:  # handed to the step, which fails as it would have
            head.error = e

    head.thread = threading.Thread(target=answer, name="eval-head-start", daemon=True)
    with _LOCK:
        _STARTED[(date, model_version.key)] = head
    head.thread.start()
    return head


def start_from_env(project: Any, model_version: Any, date: str) -> HeadStart | None:
    """:func:`start` with the settings, warehouse and S3 endpoint of the environment (what the run will resolve)."""
    return start(
        project,
        date,
        model_version,
        InferenceSettings.from_env(),
        os.environ.get("EVAL_WAREHOUSE_URL") or default_warehouse_url(),
        os.environ.get("EVAL_S3_ENDPOINT_URL") or None,
    )


def take(
    date: str,
    model_version_key: str,
    requests: list[ModelRequest],
    settings: InferenceSettings,
    warehouse_url: str,
) -> HeadStart | None:
    """The head start of this partition when it makes exactly the calls the step would, else None (after waiting
    for a mismatched one to end, so the step finds its answers in the store and holds the claim itself)."""
    with _LOCK:
        head = _STARTED.pop((date, model_version_key), None)
    if head is None:
        return None
    if head.matches(requests, settings, warehouse_url):
        return head
    with contextlib.suppress(BaseException):
        head.wait()
    return None


def settle() -> None:
    """Stop every head start no step took (a run that stopped before ``model_responses``, an interrupted command):
    nothing more is sent, the calls in flight are cancelled, and what was answered is stored before the command
    exits, so a rerun is served it instead of paying again."""
    with _LOCK:
        heads = list(_STARTED.values())
        _STARTED.clear()
    for head in heads:
        head.cancel()
        with contextlib.suppress(BaseException):
            head.wait()
