"""The interactive history report in a real browser (Playwright + Debian's /usr/bin/chromium).

The demo week (the production version seven nights, the candidate the last two; replayed synthetic
answers, ~50 s) is materialized once for the module through the demo driver, which ends with the
``eval_history`` asset writing ``reports/history/latest.html``. The page is opened from the file
(offline: every request other than the file itself is refused and counted). Checks: every chart
rendered (chart elements, Plotly graphs and their traces), clicking a version in a legend hides
its traces, hovering a point shows its n and 95 % interval, time axes are labelled with dates.
Screenshots go to ``test-artifacts/``.
"""

from __future__ import annotations

import logging
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest

from eval_pipeline.project.paths import PROJECT_ROOT
from eval_pipeline.storage import keys
from eval_pipeline_tests.support.browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, open_offline

DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@pytest.fixture(scope="module")
def demo_week(tmp_path_factory) -> Path:
    """The demo week's warehouse (runs, regression reports, releases, history, the HTML report)."""
    from eval_pipeline.demo import driver

    tmp = tmp_path_factory.mktemp("demo_week")
    home = tmp / "dagster_home"
    home.mkdir()
    shutil.copy(PROJECT_ROOT / ".dagster_home" / "dagster.yaml", home / "dagster.yaml")
    level = logging.getLogger("dagster").level
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DAGSTER_HOME", str(home))
        mp.setenv("EVAL_WAREHOUSE_URL", str(tmp / "wh"))
        mp.setenv("EVAL_PROVIDER", "replay")
        mp.setenv("HF_HUB_OFFLINE", "1")
        mp.setenv("TRANSFORMERS_OFFLINE", "1")
        mp.delenv("EVAL_HISTORY_DB", raising=False)
        try:
            summary = driver.run_demo(quiet=True, with_monitoring=False)
        finally:
            logging.getLogger("dagster").setLevel(level)
    report = Path(summary["history_report"])
    assert report.exists(), summary
    return tmp / "wh"


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


def _open(browser, path: Path):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    outside, errors = open_offline(page, path)
    page.wait_for_function("window.reportStatus && window.reportStatus.done_ms !== null", timeout=60_000)
    return page, outside, errors


