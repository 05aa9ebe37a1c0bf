"""Dagster's current defs-state storage reset around every test of the tiers that run Dagster.

In: nothing (an autouse fixture, imported by ``integration/conftest.py`` and ``e2e/conftest.py``).
Out: each test starts with no defs-state storage and a load context of its own.
"""

from __future__ import annotations

import pytest
from dagster._core.definitions.definitions_load_context import DefinitionsLoadContext, DefinitionsLoadType
from dagster._core.storage.defs_state.base import set_defs_state_storage


@pytest.fixture(autouse=True)
def _no_stale_dagster_defs_state_storage():
    """Dagster keeps the "current" defs-state storage in a ContextVar set by ``with instance:``.
    A module-scoped ``instance_for_test()`` fixture torn down in another context leaves it pointing
    at a dead instance, and the next ``materialize`` fails with "undefined DagsterInstance weakref".
    Each test starts with none; a test's own ``with instance`` sets it again."""
    with set_defs_state_storage(None):
        # Our definitions keep no defs-state: pin a load context with none, so building a repository
        # never consults whatever storage some earlier code left current (seen as a flaky
        # "Attempted to resolve undefined DagsterInstance weakref" depending on test order).
        previous = DefinitionsLoadContext._instance
        DefinitionsLoadContext.set(DefinitionsLoadContext(load_type=DefinitionsLoadType.INITIALIZATION))
        try:
            yield
        finally:
            DefinitionsLoadContext._instance = previous
