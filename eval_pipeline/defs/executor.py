"""The executor of the evaluation jobs: in process by default, Dagster's multiprocess executor on request.

In: a run's ``execution: {config: {in_process: {...}}}`` or ``{config: {multiprocess: {...}}}`` (launchpad,
schedule or sensor run config; the options are Dagster's own), and the deployment default ``EVAL_EXECUTOR``
(``in_process`` | ``multiprocess``, read when the code location loads). Out: Dagster's in-process or
multiprocess executor for the run.

Why in process by default (``python -m eval_pipeline_tests.benchmarks.nightly_demo``, the demo partitions,
2 cores): a multiprocess step starts a process and rebuilds the instance, storage and plan for that one step.
With ``forkserver`` and the package preloaded that cost 6.6 s once per run (the fork server imports the code
location again) plus about 1 s per step, 9 steps: 0.32-0.44 of a partition run's wall time was orchestration;
with Dagster's default ``spawn`` 0.67-0.69. In process it is a few percent. What the multiprocess executor
gives beyond that is small in these jobs: steps only run side by side where two score families do (the
deterministic checks beside the MiniLM encode), and on 2 cores that saved less than a second.

Kept in process: a step that raises fails alone - the steps that do not depend on it still run and
materialize, and the run is marked failed (tested in ``integration/defs/test_executor.py``). Given up in process:
a hard crash (segfault, out-of-memory kill) ends the whole run instead of one step, and families do not run in
parallel. A deployment with many cores, or a model library that can crash the interpreter, selects
``multiprocess`` (per run in the launchpad, or for every run with ``EVAL_EXECUTOR=multiprocess``); its default
start method there is ``forkserver`` with :data:`PRELOAD_MODULES` preloaded. ``execute_in_process``
(``eval-pipeline run``, tests) runs in process either way.
"""

from __future__ import annotations

import os
from typing import Any, cast

import dagster as dg

MODES = ("in_process", "multiprocess")
# preloaded once in the fork server of the multiprocess mode; torch is not (not fork-safe once initialised):
# the similarity step loads it
PRELOAD_MODULES = [
    "eval_pipeline.definitions",
    "pandas",
    "pyarrow.parquet",
    "duckdb",
    "scipy.stats",
    "anthropic",
]
FORKSERVER = {"forkserver": {"preload_modules": PRELOAD_MODULES}}


def default_mode() -> str:
    """The deployment's default mode from ``EVAL_EXECUTOR`` (unset: ``in_process``); a bad value fails the load
    naming the variable and the choices."""
    mode = os.environ.get("EVAL_EXECUTOR", "").strip() or "in_process"
    if mode not in MODES:
        raise ValueError(f"EVAL_EXECUTOR={mode!r}: use one of {', '.join(MODES)} (unset: in_process)")
    return mode


def _requirements(config):
    mode, inner = next(iter(config.items()))
    return dg.multiprocess_executor.get_requirements(inner) if mode == "multiprocess" else []


def _build(mode: str) -> dg.ExecutorDefinition:
    @dg.executor(
        name="eval_executor",
        config_schema=dg.Field(
            dg.Selector(
                {
                    "in_process": dg.in_process_executor.config_field,
                    "multiprocess": dg.multiprocess_executor.config_field,
                }
            ),
            default_value={mode: {}},
            description="in_process (default: steps run one after another in the run worker) or "
            "multiprocess (a process per step; default start method forkserver with the "
            "package preloaded). See eval_pipeline/defs/executor.py.",
        ),
        requirements=_requirements,
    )
    def eval_executor(init_context: dg.InitExecutorContext) -> dg.Executor:
        # Dagster types executor_config as Mapping[str, object]; the Selector above makes it {mode: dict}
        chosen, config = cast(tuple[str, dict[str, Any]], next(iter(init_context.executor_config.items())))
        inner = dg.in_process_executor if chosen == "in_process" else dg.multiprocess_executor
        if chosen == "multiprocess" and not config.get("start_method"):
            config = {**config, "start_method": FORKSERVER}
        create = inner.executor_creation_fn
        assert (
            create is not None
        )  # typed Optional; both built-in executors are made by @executor, which sets it
        return create(
            dg.InitExecutorContext(
                job=init_context.job,
                executor_def=inner,
                executor_config=config,
                instance=init_context.instance,
            )
        )

    return eval_executor


EVAL_EXECUTOR = _build(default_mode())
