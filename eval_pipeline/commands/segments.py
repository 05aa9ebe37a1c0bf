"""What ``eval-pipeline validate`` says about segments, so ``metadata.category`` never becomes one silently.

In: the loaded project. Out: one line per eval set - the field its segments come from (``fields.category``,
default ``metadata.category``) and the rows per segment (the largest first, at most ``shown``), or that it
has none. A golden set that does not read is skipped here (the preflight reports it). Plain Python.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from eval_pipeline.ingestion.golden import GoldenSetError, read_golden_set

if TYPE_CHECKING:
    from eval_pipeline.project.loader import Project


def segment_lines(project: Project, shown: int = 6) -> list[str]:

    lines = []
    for suite in project.suites.values():
        for es in suite.eval_sets:
            try:
                records = read_golden_set(
                    es.source_path, es.file_format, es.fields, es.needs_expected, es.max_record_bytes
                )
            except (GoldenSetError, OSError, ValueError):
                continue
            counts = Counter(r.category for r in records if r.category)
            where = f"eval set {suite.name}/{es.name}: segments from {es.fields.category} (rows in the file)"
            if not counts:
                lines.append(f"{where}: none (no row has it; metrics are over all rows only)")
                continue
            top = ", ".join(f"{k} {n}" for k, n in counts.most_common(shown))
            more = f", +{len(counts) - shown} more" if len(counts) > shown else ""
            unlabelled = sum(1 for r in records if not r.category)
            lines.append(f"{where}: {top}{more}" + (f"; {unlabelled} rows without one" if unlabelled else ""))
    return lines
