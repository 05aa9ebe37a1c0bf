"""Human-facing output: markdown tables for Dagster metadata; the entry point of the HTML report.

In: DataFrames (history tables, regression rows, alerts). Out: markdown text, and (through
:mod:`eval_pipeline.history.report_page`) one self-contained interactive HTML page.
"""

from __future__ import annotations

import math

import pandas as pd


def _fmt(v) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v).replace("|", "\\|").replace("\n", " ")


def markdown_table(df: pd.DataFrame, max_rows: int = 25) -> str:
    """A small GitHub-style markdown table of the first ``max_rows`` rows (notes how many were cut)."""
    if df is None or df.empty:
        return "_(no rows)_\n"
    cols = list(df.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for rec in df.head(max_rows).itertuples(index=False):
        lines.append("| " + " | ".join(_fmt(v) for v in rec) + " |")
    if len(df) > max_rows:
        lines.append(f"\n_{len(df) - max_rows} more row(s) not shown_")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------
# Self-contained interactive HTML report (page assembly: eval_pipeline.history.report_page)
# ---------------------------------------------------------------------------


def build_history_report(scores: pd.DataFrame, ops: pd.DataFrame | None = None, **kwargs) -> str:
    """The interactive history report (one self-contained HTML file); see
    :func:`eval_pipeline.history.report_page.build_report_html` for the arguments."""
    from eval_pipeline.history.report_page import build_report_html  # noqa: PLC0415 - keeps statsmodels out of `import eval_pipeline.definitions`

    return build_report_html(scores, ops, **kwargs)


def summary_markdown(regression=None, alerts: pd.DataFrame | None = None, max_rows: int = 10) -> str:
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
