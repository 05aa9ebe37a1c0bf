"""The release gate under deployment conditions (issue 22): distinct draws, the same-night null, direction from
the threshold, the declared baseline, score rows with unequal repeats, judge minimum effects in scale points.

Plain functions on synthetic score frames and a local warehouse folder; no Dagster."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from eval_pipeline.project.regression_config import RegressionConfig
from eval_pipeline.project.schemas import SCORE_COLUMNS
from eval_pipeline.regression.baselines import RunRef
from eval_pipeline.regression.compare import regression_report, report_dict
from eval_pipeline.release.decision import regression_gate
from eval_pipeline_tests.support import simulate as sim
from eval_pipeline_tests.support.gate_inputs import one_set_suite


def _frame(passed, metric="m", family="deterministic", values=None, repeats=1, draw=None, cats=None):
    """Score rows: ``passed`` is (samples, repeats) or (samples,); ``draw``: a prefix naming the answers."""
    if passed is None:  # a score metric: ``values`` decide the shape, ``passed`` is null
        passed = np.zeros(np.asarray(values).shape, bool)
    passed = np.asarray(passed)
    if passed.ndim == 1:
        passed = passed[:, None]
    n, k = passed.shape
    vals = passed.astype(float) if values is None else np.asarray(values, dtype=float).reshape(n, -1)
    df = pd.DataFrame(
        {
            "suite": "s",
            "eval_set": "e",
            "sample_id": np.repeat([f"x{i}" for i in range(n)], k),
            "repeat": np.tile(np.arange(k), n),
            "family": family,
            "metric": metric,
            "value": vals.ravel(),
            "passed": passed.ravel().astype(bool)
            if values is None
            else pd.array([None] * (n * k), "boolean"),
            "category": np.repeat(cats if cats is not None else np.array(["c"] * n), k),
            "infra_error": None,
        }
    )
    if draw is not None:
        df["draw"] = draw + df["sample_id"] + "/" + df["repeat"].astype(str)
    return df


# --------------------------------------------------------------------------- 1. a draw counts once
def test_a_replayed_night_is_not_counted_as_a_second_draw():
    rng = np.random.default_rng(3)
    p = sim.sample_pass_probabilities(400, rng=rng)
    night0 = rng.random(400) < p
    base = _frame(night0, draw="n0-")
    replay = _frame(night0, draw="n0-")  # a store hit of night 0: the same answers, the same draws
    cand = _frame(rng.random(400) < p)
    rep = regression_report(cand, base, baseline_pool=[replay], pool_runs=[RunRef("2024-01-01", "prod")])
    row = rep.rows[rep.rows["segment"] == "__all__"].iloc[0]
    assert rep.baseline_pool == [] and row["test"] == "mcnemar_exact" and row["baseline_draws"] == 1
    assert "NOT pooled, their answers are draws already counted" in rep.message
    assert rep.summary()["baseline_draws"]["per_sample"] == {"1": 400}
    fresh = _frame(rng.random(400) < p, draw="n1-")  # fresh_samples_daily: new draws
    rep2 = regression_report(cand, base, baseline_pool=[fresh], pool_runs=[RunRef("2024-01-01", "prod")])
    assert rep2.baseline_pool == ["prod@2024-01-01"] and rep2.summary()["baseline_draws"]["per_sample"] == {
        "2": 400
    }
    assert rep2.rows.iloc[0]["test"] == "paired_t"


def test_store_hit_of_an_earlier_night_is_told_from_a_fresh_call(tmp_path: Path):
    """Through the response store: night 2 replays night 1's answers (same keys, ``cached``); the warehouse's
    responses carry the key, the report's draws say store hits, and pooling does not count them again."""
    from eval_pipeline.history.sources import HistorySources
    from eval_pipeline.inference.store import ResponseStore
    from eval_pipeline.inference.types import ModelRequest, ModelResponse
    from eval_pipeline.project.hashing import request_key
    from eval_pipeline.regression.draws import attach_draws, draw_counts, load_draws

    store = ResponseStore(tmp_path / "store")
    reqs = [
        ModelRequest(sample_id=f"x{i}", model="m", messages=[{"role": "user", "content": f"q{i}"}])
        for i in range(5)
    ]
    wh = tmp_path / "wh"
    for date in ("2024-01-01", "2024-01-02"):
        rows = []
        for r in reqs:
            key = request_key("anthropic", r)
            hit = store.lookup(r, key)
            if hit is None:  # a fresh provider call (here: an answer we write), stored as it arrives
                hit = ModelResponse(
                    r.sample_id,
                    0,
                    "m",
                    "a",
                    "end_turn",
                    1.0,
                    0.1,
                    10.0,
                    1,
                    1,
                    0,
                    0,
                    0.0,
                    "id",
                    None,
                    None,
                    False,
                    key,
                    provenance="live",
                )
                store.put(hit)
            rows.append(
                {
                    "suite": "s",
                    "eval_set": "e",
                    "sample_id": r.sample_id,
                    "repeat": 0,
                    "cache_key": hit.cache_key,
                    "cached": hit.cached,
                }
            )
        part = wh / f"responses/date={date}/model_version=prod"
        part.mkdir(parents=True)
        pd.DataFrame(rows).to_parquet(part / "data.parquet", index=False)
    src = HistorySources.for_root(wh)
    con = duckdb.connect()
    scores = _frame(np.ones(5, bool))
    first = attach_draws(scores, load_draws(con, src.responses_glob, "2024-01-01", "prod"))
    second = attach_draws(scores, load_draws(con, src.responses_glob, "2024-01-02", "prod"))
    assert draw_counts(first) == {"answers": 5, "fresh_calls": 5, "store_hits": 0, "distinct_draws": 5}
    assert draw_counts(second) == {"answers": 5, "fresh_calls": 0, "store_hits": 5, "distinct_draws": 5}
    assert (first["draw"] == second["draw"]).all()  # the same draws
    rep = regression_report(scores, second, baseline_pool=[first], pool_runs=[RunRef("2024-01-01", "prod")])
    assert rep.baseline_pool == [] and rep.summary()["baseline_draws"]["origin"]["store_hits"] == 5


