"""Test tiers: every collected test gets exactly one of the markers ``unit``, ``integration``, ``e2e``.

In: a collected test item (its module source and the fixtures it asks for). Out: the tier marker.

* ``e2e``: drives a browser, PostgreSQL or a running Dagster webserver / daemon (needs the Debian
  packages ``chromium`` and ``postgresql``).
* ``integration``: runs Dagster, a loopback server (model API, SeaweedFS S3), a subprocess, or loads
  the embedding model.
* ``unit``: everything else: plain functions on in-memory data and temporary folders.

A module or test can state its tier with ``pytestmark = pytest.mark.<tier>``; otherwise it is read off
the module's source, so a new test file is tiered without a list to keep in sync. ``make test-fast``
runs ``-m unit`` (no apt packages); ``make test`` runs every tier.
"""

from __future__ import annotations

import functools
from pathlib import Path

import pytest

TIERS = ("unit", "integration", "e2e")
_E2E = (
    "playwright",
    "chromium",
    "postgres",
    "dagster-webserver",
    "dagster_webserver",
    "dagster-daemon",
    "dg dev",
)
_INTEGRATION = (
    "dagster",
    "eval_pipeline.defs",
    "eval_pipeline_tests.servers",
    "eval_pipeline.mock_server",
    "subprocess",
    "seaweed",
    "SentenceTransformer",
    "EmbeddingScorer",
    "evaluators.embeddings",
    "eval_pipeline.cli",
    "orchestration_support",
    "benchmarks",
)
_INTEGRATION_FIXTURES = {"seaweed_s3", "instance", "anthropic_server", "server"}


@functools.cache
def _module_tier(path: str) -> str:
    text = Path(path).read_text(encoding="utf-8", errors="replace")
    if any(token in text for token in _E2E):
        return "e2e"
    if any(token in text for token in _INTEGRATION):
        return "integration"
    return "unit"


def tier_of(item: pytest.Item) -> str:
    """The tier of one test: an explicit marker wins, then the module's source, then its fixtures."""
    for tier in TIERS:
        if item.get_closest_marker(tier) is not None:
            return tier
    tier = _module_tier(str(item.path))
    if tier == "unit" and _INTEGRATION_FIXTURES & set(getattr(item, "fixturenames", ())):
        return "integration"
    return tier


def mark_tiers(items: list[pytest.Item]) -> None:
    for item in items:
        tier = tier_of(item)
        if item.get_closest_marker(tier) is None:
            item.add_marker(getattr(pytest.mark, tier))
