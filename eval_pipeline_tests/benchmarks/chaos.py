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
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eval_pipeline.project.paths import PROJECT_ROOT
from eval_pipeline_tests.support.orchestration import edit_yaml, small_data
from eval_pipeline_tests.support.servers.anthropic_server import (
    ServerProcess,
    remote_configure,
    remote_reset,
    remote_stats,
)

KEY = "sk-chaos-test-key-0123456789"
DATE = "2026-11-30"
JUDGE_MODEL = "claude-sonnet-4-5"
CANDIDATE = "claude-haiku-4-5"
BASE_CONFIG: dict[str, Any] = {
    "api_key": KEY,
    "latency_s": 0.4,
    "fault_probabilities": {},
    "slow_s": 30.0,
    "answer_key": {},
    "model_accuracy": {},
    "missing_models": [],
}


@dataclass
class Result:
    name: str
    needed: int = 0  # distinct keys the job needs
    sent: int = 0  # attempts the server saw (all runs of the case)
    paid: int = 0  # answered with HTTP 200 (all runs of the case)
    lost_in_flight: int = 0
    paid_twice: int = 0
    t_err: float | None = None
    codes: list[int] = field(default_factory=list)
    half_written: str = "no"
    held: bool = False
    note: str = ""
    skipped: str = ""


class Env:
    """One case's project, Dagster home, warehouse and store, and the CLI runner."""

    def __init__(self, root: Path, base_url: str, n: int, distinct: bool = True, judge: bool = False):
        self.root = root
        self.data = small_data(root / "data", n_samples=n, model_names=("bot-a",))
        golden = self.data / "golden" / "intents.jsonl"
        rows = [json.loads(line) for line in golden.read_text().splitlines()]
        if distinct:
            for i, r in enumerate(rows):
                r["input"] = f"case {i}: {r['input']}"
        golden.write_text("".join(json.dumps(r) + "\n" for r in rows))
        self.inputs = [r["input"] for r in rows]
        if judge:
            edit_yaml(
                self.data / "suites" / "mini.yaml",
                lambda d: d["eval_sets"].append(
                    {
                        "name": "quality",
                        "family": "judge",
                        "task": "classify_intent",
                        "source": "golden/intents.jsonl",
                        "judge": {"model": JUDGE_MODEL, "dimensions": [{"name": "helpful", "threshold": 3}]},
                        "thresholds": [{"metric": "pass_rate", "min": 0.0}],
                    }
                ),
            )
        self.home = root / "dagster_home"
        self.home.mkdir(parents=True, exist_ok=True)
        (self.home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
        self.wh = root / "wh"
        self.store = root / "store"
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("EVAL_", "ANTHROPIC_", "DAGSTER_"))},
            "PYTHONPATH": str(PROJECT_ROOT),
            "DAGSTER_HOME": str(self.home),
            "EVAL_DATA_DIR": str(self.data),
            "EVAL_WAREHOUSE_URL": str(self.wh),
            "EVAL_RESPONSE_STORE": str(self.store),
            "EVAL_PROVIDER": "anthropic",
            "ANTHROPIC_API_KEY": KEY,
            "ANTHROPIC_BASE_URL": base_url,
            "EVAL_MAX_CONCURRENCY": "4",
        }

    def start(self, families: str = "deterministic", **extra_env: str) -> subprocess.Popen:
        cmd = [sys.executable, "-m", "eval_pipeline.cli", "run", "--model-version", "bot-a", "--date", DATE]
        cmd += ["--families", families]
        return subprocess.Popen(
            cmd,
            env={**self.env, **extra_env},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=self.root,
        )

    def run(
        self, families: str = "deterministic", timeout: float = 600, **extra_env: str
    ) -> tuple[int, float, str]:
        t0 = time.monotonic()
        p = self.start(families, **extra_env)
        try:
            out, _ = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            out, _ = p.communicate()
            return -9, time.monotonic() - t0, out + "\n[chaos: killed after the case timeout]"
        return p.returncode, time.monotonic() - t0, out

    def stored_keys(self) -> set[str]:
        """Distinct keys in the response store's journals (local store folder)."""
        keys: set[str] = set()
        for f in self.store.rglob("*.jsonl"):
            for line in f.read_text(encoding="utf-8", errors="replace").splitlines():
                with contextlib.suppress(ValueError):
                    keys.add(json.loads(line)["cache_key"])
        return keys

    def logged(self, text: str) -> bool:
        """Whether any run's Dagster event log has a message containing ``text``."""
        import dagster as dg

        inst = dg.DagsterInstance.from_config(str(self.home))  # raises if two processes broke the instance
        return any(
            text in (rec.user_message or "") for run in inst.get_runs() for rec in inst.all_logs(run.run_id)
        )

    def integrity(self, root: Path | None = None) -> str:
        """Temp files left, Parquet files that do not read, runs left STARTED: "no" if none."""
        import dagster as dg
        import pyarrow.parquet as pq

        root = root or self.wh
        problems = [str(p) for p in root.rglob("*tmp-*")] if root.exists() else []
        for f in root.rglob("*.parquet") if root.exists() else []:
            try:
                pq.read_table(f)
            except Exception as e:
                problems.append(f"{f}: {type(e).__name__}")
        with contextlib.suppress(Exception):
            inst = dg.DagsterInstance.from_config(str(self.home))
            started = inst.get_run_records(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED]))
            problems += [f"run {r.dagster_run.run_id[:8]} left STARTED" for r in started]
        return "no" if not problems else "; ".join(problems[:3])


