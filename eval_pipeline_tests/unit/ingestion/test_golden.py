"""Golden-set ingestion: every bad-input case names file, line and field."""

import json
from pathlib import Path

import pandas as pd
import pytest

from eval_pipeline.ingestion.golden import (
    GoldenSetError,
    decode_golden,
    golden_frame,
    read_golden_set,
    sample_in_file_order,
)
from eval_pipeline.project.eval_set_options import FieldMapping


def _rows(n: int) -> list[dict]:
    return [
        {
            "id": f"s{i:03d}",
            "input": f"message {i}",
            "expected": "label_a" if i % 2 else "label_b",
            "metadata": {"category": "c"},
        }
        for i in range(1, n + 1)
    ]


def _write_jsonl(path: Path, rows: list, raw_lines: dict[int, bytes] | None = None) -> Path:
    lines = [json.dumps(r).encode() for r in rows]
    for lineno, raw in (raw_lines or {}).items():
        lines[lineno - 1] = raw
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def _problem(exc: GoldenSetError, line: int | None):
    return [p for p in exc.problems if p.line == line]


def test_valid_file_round_trips(tmp_path):
    p = _write_jsonl(tmp_path / "g.jsonl", _rows(10))
    recs = read_golden_set(p)
    assert [r.id for r in recs] == [f"s{i:03d}" for i in range(1, 11)]
    assert recs[0].category == "c" and recs[0].line == 1
    df = decode_golden(golden_frame("suite", "es", recs, "golden/g.jsonl"))
    assert df.loc[0, "input"] == "message 1" and df.loc[0, "expected"] == "label_a"


def test_missing_field_on_line_37_names_file_line_and_field(tmp_path):
    rows = _rows(50)
    del rows[36]["expected"]
    p = _write_jsonl(tmp_path / "support.jsonl", rows)
    with pytest.raises(GoldenSetError) as ei:
        read_golden_set(p)
    msg = str(ei.value)
    assert "support.jsonl, line 37, field 'expected'" in msg
    assert "missing required field" in msg and "fields.expected" in msg  # says how to fix a renamed column
    assert [p.line for p in ei.value.problems] == [37]


def test_renamed_field_is_fixed_by_field_mapping(tmp_path):
    rows = [{"qid": r["id"], "question": r["input"], "answer": r["expected"]} for r in _rows(5)]
    p = _write_jsonl(tmp_path / "renamed.jsonl", rows)
    with pytest.raises(GoldenSetError) as ei:
        read_golden_set(p)
    assert {pr.field for pr in ei.value.problems} == {"id", "input", "expected"}
    recs = read_golden_set(p, fields=FieldMapping(id="qid", input="question", expected="answer"))
    assert recs[2].expected == rows[2]["answer"]


def test_wrong_types_are_reported_with_field(tmp_path):
    rows = _rows(6)
    rows[1]["id"] = 3.5
    rows[3]["input"] = ["not", "a", "string"]
    rows[4]["metadata"] = "oops"
    p = _write_jsonl(tmp_path / "types.jsonl", rows)
    with pytest.raises(GoldenSetError) as ei:
        read_golden_set(p)
    got = {(pr.line, pr.field) for pr in ei.value.problems}
    assert got == {(2, "id"), (4, "input"), (5, "metadata")}
    assert "id must be a non-empty string or integer" in str(ei.value)


def test_duplicate_id_names_both_lines(tmp_path):
    rows = _rows(8)
    rows[6]["id"] = rows[2]["id"]
    p = _write_jsonl(tmp_path / "dup.jsonl", rows)
    with pytest.raises(GoldenSetError) as ei:
        read_golden_set(p)
    (pr,) = ei.value.problems
    assert pr.line == 7 and pr.field == "id" and "first seen on line 3" in pr.message


def test_empty_file(tmp_path):
    p = tmp_path / "empty.jsonl"
    p.write_bytes(b"\n")
    with pytest.raises(GoldenSetError, match=r"empty\.jsonl: file is empty"):
        read_golden_set(p)


