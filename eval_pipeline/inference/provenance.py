"""Answer provenance: what produced each answer a run used, counted, labelled and kept beside the run.

Values (``ModelResponse.provenance``, the ``provenance`` column of the responses table):
``live`` (a live provider call, or its stored copy), ``replay`` (a live answer served by the replay
provider), ``synthetic`` (a scripted recording such as ``data/recordings/``; no model wrote it).

* :func:`provenance_counts`: values in -> ``{"live": n, "synthetic": m}`` (``unknown`` for missing).
* :func:`provenance_label`: counts in -> one line for metadata and the UI, e.g.
  ``"NOT LIVE - synthetic answers: 500/500 (replay of data/recordings)"``.
* :func:`write_stage_provenance` / :func:`read_stage_provenance`: a small JSON per stage and
  partition (``provenance/<stage>/date=<d>/model_version=<mv>.json``) so the run artifact can report
  the judge verdicts' provenance too. Plain I/O on a ``Warehouse``; no Dagster.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from eval_pipeline.storage import keys

if TYPE_CHECKING:
    from eval_pipeline.storage.warehouse import Warehouse


def provenance_counts(values: Iterable[Any]) -> dict[str, int]:
    """``{"live": n, "replay": m, "synthetic": k}`` (only non-zero; None / NaN counted as ``unknown``)."""
    counts: Counter[str] = Counter()
    for v in values:
        counts[v if isinstance(v, str) and v else "unknown"] += 1
    return dict(sorted(counts.items()))


def provenance_label(counts: dict[str, int], source: str = "") -> str:
    """``"live answers: 500/500"`` when every answer is live, else a line starting ``NOT LIVE``,
    e.g. ``"NOT LIVE - synthetic answers: 500/500 (replay of data/recordings)"``."""
    total = sum(counts.values())
    if not total:
        return "no answers"
    live = counts.get("live", 0)
    if live == total:
        return f"live answers: {live}/{total}"
    parts = [
        f"{k} answers: {v}/{total}"
        for k, v in sorted(counts.items(), key=lambda kv: -kv[1])
        if k != "live" and v
    ]
    where = f" ({source})" if source.startswith("from ") else f" (replay of {source})" if source else ""
    return "NOT LIVE - " + "; ".join(parts) + where + (f"; live answers: {live}/{total}" if live else "")


def _key(stage: str, date: str, model_version: str) -> str:
    return keys.provenance(stage, date, model_version)


def write_stage_provenance(
    warehouse: Warehouse, stage: str, date: str, model_version: str, counts: dict[str, int], source: str = ""
) -> str:
    """Persist one stage's provenance counts (and the recordings label) for a partition; returns the URI."""
    body = json.dumps({"counts": counts, "source": source, "label": provenance_label(counts, source)}).encode(
        "utf-8"
    )
    return warehouse.write_bytes(_key(stage, date, model_version), body, content_type="application/json")


def read_stage_provenance(
    warehouse: Warehouse, stage: str, date: str, model_version: str
) -> dict[str, Any] | None:
    """``{"counts", "source", "label"}`` written by :func:`write_stage_provenance`, or None."""
    key = _key(stage, date, model_version)
    if not warehouse.exists(key):
        return None
    record: dict[str, Any] = json.loads(warehouse.read_bytes(key))
    return record
