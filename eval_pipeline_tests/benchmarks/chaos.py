"""Chaos benchmark (issue 24): each fault against the loopback servers, through ``eval-pipeline run``.

    python -m eval_pipeline_tests.benchmarks.chaos [--samples 24] [--only NAME,...]

Every case runs the real CLI in a subprocess (its own Dagster instance, warehouse and response store)
against the project's Anthropic test server (a separate process) and, where named, SeaweedFS. Default
timeouts are used (request 120 s, stall 120 s, S3 read 20 s x 3 attempts), so the hanging cases take
minutes. Per case it prints: requests sent (every attempt the server saw) and answered (HTTP 200, what
a real API bills) vs the distinct keys the job needs, the answers lost to a kill (in flight when the
process died: never received, so never storable), paid twice (answered again although the store had
them: a rerun must pay only for the keys missing from the store), time to the error, the exit codes
(first run, rerun), whether anything was half-written (temp files, unreadable Parquet, a run left
STARTED), and whether the case held.

Cases: duplicate requests in one run; wrong API key; two concurrent runs of one partition; SIGKILL
mid-inference and mid-judge (rerun); model endpoint hanging; S3 endpoint hanging; S3 killed
mid-write and restarted (rerun); catastrophic regex; disk full (a small tmpfs; skipped with the reason
when it cannot be mounted).

Last line: ``chaos cases=<n> held=<n> paid_twice=<answers paid beyond the distinct keys> max_time_to_error_s=<s>``
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from eval_pipeline_tests.benchmarks.chaos_cases import (
    case_concurrent,
    case_disk_full,
    case_duplicates,
    case_model_hang,
    case_regex,
    case_s3_hang,
    case_s3_killed,
    case_sigkill_inference,
    case_sigkill_judge,
    case_wrong_key,
)
from eval_pipeline_tests.benchmarks.chaos_env import BASE_CONFIG, Result
from eval_pipeline_tests.support.servers.anthropic_server import ServerProcess

CASES = {
    "duplicates": case_duplicates,
    "wrong_key": case_wrong_key,
    "concurrent": case_concurrent,
    "sigkill_inference": case_sigkill_inference,
    "sigkill_judge": case_sigkill_judge,
    "model_hang": case_model_hang,
    "s3_hang": case_s3_hang,
    "s3_killed": case_s3_killed,
    "regex": case_regex,
    "disk_full": case_disk_full,
}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--samples", type=int, default=24)
    ap.add_argument("--only", help="comma-separated case names: " + ",".join(CASES))
    a = ap.parse_args(argv)
    names = [x.strip() for x in a.only.split(",")] if a.only else list(CASES)
    print(
        f"chaos benchmark: {len(names)} cases, {a.samples} samples each, eval-pipeline run in a subprocess; "
        f"load average at start {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores (timings are noisy under load)",
        flush=True,
    )
    results: list[Result] = []
    with ServerProcess(**BASE_CONFIG) as server, tempfile.TemporaryDirectory(prefix="chaos-") as d:
        for name in names:
            t0 = time.monotonic()
            try:
                res = CASES[name](server.base_url, Path(d) / name, a.samples)
            except Exception as exc:  # a case that crashed the harness did not hold
                res = Result(name, note=f"harness error: {type(exc).__name__}: {exc}"[:300])
            results.append(res)
            t_err = "-" if res.t_err is None else f"{res.t_err:.1f}"
            status = "SKIPPED" if res.skipped else ("held" if res.held else "NOT HELD")
            print(
                f"[{status}] {res.name}: sent={res.sent} answered={res.paid} distinct_keys={res.needed} "
                f"lost_in_flight={res.lost_in_flight} paid_twice={res.paid_twice} time_to_error_s={t_err} "
                f"exit={res.codes} half_written={res.half_written} ({time.monotonic() - t0:.0f} s)"
                f"\n    {res.skipped or res.note}",
                flush=True,
            )
    counted = [r for r in results if not r.skipped]
    max_t = max((r.t_err for r in counted if r.t_err is not None), default=0.0)
    print(
        f"chaos cases={len(counted)} held={sum(r.held for r in counted)} "
        f"paid_twice={sum(r.paid_twice for r in counted)} max_time_to_error_s={max_t:.1f}"
    )


if __name__ == "__main__":
    main()
