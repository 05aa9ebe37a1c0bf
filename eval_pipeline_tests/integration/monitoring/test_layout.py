"""The monitoring package is split by step: no catch-all ``online`` module, config at the root of the imports."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[3] / "eval_pipeline" / "monitoring"


def _relative_imports(name: str) -> set[str]:
    tree = ast.parse((PKG / f"{name}.py").read_text())
    return {
        n.module.split(".")[0]
        for n in ast.walk(tree)
        if isinstance(n, ast.ImportFrom) and n.level == 1 and n.module
    }


def test_no_online_module_left():
    assert not (PKG / "online.py").exists()
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("eval_pipeline.monitoring.online")


def test_settings_import_no_step_module_and_the_config_models_live_in_the_config_package():
    """monitoring/settings.py (table names, environment, built invariants) imports no monitoring step; the
    models of data/monitoring.yaml are in the config package (project/monitoring.py), which imports no stage."""
    tree = ast.parse((PKG / "settings.py").read_text())
    mods = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert not {m for m in mods if m.startswith("eval_pipeline.monitoring")} and not _relative_imports(
        "settings"
    )
    assert "eval_pipeline.project.monitoring" in mods


@pytest.mark.parametrize("name", ["settings", "day", "scoring", "feedback", "drift", "shadow"])
def test_each_step_imports_first_in_a_fresh_interpreter(name):
    """An import cycle shows only when its module is imported first: one fresh interpreter per step."""
    out = subprocess.run(
        [sys.executable, "-c", f"import eval_pipeline.monitoring.{name}"],
        capture_output=True,
        text=True,
        cwd=PKG.parents[1],
    )
    assert out.returncode == 0, out.stderr
