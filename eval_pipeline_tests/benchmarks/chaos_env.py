"""One chaos case's world: a tiny project, its own Dagster instance, warehouse and response store, and the
``eval-pipeline run`` subprocess against the Anthropic test server.

In: a scratch folder, the server's URL, the sample count (distinct inputs or not; with a judged eval set or not).
Out: :class:`Env` (start / run the CLI, the keys stored, whether a secret was logged, an integrity verdict over
the warehouse and instance), :class:`Result` (what a case measured) and the server's counters."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eval_pipeline.project.paths import PROJECT_ROOT
from eval_pipeline_tests.support.orchestration import edit_yaml, small_data
from eval_pipeline_tests.support.servers.anthropic_server import (
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


def stats(base_url: str) -> tuple[int, int]:
    s = remote_stats(base_url)
    return int(s["total"]), int(s["by_status"].get("200", 0))


def reset(base_url: str, **patch: Any) -> None:
    remote_configure(base_url, **{**BASE_CONFIG, **patch})
    remote_reset(base_url)


def wait_for(pred, timeout: float = 120.0, every: float = 0.05) -> bool:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if pred():
            return True
        time.sleep(every)
    return False


def last_lines(out: str, n: int = 2) -> str:
    lines = [ln for ln in out.splitlines() if ln.strip() and "Warning" not in ln]
    return " | ".join(lines[-n:])[:300]


# ----------------------------------------------------------------------------- cases