def test_demo_week_report_renders_every_chart_toggles_and_hovers(demo_week, browser):
    ARTIFACTS.mkdir(exist_ok=True)
    path = demo_week / keys.history_report()
    history = pd.read_parquet(demo_week / "history" / keys.history_table("score_history"))
    overall = history[history["segment"] == "__all__"]
    n_metric_charts = overall.groupby(["suite", "eval_set", "family", "metric"]).ngroups
    versions = sorted(overall["model_version"].unique())
    assert len(versions) == 2 and n_metric_charts > 10

    page, outside, errors = _open(browser, path)
    assert outside == [] and errors == []  # offline: plotly.js and the data are inline
    status = page.evaluate("window.reportStatus")
    charts = page.locator("div.chart")
    assert status["errors"] == [] and status["total"] == status["rendered"] == charts.count()
    # constant charts are folded into one line each (report_summary.fold_constant), the others drawn
    n_folded = page.locator("details.folded li").count()
    assert page.locator("div.metric-chart").count() + n_folded == n_metric_charts
    assert page.locator("div.ops-chart").count() >= 5 and page.locator("div.failure-chart").count() >= 3
    # every chart element is a drawn Plotly graph with its traces
    drawn = page.evaluate("""() => [...document.querySelectorAll('div.chart')].map(el => ({
        id: el.id, rendered: el.dataset.rendered, traces: (el.data || []).length,
        svg: el.querySelectorAll('g.trace').length, declared: Number(el.dataset.traces)}))""")
    assert all(
        d["rendered"] == "1" and d["traces"] > 0 and d["traces"] == d["declared"] and d["svg"] > 0
        for d in drawn
    ), [d for d in drawn if not d["traces"]]
    assert status["traces"] == sum(d["traces"] for d in drawn)
    page.screenshot(path=str(ARTIFACTS / "history_report_top.png"))

    # the first pass-rate chart of intent_routing: both versions, each a line + its band
    chart_id = page.evaluate("""() => [...document.querySelectorAll('div.metric-chart')]
        .find(el => el.id.includes('intent_routing') && el.data.some(t => t.legendgroup && t.fill === 'toself')).id""")
    chart = page.locator(f"#{chart_id}")
    chart.scroll_into_view_if_needed()
    candidate = versions[1] if versions[0].startswith("support-bot-v1") else versions[0]
    groups = page.evaluate(
        f"() => document.getElementById('{chart_id}').data.map(t => [t.legendgroup, t.visible])"
    )
    assert sum(1 for g, _ in groups if g == candidate) == 2  # line + band
    # time axis: date labels only, one per day (no hourly ticks)
    ticks = page.evaluate(
        f"() => [...document.querySelectorAll('#{chart_id} .xtick text')].map(t => t.textContent)"
    )
    assert ticks and all(DATE_RE.match(t) for t in ticks), ticks
    assert len(set(ticks)) == len(ticks) <= overall["date"].nunique() + 1

    # hover a point of the candidate: the label shows n and the 95% interval
    box = page.evaluate(f"""() => {{
        const gd = document.getElementById('{chart_id}'), fl = gd._fullLayout;
        const i = gd.data.findIndex(t => t.legendgroup === '{candidate}' && t.fill !== 'toself');
        const t = gd.data[i], r = gd.getBoundingClientRect();
        return {{x: r.left + fl._size.l + fl.xaxis.d2p(t.x[0]), y: r.top + fl._size.t + fl.yaxis.d2p(t.y[0]),
                 n: t.customdata[0][0]}};
    }}""")
    page.mouse.move(box["x"], box["y"])
    label = page.locator(f"#{chart_id} .hoverlayer .hovertext")
    label.first.wait_for(timeout=5000)
    text = label.first.text_content()
    assert f"n={box['n']}" in text and "95% interval [" in text and candidate in text, text
    chart.screenshot(path=str(ARTIFACTS / "history_report_hover.png"))

    # toggle the candidate off in the legend: its line and band are hidden, production stays
    page.mouse.move(0, 0)
    chart.locator("g.legend g.traces", has_text=candidate).first.click()
    page.wait_for_function(
        f"""() => document.getElementById('{chart_id}').data
        .filter(t => t.legendgroup === '{candidate}').every(t => t.visible === 'legendonly')""",
        timeout=5000,
    )
    vis = page.evaluate(
        f"() => document.getElementById('{chart_id}').data.map(t => [t.legendgroup, t.visible])"
    )
    assert all(v == "legendonly" for g, v in vis if g == candidate)
    assert all(
        v in (None, True)
        for g, v in vis
        if g == versions[0] or g == [v for v in versions if v != candidate][0]
    )
    hidden = page.locator(f"#{chart_id} g.scatterlayer g.trace").evaluate_all("els => els.length")
    assert hidden == len([1 for _, v in vis if v != "legendonly"])  # hidden traces are not drawn
    chart.screenshot(path=str(ARTIFACTS / "history_report_toggled.png"))

    # the alerts link to charts that exist; the matrix has the candidate's column with a verdict colour
    hrefs = page.locator("a.alert-link").evaluate_all("els => els.map(a => a.getAttribute('href').slice(1))")
    assert all(page.locator(f"[id='{h}']").count() == 1 for h in hrefs)
    assert page.locator("#matrix td.regression, #matrix td.no_change, #matrix td.improvement").count() > 0
    assert page.locator("table.samples").count() >= 1
    page.close()


def test_demo_candidate_regression_row_opens_its_per_sample_diff(demo_week, browser):
    """The failing candidate's regression cell links to its diff page (written by ``regression_report``): the
    regressed routing samples come first, both answers side by side; the status filter and search work."""
    report = demo_week / keys.history_report()
    page, outside, errors = _open(browser, report)
    links = page.locator("#matrix td.regression a.diff-link")
    assert links.count() > 0 and outside == [] and errors == []
    # the report opens with the latest date's verdicts: the candidate's failing gate first, naming its metric
    first_row = page.locator("#summary tr.verdict-row").first.inner_text()
    assert (
        first_row.startswith("FAIL")
        and "support-bot-v2" in first_row
        and "intent_routing exact_match" in first_row
        and "NOT LIVE" in first_row  # the demo replays recorded answers: the row says so
    )
    assert page.locator("#summary a.diff-link").first.get_attribute("href") == links.first.get_attribute(
        "href"
    )
    target = (report.parent / links.first.get_attribute("href")).resolve()
    # compare any two versions: opens on the failing candidate against production, linked to the same diff page
    page.wait_for_function("window.compareStatus && window.compareStatus.rows > 0")
    pair = page.evaluate("window.compareStatus.pair")
    assert pair["c"].startswith("support-bot-v2") and pair["b"].startswith("support-bot-v1")
    assert (report.parent / page.locator("#pair-link").get_attribute("href")).resolve() == target
    worse = page.locator("#compare-table tr.compare-row", has_text="exact_match").first.inner_text()
    assert "intent_routing" in worse and worse.endswith("worse")
    page.close()
    assert target.is_file() and target.name == "diff.html", target
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(target.as_uri())
    page.wait_for_function("window.diffStatus && window.diffStatus.done_ms !== null", timeout=30_000)
    first = page.locator(".sample").first
    assert first.get_attribute("data-status") == "regressed"
    assert "customer_support/intent_routing" in first.inner_text()
    base, cand = (
        first.locator("pre.answer.base").bounding_box(),
        first.locator("pre.answer.cand").bounding_box(),
    )
    assert cand["x"] > base["x"] + base["width"] - 1 and abs(cand["y"] - base["y"]) < 2  # side by side
    assert first.locator("tr.worse").count() >= 1
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "diff_page_demo.png"))
    total = page.evaluate("window.diffStatus.total")
    page.select_option("#f-status", "unchanged")
    page.wait_for_function(f"window.diffStatus.matched < {total}")
    assert page.locator(".sample[data-status=unchanged]").count() == page.locator(".sample").count() > 0
    page.select_option("#f-status", "all")
    sid = page.locator(".sample b.sid").first.inner_text()
    page.fill("#f-q", sid)
    page.wait_for_function(f"window.diffStatus.matched < {total}")
    assert sid in page.locator(".sample b.sid").first.inner_text()
    assert errors == []
    page.close()


