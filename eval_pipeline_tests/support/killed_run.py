"""A run killed mid-way: the resume tests' way of stopping a writer of the response store with SIGKILL.

In: a Python script (run as ``python -c`` from the repository, with it on the path, and its arguments), the
response store's folder, how many answers to wait for, how long and how often to look.
Out: the process killed (SIGKILL, no cleanup of any kind) and the number of answer lines its journals held then.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from eval_pipeline.project.paths import PROJECT_ROOT


def journal_lines(store_dir: Path) -> int:
    """Answer lines in the response store's journals (``responses-*.jsonl``) under ``store_dir``."""
    if not store_dir.exists():
        return 0
    return sum(p.read_text().count("\n") for p in store_dir.glob("responses-*.jsonl"))


def kill_when_stored(
    script: str, store_dir: Path, at_least: int, timeout_s: float, poll_s: float, *args: str
) -> int:
    """Start ``script``; SIGKILL it once its journals hold ``at_least`` answers (or after ``timeout_s``)."""
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", script, *args], env=env, cwd=PROJECT_ROOT)
    deadline, stored = time.time() + timeout_s, 0
    while time.time() < deadline and stored < at_least:
        time.sleep(poll_s)
        stored = journal_lines(store_dir)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return stored
