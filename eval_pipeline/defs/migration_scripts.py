"""Dagster's schema-migration scripts read once per CLI process, not once per SQLite database it opens.

In: nothing; :func:`read_once` is called by ``partitions.local_instance`` (``eval-pipeline run``, the demo).
Out: from then on, ``alembic.script.ScriptDirectory.from_config`` returns one ``ScriptDirectory`` per
script location (and version locations) for the rest of the process instead of building a new one per call.

Why: Dagster checks (and on a new file stamps) the schema version of every SQLite database it opens with
alembic, and each check or stamp builds a new ``ScriptDirectory``, which executes all ~90 migration scripts
of the installed Dagster to find the head revision: 7 times for a fresh instance (run storage, event
index, schedules) and twice more for each run's event-log shard, ~0.1 s of CPU per ``eval-pipeline run``
(``nightly_demo``'s ``cli_wall_vs_bare``). The scripts are files of the installed package and do not change
while the process runs, so one parsed directory gives the same revisions; the checks and stamps
themselves still run on every database as before. Nothing is changed when alembic has no
``ScriptDirectory.from_config`` classmethod (a future version): the instance then opens as before.
"""

from __future__ import annotations

import threading
from typing import Any

_lock = threading.Lock()
_cache: dict[tuple[Any, ...], Any] = {}  # (script location, version locations) -> alembic ScriptDirectory
_installed = False


def read_once() -> None:
    """Serve ``ScriptDirectory.from_config`` from a per-process cache (idempotent)."""
    global _installed
    # imported here, not at the top: loading the code location (``import eval_pipeline.definitions``) does
    # not need alembic (~0.15 s); Dagster imports it anyway when a process opens an instance
    from alembic.script import ScriptDirectory  # noqa: PLC0415

    original = getattr(ScriptDirectory.from_config, "__func__", None)
    with _lock:
        if _installed or original is None:
            return

        def from_config(cls, config, *args: Any, **kwargs: Any) -> Any:
            if args or kwargs or cls is not ScriptDirectory:
                return original(cls, config, *args, **kwargs)
            option = getattr(config, "get_alembic_option", config.get_main_option)
            # the options that decide which scripts are read (Dagster's three ini files name the same ones)
            key = tuple(
                option(name)
                for name in ("script_location", "version_locations", "recursive_version_locations")
            )
            with _lock:
                script = _cache.get(key)
            if script is None:
                script = original(cls, config)
                with _lock:
                    script = _cache.setdefault(key, script)
            return script

        ScriptDirectory.from_config = classmethod(from_config)  # type: ignore[method-assign,assignment]
        _installed = True
