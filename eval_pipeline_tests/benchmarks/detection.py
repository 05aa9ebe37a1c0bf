"""Detection benchmark of the WHOLE release gate on a realistic simulated suite.

What is measured is the decision ``release_approval`` acts on: ``release_gate.release_decision``
(quality gate over ``scoring.set_metrics`` + ``scoring.apply_thresholds``, and the regression gate over
``stats.regression_report`` -> ``stats.gate_rows``), i.e. the very functions the ``quality_gate`` and
``no_significant_regression`` checks call - nothing is re-implemented here.

Simulated suite (N samples per eval set, 5 category segments, fresh draws every run):

* ``answers`` (deterministic): three checks per response - ``exact_match`` (per-sample pass
  probability p_i ~ Beta(0.8c, 0.2c), c = 0.5: most samples almost always right or wrong, some
  borderline, A/A disagreement ~10 %), ``valid_json`` (~97 %) and ``has_citation`` (~90 %).
  Threshold: pass_rate >= 0.55 (blocking).
* ``summaries`` (similarity): cosine = per-sample level mu_i ~ Beta(16, 4) + N(0, 0.04) per run;
  passed = cosine >= 0.75. Threshold: cosine_pass_rate >= 0.5 (blocking).
* ``support`` (judge, 3 judge repeats, 3 dimensions on 1-5): per-sample latent quality per
  dimension, each judge repeat rounds latent + N(0, 0.6); 2 % of judge repeats unparseable, 1 %
  refused; scored by ``judge.aggregate_pointwise`` (median, ``*_spread``, ``judge_unparseable``,
  ``judge_refusal``, all-failed verdicts count as failures). Threshold: pass_rate >= 0.5 (blocking).

A/A: the candidate is the same model (fresh draws of every family). 5-point drop: the candidate's
``exact_match`` probabilities are shifted on the logit scale so their mean drops by exactly 5 points
(the other families: fresh draws of the same model). Targets: A/A blocked <= 5 %, drop blocked >= 80 %.
Rates carry a 95 % Wilson interval over the seeds.

    python -m eval_pipeline_tests.benchmarks.detection [--seeds 120] [--n 500]
"""
from __future__ import annotations

import argparse
import time
from dataclasses import asdict

import numpy as np
import pandas as pd

from eval_pipeline import scoring
from eval_pipeline.config import EvalSet, Suite, Threshold
from eval_pipeline.evaluators import judge
from eval_pipeline.history import simulate as sim
from eval_pipeline.history.stats import RegressionConfig, regression_report, report_dict
from eval_pipeline.release_gate import release_decision

CATEGORIES = np.array(["billing", "shipping", "returns", "account", "technical"])
DROP = 0.05
TARGET_FALSE_BLOCK, TARGET_POWER = 0.05, 0.80
JUDGE = {"model": "sim-judge", "mode": "pointwise", "repeats": 3, "dimensions": [
    {"name": "accuracy", "scale": [1, 5], "threshold": 3.5},
    {"name": "helpfulness", "scale": [1, 5], "threshold": 3.5},
    {"name": "tone", "scale": [1, 5], "threshold": 3.5},
]}
UNPARSEABLE, REFUSAL = 0.02, 0.01


def _suite() -> Suite:
    sets = [
        EvalSet(name="answers", family="deterministic", task="t", source="x.jsonl", checks=[{"type": "valid_json"}],
                thresholds=[Threshold(metric="pass_rate", min=0.55, blocking=True)]),
        EvalSet(name="summaries", family="similarity", task="t", source="x.jsonl",
                thresholds=[Threshold(metric="cosine_pass_rate", min=0.5, blocking=True)]),
        EvalSet(name="support", family="judge", task="t", source="x.jsonl", judge=JUDGE,
                thresholds=[Threshold(metric="pass_rate", min=0.5, blocking=True)]),
    ]
    return Suite(name="sim", eval_sets=sets)


