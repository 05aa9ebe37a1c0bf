"""Benchmark: the interactive history report at a year of history.

    python -m eval_pipeline_tests.benchmarks.report [--versions 20] [--metrics 30] [--days 365] [--keep FILE]

Synthetic aggregates (``eval_pipeline_tests/support/report_synthetic.py``): 20 model versions x 30 metrics
(5 eval sets) x 365 days, every version every day (219,000 ``score_history`` rows, 43,800
``ops_history`` rows), weekly release approvals, one config change per version, the alerts of the
real rules (:func:`~eval_pipeline.history.alerts.evaluate_alerts`, timed apart), and the
comparison matrix from real paired regression reports (``compare.regression_report`` of every
version's latest run against production, 200 samples x 30 metrics, timed apart: in the pipeline
the ``regression_report`` asset computes them per run, the report only reads them).

Measured: the report build (``build_report_html``: aggregates -> JSON blob -> HTML), the file
size, and the time from opening the file in Debian's Chromium (Playwright, headless) until the
page reports every chart rendered (``window.reportStatus.done_ms`` set; wall clock from
``goto``) with the versions the page draws on opening (production + the 5 with the latest runs;
the others are one tick in the version picker away); the same with every version drawn
(``#all``) is printed for information. Targets: build < 10 s, file < 10 MB, render < 5 s. The
machine's load average is printed too: on 2 shared cores another process can double the render.

The per-sample diff (``--diff-samples 5000``; ``eval_pipeline_tests/support/diff_synthetic.py``: half routing labels, half
FAQ answers of ~130 words judged 1-5, both runs written to a temporary warehouse in its real layout first):
``diff_build_s`` is reading both runs' golden / responses / scores back, the word-level diffs and the page
(:func:`~eval_pipeline.history.diff_data.load_run_pair` + :func:`~eval_pipeline.history.diff_page.build_diff_html`);
``diff_render_s`` the wall time from opening it until its first page of samples is drawn
(``window.diffStatus.done_ms`` set). Targets: diff build < 5 s, diff render < 2 s.

Last line: ``report build_s=<b> size_mb=<s> render_s=<r> diff_build_s=<a> diff_render_s=<b>``.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import pandas as pd

TARGETS = {"build_s": 10.0, "size_mb": 10.0, "render_s": 5.0, "diff_build_s": 5.0, "diff_render_s": 2.0}
CHROMIUM = "/usr/bin/chromium"


def comparisons(n_versions: int, n_metrics: int, versions: list[str], date: str) -> pd.DataFrame:
    """Overall rows of the paired regression report of each version's latest run vs production."""
    from eval_pipeline.regression.baselines import RunRef
    from eval_pipeline.regression.compare import regression_report
    from eval_pipeline_tests.support.report_synthetic import latest_run_samples

    base = latest_run_samples(0, n_metrics)
    frames = []
    for i in range(1, n_versions):
        rep = regression_report(
            latest_run_samples(i, n_metrics, seed=i),
            base,
            candidate=RunRef(date, versions[i]),
            baseline=RunRef(date, versions[0]),
        )
        rows = rep.rows[rep.rows["segment"] == "__all__"]
        frames.append(rows.assign(model_version=versions[i], date=date, against=str(rep.baseline)))
    return pd.concat(frames, ignore_index=True)


def _renderer_cpu() -> float:
    """User + system CPU seconds of every Chromium renderer process below this process."""
    import psutil

    total = 0.0
    for proc in psutil.Process().children(recursive=True):
        try:
            if "--type=renderer" in " ".join(proc.cmdline()):
                t = proc.cpu_times()
                total += t.user + t.system
        except psutil.Error:
            continue
    return total


