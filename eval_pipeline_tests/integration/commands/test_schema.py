"""The JSON Schemas of the user's YAML files: shipped up to date, named by every shipped YAML file, and
agreeing with the loaders on what is valid."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from eval_pipeline.cli import main
from eval_pipeline.commands import schema
from eval_pipeline.commands.init import SCAFFOLD

REPO = Path(__file__).resolve().parents[3]
KIND_OF = {"suites": "suite", "prompts": "prompt", "models.yaml": "models", "monitoring.yaml": "monitoring"}


def _shipped_yaml() -> list[tuple[Path, Path, str]]:
    """(file, the root its data/ folder is in, schema name) of every YAML file the repo ships for users."""
    out = []
    for root in (REPO, SCAFFOLD):
        for p in sorted((root / "data").rglob("*.y*ml")):
            part = p.relative_to(root / "data").parts[0]
            out.append((p, root, KIND_OF[part]))
    return out


def test_shipped_schemas_are_the_models_schemas():
    """`eval-pipeline schema --out schemas` was run after the last model change (else: run it)."""
    for name in schema.SCHEMAS:
        shipped = (REPO / schema.SCHEMA_DIR / schema.file_name(name)).read_text(encoding="utf-8")
        assert shipped == schema.schema_text(name), (
            f"schemas/{name}.schema.json is stale: run eval-pipeline schema --out schemas"
        )
    assert sorted(p.name for p in (REPO / schema.SCHEMA_DIR).glob("*.json")) == sorted(
        schema.file_name(n) for n in schema.SCHEMAS
    )


@pytest.mark.parametrize("path, root, name", _shipped_yaml(), ids=lambda v: getattr(v, "name", v))
def test_every_shipped_yaml_names_its_schema_and_validates_against_it(path, root, name):
    first = path.read_text(encoding="utf-8").splitlines()[0]
    if name == "prompt":  # hashed byte for byte into the model version key: no line added (editor setting)
        assert "$schema" not in first
    else:
        assert first == schema.schema_line(path, name, root)
        target = (path.parent / first.split("$schema=", 1)[1]).resolve()
        if root == REPO:  # the scaffold's schemas are written by `init` next to its data/
            assert target == (REPO / schema.SCHEMA_DIR / schema.file_name(name)).resolve()
    jsonschema.Draft202012Validator(schema.json_schema(name)).validate(yaml.safe_load(path.read_text()))


def test_schema_and_loader_agree_on_a_misspelt_key_and_a_bad_check():
    validator = jsonschema.Draft202012Validator(schema.json_schema("suite"))
    suite = yaml.safe_load((REPO / "data" / "suites" / "customer_support.yaml").read_text())
    assert validator.is_valid(suite)
    suite["eval_sets"][0]["treshold"] = []
    assert not validator.is_valid(suite)
    del suite["eval_sets"][0]["treshold"]
    suite["eval_sets"][0]["checks"] = [{"type": "regex", "patern": "x"}]  # misspelt argument
    assert not validator.is_valid(suite)
    suite["eval_sets"][0]["checks"] = [{"type": "regex", "pattern": "x", "must_match": "yes"}]
    assert not validator.is_valid(suite)
    suite["eval_sets"][0]["checks"] = [{"type": "regex", "pattern": "x", "must_match": False}]
    assert validator.is_valid(suite)
    suite["regression"] = {"alpha": 0.05, "gate_segmnts": True}
    assert not validator.is_valid(suite)


def test_schema_command_prints_one_and_writes_all(tmp_path, capsys):
    assert main(["schema", "suite"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["$schema"] == schema.DIALECT and "eval_sets" in printed["properties"]
    assert main(["schema", "--out", str(tmp_path / "s")]) == 0
    written = sorted(p.name for p in (tmp_path / "s").iterdir())
    assert written == sorted(schema.file_name(n) for n in schema.SCHEMAS)
    assert (tmp_path / "s" / "models.schema.json").read_text() == schema.schema_text("models")


def test_init_writes_the_schemas_its_yaml_names(tmp_path):
    from eval_pipeline.commands.init import scaffold

    scaffold(tmp_path / "p")
    for path in [
        *(tmp_path / "p" / "data" / "suites").glob("*.yaml"),
        tmp_path / "p" / "data" / "models.yaml",
    ]:
        ref = path.read_text().splitlines()[0].split("$schema=", 1)[1]
        assert (path.parent / ref).resolve().is_file(), path
