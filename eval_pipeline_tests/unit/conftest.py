"""The unit tier: the heap is frozen again at the start of every test module (gc.collect, then gc.freeze).

The root conftest freezes what collection imported. Unit tests load more lazily (Presidio and spaCy in the
monitoring tests, statsmodels, ...); without a new freeze every later ``gc.collect()`` walks all of it, and
statsmodels' ``multipletests`` collects on every call: ``regression/test_paired_tests.py``'s 450 calls took
0.3 s alone and 148 s after ``unit/monitoring/``. Garbage is collected before each freeze; what a test creates
afterwards is still collected as usual. Nothing a test computes or asserts changes."""

import gc

import pytest


@pytest.fixture(autouse=True, scope="module")
def _freeze_heap_per_module():
    gc.collect()
    gc.freeze()
    yield
