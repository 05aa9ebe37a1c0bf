"""Human review loop: pick samples worth a human look, export them, ingest the labels back.

1. :func:`select_for_review` flags sample rows where

   * ``judge_repeats_disagree`` - a dimension's spread over judge repeats is >= ``spread_min`` (2);
   * ``low_margin`` - a dimension's median is strictly within ``margin`` (0.5) of its threshold;
   * ``judge_similarity_disagree`` - the judge passes every thresholded dimension but the
     cosine check fails, or the other way round;
   * ``judge_failed`` - some judge repeats were ``judge_unparseable`` / ``judge_refusal``;
   * ``judges_disagree`` - the judges of a panel (``judge.models``) disagree on a dimension.

2. :func:`export_review` writes the items as JSONL (nested) or CSV (flat; ``human_label.<dim>``
   columns) with empty ``human_label`` / ``human_verdict`` (whole item: pass / fail) / ``human_expected`` /
   ``human_notes`` fields.
3. :func:`eval_pipeline.ingestion.reviews.ingest_review` reads the labelled file back.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol, cast

import pandas as pd

from eval_pipeline.evaluators.judge import FAMILY, STATUS_REFUSAL, STATUS_UNPARSEABLE, JudgeConfig
from eval_pipeline.ingestion.reviews import JSON_CSV_FIELDS, is_missing

HUMAN_FIELDS = ("human_label", "human_verdict", "human_preference", "human_expected", "human_notes")
REVIEW_FIELDS = [
    "review_id",
    "kind",  # None: a pointwise item (scores per dimension); "pairwise": two answers, a preferred one
    "suite",
    "eval_set",
    "sample_id",
    "repeat",
    "category",
    "reasons",
    "input",
    "response_text",
    "expected",
    "judge_scores",
    "judge_spread",
    "thresholds",
    "scales",
    "cosine",
    "cosine_passed",
    "judge_passed",  # the judge's own verdict on the item: every thresholded dimension passes (None: none)
    "baseline_text",  # pairwise: answer B (the baseline); answer A is response_text
    "judge_preference",  # pairwise: the judge's final A / B / tie
    "judge_reason",  # pairwise: the judge's outcomes and reasoning (excerpt)
    "evaluator_hash",
    *HUMAN_FIELDS,
]


# --------------------------------------------------------------------------------------
# 1. Selection
# --------------------------------------------------------------------------------------
class ScoreTuple(Protocol):
    """One ``itertuples(index=False)`` row of score rows (``SCORE_COLUMNS``) as read here; the fields that can be
    missing (NaN / None) or of either type stay ``Any``."""

    suite: Any
    eval_set: Any
    sample_id: Any
    repeat: Any
    metric: str
    value: Any
    passed: Any
    reason: Any
    evaluator_hash: Any


def score_tuples(rows: pd.DataFrame) -> Iterator[ScoreTuple]:
    """``rows.itertuples(index=False)`` with the score columns' fields (pandas-stubs type each as any scalar)."""
    return cast(Iterator[ScoreTuple], rows.itertuples(index=False))


Key = tuple[str, str, int]  # (eval set or "", sample id, repeat)


def _key(eval_set: Any, sample_id: Any, repeat: Any) -> Key:
    return ("" if is_missing(eval_set) else str(eval_set), str(sample_id), int(repeat))