def render_seconds(path: Path, fragment: str = "") -> tuple[float, dict]:
    """Wall time from opening the file until every chart reports rendered, and the page's status
    (``fragment="#all"``: every version drawn, not only production + the 5 latest)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        cpu0 = _renderer_cpu()
        t0 = time.perf_counter()
        page.goto(path.as_uri() + fragment, timeout=120_000)
        page.wait_for_function(
            "window.reportStatus && window.reportStatus.done_ms !== null", timeout=120_000, polling=50
        )
        seconds = time.perf_counter() - t0
        status = page.evaluate("window.reportStatus")
        status["cpu_s"] = _renderer_cpu() - cpu0  # CPU seconds of Chromium's renderer processes
        browser.close()
    return seconds, status


def diff_figures(n_samples: int) -> dict:
    """Build the diff page of two synthetic runs of ``n_samples`` samples from a warehouse and render it."""
    from playwright.sync_api import sync_playwright

    from eval_pipeline.history.diff_data import load_run_pair
    from eval_pipeline.history.diff_page import build_diff_html
    from eval_pipeline.storage.warehouse import Warehouse
    from eval_pipeline_tests.support import diff_synthetic as ds

    with tempfile.TemporaryDirectory() as tmp:
        wh = Warehouse.from_url(Path(tmp) / "wh")
        ds.write_pair(wh, n=n_samples // 2, n_faq=n_samples - n_samples // 2, filler=3)
        t = time.perf_counter()
        html = build_diff_html(load_run_pair(wh, (ds.DATE, ds.CAND), (ds.DATE, ds.BASE)))
        build_s = time.perf_counter() - t
        out = Path(tmp) / "diff.html"
        out.write_text(html, encoding="utf-8")
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            t = time.perf_counter()
            page.goto(out.as_uri(), timeout=120_000)
            page.wait_for_function("window.diffStatus && window.diffStatus.done_ms !== null", polling=20)
            render_s = time.perf_counter() - t
            status = page.evaluate("window.diffStatus")
            t = time.perf_counter()
            page.fill("#f-q", "thing 4321")
            page.wait_for_function(f"window.diffStatus.matched < {status['total']}", polling=20)
            search_s = time.perf_counter() - t - 0.15  # minus the page's 150 ms typing debounce
            browser.close()
        return {
            "diff_build_s": build_s,
            "diff_render_s": render_s,
            "size_mb": out.stat().st_size / 1e6 if out.exists() else 0.0,
            "status": status,
            "search_s": search_s,
        }


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--versions", type=int, default=20)
    ap.add_argument("--metrics", type=int, default=30)
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--keep", help="write the report here (default: a temp file, removed)")
    ap.add_argument("--diff-samples", type=int, default=5000, help="samples of the per-sample diff page")
    args = ap.parse_args(argv)

    from eval_pipeline.history.alert_rules import AlertRules
    from eval_pipeline.history.alerts import evaluate_alerts
    from eval_pipeline.history.report_page import build_report_html
    from eval_pipeline_tests.support.report_synthetic import synthetic_history

    t = time.perf_counter()
    h = synthetic_history(args.versions, args.metrics, args.days)
    gen_s = time.perf_counter() - t
    t = time.perf_counter()
    alerts = evaluate_alerts(h["scores"], h["ops"], AlertRules())
    alerts_s = time.perf_counter() - t
    t = time.perf_counter()
    comp = comparisons(args.versions, args.metrics, h["versions"], h["dates"][-1])
    comp_s = time.perf_counter() - t
    print(
        f"synthetic aggregates: {len(h['scores']):,} score_history rows, {len(h['ops']):,} ops_history rows "
        f"({args.versions} versions x {args.metrics} metrics x {args.days} days) in {gen_s:.1f}s"
    )
    print(
        f"outside the build: alerts {len(alerts):,} rows in {alerts_s:.1f}s; "
        f"{len(comp):,} comparison rows (paired regression reports) in {comp_s:.1f}s"
    )

    t = time.perf_counter()
    html = build_report_html(
        h["scores"],
        h["ops"],
        production=h["versions"][0],
        alerts=alerts,
        events=h["events"],
        comparisons=comp,
        title="synthetic year",
    )
    build_s = time.perf_counter() - t
    out = Path(args.keep) if args.keep else Path(tempfile.mkstemp(suffix=".html")[1])
    out.write_text(html, encoding="utf-8")
    size_mb = out.stat().st_size / 1e6
    try:
        render_s, status = render_seconds(out)
        all_s, all_status = render_seconds(out, "#all")
    finally:
        if not args.keep:
            os.unlink(out)
    print(
        f"charts: {status['total']} ({status['traces']:,} traces: production + the 5 latest versions drawn), "
        f"rendered {status['rendered']}, errors {len(status['errors'])}; in-page draw time {status['done_ms'] / 1000:.2f}s"
    )
    print(
        f"every version drawn (#all): {all_status['traces']:,} traces, all {all_status['rendered']} charts in "
        f"{all_s:.2f}s (informational)"
    )
    print(
        f"CPU time of Chromium's renderer processes until every chart is drawn (parse, script, layout, paint; "
        f"unlike wall time not inflated by other processes on the machine): {status['cpu_s']:.2f}s"
    )
    d = diff_figures(args.diff_samples)
    print(
        f"per-sample diff: {d['status']['total']:,} samples ({d['size_mb']:.1f} MB page), first page of "
        f"{d['status']['shown']} drawn; a search over every sample {d['search_s']:.2f}s (informational)"
    )
    print(f"load average (2 cores, shared): {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    figures = {"build_s": build_s, "size_mb": size_mb, "render_s": render_s}
    figures.update(diff_build_s=d["diff_build_s"], diff_render_s=d["diff_render_s"])
    for key, value in figures.items():
        ok = "ok" if value < TARGETS[key] else "OVER TARGET"
        print(f"{key:>13}: {value:7.2f}   target < {TARGETS[key]:g}   {ok}")
    print(
        "peer: the PNG report it replaces held one matplotlib image per (metric, version): 600 images at this scale"
    )
    print(
        f"report build_s={build_s:.2f} size_mb={size_mb:.2f} render_s={render_s:.2f} "
        f"diff_build_s={d['diff_build_s']:.2f} diff_render_s={d['diff_render_s']:.2f}"
    )


if __name__ == "__main__":
    main()
