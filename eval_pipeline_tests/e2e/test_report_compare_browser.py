"""The report's "compare any two versions" pickers in a real browser (Playwright + Debian's /usr/bin/chromium).

A synthetic history (4 versions x 3 pass-rate metrics x 10 days, 200 samples a run) is built into a report,
opened from the file (offline). Any version at any date against any other: the table lists every metric with
both runs' values and the difference with its MOVER interval, equal to the one computed here from the Wilson
intervals (statsmodels); a pair whose diff page is written links to it, any other shows the command that writes it.
"""

from __future__ import annotations

import math
import re

import pytest
from statsmodels.stats.proportion import proportion_confint

from eval_pipeline.history.report_compare import runs_from_scores
from eval_pipeline.history.report_page import build_report_html
from eval_pipeline_tests.support.browser import chromium_page, open_offline
from eval_pipeline_tests.support.report_synthetic import synthetic_history


def _mover(scores, c, cd, b, bd, metric):
    def run(v, d):
        r = scores[
            (scores["model_version"] == v) & (scores["date"] == d) & (scores["metric"] == metric)
        ].iloc[0]
        lo, hi = proportion_confint(r["n_passed"], r["n_graded"], alpha=0.05, method="wilson")
        return r["pass_rate"], lo, hi

    (a, la, ua), (p, lb, ub) = run(c, cd), run(b, bd)
    d = a - p
    return d, d - math.sqrt((a - la) ** 2 + (ub - p) ** 2), d + math.sqrt((ua - a) ** 2 + (p - lb) ** 2)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    h = synthetic_history(n_versions=4, n_metrics=3, n_days=10, n=200)
    v, dates = h["versions"], sorted(h["scores"]["date"].unique())
    written = {"c": v[3], "cd": dates[-1], "b": v[1], "bd": dates[2], "href": "../diff/written.html"}
    pairs = {"runs": runs_from_scores(h["scores"]), "diffs": [written]}
    path = tmp_path_factory.mktemp("compare") / "report.html"
    path.write_text(build_report_html(h["scores"], h["ops"], production=v[0], pairs=pairs))
    return path, h, dates


def test_any_version_at_any_date_against_any_other(report):
    path, h, dates = report
    v, scores = h["versions"], h["scores"]
    metrics = sorted(scores["metric"].unique())
    with chromium_page(1400, 1000) as page:
        outside, errors = open_offline(page, path)
        page.wait_for_function("window.compareStatus && window.compareStatus.rows > 0")
        # opens on a non-production version's latest run against production's
        assert page.evaluate("window.compareStatus.pair") == {
            "c": v[1],
            "cd": dates[-1],
            "b": v[0],
            "bd": dates[-1],
        }
        # two versions, neither production, at two different dates
        page.select_option("#pick-c", v[2])
        page.select_option("#pick-cd", dates[3])
        page.select_option("#pick-b", v[3])
        page.select_option("#pick-bd", dates[7])
        page.wait_for_function(f"window.compareStatus.pair.bd === '{dates[7]}'")
        rows = page.locator("#compare-table tr.compare-row")
        assert rows.count() == len(metrics)
        for i, m in enumerate(metrics):
            cells = rows.nth(i).locator("td").all_inner_texts()
            assert cells[1] == m
            d, lo, hi = _mover(scores, v[2], dates[3], v[3], dates[7], m)
            shown = [float(x) for x in re.findall(r"[-+]\d+\.\d", cells[5])]
            # the page's intervals are the blob's, kept to 0.1 point: equal within that rounding
            assert cells[5].endswith(" pts]") and len(shown) == 3, cells
            assert all(abs(x - y * 100) <= 0.15 for x, y in zip(shown, (d, lo, hi), strict=True)), (
                shown,
                d,
                lo,
                hi,
            )
            if min(abs(lo), abs(hi)) > 0.002:  # not at the blob's rounding from 0
                assert cells[6] == ("worse" if hi < 0 else "better" if lo > 0 else "inconclusive")
        assert (
            page.locator("#pair-command").inner_text()
            == f"eval-pipeline diff {v[2]}@{dates[3]} {v[3]}@{dates[7]}"
        )
        assert page.locator("#pair-link").count() == 0
        # a pair whose per-sample diff is written: linked
        page.select_option("#pick-c", v[3])
        page.select_option("#pick-cd", dates[-1])
        page.select_option("#pick-b", v[1])
        page.select_option("#pick-bd", dates[2])
        assert page.locator("#pair-link").get_attribute("href") == "../diff/written.html"
        assert page.locator("#pair-command").count() == 0
    assert outside == [] and errors == []