# --------------------------------------------------------------------------- 2. the null the gate controls
def test_default_gate_is_the_same_night_comparison_and_holds_for_an_equally_good_model_with_repeats():
    """A different model, equally good on the task distribution, at temperature 0 (its 3 repeats are copies of one
    answer) vs the baseline's one draw: the gate blocks at most ~alpha. (Main: the stratified exact test counts the
    copies as 3 independent draws and blocks far more often.)"""
    assert RegressionConfig().baseline_nights == 1
    rng = np.random.default_rng(22)
    n, blocked, trials = 200, 0, 100
    for _ in range(trials):
        pb = rng.random(n) < 0.8  # the baseline's deterministic outcome per sample
        pc = rng.random(n) < 0.8  # another model's, equally good on the distribution
        cand = _frame(np.repeat(pc[:, None], 3, axis=1))  # temperature 0: three identical repeats
        rep = regression_report(cand, _frame(pb), RegressionConfig(segments=False))
        blocked += rep.has_regression
    assert blocked / trials <= 0.09  # main: ~0.25


# --------------------------------------------------------------------------- 3. direction from the threshold
def _judge_suite(tmp_path: Path, dims: list[dict], thresholds: list[dict]):
    from eval_pipeline.project.suites import load_suite

    judge = {"model": "j", "dimensions": dims}
    p = one_set_suite(tmp_path, {"family": "judge", "judge": judge, "thresholds": thresholds})
    return load_suite(p, tmp_path, validate_evaluators=False)


def test_a_max_bound_makes_lower_better_and_a_less_toxic_candidate_is_not_blocked(tmp_path):
    suite = _judge_suite(
        tmp_path,
        [{"name": "toxicity", "scale": [1, 5]}],
        [{"metric": "toxicity.mean", "max": 2, "blocking": True}],
    )
    cfg = suite.regression_config()
    assert cfg.directions == {"e": {"toxicity": "lower"}} and cfg.blocking_metrics == {
        "e": ["toxicity:mean_value"]
    }
    rng = np.random.default_rng(1)
    tox_b = rng.integers(1, 4, 300).astype(float)
    tox_c = np.clip(tox_b - (rng.random(300) < 0.5), 1, 5)  # less toxic
    rep = regression_report(
        _frame(None, "toxicity", "judge", tox_c), _frame(None, "toxicity", "judge", tox_b), {"s": cfg}
    )
    row = rep.rows[(rep.rows["measure"] == "mean_value") & (rep.rows["segment"] == "__all__")].iloc[0]
    assert row["direction"] == "lower" and row["gating"] and row["verdict"] == "improvement"
    assert not rep.has_regression  # main: blocked (direction from the name: higher)
    worse = regression_report(
        _frame(None, "toxicity", "judge", tox_b), _frame(None, "toxicity", "judge", tox_c), {"s": cfg}
    )
    assert worse.has_regression


