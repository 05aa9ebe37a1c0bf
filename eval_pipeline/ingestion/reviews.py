"""Reading a labelled human-review file back (step 3 of the review loop in :mod:`eval_pipeline.noise.review`).

In: a review file (JSONL or CSV, as :func:`~eval_pipeline.noise.review.export_review` wrote it)
with ``human_label`` / ``human_verdict`` / ``human_expected`` filled in, and the judge config (the scales). Out:
:func:`ingest_review` validates it (every error names file, line and field, all raised together as
:class:`ReviewFileError`) and returns (a) long rating rows (:data:`RATING_COLUMNS`; a whole-item pass / fail verdict is the 0-1
dimension :data:`VERDICT_DIMENSION` against the judge's own verdict ``judge_passed``; a pairwise item's
``human_preference`` goes to ``preferences``, :data:`PREFERENCE_COLUMNS`, beside the judge's) for
:func:`eval_pipeline.evaluators.calibration_metrics.rating_metrics_from_frame` and (b) golden-set
records (``id, input, expected, metadata``) with ``metadata.source = "human_review"``.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from eval_pipeline.ingestion.golden import Problem, csv_rows, jsonl_objects
from eval_pipeline.project.judge import JudgeConfig

# the review file's fields that a CSV export holds as JSON text (:func:`eval_pipeline.noise.review.export_review`)
JSON_CSV_FIELDS = ("reasons", "input", "expected", "judge_scores", "judge_spread", "thresholds", "scales")


def is_missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


PREFERENCES = (
    "A",
    "B",
    "tie",
)  # a pairwise item: answer A (the candidate), answer B (the baseline), or a tie

MAX_RECORD_BYTES = 10_000_000  # one review line; the golden-set reader reports a longer one
_NULLABLE_CSV_FIELDS = (
    "human_expected",
    "human_preference",
    "kind",
    "baseline_text",
    "judge_preference",
    "judge_reason",
    "human_verdict",
    "judge_passed",
    "cosine",
    "cosine_passed",
    "suite",
    "eval_set",
    "category",
)  # "" -> None
VERDICT_DIMENSION = (
    "pass_fail"  # the whole-item verdict as a 0-1 rating row (human vs the judge's judge_passed)
)
_VERDICTS = {"pass": 1, "fail": 0, "true": 1, "false": 0, "1": 1, "0": 0}
PREFERENCE_COLUMNS = [
    "review_id",
    "suite",
    "eval_set",
    "sample_id",
    "repeat",
    "human",
    "judge",
]  # A / B / tie
RATING_COLUMNS = [
    "review_id",
    "suite",
    "eval_set",
    "sample_id",
    "repeat",
    "dimension",
    "human",
    "judge",
    "scale_lo",
    "scale_hi",
]


class ReviewFileError(ValueError):
    """A labelled review file failed validation; ``errors`` lists ``file:line: field: problem``."""

    def __init__(self, errors: list[str]):
        self.errors = errors
        shown = errors[:20] + ([f"... and {len(errors) - 20} more"] if len(errors) > 20 else [])
        super().__init__("invalid review file:\n  " + "\n  ".join(shown))


@dataclass
class ReviewIngest:
    """Result of :func:`ingest_review`."""

    ratings: pd.DataFrame  # RATING_COLUMNS: one row per labelled (item, dimension)
    golden: list[dict[str, Any]]  # golden-set records, metadata.source == "human_review"
    n_rows: int = 0
    n_labelled: int = 0
    unlabelled: list[str] = field(default_factory=list)  # review_ids left empty
    preferences: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=PREFERENCE_COLUMNS))


def _error_text(p: Problem) -> str:
    """``file:line: field 'f': problem; fix`` (``file: problem`` for whole-file problems)."""
    where = p.file if p.line is None else f"{p.file}:{p.line}"
    return f"{where}: field '{p.field}': {p.message}" if p.field else f"{where}: {p.message}"


def _csv_record(name: str, line: int, row: dict[str, Any], problems: list[Problem]) -> dict[str, Any]:
    """A CSV row as the JSONL record shape: JSON columns decoded, ``human_label.<dim>`` nested."""
    rec: dict[str, Any] = {}
    labels: dict[str, Any] = {}
    for k, v in row.items():
        if k.startswith("human_label."):
            labels[k[len("human_label.") :]] = None if v in (None, "") else v
        elif k in JSON_CSV_FIELDS:
            _decode_json_cell(rec, k, v, problems, name, line)
        else:
            rec[k] = None if v == "" and k in _NULLABLE_CSV_FIELDS else v
    rec["human_label"] = labels
    return rec


def _decode_json_cell(
    rec: dict[str, Any], k: str, v: Any, problems: list[Problem], name: str, line: int
) -> None:
    try:
        rec[k] = json.loads(v) if v not in (None, "") else None
    except json.JSONDecodeError:
        problems.append(Problem(name, line, k, "not valid JSON; do not edit this column"))


def _read_rows(path: Path, problems: list[Problem]) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line, record) per data row of a JSONL or CSV review file, through the golden-set line readers.

    Blank lines and an empty file are skipped; every other bad line goes to ``problems``.
    """
    if path.suffix == ".jsonl":
        yield from jsonl_objects(path, MAX_RECORD_BYTES, problems, allow_blank=True)
        return
    for line, row in csv_rows(path, MAX_RECORD_BYTES, problems, allow_blank=True):
        yield line, _csv_record(str(path), line, row, problems)


