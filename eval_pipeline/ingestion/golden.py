"""Golden-set ingestion: read, validate loudly, sample deterministically.

Every problem names the file, the line (or row) and the field, and says how to fix it.
All problems of a file are collected (up to ``MAX_REPORTED``) so one run shows them all.
Nothing is returned for a file with any problem: a bad golden set never reaches the model.

The line-level readers :func:`jsonl_objects` and :func:`csv_rows` (path in; ``(line, record)``
out, one :class:`Problem` per bad line) are shared with the human-review ingest
(``evaluators/review.py``); :func:`read_jsonl` (path in; every ``(line, object)`` out, or a
``ValueError`` listing the bad lines) serves the calibration sets.

Plain Python: no Dagster here.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from eval_pipeline.project.hashing import sha256_file, unit_interval
from eval_pipeline.project.schemas import GOLDEN_COLUMNS
from eval_pipeline.project.suites import FieldMapping

MAX_REPORTED = 20
UTF8_BOM = b"\xef\xbb\xbf"


@dataclass
class Problem:
    file: str
    line: int | None  # 1-based line (JSONL/CSV) or row (Parquet); None for whole-file problems
    field: str | None
    message: str

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f", line {self.line}"
        if self.field:
            where += f", field '{self.field}'"
        return f"{where}: {self.message}"


class GoldenSetError(ValueError):
    """A golden set failed validation. ``problems`` lists every place found (first MAX_REPORTED)."""

    def __init__(self, problems: list[Problem], total: int | None = None):
        self.problems = problems
        total = total if total is not None else len(problems)
        head = f"golden set invalid: {total} problem{'s' if total != 1 else ''}"
        lines = [str(p) for p in problems[:MAX_REPORTED]]
        if total > len(lines):
            lines.append(f"... and {total - len(lines)} more")
        super().__init__(head + "\n  " + "\n  ".join(lines))


@dataclass
class GoldenRecord:
    id: str
    input: Any
    expected: Any
    metadata: dict[str, Any]
    category: str
    line: int
    raw: dict[str, Any] = field(repr=False, default_factory=dict)


def _get_path(obj: dict[str, Any], dotted: str) -> tuple[bool, Any]:
    cur: Any = obj
    for part in dotted.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return False, None
        cur = cur[part]
    return True, cur


def _non_finite(value: Any, where: str) -> str | None:
    """The first ``NaN`` / ``Infinity`` inside a JSON value, as ``where[...]: <value>``; None if all finite.

    Python's JSON reader accepts these tokens (JSON itself has no such numbers); stored, they turn
    into a sample that is paid for and then silently drops out of the denominator."""
    if isinstance(value, float) and not math.isfinite(value):
        return f"{where}={value!r}"
    items: Iterable[tuple[Any, Any]]
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return None
    for k, v in items:
        found = _non_finite(v, f"{where}[{k!r}]" if isinstance(k, str) else f"{where}[{k}]")
        if found:
            return found
    return None


def _value_problem(value: Any, field: str, *, expected: bool) -> str | None:
    """Why a golden value is unusable (non-finite number anywhere in it; an empty expected text), or None."""
    bad = _non_finite(value, field)
    if bad:
        return (
            f"{bad} is not a finite number (NaN / Infinity are not JSON values); "
            "give the real value, or leave the sample out"
        )
    if expected and isinstance(value, str) and not value.strip():
        return "expected value is empty; give the expected answer, or leave the sample out"
    return None


def _file_bytes(path: Path, problems: list[Problem], empty_hint: str, allow_blank: bool) -> bytes | None:
    """The file's bytes without a UTF-8 BOM (reported); None for an empty file (reported unless ``allow_blank``)."""
    data = path.read_bytes()
    if not data.strip():
        if not allow_blank:
            problems.append(Problem(str(path), None, None, f"file is empty; {empty_hint}"))
        return None
    if data.startswith(UTF8_BOM):
        problems.append(
            Problem(
                str(path),
                1,
                None,
                "file starts with a UTF-8 byte-order mark (BOM); save it as UTF-8 without BOM",
            )
        )
        data = data[len(UTF8_BOM) :]
    return data


