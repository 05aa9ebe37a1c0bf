"""The report's "compare any two versions" section: pickers and a table, not only each version vs production.

In: the report's chart blob (:mod:`eval_pipeline.history.report_data`), the comparison rows of the stored
regression reports (for each metric's minimum effect and direction) and the pickers' data
(:func:`eval_pipeline.history.pair_index.picker_data`: scored runs, written diff pages). Out: the section's
HTML (:func:`compare_section_html`) - ``#pair-picker`` (``pair_picker.js``: any version at any of its dates
against any other, with the link to their per-sample diff or the command that writes it) and
``#compare-table`` (``report_compare.js``: per charted metric both runs' values with 95% intervals and n, the
difference with its unpaired MOVER 95% interval, labelled worse / better / no change / inconclusive) - and
:func:`annotate_charts`, which gives each chart the minimum effect (``me``) and direction (``lower``) the
browser needs. The table is descriptive; the decisions stay with the paired regression report.
"""

from __future__ import annotations

import json
import math
from collections.abc import Hashable
from importlib import resources
from typing import Any

import pandas as pd

from eval_pipeline.project.regression_schema import metric_direction


def annotate_charts(charts: list[dict[str, Any]], comparisons: pd.DataFrame | None) -> None:
    """Add ``lower: true`` (lower is better) and ``me`` (minimum effect of the stored regression rows) in place."""
    rows: dict[tuple[Any, ...], dict[Hashable, Any]] = {}
    if comparisons is not None and not comparisons.empty:
        for r in comparisons.to_dict(orient="records"):
            rows.setdefault((r.get("suite"), r.get("eval_set"), r.get("metric"), r.get("measure")), r)
    for c in charts:
        r = rows.get((c["suite"], c["eval_set"], c["metric"], c["measure"])) or {}
        direction = r.get("direction") or metric_direction(c["metric"])
        if c["measure"] != "pass_rate" and direction == "lower":
            c["lower"] = True
        me = r.get("min_effect")
        if isinstance(me, (int, float)) and math.isfinite(me):
            c["me"] = float(me)


def default_pair(
    pairs: dict[str, Any], summary: list[dict[str, Any]] | None, production: str | None
) -> dict[str, Any]:
    """The pair the pickers open on: the first version of the summary (failing first) that is not production,
    at its latest run, against production (or the previous version) at its latest run."""
    runs = pairs.get("runs") or {}
    names = [r["model_version"] for r in summary or [] if r["model_version"] in runs]
    others = [v for v in names + sorted(runs) if v != production]
    c = others[0] if others else (production or next(iter(sorted(runs)), None))
    b = production if production in runs and production != c else next((v for v in sorted(runs) if v != c), c)
    if c is None:
        return {}
    return {"c": c, "cd": runs[c][-1], "b": b, "bd": runs[b][-1]}


def _json(data: dict[str, Any]) -> str:
    return json.dumps(data, separators=(",", ":"), allow_nan=False).replace("</", "<\\/")


def compare_section_html(pairs: dict[str, Any]) -> str:
    """The section (heading, pickers, empty table); the scripts are :func:`scripts`."""
    return (
        '<h2 id="sec-compare">Compare any two versions</h2>'
        '<p class="note">Pick any version at any date it was scored against any other. Per charted metric: both '
        "runs' values with their 95% intervals and n, and the difference with its MOVER 95% interval (Newcombe's "
        "method for two Wilson intervals, Zou and Donner's for t intervals). It is unpaired - it ignores that "
        "both runs answer the same samples - so it is wider than the paired test of the regression report, and "
        "descriptive: no gate uses it. worse / better: the interval excludes 0; no change: it lies within the "
        "minimum effect of the regression config; inconclusive: neither. The per-sample diff of the pair is "
        "linked when written; otherwise the command that writes it is shown.</p>"
        f'<p id="pair-picker"></p><script type="application/json" id="pair-data">{_json(pairs)}</script>'
        '<table id="compare-table"><thead><tr><th>eval set</th><th>metric</th><th>measure</th><th>candidate</th>'
        "<th>baseline</th><th>difference [95% MOVER]</th><th>label</th></tr></thead><tbody></tbody></table>"
        '<p class="note" id="compare-empty"></p>'
    )


def scripts() -> str:
    """``pair_picker.js`` and ``report_compare.js`` as inline scripts (after the report's data blob)."""
    pkg = resources.files("eval_pipeline.history")
    return "".join(
        f"<script>{pkg.joinpath(name).read_text(encoding='utf-8')}</script>"
        for name in ("pair_picker.js", "report_compare.js")
    )


def runs_from_scores(scores: pd.DataFrame) -> dict[str, list[str]]:
    """``{model version: sorted dates}`` of the history's aggregate rows (when no warehouse listing is given)."""
    if scores is None or scores.empty:
        return {}
    runs = scores[["date", "model_version"]].drop_duplicates()
    out: dict[str, set[str]] = {}
    for d, mv in zip(runs["date"].astype(str), runs["model_version"].astype(str), strict=True):
        out.setdefault(mv, set()).add(d)
    return {mv: sorted(ds) for mv, ds in sorted(out.items())}
