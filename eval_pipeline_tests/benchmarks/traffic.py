"""Benchmark: sampling + PII redaction + profiling of one day of 1M logged interactions.

    python -m eval_pipeline_tests.benchmarks.traffic [--rows 1000000] [--rate 1.0] [--read-rows 100000]

Generation of the synthetic day is not timed. The timed stage is exactly what the daily asset does
after reading: hash-sample at ``--rate`` (default 1.0 = every row is sampled, so every input and
output is redacted: the worst case), redact input and output of the sampled rows, hash inputs and
session ids, then profile (latency/TTFT percentiles by template and length bucket, feedback
metrics with Wilson intervals, category mix, input-length drift against a reference slice).
JSONL reading + validation is timed separately on ``--read-rows`` rows (reported, not in the target).
Last line: ``traffic rows_per_s=<x> peak_rss_mb=<y>``.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time

TARGET_ROWS_PER_S = 50_000


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--rate", type=float, default=1.0, help="sampling rate (1.0 = redact every row)")
    ap.add_argument("--pii-rate", type=float, default=0.005, help="rate per PII kind (6 kinds + decoys)")
    ap.add_argument("--workers", type=int, default=1, help="processes for sampling+redaction (fork)")
    ap.add_argument(
        "--mode",
        choices=["full", "structured"],
        default="structured",
        help="redaction mode (structured: recognizers only, the mode for very large days; full adds NER)",
    )
    ap.add_argument(
        "--read-rows", type=int, default=100_000, help="rows for the separate JSONL read timing (0: skip)"
    )
    args = ap.parse_args(argv)

    from eval_pipeline.demo.synthetic_traffic import PiiRates, SyntheticTrafficConfig, generate_frame
    from eval_pipeline.demo.traffic_days import write_synthetic_day
    from eval_pipeline.monitoring.drift import input_length_drift
    from eval_pipeline.monitoring.feedback import feedback_metrics
    from eval_pipeline.monitoring.pii import Redactor
    from eval_pipeline.monitoring.profile import profile_sample
    from eval_pipeline.monitoring.sampling import build_stored_sample
    from eval_pipeline.monitoring.traffic import read_traffic_day

    r = args.pii_rate
    pii = PiiRates(email=r, phone_us=r, phone_intl=r, card=r, ipv4=r, ipv6=r, card_luhn_invalid=r)
    cfg = SyntheticTrafficConfig(day="2025-06-01", n_rows=args.rows, seed=1, pii=pii)
    t0 = time.perf_counter()
    frame, seeded, decoys = generate_frame(cfg)
    ref, _, _ = generate_frame(cfg.model_copy(update={"day": "2025-05-31", "n_rows": 20_000, "seed": 2}))
    print(
        f"generated {len(frame):,} synthetic rows in {time.perf_counter() - t0:.1f}s (not timed); "
        f"{len(seeded):,} seeded PII values; cpu_count={os.cpu_count()} loadavg={os.getloadavg()[0]:.2f}"
    )
    # the redactor analyzes each distinct text once: say how much this synthetic day repeats itself
    print(
        f"distinct texts: inputs {frame['input'].nunique() / len(frame):.0%}, outputs "
        f"{frame['output'].nunique() / len(frame):.0%} of rows (real traffic that repeats less "
        "costs more per row)"
    )

    import scipy.stats  # noqa: F401  one-time imports are not per-row work: load them before timing
    import statsmodels.stats.proportion  # noqa: F401

    redactor = Redactor({"mode": args.mode})
    print(f"redaction mode: {args.mode} (python -m eval_pipeline_tests.benchmarks.pii measures both modes)")
    t0 = time.perf_counter()
    c0 = time.process_time()
    sample = build_stored_sample(frame, rate=args.rate, salt="bench", redactor=redactor, workers=args.workers)
    t_sample = time.perf_counter() - t0
    prof = profile_sample(sample)
    fb = feedback_metrics(sample)
    drift = input_length_drift(ref["input"].str.len(), sample["input_chars"])
    elapsed = time.perf_counter() - t0
    cpu = time.process_time() - c0
    rows_per_s = len(frame) / elapsed
    load = os.getloadavg()[0]

    red = dict(zip(sample["request_id"], sample["input_redacted"] + "\n" + sample["output_redacted"]))
    leaked = sum(1 for s in seeded if s["request_id"] in red and s["value"] in red[s["request_id"]])

    print(
        f"sampled {len(sample):,}/{len(frame):,} rows at rate {args.rate} "
        f"(sampling+hashing+redaction {t_sample:.2f}s), redactions={int(sample['pii_redactions'].sum()):,}, "
        f"leaked seeded PII in sample: {leaked}"
    )
    print(
        f"profile: latency_p99={prof['overall']['latency_p99']:.3f}s thumbs_down_rate="
        f"{fb['thumbs_down_rate'].value:.3f} input_length PSI vs reference={drift.psi:.4f}"
    )
    print(
        f"sampling+redaction+profiling: {elapsed:.2f}s for {len(frame):,} rows -> "
        f"{rows_per_s:,.0f} rows/s (target >= {TARGET_ROWS_PER_S:,} rows/s on 2 cores: "
        f"{'MET' if rows_per_s >= TARGET_ROWS_PER_S else 'NOT MET'}); workers={args.workers}"
    )
    if args.workers == 1:
        print(
            f"  main-process CPU time {cpu:.2f}s -> {len(frame) / cpu:,.0f} rows per CPU-second "
            f"(wall/CPU gap = other load on the machine; loadavg now {load:.2f} on {os.cpu_count()} cores)"
        )

    if args.read_rows:
        with tempfile.TemporaryDirectory() as tmp:
            small = cfg.model_copy(update={"n_rows": args.read_rows, "malformed_rate": 0.001})
            write_synthetic_day(tmp, small)
            t0 = time.perf_counter()
            df, errors = read_traffic_day(tmp, small.day)
            t_read = time.perf_counter() - t0
            print(
                f"(separate, not in target) JSONL read+validate: {len(df) + len(errors):,} lines in "
                f"{t_read:.2f}s -> {(len(df) + len(errors)) / t_read:,.0f} lines/s, {len(errors)} malformed reported"
            )

    print(f"peak RSS {_peak_rss_mb():,.0f} MB (includes the generated 1M-row frame)")
    print(f"traffic rows_per_s={rows_per_s:.0f} peak_rss_mb={_peak_rss_mb():.0f}")


if __name__ == "__main__":
    main()