def _jsonl_object(
    raw: bytes, max_record_bytes: int, allow_blank: bool
) -> tuple[dict[str, Any] | None, str | None]:
    """One JSONL line: (object, None), (None, problem), or (None, None) for an allowed blank line."""
    if len(raw) > max_record_bytes:
        return (
            None,
            f"record is {len(raw):,} bytes, over the limit of {max_record_bytes:,} (raise max_record_bytes in the suite or shorten it)",
        )
    if not raw.strip():
        return None, None if allow_blank else "blank line; remove it (JSONL needs one JSON object per line)"
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        return None, f"invalid UTF-8 at byte {e.start} of the line; re-encode the file as UTF-8"
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as e:
        return None, f"invalid JSON at column {e.colno}: {e.msg}"
    if not isinstance(obj, dict):
        return None, f"expected a JSON object, got {type(obj).__name__}"
    return obj, None


def jsonl_objects(
    path: Path, max_record_bytes: int, problems: list[Problem], *, allow_blank: bool = False
) -> Iterator[tuple[int, dict[str, Any]]]:
    """(1-based line, object) per valid line of a JSONL file; every bad line goes to ``problems``.

    Checked per line: size, blank, UTF-8, JSON, object. ``allow_blank`` skips blank lines and
    an empty file instead of reporting them (review files edited by hand).
    """
    data = _file_bytes(path, problems, "add at least one JSON object per line", allow_blank)
    if data is None:
        return
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()  # trailing newline
    for i, raw in enumerate(lines, start=1):
        obj, message = _jsonl_object(raw.rstrip(b"\r"), max_record_bytes, allow_blank)
        if message:
            problems.append(Problem(str(path), i, None, message))
        if obj is not None:
            yield i, obj


def read_jsonl(path: str | Path, max_record_bytes: int = 10_000_000) -> list[tuple[int, dict[str, Any]]]:
    """Every ``(1-based line, object)`` of a JSONL file (blank lines skipped), or ``ValueError``.

    The lines are read by :func:`jsonl_objects`; with any bad line nothing is returned and the
    error lists the problems as ``<file>:<line>: <what is wrong and how to fix it>`` (the first
    ``MAX_REPORTED``). For data files that are not golden sets (calibration sets).
    """
    problems: list[Problem] = []
    records = list(jsonl_objects(Path(path), max_record_bytes, problems, allow_blank=True))
    if problems:
        shown = [
            f"{p.file}:{p.line}: {p.message}" if p.line is not None else f"{p.file}: {p.message}"
            for p in problems[:MAX_REPORTED]
        ]
        more = [f"... and {len(problems) - len(shown)} more"] if len(problems) > len(shown) else []
        raise ValueError(f"{path}: {len(problems)} invalid line(s)\n  " + "\n  ".join(shown + more))
    return records


def _is_blank_row(row: dict[str | None, Any]) -> bool:
    return all(str(v or "").strip() == "" for v in row.values())


