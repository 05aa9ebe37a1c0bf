"""The layout rules of ARCHITECTURE.md, checked: the asset graph is the data flow, plain modules
never import Dagster, modules stay small, storage keys live in one module."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[2] / "eval_pipeline"

# (asset, group) -> what it reads. The data flow of ARCHITECTURE.md; a change here is a change of the graph.
EXPECTED_ASSETS = {
    "golden_samples": ("ingestion", set()),
    "model_responses": ("inference", {"golden_samples"}),
    "deterministic_scores": ("evaluators", {"model_responses"}),
    "similarity_scores": ("evaluators", {"model_responses"}),
    "judge_scores": ("evaluators", {"model_responses"}),
    "judge_calibration": ("calibration", set()),
    "similarity_calibration": ("calibration", set()),
    "eval_run": (
        "scoring",
        {"deterministic_scores", "similarity_scores", "judge_scores", "judge_calibration"},
    ),
    "regression_report": (
        "history",
        {"deterministic_scores", "similarity_scores", "judge_scores", "eval_run"},
    ),
    "release_approval": ("scoring", {"eval_run", "regression_report"}),
    "eval_history": ("history", {"eval_run"}),
    "review_queue": ("noise", {"judge_scores", "similarity_scores"}),
    "aa_noise_floor": ("noise", {"golden_samples"}),
    "traffic_sample": ("monitoring", set()),
    "online_scores": ("monitoring", {"traffic_sample"}),
    "feedback_metrics": ("monitoring", {"online_scores", "traffic_sample"}),
    "traffic_drift": ("monitoring", {"online_scores", "traffic_sample"}),
    "shadow_comparison": ("monitoring", {"traffic_sample"}),
    "traffic_hourly": ("monitoring", set()),
    "canary_analysis": ("monitoring", {"traffic_hourly"}),
}
EXPECTED_CHECKS = {
    ("aa_noise_floor", "thresholds_clear_noise_floor"),
    ("canary_analysis", "canary_not_rolled_back"),
    ("eval_history", "quality_alerts"),
    ("eval_run", "quality_gate"),
    ("feedback_metrics", "feedback_thresholds"),
    ("regression_report", "no_significant_regression"),
    ("shadow_comparison", "shadow_not_worse"),
    ("traffic_drift", "no_feedback_divergence"),
    ("traffic_drift", "no_significant_drift"),
}
EXPECTED_JOBS = {
    "nightly_eval_job",
    "weekly_judge_job",
    "rescore_job",
    "calibration_job",
    "history_job",
    "aa_noise_job",
    "monitoring_daily_job",
    "canary_hourly_job",
    "response_store_compaction_job",
}
EXPECTED_SCHEDULES = {
    "nightly_eval_schedule",
    "weekly_judge_schedule",
    "weekly_calibration_schedule",
    "history_refresh_schedule",
    "aa_noise_schedule",
    "monitoring_daily_schedule",
    "canary_hourly_schedule",
}
EXPECTED_SENSORS = {"config_change_sensor", "eval_failure_sensor"}


def test_asset_graph_is_the_data_flow():
    from eval_pipeline.definitions import defs

    graph = defs.resolve_asset_graph()
    found = {}
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        found[key.to_user_string()] = (node.group_name, {p.to_user_string() for p in node.parent_keys})
    assert found == EXPECTED_ASSETS
    checks = {(c.asset_key.to_user_string(), c.name) for c in graph.asset_check_keys}
    assert checks == EXPECTED_CHECKS
    assert {j.name for j in defs.jobs} == EXPECTED_JOBS
    assert {s.name for s in defs.schedules} == EXPECTED_SCHEDULES
    assert {s.name for s in defs.sensors} == EXPECTED_SENSORS


def _modules(root: Path):
    for path in sorted(root.rglob("*.py")):
        yield path, ast.parse(path.read_text(), filename=str(path))


def _imports(tree: ast.AST) -> set[str]:
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
    return out


# Entry points that drive Dagster (they run materializations); every other module outside defs/ is plain.
ENTRY_POINTS = {"cli.py", "definitions.py"}


def _is_layer(path: Path) -> bool:
    rel = path.relative_to(PKG)
    return rel.parts[0] in {"defs", "demo"} or str(rel) in ENTRY_POINTS


def test_plain_modules_never_import_dagster_or_the_dagster_layer():
    offenders = []
    for path, tree in _modules(PKG):
        if _is_layer(path):
            continue
        for mod in _imports(tree):
            if (
                mod == "dagster"
                or mod.startswith("dagster.")
                or mod.startswith("eval_pipeline.defs")
                or mod.startswith("eval_pipeline.demo")
            ):
                offenders.append(f"{path.relative_to(PKG)} imports {mod}")
    assert not offenders, offenders


def test_serving_path_never_imports_the_demo_or_the_tests():
    offenders = []
    for path, tree in _modules(PKG):
        rel = path.relative_to(PKG)
        if rel.parts[0] == "demo" or str(rel) == "cli.py":
            continue
        for mod in _imports(tree):
            if mod.startswith("eval_pipeline.demo") or mod.startswith("eval_pipeline_tests"):
                offenders.append(f"{rel} imports {mod}")
    assert not offenders, offenders


CONFIG_PACKAGE = "project"  # the typed config: every YAML file's models, loaders and JSON Schemas' source


def test_config_package_is_a_leaf():
    """eval_pipeline/project/ imports nothing else of eval_pipeline (no stage, no storage, no defs), not even
    inside a function: every stage may import the config, and the config never depends on a stage."""
    offenders = []
    for path, tree in _modules(PKG / CONFIG_PACKAGE):
        rel = path.relative_to(PKG)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level > 0:
                offenders.append(f"{rel}: relative import (write eval_pipeline.{CONFIG_PACKAGE}....)")
        for mod in _imports(tree):
            inside = mod == f"eval_pipeline.{CONFIG_PACKAGE}" or mod.startswith(
                f"eval_pipeline.{CONFIG_PACKAGE}."
            )
            if (
                mod == "eval_pipeline"
                or mod.startswith("eval_pipeline.")
                or mod.startswith("eval_pipeline_tests")
            ) and not inside:
                offenders.append(f"{rel} imports {mod}")
    assert not offenders, offenders


MAX_LINES = 450


@pytest.mark.parametrize("root", [PKG, PKG.parent / "eval_pipeline_tests"], ids=["package", "tests"])
def test_no_module_is_over_450_lines(root):
    big = [
        f"{path.relative_to(root)}: {n} lines"
        for path in sorted(root.rglob("*.py"))
        if (n := path.read_text().count("\n")) > MAX_LINES
    ]
    assert not big, big


def test_every_module_has_a_docstring():
    missing = [
        str(p.relative_to(PKG))
        for p, tree in _modules(PKG)
        if p.name != "__init__.py" and not ast.get_docstring(tree)
    ]
    assert not missing, missing


def test_stage_folders_exist_with_their_dagster_mirror():
    for stage in (
        "project",
        "ingestion",
        "inference",
        "evaluators",
        "scoring",
        "regression",
        "release",
        "history",
        "noise",
        "monitoring",
        "storage",
    ):
        init = PKG / stage / "__init__.py"
        assert init.exists(), stage
        assert ast.get_docstring(ast.parse(init.read_text())), (
            f"{stage}/__init__.py needs a docstring saying what flows in and out"
        )
    for stage in (
        "ingestion",
        "inference",
        "evaluators",
        "scoring",
        "regression",
        "release",
        "history",
        "noise",
        "monitoring",
    ):
        assert (PKG / "defs" / stage).is_dir(), stage
    roots = sorted(p.name for p in PKG.glob("*.py"))
    assert roots == ["__init__.py", "cli.py", "definitions.py"], roots


KEY_LITERAL = re.compile(
    r"""["'](?:runs|releases|model_versions|reports/regression|reports/history|calibration)/"""
)