def parse_label(value: Any, scale: tuple[int, int]) -> int:
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


def _human_expected(rec: dict[str, Any]) -> Any:
    value = rec.get("human_expected")
    return None if isinstance(value, str) and not value.strip() else value


@dataclass
class _Ingest:
    """Accumulates one review file's rows; every check reports a :class:`Problem` and skips the row."""

    path: Path
    config: JudgeConfig | None
    problems: list[Problem] = field(default_factory=list)
    ratings: list[dict[str, Any]] = field(default_factory=list)
    preferences: list[dict[str, Any]] = field(default_factory=list)
    golden: dict[str, dict[str, Any]] = field(default_factory=dict)
    unlabelled: list[str] = field(default_factory=list)
    seen_ids: dict[str, int] = field(default_factory=dict)
    n_rows: int = 0

    def error(self, line: int, fld: str | None, message: str) -> None:
        self.problems.append(Problem(str(self.path), line, fld, message))

    def add(self, line: int, rec: dict[str, Any]) -> None:
        self.n_rows += 1
        if not self._has_required(line, rec) or not self._first_of_id(line, rec):
            return
        rid = str(rec["review_id"])
        scales = self._scales(line, rec)
        if scales is None:
            return
        parsed = self._labels(line, rec, scales)
        if parsed is None:
            return
        human_expected = _human_expected(rec)
        verdict = self._verdict(line, rec)
        preference = self._preference(line, rec)
        if verdict is False or preference is False:
            return
        if not parsed and human_expected is None and verdict is None and preference is None:
            self.unlabelled.append(rid)
            return
        repeat = self._repeat(line, rec)
        if repeat is None:
            return
        self.ratings.extend(_rating_rows(rid, rec, repeat, parsed, scales))
        if verdict is not None:
            self.ratings.append(_verdict_row(rid, rec, repeat, verdict))
        if preference is not None:
            self.preferences.append(
                {
                    "review_id": rid,
                    "suite": rec.get("suite"),
                    "eval_set": rec.get("eval_set"),
                    "sample_id": str(rec["sample_id"]),
                    "repeat": repeat,
                    "human": preference,
                    "judge": rec.get("judge_preference")
                    if rec.get("judge_preference") in PREFERENCES
                    else None,
                }
            )
        # another reviewed repeat of the same sample: the first labelled one wins
        self.golden.setdefault(
            f"hr-{rec['sample_id']}", self._golden_record(line, rid, rec, parsed, human_expected)
        )

    def _has_required(self, line: int, rec: dict[str, Any]) -> bool:
        for req in ("review_id", "sample_id", "input", "human_label"):
            if req not in rec:
                self.error(line, req, "missing; keep the exported columns")
        return all(req in rec for req in ("review_id", "sample_id", "human_label"))

    def _first_of_id(self, line: int, rec: dict[str, Any]) -> bool:
        rid = str(rec["review_id"])
        if rid in self.seen_ids:
            self.error(
                line, None, f"review_id {rid!r} duplicates line {self.seen_ids[rid]}; keep one row per item"
            )
            return False
        self.seen_ids[rid] = line
        return True

    def _scales(self, line: int, rec: dict[str, Any]) -> dict[str, tuple[int, int]] | None:
        """The suite's rubric scales when a config is given, else the row's exported ``scales``."""
        if self.config is not None:
            return {d.name: d.scale for d in self.config.dimensions}
        raw_scales = rec.get("scales") or {}
        if not isinstance(raw_scales, dict):
            self.error(line, "scales", "must be an object {dimension: [low, high]}")
            return None
        return {k: (int(v[0]), int(v[1])) for k, v in raw_scales.items()}

    def _labels(
        self, line: int, rec: dict[str, Any], scales: dict[str, tuple[int, int]]
    ) -> dict[str, int] | None:
        """Parsed ``human_label`` ratings ({} when none); None when the field is not an object."""
        labels = {} if rec["human_label"] is None else rec["human_label"]
        if not isinstance(labels, dict):
            self.error(line, "human_label", "must be an object {dimension: integer or null}")
            return None
        parsed = {dim: self._label(line, dim, value, scales) for dim, value in labels.items()}
        return {dim: v for dim, v in parsed.items() if v is not None}

    def _label(self, line: int, dim: str, value: Any, scales: dict[str, tuple[int, int]]) -> int | None:
        if dim not in scales:
            self.error(line, f"human_label.{dim}", f"unknown dimension; known: {sorted(scales)}")
            return None
        if is_missing(value) or value == "":
            return None
        try:
            return parse_label(value, scales[dim])
        except ValueError as exc:
            lo, hi = scales[dim]
            self.error(line, f"human_label.{dim}", f"{exc}; use an integer in [{lo}, {hi}] or leave empty")
            return None

    def _verdict(self, line: int, rec: dict[str, Any]) -> int | None | bool:
        """The whole-item ``human_verdict``: 1 pass, 0 fail, None when empty, False (reported) when invalid."""
        value = rec.get("human_verdict")
        if is_missing(value) or value == "":
            return None
        key = str(value).strip().lower()
        if isinstance(value, bool) or key in _VERDICTS:
            return int(value) if isinstance(value, bool) else _VERDICTS[key]
        self.error(line, "human_verdict", f"{value!r} is not a verdict; use pass, fail or leave empty")
        return False

    def _preference(self, line: int, rec: dict[str, Any]) -> str | None | bool:
        """A pairwise item's ``human_preference`` (A, B or tie); None when empty, False (reported) when invalid."""
        value = rec.get("human_preference")
        if is_missing(value) or value == "":
            return None
        if rec.get("kind") != "pairwise":
            self.error(
                line, "human_preference", "only a pairwise item (kind: pairwise) takes a preferred answer"
            )
            return False
        if str(value) not in PREFERENCES:
            self.error(line, "human_preference", f"{value!r}; use A (answer A), B (answer B) or tie")
            return False
        return str(value)

    def _repeat(self, line: int, rec: dict[str, Any]) -> int | None:
        repeat = rec.get("repeat")
        if repeat in (None, ""):
            return 0
        try:
            return int(repeat)
        except (TypeError, ValueError):
            self.error(line, "repeat", f"{repeat!r} is not an integer; do not edit this column")
            return None

    def _golden_record(
        self, line: int, rid: str, rec: dict[str, Any], parsed: dict[str, int], human_expected: Any
    ) -> dict[str, Any]:
        return {
            "id": f"hr-{rec['sample_id']}",
            "input": rec.get("input"),
            "expected": human_expected if human_expected is not None else rec.get("expected"),
            "metadata": {
                "source": "human_review",
                "category": rec.get("category"),
                "original_sample_id": str(rec["sample_id"]),
                "suite": rec.get("suite"),
                "eval_set": rec.get("eval_set"),
                "review_id": rid,
                "review_file": self.path.name,
                "review_line": line,
                "human_label": parsed,
                "human_verdict": rec.get("human_verdict"),
                "human_notes": rec.get("human_notes") or "",
                "judge_scores": rec.get("judge_scores") or {},
                "reasons": rec.get("reasons") or [],
            },
        }

    def result(self) -> ReviewIngest:
        return ReviewIngest(
            ratings=pd.DataFrame(self.ratings, columns=RATING_COLUMNS),
            preferences=pd.DataFrame(self.preferences, columns=PREFERENCE_COLUMNS),
            golden=list(self.golden.values()),
            n_rows=self.n_rows,
            n_labelled=self.n_rows - len(self.unlabelled),
            unlabelled=self.unlabelled,
        )


