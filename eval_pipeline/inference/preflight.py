"""Preflight for ``eval-pipeline validate``: read every golden set and render every prompt for a sample.

In: a loaded :class:`~eval_pipeline.project.loader.Project`. Out: a list of problems (empty = fine),
each naming the file (and line / field, from :class:`~eval_pipeline.ingestion.golden.GoldenSetError`)
or the template, model version and eval set (from
:class:`~eval_pipeline.inference.prompts.PromptRenderError`). Every golden set any model version
uses is read whole (so every bad line is found); its first ``sample`` records are rendered through
the prompt template of every model version that runs it. No model is called and nothing is written.
"""

from __future__ import annotations

from typing import Any

from eval_pipeline.inference.prompts import PromptRenderError, build_requests
from eval_pipeline.ingestion.golden import (
    GoldenSetError,
    decode_golden,
    golden_frame,
    read_golden_set,
)

__all__ = ["preflight"]


def preflight(project: Any, sample: int = 3, date: str = "2000-01-01") -> tuple[list[str], dict[str, int]]:
    """(problems, counts) for every (model version, suite, eval set) of the registry; ``counts`` says
    how many golden sets were read and prompts rendered."""
    problems: list[str] = []
    golden: dict[tuple[str, str], Any] = {}  # (suite, eval set) -> decoded frame of the sample, or None
    rendered = 0
    for mv in project.registry.models:
        try:
            pairs = list(mv.eval_sets(project, None))
        except (ValueError, KeyError) as e:
            problems.append(f"model version {mv.name}: {e}")
            continue
        for suite, es in pairs:
            key = (suite.name, es.name)
            if key not in golden:
                golden[key] = None
                try:
                    records = read_golden_set(
                        es.source_path, es.file_format, es.fields, es.needs_expected, es.max_record_bytes
                    )
                except GoldenSetError as e:
                    problems.append(f"golden set of {suite.name}/{es.name}: {e}")
                    continue
                except OSError as e:
                    problems.append(
                        f"golden set of {suite.name}/{es.name}: cannot read {es.source_path}: {e}"
                    )
                    continue
                rel = str(es.source_path)
                golden[key] = decode_golden(golden_frame(suite.name, es.name, records[:sample], rel))
            frame = golden[key]
            if frame is None or frame.empty:
                continue
            try:
                rendered += len(build_requests(frame, suite, es, mv, date))
            except (PromptRenderError, ValueError, KeyError) as e:
                problems.append(f"prompt of model version {mv.name} for {suite.name}/{es.name}: {e}")
    return problems, {"golden_sets": len(golden), "prompts_rendered": rendered}
