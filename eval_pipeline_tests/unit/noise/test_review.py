"""Human review loop: selection, JSONL/CSV export, validated ingest into calibration rows and golden records."""

from __future__ import annotations

import csv
import json

import pandas as pd
import pytest

from eval_pipeline.evaluators import calibration_metrics as CM
from eval_pipeline.evaluators import judge as J
from eval_pipeline.ingestion import reviews as RI
from eval_pipeline.noise import review as R
from eval_pipeline_tests.support.judge import FakeExecutor, samples_frame, user_text

CFG = J.JudgeConfig(
    model="claude-sonnet-4-5",
    repeats=3,
    dimensions=[
        {"name": "accuracy", "scale": [1, 5], "threshold": 3.5},
        {"name": "tone", "scale": [1, 5], "threshold": 4},
    ],
)
# per-sample judge scores for (accuracy, tone) in each of 3 repeats
SCRIPT = {
    "ANS-CLEAR-PASS": [(5, 5), (5, 5), (5, 5)],  # nothing to review (unless similarity disagrees)
    "ANS-SPLIT": [(1, 5), (5, 5), (4, 5)],  # accuracy spread 4 -> repeats disagree
    "ANS-MARGIN": [(5, 4), (5, 4), (5, 4)],  # tone median 4 == threshold -> low margin
    "ANS-CLEAR-FAIL": [(1, 1), (1, 1), (1, 1)],  # nothing (similarity agrees it fails)
    "ANS-BROKEN": None,  # unparseable -> judge_failed
}


def judged():
    samples = samples_frame([{"response_text": k, "category": f"c{i}"} for i, k in enumerate(SCRIPT)])

    def responder(req):
        text = user_text(req)
        for marker, script in SCRIPT.items():
            if marker in text:
                if script is None:
                    return {"tool_input": {"reasoning": "x"}}
                a, t = script[req.repeat]
                return {"tool_input": {"reasoning": f"r{req.repeat}", "accuracy": a, "tone": t}}
        raise AssertionError(text)

    rows, _ = J.score(samples, CFG, FakeExecutor(responder))
    sim = pd.DataFrame(
        {
            "eval_set": "faq",
            "sample_id": ["s0", "s3"],
            "repeat": 0,
            "family": "similarity",
            "metric": "cosine",
            "value": [0.41, 0.30],
            "passed": [False, False],
        }
    )
    return samples, rows, sim


def test_select_for_review_flags_each_reason():
    samples, rows, sim = judged()
    items = R.select_for_review(samples, rows, CFG, sim)
    by_id = {r.sample_id: r for r in items.itertuples()}
    assert set(by_id) == {"s0", "s1", "s2", "s4"}
    assert any(
        x.startswith("judge_similarity_disagree: judge passes but cosine fails") for x in by_id["s0"].reasons
    )
    assert any(x.startswith("judge_repeats_disagree: accuracy spread 4") for x in by_id["s1"].reasons)
    assert any(x.startswith("low_margin: tone median 4") for x in by_id["s2"].reasons)
    assert any("judge_unparseable" in x for x in by_id["s4"].reasons)
    assert by_id["s1"].response_text == "ANS-SPLIT" and by_id["s1"].input == "question 1"
    assert by_id["s1"].judge_scores == {"accuracy": 4.0, "tone": 5.0}
    assert by_id["s1"].human_label == {"accuracy": None, "tone": None}
    assert by_id["s1"].review_id == "support/faq/s1/r0"
    # without similarity rows, s0 is no longer interesting
    assert "s0" not in set(R.select_for_review(samples, rows, CFG).sample_id)
    # a wider margin flags s1 on tone? no: tone median 5 vs 4 -> still outside a 0.5 margin
    assert not any(x.startswith("low_margin: tone") for x in by_id["s1"].reasons)


