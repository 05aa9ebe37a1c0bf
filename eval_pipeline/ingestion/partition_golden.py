"""The golden rows of one partition: every eval set its model version is evaluated on, read and sampled.

In: the partition's ``(suite, eval set)`` pairs and the project folder. Out: :func:`read_partition_golden`
-> the ``golden`` table rows of all of them, a summary row per eval set (source, records, sampled,
file fingerprint) and the problems of the golden files that failed validation (file, line, field),
so the asset can fail before a single model call; :func:`golden_preview`, a short markdown preview.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from eval_pipeline.ingestion.golden import (
    GoldenSetError,
    file_fingerprint,
    golden_frame,
    read_golden_set,
    sample_in_file_order,
)
from eval_pipeline.project.schemas import GOLDEN_COLUMNS


def read_partition_golden(
    eval_sets: list[tuple[Any, Any]], base: Path
) -> tuple[pd.DataFrame, list[dict[str, Any]], list[str]]:
    """``(golden rows, summary per eval set, problems)`` of the partition's eval sets."""
    frames, summary, problems = [], [], []
    for suite, es in eval_sets:
        try:
            records = read_golden_set(
                es.source_path, es.file_format, es.fields, es.needs_expected, es.max_record_bytes
            )
        except GoldenSetError as e:
            problems.append(str(e))
            continue
        picked = sample_in_file_order(
            records, es.sample.n if es.sample else None, es.sample.seed if es.sample else 0
        )
        rel = str(es.source_path.relative_to(base))
        frames.append(golden_frame(suite.name, es.name, picked, rel))
        summary.append(
            {
                "suite": suite.name,
                "eval_set": es.name,
                "family": es.family,
                "source": rel,
                "records": len(records),
                "sampled": len(picked),
                "sha256": file_fingerprint(es.source_path),
            }
        )
    df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=GOLDEN_COLUMNS)
    return df, summary, problems


def golden_preview(df: pd.DataFrame, n: int = 5) -> str:
    """The first ``n`` golden rows as markdown, inputs and expected answers cut to 80 characters."""
    cols = ["eval_set", "sample_id", "input_json", "expected_json", "category"]
    short = df[cols].head(n).copy()
    for c in ("input_json", "expected_json"):
        short[c] = (
            short[c].str.slice(0, 80).str.replace("|", "\\|", regex=False).str.replace("\n", " ", regex=False)
        )
    return short.to_markdown(index=False)
