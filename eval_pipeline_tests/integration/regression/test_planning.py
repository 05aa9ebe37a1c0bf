"""Sample-size planning (issue 28 item 2): ``eval-pipeline plan`` on the demo suite, confirmed by simulation through
the gate's own tests (``mcnemar_exact``, ``paired_t``), history read from stored regression reports, the MDE
``eval_run`` carries. Vectorised draws, a few seconds."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from eval_pipeline.cli import main
from eval_pipeline.project.loader import load_project
from eval_pipeline.regression.paired_tests import mcnemar_exact, paired_t
from eval_pipeline.regression.planning import mcnemar_power, plan_suite, run_mde
from eval_pipeline.storage.warehouse import Warehouse

SEEDS = 1500


def _plan(capsys, monkeypatch, wh_dir) -> list[dict]:
    monkeypatch.setenv("EVAL_WAREHOUSE_URL", str(wh_dir))
    assert main(["plan", "--suite", "customer_support", "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def _mcnemar_blocks(n: int, discordance: float, drop: float, level: float, seed: int, rule: float = 0.0):
    """Share of simulated candidates the one-sided exact McNemar test (the gate's function) rejects at ``level``
    (and, with ``rule``, whose observed drop is >= rule too)."""
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(n, [(discordance + drop) / 2, (discordance - drop) / 2, 1 - discordance], SEEDS)
    hits = 0
    for worse, better, _ in counts:
        base = np.r_[np.ones(worse, bool), np.zeros(better, bool)]
        p = mcnemar_exact(base, ~base, alternative="worse")[2]
        hits += p <= level and (worse - better) / n >= rule
    return hits / SEEDS


def test_plan_on_the_demo_suite_reaches_its_power_in_simulation(capsys, monkeypatch, tmp_path):
    rows = _plan(capsys, monkeypatch, tmp_path)
    by = {f"{r['eval_set']}:{r['metric']}.{r['measure']}": r for r in rows}
    row = by["intent_routing:exact_match.pass_rate"]
    assert row["test"] == "mcnemar_exact" and row["source"].startswith("assumed")
    assert row["family_size"] == len(rows) and row["level"] == pytest.approx(0.05 * 0.6 / len(rows))
    for target in ("0.8", "0.9"):
        n = row["n_for"][target]
        achieved = _mcnemar_blocks(n, row["spread"], row["min_effect"], row["level"], seed=int(n))
        assert abs(achieved - float(target)) <= 0.05, (target, n, achieved)
    # well below the planned N the test is clearly underpowered (the N is not just "big")
    assert _mcnemar_blocks(row["n_for"]["0.8"] // 2, row["spread"], row["min_effect"], row["level"], 1) < 0.6
    # the MDE of the current N: the gate's whole rule (test + observed drop >= min effect) blocks it ~80 %
    achieved = _mcnemar_blocks(
        row["n_current"], row["spread"], row["mde_gate"], row["level"], 2, row["min_effect"]
    )
    assert abs(achieved - 0.8) <= 0.05, achieved


def test_plan_t_rows_reach_their_power_with_discrete_differences(capsys, monkeypatch, tmp_path):
    """A judge pass-rate row with repeats is the paired t-test: per-sample differences in {-1, 0, 1} with the
    planned SD and a mean drop of min_effect (far from normal), through ``paired_t``."""
    rows = _plan(capsys, monkeypatch, tmp_path)
    row = next(r for r in rows if r["test"] == "paired_t")
    sd, drop, level = row["spread"], row["min_effect"], row["level"]
    for target in ("0.8", "0.9"):
        n = row["n_for"][target]
        rng = np.random.default_rng(n)
        both = sd**2 + drop**2  # P(-1) + P(1), with P(-1) - P(1) = drop
        d = rng.choice(
            [-1.0, 1.0, 0.0], size=(SEEDS // 3, n), p=[(both + drop) / 2, (both - drop) / 2, 1 - both]
        )
        achieved = np.mean([paired_t(x, "less") <= level for x in d])
        assert abs(achieved - float(target)) <= 0.06, (target, n, achieved)  # 500 seeds: SE 1.8 points


def _report(suite: str, eval_set: str, metric: str, n: int, worse: int, better: int) -> dict:
    return {
        "config": {"ci_level": 0.95},
        "rows": [
            dict(
                suite=suite,
                eval_set=eval_set,
                metric=metric,
                measure="pass_rate",
                segment="__all__",
                test="mcnemar_exact",
                n_pairs=n,
                n_worse=worse,
                n_better=better,
                baseline=0.9,
                ci_low=-0.03,
                ci_high=0.03,
            )
        ],
    }


def test_plan_uses_the_discordance_stored_reports_show(capsys, monkeypatch, tmp_path):
    wh = Warehouse.from_url(str(tmp_path))
    for day, (w, b) in zip(("2024-01-01", "2024-01-02"), ((25, 15), (20, 20))):  # 80 discordant of 400 pairs
        key = f"reports/regression/date={day}/model_version=cand/report.json"
        wh.write_bytes(
            key, json.dumps(_report("customer_support", "intent_routing", "exact_match", 200, w, b)).encode()
        )
    rows = {f"{r['eval_set']}:{r['metric']}": r for r in _plan(capsys, monkeypatch, tmp_path)}
    seen, assumed = rows["intent_routing:exact_match"], rows["intent_routing:length"]
    assert seen["source"].startswith("history") and seen["spread"] == pytest.approx(0.2)
    assert seen["baseline"] == 0.9 and assumed["source"].startswith("assumed")
    # twice the discordance needs about twice the samples for the same drop
    assert 1.7 < seen["n_for"]["0.8"] / assumed["n_for"]["0.8"] < 2.3
    # what eval_run's metadata says: the MDE at the run's N, from the same history
    suite = load_project().suites["customer_support"]
    scores = pd.DataFrame(
        {"suite": "customer_support", "eval_set": "intent_routing", "sample_id": range(200)}
    )
    mde = run_mde(wh, [suite], scores)
    assert "with 80% at N=200" in mde["customer_support/intent_routing:exact_match.pass_rate"]
    assert "history" in mde["customer_support/intent_routing:exact_match.pass_rate"]


def test_power_is_monotone_in_the_drop_and_at_most_level_without_one():
    assert mcnemar_power(500, 0.1, 0.0, 0.01) <= 0.01
    powers = [mcnemar_power(500, 0.1, d, 0.01) for d in (0.0, 0.02, 0.04, 0.06)]
    assert powers == sorted(powers) and powers[-1] > 0.9
    # the gate's rule at a true drop of exactly min_effect: about half at most, however large N
    assert mcnemar_power(20000, 0.1, 0.03, 0.003, min_effect=0.03) < 0.55
    suite = load_project().suites["customer_support"]
    plans = plan_suite(suite, [], {"intent_routing": 200}, sizes=False)
    assert all(p.n_for == {"0.8": None, "0.9": None} for p in plans)


def test_plan_names_an_unknown_suite_and_exits_2(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("EVAL_WAREHOUSE_URL", str(tmp_path))
    assert main(["plan", "--suite", "no_such_suite"]) == 2
    err = capsys.readouterr().err
    assert "no_such_suite" in err and "customer_support" in err
    assert main(["plan"]) == 0  # every suite, human-readable
    out = capsys.readouterr().out
    assert re.search(r"suite customer_support: \d+ gated rows", out) and "80% power" in out
