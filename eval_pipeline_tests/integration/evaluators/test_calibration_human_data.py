"""On the shared human-labelled pairwise data with the test server's noisy-copy judge, the calibration report
has pairwise accuracy, kappa, the length-controlled rate and position consistency, each with an interval and n."""

from __future__ import annotations

import math

from eval_pipeline.evaluators import calibration as C
from eval_pipeline_tests.benchmarks.judge_human_data import DATASETS, run


def test_noisy_copy_judge_report_on_human_pairwise_data(tmp_path):
    res = run(60, accuracy=0.8, position_bias=0.1, store_dir=tmp_path / "store")
    for d in DATASETS:
        m = res.metrics[d]
        assert m["n"] == 60
        for name in ("pairwise_accuracy", "pairwise_kappa", "position_consistency", "lc_win_rate"):
            lo, hi = m[f"{name}_ci_low"], m[f"{name}_ci_high"]
            assert not math.isnan(lo) and lo <= m[name] <= hi, (d, name, m)
        # a noisy copy with p=0.8 and 10% position-biased presentations: accuracy well above chance, below 0.8
        assert 0.55 < m["pairwise_accuracy"] < 0.85 and m["pairwise_kappa"] > 0.2
        assert 0.75 < m["position_consistency"] < 1.0
        assert isinstance(m["length_bias"], bool) and not math.isnan(m["human_length_coef"])
    table = C.metrics_table(res.metrics)
    assert {"lc_win_rate", "lc_win_rate_ci_low", "position_consistency_ci_low"} <= set(table.columns)
