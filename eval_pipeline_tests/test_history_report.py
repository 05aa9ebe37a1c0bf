"""HTML report is self-contained; charts are real PNGs; markdown summary."""
from __future__ import annotations

import base64
import re

import numpy as np
import pandas as pd

from eval_pipeline.history import charts
from eval_pipeline_tests import simulate as sim
from eval_pipeline.history.alerts import AlertRules, evaluate_alerts
from eval_pipeline.history.control_charts import ewma_chart
from eval_pipeline.history.report import build_history_report, markdown_table, summary_markdown
from eval_pipeline.history.stats import regression_report

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_html_report_is_self_contained_with_embedded_charts():
    rng = np.random.default_rng(0)
    p = sim.sample_pass_probabilities(400, rng=rng)
    cats = np.array(["x", "y"])[np.arange(400) % 2]
    base = sim.score_frame(sim.draw_outcomes(p, 1, rng), categories=cats)
    cand = sim.score_frame(sim.draw_outcomes(sim.shift_probabilities(p, -0.1), 1, rng), categories=cats)
    rep = regression_report(cand, base)
    series = np.r_[0.8 + rng.normal(0, 0.01, 15), 0.74 + rng.normal(0, 0.01, 5)]
    dates = pd.date_range("2024-01-01", periods=20).strftime("%Y-%m-%d")
    hist = pd.DataFrame({"date": dates, "model_version": "v", "suite": "s", "eval_set": "e", "family": "d",
                         "metric": "m", "segment": "__all__", "pass_rate": series, "n_graded": 400,
                         "n_passed": series * 400, "mean_value": series})
    alerts = evaluate_alerts(hist, rules=AlertRules())
    fm = pd.DataFrame({"date": ["2024-01-01", "2024-01-02"], "model_version": "v", "suite": "s",
                       "kind": "error_category", "label": ["timeout", "rate_limited"], "n": [3, 1],
                       "share": [0.01, 0.002], "example_reason": None})
    html = build_history_report(regression=rep, alerts=alerts, failure_modes=fm,
                                trends={"m pass rate (EWMA)": ewma_chart(series, x=dates)})
    assert not re.search(r"(src|href)\s*=\s*['\"]?(https?:)?//", html)
    assert "http://" not in html and "https://" not in html
    uris = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    assert len(uris) >= 3
    assert all(base64.b64decode(u).startswith(PNG_MAGIC) for u in uris)
    assert 'class="regression"' in html and "pass_rate_drop" in html


def test_chart_functions_return_png_and_markdown_is_small():
    ch = ewma_chart(np.r_[np.full(8, 0.8), np.full(4, 0.7)])
    assert ch["out_of_control"].any()
    assert charts.trend_chart_png(ch).startswith(PNG_MAGIC)
    assert charts.comparison_chart_png(pd.DataFrame(columns=["measure"])).startswith(PNG_MAGIC)
    df = pd.DataFrame({"a": range(40), "b": ["x|y"] * 40})
    md = markdown_table(df, max_rows=5)
    assert md.count("\n") < 12 and "35 more row(s)" in md and "x\\|y" in md
    assert "no baseline yet" in summary_markdown(regression_report(sim.score_frame(np.ones((3, 1), bool)), None))