@pytest.mark.parametrize("suffix", [".jsonl", ".csv"])
def test_export_label_ingest_round_trip(tmp_path, suffix):
    samples, rows, sim = judged()
    items = R.select_for_review(samples, rows, CFG, sim)
    path = R.export_review(items, tmp_path / f"review{suffix}")
    R.export_review(items, path)  # rerun overwrites, idempotent
    assert path.read_text() == R.export_review(items, tmp_path / f"again{suffix}").read_text()
    # nothing labelled yet
    empty = RI.ingest_review(path, CFG)
    assert empty.golden == [] and empty.ratings.empty and len(empty.unlabelled) == 4

    # a human labels two items, one with a corrected reference
    if suffix == ".jsonl":
        recs = [json.loads(x) for x in path.read_text().splitlines()]
        recs[1]["human_label"] = {"accuracy": 2, "tone": 5}
        recs[2]["human_label"]["tone"] = 3
        recs[2]["human_expected"] = "The corrected answer."
        path.write_text("".join(json.dumps(r) + "\n" for r in recs))
    else:
        with path.open(newline="") as fh:
            recs = list(csv.DictReader(fh))
        header = list(recs[0])
        assert "human_label.accuracy" in header and "human_label.tone" in header
        recs[1]["human_label.accuracy"], recs[1]["human_label.tone"] = "2", "5"
        recs[2]["human_label.tone"] = "3.0"
        recs[2]["human_expected"] = "The corrected answer."
        with path.open("w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=header)
            w.writeheader()
            w.writerows(recs)

    got = RI.ingest_review(path, CFG)
    assert got.n_rows == 4 and got.n_labelled == 2
    r = got.ratings.sort_values(["sample_id", "dimension"]).reset_index(drop=True)
    assert r[["sample_id", "dimension", "human"]].values.tolist() == [
        ["s1", "accuracy", 2.0],
        ["s1", "tone", 5.0],
        ["s2", "tone", 3.0],
    ]
    assert r.judge.tolist() == [4.0, 5.0, 4.0]
    metrics = CM.rating_metrics_from_frame(r)
    assert metrics["accuracy"]["n"] == 1 and metrics["tone"]["exact_agreement"] == 0.5
    g = {x["metadata"]["original_sample_id"]: x for x in got.golden}
    assert set(g) == {"s1", "s2"}
    assert g["s2"]["expected"] == "The corrected answer." and g["s1"]["expected"] == "reference 1"
    assert g["s1"]["metadata"]["source"] == "human_review" and g["s1"]["metadata"]["human_label"] == {
        "accuracy": 2,
        "tone": 5,
    }
    assert g["s1"]["input"] == "question 1" and g["s1"]["metadata"]["category"] == "c1"
    out = RI.write_golden_jsonl(got.golden, tmp_path / "golden" / "human_review.jsonl")
    assert [json.loads(x)["id"] for x in out.read_text().splitlines()] == ["hr-s1", "hr-s2"]


def test_ingest_errors_name_file_line_and_field(tmp_path):
    samples, rows, sim = judged()
    path = R.export_review(R.select_for_review(samples, rows, CFG, sim), tmp_path / "labels.jsonl")
    recs = [json.loads(x) for x in path.read_text().splitlines()]
    recs[0]["human_label"] = {"accuracy": 7, "tone": "great"}
    recs[1]["human_label"] = {"acuracy": 3}
    recs[2]["human_label"] = {"accuracy": 2.5}
    lines = [json.dumps(r) for r in recs]
    lines[3] = "{broken"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(RI.ReviewFileError) as exc:
        RI.ingest_review(path, CFG)
    errs = exc.value.errors
    assert f"{path}:1: field 'human_label.accuracy': 7 is outside the scale [1, 5]" in errs[0]
    assert any(e.startswith(f"{path}:1: field 'human_label.tone': 'great' is not a number") for e in errs)
    assert any(e.startswith(f"{path}:2: field 'human_label.acuracy': unknown dimension") for e in errs)
    assert any(e.startswith(f"{path}:3: field 'human_label.accuracy'") and "whole number" in e for e in errs)
    assert any(e.startswith(f"{path}:4: invalid JSON") for e in errs)
    assert len(errs) == 5


def test_ingest_without_config_uses_exported_scales_and_rejects_duplicates(tmp_path):
    samples, rows, sim = judged()
    path = R.export_review(R.select_for_review(samples, rows, CFG, sim), tmp_path / "labels.jsonl")
    recs = [json.loads(x) for x in path.read_text().splitlines()]
    recs[0]["human_label"]["tone"] = 5
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))
    assert len(RI.ingest_review(path).ratings) == 1
    path.write_text("".join(json.dumps(r) + "\n" for r in [recs[0], recs[0]]))
    with pytest.raises(RI.ReviewFileError, match=r"labels\.jsonl:2: review_id .* duplicates line 1"):
        RI.ingest_review(path)
    with pytest.raises(ValueError, match=r"\.txt: review files must end in \.jsonl or \.csv"):
        R.export_review(pd.DataFrame(columns=R.REVIEW_FIELDS), tmp_path / "x.txt")


def test_ingest_reads_lines_like_the_golden_reader(tmp_path):
    """Review files go through the golden-set line readers: BOM, bad UTF-8 and an empty object are named by line."""
    samples, rows, sim = judged()
    path = R.export_review(R.select_for_review(samples, rows, CFG, sim), tmp_path / "labels.jsonl")
    lines = path.read_bytes().splitlines()
    lines[1] = '{"review_id": "caf\xe9"}'.encode("latin-1")
    lines[2] = b"{}"
    path.write_bytes(b"\xef\xbb\xbf" + b"\n".join(lines) + b"\n\n")  # a trailing blank line is fine
    with pytest.raises(RI.ReviewFileError) as exc:
        RI.ingest_review(path, CFG)
    errs = exc.value.errors
    assert (
        errs[0] == f"{path}:1: file starts with a UTF-8 byte-order mark (BOM); save it as UTF-8 without BOM"
    )
    assert errs[1].startswith(f"{path}:2: invalid UTF-8")
    assert errs[2:] == [
        f"{path}:3: field '{f}': missing; keep the exported columns"
        for f in ("review_id", "sample_id", "input", "human_label")
    ]


def test_ingest_csv_bom_and_extra_cells_are_named(tmp_path):
    samples, rows, sim = judged()
    path = R.export_review(R.select_for_review(samples, rows, CFG, sim), tmp_path / "labels.csv")
    text = path.read_text().splitlines()
    text[1] += ",extra"
    path.write_bytes(b"\xef\xbb\xbf" + ("\n".join(text) + "\n").encode())
    with pytest.raises(RI.ReviewFileError) as exc:
        RI.ingest_review(path, CFG)
    assert exc.value.errors == [
        f"{path}:1: file starts with a UTF-8 byte-order mark (BOM); save it as UTF-8 without BOM",
        f"{path}:2: more cells than header columns; quote cells that contain commas",
    ]
    path.write_text("")  # an empty review file is nothing to ingest, not an error
    assert RI.ingest_review(path, CFG).n_rows == 0