def test_storage_keys_are_spelled_out_only_in_storage_keys():
    offenders = []
    for path in sorted(PKG.rglob("*.py")):
        if path.relative_to(PKG).as_posix() == "storage/keys.py":
            continue
        for i, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("#", 1)[0]
            if KEY_LITERAL.search(code) or re.search(r"""f["'](?:runs|releases|model_versions)/""", code):
                offenders.append(f"{path.relative_to(PKG)}:{i}: {line.strip()}")
    assert not offenders, offenders


@pytest.mark.parametrize("name", ["dg"])
def test_dg_project_config(name):
    import tomllib

    cfg = tomllib.loads((PKG.parent / "pyproject.toml").read_text())
    assert cfg["tool"]["dg"]["project"]["root_module"] == "eval_pipeline"
    assert "load_from_defs_folder" in (PKG / "definitions.py").read_text()


# Which Dagster module defines each stage asset: the defs/ folder mirrors the stage that computes it.
ASSET_HOME = {
    "eval_run": "defs/scoring/assets.py",
    "regression_report": "defs/regression/assets.py",
    "release_approval": "defs/release/assets.py",
    "eval_history": "defs/history/assets.py",
}


def test_stage_assets_live_in_their_stage_mirror():
    found = {}
    for path, tree in _modules(PKG / "defs"):
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and node.name in ASSET_HOME:
                found[node.name] = path.relative_to(PKG).as_posix()
    assert found == ASSET_HOME


# The stages in flow order: a stage never imports a later stage of the release path. One known exception:
# regression/compare.py words its markdown table with release/verdict.py (report_status, row_label), the one
# wording of every verdict; the decisions themselves (release/decision.py) are never imported before release.
RELEASE_PATH_LATER = {
    "scoring": ("eval_pipeline.regression", "eval_pipeline.release"),
    "regression": ("eval_pipeline.release.decision", "eval_pipeline.release.ci_report"),
    "evaluators": ("eval_pipeline.scoring", "eval_pipeline.regression", "eval_pipeline.release"),
}