def _rating_rows(
    rid: str, rec: dict[str, Any], repeat: int, parsed: dict[str, int], scales: dict[str, tuple[int, int]]
) -> list[dict[str, Any]]:
    """Long RATING_COLUMNS rows: one per labelled dimension, with the judge's score beside the human's."""
    judge_scores = rec.get("judge_scores") or {}
    rows = []
    for dim, h in parsed.items():
        j: Any = judge_scores.get(dim) if isinstance(judge_scores, dict) else None  # a number, None or NaN
        rows.append(
            {
                "review_id": rid,
                "suite": rec.get("suite"),
                "eval_set": rec.get("eval_set"),
                "sample_id": str(rec["sample_id"]),
                "repeat": repeat,
                "dimension": dim,
                "human": float(h),
                "judge": math.nan if is_missing(j) else float(j),
                "scale_lo": scales[dim][0],
                "scale_hi": scales[dim][1],
            }
        )
    return rows


def _verdict_row(rid: str, rec: dict[str, Any], repeat: int, verdict: int) -> dict[str, Any]:
    """The whole-item verdict as a 0-1 rating row beside the judge's own (``judge_passed``; NaN when unknown)."""
    j = rec.get("judge_passed")
    judge = math.nan if is_missing(j) or j == "" else float(str(j).strip().lower() in ("true", "1", "pass"))
    return {
        "review_id": rid,
        "suite": rec.get("suite"),
        "eval_set": rec.get("eval_set"),
        "sample_id": str(rec["sample_id"]),
        "repeat": repeat,
        "dimension": VERDICT_DIMENSION,
        "human": float(verdict),
        "judge": judge,
        "scale_lo": 0,
        "scale_hi": 1,
    }


