"""Shared test setup: offline model loading, no real API, loopback only."""

import os

# Never reach a hub or the real API from tests.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.pop("ANTHROPIC_API_KEY", None)
os.environ.pop("ANTHROPIC_BASE_URL", None)
for _name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "AWS_BEARER_TOKEN_BEDROCK"):
    os.environ.pop(_name, None)
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from eval_pipeline_tests.servers.seaweed import seaweed_fixture  # noqa: E402

# One real SeaweedFS S3 server on 127.0.0.1 for the whole session (modules may define their own).
seaweed_s3 = seaweed_fixture()


import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _no_stale_dagster_defs_state_storage():
    """Dagster keeps the "current" defs-state storage in a ContextVar set by ``with instance:``.
    A module-scoped ``instance_for_test()`` fixture torn down in another context leaves it pointing
    at a dead instance, and the next ``materialize`` fails with "undefined DagsterInstance weakref".
    Each test starts with none; a test's own ``with instance`` sets it again."""
    from dagster._core.definitions.definitions_load_context import DefinitionsLoadContext, DefinitionsLoadType
    from dagster._core.storage.defs_state.base import set_defs_state_storage

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


def pytest_collection_finish(session):
    """Freeze the heap built by importing the package, Dagster, sklearn, torch, ... (gc.freeze).

    statsmodels ``multipletests(method="holm")`` - the gate's correction, via
    ``regression.paired_tests.adjust`` - calls ``gc.collect()`` on every call; a full collection walks that
    whole import heap (~55-65 ms here), so a simulation with 800 Holm corrections spent 200 s in
    the garbage collector. Frozen objects are skipped by collections; everything a test creates
    afterwards is still collected as usual. Nothing a test computes or asserts changes."""
    import gc

    gc.collect()
    gc.freeze()


def pytest_collection_modifyitems(config, items):
    """Give every test its tier marker (unit / integration / e2e; see eval_pipeline_tests/tiers.py)."""
    from eval_pipeline_tests.tiers import mark_tiers

    mark_tiers(items)