class Model:
    """Per-sample latent parameters of one model version (its 'difficulty profile')."""

    def __init__(self, n: int, rng: np.random.Generator):
        self.n = n
        self.p_exact = sim.sample_pass_probabilities(n, 0.8, 0.5, rng)
        self.p_json = rng.beta(29.1, 0.9, n)
        self.p_cite = rng.beta(9.0, 1.0, n)
        self.mu_cos = rng.beta(16.0, 4.0, n)
        self.quality = np.clip(rng.normal(4.3, 0.6, (n, 3)), 1, 5)

    def dropped(self, delta: float) -> "Model":
        m = object.__new__(Model)
        m.__dict__.update(self.__dict__)
        m.p_exact = sim.shift_probabilities(self.p_exact, -delta)
        return m


def _base_frame(n: int, eval_set: str, family: str) -> dict:
    sid = pd.Series(np.arange(n)).map("s{:05d}".format)
    return {"date": "2024-01-01", "model_version": "sim", "suite": "sim", "eval_set": eval_set,
            "sample_id": sid, "repeat": 0, "family": family, "category": CATEGORIES[np.arange(n) % 5],
            "infra_error": None, "evaluator_hash": "sim"}


def _deterministic(m: Model, rng: np.random.Generator) -> pd.DataFrame:
    frames = []
    for metric, p in (("exact_match", m.p_exact), ("valid_json", m.p_json), ("has_citation", m.p_cite)):
        ok = rng.random(m.n) < p
        frames.append(pd.DataFrame({**_base_frame(m.n, "answers", "deterministic"), "metric": metric,
                                    "value": ok.astype(float), "passed": ok,
                                    "reason": np.where(ok, "ok", "failed")}))
    return pd.concat(frames, ignore_index=True)


def _similarity(m: Model, rng: np.random.Generator) -> pd.DataFrame:
    cos = np.clip(m.mu_cos + rng.normal(0, 0.04, m.n), -1, 1)
    return pd.DataFrame({**_base_frame(m.n, "summaries", "similarity"), "metric": "cosine", "value": cos,
                         "passed": cos >= 0.75, "reason": ""})


def _judge(m: Model, rng: np.random.Generator, cfg: judge.JudgeConfig) -> pd.DataFrame:
    n, k = m.n, cfg.repeats
    samples = pd.DataFrame({"sample_id": pd.Series(np.arange(n)).map("s{:05d}".format), "repeat": 0,
                            "category": CATEGORIES[np.arange(n) % 5], "response_text": "answer", "error_category": None})
    scores = np.clip(np.rint(m.quality[:, None, :] + rng.normal(0, 0.6, (n, k, 3))), 1, 5).astype(int)
    u = rng.random((n, k))
    status = np.where(u < UNPARSEABLE, judge.STATUS_UNPARSEABLE, np.where(u < UNPARSEABLE + REFUSAL, judge.STATUS_REFUSAL, judge.STATUS_OK))
    dims = [d.name for d in cfg.dimensions]
    rows = [{"row": i, "sample_id": samples["sample_id"].iat[i], "repeat": 0, "judge_repeat": r, "status": status[i, r],
             "scores": dict(zip(dims, map(int, scores[i, r]))) if status[i, r] == judge.STATUS_OK else None,
             "reasoning": "sim" if status[i, r] == judge.STATUS_OK else None, "attempts": 1, "cost_usd": 0.0,
             "cached": False, "message": None if status[i, r] == judge.STATUS_OK else str(status[i, r])}
            for i in range(n) for r in range(k)]
    verdicts = pd.DataFrame(rows, columns=judge.VERDICT_COLUMNS)
    keys = {"date": "2024-01-01", "model_version": "sim", "suite": "sim", "eval_set": "support"}
    return judge.aggregate_pointwise(samples, verdicts, cfg, keys=keys)


def draw_run(m: Model, rng: np.random.Generator, cfg: judge.JudgeConfig) -> pd.DataFrame:
    """One scored run of the whole suite (all three families), fresh draws."""
    return pd.concat([_deterministic(m, rng), _similarity(m, rng), _judge(m, rng, cfg)], ignore_index=True)


