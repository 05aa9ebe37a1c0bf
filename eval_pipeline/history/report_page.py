"""The interactive history report as one self-contained HTML file (offline: no CDN, no fetch).

In: ``score_history`` / ``ops_history`` frames, alert rows, event rows, the regression rows of each
version's latest run against production (:func:`eval_pipeline.history.report_sources.comparisons`),
failing samples (:func:`~eval_pipeline.history.report_sources.failing_samples`). Out: HTML text.

Why Plotly: the charts need bands, legends that toggle a version (and its band) and rich hover;
plotly.js is inlined **once** (:func:`plotly_js`: the vendored 1.2 MB basic bundle, the same plotly.js
version as the pinned ``plotly`` package, whose 4.8 MB full bundle is the fallback) and every chart is drawn
in the browser by ``report_page.js`` from ONE compact JSON blob (:mod:`report_data`), so each
number is in the file once, not once per figure. Tables (comparison matrix, alerts, drill-down)
are plain HTML, coloured by verdict / severity; every alert and matrix row links to its chart.
"""

from __future__ import annotations

import html
import json
import math
from importlib import resources
from typing import Any

import pandas as pd

from eval_pipeline.history import report_compare as rc
from eval_pipeline.history import report_data as rd
from eval_pipeline.history.alert_rules import AlertRules
from eval_pipeline.history.alerts import EVIDENCE_COLUMNS
from eval_pipeline.history.report_monitoring import monitoring_html
from eval_pipeline.history.report_summary import (
    attach_thresholds,
    effect_label,
    fold_constant,
    folded_html,
    summary_html,
)

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:1.5em;color:#222}
h1{font-size:1.5em}h2{font-size:1.25em;border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.8em}
h3{font-size:1.05em;margin-top:1.2em}nav a{margin-right:1em}
table{border-collapse:collapse;font-size:.82em;margin:.5em 0}th,td{border:1px solid #ddd;padding:3px 6px;text-align:left;vertical-align:top}
th{background:#f4f4f4}td.num{text-align:right;white-space:nowrap}
.regression{background:#f5b7b1}.improvement{background:#abebc6}.no_change{background:#f2f3f4}.insufficient_data{background:#fdfefe;color:#888}
.inconclusive{background:#fcf3cf}.ERROR{background:#fdecea}td.why{max-width:60em}.WARN{background:#fef9e7}
.note{color:#555;font-size:.88em}.not-live{color:#a04000;font-weight:bold;font-size:.88em}.chart{min-height:300px;border:1px solid #eee;margin:.4em 0}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(560px,1fr));gap:.6em}
td.excerpt{max-width:28em;font-family:ui-monospace,monospace;font-size:.95em}
"""


def _e(v: Any) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    if isinstance(v, float):
        return html.escape(f"{v:.4g}")
    return html.escape(str(v))


def _effect_text(r: Any) -> str:
    scale, unit = (100.0, " pts") if r.measure == "pass_rate" else (1.0, "")
    if r.effect is None or (isinstance(r.effect, float) and math.isnan(r.effect)):
        return effect_label(r)
    return (
        f"{r.effect * scale:+.3g}{unit} [{r.ci_low * scale:+.3g}, {r.ci_high * scale:+.3g}] {effect_label(r)}"
    )


def comparison_matrix_html(rows: pd.DataFrame | None, production: str | None) -> str:
    """Rows: eval set / metric / measure; columns: versions; cell: effect [95 % CI] verdict (coloured).

    The hover title of each cell states the test, n pairs, the (corrected) p and the baseline."""
    if rows is None or rows.empty:
        return '<p class="note">No regression reports yet (a version needs a run with a baseline).</p>'
    versions = sorted(rows["model_version"].unique())
    head = "".join(f"<th>{html.escape(v)}</th>" for v in versions)
    body = []
    keys = ["suite", "eval_set", "metric", "measure"]
    for key, g in rows.sort_values(keys).groupby(keys, sort=False):
        suite, eval_set, metric, measure = key
        cells = []
        for v in versions:
            hit = g[g["model_version"] == v]
            if hit.empty:
                cells.append("<td></td>")
                continue
            r = hit.iloc[0]
            p = r.get("p_gate") if bool(r.get("gating")) else r.get("p_adjusted")
            title = (
                f"{r['test']}, n={r['n_pairs']} pairs, {'gated: p_gate' if bool(r.get('gating')) else 'p_adjusted'}="
                f"{_e(p)}, baseline {r.get('baseline')!s:.6} -> candidate {r.get('candidate')!s:.6}; "
                f"{v}@{r['date']} vs {r.get('against')}"
            )
            text = html.escape(_effect_text(r))
            diff = r.get("diff")
            if isinstance(diff, str) and diff:  # the per-sample diff of this run against its baseline
                text = f'<a class="diff-link" href="{html.escape(diff)}" title="sample by sample">{text}</a>'
            cls = "inconclusive" if effect_label(r) == "inconclusive" else str(r["verdict"])
            cells.append(f'<td class="num {html.escape(cls)}" title="{html.escape(title)}">{text}</td>')
        link = rd.chart_id(suite, eval_set, metric)
        body.append(
            f'<tr><td><a href="#{link}">{html.escape(f"{suite}/{eval_set}")}</a></td>'
            f"<td>{html.escape(str(metric))}</td><td>{html.escape(str(measure))}</td>{''.join(cells)}</tr>"
        )
    return (
        f'<p class="note">Latest run of each version against {html.escape(production or "its baseline")}: '
        "candidate - baseline with the 95% interval of the paired regression report (pass rates in points), "
        "verdict from its test (gated rows: one-sided, discrete-Holm-corrected p_gate; others: BH p_adjusted) and the "
        "minimum effect (no change: the interval within +-minimum effect; inconclusive: it reaches past it). Hover a cell for the test, n and p; click it for the per-sample diff of the two runs.</p>"
        f'<table id="matrix"><thead><tr><th>eval set</th><th>metric</th><th>measure</th>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>"
    )


def _alert_anchor(r: Any) -> str:
    if r.rule == "latency_p95_increase":
        return "ops-latency_p95"
    if r.rule == "cost_increase":
        return "ops-cost_per_sample"
    return rd.chart_id(r.suite, r.eval_set, r.metric)


def alerts_html(alerts: pd.DataFrame | None, max_rows: int = 300) -> str:
    """The alerts table, newest first; each row links to its chart."""
    if alerts is None or alerts.empty:
        return '<p class="note">No alerts.</p>'
    a = alerts.sort_values(["date", "severity"], ascending=[False, True]).head(max_rows)
    cols = ["severity", "rule", "date", "model_version", "eval_set", "metric", *EVIDENCE_COLUMNS]
    head = "".join(f"<th>{c}</th>" for c in cols) + "<th>chart</th>"
    body = []
    for r in a.itertuples():
        tds = "".join(
            f'<td class="{"num" if isinstance(getattr(r, c), float) else ""}">{_e(getattr(r, c))}</td>'
            for c in cols
        )
        body.append(
            f'<tr class="{html.escape(str(r.severity))}">{tds}<td><a class="alert-link" '
            f'href="#{_alert_anchor(r)}">chart</a></td></tr>'
        )
    more = (
        f'<p class="note">{len(alerts) - max_rows} older alert(s) not shown</p>'
        if len(alerts) > max_rows
        else ""
    )
    return f'<table id="alerts"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>{more}'


def samples_html(samples: pd.DataFrame | None, eval_set: str) -> str:
    if samples is None or samples.empty:
        return ""
    s = samples[samples["eval_set"] == eval_set]
    if s.empty:
        return ""
    cols = ["model_version", "sample_id", "n_failed", "failed", "reason", "input", "expected", "output"]
    head = "".join(f"<th>{c}</th>" for c in cols)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="{"excerpt" if c in ("reason", "input", "expected", "output") else ""}">'
            f"{_e(getattr(r, c))}</td>"
            for c in cols
        )
        + "</tr>"
        for r in s.itertuples()
    )
    date = s["date"].iloc[0]
    return (
        f"<h3>Top failing samples of the latest run ({html.escape(str(date))})</h3>"
        f'<p class="note">Excerpts (at most 160 characters) from the score, golden and response tables.</p>'
        f'<table class="samples"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
    )


def _visible_note(data: dict[str, Any]) -> str:
    """The version picker (filled by the page's script) and what is drawn when the page opens."""
    hidden = len(data["versions"]) - len(data["visible"])
    why = (
        f"Drawn when the page opens: production and the {len(data['visible']) - (1 if data['production'] else 0)} "
        f"version(s) with the latest runs; tick a version to draw it in every chart ({hidden} not drawn; "
        '<a href="#all" onclick="setTimeout(() => location.reload(), 0)">draw every version</a>). '
        "Failure modes: the versions drawn on opening."
        if hidden
        else "Untick a version to hide it in every chart."
    )
    return f'<p class="note">Versions: <span id="version-picker"></span><br>{why}</p>'


VENDORED_PLOTLY = "vendor/plotly-basic.min.js"


def plotly_js() -> str:
    """plotly.js to inline: the vendored basic bundle (scatter + bar, 1.2 MB; ``vendor/README.md``) when
    its version equals the pinned ``plotly`` package's plotly.js, else that package's full bundle (4.8 MB)."""
    import plotly.offline  # noqa: PLC0415 - keeps plotly out of `import eval_pipeline.definitions`

    f = resources.files("eval_pipeline.history").joinpath(VENDORED_PLOTLY)
    if f.is_file():
        text = f.read_text(encoding="utf-8")
        if f"v{plotly.offline.get_plotlyjs_version()}\n" in text[:200]:
            return text
    js: str = plotly.offline.get_plotlyjs()  # plotly ships no types
    return js


def _json_script(data: dict[str, Any]) -> str:
    text = json.dumps(data, separators=(",", ":"), allow_nan=False)
    return text.replace("</", "<\\/")


def build_report_html(
    scores: pd.DataFrame,
    ops: pd.DataFrame | None = None,
    *,
    title: str = "Eval history",
    subtitle: str = "",
    production: str | None = None,
    rules: AlertRules | None = None,
    alerts: pd.DataFrame | None = None,
    events: pd.DataFrame | None = None,
    comparisons: pd.DataFrame | None = None,
    samples: pd.DataFrame | None = None,
    summary: list[dict[str, Any]] | None = None,
    thresholds: list[dict[str, Any]] | None = None,
    pairs: dict[str, Any] | None = None,
    monitoring: dict[str, Any] | None = None,
) -> str:
    """The report: the latest date's verdicts (``summary``: :func:`~eval_pipeline.history.report_summary.latest_verdicts`),
    comparison matrix, alerts, one chart per eval set and metric (every version, 95 %
    bands, production control limits, events, alerts), operations, failure modes, drill-down."""
    data = rd.build_report_data(scores, ops, production=production, rules=rules, alerts=alerts, events=events)
    attach_thresholds(data["charts"], thresholds)  # threshold lines (report_summary.chart_thresholds)
    data["charts"], folded = fold_constant(data["charts"])  # constant series carry no information
    rc.annotate_charts(data["charts"], comparisons)  # minimum effect and direction for the pair comparison
    pairs = dict(pairs or {"runs": rc.runs_from_scores(scores), "diffs": []})
    pairs["default"] = rc.default_pair(pairs, summary, production)
    folded_by_set: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for c in folded:
        folded_by_set.setdefault((c["suite"], c["eval_set"]), []).append(c)
    versions = data["versions"]
    by_set: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for c in data["charts"]:
        by_set.setdefault((c["suite"], c["eval_set"]), []).append(c)
    failures = {(f["suite"], f["eval_set"]): f for f in data["failures"]}
    parts = [
        f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{_CSS}</style><script>{plotly_js()}</script></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f'<p class="note">{html.escape(subtitle)} {len(data["dates"])} date(s) '
        f"{html.escape(data['dates'][0] if data['dates'] else '')} .. {html.escape(data['dates'][-1] if data['dates'] else '')}; "
        f"{len(versions)} model version(s); production: {html.escape(production or 'none')}. "
        "Click a legend entry to hide / show a version; hover a point for its n and 95% interval.</p>",
        _visible_note(data),
        '<h2 id="sec-summary">Verdicts of the latest date</h2>',
        summary_html(summary),
        '<nav><a href="#sec-matrix">comparison</a><a href="#sec-compare">any two versions</a>'
        '<a href="#sec-alerts">alerts</a><a href="#sec-monitoring">monitoring</a><a href="#sec-canary">canary</a>'
        '<a href="#sec-quality">quality</a><a href="#sec-ops">operations</a></nav>',
        '<h2 id="sec-matrix">Every version against production (latest run)</h2>',
        comparison_matrix_html(comparisons, production),
        rc.compare_section_html(pairs),
        f'<h2 id="sec-alerts">Alerts ({0 if alerts is None else len(alerts)})</h2>',
        alerts_html(alerts),
        monitoring_html(monitoring),  # online monitoring and the canary (report_monitoring.monitoring_inputs)
        '<h2 id="sec-quality">Quality over time</h2>',
        '<p class="note">Per eval set and metric: every model version a line with its 95% interval band (Wilson '
        "for pass rates, t for means), the production version's control limits (dashed), thresholds of the latest runs (dotted; red when blocking), events (markers at the top; config and judge changes also as dotted lines; "
        "star: release approved, diamond: config change, square: judge change) and alerts (red x).</p>",
    ]
    for key in set(folded_by_set) - set(by_set):  # an eval set whose every chart is constant
        by_set[key] = []
    for (suite, eval_set), charts in sorted(by_set.items()):
        parts.append(
            f'<h3 id="set-{html.escape(rd.chart_id(suite, eval_set, ""))}">{html.escape(f"{suite}/{eval_set}")}</h3><div class="grid">'
        )
        parts += [f'<div class="chart metric-chart" id="{c["id"]}"></div>' for c in charts]
        parts.append("</div>")
        parts.append(folded_html(folded_by_set.pop((suite, eval_set), [])))
        f = failures.get((suite, eval_set))
        if f:
            opts = "".join(
                f'<option value="{p["v"]}">{html.escape(versions[p["v"]])}</option>' for p in f["versions"]
            )
            parts.append(
                f'<p class="note">Failure modes over time: <select id="{f["id"]}-select">{opts}</select></p>'
                f'<div class="chart failure-chart" id="{f["id"]}"></div>'
            )
        parts.append(samples_html(samples, eval_set))
    parts.append(
        '<h2 id="sec-ops">Operations</h2><p class="note">Per run (all eval sets): latency quantiles and TTFT '
        "over responses without an infrastructure error, cost per such response, infrastructure error rate; "
        'n = the responses each is over.</p><div class="grid">'
    )
    parts += [f'<div class="chart ops-chart" id="{c["id"]}"></div>' for c in data["ops"]]
    parts.append("</div>")
    script = resources.files("eval_pipeline.history").joinpath("report_page.js").read_text(encoding="utf-8")
    parts.append(
        f'<script type="application/json" id="report-data">{_json_script(data)}</script>'
        f"<script>{script}</script>{rc.scripts()}</body></html>"
    )
    return "\n".join(parts)
