"""Import the libraries a run's later steps need while its model requests are in flight.

In: the names of the assets the run will materialize (``None``: every evaluation asset). Out: a started
daemon thread that imports those steps' heavy third-party libraries (nothing when they are loaded).

Why: during the request window the process mostly waits on the network (a 250 ms model, 32 requests in
flight), while the scoring steps after it start by importing scipy.stats (through statsmodels' Wilson
interval), scikit-learn's metrics or, for similarity, sentence-transformers and torch. Imported here, that
time overlaps the wait instead of following the last answer (``eval-pipeline run``'s start-to-exit time,
``nightly_demo``'s ``cli_wall_vs_bare``). Nothing else changes: the steps import the same modules as before
and find them loaded. Only third-party libraries are listed, none of which imports this project, so the
thread never holds the import lock of a module the main thread is importing. A failed import is ignored
here; the step that needs the library imports it again and reports the error where it belongs.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
import threading
from collections.abc import Iterable

# The libraries each step imports first (the heavy ones: hundreds of ms each on a 2-core machine).
STEP_LIBRARIES: dict[str, tuple[str, ...]] = {
    "deterministic_scores": ("statsmodels.stats.proportion", "sklearn.metrics"),
    "similarity_scores": ("statsmodels.stats.proportion", "sentence_transformers"),
    "judge_scores": ("statsmodels.stats.proportion",),
    "eval_run": ("statsmodels.stats.proportion", "sklearn.metrics"),
    "regression_report": ("scipy.stats", "duckdb"),
}


# The SDK a provider imports on its first request (inside the request window, before any request is sent).
PROVIDER_SDKS: dict[str, tuple[str, ...]] = {"anthropic": ("anthropic",), "openai": ("openai",)}


def start_sdks(providers: Iterable[str]) -> threading.Thread | None:
    """Import the SDKs of ``providers`` (model-version provider names) in a daemon thread, at the start of a
    command: the Dagster instance and the run's first steps then wait on disk while the SDK loads, and the first
    request does not wait for it. Unknown providers (python, http) import nothing, and nothing is imported when
    ``EVAL_PROVIDER`` selects stored answers (``replay``) instead of the model versions' providers."""
    if os.environ.get("EVAL_PROVIDER", "") not in ("", "auto", "anthropic", "openai", "synthetic"):
        return None
    modules = [m for p in dict.fromkeys(providers) for m in PROVIDER_SDKS.get(p, ()) if m not in sys.modules]
    return _start(modules)


def import_sdks(providers: Iterable[str]) -> None:
    """Import the SDKs of ``providers`` now, in this thread (waiting for :func:`start_sdks`' thread if it is
    importing one): before a request is sent, so the SDK's import does not compete with other start-up work."""
    _import_all([m for p in dict.fromkeys(providers) for m in PROVIDER_SDKS.get(p, ())])


def libraries_for(steps: Iterable[str] | None) -> list[str]:
    """The libraries of ``steps`` (``None``: of every step), each once, not yet imported."""
    names = STEP_LIBRARIES if steps is None else [s for s in steps if s in STEP_LIBRARIES]
    wanted = dict.fromkeys(lib for s in names for lib in STEP_LIBRARIES[s])
    return [lib for lib in wanted if lib not in sys.modules]


def _import_all(modules: list[str]) -> None:
    for name in modules:
        with contextlib.suppress(Exception):  # the step importing it again reports the error
            importlib.import_module(name)


def start(steps: Iterable[str] | None) -> threading.Thread | None:
    """Import the libraries of ``steps`` in a daemon thread; returns it (None when there is nothing to import)."""
    return _start(libraries_for(steps))


def _start(modules: list[str]) -> threading.Thread | None:
    if not modules:
        return None
    thread = threading.Thread(target=_import_all, args=(modules,), name="eval-warmup-imports", daemon=True)
    thread.start()
    return thread
