"""The report's morning summary (latest date's verdicts, failing first, with the diff link) and the honest
labels of comparison rows (``inconclusive`` vs ``no change``)."""

from __future__ import annotations

import json

import pandas as pd

from eval_pipeline.history.report_summary import effect_label, latest_verdicts, summary_html
from eval_pipeline.storage import keys
from eval_pipeline.storage.warehouse import Warehouse


def _row(verdict, lo, hi, m=0.03, direction="higher"):
    return {"verdict": verdict, "ci_low": lo, "ci_high": hi, "min_effect": m, "direction": direction}


def test_no_change_only_inside_the_minimum_effect():
    assert (
        effect_label(_row("no_change", -0.24, 0.0397)) == "inconclusive"
    )  # the issue's -10 pts [-24, +3.97]
    assert effect_label(_row("no_change", -0.24, 0.01)) == "inconclusive"  # reaches past -min: cannot say
    assert effect_label(_row("no_change", -0.02, 0.025)) == "no change"
    assert effect_label(_row("no_change", -0.09, -0.01)) == "worse (n.s. after correction)"  # excludes 0
    assert effect_label(_row("regression", -0.24, -0.09)) == "regression"
    assert effect_label(pd.Series(_row("no_change", -0.5, 0.5))) == "inconclusive"  # a matrix row


def test_latest_verdicts_fail_first_with_why_and_diff_link(tmp_path):
    wh = Warehouse.from_url(tmp_path / "wh")
    d = "2026-01-07"
    row = {
        "suite": "s", "eval_set": "routing", "family": "deterministic", "metric": "exact_match", "segment": "__all__",
        "measure": "pass_rate", "effect": -0.165, "ci_low": -0.237, "ci_high": -0.093, "p_gate": 0.0001,
        "test": "mcnemar_exact", "n_pairs": 200, "gating": True, "verdict": "regression", "direction": "higher",
    }  # fmt: skip
    report = {"summary": {"status": "ok", "baseline": f"prod@{d}"}, "rows": [row]}
    wh.write_bytes(keys.regression_report(d, "cand"), json.dumps(report).encode())
    wh.write_bytes(keys.diff_page(d, "cand"), b"<html></html>")
    runs = pd.DataFrame({"date": [d, d, "2026-01-06"], "model_version": ["prod", "cand", "old"]})
    rows = latest_verdicts(wh, runs, production="prod")
    assert [(r["model_version"], r["verdict"]) for r in rows] == [("cand", "FAIL"), ("prod", "NOT TESTED")]
    assert (
        "s/routing exact_match -16.5 pts [-23.7, -9.3]" in rows[0]["why"] and "n=200 pairs" in rows[0]["why"]
    )
    assert rows[0]["diff"] == "../regression/date=2026-01-07/model_version=cand/diff.html"
    assert rows[1]["diff"] is None
    page = summary_html(rows)
    assert page.index("cand") < page.index("prod (production)") and 'class="diff-link"' in page
    assert rows[0]["not_live"] is None and "not-live" not in page  # no artifact: nothing claimed
    label = "NOT LIVE - synthetic answers: 200/200 (replay of data/recordings)"
    wh.write_bytes(
        keys.run_artifact(d, "cand"), json.dumps({"live_answers_only": False, "answers": label}).encode()
    )
    wh.write_bytes(
        keys.run_artifact(d, "prod"), json.dumps({"live_answers_only": True, "answers": "live"}).encode()
    )
    rows = latest_verdicts(wh, runs, production="prod")
    by = {r["model_version"]: r for r in rows}
    assert by["cand"]["not_live"] == label and by["prod"]["not_live"] is None
    assert f'<span class="not-live">{label}</span>' in summary_html(rows)
    hostile = summary_html([{**rows[0], "why": "<script>x</script>"}])
    assert "<script>" not in hostile and "&lt;script&gt;" in hostile


def test_threshold_lines_go_on_the_charts_they_name(tmp_path):
    from eval_pipeline.history.report_summary import attach_thresholds, chart_thresholds

    wh = Warehouse.from_url(tmp_path / "wh")
    d = "2026-01-07"
    ts = [
        {"suite": "s", "eval_set": "faq", "metric": "cosine_pass_rate", "min": 0.7, "max": None, "enforced_blocking": True},
        {"suite": "s", "eval_set": "faq", "metric": "mean_cosine", "min": 0.6, "max": None, "enforced_blocking": False},
        {"suite": "s", "eval_set": "routing", "metric": "pass_rate", "min": 0.8, "max": None, "enforced_blocking": True},
    ]  # fmt: skip
    wh.write_bytes(keys.run_artifact(d, "cand"), json.dumps({"eval_sets": [{"thresholds": ts}]}).encode())
    thr = chart_thresholds(wh, pd.DataFrame({"date": [d], "model_version": ["cand"]}))
    charts = [
        {"suite": "s", "eval_set": "faq", "metric": "cosine", "measure": "pass_rate"},
        {"suite": "s", "eval_set": "routing", "metric": "exact_match", "measure": "pass_rate"},
    ]
    attach_thresholds(charts, thr)
    # the cosine pass-rate chart gets its blocking min line (not the mean's); a set-level pass_rate has no chart
    assert charts[0]["thr"] == [{"y": 0.7, "bound": "min", "blocking": True}]
    assert "thr" not in charts[1]


def test_constant_charts_are_folded_with_their_anchor():
    from eval_pipeline.history.report_summary import fold_constant, folded_html

    flat = {"id": "c-flat", "metric": "judge_refusal", "measure": "mean_value", "q": 0.5,
            "series": [{"y": [0, 0, None]}, {"y": [0]}]}  # fmt: skip
    moving = {
        "id": "c-move",
        "metric": "exact_match",
        "measure": "pass_rate",
        "q": 0.01,
        "series": [{"y": [90, 91]}],
    }
    alerted = {**flat, "id": "c-alert", "alerts": [{"x": 0}]}
    kept, folded = fold_constant([flat, moving, alerted])
    assert [c["id"] for c in kept] == ["c-move", "c-alert"] and [c["id"] for c in folded] == ["c-flat"]
    assert 'id="c-flat"' in folded_html(
        folded
    ) and "judge_refusal (mean value): 0 in every run" in folded_html(folded)
