"""Human-facing output: the markdown summary for Dagster metadata; the entry point of the HTML report.

In: DataFrames (history tables, regression rows, alerts). Out: markdown text (tables by
:func:`eval_pipeline.regression.markdown.markdown_table`), and (through
:mod:`eval_pipeline.history.report_page`) one self-contained interactive HTML page.
"""

from __future__ import annotations

from typing import Any, Protocol

import pandas as pd

from eval_pipeline.regression.markdown import markdown_table

# ---------------------------------------------------------------------------
# Self-contained interactive HTML report (page assembly: eval_pipeline.history.report_page)
# ---------------------------------------------------------------------------


def build_history_report(scores: pd.DataFrame, ops: pd.DataFrame | None = None, **kwargs: Any) -> str:
    """The interactive history report (one self-contained HTML file); see
    :func:`eval_pipeline.history.report_page.build_report_html` for the arguments."""
    from eval_pipeline.history.report_page import build_report_html  # noqa: PLC0415 - keeps statsmodels out of `import eval_pipeline.definitions`

    return build_report_html(scores, ops, **kwargs)


class MarkdownSummary(Protocol):
    """A report that renders itself as markdown (e.g. :class:`~eval_pipeline.regression.compare.RegressionReport`)."""

    def to_markdown(self, max_rows: int = ..., only_changes: bool = ...) -> str: ...


def summary_markdown(
    regression: MarkdownSummary | None = None, alerts: pd.DataFrame | None = None, max_rows: int = 10
) -> str:
    """Short markdown for Dagster metadata: verdict counts, top regressions, firing alerts."""
    out = []
    if regression is not None:
        out.append(regression.to_markdown(max_rows=max_rows, only_changes=True))
    if alerts is not None:
        out.append(f"**alerts**: {len(alerts)}\n")
        if len(alerts):
            out.append(
                markdown_table(
                    alerts[["severity", "rule", "date", "model_version", "suite", "metric", "message"]],
                    max_rows=max_rows,
                )
            )
    return "\n".join(out)