def thresholds(suite: Suite, scores: pd.DataFrame) -> list[dict]:
    """The quality gate's inputs, exactly as ``eval_run`` computes them (set_metrics + apply_thresholds)."""
    out = []
    for es in suite.eval_sets:
        s = scores[scores["eval_set"] == es.name]
        out.extend(asdict(t) for t in scoring.apply_thresholds(suite, es, scoring.set_metrics(s, es)))
    return out


def gate(suite: Suite, cand: pd.DataFrame, base: pd.DataFrame, cfg: RegressionConfig) -> dict:
    """``release_decision`` on the artifact's thresholds and the regression report, as release_approval does."""
    artifact = {"eval_sets": [{"thresholds": thresholds(suite, cand)}]}
    return release_decision(artifact, report_dict(regression_report(cand, base, cfg)))


def _interval(k: int, n: int) -> str:
    from statsmodels.stats.proportion import proportion_confint

    lo, hi = proportion_confint(k, n, method="wilson")
    return f"{k / n:.3f} [{lo:.3f}, {hi:.3f}]"


def run_gate_benchmark(seeds: int, n: int, seed: int = 20240601) -> dict:
    suite, cfg = _suite(), RegressionConfig()
    jcfg = judge.validate_judge_config(JUDGE)
    rng = np.random.default_rng(seed)
    aa = {"blocked": 0, "quality": 0, "regression": 0}
    drop = {"blocked": 0, "quality": 0, "regression": 0}
    family_size, procedure = 0, cfg.gate_procedure
    for _ in range(seeds):
        model = Model(n, rng)
        base = draw_run(model, rng, jcfg)
        for tally, cand_model in ((aa, model), (drop, model.dropped(DROP))):
            d = gate(suite, draw_run(cand_model, rng, jcfg), base, cfg)
            tally["blocked"] += not d["approved"]
            tally["quality"] += not d["quality_gate"]["passed"]
            tally["regression"] += not d["regression_gate"]["passed"]
            family_size = d["regression_gate"]["gate_family_size"]
    print(f"# release gate (quality gate + no_significant_regression): N={n} per eval set, {seeds} seeds, "
          f"5 segments; gated family: {family_size} overall rows, {procedure}")
    print(f"{'scenario':<28}{'blocked (95% CI)':<26}{'target':<10}{'quality gate':<14}{'regression gate':<16}")
    print(f"{'A/A (same model)':<28}{_interval(aa['blocked'], seeds):<26}{'<= 0.05':<10}"
          f"{aa['quality'] / seeds:<14.3f}{aa['regression'] / seeds:<16.3f}")
    print(f"{'5-pt drop in answers':<28}{_interval(drop['blocked'], seeds):<26}{'>= 0.80':<10}"
          f"{drop['quality'] / seeds:<14.3f}{drop['regression'] / seeds:<16.3f}")
    return {"gate_false_block": aa["blocked"] / seeds, "gate_power_5pt": drop["blocked"] / seeds,
            "seeds": seeds, "n": n, "gate_procedure": procedure, "gate_family_size": family_size}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=40)
    ap.add_argument("--n", type=int, default=500)
    ap.add_argument("--alert-seeds", type=int, default=50)
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    g = run_gate_benchmark(args.seeds, args.n)
    print(f"gate elapsed {time.perf_counter() - t0:.1f} s")
    # ---- ALERT BENCHMARK (wired by the lead) ------------------------------------------------
    # The alert-rule figures come from eval_pipeline_tests/benchmarks/alert_detection.py
    # (``run_alert_benchmark(seeds) -> dict``, prints its own table), written by another engineer.
    # The lead wires it here, e.g.:
    #     from eval_pipeline_tests.benchmarks.alert_detection import run_alert_benchmark
    #     alerts = run_alert_benchmark(args.alert_seeds)
    alerts: dict = {}
    z = alerts.get("alert_false_per_30d_n50", float("nan"))
    # -----------------------------------------------------------------------------------------
    print(f"detection gate_false_block={g['gate_false_block']:.3f} gate_power_5pt={g['gate_power_5pt']:.3f} "
          f"alert_false_per_30d_n50={z:.3f}")


if __name__ == "__main__":
    main()