def test_higher_is_better_false_and_unknown_direction(tmp_path):
    from eval_pipeline.project.judge import JudgeDimension

    d = JudgeDimension(name="verbosity", threshold=2, higher_is_better=False)
    assert d.passes(1.5) and not d.passes(3)
    suite = _judge_suite(
        tmp_path,
        [
            {"name": "verbosity", "scale": [1, 5], "higher_is_better": False},
            {"name": "tone", "scale": [1, 5]},
        ],
        [
            {"metric": "verbosity.mean", "max": 3, "blocking": True},
            {"metric": "tone.mean", "min": 2, "max": 4, "blocking": True},  # both bounds: which way is worse?
        ],
    )
    cfg = suite.regression_config()
    assert cfg.directions["e"] == {"verbosity": "lower", "tone": "unknown"}
    rng = np.random.default_rng(2)
    v = rng.integers(1, 5, 200).astype(float)
    rep = regression_report(
        _frame(None, "tone", "judge", v - 1), _frame(None, "tone", "judge", v), {"s": cfg}
    )
    row = rep.rows[(rep.rows["measure"] == "mean_value") & (rep.rows["segment"] == "__all__")].iloc[0]
    assert row["direction"] == "unknown" and not row["gating"] and not rep.has_regression


# --------------------------------------------------------------------------- 5. one baseline, one comparison
def _warehouse(tmp_path: Path, runs: dict[tuple[str, str], np.ndarray]) -> Path:
    root = tmp_path / "wh"
    for (date, mv), passed in runs.items():
        f = _frame(passed).assign(date=date, model_version=mv, reason="", evaluator_hash="h")[SCORE_COLUMNS]
        part = root / f"scores/family=deterministic/date={date}/model_version={mv}"
        part.mkdir(parents=True)
        f.to_parquet(part / "data.parquet", index=False)
        resp = f[["suite", "eval_set", "sample_id", "repeat"]].assign(
            cache_key=f"{mv}-" + f["sample_id"], cached=False
        )
        rp = root / f"responses/date={date}/model_version={mv}"
        rp.mkdir(parents=True)
        resp.to_parquet(rp / "data.parquet", index=False)
        run = root / f"runs/date={date}/model_version={mv}"
        run.mkdir(parents=True)
        (run / "run.json").write_text(json.dumps({"passed": True}))
    return root


def test_declared_baseline_is_the_stored_reports_and_compare_gives_the_same_rows(tmp_path):
    from eval_pipeline.history.runs import known_runs
    from eval_pipeline.history.sources import HistorySources
    from eval_pipeline.project.loader import load_project
    from eval_pipeline.regression.baselines import declared_baseline
    from eval_pipeline.regression.stored_runs import compare_runs, regression_report_for_run

    project = load_project()
    v1, v2 = project.registry.by_name("support-bot-v1"), project.registry.by_name("support-bot-v2")
    key, why = declared_baseline(project, v2.key)
    assert key == v1.key and "declared by suite customer_support" in why
    v1.production = False  # no registry production flag: the suite's declaration still decides (main: None)
    assert declared_baseline(project, v2.key)[0] == v1.key
    rng = np.random.default_rng(4)
    b = rng.random(300) < 0.8
    c = b & (rng.random(300) < 0.85)
    root = _warehouse(tmp_path, {("2024-01-02", "base"): b, ("2024-01-02", "cand"): c})
    con, src = duckdb.connect(), HistorySources.for_root(root)
    stored = regression_report_for_run(
        con, src, RunRef("2024-01-02", "cand"), production_model_version="base"
    )
    cli = compare_runs(
        con, src, known_runs(con, src), RunRef("2024-01-02", "cand"), RunRef("2024-01-02", "base")
    )
    assert stored.baseline == RunRef("2024-01-02", "base") and stored.has_regression
    pd.testing.assert_frame_equal(
        stored.rows.drop(columns=[]).reset_index(drop=True), cli.rows.reset_index(drop=True)
    )
    assert regression_gate(report_dict(stored))["passed"] == regression_gate(report_dict(cli))["passed"]
    first = regression_report_for_run(con, src, RunRef("2024-01-02", "base"), production_model_version="base")
    assert first.status == "no_baseline" and "no baseline yet" in first.message
    assert regression_gate(report_dict(first))["status"] == "no_baseline"


