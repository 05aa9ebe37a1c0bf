"""The project: every suite and the model registry under the data folder, loaded and cross-checked.

In: the data folder (``data/``: ``suites/*.yaml``, ``models.yaml``, the prompt files). Out: a
:class:`Project` (``load_project``) whose suites (:mod:`.suites`) and registry (:mod:`.registry`)
are validated and whose suites' ``baseline_model_version`` names a registered model version.
Errors are :class:`~.errors.ConfigError` naming the file and key path. The models live in their own
modules (:mod:`.suites`, :mod:`.eval_set_options`, :mod:`.registry`, :mod:`.errors`); import them
from there.

Plain Python, part of the config leaf: no stage and no Dagster here.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from eval_pipeline.project.errors import ConfigError
from eval_pipeline.project.hashing import sha256_obj
from eval_pipeline.project.paths import data_dir
from eval_pipeline.project.registry import ModelRegistry, load_registry
from eval_pipeline.project.suites import Suite, load_suites


class Project(BaseModel):
    """Everything configured under the data folder, loaded and cross-checked."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    base: Path
    suites: dict[str, Suite]
    registry: ModelRegistry

    @cached_property
    def files_hash(self) -> str:
        return sha256_obj(sorted(str(p) for p in self.base.rglob("*") if p.is_file()))


def load_project(base: Path | None = None, validate_evaluators: bool = True) -> Project:
    """Load every suite and the registry under ``base`` (default: the data folder) and cross-check them."""
    base = (base or data_dir()).resolve()
    suites = load_suites(base, validate_evaluators)
    registry = load_registry(base=base, suites=suites)
    for _name, s in suites.items():
        if s.baseline_model_version:
            try:
                registry.by_name(s.baseline_model_version)
            except KeyError as e:
                raise ConfigError(s.file, "baseline_model_version", str(e)) from None
    return Project(base=base, suites=suites, registry=registry)
