"""The report's data blob and tables: aggregates in, decodable numbers with their intervals out.

Each test decodes what the page would draw and compares it with the aggregates and with the
statistics libraries (statsmodels Wilson, scipy t, the control-chart module, the paired regression
report), so a wrong encoding, interval or limit fails here before it reaches a browser.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps
from statsmodels.stats.proportion import proportion_confint

from eval_pipeline.history import report_data as rd
from eval_pipeline.history.alert_rules import AlertRules
from eval_pipeline.history.alerts import evaluate_alerts
from eval_pipeline.history.control_charts import p_chart
from eval_pipeline.history.report_page import build_report_html, comparison_matrix_html
from eval_pipeline.regression.baselines import RunRef
from eval_pipeline.regression.compare import regression_report
from eval_pipeline_tests.support import simulate as sim
from eval_pipeline_tests.support.report_synthetic import synthetic_history


def _decode_x(s: dict, n: int) -> list[int]:
    steps = s.get("dx", [1] * (n - 1))
    return list(np.cumsum([s["x0"], *steps]).astype(int))


def _decode(series: dict, q: float) -> pd.DataFrame:
    n = len(series["y"])
    y = np.array(series["y"], dtype=float) * q
    nn = series["n"] if isinstance(series["n"], list) else [series["n"]] * n
    return pd.DataFrame(
        {
            "x": _decode_x(series, n),
            "y": y,
            "lo": y - np.array(series["lo"], float) * q,
            "hi": y + np.array(series["hi"], float) * q,
            "n": nn,
        }
    )


@pytest.fixture(scope="module")
def small():
    h = synthetic_history(n_versions=3, n_metrics=7, n_days=12, n=120, seed=4)
    s = h["scores"]
    # version 2 skips days 3..5 (x steps) and has fewer graded samples on day 8 (n per point)
    v2 = h["versions"][2]
    s = s[~((s["model_version"] == v2) & s["date"].isin(h["dates"][3:6]))].copy()
    day8 = (s["model_version"] == v2) & (s["date"] == h["dates"][8])
    s.loc[day8, "n_graded"] = 60
    s.loc[day8, "n_passed"] = (s.loc[day8, "pass_rate"] * 60).round()
    s.loc[day8, "pass_rate"] = s.loc[day8, "n_passed"] / 60
    return {**h, "scores": s.reset_index(drop=True)}


def test_every_version_series_decodes_to_the_aggregates_with_wilson_intervals(small):
    s = small["scores"]
    data = rd.build_report_data(s, small["ops"], production=small["versions"][0])
    assert data["dates"] == small["dates"] and data["versions"][0] == small["versions"][0]
    assert len(data["charts"]) == s.groupby(["suite", "eval_set", "metric"]).ngroups == 7
    for chart in data["charts"]:
        assert chart["measure"] == "pass_rate" and len(chart["series"]) == 3
        for series in chart["series"]:
            got = _decode(series, chart["q"])
            mv = data["versions"][series["v"]]
            want = s[(s["metric"] == chart["metric"]) & (s["model_version"] == mv)].sort_values("date")
            assert [data["dates"][i] for i in got["x"]] == want["date"].tolist()
            lo, hi = proportion_confint(want["n_passed"], want["n_graded"], method="wilson")
            np.testing.assert_allclose(got["y"], want["pass_rate"], atol=chart["q"] / 2 + 1e-12)
            np.testing.assert_allclose(got["lo"], lo, atol=chart["q"] * 1.01)
            np.testing.assert_allclose(got["hi"], hi, atol=chart["q"] * 1.01)
            assert got["n"].tolist() == want["n_graded"].astype(int).tolist()
    v2 = next(
        ser for ser in data["charts"][0]["series"] if data["versions"][ser["v"]] == small["versions"][2]
    )
    assert v2["dx"] == [1, 1, 4, 1, 1, 1, 1, 1] and isinstance(v2["n"], list)  # gap and varying n encoded


def test_mean_metric_gets_a_t_interval_and_small_values_keep_precision():
    rows = pd.DataFrame(
        {
            "date": ["2026-01-01", "2026-01-02"],
            "model_version": "v",
            "suite": "s",
            "eval_set": "e",
            "family": "judge",
            "metric": "helpfulness",
            "segment": "__all__",
            "n_rows": [30, 12],
            "n_graded": [30, 12],
            "n_passed": np.nan,
            "pass_rate": np.nan,
            "mean_value": [3.91, 3.42],
            "std_value": [0.8, 1.1],
            "n_infra_error": 0,
        }
    )
    chart = rd.build_report_data(rows, None, production="v")["charts"][0]
    assert chart["measure"] == "mean_value"
    got = _decode(chart["series"][0], chart["q"])
    lo, hi = sps.t.interval(
        0.95,
        rows["n_graded"] - 1,
        loc=rows["mean_value"],
        scale=rows["std_value"] / np.sqrt(rows["n_graded"]),
    )
    np.testing.assert_allclose(got["lo"], lo, atol=chart["q"] * 1.01)
    np.testing.assert_allclose(got["hi"], hi, atol=chart["q"] * 1.01)
    assert rd.quantum(np.array([0.00042])) == pytest.approx(1e-6) and rd.quantum(
        np.array([1.0])
    ) == pytest.approx(1e-3)


def test_production_control_limits_are_its_p_chart_over_the_alert_window(small):
    rules = AlertRules(control_window=10, control_baseline_points=4)
    s = small["scores"]
    chart = rd.build_report_data(s, None, production=small["versions"][0], rules=rules)["charts"][2]
    prod = (
        s[(s["model_version"] == small["versions"][0]) & (s["metric"] == chart["metric"])]
        .sort_values("date")
        .tail(10)
    )
    want = p_chart(prod["n_passed"], prod["n_graded"], baseline=4)
    lim = chart["limits"]
    assert (
        lim["x0"] == 2
        and "dx" not in lim
        and len(lim["lcl"]) == 10
        and "first 4 of the last 10" in lim["how"]
    )
    np.testing.assert_allclose(np.array(lim["lcl"]) * chart["q"], want["lcl"], atol=chart["q"])
    np.testing.assert_allclose(np.array(lim["ucl"]) * chart["q"], want["ucl"], atol=chart["q"])


def test_alerts_sit_on_their_chart_and_the_alert_table_links_to_it():
    h = synthetic_history(n_versions=2, n_metrics=6, n_days=40, n=400, seed=1)
    s = h["scores"].copy()
    drop = (
        (s["model_version"] == h["versions"][0]) & (s["metric"] == "check_03") & (s["date"] >= h["dates"][30])
    )
    s.loc[drop, "n_passed"] = (s.loc[drop, "n_passed"] * 0.8).round()
    s.loc[drop, "pass_rate"] = s.loc[drop, "n_passed"] / s.loc[drop, "n_graded"]
    alerts = evaluate_alerts(s, h["ops"], AlertRules())
    mine = alerts[(alerts["metric"] == "check_03") & (alerts["rule"] == "pass_rate_drop")]
    assert len(mine) >= 3
    html = build_report_html(s, h["ops"], production=h["versions"][0], alerts=alerts, events=h["events"])
    data = rd.build_report_data(s, h["ops"], production=h["versions"][0], alerts=alerts)
    chart = next(c for c in data["charts"] if c["metric"] == "check_03")
    assert {h["dates"][a["x"]] for a in chart["alerts"]} >= set(mine["date"])
    ids = set(re.findall(r'<div class="chart[^"]*" id="([^"]+)"', html))
    links = re.findall(r'class="alert-link" href="#([^"]+)"', html)
    assert len(links) == len(alerts) and set(links) <= ids and chart["id"] in links


def test_comparison_matrix_shows_the_paired_report_effect_interval_and_verdict():
    rng = np.random.default_rng(3)
    p = sim.sample_pass_probabilities(400, rng=rng)
    base = sim.score_frame(sim.draw_outcomes(p, 1, rng), metric="exact_match")
    cand = sim.score_frame(sim.draw_outcomes(sim.shift_probabilities(p, -0.12), 1, rng), metric="exact_match")
    rep = regression_report(
        cand, base, candidate=RunRef("2024-01-01", "cand"), baseline=RunRef("2024-01-01", "prod")
    )
    rows = rep.rows[rep.rows["segment"] == "__all__"].assign(
        model_version="cand", date="2024-01-01", against="prod@2024-01-01"
    )
    row = rows.iloc[0]
    assert row["verdict"] == "regression"
    html = comparison_matrix_html(rows, "prod")
    cell = re.search(r'<td class="num regression" title="([^"]+)">([^<]+)</td>', html)
    assert cell, html
    assert cell.group(2).startswith(
        f"{row['effect'] * 100:+.3g} pts [{row['ci_low'] * 100:+.3g}, {row['ci_high'] * 100:+.3g}]"
    )
    assert f"n={row['n_pairs']} pairs" in cell.group(1) and row["test"] in cell.group(1)
    assert f'href="#{rd.chart_id("sim", "golden", "exact_match")}"' in html


def test_judge_change_events_come_from_a_judge_identity_column():
    s = pd.DataFrame(
        {
            "date": ["2026-01-01", "2026-01-02", "2026-01-03"],
            "model_version": "v",
            "eval_set": "e",
            "judge_model": ["claude-a", "claude-a", "claude-b"],
        }
    )
    ev = rd.judge_change_events(s)
    assert (
        ev[["date", "kind"]].values.tolist() == [["2026-01-03", "judge change"]]
        and "claude-b" in ev["label"][0]
    )
    assert rd.judge_change_events(s.drop(columns="judge_model")).empty


def test_page_is_one_file_with_plotly_inlined_once_and_hidden_versions_listed():
    h = synthetic_history(n_versions=9, n_metrics=6, n_days=20, n=100)
    html = build_report_html(h["scores"], h["ops"], production=h["versions"][0], events=h["events"])
    assert html.count("* plotly.js") == 1 and html.count('id="report-data"') == 1
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=", html)  # nothing loaded from elsewhere
    data = rd.build_report_data(h["scores"], h["ops"], production=h["versions"][0], events=h["events"])
    assert data["visible"] == [
        0,
        4,
        5,
        6,
        7,
        8,
    ]  # production + the 5 most recent (ties: by name, newest first)
    assert "(3 not drawn" in html and 'id="version-picker"' in html and len(data["failures"]) == 1
    assert {f["v"] for f in data["failures"][0]["versions"]} == set(data["visible"])
    assert sum(e["kind"] == "config change" for e in data["events"]) == 9


def test_the_inlined_plotly_is_the_vendored_basic_bundle_of_the_pinned_plotly_version():
    import plotly.offline

    from eval_pipeline.history.report_page import plotly_js

    js = plotly_js()
    assert js.startswith(
        "/**\n* plotly.js (basic - minified) v" + plotly.offline.get_plotlyjs_version() + "\n"
    )
    assert len(js) < 1.5e6 < len(plotly.offline.get_plotlyjs())  # the basic bundle, not the 4.8 MB full one
