"""HTML report is self-contained and interactive (plotly.js inline once); charts are real PNGs; markdown summary."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from eval_pipeline.history import charts
from eval_pipeline.history.alert_rules import AlertRules
from eval_pipeline.history.alerts import evaluate_alerts
from eval_pipeline.history.control_charts import ewma_chart
from eval_pipeline.history.report import build_history_report, summary_markdown
from eval_pipeline.regression.compare import regression_report
from eval_pipeline.regression.markdown import markdown_table
from eval_pipeline_tests.support import simulate as sim

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_html_report_is_self_contained_interactive_and_shows_verdicts_and_alerts():
    rng = np.random.default_rng(0)
    p = sim.sample_pass_probabilities(400, rng=rng)
    base = sim.score_frame(sim.draw_outcomes(p, 1, rng), metric="m", eval_set="e", suite="s")
    cand = sim.score_frame(
        sim.draw_outcomes(sim.shift_probabilities(p, -0.1), 1, rng), metric="m", eval_set="e", suite="s"
    )
    rep = regression_report(cand, base)
    rows = rep.rows[rep.rows["segment"] == "__all__"].assign(
        model_version="cand", date="2024-01-20", against="v"
    )
    series = np.r_[0.8 + rng.normal(0, 0.01, 15), 0.74 + rng.normal(0, 0.01, 5)]
    dates = pd.date_range("2024-01-01", periods=20).strftime("%Y-%m-%d")
    hist = pd.DataFrame(
        {
            "date": dates,
            "model_version": "v",
            "suite": "s",
            "eval_set": "e",
            "family": "d",
            "metric": "m",
            "segment": "__all__",
            "pass_rate": series,
            "n_graded": 400,
            "n_passed": series * 400,
            "mean_value": series,
            "std_value": 0.4,
            "n_rows": 400,
            "n_infra_error": 0,
        }
    )
    alerts = evaluate_alerts(hist, rules=AlertRules())
    html = build_history_report(hist, None, production="v", alerts=alerts, comparisons=rows)
    assert not re.search(r"<(script|link|img)[^>]+(src|href)\s*=", html)  # no external asset
    assert html.count("* plotly.js") == 1  # plotly.js inlined once
    assert (
        'class="num regression"' in html
        and "pass_rate_drop" in html
        and 'class="alert-link" href="#c-s-e-m"' in html
    )
    assert '<div class="chart metric-chart" id="c-s-e-m">' in html


def test_chart_functions_return_png_and_markdown_is_small():
    ch = ewma_chart(np.r_[np.full(8, 0.8), np.full(4, 0.7)])
    assert ch["out_of_control"].any()
    assert charts.trend_chart_png(ch).startswith(PNG_MAGIC)
    assert charts.comparison_chart_png(pd.DataFrame(columns=["measure"])).startswith(PNG_MAGIC)
    df = pd.DataFrame({"a": range(40), "b": ["x|y"] * 40})
    md = markdown_table(df, max_rows=5)
    assert md.count("\n") < 12 and "35 more row(s)" in md and "x\\|y" in md
    assert "no baseline yet" in summary_markdown(
        regression_report(sim.score_frame(np.ones((3, 1), bool)), None)
    )
