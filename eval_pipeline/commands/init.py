"""``eval-pipeline init [DIR]``: a suite folder that ``validate`` and ``run`` pass right away.

In: a target folder (default ``.``; created; refused if it already holds a ``data/`` folder). Out: a copy
of ``scaffold/`` - ``data/models.yaml`` (two model versions, production and a candidate), a suite
``data/suites/my_suite.yaml`` (a deterministic routing eval set and a similarity FAQ eval set with
blocking thresholds), two golden sets in the row format (``id`` / ``input`` / ``expected`` /
``metadata.category``) and their prompts, the JSON Schemas their YAML names (``schemas/``) - and the next
commands to type. Plain Python.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from eval_pipeline.commands.schema import SCHEMA_DIR, write_schemas

SCAFFOLD = Path(__file__).parent / "scaffold"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "dir", nargs="?", default=".", help="folder to create the suite in (default: the current one)"
    )


def scaffold(target: Path) -> list[Path]:
    """Copy the scaffold into ``target``; returns the files written. FileExistsError if ``target/data`` exists."""
    if (target / "data").exists():
        raise FileExistsError(
            f"{target / 'data'} already exists: choose an empty folder (nothing was changed)"
        )
    target.mkdir(parents=True, exist_ok=True)
    shutil.copytree(SCAFFOLD / "data", target / "data")
    write_schemas(target / SCHEMA_DIR)  # the scaffold's YAML names them in its first line (editor completion)
    (target / ".gitignore").write_text("/warehouse/\n/.dagster_home/\n", encoding="utf-8")
    return sorted(p for d in ("data", SCHEMA_DIR) for p in (target / d).rglob("*") if p.is_file())


def run(args: argparse.Namespace) -> int:
    target = Path(args.dir)
    try:
        files = scaffold(target)
    except FileExistsError as e:
        print(f"eval-pipeline init: {e}", file=sys.stderr)
        return 2
    print(f"created a suite in {target.resolve()}:")
    for f in files:
        print(f"  {f.relative_to(target)}")
    cd = "" if str(args.dir) == "." else f"cd {args.dir} && "
    print(
        "\nnext (from that folder, it is found by its data/models.yaml):\n"
        f"  {cd}eval-pipeline validate\n"
        "  eval-pipeline serve-model &          # a SYNTHETIC model on 127.0.0.1:8765: no key, no network\n"
        "  export EVAL_PROVIDER=synthetic ANTHROPIC_BASE_URL=http://127.0.0.1:8765\n"
        "  eval-pipeline run --model-version my-bot-v1\n"
        "or with a key: export ANTHROPIC_API_KEY=sk-ant-... EVAL_PROVIDER=anthropic; eval-pipeline run"
    )
    return 0
