"""PNG charts (matplotlib, Agg backend, imported lazily): trend with control limits, candidate vs baseline.

Each function returns PNG bytes; the caller writes them to the warehouse and inlines one small
chart in the Dagster metadata. The interactive HTML report draws its own charts (``report_page``). Uses the
object-oriented ``Figure`` API, no pyplot global state, so it is thread-safe.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:  # matplotlib loads when a chart is drawn
    from matplotlib.figure import Figure

VERDICT_COLORS = {
    "regression": "#c0392b",
    "improvement": "#27ae60",
    "no_change": "#7f8c8d",
    "insufficient_data": "#bdc3c7",
}


def _figure(width: float, height: float) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    return buf.getvalue()


def trend_chart_png(chart: pd.DataFrame, title: str = "", ylabel: str = "pass rate") -> bytes:
    """Trend of one series with its control limits; out-of-control points in red.

    ``chart`` is a control-chart frame (``control_charts.CHART_COLUMNS``). When the chart's
    statistic differs from the raw value (EWMA) both are drawn; CUSUM frames plot the statistic.
    """
    fig = _figure(8, 3.6)
    ax = fig.add_subplot(1, 1, 1)
    x: pd.Series | np.ndarray = pd.to_datetime(chart["x"], errors="coerce") if len(chart) else chart["x"]
    if len(chart) and pd.isna(x).any():
        x = np.arange(len(chart))
    stat = chart["statistic"].to_numpy(dtype=float)
    val = chart["value"].to_numpy(dtype=float)
    is_cusum = (
        bool(len(chart))
        and np.allclose(chart["center"].to_numpy(dtype=float), 0)
        and not np.allclose(val, stat)
    )
    if not is_cusum:
        ax.plot(x, val, "o-", color="#2c3e50", ms=3, lw=1, label="value")
    if not np.allclose(np.nan_to_num(stat), np.nan_to_num(val)):
        ax.plot(x, stat, "-", color="#2980b9", lw=1.5, label="statistic")
    ax.plot(x, chart["center"], "--", color="#7f8c8d", lw=1, label="centre")
    ax.step(x, chart["ucl"], where="mid", color="#e67e22", lw=1, label="control limits")
    ax.step(x, chart["lcl"], where="mid", color="#e67e22", lw=1)
    if "judge_change" in chart and chart["judge_change"].fillna(False).astype(bool).any():
        changes = np.asarray(x)[chart["judge_change"].fillna(False).to_numpy(dtype=bool)]
        for i, xc in enumerate(changes):  # the trend breaks here: limits recomputed after a judge change
            ax.axvline(xc, color="#8e44ad", ls=":", lw=1.5, label="judge changed" if i == 0 else None)
    flagged = chart["out_of_control"].to_numpy(dtype=bool)
    if flagged.any():
        xs = np.asarray(x)[flagged]
        ax.scatter(xs, stat[flagged], s=40, color="#c0392b", zorder=5, label="out of control")
    ax.set_title(title or "trend")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    fig.autofmt_xdate()
    return _png(fig)


def comparison_chart_png(
    rows: pd.DataFrame, title: str = "candidate vs baseline", measure: str = "pass_rate", max_rows: int = 30
) -> bytes:
    """Effect (candidate - baseline) with its CI per metric / segment, coloured by verdict.

    ``rows`` are :func:`eval_pipeline.regression.compare.regression_report` rows; dashed lines mark
    +/- the minimum effect. Pass-rate effects are shown in points.
    """
    df = rows[rows["measure"] == measure].head(max_rows) if len(rows) else rows
    fig = _figure(8, max(2.2, 0.32 * max(len(df), 1) + 1.2))
    ax = fig.add_subplot(1, 1, 1)
    if df is None or df.empty:
        ax.text(0.5, 0.5, "no comparisons", ha="center", va="center")
        ax.set_axis_off()
        return _png(fig)
    scale = 100.0 if measure == "pass_rate" else 1.0
    labels = [
        f"{r.eval_set}/{r.metric}" + ("" if r.segment == "__all__" else f" [{r.segment}]")
        for r in df.itertuples()
    ]
    y = np.arange(len(df))[::-1]
    eff = df["effect"].to_numpy(dtype=float) * scale
    lo = df["ci_low"].to_numpy(dtype=float) * scale
    hi = df["ci_high"].to_numpy(dtype=float) * scale
    colors = [VERDICT_COLORS.get(v, "#7f8c8d") for v in df["verdict"]]
    ax.hlines(y, lo, hi, colors=colors, lw=2)
    ax.scatter(eff, y, c=colors, s=30, zorder=3)
    me = float(df["min_effect"].iloc[0]) * scale
    ax.axvline(0, color="black", lw=0.8)
    for s in (-me, me):
        ax.axvline(s, color="#7f8c8d", lw=0.8, ls="--")
    ax.set_yticks(y, labels, fontsize=7)
    ax.set_xlabel("candidate - baseline" + (" (points)" if measure == "pass_rate" else ""))
    ax.set_title(title)
    ax.grid(axis="x", alpha=0.3)
    return _png(fig)
