"""Running a test server in another process, and controlling it from this one.

In: :class:`ServerConfig` fields (``ServerProcess(**fields)``; the CLI's flags), a running server's URL.
Out: the server as a subprocess (its URL read from the line it announces), its counters, reset and
configuration patched over ``/_admin``; the command line of every vendor's server module.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
from collections.abc import Callable
from typing import Any

from eval_pipeline_tests.support.servers.anthropic_server.config import FAULTS, ServerConfig
from eval_pipeline_tests.support.servers.anthropic_server.core import ScriptedServer

DESCRIPTION = (
    "Anthropic-compatible test server (``POST /v1/messages``) with latency, faults and scripted answers."
)


def remote_stats(base_url: str) -> dict[str, Any]:
    """Counters of a server running in another process."""
    import httpx

    return httpx.get(f"{base_url}/_admin/stats", timeout=10).json()


def remote_reset(base_url: str) -> None:
    """Zero the counters of a server running in another process."""
    import httpx

    httpx.post(f"{base_url}/_admin/reset", timeout=10).raise_for_status()


def remote_configure(base_url: str, **patch: Any) -> None:
    """Patch the configuration of a server running in another process (ServerConfig field names)."""
    import httpx

    r = httpx.post(f"{base_url}/_admin/config", json=patch, timeout=10)
    if r.status_code != 200:
        raise ValueError(f"remote_configure({patch}): {r.text}")


class ServerProcess:
    """Runs the server as a subprocess (``with ServerProcess(latency_s=0.25) as url: ...``);
    ``module`` names the server module (subclasses run the other vendors' servers)."""

    module = "eval_pipeline_tests.support.servers.anthropic_server"

    def __init__(self, **config: Any):
        self.config = config
        self.proc: Any = None
        self.base_url = ""

    def __enter__(self) -> ServerProcess:
        import subprocess

        args = [
            sys.executable,
            "-m",
            self.module,
            "--port",
            "0",
            "--config-json",
            json.dumps(self.config),
        ]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if "listening on" not in line:
            self.proc.kill()
            raise RuntimeError(f"test server failed to start: {line!r}")
        self.base_url = line.strip().rsplit(" ", 1)[-1]
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except Exception:
                self.proc.kill()


def parse_args(argv: list[str] | None) -> tuple[ServerConfig, int]:
    p = argparse.ArgumentParser(description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0 = ephemeral, printed on start)")
    p.add_argument("--api-key", default=None, help="expected x-api-key (default: test-key)")
    p.add_argument(
        "--latency", type=float, default=None, help="total latency in seconds (median for lognormal)"
    )
    p.add_argument("--latency-kind", choices=("fixed", "lognormal"), default=None)
    p.add_argument("--sigma", type=float, default=None, help="lognormal sigma")
    p.add_argument("--ttft-fraction", type=float, default=None)
    p.add_argument(
        "--fault", action="append", default=[], metavar="NAME=P", help=f"fault probability; NAME in {FAULTS}"
    )
    p.add_argument("--retry-after", type=float, default=None, help="retry-after seconds sent with 429")
    p.add_argument("--answer-key", default=None, help="JSON file: {user-message substring: expected answer}")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--config-json", default=None, help="ServerConfig fields as JSON (applied first)")
    a = p.parse_args(argv)
    cfg = ServerConfig(**json.loads(a.config_json)) if a.config_json else ServerConfig()
    for flag, attr in (
        ("api_key", "api_key"),
        ("latency", "latency_s"),
        ("latency_kind", "latency_kind"),
        ("sigma", "latency_sigma"),
        ("ttft_fraction", "ttft_fraction"),
        ("retry_after", "retry_after_s"),
        ("seed", "seed"),
    ):
        if getattr(a, flag) is not None:
            setattr(cfg, attr, getattr(a, flag))
    for item in a.fault:
        name, _, prob = item.partition("=")
        cfg.fault_probabilities[name] = float(prob)
    if a.answer_key:
        with open(a.answer_key, encoding="utf-8") as fh:
            cfg.answer_key.update(json.load(fh))
    cfg.validate()
    return cfg, a.port


def serve(server: ScriptedServer) -> None:
    """Serve until killed (uvloop when installed: a faster loop for the benchmark server)."""
    try:
        import uvloop

        runner: Callable[..., Any] = uvloop.run
    except ImportError:
        runner = asyncio.run
    with contextlib.suppress(KeyboardInterrupt):
        runner(server.serve_forever())