def test_single_date_history_is_a_point_on_a_date_axis(tmp_path, browser):
    """One run on one date: the axis shows that date (not 00:00 .. 23:00 hours) and one point."""
    from eval_pipeline.history.report_page import build_report_html

    scores = pd.DataFrame(
        {
            "date": ["2026-11-20"],
            "model_version": ["v1"],
            "suite": ["s"],
            "eval_set": ["e"],
            "family": ["deterministic"],
            "metric": ["exact_match"],
            "segment": ["__all__"],
            "n_rows": [50],
            "n_graded": [50],
            "n_passed": [40],
            "pass_rate": [0.8],
            "mean_value": [0.8],
            "std_value": [0.4],
            "n_infra_error": [0],
        }
    )
    path = tmp_path / "one.html"
    path.write_text(build_report_html(scores, None, production="v1"))
    page, outside, errors = _open(browser, path)
    assert outside == [] and errors == []
    ticks = page.evaluate(
        "() => [...document.querySelectorAll('.metric-chart .xtick text')].map(t => t.textContent)"
    )
    assert ticks == ["2026-11-20"], ticks
    pts = page.evaluate(
        "() => document.querySelector('.metric-chart').data.filter(t => t.fill !== 'toself' && t.name === 'v1')[0].x"
    )
    assert pts == [page.evaluate("Date.parse('2026-11-20')")]  # one point, at that date's UTC midnight
    page.locator(".metric-chart").first.screenshot(path=str(ARTIFACTS / "history_report_single_date.png"))
    page.close()


def test_older_versions_start_undrawn_and_the_version_picker_draws_them_everywhere(tmp_path, browser):
    """With many versions the page draws production + the 5 latest; ticking another version in the
    picker draws its line and band in every metric chart; ``#all`` draws every version."""
    from eval_pipeline.history.report_page import build_report_html
    from eval_pipeline_tests.support.report_synthetic import synthetic_history

    h = synthetic_history(n_versions=8, n_metrics=3, n_days=30, n=200)
    path = tmp_path / "many.html"
    path.write_text(build_report_html(h["scores"], h["ops"], production=h["versions"][0], events=h["events"]))
    page, outside, errors = _open(browser, path)
    assert outside == [] and errors == []
    old = h["versions"][1]  # the oldest non-production version: not drawn on opening
    per_chart = f"""() => [...document.querySelectorAll('div.metric-chart')].map(el => el.data
        .filter(t => t.legendgroup === '{old}').map(t => [t.fill || 'line', t.x.length]).sort())"""
    drawn = "() => [...document.querySelectorAll('div.metric-chart')][0].data.filter(t => t.legendgroup && t.legendgroup.startsWith('bot-')).length"
    assert (
        page.evaluate(per_chart) == [[], [], []] and page.evaluate(drawn) == 12
    )  # 6 versions x (line + band)
    box = page.locator("#version-picker input[data-v='1']")
    assert not box.is_checked() and page.locator("#version-picker input:checked").count() == 6
    box.check()
    page.wait_for_function(
        "document.getElementById('version-picker').dataset.redrawn === '1'", timeout=10_000
    )
    assert page.evaluate(per_chart) == [[["line", 30], ["toself", 60]]] * 3
    box.uncheck()
    page.wait_for_function(
        "document.getElementById('version-picker').dataset.redrawn === '1'", timeout=10_000
    )
    assert page.evaluate(per_chart) == [[], [], []]
    page.close()
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(path.as_uri() + "#all")
    page.wait_for_function("window.reportStatus && window.reportStatus.done_ms !== null", timeout=60_000)
    assert page.evaluate(drawn) == 16 and page.locator("#version-picker input:checked").count() == 8
    page.close()
