"""The collector settings of an ``eval-pipeline run`` process: paused while it starts, frozen and resumed when the
run starts; a no-op when nothing paused it (``main`` called inside a test or a server)."""

from __future__ import annotations

import gc

import pytest

from eval_pipeline.commands import process


@pytest.fixture
def restore_gc():
    enabled, thresholds = gc.isenabled(), gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)
    (gc.enable if enabled else gc.disable)()
    process._paused[0] = False


def test_start_up_is_not_collected_and_the_run_is(restore_gc):
    gc.enable()
    process.pause_until_run()
    assert not gc.isenabled()
    start_up = [[i] for i in range(1000)]  # what start-up builds (lives until exit)
    process.resume_for_run()
    assert gc.isenabled()
    assert gc.get_freeze_count() >= len(start_up)  # never scanned again
    cycle: list = []
    cycle.append(cycle)  # a reference cycle made by the run is still freed
    del cycle
    assert gc.collect() >= 1


def test_resume_without_a_pause_changes_nothing(restore_gc):
    gc.enable()
    frozen = gc.get_freeze_count()
    process.resume_for_run()
    assert gc.isenabled() and gc.get_freeze_count() == frozen
    gc.disable()  # disabled by someone else (not paused here): left disabled
    process.resume_for_run()
    assert not gc.isenabled()
