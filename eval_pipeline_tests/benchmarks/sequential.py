"""Benchmark of the anytime-valid sequential gate (issue 28 item 1) on the detection benchmark's suite.

Each seed draws the baseline's and the candidate's night exactly as ``benchmarks.detection`` does (``detection.nights``
and ``effective_baseline``: 3 eval sets, 7 gated pass-rate rows and their 35 category segment rows, N = 500, models
at temperature 0), puts the samples in a random order and drives ``regression.sequential.SequentialGate`` with the
suite's ``RegressionConfig`` (alpha 0.05 split as the fixed gate splits it; ``row_levels``), a look every
``--chunk`` scored samples, scoring only the samples an open row still needs. A run that ends with rows open is
decided by the fixed gate's functions (``detection_sim.pass_rows``, ``gating.verdicts``, ``gating.gate_rows``) at
its share of alpha, frozen rows at p = 1 (:func:`final_blocks`). The same draws also go through the fixed-N gate
at full alpha for contrast. Synthetic draws (a simulation), not model answers.

Rows: equal candidate (A/A, fresh nights; replayed; night drift SD 0.2; a different, equally good model), a 3-point
drop (= the minimum effect: what early "no regression" stops cost there), a 5-point and a 10-point drop of
exact_match, a 20-point collapse of one category. Per row: blocked by the sequential gate [95 % Wilson], blocked by
the fixed gate, mean share of samples scored, share of runs stopped before scoring every sample.

    python -m eval_pipeline_tests.benchmarks.sequential [--seeds 400] [--chunk 50] [--z 1] [--gamma 0.5]

Last line: ``sequential false_block=<worst A/A row> power_5pt=<x> share_used_10pt=<a> share_used_equal=<b>``
(``share_used_equal``: the fresh A/A row).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from eval_pipeline.regression.sequential import (
    DEFAULT_BETA,
    DEFAULT_CHUNK,
    DEFAULT_EARLY_SHARE,
    DEFAULT_GAMMA,
    DEFAULT_Z,
    SequentialGate,
    final_config,
    final_levels,
    row_levels,
    run_known,
)
from eval_pipeline_tests.benchmarks import detection as det
from eval_pipeline_tests.benchmarks import detection_sim as ds

SCENARIOS = [
    det.Scenario("A/A equal candidate (fresh nights)", "aa", fresh=True),
    det.Scenario("A/A replayed from the store", "aa"),
    det.Scenario("A/A night drift SD 0.2", "aa", fresh=True, drift=0.2),
    det.Scenario("A/A other model, equally good", "aa", other_model=True),
    det.Scenario("3-point drop (= min effect)", "compare", drop=0.03),
    det.Scenario("5-point drop", "power", drop=0.05),
    det.Scenario("10-point drop", "compare", drop=0.10),
    det.Scenario("20-point collapse of 1 category", "compare", collapse=0.20),
]


EVAL_SETS = list(dict.fromkeys(es for es, _, _ in ds.ROWS))  # answers, summaries, support


def row_layout(cfg, n: int) -> tuple[list[tuple[int, np.ndarray]], np.ndarray, np.ndarray]:
    """The gated family of the simulated suite: every ``detection_sim.ROWS`` row overall and per category segment
    (``gate_segments``), as (row index, members among the ``len(EVAL_SETS) * n`` units); per row whether it is a
    segment row and its minimum effect. A unit is one (eval set, sample): what a run pays a request for, so a row
    of ``answers`` has members in the ``answers`` block only (the sim draws each eval set's outcomes on its own)."""
    layout, segment, min_effect = [], [], []
    for r, (eval_set, _, _) in enumerate(ds.ROWS):
        block = EVAL_SETS.index(eval_set)
        for seg, mask in ds._segments(n) if cfg.gate_segments else ds._segments(n)[:1]:
            members = np.zeros(len(EVAL_SETS) * n, bool)
            members[block * n : (block + 1) * n] = mask
            layout.append((r, members))
            is_seg = seg != ds.SEGMENT_ALL
            segment.append(is_seg)
            min_effect.append(max(cfg.min_effect, cfg.min_effect_segment) if is_seg else cfg.min_effect)
    return layout, np.array(segment), np.array(min_effect)


def drops_of(cand: dict, base: dict, layout) -> tuple[np.ndarray, np.ndarray]:
    """Per gated row the per-unit drop (baseline pass fraction minus candidate's; 0 outside the row's eval set) and
    membership, (rows, units)."""
    frac_b, frac_c = base["passed"].mean(axis=-1), cand["passed"].mean(axis=-1)  # (7, n)
    d = frac_b - frac_c
    return np.stack([np.tile(d[r], len(EVAL_SETS)) * members for r, members in layout]), np.stack(
        [members for _, members in layout]
    )


def final_blocks(sc: det.Scenario, end_cfg, base: dict, cand: dict, frozen: np.ndarray) -> bool:
    """The fixed-N gate (``detection_sim.pass_rows`` tests, ``gating.verdicts``, ``gating.gate_rows``) at its share of
    alpha on the rows still open at the end, every frozen row at p = 1 (its samples stopped early: it cannot block)."""
    rows = ds.pass_rows(cand, base, end_cfg)
    for row, cold in zip(rows, frozen):
        if cold:
            row["p_worse"] = 1.0
    return ds.fast_gate(rows, end_cfg)[0]


def run_scenario(
    sc: det.Scenario, seeds: int, chunk: int, beta: float, z: float, gamma: float, early: float, seed: int
) -> dict:
    su = det.suite()
    cfg = su.regression_config()
    end_cfg = final_config(cfg, early)
    layout, segment, min_effect = row_layout(cfg, sc.n)
    level, beta_level = row_levels(cfg, segment, beta, early)
    fin_level = final_levels(cfg, segment, early)
    rng = np.random.default_rng([seed, SCENARIOS.index(sc)])
    fixed = blocked = stopped_early = 0
    share = []
    for _ in range(seeds):
        base_nights, cand, safety = det.nights(sc, rng, every=False)
        fixed += det.fast_decision(sc, cfg, base_nights, cand, safety)
        used = det.effective_baseline(sc, base_nights)
        base = {"passed": np.concatenate([u["passed"] for u in used], axis=-1)}
        d, w = drops_of(cand, base, layout)
        order = rng.permutation(len(EVAL_SETS) * sc.n)  # the order the units are sent and scored in
        gate = SequentialGate(w, min_effect, level, beta_level, fin_level, z, gamma)
        run_known(gate, d, order, chunk)
        blocked += gate.blocked or (gate.needs_final and final_blocks(sc, end_cfg, base, cand, gate.frozen))
        share.append(gate.used / gate.n)
        stopped_early += gate.used < gate.n
    return {
        "rate": blocked / seeds,
        "ci": det._wilson(blocked, seeds),
        "fixed": fixed / seeds,
        "share": float(np.mean(share)),
        "early": stopped_early / seeds,
        "seeds": seeds,
    }


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=400)
    ap.add_argument("--chunk", type=int, default=DEFAULT_CHUNK)
    ap.add_argument("--beta", type=float, default=DEFAULT_BETA)
    ap.add_argument("--z", type=float, default=DEFAULT_Z)
    ap.add_argument("--gamma", type=float, default=DEFAULT_GAMMA)
    ap.add_argument("--early-share", type=float, default=DEFAULT_EARLY_SHARE)
    ap.add_argument("--seed", type=int, default=20261205)
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    cfg = det.suite().regression_config()
    print(
        f"# sequential gate (regression/sequential.py), SIMULATED draws of benchmarks.detection's suite, N=500: "
        f"alpha={cfg.alpha}: {args.early_share:g} of it to the looks' e-processes over 7 overall rows "
        f"({1 - cfg.segment_alpha_share:g}) and 35 segment rows ({cfg.segment_alpha_share:g}), Bonferroni, the rest "
        f"to the fixed gate when rows stay open; no-worse beta={args.beta} split the same way; below-MDE futility at "
        f"z={args.z:g}, conditional power < {args.gamma:g}; looks every {args.chunk} scored samples in random order, "
        f"only samples of open rows scored; {args.seeds} seeds per row; fixed gate = discrete Holm at N=500"
    )
    print(f"{'scenario':<38}{'blocked [95% Wilson]':<26}{'fixed gate':<12}{'share scored':<14}stopped early")
    res = {}
    for sc in SCENARIOS:
        r = run_scenario(
            sc, args.seeds, args.chunk, args.beta, args.z, args.gamma, args.early_share, args.seed
        )
        res[sc.name] = (sc, r)
        ci = f"{r['rate']:.3f} [{r['ci'][0]:.3f}, {r['ci'][1]:.3f}]"
        print(f"{sc.name:<38}{ci:<26}{r['fixed']:<12.3f}{r['share']:<14.3f}{r['early']:.3f}", flush=True)
    false_block = max(r["rate"] for sc, r in res.values() if sc.target == "aa")
    power = res["5-point drop"][1]["rate"]
    share10 = res["10-point drop"][1]["share"]
    share_eq = res["A/A equal candidate (fresh nights)"][1]["share"]
    print(f"# elapsed {time.perf_counter() - t0:.0f} s")
    print(
        f"sequential false_block={false_block:.3f} power_5pt={power:.3f} share_used_10pt={share10:.3f} "
        f"share_used_equal={share_eq:.3f}"
    )
    return {
        "false_block": false_block,
        "power_5pt": power,
        "share_used_10pt": share10,
        "share_used_equal": share_eq,
    }


if __name__ == "__main__":
    main()