def csv_rows(
    path: Path, max_record_bytes: int, problems: list[Problem], *, allow_blank: bool = False
) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line, {header: cell text}) per data row of a CSV file; every bad row goes to ``problems``.

    Checked: UTF-8, blank rows, size, more cells than header columns (the extra cells are dropped).
    ``allow_blank`` skips blank rows and an empty file instead of reporting them.
    """
    name = str(path)
    data = _file_bytes(path, problems, "add a header row and at least one record", allow_blank)
    if data is None:
        return
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        problems.append(Problem(name, line, None, "invalid UTF-8; re-encode the file as UTF-8"))
        return
    reader = csv.DictReader(io.StringIO(text, newline=""))
    for row in reader:
        line = reader.line_num
        if _is_blank_row(row):
            if not allow_blank:
                problems.append(Problem(name, line, None, "blank row; remove it"))
            continue
        if sum(len(str(v or "")) for v in row.values()) > max_record_bytes:
            problems.append(
                Problem(name, line, None, f"record is over the limit of {max_record_bytes:,} bytes")
            )
            continue
        if row.pop(None, None) is not None:
            problems.append(
                Problem(name, line, None, "more cells than header columns; quote cells that contain commas")
            )
        yield line, row


def _json_cell(v: Any) -> Any:
    """Cells holding JSON objects/arrays are decoded; anything else stays text."""
    if not (isinstance(v, str) and v[:1] in "{["):
        return v
    try:
        return json.loads(v)
    except json.JSONDecodeError:
        return v


def _raw_rows_jsonl(
    path: Path, max_record_bytes: int, problems: list[Problem]
) -> Iterable[tuple[int, dict[str, Any]]]:
    return jsonl_objects(path, max_record_bytes, problems)


def _raw_rows_csv(
    path: Path, max_record_bytes: int, problems: list[Problem]
) -> Iterable[tuple[int, dict[str, Any]]]:
    for line, row in csv_rows(path, max_record_bytes, problems):
        yield line, {k: _json_cell(v) for k, v in row.items()}


def _raw_rows_parquet(
    path: Path, max_record_bytes: int, problems: list[Problem]
) -> Iterable[tuple[int, dict[str, Any]]]:
    try:
        df = pd.read_parquet(path)
    except Exception as e:  # pyarrow raises several types for a corrupt file
        problems.append(Problem(str(path), None, None, f"cannot read Parquet: {e}"))
        return
    if df.empty:
        problems.append(Problem(str(path), None, None, "file has no rows"))
        return
    yield from enumerate(df.to_dict(orient="records"), start=1)


READERS = {"jsonl": _raw_rows_jsonl, "csv": _raw_rows_csv, "parquet": _raw_rows_parquet}


def read_golden_set(
    path: str | Path,
    fmt: str = "jsonl",
    fields: Any = None,
    require_expected: bool = True,
    max_record_bytes: int = 100_000,
) -> list[GoldenRecord]:
    """Read and validate a golden set. Raises GoldenSetError listing every problem with file, line and field.

    ``fields`` is a mapping object with attributes id/input/expected/metadata/category (see
    ``config.FieldMapping``); dotted names reach into nested objects.
    """

    path = Path(path)
    fields = fields or FieldMapping()
    problems: list[Problem] = []
    name = str(path)
    if not path.exists():
        raise GoldenSetError([Problem(name, None, None, "file not found")])
    records: list[GoldenRecord] = []
    first_line_of: dict[str, int] = {}
    for line, obj in READERS[fmt](path, max_record_bytes, problems):
        ok = True
        present = ", ".join(sorted(map(str, obj))) or "none"
        required = [("id", fields.id), ("input", fields.input)] + (
            [("expected", fields.expected)] if require_expected else []
        )
        values: dict[str, Any] = {}
        for ours, theirs in required:
            found, val = _get_path(obj, theirs)
            if found and (ours == "expected" or val is not None):
                why = _value_problem(val, theirs, expected=ours == "expected")
                if why:
                    problems.append(Problem(name, line, theirs, why))
                    ok = False
                    continue
            if not found or val is None:
                hint = (
                    f" If the golden set names it differently, map it in the suite: fields.{ours}: <column>."
                    if theirs == ours
                    else ""
                )
                problems.append(
                    Problem(name, line, theirs, f"missing required field (fields present: {present}).{hint}")
                )
                ok = False
            values[ours] = val
        if not ok:
            continue
        rid = values["id"]
        if (
            isinstance(rid, bool)
            or not isinstance(rid, (str, int))
            or (isinstance(rid, str) and not rid.strip())
        ):
            problems.append(
                Problem(
                    name,
                    line,
                    fields.id,
                    f"id must be a non-empty string or integer, got {type(rid).__name__} {rid!r}",
                )
            )
            continue
        rid = str(rid)
        if any(c in rid for c in "\n\r\t"):
            problems.append(Problem(name, line, fields.id, "id must not contain tabs or line breaks"))
            continue
        inp = values["input"]
        if not isinstance(inp, (str, dict)) or (isinstance(inp, str) and not inp.strip()):
            problems.append(
                Problem(
                    name,
                    line,
                    fields.input,
                    f"input must be a non-empty string or an object, got {type(inp).__name__}",
                )
            )
            continue
        found, meta = _get_path(obj, fields.metadata)
        if found and meta is not None and not isinstance(meta, dict):
            problems.append(
                Problem(name, line, fields.metadata, f"metadata must be an object, got {type(meta).__name__}")
            )
            continue
        meta = meta or {}
        found, cat = _get_path(obj, fields.category)
        if found and cat is not None and not isinstance(cat, (str, int)):
            problems.append(
                Problem(name, line, fields.category, f"category must be a string, got {type(cat).__name__}")
            )
            continue
        if rid in first_line_of:
            problems.append(
                Problem(
                    name,
                    line,
                    fields.id,
                    f"duplicate id {rid!r} (first seen on line {first_line_of[rid]}); ids must be unique",
                )
            )
            continue
        first_line_of[rid] = line
        expected = _get_path(obj, fields.expected)[1]
        late = [(fields.metadata, meta)] + ([] if require_expected else [(fields.expected, expected)])
        late_why = [(f, w) for f, v in late if (w := _value_problem(v, f, expected=False))]
        if late_why:
            problems.append(Problem(name, line, late_why[0][0], late_why[0][1]))
            continue
        records.append(GoldenRecord(rid, inp, expected, meta, str(cat) if cat is not None else "", line, obj))
    if problems:
        raise GoldenSetError(problems[:MAX_REPORTED], total=len(problems))
    if not records:
        raise GoldenSetError([Problem(name, None, None, "no records")])
    return records


def sample_in_file_order(records: list[GoldenRecord], n: int | None, seed: int = 0) -> list[GoldenRecord]:
    """Deterministic sample: the ``n`` records with the smallest hash of (seed, id), in file order
    (:func:`eval_pipeline.evaluators.calibration_data.sample_in_hash_order` returns hash order).

    Adding or removing other records never changes whether a given record is chosen at a
    fixed rank cut-off, so samples stay stable as golden sets grow.
    """
    if n is None or n >= len(records):
        return list(records)
    ranked = sorted(records, key=lambda r: unit_interval(f"{seed}:{r.id}"))
    keep = {r.id for r in ranked[:n]}
    return [r for r in records if r.id in keep]


def golden_frame(suite: str, eval_set: str, records: list[GoldenRecord], source_file: str) -> pd.DataFrame:
    """Records as the warehouse ``golden`` table (JSON-encoded input/expected/metadata)."""
    rows = [
        {
            "suite": suite,
            "eval_set": eval_set,
            "sample_id": r.id,
            "input_json": json.dumps(r.input, ensure_ascii=False, sort_keys=True),
            "expected_json": json.dumps(r.expected, ensure_ascii=False, sort_keys=True),
            "metadata_json": json.dumps(r.metadata, ensure_ascii=False, sort_keys=True, default=str),
            "category": r.category,
            "source_file": source_file,
            "source_line": r.line,
        }
        for r in records
    ]
    return pd.DataFrame(rows, columns=GOLDEN_COLUMNS)


def decode_golden(df: pd.DataFrame) -> pd.DataFrame:
    """Inverse of golden_frame's encoding: adds decoded ``input``, ``expected`` and ``metadata`` columns."""
    out = df.copy()
    out["input"] = [json.loads(x) for x in out["input_json"]]
    out["expected"] = [json.loads(x) for x in out["expected_json"]]
    out["metadata"] = [json.loads(x) for x in out["metadata_json"]]
    return out


def file_fingerprint(path: str | Path) -> str:
    """Content hash of a golden-set file (shown in Dagster metadata so a changed set is visible)."""
    return sha256_file(path)[:16]
