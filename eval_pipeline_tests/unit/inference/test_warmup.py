"""The request-window warm-up (``inference/warmup.py``): which libraries, imported in a thread, errors ignored."""

from __future__ import annotations

import sys

from eval_pipeline.inference import warmup


def test_libraries_follow_the_selected_steps_once_each():
    libs = warmup.STEP_LIBRARIES
    assert warmup.libraries_for([]) == []
    assert warmup.libraries_for(["golden_samples", "model_responses"]) == []  # nothing heavy after them
    det = warmup.libraries_for(["deterministic_scores", "eval_run", "regression_report"])
    assert len(det) == len(set(det))
    assert set(det) <= {*libs["deterministic_scores"], *libs["eval_run"], *libs["regression_report"]}
    assert "sentence_transformers" not in det or "sentence_transformers" in sys.modules  # similarity only
    every = warmup.libraries_for(None)
    assert set(det) <= set(every)
    assert all(lib not in sys.modules for lib in every)  # what is loaded already is not listed


def test_the_thread_imports_them_and_ignores_a_failing_import(monkeypatch):
    monkeypatch.setattr(
        warmup, "STEP_LIBRARIES", {"a_step": ("no_such_library_xyz", "colorsys"), "other": ("json",)}
    )
    monkeypatch.delitem(sys.modules, "colorsys", raising=False)
    assert warmup.libraries_for(["a_step"]) == ["no_such_library_xyz", "colorsys"]
    thread = warmup.start(["a_step"])
    assert thread is not None and thread.daemon
    thread.join(30)
    assert not thread.is_alive() and "colorsys" in sys.modules  # imported after the failing one
    assert warmup.start(["other"]) is None  # json is loaded: nothing to do


def test_provider_sdks_only_for_live_providers(monkeypatch):
    monkeypatch.setattr(warmup, "PROVIDER_SDKS", {"anthropic": ("colorsys",)})
    monkeypatch.delitem(sys.modules, "colorsys", raising=False)
    monkeypatch.setenv("EVAL_PROVIDER", "replay")  # stored answers: no SDK is needed
    assert warmup.start_sdks(["anthropic"]) is None
    monkeypatch.setenv("EVAL_PROVIDER", "")
    assert warmup.start_sdks(["python", "http"]) is None
    thread = warmup.start_sdks(["anthropic", "anthropic"])
    thread.join(30)
    assert "colorsys" in sys.modules