def test_invalid_utf8_names_line(tmp_path):
    p = _write_jsonl(
        tmp_path / "latin1.jsonl",
        _rows(4),
        {3: '{"id": "x", "input": "caf\xe9", "expected": "a"}'.encode("latin-1")},
    )
    with pytest.raises(GoldenSetError) as ei:
        read_golden_set(p)
    (pr,) = ei.value.problems
    assert pr.line == 3 and "invalid UTF-8" in pr.message


def test_bom_is_rejected(tmp_path):
    p = _write_jsonl(tmp_path / "bom.jsonl", _rows(3))
    p.write_bytes(b"\xef\xbb\xbf" + p.read_bytes())
    with pytest.raises(GoldenSetError) as ei:
        read_golden_set(p)
    assert "bom.jsonl, line 1" in str(ei.value) and "byte-order mark" in str(ei.value)


def test_blank_lines_are_rejected_with_line(tmp_path):
    p = tmp_path / "blank.jsonl"
    rows = [json.dumps(r) for r in _rows(4)]
    p.write_text(rows[0] + "\n" + rows[1] + "\n\n" + rows[2] + "\n   \n" + rows[3] + "\n")
    with pytest.raises(GoldenSetError) as ei:
        read_golden_set(p)
    assert [pr.line for pr in ei.value.problems] == [3, 5]
    assert all("blank line" in pr.message for pr in ei.value.problems)


def test_record_over_size_limit(tmp_path):
    rows = _rows(3)
    rows[1]["input"] = "x" * 5000
    p = _write_jsonl(tmp_path / "big.jsonl", rows)
    with pytest.raises(GoldenSetError) as ei:
        read_golden_set(p, max_record_bytes=1000)
    (pr,) = ei.value.problems
    assert pr.line == 2 and "over the limit of 1,000" in pr.message


def test_invalid_json_and_non_object(tmp_path):
    p = _write_jsonl(tmp_path / "bad.jsonl", _rows(4), {2: b'{"id": "a", "input": ', 4: b"[1, 2]"})
    with pytest.raises(GoldenSetError) as ei:
        read_golden_set(p)
    msgs = {pr.line: pr.message for pr in ei.value.problems}
    assert "invalid JSON" in msgs[2] and "expected a JSON object, got list" in msgs[4]


def test_all_problems_reported_in_one_run(tmp_path):
    rows = _rows(40)
    for i in (4, 9, 30):
        del rows[i]["input"]
    p = _write_jsonl(tmp_path / "many.jsonl", rows)
    with pytest.raises(GoldenSetError) as ei:
        read_golden_set(p)
    assert [pr.line for pr in ei.value.problems] == [5, 10, 31]


def test_csv_and_parquet_sources(tmp_path):
    rows = _rows(5)
    csv_path = tmp_path / "g.csv"
    pd.DataFrame([{"id": r["id"], "input": r["input"], "expected": r["expected"]} for r in rows]).to_csv(
        csv_path, index=False
    )
    recs = read_golden_set(csv_path, fmt="csv")
    assert [r.id for r in recs] == [r["id"] for r in rows]
    bad = tmp_path / "bad.csv"
    bad.write_text("id,input,expected\na,hello,x\nb,,y\n")
    with pytest.raises(GoldenSetError) as ei:
        read_golden_set(bad, fmt="csv")
    (pr,) = ei.value.problems
    assert pr.line == 3 and pr.field == "input"
    extra = tmp_path / "extra.csv"
    extra.write_text("id,input,expected\na,hello,x\n,,,stray\n")  # empty cells plus one past the header
    with pytest.raises(GoldenSetError) as ei:
        read_golden_set(extra, fmt="csv")
    assert [(pr.line, pr.field) for pr in ei.value.problems][0] == (3, None)
    assert "more cells than header columns" in ei.value.problems[0].message
    pq = tmp_path / "g.parquet"
    pd.DataFrame([{"id": r["id"], "input": r["input"], "expected": r["expected"]} for r in rows]).to_parquet(
        pq
    )
    assert len(read_golden_set(pq, fmt="parquet")) == 5


