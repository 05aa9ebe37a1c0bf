"""Inputs for the regression gate's unit tests: score rows and one-eval-set suite files.

In: per-sample values and pass flags (and optionally repeats and segments); an eval set's fields.
Out: a frame with the columns of the ``scores`` table the regression report reads; ``suites/s.yaml`` with one
eval set ``e`` (task ``t``) over a one-record golden set, written under a temp folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml


def score_rows(values, passed, metric: str, family: str = "judge", n_rep: int = 1, cats=None) -> pd.DataFrame:
    """Score rows of suite ``s``, eval set ``e``: ``len(values) // n_rep`` samples ``x0, x1, ...`` with ``n_rep``
    repeats each (in sample order), in segment ``c`` unless ``cats`` gives one per row."""
    n = len(values) // n_rep
    return pd.DataFrame(
        {
            "suite": "s",
            "eval_set": "e",
            "sample_id": np.repeat([f"x{i}" for i in range(n)], n_rep),
            "repeat": np.tile(np.arange(n_rep), n),
            "family": family,
            "metric": metric,
            "value": np.asarray(values, float),
            "passed": pd.array(passed, dtype="boolean"),
            "category": cats if cats is not None else "c",
            "infra_error": None,
        }
    )


def one_set_suite(root: Path, eval_set: dict[str, Any], **suite: Any) -> Path:
    """Write ``root/suites/s.yaml``: suite ``s`` (plus the ``suite`` keys) with one eval set ``e`` of task ``t``
    over ``golden/g.jsonl`` (one record), plus the ``eval_set`` fields; return its path."""
    (root / "suites").mkdir(exist_ok=True)
    (root / "golden").mkdir(exist_ok=True)
    (root / "golden" / "g.jsonl").write_text('{"id": "1", "input": "hi", "expected": "x"}\n')
    doc = {
        "name": "s",
        "eval_sets": [{"name": "e", "task": "t", "source": "golden/g.jsonl", **eval_set}],
        **suite,
    }
    path = root / "suites" / "s.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path
