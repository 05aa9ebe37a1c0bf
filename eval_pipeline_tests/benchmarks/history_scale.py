"""Scale benchmark of the history layer: 10 M score rows (365 days x 20 model versions).

1. Generate long-format score rows (``SCORE_COLUMNS``) as Hive-partitioned
   Parquet ``scores/family=deterministic/date=<d>/model_version=<mv>/data.parquet``,
   ~1,370 rows per partition (274 samples x 5 metrics), vectorized numpy, written by
   parallel threads; into S3 on SeaweedFS (``eval_pipeline_tests/support/servers/seaweed.py``)
   or, with ``--local`` / when that server is unavailable, into a local folder.
2. ``refresh_history`` over every partition (DuckDB, 2 threads; incremental, one date at a
   time): time of the first refresh, then one more day is written and the incremental
   refresh (only that date re-aggregated) is timed.
3. Report queries against the history: trend for one model version, candidate vs
   baseline (history query + both runs' per-sample rows + paired regression report),
   alert window (window query + alert rules over 30 days): time each and in total.
4. Peak RSS of this process (generation runs in a child process so it does not count).

    python -m eval_pipeline_tests.benchmarks.history_scale [--rows 10000000] [--local] [--keep DIR]
"""

from __future__ import annotations

import argparse
import datetime as dt
import multiprocessing as mp
import os
import resource
import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

SAMPLES, METRICS, CATEGORIES = 274, 5, 5
ROWS_PER_PARTITION = SAMPLES * METRICS  # 1,370
N_MODELS = 20
TARGET_QUERY_S = 3.0


def _plan(rows: int, extra_days: int = 0) -> tuple[list[str], list[str]]:
    """Dates and model versions so that dates x versions x 1,370 ~= rows (365 x 20 for 10 M)."""
    n_days = max(1, round(rows / (ROWS_PER_PARTITION * N_MODELS))) + extra_days
    start = dt.date(2024, 1, 1)
    dates = [(start + dt.timedelta(days=i)).isoformat() for i in range(n_days)]
    return dates, [f"model-v{i:02d}" for i in range(N_MODELS)]


def _template():
    """Columns identical in every partition, built once."""
    import pyarrow as pa

    sample = np.repeat(np.arange(SAMPLES), METRICS)
    metric = np.tile(np.arange(METRICS), SAMPLES)
    return {
        "suite": pa.array(np.full(ROWS_PER_PARTITION, "qa")),
        "eval_set": pa.array(np.full(ROWS_PER_PARTITION, "golden")),
        "sample_id": pa.array(np.char.add("s", sample.astype(str))),
        "repeat": pa.array(np.zeros(ROWS_PER_PARTITION, np.int64)),
        "family": pa.array(np.full(ROWS_PER_PARTITION, "deterministic")),
        "metric": pa.array(np.char.add("check_", metric.astype(str))),
        "category": pa.array(np.char.add("cat", (sample % CATEGORIES).astype(str))),
        "evaluator_hash": pa.array(np.full(ROWS_PER_PARTITION, "h0")),
    }


