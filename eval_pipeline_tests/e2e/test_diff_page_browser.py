"""The per-sample diff page in a real browser (Playwright + Debian's /usr/bin/chromium).

Two synthetic runs (``diff_synthetic``: routing labels, FAQ answers judged 1-5, one ``<script>`` answer) are
written to a warehouse with its real table layout; ``eval-pipeline diff`` builds the page; it is opened from
the file with every other request refused. Checks: regressed routing samples come first with both answers side
by side and the changed words marked; the hostile answer shows as text and runs nothing; the status, segment
and check filters, search and paging change what is listed; the pickers name this pair and, for another,
the command that writes its page. A screenshot goes to ``test-artifacts/``.
"""

from __future__ import annotations

import pytest

from eval_pipeline.storage.warehouse import Warehouse
from eval_pipeline_tests.support import diff_synthetic as ds
from eval_pipeline_tests.support.browser import ARTIFACTS, chromium_page, open_offline


@pytest.fixture(scope="module")
def page_path(tmp_path_factory):
    from eval_pipeline import cli

    tmp = tmp_path_factory.mktemp("diff")
    wh = Warehouse.from_url(tmp / "wh")
    ds.write_pair(wh, n=120, n_faq=12)
    out = tmp / "diff.html"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EVAL_WAREHOUSE_URL", wh.root)
        assert cli.main(["diff", ds.CAND, ds.BASE, "--out", str(out)]) == 0
    return out


def test_diff_page_regressed_first_filters_search_paging(page_path):
    with chromium_page(1400, 1000) as page:
        outside, errors = open_offline(page, page_path)
        page.wait_for_function("window.diffStatus && window.diffStatus.done_ms !== null")
        cards = page.locator(".sample")
        n_reg = sum(1 for i in range(120) if i % 7 == 0 and i % 11 != 3) + len(range(0, 12, 3))
        assert cards.count() == 25
        status = [cards.nth(i).get_attribute("data-status") for i in range(25)]
        assert status[:n_reg] == ["regressed"] * n_reg and "regressed" not in status[n_reg:]
        first = cards.first
        assert "customer_support/routing" in first.inner_text()
        base, cand = first.locator("pre.answer.base"), first.locator("pre.answer.cand")
        assert base.inner_text() == "card_arrival" and cand.inner_text() == ds.HOSTILE  # shown as text
        bb, cb = base.bounding_box(), cand.bounding_box()
        assert cb["x"] > bb["x"] + bb["width"] - 1 and abs(cb["y"] - bb["y"]) < 2  # side by side
        assert first.locator("mark.chg").count() == 2
        assert first.locator("tr.worse td.v.fail").count() == 1
        assert page.evaluate("window.__pwned") is None and page.locator("img").count() == 0
        page.screenshot(path=str(ARTIFACTS / "diff_page.png"))

        def listed():
            page.wait_for_timeout(50)
            return page.evaluate("window.diffStatus.matched")

        page.select_option("#f-status", "improved")
        n_imp = listed()
        assert n_imp == sum(1 for i in range(120) if i % 11 == 3) + len(range(2, 12, 3))
        assert {cards.nth(i).get_attribute("data-status") for i in range(cards.count())} == {"improved"}
        page.select_option("#f-status", "all")
        page.select_option("#f-check", label="judge:helpfulness changed")
        assert listed() == 8  # judge 4 -> 3 or 4 -> 5: two of every three FAQ answers
        page.select_option("#f-check", "")
        page.select_option("#f-seg", label="account")
        assert listed() == 12
        page.select_option("#f-seg", "")
        page.fill("#f-q", "question 77 ")
        page.wait_for_function("window.diffStatus.matched === 1")
        assert "route-00077" in cards.first.inner_text() and cards.count() == 1
        page.fill("#f-q", "")
        page.wait_for_function(f"window.diffStatus.matched === {120 + 12}")
        page.click("#next")
        assert "samples 26-50 of 132" in page.inner_text("#pager-info")
        # the pickers: this pair, then any other pair of versions and dates (here: the other way round)
        assert page.input_value("#pick-c") == ds.CAND and page.input_value("#pick-b") == ds.BASE
        assert page.inner_text("#pair-result") == "(this page)"
        page.select_option("#pick-c", ds.BASE)
        page.select_option("#pick-b", ds.CAND)
        assert (
            page.inner_text("#pair-command") == f"eval-pipeline diff {ds.BASE}@{ds.DATE} {ds.CAND}@{ds.DATE}"
        )
        assert outside == [] and errors == []
