"""The per-sample diff: data assembly from the warehouse, the page's escaping and the ``eval-pipeline diff`` command
(plain functions; the page in a real browser is ``e2e/test_diff_page_browser.py``)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from eval_pipeline.history.diff_data import diff_pieces, load_run_pair
from eval_pipeline.history.diff_page import build_diff_html
from eval_pipeline.storage import keys
from eval_pipeline.storage.warehouse import Warehouse
from eval_pipeline_tests.support import diff_synthetic as ds


@pytest.fixture()
def wh(tmp_path):
    w = Warehouse.from_url(tmp_path / "wh")
    ds.write_pair(w)
    return w


def test_diff_pieces_mark_only_changed_words():
    a, b, ratio = diff_pieces("Open the app, then tap settings.", "Open the app and tap settings.")
    assert "".join(p[0] for p in a) == "Open the app, then tap settings."
    assert "".join(p[0] for p in b) == "Open the app and tap settings."
    assert [p[0].strip() for p in a if p[1]] == [", then"]
    assert [p[0].strip() for p in b if p[1]] == ["and"]
    assert 0.5 < ratio < 1
    assert diff_pieces("same", "same") == ([["same", 0]], [["same", 0]], 1.0)


def test_long_different_answers_are_diffed_by_line_quickly():
    import time

    a = "\n".join(f"line {i} of the old answer with some words" for i in range(1500))
    b = "\n".join(
        f"line {i} of the new reply with other words"
        if i % 3
        else f"line {i} of the old answer with some words"
        for i in range(1500)
    )
    t = time.perf_counter()
    pa, pb, ratio = diff_pieces(a, b)
    assert time.perf_counter() - t < 2.0  # word level would be 13,500 x 13,500 tokens
    assert "".join(p[0] for p in pa) == a and "".join(p[0] for p in pb) == b
    assert any(not p[1] and "line 3 of the old" in p[0] for p in pb)  # unchanged lines stay unmarked
    assert 0.2 < ratio < 0.5


def test_samples_sorted_regressed_first_with_both_sides(wh):
    data = load_run_pair(wh, (ds.DATE, ds.CAND), (ds.DATE, ds.BASE))
    st = [s["st"] for s in data["samples"]]
    n_reg = data["counts"]["regressed"]
    # routing: every 7th sample regressed where the baseline was right; FAQ: judge score 4 -> 3 on every 3rd
    assert n_reg == sum(1 for i in range(40) if i % 7 == 0 and i % 11 != 3) + len(range(0, 10, 3))
    assert st[:n_reg] == ["regressed"] * n_reg and "regressed" not in st[n_reg:]
    first = data["samples"][0]
    assert (
        first["set"] == "customer_support/routing" and first["size"] == 1.0
    )  # a lost pass before a judge 4 -> 3
    chk = dict(zip(data["checks"], range(len(data["checks"]))))["deterministic:exact_label"]
    row = next(r for r in first["checks"] if r[0] == chk)
    assert (row[1], row[4], row[7]) == (1.0, 0.0, -1.0)  # baseline pass, candidate fail
    improved = [s for s in data["samples"] if s["st"] == "improved"]
    assert improved and all(s["size"] > 0 for s in improved)
    faq = next(s for s in data["samples"] if s["id"] == "faq-00000")
    assert faq["input"] == "user: How do I do thing 0?"  # a conversation shown as turns


def test_hostile_answer_cannot_close_the_script(wh):
    page = build_diff_html(load_run_pair(wh, (ds.DATE, ds.CAND), (ds.DATE, ds.BASE)))
    blob = re.search(r'<script type="application/json" id="diff-data">(.*?)</script>', page, re.S).group(1)
    assert "</script" not in blob.lower()
    assert json.loads(blob)["samples"][0]["cand"][0][0] == ds.HOSTILE  # the text itself is intact
    assert page.count("<script") == 2  # the data block and the page's own script, nothing injected


def test_cli_diff_writes_the_page_and_prints_its_path(wh, monkeypatch, capsys):
    from eval_pipeline import cli

    monkeypatch.setenv("EVAL_WAREHOUSE_URL", wh.root)
    assert cli.main(["diff", ds.CAND, ds.BASE]) == 0
    out = capsys.readouterr().out.strip().splitlines()[-1]
    assert out.endswith(keys.diff_page(ds.DATE, ds.CAND, against=(ds.DATE, ds.BASE)))
    assert "route-00007" in Path(out).read_text(encoding="utf-8")
    assert cli.main(["diff", ds.CAND, f"{ds.BASE}@2026-01-01"]) == 2
    assert "no scored run to compare" in capsys.readouterr().err  # no candidate run on or before that date
    assert cli.main(["diff", ds.CAND, ds.BASE, "--date", "2026-01-01"]) == 2
    assert "no scores for cand-v2 on 2026-01-01" in capsys.readouterr().err


def test_any_pair_of_versions_and_dates_and_the_pickers_link_written_pages(wh, monkeypatch, capsys):
    """Any two runs: reversed roles, two dates, one version against itself a day apart; every page written is
    listed by pair_index and linked (relative) from the pickers of the next page."""
    from eval_pipeline import cli
    from eval_pipeline.history.pair_index import picker_data, written_diffs

    later = "2026-01-08"
    ds.write_pair(wh, date=later)
    monkeypatch.setenv("EVAL_WAREHOUSE_URL", wh.root)
    pairs = [
        (ds.BASE, ds.CAND, None),  # the other way round, latest common date
        (f"{ds.CAND}@{later}", f"{ds.BASE}@{ds.DATE}", None),  # two dates
        (f"{ds.CAND}@{later}", f"{ds.CAND}@{ds.DATE}", None),  # one version, a day apart
        (ds.CAND, ds.BASE, ds.DATE),  # --date
    ]
    for c, b, date in pairs:
        assert cli.main(["diff", c, b, *(["--date", date] if date else [])]) == 0, capsys.readouterr().err
    capsys.readouterr()
    got = {(d["c"], d["cd"], d["b"], d["bd"]) for d in written_diffs(wh)}
    assert got == {
        (ds.BASE, later, ds.CAND, later),
        (ds.CAND, later, ds.BASE, ds.DATE),
        (ds.CAND, later, ds.CAND, ds.DATE),
        (ds.CAND, ds.DATE, ds.BASE, ds.DATE),
    }
    page = Path(wh.root) / keys.diff_page(later, ds.CAND, against=(ds.DATE, ds.CAND))
    blob = json.loads(re.search(r'id="pair-data">(.*?)</script>', page.read_text()).group(1))
    assert blob["here"] == {"c": ds.CAND, "cd": later, "b": ds.CAND, "bd": ds.DATE}
    assert blob["runs"] == {ds.BASE: [ds.DATE, later], ds.CAND: [ds.DATE, later]}
    here = keys.diff_page(later, ds.CAND, against=(ds.DATE, ds.CAND))
    data = picker_data(wh, here)
    for d in data["diffs"]:  # each link, relative to this page, lands on a written page of that pair
        target = (page.parent / d["href"]).resolve()
        assert target.is_file() and target.name.startswith("vs-"), d
    # a regression report's own diff page (beside its report.json) is listed with the baseline it tested against
    report_key = keys.regression_report(later, ds.BASE)
    wh.write_bytes(report_key, json.dumps({"summary": {"baseline": f"{ds.BASE}@{ds.DATE}"}}).encode())
    wh.write_bytes(keys.diff_page(later, ds.BASE), b"<html></html>")
    assert (ds.BASE, later, ds.BASE, ds.DATE) in {
        (d["c"], d["cd"], d["b"], d["bd"]) for d in written_diffs(wh)
    }
