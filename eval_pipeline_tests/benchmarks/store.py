"""Scale benchmark of the shared response store: 5,000,000 answers, one night's 2,000 keys looked up.

1. Build a compacted store of ``--entries`` answers (default 5,000,000: a year of nightly runs over
   ten model versions) as :mod:`eval_pipeline.inference.segments` writes it - 256 key-prefix shards,
   Parquet, sorted by key, row groups of ``ROW_GROUP`` - on local disk and on S3 (a SeaweedFS
   server on 127.0.0.1, ``eval_pipeline_tests/support/servers/seaweed.py``), plus one night of fresh
   (uncompacted) segments, and the manifest compaction writes at its end (``write_manifest``: footer +
   size of every compacted segment; ``--no-manifest`` leaves it out). Answer ``i`` belongs to night ``i // 2000``; its key is a sha256, so one
   night's keys are spread over every shard, as real request keys are.
2. In a fresh child process (so imports and the build do not count): open a ``ResponseStore`` on
   those segments and look up the 2,000 keys of one night (``prefetch`` + ``get``), timed from
   before the store opens; peak RSS of that process (``ru_maxrss``, includes the interpreter and
   pyarrow / boto3). Once on local disk, once on S3.
3. Next to it, the full scan a store without the shard/row-group index must do: read every
   segment (keys + records), keep the wanted rows; time and peak RSS in a child process too.

Targets (issue 12): open + lookup < 2 s and < 300 MB locally, < 5 s on S3.

    python -m eval_pipeline_tests.benchmarks.store [--entries 5000000] [--keep DIR] [--only local|s3]

``--keep DIR`` builds the local store and the SeaweedFS data folder in ``DIR`` and keeps them; a later
run with the same ``--keep DIR`` (and the same entries / layout) reuses what is built there instead
of building again (the build of 5M answers takes minutes on 2 cores).

Last line: ``store entries=<n> lookup_s=<x> lookup_s3_s=<y> peak_rss_mb=<z>``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing as mp
import os
import resource
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

PER_NIGHT = 2000
TARGET_LOCAL_S, TARGET_S3_S, TARGET_RSS_MB = 2.0, 5.0, 300.0
WORDS = (
    "card",
    "arrival",
    "exchange",
    "rate",
    "top",
    "up",
    "failed",
    "lost",
    "stolen",
    "refund",
    "the",
    "your",
    "is",
    "please",
    "we",
    "have",
    "sent",
    "a",
    "new",
    "account",
    "balance",
    "transfer",
    "pending",
    "fee",
)
PREFIX = "response_store"


def _key(i: int) -> str:
    return hashlib.sha256(f"answer-{i}".encode()).hexdigest()


def _record(i: int, key: str) -> str:
    text = " ".join(WORDS[(i * 7 + j * 13) % len(WORDS)] for j in range(8 + i % 17))
    return json.dumps(
        {
            "sample_id": f"s{i % 2000:05d}",
            "repeat": 0,
            "model": f"claude-v{i % 10}",
            "text": text,
            "stop_reason": "end_turn",
            "latency_s": round(0.2 + (i % 997) / 1000, 3),
            "ttft_s": 0.1,
            "request_id": f"req_{i:09d}",
            "input_tokens": 100 + i % 50,
            "output_tokens": 10 + i % 40,
            "cache_read_tokens": 0,
            "cache_creation_tokens": 0,
            "cost_usd": 0.0002,
            "error_category": None,
            "error_detail": None,
            "tool_input": None,
            "cached": False,
            "cache_key": key,
            "provenance": "live",
            "stored_at": 1.7e9 + i,
        },
        separators=(",", ":"),
    )


def _backend(where: str, s3: dict | None):
    from eval_pipeline.storage.warehouse import open_backend

    if s3:
        os.environ.update(s3["env"])
        return open_backend(where, s3["endpoint"])
    return open_backend(where)


def _build(where: str, s3: dict | None, entries: int, fresh_night: int, manifest: bool = True) -> None:
    """Write the compacted shards (and one night of fresh segments) of ``entries`` answers."""
    import pyarrow as pa

    from eval_pipeline.inference.segment_format import SCHEMA
    from eval_pipeline.inference.segments import SegmentStore

    seg = SegmentStore(_backend(where, s3), PREFIX)
    by_shard: dict[str, list[int]] = {}
    for i in range(entries):
        if i // PER_NIGHT != fresh_night:
            by_shard.setdefault(_key(i)[:2], []).append(i)

    def shard(item):
        s, ids = item
        pairs = sorted((_key(i), i) for i in ids)
        t = pa.table(
            {
                "cache_key": [k for k, _ in pairs],
                "provenance": ["live"] * len(pairs),
                "stored_at": [1.7e9 + i for _, i in pairs],
                "record": [_record(i, k) for k, i in pairs],
            },
            schema=SCHEMA,
        )
        for attempt in range(5):  # SeaweedFS on a loaded 2-core box answers a PUT with 500 now and then
            try:
                seg.write_shard(s, t)
                return
            except Exception:
                if attempt == 4:
                    raise
                time.sleep(1 + attempt)

    with ThreadPoolExecutor(2) as pool:
        list(pool.map(shard, sorted(by_shard.items())))
    if manifest:
        seg.write_manifest()  # as SegmentStore.compact() does after merging the shards
    night = [i for i in range(fresh_night * PER_NIGHT, min(entries, (fresh_night + 1) * PER_NIGHT))]
    for chunk in range(0, len(night), 500):  # the night's writers sealed 500 answers at a time
        seg.write_fresh([json.loads(_record(i, _key(i))) for i in night[chunk : chunk + 500]])


def _rewrite_manifest(where: str, s3: dict | None) -> None:
    from eval_pipeline.inference.segments import SegmentStore

    SegmentStore(_backend(where, s3), PREFIX).write_manifest()  # idempotent: a no-op when it is current


def _lookup(where: str, s3: dict | None, night: int, out: mp.Queue) -> None:
    t0 = time.perf_counter()
    from eval_pipeline.inference.segments import SegmentStore
    from eval_pipeline.inference.store import ResponseStore

    wanted = [_key(i) for i in range(night * PER_NIGHT, (night + 1) * PER_NIGHT)]
    t_open = time.perf_counter()
    with tempfile.TemporaryDirectory() as local:
        store = ResponseStore(local, segments=SegmentStore(_backend(where, s3), PREFIX))
        store.prefetch(wanted)
        hits = sum(store.get(k) is not None for k in wanted)
        t = time.perf_counter() - t_open
        stats = dict(store.segments.stats)
    out.put(
        {
            "s": t,
            "import_s": t_open - t0,
            "hits": hits,
            "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            **stats,
        }
    )


def _scan(where: str, s3: dict | None, night: int, out: mp.Queue) -> None:
    import io

    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    wanted = pa.array([_key(i) for i in range(night * PER_NIGHT, (night + 1) * PER_NIGHT)])
    t0 = time.perf_counter()
    backend = _backend(where, s3)
    hits = 0
    for key in backend.list(f"{PREFIX}/segments/"):
        if "/manifest/" in key:  # the index, not answers
            continue
        t = pq.read_table(io.BytesIO(backend.get(key)), columns=["cache_key", "record"])
        hits += t.filter(pc.is_in(t["cache_key"], value_set=wanted)).num_rows
    out.put(
        {
            "s": time.perf_counter() - t0,
            "hits": hits,
            "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        }
    )


def _load() -> str:
    """The 1/5/15-minute load averages (the machine is shared: wall-clock figures are inflated by load)."""
    return "load average %.2f, %.2f, %.2f on %d cores" % (*os.getloadavg(), os.cpu_count() or 1)  # noqa: UP031


def _wipe(name: str, where: str, s3: dict | None, marker: str) -> None:
    """Remove a kept store of another size / layout before building again."""
    if os.path.exists(marker):
        os.remove(marker)
    if s3 is None:
        shutil.rmtree(where, ignore_errors=True)
        return
    backend = _backend(where, s3)
    for key in list(backend.list(f"{PREFIX}/")):
        backend.delete(key)


def _child(fn, *args) -> dict:
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=fn, args=(*args, q))
    p.start()
    res = q.get()
    p.join()
    return res


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--entries", type=int, default=5_000_000)
    ap.add_argument("--keep", help="build the local store in this folder and keep it")
    ap.add_argument(
        "--only", choices=("local", "s3"), help="measure one backend only (the last line then repeats it)"
    )
    ap.add_argument(
        "--no-manifest",
        action="store_true",
        help="build without the manifest (lookups read every shard's footer)",
    )
    args = ap.parse_args(argv)
    n = args.entries
    nights = max(1, n // PER_NIGHT)
    compacted_night, fresh_night = (
        nights // 3,
        nights - 1,
    )  # one night fully compacted, the last one still fresh
    work = os.path.abspath(args.keep) if args.keep else tempfile.mkdtemp(prefix="store-bench-")
    os.makedirs(work, exist_ok=True)
    from eval_pipeline.inference import segment_format
    from eval_pipeline_tests.support.servers.seaweed import SeaweedS3

    layout = {
        "entries": n,
        "manifest": not args.no_manifest,
        "row_group": segment_format.ROW_GROUP,
        "shard_chars": segment_format.SHARD_CHARS,
        "format": getattr(segment_format, "FORMAT", 1),
    }

    class BigSeaweed(
        SeaweedS3
    ):  # the test fixture's 4 x 64 MB volumes cannot hold a 5M-answer store (~550 MB)
        def _command(self):
            return [
                {
                    "-volume.max=4": "-volume.max=40",
                    "-master.volumeSizeLimitMB=64": "-master.volumeSizeLimitMB=256",
                }.get(a, a)
                for a in super()._command()
            ]

    results = {}
    print(f"load before: {_load()}", flush=True)
    with BigSeaweed(workdir=os.path.join(work, "seaweed") if args.keep else None) as s3srv:
        s3 = {"env": s3srv.env(), "endpoint": s3srv.endpoint_url}
        for name, where, cfg in (
            ("local", os.path.join(work, "wh"), None),
            ("s3", f"s3://{s3srv.bucket}/bench", s3),
        ):
            if args.only and name != args.only:
                continue
            marker = os.path.join(work, f"built-{name}.json")
            if args.keep and os.path.exists(marker) and json.load(open(marker)) == layout:  # noqa: SIM115
                build_s = None  # reused; a manifest written by older code is rewritten, as compaction would
                if not args.no_manifest:
                    p = mp.get_context("spawn").Process(target=_rewrite_manifest, args=(where, cfg))
                    p.start()
                    p.join()
                    assert p.exitcode == 0, f"manifest rewrite on {name} failed"
            else:
                if args.keep:
                    _wipe(name, where, cfg, marker)
                t0 = time.perf_counter()
                p = mp.get_context("spawn").Process(
                    target=_build, args=(where, cfg, n, fresh_night, not args.no_manifest)
                )
                p.start()
                p.join()
                assert p.exitcode == 0, f"build on {name} failed"
                build_s = time.perf_counter() - t0
                if args.keep:
                    with open(marker, "w") as f:
                        json.dump(layout, f)
            look = _child(_lookup, where, cfg, compacted_night)
            look_fresh = _child(_lookup, where, cfg, fresh_night)
            scan = _child(_scan, where, cfg, compacted_night)
            assert (
                look["hits"] == PER_NIGHT and look_fresh["hits"] == PER_NIGHT and scan["hits"] == PER_NIGHT
            ), (look, look_fresh, scan)
            results[name] = {"build_s": build_s, "lookup": look, "lookup_fresh": look_fresh, "scan": scan}
            built = (
                f"reused the {n:,} answers built in {work}"
                if build_s is None
                else f"built {n:,} answers in {build_s:.0f} s"
            )
            target_s = TARGET_LOCAL_S if name == "local" else TARGET_S3_S
            gets = f" in {look['gets']} ranged GETs" if name == "s3" else ""
            print(
                f"{name:5s}: {built}\n"
                f"  open + lookup of one compacted night's {PER_NIGHT:,} keys {look['s']:.2f} s (target < {target_s:.0f} s; "
                f"full scan {scan['s']:.2f} s)\n"
                f"  peak RSS of the lookup process {look['rss_mb']:.0f} MB (target < {TARGET_RSS_MB:.0f} MB"
                f"{'' if name == 'local' else ', set for local disk'}; full scan {scan['rss_mb']:.0f} MB)\n"
                f"  read: {look['manifests_read']} manifest, {look['footers']} footers, {look['row_groups']} row groups"
                f"{gets}; "
                f"tonight's {PER_NIGHT:,} fresh keys {look_fresh['s']:.2f} s",
                flush=True,
            )
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    print(f"load after: {_load()}")
    loc, rem = results.get("local", results.get("s3")), results.get("s3", results.get("local"))
    ok = (
        loc["lookup"]["s"] < TARGET_LOCAL_S
        and rem["lookup"]["s"] < TARGET_S3_S
        and loc["lookup"]["rss_mb"] < TARGET_RSS_MB
    )
    print(
        f"targets {'met' if ok else 'NOT met'}: lookup is {loc['scan']['s'] / loc['lookup']['s']:.0f}x faster than a full scan locally, "
        f"{rem['scan']['s'] / rem['lookup']['s']:.0f}x on S3"
    )
    print(
        f"store entries={n} lookup_s={loc['lookup']['s']:.3f} lookup_s3_s={rem['lookup']['s']:.3f} "
        f"peak_rss_mb={max(loc['lookup']['rss_mb'], rem['lookup']['rss_mb']):.0f}"
    )


if __name__ == "__main__":
    sys.exit(main())