def _generate(
    root: str, rows: int, s3: dict | None, workers: int = 4, new_day: bool = False
) -> tuple[int, float]:
    """Write every partition (``new_day``: only the next day's); returns (rows written, seconds). Child process."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from eval_pipeline.project.schemas import SCORE_COLUMNS
    from eval_pipeline_tests.support import simulate as sim

    t0 = time.perf_counter()
    dates, mvs = _plan(rows, extra_days=1 if new_day else 0)
    rng = np.random.default_rng(7)
    tmpl = _template()
    # per model version and (sample, metric) pass probability; later versions slightly better
    p = np.stack(
        [
            sim.sample_pass_probabilities(ROWS_PER_PARTITION, 0.75 + 0.005 * i, 0.5, rng)
            for i in range(len(mvs))
        ]
    )
    if s3:
        from pyarrow import fs as pafs

        filesystem = pafs.S3FileSystem(
            endpoint_override=s3["endpoint"],
            access_key=s3["key"],
            secret_key=s3["secret"],
            scheme="http",
            region=s3.get("region", "us-east-1"),
        )
        base = root.removeprefix("s3://")
    else:
        filesystem, base = None, root

    def write_day(di: int) -> int:
        r = np.random.default_rng(1000 + di)
        date = dates[di]
        n = 0
        for mi, mv in enumerate(mvs):
            passed = r.random(ROWS_PER_PARTITION) < p[mi]
            infra = r.random(ROWS_PER_PARTITION) < 0.002
            cols = dict(tmpl)
            cols.update(
                {
                    "date": pa.array(np.full(ROWS_PER_PARTITION, date)),
                    "model_version": pa.array(np.full(ROWS_PER_PARTITION, mv)),
                    "value": pa.array(passed.astype(float), mask=infra),
                    "passed": pa.array(passed, mask=infra),
                    "reason": pa.array(np.where(passed, "ok", "check failed")),
                    "infra_error": pa.array(np.where(infra, "timeout", None), type=pa.string()),
                }
            )
            table = pa.table({c: cols[c] for c in SCORE_COLUMNS})
            path = f"{base}/scores/family=deterministic/date={date}/model_version={mv}/data.parquet"
            if filesystem is None:
                os.makedirs(os.path.dirname(path), exist_ok=True)
            pq.write_table(table, path, filesystem=filesystem, compression="snappy")
            n += table.num_rows
        return n

    with ThreadPoolExecutor(workers) as ex:
        total = sum(ex.map(write_day, [len(dates) - 1] if new_day else range(len(dates))))
    return total, time.perf_counter() - t0


def _child(root, rows, s3, q, new_day=False):
    q.put(_generate(root, rows, s3, new_day=new_day))


def _generate_in_child(root, rows, s3, new_day=False) -> tuple[int, float]:
    """Run :func:`_generate` in a spawned child so its memory does not count in this process's RSS."""
    ctx = mp.get_context("spawn")
    qu = ctx.Queue()
    proc = ctx.Process(target=_child, args=(root, rows, s3, qu, new_day))
    proc.start()
    out = qu.get()
    proc.join()
    return out


def _start_seaweed():
    """Start the SeaweedFS S3 test server; returns (server, s3 settings) or None if unavailable."""
    try:
        from eval_pipeline_tests.support.servers.seaweed import SeaweedS3
    except ImportError:
        return None
    srv = SeaweedS3(bucket="history-bench").start()
    os.environ.update(srv.env())  # the Warehouse and the generator child read the AWS chain
    s3 = {
        "endpoint": srv.endpoint_url.removeprefix("http://"),
        "key": srv.access_key,
        "secret": srv.secret_key,
        "bucket": srv.bucket,
        "endpoint_url": srv.endpoint_url,
    }
    return srv, s3