def test_sampling_is_deterministic_and_stable_under_growth(tmp_path):
    p = _write_jsonl(tmp_path / "g.jsonl", _rows(200))
    recs = read_golden_set(p)
    a = [r.id for r in sample_in_file_order(recs, 50, seed=7)]
    b = [r.id for r in sample_in_file_order(list(reversed(recs)), 50, seed=7)]
    assert len(a) == 50 and sorted(a) == sorted(b)
    assert sorted(a) != sorted(r.id for r in sample_in_file_order(recs, 50, seed=8))
    # a sample of 20 is a subset of the sample of 50 with the same seed
    assert set(r.id for r in sample_in_file_order(recs, 20, seed=7)) <= set(a)
    assert len(sample_in_file_order(recs, None)) == 200 and len(sample_in_file_order(recs, 999)) == 200


def test_nan_infinity_and_empty_expected_are_rejected_like_null(tmp_path):
    """Issue 24: `"expected": NaN` was accepted, paid for, and silently dropped from the denominator."""
    p = _write_jsonl(
        tmp_path / "g.jsonl",
        _rows(8),
        raw_lines={
            2: b'{"id": "s002", "input": "m", "expected": NaN}',
            3: b'{"id": "s003", "input": "m", "expected": Infinity}',
            4: b'{"id": "s004", "input": "m", "expected": -Infinity}',
            5: b'{"id": "s005", "input": "m", "expected": "  "}',
            6: b'{"id": "s006", "input": "m", "expected": {"amount": NaN}}',
            7: b'{"id": "s007", "input": {"x": Infinity}, "expected": "a"}',
        },
    )
    with pytest.raises(GoldenSetError) as ei:
        read_golden_set(p)
    got = {pr.line: (pr.field, pr.message) for pr in ei.value.problems}
    assert sorted(got) == [2, 3, 4, 5, 6, 7]
    assert all(got[i][0] == "expected" for i in (2, 3, 4, 5, 6)) and got[7][0] == "input"
    assert "NaN" in got[2][1] and "not a finite number" in got[2][1]
    assert "inf" in got[3][1] and "-inf" in got[4][1]
    assert "empty" in got[5][1]
    assert "expected['amount']=nan" in got[6][1]
    assert str(p) in str(ei.value) and "line 2, field 'expected'" in str(ei.value)
    # an empty CSV cell is an empty expected value; an empty list (nothing to extract) is a real answer
    bad = tmp_path / "bad.csv"
    bad.write_text("id,input,expected\na,hello,x\nb,hi,\n")
    with pytest.raises(GoldenSetError) as ei:
        read_golden_set(bad, fmt="csv")
    (pr,) = ei.value.problems
    assert (pr.line, pr.field) == (3, "expected") and "empty" in pr.message
    ok = _write_jsonl(tmp_path / "ok.jsonl", [{"id": "a", "input": "m", "expected": []}])
    assert read_golden_set(ok)[0].expected == []
    # a Parquet float column with a missing value reads as NaN: named, not dropped later
    pq = tmp_path / "g.parquet"
    pd.DataFrame({"id": ["a", "b"], "input": ["x", "y"], "expected": [1.5, float("nan")]}).to_parquet(pq)
    with pytest.raises(GoldenSetError) as ei:
        read_golden_set(pq, fmt="parquet")
    (pr,) = ei.value.problems
    assert (pr.line, pr.field) == (2, "expected")
    # optional expected (judge-only sets) and metadata are checked too
    opt = _write_jsonl(tmp_path / "o.jsonl", [{"id": "a", "input": "m", "metadata": {"w": float("nan")}}])
    with pytest.raises(GoldenSetError) as ei:
        read_golden_set(opt, require_expected=False)
    assert ei.value.problems[0].field == "metadata"