def test_release_path_stages_never_import_a_later_stage():
    offenders = []
    for stage, later in RELEASE_PATH_LATER.items():
        for path, tree in _modules(PKG / stage):
            for mod in _imports(tree):
                if mod.startswith(later):
                    offenders.append(f"{path.relative_to(PKG)} imports {mod}")
    assert not offenders, offenders


def test_release_decides_from_stored_artifacts_only():
    """release/ reads the run artifact and the report dict: it imports no stage module but its own
    and the gate's row selection (regression.gating)."""
    offenders = []
    for path, tree in _modules(PKG / "release"):
        for mod in _imports(tree):
            if mod.startswith("eval_pipeline.") and not mod.startswith(
                ("eval_pipeline.release", "eval_pipeline.regression.gating")
            ):
                offenders.append(f"{path.relative_to(PKG)} imports {mod}")
    assert not offenders, offenders


# The folders a partition passes through from golden set to release decision, in flow order
# (ARCHITECTURE.md). A stage imports only earlier stages and the shared infrastructure.
FLOW = ["project", "ingestion", "inference", "evaluators", "scoring", "regression", "release"]
SHARED = (
    "eval_pipeline.storage",
    "eval_pipeline.history.sql",
    "eval_pipeline.history.sources",
    "eval_pipeline.history.runs",
)
# Named exceptions, each with its reason; a new backward or sideways import fails until it is listed here.
ALLOWED_BACKWARD = {
    # the regression report's text uses the verdict words the release decision uses
    ("regression/compare.py", "eval_pipeline.release.verdict"),
    # ... and so do the regression_report asset's summary and its check's fields, which lead with the verdict
    ("regression/partition_report.py", "eval_pipeline.release.verdict"),
}


def _imported_module(module: str, name: str) -> str:
    """``module.name`` when that is a module of the package (``from x import submodule``), else ``module``."""
    sub = PKG.parent.joinpath(*f"{module}.{name}".split("."))
    return f"{module}.{name}" if sub.with_suffix(".py").exists() or sub.is_dir() else module


def _stage_imports():
    for stage in FLOW:
        for path, tree in _modules(PKG / stage):
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    mods = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    mods = [_imported_module(node.module, a.name) for a in node.names]
                else:
                    continue
                for mod in mods:
                    if mod.startswith("eval_pipeline."):
                        yield stage, path.relative_to(PKG).as_posix(), mod


def test_stages_import_only_earlier_stages():
    offenders = []
    for stage, rel, mod in _stage_imports():
        target = mod.split(".")[1]
        if (
            target == stage
            or mod.startswith(SHARED)
            or (target in FLOW and FLOW.index(target) < FLOW.index(stage))
        ):
            continue
        if any(rel == r and mod.startswith(m) for r, m in ALLOWED_BACKWARD):
            continue
        offenders.append(f"{rel} ({FLOW.index(stage) + 1}. {stage}) imports {mod}")
    assert not offenders, sorted(set(offenders))


def test_architecture_lists_the_flow_in_order():
    text = (PKG.parent / "ARCHITECTURE.md").read_text()
    rows = re.findall(r"^\| (\d) \| `(\w+)/` \|", text, flags=re.M)
    assert [name for _, name in rows] == FLOW
    assert [int(n) for n, _ in rows] == list(range(1, len(FLOW) + 1))


def test_shared_infrastructure_imports_only_config():
    offenders = [
        f"{path.relative_to(PKG)} imports {mod}"
        for path, tree in _modules(PKG / "storage")
        for mod in _imports(tree)
        if mod.startswith("eval_pipeline.")
        and not mod.startswith(("eval_pipeline.storage", "eval_pipeline.project"))
    ]
    assert not offenders, offenders


MAX_BODY_LINES = 40  # plan and row assembly belong in the stages (issue 23 item 4)


def _asset_bodies():
    for _path, tree in _modules(PKG / "defs"):
        for node in ast.walk(tree):
            if not isinstance(node, ast.FunctionDef) or not node.decorator_list:
                continue
            names = [ast.unparse(d.func if isinstance(d, ast.Call) else d) for d in node.decorator_list]
            if not any(re.search(r"asset|check", n) for n in names):
                continue
            body = node.body[1:] if ast.get_docstring(node) else node.body
            yield node.name, (node.end_lineno - body[0].lineno + 1) if body else 0


def test_asset_bodies_are_short():
    long = {name: n for name, n in _asset_bodies() if n > MAX_BODY_LINES}
    assert not long, f"asset/check bodies over {MAX_BODY_LINES} lines: {long}"


def test_asset_and_check_descriptions_are_one_sentence():
    from eval_pipeline.definitions import defs

    graph = defs.resolve_asset_graph()
    texts = {k.to_user_string(): graph.get(k).description for k in graph.get_all_asset_keys()}
    texts |= {c.name: graph.get_check_spec(c).description for c in graph.asset_check_keys}
    bad = {}
    for name, text in texts.items():
        text = (text or "").strip()
        sentences = re.split(r"(?<=[.!?])\s+(?=[A-Z(])", text)
        if not text or len(sentences) > 1 or len(text) > 300:
            bad[name] = text
    assert not bad, bad