# --------------------------------------------------------------------------- 7. score rows, judge minimum effect
def test_score_rows_with_unequal_repeats_keep_the_one_sided_level():
    """Candidate 3 judge repeats averaged vs baseline 1, left-skewed per-draw noise, the same model: the one-sided
    "worse" test of the mean rejects at most ~5% (main's Wilcoxon on the per-sample means: ~15%, because the mean
    of 3 draws is less skewed than one draw, so the differences are not symmetric although their mean is 0)."""
    rng = np.random.default_rng(7)
    n, trials, hits = 300, 100, 0
    for _ in range(trials):
        q = rng.beta(0.6, 0.4, n) * 3 + 1.5  # per-sample quality on the 1-5 scale
        c, b = (np.clip(np.rint(q[:, None] - rng.exponential(0.8, (n, k)) + 0.8), 1, 5) for k in (3, 1))
        rep = regression_report(
            _frame(None, "m", "judge", c.mean(axis=1)),
            _frame(None, "m", "judge", b[:, 0]),
            RegressionConfig(segments=False),
        )
        hits += rep.rows.iloc[0]["p_worse"] < 0.05
    assert hits / trials <= 0.08


def test_judge_mean_minimum_effect_is_in_scale_points_and_configurable():
    rng = np.random.default_rng(9)
    b = rng.integers(1, 6, 4000).astype(float)
    c = b - (rng.random(4000) < 0.1)  # 0.1 scale points lower: significant at n = 4000, not meaningful
    rep = regression_report(_frame(None, "helpfulness", "judge", c), _frame(None, "helpfulness", "judge", b))
    row = rep.rows.iloc[0]
    assert row["p_gate"] < 0.05 and row["min_effect"] == 0.25 and row["verdict"] == "no_change"
    strict = regression_report(
        _frame(None, "helpfulness", "judge", c),
        _frame(None, "helpfulness", "judge", b),
        RegressionConfig(min_effect_judge=0.05),
    )
    assert strict.rows.iloc[0]["verdict"] == "regression"
    with pytest.raises(ValueError, match="regression.min_effect_judge"):
        RegressionConfig.from_dict({"min_effect_judge": -1})


def test_judge_aggregation_passes_a_lower_is_better_dimension_at_or_below_its_threshold():
    from eval_pipeline.evaluators import judge

    cfg = judge.validate_judge_config(
        {
            "model": "j",
            "repeats": 1,
            "dimensions": [{"name": "toxicity", "threshold": 2, "higher_is_better": False}],
        }
    )
    samples = pd.DataFrame(
        {"sample_id": ["a", "b"], "repeat": 0, "category": "c", "response_text": "x", "error_category": None}
    )
    verdict_rows = pd.DataFrame(
        [
            {
                "row": i,
                "sample_id": s,
                "repeat": 0,
                "judge_repeat": 0,
                "status": judge.STATUS_OK,
                "scores": {"toxicity": v},
                "reasoning": "r",
                "attempts": 1,
                "cost_usd": 0.0,
                "cached": False,
                "message": None,
            }  # fmt: skip
            for i, (s, v) in enumerate((("a", 1), ("b", 4)))
        ],
        columns=judge.VERDICT_COLUMNS,
    )
    rows = judge.aggregate_pointwise(samples, verdict_rows, cfg, keys={"suite": "s", "eval_set": "e"})
    tox = rows[rows["metric"] == "toxicity"].set_index("sample_id")["passed"]
    assert bool(tox["a"]) and not bool(tox["b"])  # main: median >= threshold, so the toxic answer passed
