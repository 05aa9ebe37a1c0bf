"""Detection benchmark of the release gate under deployment conditions (issue 22): false blocks and power.

Every scenario draws nights of a simulated suite (``detection_sim``: 3 eval sets, 7 gated pass-rate rows, 5
category segments, N samples) and decides the release:

* **full path** (the first ``--check-seeds`` seeds of every scenario): each night's answers go through the
  project's ``ResponseStore`` (request keys with the date as epoch only under ``fresh_samples_daily``; a store hit
  serves the answer of the night that drew it, with ``cached``), score rows carry ``draw`` / ``stored``
  (``regression.draws``), the baseline comes from ``baselines.select_baseline`` (the suite's declared baseline
  version), earlier nights from ``baselines.pool_runs`` (``baseline_nights``), then ``compare.regression_report`` and
  ``release.release_decision``;
* **fast path** (every seed): the gate's own functions on the same draws - the row tests, ``gating.verdicts`` and
  ``gating.gate_rows`` (``detection_sim.fast_gate``). On the check seeds the two must agree (asserted; the count is
  printed), so the rates below are those of the full path.

Scenarios (default settings: ``RegressionConfig()`` from the suite, one night of the baseline, segment rows gated
at 0.4 of alpha; the models are at temperature 0, so the A/A flip rate of exact_match is about 7.5 %):

* A/A, each must block at most 0.05: fresh independent nights; nights replayed from the store under the default
  ``fresh_samples_daily: false``; provider drift between nights (logit SD 0.1 and 0.2, common to every model run
  that night; the baseline run is the candidate's night); a different model equally good on the task distribution
  (independent per-sample latents from the same distributions, N = 200 and 500); the candidate with 3 repeats vs
  the baseline's 1 under drift SD 0.2.
* a candidate 0.3 points less toxic on a ``higher_is_better: false`` dimension bounded by ``toxicity.mean max: 2``:
  blocked at most 0.05.
* a 5-point drop of exact_match at N = 500: blocked at least 0.80; a 20-point collapse of exact_match in one
  category of 100 (5 categories, 4 points overall): blocked at least 0.80.
* comparisons (not targets): the 5-point drop with the noisier flip rate of 11 % (``concentration`` 0.5, a model
  sampled at temperature > 0); the opt-in ``baseline_nights: 7`` with fresh nights, with and without drift.

Rates carry a 95 % Wilson interval. The last line also carries the quality-alert figure of
``benchmarks.alert_detection.alert_false_per_30d_n50`` (the trend rule and EWMA chart on 30 quiet days at n = 50
under day-level drift), which that module owns.

    python -m eval_pipeline_tests.benchmarks.detection [--seeds 400] [--check-seeds 2] [--n 500] [--alert-seeds 40]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from eval_pipeline import scoring
from eval_pipeline.inference.store import ResponseStore
from eval_pipeline.inference.types import ModelRequest, ModelResponse
from eval_pipeline.project.eval_set_options import Threshold
from eval_pipeline.project.hashing import request_key
from eval_pipeline.project.suites import EvalSet, Suite
from eval_pipeline.regression.baselines import RunRef, pool_runs, select_baseline
from eval_pipeline.regression.compare import regression_report, report_dict
from eval_pipeline.release.decision import release_decision
from eval_pipeline_tests.benchmarks import detection_sim as ds

TARGET_FALSE_BLOCK, TARGET_POWER = 0.05, 0.80
DATES = [
    f"2024-03-{d:02d}" for d in range(1, 8)
]  # 7 nights of the baseline version; the candidate runs on the last
PROVIDER = "sim"


def suite(safety: bool = False) -> Suite:
    """The simulated suite (its blocking thresholds make the gated family); ``safety``: the toxicity eval set."""
    judge = {
        "model": "sim-judge",
        "dimensions": [
            {"name": d, "scale": [1, 5], "threshold": 3.5} for d in ("accuracy", "helpfulness", "tone")
        ],
    }
    sets = [
        EvalSet(
            name="answers",
            family="deterministic",
            task="t",
            source="x.jsonl",
            checks=[
                {"type": "exact_match"},
                {"type": "valid_json"},
                {"type": "regex", "name": "has_citation", "pattern": r"\[\d+\]"},
            ],
            thresholds=[Threshold(metric="pass_rate", min=0.3, blocking=True)],
        ),
        EvalSet(
            name="summaries",
            family="similarity",
            task="t",
            source="x.jsonl",
            thresholds=[Threshold(metric="cosine_pass_rate", min=0.3, blocking=True)],
        ),
        EvalSet(
            name="support",
            family="judge",
            task="t",
            source="x.jsonl",
            judge=judge,
            thresholds=[Threshold(metric="pass_rate", min=0.3, blocking=True)],
        ),
    ]
    if safety:
        tox = {
            "model": "sim-judge",
            "dimensions": [{"name": "toxicity", "scale": [1, 5], "higher_is_better": False}],
        }
        sets = [
            EvalSet(
                name="safety",
                family="judge",
                task="t",
                source="x.jsonl",
                judge=tox,
                thresholds=[Threshold(metric="toxicity.mean", max=2.5, blocking=True)],
            )
        ]
    return Suite(name="sim", baseline_model_version="prod", eval_sets=sets)


@dataclass(frozen=True)
class Scenario:
    name: str
    target: str  # "aa" (<= 0.05), "power" (>= 0.80), "better" (<= 0.05), "compare" (no target)
    n: int = 500
    fresh: bool = False  # fresh_samples_daily (else the baseline's nights are store hits of its first night)
    drift: float = 0.0  # provider drift between nights, logit SD
    other_model: bool = False  # the candidate is a different, equally good model
    cand_repeats: int = 1
    drop: float = 0.0  # exact_match drop, overall
    collapse: float = 0.0  # exact_match drop in the first category
    less_toxic: float = 0.0
    concentration: float = ds.CONCENTRATION
    baseline_nights: int = 1


SCENARIOS = [
    Scenario("A/A fresh independent nights", "aa", fresh=True),
    Scenario("A/A nights replayed from the store (default)", "aa"),
    Scenario("A/A night drift SD 0.1", "aa", fresh=True, drift=0.1),
    Scenario("A/A night drift SD 0.2", "aa", fresh=True, drift=0.2),
    Scenario("A/A other model, equally good, N=200", "aa", n=200, other_model=True),
    Scenario("A/A other model, equally good, N=500", "aa", other_model=True),
    Scenario("A/A cand 3 repeats vs 1, drift SD 0.2", "aa", fresh=True, drift=0.2, cand_repeats=3),
    Scenario("better on bounded-above toxicity", "better", less_toxic=0.3),
    Scenario("5-point drop, N=500", "power", drop=0.05),
    Scenario("20-point collapse of 1 category", "power", collapse=0.20),
    Scenario("compare: 5-pt drop, 11% flips", "compare", drop=0.05, concentration=0.5),
    Scenario("compare: 7 nights pooled, no drift", "compare", fresh=True, baseline_nights=7),
    Scenario("compare: 7 nights pooled, drift 0.2", "compare", fresh=True, drift=0.2, baseline_nights=7),
]


def nights(
    sc: Scenario, rng: np.random.Generator, every: bool = True
) -> tuple[list[dict | None], dict, bool]:
    """The baseline version's 7 nights (as drawn; which of them the store serves is the full path's business),
    the candidate's night (the last date) and whether the candidate is the safety scenario. ``every=False``: only
    the nights the gate reads are drawn (the others are None), for speed."""
    base = ds.Model(sc.n, rng, sc.concentration)
    drifts = rng.normal(0, sc.drift, len(DATES)) if sc.drift else np.zeros(len(DATES))
    if sc.other_model:
        cand = ds.Model(sc.n, rng, sc.concentration)
    elif sc.drop:
        cand = base.dropped(sc.drop)
    elif sc.collapse:
        cand = base.dropped(
            sc.collapse, ds.CATEGORIES[np.arange(sc.n) % len(ds.CATEGORIES)] == ds.CATEGORIES[0]
        )
    elif sc.less_toxic:
        cand = base.less_toxic(sc.less_toxic)
    else:
        cand = base
    need = set(range(len(DATES))) if every or sc.baseline_nights > 1 else {len(DATES) - 1 if sc.fresh else 0}
    base_nights = [ds.draw(base, rng, 1, d) if i in need else None for i, d in enumerate(drifts)]
    return base_nights, ds.draw(cand, rng, sc.cand_repeats, drifts[-1]), bool(sc.less_toxic)


def effective_baseline(sc: Scenario, base_nights: list[dict]) -> list[dict]:
    """What the gate compares with: the baseline run's answers (replayed: the first night's draws, the store serves
    them again) and, with ``baseline_nights`` > 1, the distinct draws of the earlier nights."""
    if not sc.fresh:
        return [base_nights[0]]  # every later night is a store hit of the first: one distinct draw
    return base_nights[::-1][: sc.baseline_nights]


def fast_decision(sc: Scenario, cfg, base_nights: list[dict], cand: dict, safety: bool) -> bool:
    used = effective_baseline(sc, base_nights)
    base = {k: np.concatenate([u[k] for u in used], axis=-1) for k in ("passed", "value", "tox")}
    rows = ds.tox_rows(cand, base, cfg) if safety else ds.pass_rows(cand, base, cfg)
    return ds.fast_gate(rows, cfg)[0]


# --------------------------------------------------------------------------- the full path
def _through_store(
    store: ResponseStore, night: dict, mv: str, date: str, fresh: bool
) -> tuple[dict, pd.DataFrame]:
    """Answer one night through the response store: a key already stored is a hit (the answer - here its drawn
    outcomes - of the night that drew it); a miss is a fresh draw, stored. Returns the outcomes the run scores and
    the (sample, repeat, draw, stored) of each answer."""
    passed, value, tox = night["passed"], night["value"], night["tox"]
    _, n, k = passed.shape
    out = {"passed": passed.copy(), "value": value.copy(), "tox": tox.copy()}
    info = []
    for i in range(n):
        for r in range(k):
            req = ModelRequest(
                sample_id=f"s{i:05d}",
                model=mv,
                messages=[{"role": "user", "content": f"sample {i}"}],
                repeat=r,
                epoch=date if fresh else "",
            )
            key = request_key(PROVIDER, req)
            hit = store.lookup(req, key)
            if hit is None:
                body = json.dumps([passed[:, i, r].tolist(), value[:, i, r].tolist(), float(tox[i, r])])
                hit = ModelResponse(
                    req.sample_id, r, mv, body, "end_turn", 1.0, 0.1, 1.0, 1, 1, 0, 0, 0.0, None, None, None,
                    False, key, provenance="live",
                )  # fmt: skip
                store.put(hit)
            else:
                p, v, t = json.loads(hit.text)
                out["passed"][:, i, r], out["value"][:, i, r], out["tox"][i, r] = p, v, t
            info.append((f"s{i:05d}", r, hit.cache_key, hit.cached))
    return out, pd.DataFrame(info, columns=["sample_id", "repeat", "draw", "stored"])


def _scores(outcomes: dict, answers: pd.DataFrame, mv: str, date: str, safety: bool) -> pd.DataFrame:
    frame = ds.score_frames(outcomes, mv, date, with_tox=safety)
    if safety:
        frame = frame[frame["eval_set"] == ds.SAFETY[0]]
    return frame.merge(answers, on=["sample_id", "repeat"], how="left")


def full_path(sc: Scenario, cfg, suite_: Suite, base_nights: list[dict], cand: dict, safety: bool) -> dict:
    """The nights through the store, baseline selection and pooling, ``regression_report`` and ``release_decision``."""
    with tempfile.TemporaryDirectory() as tmp:
        store = ResponseStore(Path(tmp) / "store")
        frames = {}
        for date, night in zip(DATES, base_nights):
            outcomes, answers = _through_store(store, night, "prod", date, sc.fresh)
            frames[("prod", date)] = _scores(outcomes, answers, "prod", date, safety)
        outcomes, answers = _through_store(store, cand, "cand", DATES[-1], True)
        frames[("cand", DATES[-1])] = _scores(outcomes, answers, "cand", DATES[-1], safety)
        store.close()
    runs = pd.DataFrame(
        [{"date": d, "model_version": mv, "passed": True, "live_answers_only": True} for mv, d in frames]
    )
    candidate = RunRef(DATES[-1], "cand")
    baseline, why = select_baseline(
        runs, candidate, suite_.baseline_model_version, "declared baseline_model_version"
    )
    earlier = pool_runs(runs, candidate, baseline, cfg.baseline_nights)
    rep = regression_report(
        frames[("cand", DATES[-1])],
        frames[(baseline.model_version, baseline.date)],
        {"sim": cfg},
        candidate=candidate,
        baseline=baseline,
        baseline_reason=why,
        baseline_pool=[frames[(r.model_version, r.date)] for r in earlier],
        pool_runs=earlier,
    )
    cand_scores = frames[("cand", DATES[-1])]
    artifact = {"eval_sets": [{"thresholds": _thresholds(suite_, cand_scores)}]}
    decision = release_decision(artifact, report_dict(rep))
    return {
        "blocked": not decision["regression_gate"]["passed"],
        "approved": decision["approved"],
        "quality_passed": decision["quality_gate"]["passed"],
        "draws": rep.summary()["baseline_draws"],
        "pooled": list(rep.baseline_pool),
        "family": int(rep.summary()["gate_family_size"]),
    }


def _thresholds(suite_: Suite, scores: pd.DataFrame) -> list[dict]:
    out = []
    for es in suite_.eval_sets:
        s = scores[scores["eval_set"] == es.name]
        out.extend(asdict(t) for t in scoring.apply_thresholds(suite_, es, scoring.set_metrics(s, es)))
    return out


# --------------------------------------------------------------------------- driver
def _wilson(k: int, n: int) -> tuple[float, float]:
    from statsmodels.stats.proportion import proportion_confint

    lo, hi = proportion_confint(k, n, method="wilson")
    return float(lo), float(hi)


def run_scenario(sc: Scenario, seeds: int, check_seeds: int, seed: int) -> dict:
    su = suite(safety=bool(sc.less_toxic))
    cfg = replace(su.regression_config(), baseline_nights=sc.baseline_nights)
    rng = np.random.default_rng([seed, SCENARIOS.index(sc)])
    blocked, agree, checked, quality_ok, detail = 0, 0, 0, 0, {}
    for s in range(seeds):
        base_nights, cand, safety = nights(sc, rng, every=s < check_seeds)
        b = fast_decision(sc, cfg, base_nights, cand, safety)
        blocked += b
        if s < check_seeds:
            full = full_path(sc, cfg, su, base_nights, cand, safety)
            checked += 1
            agree += full["blocked"] == b
            quality_ok += full["quality_passed"]
            detail = full
    lo, hi = _wilson(blocked, seeds)
    return {"rate": blocked / seeds, "ci": (lo, hi), "seeds": seeds, "agree": agree, "checked": checked,
            "quality_ok": quality_ok, "detail": detail}  # fmt: skip


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=400)
    ap.add_argument(
        "--check-seeds", type=int, default=2, help="seeds per scenario also run through the full path"
    )
    ap.add_argument("--alert-seeds", type=int, default=40)
    ap.add_argument("--seed", type=int, default=20240601)
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    cfg = suite().regression_config()
    print(
        f"# release gate, default settings: {cfg.gate_procedure}, alpha={cfg.alpha}, baseline_nights="
        f"{cfg.baseline_nights}, gate_segments={cfg.gate_segments} (segment rows at {cfg.segment_alpha_share:g} of "
        f"alpha, >= {cfg.min_effect_segment * 100:g} points), min effect {cfg.min_effect * 100:g} points; "
        f"{args.seeds} seeds per row; full path (store, select_baseline, pool_runs, regression_report, "
        f"release_decision) on the first {args.check_seeds} seeds of each row, the rest through the gate's functions"
    )
    print(f"{'scenario':<46}{'blocked [95% Wilson]':<26}{'target':<10}{'full path agrees':<18}draws/sample")
    res = {}
    for sc in SCENARIOS:
        r = run_scenario(sc, args.seeds, args.check_seeds, args.seed)
        assert r["agree"] == r["checked"], f"{sc.name}: the full path and the gate's functions disagree"
        res[sc.name] = (sc, r)
        target = {"aa": "<= 0.05", "better": "<= 0.05", "power": ">= 0.80", "compare": "-"}[sc.target]
        ci = f"{r['rate']:.3f} [{r['ci'][0]:.3f}, {r['ci'][1]:.3f}]"
        per = r["detail"].get("draws", {}).get("per_sample", {})
        print(f"{sc.name:<46}{ci:<26}{target:<10}{r['agree']}/{r['checked']:<16}{per}", flush=True)
    aa = max(r["rate"] for sc, r in res.values() if sc.target == "aa")
    power = res["5-point drop, N=500"][1]["rate"]
    seg = res["20-point collapse of 1 category"][1]["rate"]
    better = res["better on bounded-above toxicity"][1]["rate"]
    print(f"# gate elapsed {time.perf_counter() - t0:.0f} s")
    from eval_pipeline_tests.benchmarks.alert_detection import alert_false_per_30d_n50

    t1 = time.perf_counter()
    alerts = alert_false_per_30d_n50(seeds=args.alert_seeds)
    print(f"# quality alerts (benchmarks.alert_detection.alert_false_per_30d_n50, {args.alert_seeds} seeds): "
          f"{time.perf_counter() - t1:.0f} s")  # fmt: skip
    print(
        f"detection gate_false_block_max={aa:.3f} gate_power_5pt={power:.3f} segment_power_20pt={seg:.3f} "
        f"better_blocked={better:.3f} alert_false_per_30d_n50={alerts:.3f}"
    )
    return {
        "gate_false_block_max": aa,
        "gate_power_5pt": power,
        "segment_power_20pt": seg,
        "better_blocked": better,
    }


if __name__ == "__main__":
    main()
