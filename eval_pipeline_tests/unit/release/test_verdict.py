"""The verdict wording (``eval_pipeline.release.verdict``): one sentence per decision, with its numbers."""

from __future__ import annotations

from eval_pipeline.release import verdict as vd
from eval_pipeline.release.decision import quality_gate, regression_gate


def threshold(value, lo=None, hi=None, passed=None, blocking=True, metric="accuracy", n=200):
    ok = (lo is None or value >= lo) and (hi is None or value <= hi) if passed is None else passed
    return {
        "suite": "cs",
        "eval_set": "routing",
        "metric": metric,
        "value": value,
        "ci_low": value - 0.065 if value is not None else None,
        "ci_high": value + 0.056 if value is not None else None,
        "n": n,
        "min": lo,
        "max": hi,
        "blocking": blocking,
        "passed": ok,
        "enforced_blocking": blocking,
        "note": "",
    }


def row(effect, lo, hi, verdict="regression", gating=True, p_gate=0.0004, segment="__all__", **kw):
    return {
        "suite": "cs",
        "eval_set": "routing",
        "family": "deterministic",
        "metric": "exact_match",
        "segment": segment,
        "measure": "pass_rate",
        "test": "mcnemar_exact",
        "n_pairs": 200,
        "effect": effect,
        "ci_low": lo,
        "ci_high": hi,
        "p_value": 0.0008,
        "p_adjusted": 0.0008,
        "p_gate": p_gate if gating else None,
        "direction": "higher",
        "gating": gating,
        "verdict": verdict,
        **kw,
    }


def report(*rows, status="ok", baseline="prod-1@2026-11-04"):
    return {
        "summary": {"status": status, "message": f"status {status}", "baseline": baseline},
        "rows": list(rows),
    }


def test_a_failing_threshold_names_metric_value_interval_n_and_the_bound_it_violates():
    t = threshold(0.735, lo=0.8)
    assert vd.threshold_why(t) == "cs/routing accuracy 0.735 [0.670, 0.791] < 0.8 (n=200)"
    v = vd.quality_verdict([t, threshold(0.95, lo=0.9, metric="format")])
    assert v.verdict == "FAIL" and v.why == "cs/routing accuracy 0.735 [0.670, 0.791] < 0.8 (n=200)"
    assert vd.threshold_why(threshold(0.2, hi=0.1)).endswith("> 0.1 (n=200)")
    assert "not produced" in vd.threshold_why(threshold(None, lo=0.5, passed=False))


def test_a_passing_gate_names_its_closest_blocking_threshold_and_warnings():
    close, far = threshold(0.81, lo=0.8), threshold(0.99, lo=0.5, metric="format")
    warn = threshold(0.4, lo=0.5, blocking=False, metric="tone")
    v = vd.quality_verdict([far, close, warn])
    assert v.verdict == "PASS" and v.why.startswith("cs/routing accuracy 0.810")
    assert ">= 0.8" in v.why and "all 2 blocking thresholds pass" in v.why
    assert "warning (not blocking): cs/routing tone 0.400" in v.why
    assert vd.quality_verdict([]).verdict == "NOT TESTED"
    assert vd.quality_verdict([warn]).verdict == "NOT TESTED"
    # the wording agrees with the decision release_approval takes
    for ts in ([close], [threshold(0.7, lo=0.8)], [warn]):
        assert (vd.quality_verdict(ts).verdict == "FAIL") == (not quality_gate(ts)["passed"])


def test_a_blocking_regression_names_metric_effect_in_points_interval_and_p():
    r = row(-0.062, -0.091, -0.033)
    assert vd.regression_why(r) == (
        "cs/routing exact_match -6.2 pts [-9.1, -3.3], p=0.0004 (mcnemar_exact, n=200 pairs)"
    )
    rep = report(r, row(-0.01, -0.05, 0.03, verdict="no_change", gating=False, segment="billing"))
    v = vd.regression_verdict(rep)
    assert v.verdict == "FAIL" and v.why.endswith("vs prod-1@2026-11-04") and "-6.2 pts" in v.why
    assert not regression_gate(rep)["passed"]
    assert "vs prod" not in vd.regression_verdict(rep, name_baseline=False).why
    mean = row(-0.0421, -0.08, -0.01, measure="mean_value", p_gate=0.00001)
    assert vd.regression_why(mean).startswith("cs/routing exact_match mean -0.042 [-0.080, -0.010], p<0.0001")


def test_regression_pass_names_the_largest_gated_drop_and_no_baseline_is_not_tested():
    rep = report(
        row(-0.02, -0.06, 0.02, verdict="no_change", p_gate=0.3), row(0.01, -0.02, 0.04, verdict="no_change")
    )
    v = vd.regression_verdict(rep)
    assert v.verdict == "PASS" and "largest drop: cs/routing exact_match -2.0 pts" in v.why
    none = vd.regression_verdict(report(status="no_baseline"))
    assert none.verdict == "NOT TESTED" and none.why == "status no_baseline"
    assert (
        vd.report_status({"status": "ok"}, 1) == "blocked" and vd.report_status({"status": "ok"}, 0) == "ok"
    )


def test_a_row_whose_interval_excludes_zero_is_not_labelled_no_change():
    assert vd.row_label(row(-0.05, -0.09, -0.01, verdict="no_change")) == "worse (n.s. after correction)"
    assert vd.row_label(row(0.05, 0.01, 0.09, verdict="no_change")) == "better (n.s. after correction)"
    lower = row(0.05, 0.01, 0.09, verdict="no_change", direction="lower")  # e.g. latency up
    assert vd.row_label(lower) == "worse (n.s. after correction)"
    assert vd.row_label(row(-0.01, -0.05, 0.03, verdict="no_change")) == "no_change"
    assert vd.row_label(row(-0.2, -0.3, -0.1)) == "regression"


def test_release_verdict_names_both_gates_when_both_fail():
    art = {"eval_sets": [{"thresholds": [threshold(0.735, lo=0.8)]}]}
    v = vd.release_verdict(art, report(row(-0.062, -0.091, -0.033)))
    assert v.verdict == "FAIL"
    assert v.why.startswith(
        "thresholds: cs/routing accuracy 0.735 [0.670, 0.791] < 0.8 (n=200); regression: "
    )
    ok = vd.release_verdict(
        {"eval_sets": [{"thresholds": [threshold(0.9, lo=0.8)]}]}, report(status="no_baseline")
    )
    assert ok.verdict == "PASS" and "regression: NOT TESTED - status no_baseline" in ok.why
