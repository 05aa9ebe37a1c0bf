"""``eval-pipeline diff CANDIDATE BASELINE [--date D]``: the per-sample diff page of two stored runs.

In: the warehouse of ``EVAL_WAREHOUSE_URL``; two model versions (names from ``models.yaml`` or partition keys),
each optionally ``VERSION@DATE``; ``--date`` (default: the latest date both were scored; with ``@DATE`` any two
dates). Out: the page (:mod:`eval_pipeline.history.diff_page`) written under ``reports/diff/`` (or ``--out``), its
path printed. Exit 2 when a run is missing or a name is unknown. Plain Python.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from eval_pipeline.storage.warehouse import Warehouse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("candidate", help="model version name or key, optionally VERSION@YYYY-MM-DD")
    p.add_argument("baseline", help="model version name or key, optionally VERSION@YYYY-MM-DD")
    p.add_argument("--date", help="date of both runs (default: the latest date both were scored)")
    p.add_argument("--out", help="write the page to this file instead of the warehouse")


def _key_of(name: str) -> str:
    """The partition key of a model-version name (a key or an unknown name is returned as given)."""
    try:
        from eval_pipeline.project.loader import load_project

        for m in load_project().registry.models:
            if name in (m.name, m.key):
                return m.key
    except Exception:  # noqa: BLE001 - no project here: the name is taken as a key
        pass
    return name


def resolve(
    warehouse: Warehouse, candidate: str, baseline: str, date: str | None
) -> tuple[tuple[str, str], tuple[str, str]]:
    """``((date, key), (date, key))`` of the two runs; LookupError naming what is missing."""
    from eval_pipeline.history.runs import list_runs_from_files
    from eval_pipeline.history.sources import HistorySources

    (c, _, cd), (b, _, bd) = candidate.partition("@"), baseline.partition("@")
    c, b = _key_of(c), _key_of(b)
    con = warehouse.connect_duckdb()
    try:
        runs = list_runs_from_files(con, HistorySources.for_root(warehouse.root).scores_glob)
    finally:
        con.close()
    dates = {mv: set(runs.loc[runs["model_version"] == mv, "date"]) for mv in (c, b)}
    cd, bd = cd or date or "", bd or date or ""
    if not cd or not bd:
        both = (dates[c] & dates[b]) if not (cd or bd) else dates[c if not cd else b]
        if cd or bd:  # one side dated: the other side's latest run on or before it
            both = {d for d in both if d <= (cd or bd)}
        if not both:
            raise LookupError(
                f"no scored run to compare: {c} on {sorted(dates[c])[-3:] or 'no date'}, {b} on "
                f"{sorted(dates[b])[-3:] or 'no date'}; give --date or VERSION@DATE"
            )
        cd, bd = cd or max(both), bd or max(both)
    for mv, d in ((c, cd), (b, bd)):
        if d not in dates[mv]:
            raise LookupError(
                f"no scores for {mv} on {d} under {warehouse.root}; run it first (eval-pipeline run --model-version {mv} "
                f"--date {d})"
            )
    return (cd, c), (bd, b)


def _absolute(wh: Warehouse, here_key: str, href: str) -> str:
    """A link relative to ``here_key`` as the warehouse's full location (``file://`` for a local one)."""
    import posixpath

    uri = wh.uri(posixpath.normpath(posixpath.join(posixpath.dirname(here_key), href)))
    from eval_pipeline.storage.location import Location

    return Location.parse(uri).as_uri()


def run(args: argparse.Namespace) -> int:
    from eval_pipeline.history.diff_data import load_run_pair
    from eval_pipeline.history.diff_page import build_diff_html
    from eval_pipeline.history.pair_index import picker_data
    from eval_pipeline.project.paths import default_warehouse_url
    from eval_pipeline.storage import keys
    from eval_pipeline.storage.warehouse import Warehouse

    wh = Warehouse.from_url(default_warehouse_url())
    try:
        cand, base = resolve(wh, args.candidate, args.baseline, args.date)
        key = keys.diff_page(*cand, against=base)
        pairs = picker_data(wh, key, here_pair=(cand, base))
        if args.out:  # the page is not in the warehouse: written pages are linked by their full location
            pairs["diffs"] = [{**d, "href": _absolute(wh, key, d["href"])} for d in pairs["diffs"]]
        page = build_diff_html(load_run_pair(wh, cand, base), pairs=pairs)
    except LookupError as e:
        print(f"eval-pipeline diff: {e}", file=sys.stderr)
        return 2
    if args.out:
        Path(args.out).write_text(page, encoding="utf-8")
        where = str(Path(args.out).resolve())
    else:
        where = wh.write_bytes(key, page.encode("utf-8"), "text/html; charset=utf-8")
    from eval_pipeline.storage.location import Location

    print(Location.parse(where).root)
    return 0
