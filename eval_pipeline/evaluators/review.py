"""Human review loop: pick samples worth a human look, export them, ingest the labels back.

1. :func:`select_for_review` flags sample rows where

   * ``judge_repeats_disagree`` - a dimension's spread over judge repeats is >= ``spread_min`` (2);
   * ``low_margin`` - a dimension's median is strictly within ``margin`` (0.5) of its threshold;
   * ``judge_similarity_disagree`` - the judge passes every thresholded dimension but the
     cosine check fails, or the other way round;
   * ``judge_failed`` - some judge repeats were ``judge_unparseable`` / ``judge_refusal``.

2. :func:`export_review` writes the items as JSONL (nested) or CSV (flat; ``human_label.<dim>``
   columns) with empty ``human_label`` / ``human_expected`` / ``human_notes`` fields.
3. :func:`ingest_review` validates a labelled file (every error names file, line and field)
   and returns (a) long rating rows for
   :func:`eval_pipeline.evaluators.calibration.rating_metrics_from_frame` and (b) golden-set
   records (``id, input, expected, metadata``) with ``metadata.source = "human_review"``.
"""
from __future__ import annotations

import csv
import io
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from eval_pipeline.evaluators.judge import FAMILY, STATUS_REFUSAL, STATUS_UNPARSEABLE, JudgeConfig

HUMAN_FIELDS = ("human_label", "human_expected", "human_notes")
REVIEW_FIELDS = [
    "review_id", "suite", "eval_set", "sample_id", "repeat", "category", "reasons",
    "input", "response_text", "expected", "judge_scores", "judge_spread", "thresholds", "scales",
    "cosine", "cosine_passed", "evaluator_hash", *HUMAN_FIELDS,
]
_JSON_CSV_FIELDS = ("reasons", "input", "expected", "judge_scores", "judge_spread", "thresholds", "scales")
RATING_COLUMNS = ["review_id", "suite", "eval_set", "sample_id", "repeat", "dimension", "human", "judge", "scale_lo", "scale_hi"]


class ReviewFileError(ValueError):
    """A labelled review file failed validation; ``errors`` lists ``file:line: field: problem``."""

    def __init__(self, errors: list[str]):
        self.errors = errors
        shown = errors[:20] + ([f"... and {len(errors) - 20} more"] if len(errors) > 20 else [])
        super().__init__("invalid review file:\n  " + "\n  ".join(shown))


# --------------------------------------------------------------------------------------
# 1. Selection
# --------------------------------------------------------------------------------------
def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def _key(eval_set: Any, sample_id: Any, repeat: Any) -> tuple[str, str, int]:
    return ("" if _missing(eval_set) else str(eval_set), str(sample_id), int(repeat))


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
    per: dict[tuple, dict[str, Any]] = {}
    for r in rows.itertuples(index=False):
        k = _key(r.eval_set, r.sample_id, r.repeat)
        e = per.setdefault(k, {"scores": {}, "spread": {}, "passed": {}, "failures": {}, "suite": r.suite,
                               "hash": r.evaluator_hash})
        val = None if _missing(r.value) else float(r.value)
        if r.metric in dims:
            e["scores"][r.metric] = val
            e["passed"][r.metric] = None if _missing(r.passed) else bool(r.passed)
        elif r.metric.endswith("_spread") and r.metric[: -len("_spread")] in dims:
            e["spread"][r.metric[: -len("_spread")]] = val
        elif r.metric in (STATUS_UNPARSEABLE, STATUS_REFUSAL) and val:
            e["failures"][r.metric] = int(val)
    cosine: dict[tuple, tuple[float | None, bool | None]] = {}
    if similarity_rows is not None and not similarity_rows.empty:
        sim = similarity_rows[similarity_rows["metric"] == cosine_metric]
        for r in sim.itertuples(index=False):
            cosine[_key(r.eval_set, r.sample_id, r.repeat)] = (
                None if _missing(r.value) else float(r.value), None if _missing(r.passed) else bool(r.passed))
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
                reasons.append(f"judge_similarity_disagree: {side} (cosine {cos:.3f})" if cos is not None else f"judge_similarity_disagree: {side}")
        for status, n in e["failures"].items():
            reasons.append(f"judge_failed: {n} judge repeat(s) {status}")
        if not reasons:
            continue
        i = sample_by_key.get(k)
        get = (lambda c: samples[c].iat[i] if (i is not None and c in samples.columns) else None)
        items.append({
            "review_id": "/".join(p for p in (None if _missing(e["suite"]) else str(e["suite"]), k[0] or None, k[1], f"r{k[2]}") if p),
            "suite": None if _missing(e["suite"]) else e["suite"], "eval_set": k[0] or None,
            "sample_id": k[1], "repeat": k[2], "category": get("category"), "reasons": reasons,
            "input": get("input"), "response_text": get("response_text"), "expected": get("expected"),
            "judge_scores": e["scores"], "judge_spread": e["spread"],
            "thresholds": {n: d.threshold for n, d in dims.items()},
            "scales": {n: list(d.scale) for n, d in dims.items()},
            "cosine": cos, "cosine_passed": cos_passed, "evaluator_hash": e["hash"],
            "human_label": {n: None for n in dims}, "human_expected": None, "human_notes": "",
        })
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
            for f in _JSON_CSV_FIELDS:
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