def _stats(base_url: str) -> tuple[int, int]:
    s = remote_stats(base_url)
    return int(s["total"]), int(s["by_status"].get("200", 0))


def _reset(base_url: str, **patch: Any) -> None:
    remote_configure(base_url, **{**BASE_CONFIG, **patch})
    remote_reset(base_url)


def _wait_for(pred, timeout: float = 120.0, every: float = 0.05) -> bool:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if pred():
            return True
        time.sleep(every)
    return False


def _last_lines(out: str, n: int = 2) -> str:
    lines = [ln for ln in out.splitlines() if ln.strip() and "Warning" not in ln]
    return " | ".join(lines[-n:])[:300]


# ----------------------------------------------------------------------------- cases


def case_duplicates(base: str, tmp: Path, n: int) -> Result:
    r = Result("duplicate requests in one run")
    _reset(base)
    e = Env(tmp, base, n, distinct=False)  # small_data repeats 8 messages
    # a second eval set on the same task and golden set: the same requests again
    edit_yaml(
        e.data / "suites" / "mini.yaml",
        lambda d: d["eval_sets"].append({**d["eval_sets"][0], "name": "routing_copy"}),
    )
    code, secs, out = e.run()
    r.codes = [code]
    r.sent, r.paid = _stats(base)
    r.needed = len(set(e.inputs))
    r.paid_twice = max(0, r.paid - r.needed)
    r.half_written = e.integrity()
    r.held = code == 0 and r.paid == r.needed and r.half_written == "no"
    r.note = f"{2 * n} requests (2 eval sets x {n} rows) for {r.needed} distinct inputs"
    return r


def case_wrong_key(base: str, tmp: Path, n: int) -> Result:
    r = Result("wrong API key")
    _reset(base)
    e = Env(tmp, base, n)
    code, secs, out = e.run(ANTHROPIC_API_KEY="sk-wrong-key-000000000")
    r.codes, r.t_err = [code], secs
    r.sent, r.paid = _stats(base)
    r.needed = n
    ok_msg = f"authentication failed at {base}" in out
    r.half_written = e.integrity()
    r.held = code == 2 and ok_msg and r.sent <= 3 + 4 and "sk-wrong-key" not in out
    r.note = (
        _last_lines(out, 1) if not ok_msg else f"says 'authentication failed at {base}'; {r.sent} of {n} sent"
    )
    return r


def case_concurrent(base: str, tmp: Path, n: int) -> Result:
    r = Result("two concurrent runs of one partition")
    _reset(base)
    e = Env(tmp, base, n)
    t0 = time.monotonic()
    procs = [e.start(), e.start()]
    outs = [p.communicate(timeout=600)[0] for p in procs]
    r.codes = [p.returncode for p in procs]
    r.sent, r.paid = _stats(base)
    r.needed = n
    r.paid_twice = max(0, r.paid - r.needed)
    r.half_written = e.integrity()
    r.held = r.codes == [0, 0] and r.paid_twice == 0 and r.half_written == "no"
    waited = any("is being run by" in o for o in outs) or e.logged("is being run by")
    r.note = f"both finished in {time.monotonic() - t0:.0f} s; second waited on the claim: {waited}"
    if not r.held:
        r.note += " | " + " / ".join(_last_lines(o, 1) for o in outs)
    return r


