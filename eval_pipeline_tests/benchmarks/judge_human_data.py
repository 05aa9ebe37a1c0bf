"""The judge calibration report on the shared human-labelled pairwise data, with the test server's noisy-copy judge.

Runs :func:`eval_pipeline.evaluators.calibration.run_calibration` (the production judge path: real SDK provider,
both presentation orders) over ``llmbar_pairwise`` and ``human_preference_pairwise`` (``data/calibration/``),
judged by the test server's ``noisy-judge`` (``support/servers/scripted_judges.py``: copies the human label with
probability ``--accuracy``, answers "A" on ``--position-bias`` of presentations). Prints per dataset: pairwise
accuracy, Cohen's kappa, position consistency, the length-controlled rate of preferring output_1 (judge and
humans), each with its 95 % interval and n.

    python -m eval_pipeline_tests.benchmarks.judge_human_data [--n 0 (all)] [--accuracy 0.8]

Expected: accuracy about accuracy x (1 - ties from position bias); kappa accordingly; the judge's length
coefficient close to the humans' (the noisy copy has no length preference of its own).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from functools import partial
from pathlib import Path

from eval_pipeline.evaluators import calibration as C
from eval_pipeline.evaluators import judge as J
from eval_pipeline.evaluators.calibration_data import DEFAULT_DATA_DIR
from eval_pipeline.inference.store import ResponseStore
from eval_pipeline.project.paths import data_dir
from eval_pipeline_tests.support.judge import server_executor
from eval_pipeline_tests.support.servers.anthropic_server import AnthropicTestServer
from eval_pipeline_tests.support.servers.scripted_judges import (
    labelled_pairs,
    noisy_copy_judge,
    scripted_judge,
)

DATASETS = ("llmbar_pairwise", "human_preference_pairwise")


def calibration_dir() -> Path:
    local = data_dir() / "calibration"
    return local if (local / f"{DATASETS[0]}.jsonl").is_file() else Path(DEFAULT_DATA_DIR)


def run(n: int | None, accuracy: float, position_bias: float, store_dir: Path) -> C.CalibrationResult:
    cal = calibration_dir()
    noisy = noisy_copy_judge(
        labelled_pairs(*(cal / f"{d}.jsonl" for d in DATASETS)),
        accuracy=accuracy,
        position_bias=position_bias,
    )
    with AnthropicTestServer(judge_hook=partial(scripted_judge, noisy=noisy)) as srv:
        cfg = J.JudgeConfig(
            model="claude-noisy-judge", mode="pairwise", repeats=1, dimensions=[{"name": "overall"}]
        )
        return C.run_calibration(
            server_executor(srv, ResponseStore(store_dir), max_concurrency=16, request_timeout_s=30),
            cfg,
            [cal / f"{d}.jsonl" for d in DATASETS],
            n=n,
            seed=0,
            data_dir=cal,
        )


def fmt(m: dict, name: str) -> str:
    return f"{m[name]:.3f} [{m[f'{name}_ci_low']:.3f}, {m[f'{name}_ci_high']:.3f}]"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=0, help="pairs per dataset (0 = all)")
    ap.add_argument("--accuracy", type=float, default=0.8)
    ap.add_argument("--position-bias", type=float, default=0.1)
    a = ap.parse_args(argv)
    t0 = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        res = run(a.n or None, a.accuracy, a.position_bias, Path(tmp) / "store")
    print(
        f"noisy-copy judge (copies the human label with p={a.accuracy}, answers 'A' on {a.position_bias:.0%} of presentations)"
    )
    for d in DATASETS:
        m = res.metrics[d]
        print(
            f"{d}: n={m['n']}  pairwise accuracy {fmt(m, 'pairwise_accuracy')}  kappa {fmt(m, 'pairwise_kappa')}  "
            f"position consistency {fmt(m, 'position_consistency')}"
        )
        print(
            f"  prefers output_1: raw {m['win_rate_output_1']:.3f}, length-controlled {fmt(m, 'lc_win_rate')}; "
            f"length coef judge {m['length_coef']:+.3f} (p={m['length_p']:.3g}, flag {m['length_bias']}) vs humans "
            f"{m['human_length_coef']:+.3f} (p={m['human_length_p']:.3g}); humans' LC rate {m['human_lc_win_rate']:.3f}"
        )
    print(f"{time.time() - t0:.1f}s")
    parts = " ".join(
        f"{d.split('_')[0]}_accuracy={res.metrics[d]['pairwise_accuracy']:.3f} {d.split('_')[0]}_kappa="
        f"{res.metrics[d]['pairwise_kappa']:.3f}"
        for d in DATASETS
    )
    print(f"judge_human_data {parts}")


if __name__ == "__main__":
    main()