def ingest_review(path: str | Path, config: JudgeConfig | None = None) -> ReviewIngest:
    """Validate a labelled review file and turn it into calibration rows and golden records.

    Scales come from ``config`` when given (the suite's rubric), else from each row's
    ``scales`` field. A row with no label and no ``human_expected`` is unlabelled (listed,
    not an error). Lines are read by the golden-set readers (``golden.jsonl_objects`` /
    ``golden.csv_rows``: BOM, UTF-8, JSON, size; blank lines skipped). All problems are
    collected and raised together as :class:`ReviewFileError` (``file:line: field: problem; fix``).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"review file {path} not found")
    if path.suffix not in (".jsonl", ".csv"):
        raise ValueError(f"{path}: review files must end in .jsonl or .csv")
    state = _Ingest(path, config)
    for line, rec in _read_rows(path, state.problems):
        state.add(line, rec)
    if state.problems:
        raise ReviewFileError([_error_text(p) for p in state.problems])
    return state.result()


def write_golden_jsonl(records: list[dict[str, Any]], path: str | Path) -> Path:
    """Write golden records (from :func:`ingest_review`) as JSONL in the shared-dataset layout."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(
        "".join(json.dumps(r, ensure_ascii=False, default=str) + "\n" for r in records), encoding="utf-8"
    )
    os.replace(tmp, path)
    return path
