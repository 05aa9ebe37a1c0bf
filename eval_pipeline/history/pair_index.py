"""Which runs and which per-sample diffs exist: the data behind the "compare any two versions" pickers.

In: a warehouse (keys from :mod:`eval_pipeline.storage.keys`: the scores partitions, the diff pages of
``eval-pipeline diff`` under ``reports/diff/`` and those the ``regression_report`` asset writes beside each
regression report) and the key of the page the pickers go on. Out: :func:`picker_data`, a JSON-able dict:

* ``runs``: ``{model version: [dates with scores]}`` (every scored partition, from the file listing);
* ``diffs``: ``[{"c", "cd", "b", "bd", "href"}]`` - candidate / its date, baseline / its date, and the
  page's link relative to ``here`` - for every diff page written;
* ``here``: the page's own pair when it is a diff page.

``pair_picker.js`` draws the pickers from it: any version at any of its dates against any other; a pair whose
page is written links to it, any other pair shows the command that writes it (``eval-pipeline diff
CANDIDATE@DATE BASELINE@DATE``) and, when the page is served by ``eval-pipeline view --serve``, a link that
builds it on request. The baseline of a regression report's diff is read from its ``report.json`` for the
latest ``window`` dates only (one small read per page; older ones are listed by ``eval-pipeline diff``'s pages).
"""

from __future__ import annotations

import json
import posixpath
import re
from typing import Any

from eval_pipeline.history.runs import list_runs_from_files
from eval_pipeline.history.sources import HistorySources
from eval_pipeline.storage import keys
from eval_pipeline.storage.warehouse import Warehouse

_DATE = r"\d{4}-\d{2}-\d{2}"


def _pattern(template: str, **groups: str) -> re.Pattern[str]:
    """A regex of a key layout from keys.py (placeholders -> named groups), so no path is spelled here."""
    text = re.escape(template)
    for name, rx in groups.items():
        text = text.replace(re.escape(name), f"(?P<{name.lower()}>{rx})")
    return re.compile(f"^{text}$")


_CLI_DIFF = _pattern(
    keys.diff_page("CDATE", "CMV", against=("BDATE", "BMV")),
    CDATE=_DATE,
    CMV="[^/]+",
    BDATE=_DATE,
    BMV=".+",
)
_REPORT_DIFF = _pattern(keys.diff_page("CDATE", "CMV"), CDATE=_DATE, CMV="[^/]+")


def scored_runs(warehouse: Warehouse) -> dict[str, list[str]]:
    """``{model version: sorted dates}`` of every scored partition (file listing only)."""

    con = warehouse.connect_duckdb()
    try:
        runs = list_runs_from_files(con, HistorySources.for_root(warehouse.root).scores_glob)
    finally:
        con.close()
    out: dict[str, list[str]] = {}
    for r in runs.itertuples(index=False):
        out.setdefault(str(r.model_version), []).append(str(r.date))
    return {mv: sorted(set(d)) for mv, d in sorted(out.items())}


def _baseline_of(wh: Warehouse, date: str, mv: str) -> tuple[str, str] | None:
    """(baseline key, its date) the regression report of a run tested against, from its ``summary``."""
    try:
        rep = json.loads(wh.read_bytes(keys.regression_report(date, mv)))
    except (OSError, ValueError, KeyError, FileNotFoundError):
        return None
    base = str((rep.get("summary") or {}).get("baseline") or "")
    mv_b, _, d_b = base.rpartition("@")
    return (mv_b, d_b) if mv_b and re.fullmatch(_DATE, d_b) else None


def written_diffs(warehouse: Warehouse, window: int = 90) -> list[dict[str, str]]:
    """Every diff page in the warehouse: ``{"c", "cd", "b", "bd", "key"}``, sorted."""
    diff_prefix = keys.diff_page("D", "M", against=("D", "M")).split("/date=", 1)[0] + "/"
    report_prefix = keys.diff_page("D", "M").split("/date=", 1)[0] + "/"
    out = []
    for key in warehouse.list_keys(diff_prefix):
        m = _CLI_DIFF.match(key)
        if m:
            out.append({"c": m["cmv"], "cd": m["cdate"], "b": m["bmv"], "bd": m["bdate"], "key": key})
    report_diffs = [
        (m["cdate"], m["cmv"], k) for k in warehouse.list_keys(report_prefix) if (m := _REPORT_DIFF.match(k))
    ]
    recent = set(sorted({d for d, _, _ in report_diffs})[-window:])
    for date, mv, key in report_diffs:
        base = _baseline_of(warehouse, date, mv) if date in recent else None
        if base:
            out.append({"c": mv, "cd": date, "b": base[0], "bd": base[1], "key": key})
    return sorted(out, key=lambda r: (r["c"], r["cd"], r["b"], r["bd"], r["key"]))


def picker_data(
    warehouse: Warehouse,
    here_key: str,
    runs: dict[str, list[str]] | None = None,
    here_pair: tuple[tuple[str, str], tuple[str, str]] | None = None,
) -> dict[str, Any]:
    """The pickers' data for the page at ``here_key`` (see the module docstring); ``here_pair`` =
    ((candidate date, key), (baseline date, key)) of a diff page."""
    base_dir = posixpath.dirname(here_key)
    diffs = [
        {k: v for k, v in d.items() if k != "key"} | {"href": posixpath.relpath(d["key"], base_dir)}
        for d in written_diffs(warehouse)
    ]
    data: dict[str, Any] = {"runs": runs if runs is not None else scored_runs(warehouse), "diffs": diffs}
    if here_pair:
        (cd, c), (bd, b) = here_pair
        data["here"] = {"c": c, "cd": cd, "b": b, "bd": bd}
    return data
