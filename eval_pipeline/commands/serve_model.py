"""``eval-pipeline serve-model``: a synthetic Anthropic-compatible model on 127.0.0.1, for trying a suite
with no API key and no network.

In: the answer key (``--answer-key`` golden-set files; default every golden set of the suites in the
data folder), the accuracy (``--accuracy 0.9`` for every model id, ``--accuracy MODEL=0.6`` for one),
the latency (``--latency`` seconds, ``--jitter`` lognormal sigma) and the port. Out: a server that runs
until interrupted (Ctrl-C or ``kill``), printing how to point runs at it:
``EVAL_PROVIDER=synthetic ANTHROPIC_BASE_URL=http://127.0.0.1:<port>``. Every answer it gives is
labelled ``synthetic`` by that provider (``NOT LIVE`` in every result). No Dagster here.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from eval_pipeline.mock_server.answers import SyntheticModel
    from eval_pipeline.mock_server.app import SyntheticServer

DEFAULT_PORT = 8765


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--answer-key",
        action="append",
        default=[],
        metavar="FILE",
        help="a golden set (JSONL/CSV/Parquet, rows id/input/expected) whose expected answers are the right "
        "ones; repeatable (default: every golden set of the suites in the data folder)",
    )
    p.add_argument(
        "--accuracy",
        action="append",
        default=[],
        metavar="[MODEL=]P",
        help="share of right answers: P for every model id (default 0.9), MODEL=P for one model id; repeatable",
    )
    p.add_argument("--latency", type=float, default=0.05, help="seconds per answer (median; default 0.05)")
    p.add_argument(
        "--jitter", type=float, default=0.0, help="lognormal sigma of the latency (default 0: fixed)"
    )
    p.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"port on 127.0.0.1 (default {DEFAULT_PORT})"
    )
    p.add_argument("--seed", type=int, default=0, help="which answers are wrong is deterministic in the seed")


def parse_accuracy(items: list[str]) -> dict[str, float]:
    """``["0.9", "my-model=0.6"]`` -> ``{"*": 0.9, "my-model": 0.6}``; ValueError naming a bad item."""
    out: dict[str, float] = {}
    for item in items:
        model, _, value = item.rpartition("=")
        try:
            p = float(value)
        except ValueError:
            raise ValueError(
                f"--accuracy {item!r}: give a fraction (0.9) or MODEL=fraction (my-model=0.6)"
            ) from None
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"--accuracy {item!r}: {p} is not between 0 and 1 (write 0.9, not 90)")
        out[model or "*"] = p
    return out


def _default_key_files() -> tuple[list[Path], list[Any]]:
    """Every golden set of the data folder's suites, with its field mapping."""
    from eval_pipeline.project.loader import load_project

    seen: dict[Path, object] = {}
    for suite in load_project().suites.values():
        for es in suite.eval_sets:
            seen.setdefault(es.source_path, es.fields)
    return list(seen), list(seen.values())


def build_model(args: argparse.Namespace) -> tuple[SyntheticModel, list[Path]]:
    from eval_pipeline.mock_server.answers import AnswerKey, SyntheticModel

    if args.answer_key:
        files = [Path(f) for f in args.answer_key]
        missing = [str(f) for f in files if not f.exists()]
        if missing:
            raise ValueError(f"--answer-key: no such file: {', '.join(missing)}")
        key = AnswerKey.from_files(files)
    else:
        files, mappings = _default_key_files()
        pairs = []
        for f, fields in zip(files, mappings):
            pairs.extend(AnswerKey.from_files([f], fields).pairs)
        key = AnswerKey(pairs)
    if not len(key):
        raise ValueError(
            "the answer key is empty: give --answer-key FILE (a golden set with id/input/expected rows)"
        )
    return SyntheticModel(key, parse_accuracy(args.accuracy), seed=args.seed), files


async def _serve(server: SyntheticServer, files: list[Path]) -> None:
    await server.start()
    acc = ", ".join(f"{m}: {p:g}" for m, p in server.model.accuracy.items())
    print(
        f"SYNTHETIC model server on {server.base_url} - answers come from an answer key, not from a model\n"
        f"  answer key: {len(server.model.key)} rows from {len(files)} file(s); accuracy ({acc}); "
        f"latency {server.latency_s:g} s\n"
        f"  point runs at it:  export EVAL_PROVIDER=synthetic ANTHROPIC_BASE_URL={server.base_url}\n"
        f"  every answer is labelled synthetic (NOT LIVE); stop with Ctrl-C",
        flush=True,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await server.stop()


def run(args: argparse.Namespace) -> int:
    from eval_pipeline.mock_server.app import SyntheticServer

    try:
        model, files = build_model(args)
        server = SyntheticServer(
            model, latency_s=args.latency, jitter=args.jitter, port=args.port, seed=args.seed
        )
    except (ValueError, LookupError) as e:
        print(f"eval-pipeline serve-model: {e}", file=sys.stderr)
        return 2
    try:
        asyncio.run(_serve(server, files))
    except OSError as e:  # the port is taken
        print(
            f"eval-pipeline serve-model: cannot listen on 127.0.0.1:{args.port}: {e}; use --port",
            file=sys.stderr,
        )
        return 2
    return 0