def _killed_then_rerun(r: Result, e: Env, base: str, families: str, trigger) -> Result:
    p = e.start(families)
    if not _wait_for(lambda: trigger(remote_stats(base)), timeout=300):
        p.kill()
        r.note = "the kill point was never reached"
        return r
    os.kill(p.pid, signal.SIGKILL)
    p.communicate()
    sent1, paid1 = _stats(base)
    stored1 = e.stored_keys()
    remote_reset(base)
    code, secs, out = e.run(families)
    sent2, paid2 = _stats(base)
    stored2 = e.stored_keys()
    r.codes = [-9, code]
    r.sent, r.paid = sent1 + sent2, paid1 + paid2
    r.needed = len(stored2)
    r.lost_in_flight = max(0, paid1 - len(stored1))
    r.paid_twice = max(0, paid2 - (r.needed - len(stored1)))
    r.half_written = e.integrity()
    r.held = code == 0 and r.paid_twice == 0 and r.half_written == "no"
    r.note = (
        f"killed after {paid1} answers ({len(stored1)} stored); rerun paid {paid2} for "
        f"{r.needed - len(stored1)} missing keys"
    )
    if code != 0:
        r.note += " | " + _last_lines(out)
    return r


def case_sigkill_inference(base: str, tmp: Path, n: int) -> Result:
    _reset(base)
    e = Env(tmp, base, n)
    return _killed_then_rerun(
        Result("SIGKILL mid-inference (rerun)"),
        e,
        base,
        "deterministic",
        lambda s: s["by_status"].get("200", 0) >= n // 3,
    )


def case_sigkill_judge(base: str, tmp: Path, n: int) -> Result:
    _reset(base)
    e = Env(tmp, base, n, judge=True)
    return _killed_then_rerun(
        Result("SIGKILL mid-judge (rerun)"),
        e,
        base,
        "deterministic,judge",
        lambda s: s["by_model"].get(JUDGE_MODEL, 0) >= n // 3,
    )


def case_model_hang(base: str, tmp: Path, n: int) -> Result:
    r = Result("model endpoint hanging")
    _reset(base, fault_probabilities={"slow": 1.0}, slow_s=3600.0)
    e = Env(tmp, base, n)
    code, secs, out = e.run()
    r.codes, r.t_err = [code], secs
    r.sent, r.paid = _stats(base)
    r.needed = n
    named = f"model endpoint {base} did not answer" in out
    r.half_written = e.integrity()
    r.held = code == 3 and named and secs <= 150 and r.half_written == "no"
    r.note = "names the endpoint and the wait" if named else _last_lines(out)
    _reset(base)
    return r


