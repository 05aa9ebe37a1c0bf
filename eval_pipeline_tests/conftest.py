"""Shared test setup: offline model loading, no real API, loopback only; tiers from folders (tiers.py)."""

import os

# Never reach a hub or the real API from tests.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.pop("ANTHROPIC_API_KEY", None)
os.environ.pop("ANTHROPIC_BASE_URL", None)
for _name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "AWS_BEARER_TOKEN_BEDROCK"):
    os.environ.pop(_name, None)
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from eval_pipeline_tests.support.servers.seaweed import seaweed_fixture  # noqa: E402

# One real SeaweedFS S3 server on 127.0.0.1 for the whole session (modules may define their own).
seaweed_s3 = seaweed_fixture()


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
    """Mark every test with its folder's tier (unit / integration / e2e); a test file outside those
    folders fails collection (eval_pipeline_tests/tiers.py)."""
    from eval_pipeline_tests.tiers import mark_tiers

    mark_tiers(items)


def pytest_sessionstart(session):
    """Point absl's log handler (absl comes with ``rouge_score``) at the real stderr.

    absl builds its handler on ``sys.stderr`` at import, which under pytest is the session's capture file.
    Every in-process Dagster run on an instance with a ``dagster.yaml`` calls ``logging.config.dictConfig``,
    which closes all existing handlers; absl's ``close()`` closes its stream when that stream is no longer
    ``sys.stderr`` - true in any test using ``capsys`` - so pytest's capture file was closed under the
    session ("I/O operation on closed file", then "lost sys.stderr") whenever a test that imported absl ran
    before a CLI test. A user's process keeps one ``sys.stderr``, so this is a test-harness effect only."""
    import sys

    import absl.logging

    absl.logging.get_absl_handler().python_handler.stream = sys.__stderr__
