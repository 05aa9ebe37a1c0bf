"""Canary analysis statistics: always-valid tests under hourly looks, verdicts, and the benchmark's
vectorized decision rule checked against :func:`eval_pipeline.monitoring.canary.analyze_canary`."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from eval_pipeline.monitoring import sequential as seq
from eval_pipeline.monitoring.canary import analyze_canary, canaries, production_version, rollout_hours
from eval_pipeline.monitoring.hourly import HOUR_COLUMNS, previous_hours
from eval_pipeline.project.canary import CanaryConfig
from eval_pipeline_tests.benchmarks import canary as bench

HOURS = previous_hours("2026-11-02-23:00", 24)


def rows_from_sim(sim: dict, r: int, hours: list[str] = HOURS) -> pd.DataFrame:
    """Per-request ``HOUR_COLUMNS`` rows with exactly the simulated counts and latencies of rollout ``r``."""
    rng = np.random.default_rng(r)
    frames = []
    for j, h in enumerate(hours[: sim["K"]]):
        for _arm, mv, idx in (("c", "canary@v2", 0), ("p", "prod@v1", 2)):
            lat = sim["latency"]["latency_s"][j][idx // 2][r]
            ttft = sim["latency"]["ttft_s"][j][idx // 2][r]
            n = int(sim["counts"]["regenerate_rate"][idx + 1][r, j])
            assert len(lat) == n, "use a cap >= all values so every request has a latency"
            f = {c: np.zeros(n, dtype=bool) for c in HOUR_COLUMNS}
            f.update(
                hour=h,
                model_version=mv,
                u=rng.random(n),
                latency_s=lat,
                ttft_s=ttft,
                session_hash=np.char.add(f"{h}-{mv}-", np.arange(n).astype(str)),  # one request a session
                session_requests=1,
                invariant_checked=np.ones(n, bool),
                safety_checked=np.ones(n, bool),
            )
            rated = int(sim["counts"]["thumbs_down_rate"][idx + 1][r, j])
            down = int(sim["counts"]["thumbs_down_rate"][idx][r, j])
            f["rated"] = np.arange(n) < rated
            f["fb_thumbs_down"] = np.arange(n) < down
            f["fb_thumbs_up"] = f["rated"] & ~f["fb_thumbs_down"]
            for name, col in (
                ("regenerate_rate", "fb_regenerate"),
                ("copy_rate", "fb_copy"),
                ("task_completion_rate", "fb_task_completed"),
                ("invariant_failure_rate", "invariant_failed"),
                ("safety_violation_rate", "safety_violation"),
                ("error_rate", "error"),
            ):
                f[col] = rng.permutation(np.arange(n) < int(sim["counts"][name][idx][r, j]))
            frames.append(pd.DataFrame(f)[HOUR_COLUMNS])
    return pd.concat(frames, ignore_index=True)


def test_msprt_is_always_valid_where_the_naive_repeated_test_is_not():
    rng = np.random.default_rng(0)
    R, K, n = 2000, 24, 200
    xc = np.cumsum(rng.binomial(n, 0.1, (R, K)), axis=1)
    xp = np.cumsum(rng.binomial(9 * n, 0.1, (R, K)), axis=1)
    nc, np_ = np.cumsum(np.full((R, K), n), axis=1), np.cumsum(np.full((R, K), 9 * n), axis=1)
    r = seq.msprt_two_proportions(xc, nc, xp, np_, 0.015, 0.05)
    always = (r["p_value"] <= 0.05).any(axis=1).mean()
    naive = (seq.naive_two_proportions(xc, nc, xp, np_, "two-sided") <= 0.05).any(axis=1).mean()
    assert always <= 0.05 and naive > 0.15
    covered = ((r["ci_low"] <= 0) & (r["ci_high"] >= 0)).all(axis=1).mean()
    assert covered >= 0.95
    assert np.all(np.diff(r["p_value"], axis=1) <= 0)  # always-valid p never increases


def test_spending_never_exceeds_alpha_and_spent_p_rejects_like_the_increments():
    inc = seq.spending_increments(48, 0.05, 60)
    assert inc.sum() == pytest.approx(0.05) and (inc[48:] == 0).all() and (inc[:48] > 0).all()
    p = np.array([0.5, inc[1] * 0.99, 0.9])
    spent = seq.spent_p_values(p, inc[:3], 0.05)
    assert spent[0] > 0.05 and spent[1] <= 0.05 and spent[2] == spent[1]


def test_quantile_interval_covers_the_true_quantile():
    rng = np.random.default_rng(1)
    x = rng.exponential(size=(400, 500))
    est, lo, hi = seq.quantile_interval(x, 0.95, 0.9)
    true = -np.log(0.05)
    assert 0.88 <= ((lo <= true) & (true <= hi)).mean() <= 1.0
    assert seq.quantile_interval(x[0], 0.95, 0.9)[0] == pytest.approx(np.quantile(x[0], 0.95))


def test_aa_canary_never_rolled_back_where_a_naive_hourly_test_would():
    cfg = CanaryConfig(max_latency_values=10**6)
    sim = bench.simulate(1, 24, 600, 0.2, seed=7, cap=10**6)
    naive = bench.decide(sim, cfg)["naive_rollback"][0]
    assert naive, "the fixed 5% test on every metric at every look rolls this A/A canary back"
    res = analyze_canary(rows_from_sim(sim, 0), "canary@v2", "prod@v1", HOURS, cfg)
    assert res.verdict != "roll back" and "roll back" not in set(res.story["verdict"])
    gated = res.metrics[res.metrics.gated]
    assert gated["naive_p"].notna().all() and gated["p_value"].notna().all()
    assert res.m == 10 and np.allclose(gated["level"], 0.005)


def test_thumbs_down_10_to_16_percent_is_rolled_back_with_its_deciding_metric():
    cfg = CanaryConfig(max_latency_values=10**6)
    sim = bench.simulate(1, 24, 1000, 0.2, {"thumbs_down_rate": 0.16}, seed=3, cap=10**6)
    res = analyze_canary(rows_from_sim(sim, 0), "canary@v2", "prod@v1", HOURS, cfg)
    assert res.verdict == "roll back" and res.deciding == ["thumbs_down_rate"]
    row = res.metrics.set_index("metric").loc["thumbs_down_rate"]
    assert row["status"] == "worse" and row["p_value"] <= row["level"] and row["ci_low"] > 0
    first = res.story.index[res.story["verdict"] == "roll back"][0]
    # the hourly story: continue / cannot decide yet ... roll back
    assert res.story["verdict"].iloc[:first].isin(["continue", "cannot decide yet"]).all()


def test_better_canary_is_promoted_and_never_rolled_back():
    cfg = CanaryConfig(max_latency_values=10**6, min_looks=3)
    better = {
        "thumbs_down_rate": 0.05,
        "regenerate_rate": 0.03,
        "task_completion_rate": 0.5,
        "copy_rate": 0.2,
        "invariant_failure_rate": 0.01,
        "error_rate": 0.002,
    }
    sim = bench.simulate(1, 12, 4000, 0.5, better, seed=5, cap=10**6)
    rows = rows_from_sim(sim, 0, HOURS[:12]).drop(
        columns=["safety_checked"]
    )  # no safety invariants configured
    rows["safety_checked"] = False
    res = analyze_canary(rows, "canary@v2", "prod@v1", HOURS[:12], cfg)
    assert res.verdict == "promote", res.story[["hour", "verdict", "reason"]].to_string()
    assert "roll back" not in set(res.story["verdict"])
    m = res.metrics.set_index("metric")
    assert m.loc["safety_violation_rate", "status"] == "no_data" and res.m == 9
    assert (
        m.loc[m.gated & (m.status != "no_data"), "ci_high"]
        < m.loc[m.gated & (m.status != "no_data"), "min_effect"]
    ).all()


def test_cohorts_production_and_rollout_start():
    rows = pd.DataFrame(
        {"hour": [HOURS[0]] * 3 + [HOURS[1]] * 3, "model_version": ["p", "p", "p", "p", "p", "c"]}
    )
    cfg = CanaryConfig()
    assert production_version(rows, cfg) == "p"
    assert production_version(rows, CanaryConfig(production_model_version="x")) == "x"
    assert canaries(rows, "p", HOURS[1]) == ["c"] and canaries(rows, "p", HOURS[0]) == []
    assert rollout_hours(rows, "c", HOURS[:2]) == [HOURS[1]]
    with pytest.raises(ValueError, match="unknown canary metrics"):
        CanaryConfig(metrics={"thumbs_dwn": {"min_effect": 0.1}})