@contextlib.contextmanager
def _silent_tcp_server():
    """Accepts connections and never answers: an S3 endpoint that hangs."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    sock.settimeout(0.2)
    stop, held = threading.Event(), []

    def loop():
        while not stop.is_set():
            with contextlib.suppress(OSError):
                held.append(sock.accept()[0])

    th = threading.Thread(target=loop, daemon=True)
    th.start()
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        stop.set()
        th.join(2)
        for c in held:
            c.close()
        sock.close()


def case_s3_hang(base: str, tmp: Path, n: int) -> Result:
    r = Result("S3 endpoint hanging")
    _reset(base)
    e = Env(tmp, base, n)
    with _silent_tcp_server() as endpoint:
        code, secs, out = e.run(
            EVAL_WAREHOUSE_URL="s3://chaos/wh",
            EVAL_S3_ENDPOINT_URL=endpoint,
            AWS_ACCESS_KEY_ID="chaos",
            AWS_SECRET_ACCESS_KEY="chaos-secret",
            AWS_REGION="us-east-1",
        )
    r.codes, r.t_err = [code], secs
    r.sent, r.paid = _stats(base)
    r.needed = n
    named = endpoint in out and "did not answer within" in out
    r.held = code == 3 and named and secs <= 150
    r.note = "names the S3 endpoint and the wait" if named else _last_lines(out)
    return r


def case_s3_killed(base: str, tmp: Path, n: int) -> Result:
    from eval_pipeline_tests.support.servers.seaweed import SeaweedS3

    r = Result("S3 killed mid-write, restarted (rerun)")
    _reset(base)
    e = Env(tmp, base, n)
    s3 = SeaweedS3(workdir=tmp / "seaweed").start()
    try:
        s3env = {
            **s3.env(),
            "EVAL_WAREHOUSE_URL": f"s3://{s3.bucket}/wh",
            "EVAL_S3_ENDPOINT_URL": s3.endpoint_url,
        }
        p = e.start(**s3env)
        if not _wait_for(lambda: remote_stats(base)["by_status"].get("200", 0) >= n // 2, timeout=300):
            p.kill()
            r.note = "inference never started"
            return r
        t_kill = time.monotonic()
        os.killpg(s3.proc.pid, signal.SIGKILL)  # SeaweedFS dies while the run writes
        out, _ = p.communicate(timeout=600)
        r.t_err = time.monotonic() - t_kill
        code1 = p.returncode
        sent1, paid1 = _stats(base)
        stored1 = e.stored_keys()
        s3.proc = None
        s3.start()  # same data folder and ports
        remote_reset(base)
        code2, secs, out2 = e.run(**s3env)
        sent2, paid2 = _stats(base)
        r.codes = [code1, code2]
        r.sent, r.paid = sent1 + sent2, paid1 + paid2
        r.needed = n
        r.lost_in_flight = max(0, paid1 - len(stored1))
        r.paid_twice = max(0, paid2 - (r.needed - len(stored1)))
        named = s3.endpoint_url in out
        r.half_written = _s3_integrity(s3, e)
        r.held = code1 == 3 and named and code2 == 0 and r.paid_twice == 0 and r.half_written == "no"
        r.note = f"first run: {_last_lines(out, 1)}" if not named else "first run names the S3 endpoint"
        if code2 != 0:
            r.note += " | rerun: " + _last_lines(out2)
    finally:
        s3.keep = None
        s3.stop()
    return r


def _s3_integrity(s3: Any, e: Env) -> str:
    import io

    import pyarrow.parquet as pq

    c = s3.client()
    problems = []
    for page in c.get_paginator("list_objects_v2").paginate(Bucket=s3.bucket, Prefix="wh/"):
        for obj in page.get("Contents", []):
            k = obj["Key"]
            if "tmp-" in k:
                problems.append(k)
            if k.endswith(".parquet"):
                try:
                    pq.read_table(io.BytesIO(c.get_object(Bucket=s3.bucket, Key=k)["Body"].read()))
                except Exception as exc:
                    problems.append(f"{k}: {type(exc).__name__}")
    local = e.integrity(e.root / "nothing")  # runs left STARTED
    if local != "no":
        problems.append(local)
    return "no" if not problems else "; ".join(problems[:3])


def case_regex(base: str, tmp: Path, n: int) -> Result:
    r = Result("catastrophic regex")
    e = Env(tmp, base, n)
    answer = "a" * 34 + "!"
    _reset(base, answer_key={i: answer for i in e.inputs}, model_accuracy={CANDIDATE: 1.0})
    edit_yaml(
        e.data / "suites" / "mini.yaml",
        lambda d: d["eval_sets"][0].update(checks=[{"type": "regex", "pattern": "(a+)+$"}]),
    )
    code, secs, out = e.run(timeout=300)
    r.codes, r.t_err = [code], secs
    r.sent, r.paid = _stats(base)
    r.needed = n
    r.half_written = e.integrity()
    r.held = code in (0, 1) and secs <= 150 and r.half_written == "no"
    r.note = f"finished in {secs:.0f} s on {n} answers {answer!r} with (a+)+$" if r.held else _last_lines(out)
    _reset(base)
    return r


def case_disk_full(base: str, tmp: Path, n: int) -> Result:
    r = Result("disk full (tmpfs warehouse)")
    _reset(base)
    e = Env(tmp, base, n)
    e.wh.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(e.wh)], capture_output=True, text=True
    )
    if mounted.returncode != 0:
        r.skipped = f"cannot mount a tmpfs here: {mounted.stderr.strip()[:120]}"
        return r
    try:
        filler = e.wh / "filler"
        # leave ~24 KB free: the first small writes fit, a later one does not
        with open(filler, "wb") as fh, contextlib.suppress(OSError):
            fh.write(b"\0" * (1024 * 1024 - 24 * 1024))
        code1, secs, out = e.run()
        r.t_err = secs
        stored1 = e.stored_keys()
        sent1, paid1 = _stats(base)
        filler.unlink()
        remote_reset(base)
        code2, _, out2 = e.run()
        sent2, paid2 = _stats(base)
        r.codes = [code1, code2]
        r.sent, r.paid = sent1 + sent2, paid1 + paid2
        r.needed = n
        r.paid_twice = max(0, paid2 - (r.needed - len(stored1)))
        named = "No space left on device" in out and str(e.wh) in out
        r.half_written = e.integrity()
        r.held = code1 == 3 and named and code2 == 0 and r.paid_twice == 0 and r.half_written == "no"
        r.note = "names ENOSPC and the warehouse path" if named else _last_lines(out)
        if code2 != 0:
            r.note += " | rerun: " + _last_lines(out2)
    finally:
        subprocess.run(["umount", "-l", str(e.wh)], capture_output=True)
    return r


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