# --------------------------------------------------------------------------------------
# 3. Ingest
# --------------------------------------------------------------------------------------
@dataclass
class ReviewIngest:
    """Result of :func:`ingest_review`."""

    ratings: pd.DataFrame  # RATING_COLUMNS: one row per labelled (item, dimension)
    golden: list[dict[str, Any]]  # golden-set records, metadata.source == "human_review"
    n_rows: int = 0
    n_labelled: int = 0
    unlabelled: list[str] = field(default_factory=list)  # review_ids left empty


def _read_rows(path: Path) -> list[tuple[int, dict[str, Any], list[str]]]:
    """(line, record, parse errors) per data row of a JSONL or CSV review file."""
    out: list[tuple[int, dict[str, Any], list[str]]] = []
    if path.suffix == ".jsonl":
        with path.open(encoding="utf-8") as fh:
            for lineno, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError as exc:
                    out.append((lineno, {}, [f"{path}:{lineno}: invalid JSON ({exc.msg}); each line must be one JSON object"]))
                    continue
                if not isinstance(rec, dict):
                    out.append((lineno, {}, [f"{path}:{lineno}: expected a JSON object, got {type(rec).__name__}"]))
                    continue
                out.append((lineno, rec, []))
    elif path.suffix == ".csv":
        with path.open(encoding="utf-8", newline="") as fh:
            reader = csv.DictReader(fh)
            for raw in reader:
                lineno = reader.line_num
                rec: dict[str, Any] = {}
                errs: list[str] = []
                labels: dict[str, Any] = {}
                for k, v in raw.items():
                    if k is None:
                        errs.append(f"{path}:{lineno}: more cells than header columns; quote fields containing commas")
                    elif k.startswith("human_label."):
                        labels[k[len("human_label."):]] = None if v in (None, "") else v
                    elif k in _JSON_CSV_FIELDS:
                        try:
                            rec[k] = json.loads(v) if v not in (None, "") else None
                        except json.JSONDecodeError:
                            errs.append(f"{path}:{lineno}: field '{k}': not valid JSON; do not edit this column")
                    else:
                        rec[k] = None if v == "" and k in ("human_expected", "cosine", "cosine_passed", "suite", "eval_set", "category") else v
                rec["human_label"] = labels
                out.append((lineno, rec, errs))
    else:
        raise ValueError(f"{path}: review files must end in .jsonl or .csv")
    return out


def _parse_label(value: Any, scale: tuple[int, int]) -> int:
    """An integer rating within ``scale`` (accepts "4" and 4.0 from CSV / spreadsheets)."""
    if isinstance(value, bool):
        raise ValueError("must be an integer, not a boolean")
    if isinstance(value, str):
        s = value.strip()
        try:
            value = float(s)
        except ValueError:
            raise ValueError(f"{s!r} is not a number") from None
    if not isinstance(value, (int, float)) or (isinstance(value, float) and not value.is_integer()):
        raise ValueError(f"{value!r} must be a whole number")
    v = int(value)
    if not (scale[0] <= v <= scale[1]):
        raise ValueError(f"{v} is outside the scale [{scale[0]}, {scale[1]}]")
    return v


