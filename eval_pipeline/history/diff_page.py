"""The per-sample diff of two runs as one self-contained HTML file (offline: no CDN, no fetch).

In: the dict of :func:`eval_pipeline.history.diff_data.assemble` / :func:`~eval_pipeline.history.diff_data.load_run_pair`.
Out: HTML text (:func:`build_diff_html`), or the page written to the warehouse beside the regression report
(:func:`write_run_diff`, key :func:`eval_pipeline.storage.keys.diff_page`).

The samples travel as ONE JSON blob in a ``<script type="application/json">`` (every ``<`` escaped, so no
answer can close it); ``diff_page.js`` draws one page of samples at a time (25 by default) with the DOM's
``textContent``, so model output is never parsed as HTML, and 5,000 samples open in well under a second.
Filters: status (regressed / improved / mixed / unchanged), eval set, segment, a check whose verdict changed,
text search over input, answers and reasons; sort by the size of the change (default), by text similarity
or by id. Pickers above the samples open any other pair of versions and dates (:mod:`eval_pipeline.history.pair_index`).
"""

from __future__ import annotations

import html
import json
from importlib import resources
from typing import Any

from eval_pipeline.history.diff_data import load_run_pair
from eval_pipeline.history.pair_index import picker_data
from eval_pipeline.storage import keys
from eval_pipeline.storage.warehouse import Warehouse

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:1.2em;color:#222}
h1{font-size:1.4em}.note{color:#555;font-size:.88em}
#controls{position:sticky;top:0;background:#fff;padding:.4em 0;border-bottom:1px solid #ddd;z-index:2}
#controls select,#controls input,#controls button{margin:.15em .3em .15em 0;font-size:.9em}
.sample{border:1px solid #ddd;border-left:6px solid #ccc;margin:.8em 0;padding:.5em .7em}
.st-regressed{border-left-color:#c0392b}.st-improved{border-left-color:#27ae60}.st-mixed{border-left-color:#e67e22}
.badge{display:inline-block;padding:0 .5em;margin-right:.6em;border-radius:3px;font-size:.85em;background:#eee}
.badge.regressed{background:#f5b7b1}.badge.improved{background:#abebc6}.badge.mixed{background:#fad7a0}
.cols{display:grid;grid-template-columns:1fr 1fr;gap:.6em;margin:.4em 0}.lbl{font-size:.8em;color:#666}
pre{white-space:pre-wrap;word-break:break-word;margin:0;padding:.4em;background:#fafafa;border:1px solid #eee;
font-size:.85em;max-height:22em;overflow:auto}
pre.base mark.chg{background:#f5b7b1}pre.cand mark.chg{background:#abebc6}
table.checks{border-collapse:collapse;font-size:.8em;width:100%}table.checks td,table.checks th{border:1px solid #e3e3e3;
padding:2px 5px;text-align:left;vertical-align:top}tr.worse{background:#fdecea}tr.better{background:#eafaf1}
td.v.fail{color:#a93226;font-weight:600}td.v.pass{color:#1e8449}td.reason{max-width:30em;font-size:.95em;color:#444}
"""


def _json_script(data: dict[str, Any]) -> str:
    # every "<" as \u003c (the same JSON): no answer can close the element or open a "<!--<script" escape state
    return json.dumps(data, separators=(",", ":"), allow_nan=False, ensure_ascii=False).replace(
        "<", "\\u003c"
    )


def _regressions_html(rows: list[dict[str, Any]]) -> str:
    """The regressions the stored report found (its paired tests), which the sort puts first."""
    if not rows:
        return ""
    items = []
    for r in rows:
        q, unit = (100.0, " pts") if r.get("measure") == "pass_rate" else (1.0, "")
        eff = (
            f"{r['effect'] * q:+.3g}{unit} [{r['ci_low'] * q:+.3g}, {r['ci_high'] * q:+.3g}]"
            if None not in (r.get("effect"), r.get("ci_low"), r.get("ci_high"))
            else ""
        )
        items.append(
            f"<li>{html.escape(r['set'])} <b>{html.escape(r['check'])}</b> {html.escape(str(r.get('measure')))} "
            f"{html.escape(eff)}, n={html.escape(str(r.get('n')))} pairs{' (gated)' if r.get('gating') else ''}</li>"
        )
    return (
        '<p class="note">The regression report of these two runs found (paired tests, 95% intervals; samples '
        f'worse in these checks are listed first):</p><ul id="regressions">{"".join(items)}</ul>'
    )


def _pickers_html(pairs: dict[str, Any] | None) -> str:
    """The "compare any two versions" pickers (``pair_picker.js``; data: :func:`~eval_pipeline.history.pair_index.picker_data`)."""
    if not pairs:
        return ""
    script = resources.files("eval_pipeline.history").joinpath("pair_picker.js").read_text(encoding="utf-8")
    return (
        f'<p id="pair-picker" class="note"></p><script type="application/json" id="pair-data">{_json_script(pairs)}'
        f"</script><script>{script}</script>"
    )


def build_diff_html(
    data: dict[str, Any],
    *,
    title: str | None = None,
    back_link: str | None = None,
    pairs: dict[str, Any] | None = None,
) -> str:
    """The diff page of ``data`` (see :func:`eval_pipeline.history.diff_data.assemble`); with ``pairs``
    (:func:`eval_pipeline.history.pair_index.picker_data`), pickers to open any other pair of runs."""
    title = title or f"{data['candidate']} vs {data['baseline']}: sample by sample"
    c = data["counts"]
    only = f", {c['only_one']} in one run only" if c["only_one"] else ""
    back = f' <a href="{html.escape(back_link)}">back to the report</a>' if back_link else ""
    script = resources.files("eval_pipeline.history").joinpath("diff_page.js").read_text(encoding="utf-8")
    return "\n".join(
        [
            "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
            f"<h1>{html.escape(title)}</h1>",
            f'<p class="note">Candidate <b>{html.escape(data["candidate"])}</b> against baseline '
            f"<b>{html.escape(data['baseline'])}</b>: {len(data['samples'])} sample(s), {c['regressed']} regressed, "
            f"{c['improved']} improved, {c['mixed']} mixed, {c['unchanged']} unchanged"
            f"{only}. A check's verdict is its pass fraction "
            "over the sample's repeats; checks without pass/fail compare their value. Changed words are marked "
            "(red: only in the baseline, green: only in the candidate; the lowest repeat's answer). Per-sample "
            f"changes are descriptive: the paired tests and the gate are in the regression report.{back}</p>",
            _pickers_html(pairs),
            _regressions_html(data.get("regressions") or []),
            '<div id="controls"><select id="f-status" title="status"></select><select id="f-set" title="eval set">'
            '</select><select id="f-seg" title="segment"></select><select id="f-check" title="check"></select>'
            '<input id="f-q" type="search" placeholder="search input, answers, reasons" size="32">'
            '<select id="f-sort" title="sort"><option value="change">largest change first (regressed first)</option>'
            '<option value="sim">least similar answers first</option><option value="id">by eval set and id</option>'
            '</select><select id="f-size" title="page size"><option>25</option><option>50</option><option>100</option>'
            '</select><button id="prev">&larr; previous</button><button id="next">next &rarr;</button>'
            '<span id="pager-info" class="note"></span></div>',
            '<div id="samples"></div>',
            f'<script type="application/json" id="diff-data">{_json_script(data)}</script>',
            f"<script>{script}</script></body></html>",
        ]
    )


def write_run_diff(
    warehouse: Warehouse, candidate: tuple[str, str], baseline: tuple[str, str], key: str | None = None
) -> str:
    """Build the diff of two stored runs (``(date, model_version key)`` each) and write it to the warehouse at
    ``key`` (default :func:`keys.diff_page` of the candidate against that baseline). Returns its URI."""

    data = load_run_pair(warehouse, candidate, baseline)
    key = key or keys.diff_page(candidate[0], candidate[1], against=baseline)
    page = build_diff_html(data, pairs=picker_data(warehouse, key, here_pair=(candidate, baseline)))
    return warehouse.write_bytes(key, page.encode("utf-8"), content_type="text/html; charset=utf-8")
