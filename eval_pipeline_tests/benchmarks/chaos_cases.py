"""The chaos benchmark's cases (run by :mod:`eval_pipeline_tests.benchmarks.chaos`), one function each.

In: the Anthropic test server's URL (a separate process), a scratch folder for the case, the sample count.
Out: a :class:`~eval_pipeline_tests.benchmarks.chaos_env.Result`: requests sent and answered vs the distinct keys,
answers lost to a kill or paid twice, time to the error, exit codes, anything half-written, whether it held."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from eval_pipeline_tests.benchmarks.chaos_env import (
    CANDIDATE,
    JUDGE_MODEL,
    Env,
    Result,
    last_lines,
    reset,
    stats,
    wait_for,
)
from eval_pipeline_tests.support.orchestration import edit_yaml
from eval_pipeline_tests.support.servers.anthropic_server import (
    remote_reset,
    remote_stats,
)


def case_duplicates(base: str, tmp: Path, n: int) -> Result:
    r = Result("duplicate requests in one run")
    reset(base)
    e = Env(tmp, base, n, distinct=False)  # small_data repeats 8 messages
    # a second eval set on the same task and golden set: the same requests again
    edit_yaml(
        e.data / "suites" / "mini.yaml",
        lambda d: d["eval_sets"].append({**d["eval_sets"][0], "name": "routing_copy"}),
    )
    code, secs, out = e.run()
    r.codes = [code]
    r.sent, r.paid = stats(base)
    r.needed = len(set(e.inputs))
    r.paid_twice = max(0, r.paid - r.needed)
    r.half_written = e.integrity()
    r.held = code == 0 and r.paid == r.needed and r.half_written == "no"
    r.note = f"{2 * n} requests (2 eval sets x {n} rows) for {r.needed} distinct inputs"
    return r


def case_wrong_key(base: str, tmp: Path, n: int) -> Result:
    r = Result("wrong API key")
    reset(base)
    e = Env(tmp, base, n)
    code, secs, out = e.run(ANTHROPIC_API_KEY="sk-wrong-key-000000000")
    r.codes, r.t_err = [code], secs
    r.sent, r.paid = stats(base)
    r.needed = n
    ok_msg = f"authentication failed at {base}" in out
    r.half_written = e.integrity()
    r.held = code == 2 and ok_msg and r.sent <= 3 + 4 and "sk-wrong-key" not in out
    r.note = (
        last_lines(out, 1) if not ok_msg else f"says 'authentication failed at {base}'; {r.sent} of {n} sent"
    )
    return r


def case_concurrent(base: str, tmp: Path, n: int) -> Result:
    r = Result("two concurrent runs of one partition")
    reset(base)
    e = Env(tmp, base, n)
    t0 = time.monotonic()
    procs = [e.start(), e.start()]
    outs = [p.communicate(timeout=600)[0] for p in procs]
    r.codes = [p.returncode for p in procs]
    r.sent, r.paid = stats(base)
    r.needed = n
    r.paid_twice = max(0, r.paid - r.needed)
    r.half_written = e.integrity()
    r.held = r.codes == [0, 0] and r.paid_twice == 0 and r.half_written == "no"
    waited = any("is being run by" in o for o in outs) or e.logged("is being run by")
    r.note = f"both finished in {time.monotonic() - t0:.0f} s; second waited on the claim: {waited}"
    if not r.held:
        r.note += " | " + " / ".join(last_lines(o, 1) for o in outs)
    return r


def _killed_then_rerun(r: Result, e: Env, base: str, families: str, trigger) -> Result:
    p = e.start(families)
    if not wait_for(lambda: trigger(remote_stats(base)), timeout=300):
        p.kill()
        r.note = "the kill point was never reached"
        return r
    os.kill(p.pid, signal.SIGKILL)
    p.communicate()
    sent1, paid1 = stats(base)
    stored1 = e.stored_keys()
    remote_reset(base)
    code, secs, out = e.run(families)
    sent2, paid2 = stats(base)
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
        r.note += " | " + last_lines(out)
    return r


def case_sigkill_inference(base: str, tmp: Path, n: int) -> Result:
    reset(base)
    e = Env(tmp, base, n)
    return _killed_then_rerun(
        Result("SIGKILL mid-inference (rerun)"),
        e,
        base,
        "deterministic",
        lambda s: s["by_status"].get("200", 0) >= n // 3,
    )


def case_sigkill_judge(base: str, tmp: Path, n: int) -> Result:
    reset(base)
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
    reset(base, fault_probabilities={"slow": 1.0}, slow_s=3600.0)
    e = Env(tmp, base, n)
    code, secs, out = e.run()
    r.codes, r.t_err = [code], secs
    r.sent, r.paid = stats(base)
    r.needed = n
    named = f"model endpoint {base} did not answer" in out
    r.half_written = e.integrity()
    r.held = code == 3 and named and secs <= 150 and r.half_written == "no"
    r.note = "names the endpoint and the wait" if named else last_lines(out)
    reset(base)
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
    reset(base)
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
    r.sent, r.paid = stats(base)
    r.needed = n
    named = endpoint in out and "did not answer within" in out
    r.held = code == 3 and named and secs <= 150
    r.note = "names the S3 endpoint and the wait" if named else last_lines(out)
    return r


def case_s3_killed(base: str, tmp: Path, n: int) -> Result:
    from eval_pipeline_tests.support.servers.seaweed import SeaweedS3

    r = Result("S3 killed mid-write, restarted (rerun)")
    reset(base)
    e = Env(tmp, base, n)
    s3 = SeaweedS3(workdir=tmp / "seaweed").start()
    try:
        s3env = {
            **s3.env(),
            "EVAL_WAREHOUSE_URL": f"s3://{s3.bucket}/wh",
            "EVAL_S3_ENDPOINT_URL": s3.endpoint_url,
        }
        p = e.start(**s3env)
        if not wait_for(lambda: remote_stats(base)["by_status"].get("200", 0) >= n // 2, timeout=300):
            p.kill()
            r.note = "inference never started"
            return r
        t_kill = time.monotonic()
        os.killpg(s3.proc.pid, signal.SIGKILL)  # SeaweedFS dies while the run writes
        out, _ = p.communicate(timeout=600)
        r.t_err = time.monotonic() - t_kill
        code1 = p.returncode
        sent1, paid1 = stats(base)
        stored1 = e.stored_keys()
        s3.proc = None
        s3.start()  # same data folder and ports
        remote_reset(base)
        code2, secs, out2 = e.run(**s3env)
        sent2, paid2 = stats(base)
        r.codes = [code1, code2]
        r.sent, r.paid = sent1 + sent2, paid1 + paid2
        r.needed = n
        r.lost_in_flight = max(0, paid1 - len(stored1))
        r.paid_twice = max(0, paid2 - (r.needed - len(stored1)))
        named = s3.endpoint_url in out
        r.half_written = _s3_integrity(s3, e)
        r.held = code1 == 3 and named and code2 == 0 and r.paid_twice == 0 and r.half_written == "no"
        r.note = f"first run: {last_lines(out, 1)}" if not named else "first run names the S3 endpoint"
        if code2 != 0:
            r.note += " | rerun: " + last_lines(out2)
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
    reset(base, answer_key={i: answer for i in e.inputs}, model_accuracy={CANDIDATE: 1.0})
    edit_yaml(
        e.data / "suites" / "mini.yaml",
        lambda d: d["eval_sets"][0].update(checks=[{"type": "regex", "pattern": "(a+)+$"}]),
    )
    code, secs, out = e.run(timeout=300)
    r.codes, r.t_err = [code], secs
    r.sent, r.paid = stats(base)
    r.needed = n
    r.half_written = e.integrity()
    r.held = code in (0, 1) and secs <= 150 and r.half_written == "no"
    r.note = f"finished in {secs:.0f} s on {n} answers {answer!r} with (a+)+$" if r.held else last_lines(out)
    reset(base)
    return r


def case_disk_full(base: str, tmp: Path, n: int) -> Result:
    r = Result("disk full (tmpfs warehouse)")
    reset(base)
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
        sent1, paid1 = stats(base)
        filler.unlink()
        remote_reset(base)
        code2, _, out2 = e.run()
        sent2, paid2 = stats(base)
        r.codes = [code1, code2]
        r.sent, r.paid = sent1 + sent2, paid1 + paid2
        r.needed = n
        r.paid_twice = max(0, paid2 - (r.needed - len(stored1)))
        named = "No space left on device" in out and str(e.wh) in out
        r.half_written = e.integrity()
        r.held = code1 == 3 and named and code2 == 0 and r.paid_twice == 0 and r.half_written == "no"
        r.note = "names ENOSPC and the warehouse path" if named else last_lines(out)
        if code2 != 0:
            r.note += " | rerun: " + last_lines(out2)
    finally:
        subprocess.run(["umount", "-l", str(e.wh)], capture_output=True)
    return r