def ingest_review(path: str | Path, config: JudgeConfig | None = None) -> ReviewIngest:
    """Validate a labelled review file and turn it into calibration rows and golden records.

    Scales come from ``config`` when given (the suite's rubric), else from each row's
    ``scales`` field. A row with no label and no ``human_expected`` is unlabelled (listed,
    not an error). All problems are collected and raised together as
    :class:`ReviewFileError` (``file:line: field: problem; fix``).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"review file {path} not found")
    errors: list[str] = []
    ratings: list[dict[str, Any]] = []
    golden: dict[str, dict[str, Any]] = {}
    unlabelled: list[str] = []
    seen_ids: dict[str, int] = {}
    rows = _read_rows(path)
    for lineno, rec, parse_errors in rows:
        errors.extend(parse_errors)
        if not rec:
            continue
        where = f"{path}:{lineno}"
        for req in ("review_id", "sample_id", "input", "human_label"):
            if req not in rec:
                errors.append(f"{where}: field '{req}' is missing; keep the exported columns")
        if any(req not in rec for req in ("review_id", "sample_id", "human_label")):
            continue
        rid = str(rec["review_id"])
        if rid in seen_ids:
            errors.append(f"{where}: review_id {rid!r} duplicates line {seen_ids[rid]}; keep one row per item")
            continue
        seen_ids[rid] = lineno
        if config is not None:
            scales = {d.name: tuple(d.scale) for d in config.dimensions}
        else:
            raw_scales = rec.get("scales") or {}
            if not isinstance(raw_scales, dict):
                errors.append(f"{where}: field 'scales' must be an object {{dimension: [low, high]}}")
                continue
            scales = {k: (int(v[0]), int(v[1])) for k, v in raw_scales.items()}
        labels = rec["human_label"]
        if labels is None:
            labels = {}
        if not isinstance(labels, dict):
            errors.append(f"{where}: field 'human_label' must be an object {{dimension: integer or null}}")
            continue
        parsed: dict[str, int] = {}
        for dim, value in labels.items():
            if dim not in scales:
                errors.append(f"{where}: field 'human_label.{dim}': unknown dimension; known: {sorted(scales)}")
                continue
            if _missing(value) or value == "":
                continue
            try:
                parsed[dim] = _parse_label(value, scales[dim])
            except ValueError as exc:
                errors.append(f"{where}: field 'human_label.{dim}': {exc}; use an integer in [{scales[dim][0]}, {scales[dim][1]}] or leave empty")
        human_expected = rec.get("human_expected")
        if isinstance(human_expected, str) and not human_expected.strip():
            human_expected = None
        if not parsed and human_expected is None:
            unlabelled.append(rid)
            continue
        judge_scores = rec.get("judge_scores") or {}
        repeat = rec.get("repeat")
        try:
            repeat = int(repeat) if repeat not in (None, "") else 0
        except (TypeError, ValueError):
            errors.append(f"{where}: field 'repeat': {repeat!r} is not an integer; do not edit this column")
            continue
        for dim, h in parsed.items():
            j = judge_scores.get(dim) if isinstance(judge_scores, dict) else None
            ratings.append({
                "review_id": rid, "suite": rec.get("suite"), "eval_set": rec.get("eval_set"),
                "sample_id": str(rec["sample_id"]), "repeat": repeat, "dimension": dim, "human": float(h),
                "judge": math.nan if _missing(j) else float(j), "scale_lo": scales[dim][0], "scale_hi": scales[dim][1],
            })
        gid = f"hr-{rec['sample_id']}"
        if gid in golden:
            continue  # another reviewed repeat of the same sample: the first labelled one wins
        golden[gid] = {
            "id": gid,
            "input": rec.get("input"),
            "expected": human_expected if human_expected is not None else rec.get("expected"),
            "metadata": {
                "source": "human_review",
                "category": rec.get("category"),
                "original_sample_id": str(rec["sample_id"]),
                "suite": rec.get("suite"), "eval_set": rec.get("eval_set"),
                "review_id": rid, "review_file": path.name, "review_line": lineno,
                "human_label": parsed, "human_notes": rec.get("human_notes") or "",
                "judge_scores": judge_scores, "reasons": rec.get("reasons") or [],
            },
        }
    if errors:
        raise ReviewFileError(errors)
    return ReviewIngest(
        ratings=pd.DataFrame(ratings, columns=RATING_COLUMNS),
        golden=list(golden.values()),
        n_rows=len(rows),
        n_labelled=len(rows) - len(unlabelled),
        unlabelled=unlabelled,
    )


def write_golden_jsonl(records: list[dict[str, Any]], path: str | Path) -> Path:
    """Write golden records (from :func:`ingest_review`) as JSONL in the shared-dataset layout."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("".join(json.dumps(r, ensure_ascii=False, default=str) + "\n" for r in records), encoding="utf-8")
    os.replace(tmp, path)
    return path