def select_for_review(
    samples: pd.DataFrame,
    judge_rows: pd.DataFrame,
    config: JudgeConfig,
    similarity_rows: pd.DataFrame | None = None,
    *,
    spread_min: float = 2.0,
    margin: float = 0.5,
    cosine_metric: str = "cosine",
) -> pd.DataFrame:
    """Sample rows worth a human look, one row per (eval_set, sample_id, repeat), ``REVIEW_FIELDS``.

    ``samples`` is the judge's input frame (for input / response / expected text);
    ``judge_rows`` the pointwise score rows of :func:`eval_pipeline.evaluators.judge.aggregate_pointwise`;
    ``similarity_rows`` optional similarity score rows (``metric == cosine_metric``).
    """
    if config.mode != "pointwise":
        raise ValueError("select_for_review needs pointwise judge rows (judge.mode = pointwise)")
    rows = judge_rows[judge_rows["family"] == FAMILY]
    dims = {d.name: d for d in config.dimensions}
    per: dict[Key, dict[str, Any]] = {}
    for r in score_tuples(rows):
        k = _key(r.eval_set, r.sample_id, r.repeat)
        e = per.setdefault(
            k,
            {
                "scores": {},
                "spread": {},
                "passed": {},
                "failures": {},
                "suite": r.suite,
                "hash": r.evaluator_hash,
            },
        )
        val = None if is_missing(r.value) else float(r.value)
        if r.metric in dims:
            e["scores"][r.metric] = val
            e["passed"][r.metric] = None if is_missing(r.passed) else bool(r.passed)
        elif r.metric.endswith("_spread") and r.metric[: -len("_spread")] in dims:
            e["spread"][r.metric[: -len("_spread")]] = val
        elif r.metric in (STATUS_UNPARSEABLE, STATUS_REFUSAL) and val:
            e["failures"][r.metric] = int(val)
        elif r.metric == "panel_disagreement_count" and val:  # a judge panel split (judge/panel.py)
            e["panel"] = [x for x in str(r.reason).split("; ") if x]
    cosine: dict[Key, tuple[float | None, bool | None]] = {}
    if similarity_rows is not None and not similarity_rows.empty:
        sim = similarity_rows[similarity_rows["metric"] == cosine_metric]
        for r in score_tuples(sim):
            cosine[_key(r.eval_set, r.sample_id, r.repeat)] = (
                None if is_missing(r.value) else float(r.value),
                None if is_missing(r.passed) else bool(r.passed),
            )
    sample_by_key = {}
    for i in range(len(samples)):
        es = samples["eval_set"].iat[i] if "eval_set" in samples.columns else None
        sample_by_key[_key(es, samples["sample_id"].iat[i], samples["repeat"].iat[i])] = i
    items = []
    for k, e in per.items():
        reasons = []
        for name, sp in e["spread"].items():
            if sp is not None and sp >= spread_min:
                reasons.append(f"judge_repeats_disagree: {name} spread {sp:g} >= {spread_min:g}")
        for name, med in e["scores"].items():
            thr = dims[name].threshold
            if med is not None and thr is not None and abs(med - thr) < margin:
                reasons.append(f"low_margin: {name} median {med:g} within {margin:g} of threshold {thr:g}")
        gated = [p for n, p in e["passed"].items() if dims[n].threshold is not None]
        cos, cos_passed = cosine.get(k, (None, None))
        if gated and all(p is not None for p in gated) and cos_passed is not None:
            judge_pass = all(gated)
            if judge_pass != cos_passed:
                side = "judge passes but cosine fails" if judge_pass else "judge fails but cosine passes"
                reasons.append(
                    f"judge_similarity_disagree: {side} (cosine {cos:.3f})"
                    if cos is not None
                    else f"judge_similarity_disagree: {side}"
                )
        for status, n in e["failures"].items():
            reasons.append(f"judge_failed: {n} judge repeat(s) {status}")
        reasons.extend(e.get("panel", []))
        if not reasons:
            continue
        at = sample_by_key.get(k)

        def get(c: str, i: int | None = at) -> Any:
            return samples[c].iat[i] if (i is not None and c in samples.columns) else None

        items.append(
            {
                "review_id": "/".join(
                    p
                    for p in (
                        None if is_missing(e["suite"]) else str(e["suite"]),
                        k[0] or None,
                        k[1],
                        f"r{k[2]}",
                    )
                    if p
                ),
                "suite": None if is_missing(e["suite"]) else e["suite"],
                "eval_set": k[0] or None,
                "sample_id": k[1],
                "repeat": k[2],
                "category": get("category"),
                "reasons": reasons,
                "input": get("input"),
                "response_text": get("response_text"),
                "expected": get("expected"),
                "judge_scores": e["scores"],
                "judge_spread": e["spread"],
                "thresholds": {n: d.threshold for n, d in dims.items()},
                "scales": {n: list(d.scale) for n, d in dims.items()},
                "cosine": cos,
                "cosine_passed": cos_passed,
                "judge_passed": all(gated) if gated and all(p is not None for p in gated) else None,
                "evaluator_hash": e["hash"],
                "human_label": {n: None for n in dims},
                "human_expected": None,
                "human_verdict": None,
                "human_notes": "",
            }
        )
    items.sort(key=lambda it: it["review_id"])
    return pd.DataFrame(items, columns=REVIEW_FIELDS)


# --------------------------------------------------------------------------------------
# 2. Export
# --------------------------------------------------------------------------------------
def _jsonable(v: Any) -> Any:
    if isinstance(v, float) and math.isnan(v):
        return None
    if hasattr(v, "item") and not isinstance(v, (dict, list, str)):
        return v.item()  # numpy scalar
    return v


def export_review(items: pd.DataFrame, path: str | Path) -> Path:
    """Write review items to ``path`` (``.jsonl`` or ``.csv``), atomically; returns the path.

    JSONL keeps nested fields; CSV JSON-encodes nested fields and flattens ``human_label``
    into one empty ``human_label.<dim>`` column per dimension. Reruns overwrite the file.
    """
    path = Path(path)
    records = [{k: _jsonable(v) for k, v in rec.items()} for rec in items.to_dict(orient="records")]
    if path.suffix == ".jsonl":
        text = "".join(json.dumps(r, ensure_ascii=False, default=str) + "\n" for r in records)
    elif path.suffix == ".csv":
        dims = sorted({d for r in records for d in (r.get("human_label") or {})})
        header = [f for f in REVIEW_FIELDS if f != "human_label"] + [f"human_label.{d}" for d in dims]
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=header, lineterminator="\n")
        w.writeheader()
        for r in records:
            flat = {k: v for k, v in r.items() if k != "human_label"}
            for f in JSON_CSV_FIELDS:
                flat[f] = json.dumps(flat.get(f), ensure_ascii=False, default=str)
            for d in dims:
                lab = (r.get("human_label") or {}).get(d)
                flat[f"human_label.{d}"] = "" if lab is None else lab
            flat["human_expected"] = "" if flat.get("human_expected") is None else flat["human_expected"]
            w.writerow({h: ("" if flat.get(h) is None else flat.get(h)) for h in header})
        text = buf.getvalue()
    else:
        raise ValueError(f"{path}: review files must end in .jsonl or .csv")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return path