def _duckdb(root: str, s3: dict | None, memory_limit: str = "1GB"):
    """DuckDB connection that can read the data (the Warehouse's own for S3), 2 threads, 1 GB."""
    import duckdb

    if s3:
        from eval_pipeline.storage import Warehouse

        con = Warehouse.from_url(root, endpoint_url=s3["endpoint_url"]).connect_duckdb()
    else:
        con = duckdb.connect()
    con.execute("SET threads = 2")
    con.execute(f"SET memory_limit = '{memory_limit}'")
    return con


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--local", action="store_true", help="local folder instead of SeaweedFS S3")
    ap.add_argument("--keep", help="use / keep this local folder (reuses existing data)")
    ap.add_argument("--memory-limit", default="1GB", help="DuckDB memory_limit (default 1GB)")
    args = ap.parse_args(argv)

    from eval_pipeline.history import sql as q
    from eval_pipeline.history.aggregate import refresh_history
    from eval_pipeline.history.alert_rules import AlertRules
    from eval_pipeline.history.alerts import evaluate_alerts
    from eval_pipeline.history.runs import load_run_scores, open_history
    from eval_pipeline.history.sources import HistorySources
    from eval_pipeline.regression.compare import regression_report

    server = None if args.local else _start_seaweed()
    s3 = server[1] if server else None
    work = args.keep or tempfile.mkdtemp(prefix="history_scale_")
    root = f"s3://{s3['bucket'] or 'bench'}/history_scale" if s3 else os.path.join(work, "wh")
    where = f"S3 on SeaweedFS ({s3['endpoint']})" if s3 else f"local folder {root}"
    if not args.local and not s3:
        where += " (SeaweedFS test server not available yet)"
    print(
        f"# history scale benchmark: {where}, cores={os.cpu_count()}, DuckDB threads=2, "
        f"memory_limit={args.memory_limit}"
    )
    try:
        dates, mvs = _plan(args.rows)
        if args.keep and os.path.exists(os.path.join(root, "scores")):
            total, gen_s = len(dates) * len(mvs) * ROWS_PER_PARTITION, float("nan")
            print("reusing existing data")
        else:
            total, gen_s = _generate_in_child(root, args.rows, s3)
        print(
            f"generate: {total:,} rows in {len(dates) * len(mvs):,} partitions "
            f"({len(dates)} days x {len(mvs)} model versions): {gen_s:.1f} s "
            f"({total / gen_s / 1e6 if gen_s == gen_s else float('nan'):.2f} M rows/s)"
        )
        import duckdb  # noqa: F401  (imported before the baseline RSS reading)

        rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

        con = _duckdb(root, s3, args.memory_limit)
        src = HistorySources.for_root(root)
        db_path = os.path.join(work, "history", "history.duckdb")
        out_dir = f"{root}/_history" if s3 else os.path.join(work, "history")
        res = refresh_history(con, src, db_path=db_path, parquet_dir=out_dir)
        rss_refresh = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(
            f"history refresh (first, per date): {res.seconds:.1f} s, {len(res.dates_aggregated)} dates aggregated, "
            f"{len(res.dates_reused)} reused (peak RSS so far {rss_refresh:.0f} MB) -> "
            f"{res.row_counts['score_history']:,} history rows, {res.row_counts['failure_modes']:,} failure-mode rows"
        )
        # the next day arrives: only its date is re-aggregated
        new_rows, _ = _generate_in_child(root, args.rows, s3, new_day=True)
        inc = refresh_history(con, src, db_path=db_path, parquet_dir=out_dir)
        rss_inc = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(
            f"history refresh (incremental, +1 day = {new_rows:,} rows): {inc.seconds:.1f} s, "
            f"{len(inc.dates_aggregated)} date re-aggregated, {len(inc.dates_reused)} reused "
            f"(target: only the new date; peak RSS so far {rss_inc:.0f} MB)"
        )
        total += new_rows
        dates, _ = _plan(args.rows, extra_days=1)

        # warm imports (a Dagster code server has these loaded): not query time
        import scipy.stats  # noqa: F401
        import statsmodels.stats.contingency_tables  # noqa: F401
        import statsmodels.stats.multitest  # noqa: F401
        import statsmodels.stats.weightstats  # noqa: F401

        hist = open_history(db_path)
        mv, base_mv, last = mvs[-1], mvs[0], dates[-1]
        timings = {}
        t = time.perf_counter()
        trend = hist.execute(q.TREND_QUERY, [mv, "check_0"]).df()
        timings["trend (one model version)"] = time.perf_counter() - t
        t = time.perf_counter()
        side = hist.execute(q.CANDIDATE_VS_BASELINE_QUERY, [last, mv, base_mv]).df()
        fams = [r[0] for r in hist.execute("SELECT DISTINCT family FROM score_history").fetchall()]
        cand = load_run_scores(con, src.scores_glob, last, mv, fams)
        base = load_run_scores(con, src.scores_glob, last, base_mv, fams)
        rep = regression_report(cand, base)
        timings["candidate vs baseline (+ paired report)"] = time.perf_counter() - t
        t = time.perf_counter()
        since = dates[max(0, len(dates) - 31)]
        win = hist.execute(q.ALERT_WINDOW_QUERY, [mv, since]).df()
        recent = hist.execute(
            "SELECT * FROM score_history WHERE model_version = ? AND date >= ?", [mv, since]
        ).df()
        alerts = evaluate_alerts(recent, rules=AlertRules())
        timings["alert window (+ rules, 30 days)"] = time.perf_counter() - t
        for name, s in timings.items():
            print(f"  query {name}: {s:.3f} s (target < {TARGET_QUERY_S} s)")
        report_s = sum(timings.values())
        print(
            f"report queries total: {report_s:.3f} s (target < {TARGET_QUERY_S} s)  "
            f"[trend rows={len(trend)}, side-by-side rows={len(side)}, report rows={len(rep.rows)}, "
            f"window rows={len(win)}, alerts={len(alerts)}]"
        )
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(
            f"peak RSS: {peak:.0f} MB (before refresh {rss0:.0f} MB; generation ran in a child process); "
            f"target: bounded by partition size, not history size"
        )
        print(f"history rows={total} report_query_s={report_s:.3f} peak_rss_mb={peak:.0f}")
    finally:
        if server:
            server[0].stop()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
