"""The generated configuration reference covers every key of the config models; the README stays short."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from eval_pipeline.project import reference

REPO = Path(__file__).resolve().parents[3]


def test_every_key_of_every_config_model_is_in_the_reference():
    md = reference.reference_markdown()
    missing = []
    for title, _, cls in reference._sections():
        assert f"## {title}\n" in md
        keys = (
            [f.name for f in dataclasses.fields(cls)]
            if dataclasses.is_dataclass(cls)
            else [f.alias or n for n, f in cls.model_fields.items()]
        )
        missing += [f"{cls.__name__}.{k}" for k in keys if f"| `{k}` |" not in md]
    assert not missing, missing
    assert "| `source` | string | **required** | Golden set path, relative to the data folder. |" in md
    assert "| `blocking` | boolean | `False` | true: a failure fails the run" in md


def test_hand_written_notes_name_real_keys():
    models = {k.__name__: k for _, _, cls in reference._sections() for k in cls.__mro__}
    stale = []
    for key in reference.NOTES:
        cls_name, field = key.split(".")
        cls = models.get(cls_name)
        names = (
            {f.name for f in dataclasses.fields(cls)}
            if cls and dataclasses.is_dataclass(cls)
            else set(getattr(cls, "model_fields", {}))
        )
        if field not in names:
            stale.append(key)
    assert not stale, f"NOTES for keys the models no longer have: {stale}"


def test_readme_is_short_and_the_docs_page_has_the_marker():
    assert len((REPO / "README.md").read_bytes()) <= 12_000
    assert reference.MARKER in (REPO / "docs" / "reference.md").read_text()
