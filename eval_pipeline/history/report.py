"""Human-facing output: markdown tables for Dagster metadata, a self-contained HTML report.

In: DataFrames (history tables, regression rows, alerts) and PNG bytes. Out: markdown text and
one HTML page with the charts inlined as data URIs.
"""
from __future__ import annotations

import base64
import html
import math
from dataclasses import dataclass, field

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
# Self-contained HTML report
# ---------------------------------------------------------------------------


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em;color:#222;max-width:1100px}
h1{font-size:1.5em}h2{font-size:1.2em;border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse;font-size:.85em;margin:.5em 0}th,td{border:1px solid #ddd;padding:3px 7px;text-align:right}
th{background:#f4f4f4}td:first-child,th:first-child{text-align:left}
.regression{background:#fdecea}.improvement{background:#eafaf1}.ERROR{background:#fdecea}.WARN{background:#fef9e7}
.note{color:#555;font-size:.9em}img{max-width:100%;border:1px solid #eee;margin:.4em 0}
"""


@dataclass
class ReportSection:
    """One section of the HTML report: a heading, optional paragraph, tables and PNG images."""

    title: str
    text: str = ""
    tables: list[pd.DataFrame] = field(default_factory=list)
    images: list[tuple[str, bytes]] = field(default_factory=list)  # (caption, png bytes)
    max_rows: int = 200


def png_data_uri(png: bytes) -> str:
    """``data:image/png;base64,...`` URI of PNG bytes (embeds the image in the HTML itself)."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _table_html(df: pd.DataFrame, max_rows: int) -> str:
    if df is None or df.empty:
        return '<p class="note">(no rows)</p>'
    cls_col = next((c for c in ("verdict", "severity") if c in df.columns), None)
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    body = []
    for rec in df.head(max_rows).to_dict(orient="records"):
        cls = f' class="{html.escape(str(rec[cls_col]))}"' if cls_col else ""
        body.append(f"<tr{cls}>" + "".join(f"<td>{html.escape(_fmt(v))}</td>" for v in rec.values()) + "</tr>")
    more = f'<p class="note">{len(df) - max_rows} more row(s) not shown</p>' if len(df) > max_rows else ""
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>{more}"


def render_html(title: str, sections: list[ReportSection], subtitle: str = "") -> str:
    """A single self-contained HTML document: inline CSS, images as base64 data URIs, no external assets."""
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
             f"<style>{_CSS}</style></head><body><h1>{html.escape(title)}</h1>"]
    if subtitle:
        parts.append(f'<p class="note">{html.escape(subtitle)}</p>')
    for s in sections:
        parts.append(f"<h2>{html.escape(s.title)}</h2>")
        if s.text:
            parts.append(f"<p>{html.escape(s.text)}</p>")
        for t in s.tables:
            parts.append(_table_html(t, s.max_rows))
        for caption, png in s.images:
            parts.append(f'<figure><img alt="{html.escape(caption)}" src="{png_data_uri(png)}">'
                         f"<figcaption class='note'>{html.escape(caption)}</figcaption></figure>")
    parts.append("</body></html>")
    return "\n".join(parts)


def build_history_report(
    *,
    title: str = "Eval history report",
    regression=None,
    alerts: pd.DataFrame | None = None,
    trends: dict[str, pd.DataFrame] | None = None,
    failure_modes: pd.DataFrame | None = None,
    noise_floor: pd.DataFrame | None = None,
    ops: pd.DataFrame | None = None,
    subtitle: str = "",
) -> str:
    """The standard HTML report: verdicts, alerts, trend charts, failure modes, noise floor, ops.

    Args:
        regression: a :class:`~eval_pipeline.history.stats.RegressionReport` (or ``None``).
        alerts: :func:`~eval_pipeline.history.alerts.evaluate_alerts` rows.
        trends: ``{caption: control-chart frame}``, each drawn with its control limits.
        failure_modes: ``failure_modes`` history rows (shown as a chart and the latest date's table).
        noise_floor: :func:`~eval_pipeline.noise.stats.aa_noise_floor` rows.
        ops: ``ops_history`` rows (latest 30 shown).
    """
    from eval_pipeline.history import charts

    sections: list[ReportSection] = []
    if regression is not None:
        imgs = []
        if len(regression.rows):
            imgs.append(("candidate - baseline pass rate with 95% CI",
                         charts.comparison_chart_png(regression.rows, measure="pass_rate")))
            if (regression.rows["measure"] == "mean_value").any():
                imgs.append(("candidate - baseline mean score with 95% CI",
                             charts.comparison_chart_png(regression.rows, measure="mean_value")))
        sections.append(ReportSection("Candidate vs baseline", regression.message, [regression.rows], imgs))
    if alerts is not None:
        sections.append(ReportSection("Alerts", f"{len(alerts)} alert(s)", [alerts]))
    for caption, chart in (trends or {}).items():
        flagged = int(chart["out_of_control"].sum()) if len(chart) else 0
        sections.append(ReportSection(f"Trend: {caption}", f"{flagged} out-of-control point(s)", [],
                                      [(caption, charts.trend_chart_png(chart, title=caption))]))
    if failure_modes is not None:
        latest = failure_modes[failure_modes["date"] == failure_modes["date"].max()] if len(failure_modes) else failure_modes
        sections.append(ReportSection("Failure modes", "counts per date; table: latest date", [latest],
                                      [("failure modes over time", charts.failure_modes_chart_png(failure_modes))]))
    if noise_floor is not None:
        sections.append(ReportSection("A/A noise floor", "pass-rate difference two runs of the same model show by "
                                      "chance (fractions: 0.03 = 3 points)", [noise_floor]))
    if ops is not None:
        sections.append(ReportSection("Latency and cost", "", [ops.tail(30)]))
    return render_html(title, sections, subtitle)


def summary_markdown(regression=None, alerts: pd.DataFrame | None = None, max_rows: int = 10) -> str:
    """Short markdown for Dagster metadata: verdict counts, top regressions, firing alerts."""
    out = []
    if regression is not None:
        out.append(regression.to_markdown(max_rows=max_rows, only_changes=True))
    if alerts is not None:
        out.append(f"**alerts**: {len(alerts)}\n")
        if len(alerts):
            out.append(markdown_table(alerts[["severity", "rule", "date", "model_version", "suite", "metric",
                                              "message"]], max_rows=max_rows))
    return "\n".join(out)
