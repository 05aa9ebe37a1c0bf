"""Test tiers: the folder a test file sits in is its tier, and its marker.

In: the collected test items. Out: each item marked ``unit``, ``integration`` or ``e2e`` (declared in
``pyproject.toml``); a usage error, naming the files and the folders, for a test file outside the tier
folders or a unit test module that reaches for what the unit tier must run without.

* ``unit/`` mirrors the package tree (``unit/history/test_alerts.py`` tests ``eval_pipeline/history/alerts.py``):
  plain functions on in-memory data and temporary folders. No Dagster, no server, no subprocess, no
  Debian package (chromium, PostgreSQL). ``make test-fast`` runs this folder.
* ``integration/``: real servers on loopback (model APIs, SeaweedFS S3, DuckDB over S3), the embedding
  model, subprocesses, Dagster definitions, schedules, sensors and in-process materialisations of a few
  assets.
* ``e2e/``: Dagster runs end to end, the CLI end to end, a browser (Debian chromium), PostgreSQL.

Test servers and shared fixtures live in ``support/``; benchmarks in ``benchmarks/`` (not collected).
"""

from __future__ import annotations

import functools
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent
TIERS = ("unit", "integration", "e2e")
# What a unit test module may not mention: Debian packages, servers, Dagster (the unit tier runs without them).
UNIT_FORBIDDEN = (
    "playwright",
    "chromium",
    "postgres",
    "initdb",
    "pg_ctl",
    "support.servers",
    "seaweed",
    "import dagster",
    "from dagster",
    "eval_pipeline.defs",
    "eval_pipeline.cli",
    "subprocess",
)


def tier_of(path: Path) -> str | None:
    """The tier folder a test file sits in (``None`` outside ``unit/``, ``integration/``, ``e2e/``)."""
    try:
        parts = path.resolve().relative_to(ROOT).parts
    except ValueError:
        return None
    return parts[0] if len(parts) > 1 and parts[0] in TIERS else None


@functools.cache
def _unit_violations(path: str) -> tuple[str, ...]:
    text = Path(path).read_text(encoding="utf-8", errors="replace")
    return tuple(token for token in UNIT_FORBIDDEN if token in text)


def mark_tiers(items: list[pytest.Item]) -> None:
    """Mark every item with its folder's tier; fail collection for files outside the tiers or impure units."""
    outside: set[str] = set()
    impure: dict[str, tuple[str, ...]] = {}
    for item in items:
        path = Path(str(item.path))
        tier = tier_of(path)
        if tier is None:
            outside.add(str(path))
            continue
        if tier == "unit" and (found := _unit_violations(str(path))):
            impure[str(path)] = found
        item.add_marker(getattr(pytest.mark, tier))
    if outside:
        raise pytest.UsageError(
            "test files outside the tier folders: "
            + ", ".join(sorted(outside))
            + f"\nMove each into {ROOT.name}/unit/<package>/ (plain functions, mirroring eval_pipeline/), "
            f"{ROOT.name}/integration/ (loopback servers, S3, Dagster materialisations) or "
            f"{ROOT.name}/e2e/ (Dagster runs end to end, CLI, browser, PostgreSQL); "
            f"servers and fixtures go to {ROOT.name}/support/. See {ROOT.name}/README.md."
        )
    if impure:
        raise pytest.UsageError(
            "unit test modules that need more than plain functions (the unit tier runs without them): "
            + "; ".join(f"{p} mentions {', '.join(found)}" for p, found in sorted(impure.items()))
            + f"\nMove the test to {ROOT.name}/integration/ or {ROOT.name}/e2e/. See {ROOT.name}/README.md."
        )
