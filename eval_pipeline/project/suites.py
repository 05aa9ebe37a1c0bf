"""Suites: eval sets, their golden-set field mapping, sampling and thresholds, loaded from YAML.

In: a suite file (``data/suites/<name>.yaml``) and the data folder. A suite lists eval sets: where
the golden set is, which evaluator family scores it, how to sample it, which checks / rubric /
thresholds apply. Out: a validated :class:`Suite` of :class:`EvalSet` (``load_suite``, or every
suite by name with ``load_suites``); every error is a :class:`ConfigError` naming the file and key
path, the evaluator sections (``checks:``, ``judge:``) and ``regression:`` validated by their owners.

Plain Python: no Dagster here.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, PrivateAttr, field_validator, model_validator

from eval_pipeline.project.errors import ConfigError, check_slug, load_mapping, resolve_data_path, strict
from eval_pipeline.project.gate_rows import gated_rows, metric_directions
from eval_pipeline.project.hashing import sha256_obj
from eval_pipeline.project.paths import data_dir
from eval_pipeline.project.tools import AgentSettings, SimulateSettings, ToolSpec

__all__ = [
    "EvalSet",
    "FieldMapping",
    "SampleSpec",
    "SimilaritySettings",
    "Suite",
    "Threshold",
    "gated_rows",
    "load_suite",
    "metric_directions",
    "load_suites",
]


class FieldMapping(BaseModel):
    """Maps the golden set's column names onto ours (e.g. ``input: question``). Dotted paths reach into objects."""

    model_config = strict()
    id: str = "id"
    input: str = "input"
    expected: str = "expected"
    metadata: str = "metadata"
    category: str = "metadata.category"


class SampleSpec(BaseModel):
    """Deterministic sampling: the N records with the smallest hash of (seed, id)."""

    model_config = strict()
    n: int = Field(gt=0)
    seed: int = 0


class Threshold(BaseModel):
    """A gate on an eval-set metric. ``blocking`` makes a failure stop downstream assets (ERROR severity)."""

    model_config = strict()
    metric: str
    min: float | None = None
    max: float | None = None
    blocking: bool = False
    estimator: Literal["raw", "ppi"] = "raw"  # ppi: corrected by review labels (scoring/ppi_metrics.py)

    @model_validator(mode="after")
    def _bounds(self) -> Threshold:
        if self.min is None and self.max is None:
            raise ValueError("give at least one of 'min' or 'max'")
        rate_like = self.metric.endswith("rate") or self.metric in {
            "accuracy",
            "macro_f1",
            "mean_cosine",
            "win_rate",
            "pass_at_k",
            "pass_hat_k",
        }
        for name in ("min", "max"):
            val = getattr(self, name)
            if val is not None and rate_like and not 0.0 <= val <= 1.0:
                raise ValueError(
                    f"{name}={val} is out of range: {self.metric} is a fraction between 0 and 1 (write 0.8, not 80)"
                )
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min={self.min} is greater than max={self.max}")
        return self


class SimilaritySettings(BaseModel):
    model_config = strict()
    threshold: float = Field(0.85, ge=-1.0, le=1.0)
    model_path: str | None = (
        None  # any sentence-transformers model folder; default: the packaged all-MiniLM-L6-v2
    )
    reference_field: str | None = None  # JSON path into `expected` when it is an object
    response_field: str | None = None  # JSON path into the parsed response


class EvalSet(BaseModel):
    """One golden set scored by one evaluator family."""

    model_config = strict()
    name: str
    family: Literal["deterministic", "similarity", "judge"]
    task: str = Field(description="Key of the prompt template in each model version's `prompts`.")
    source: str = Field(description="Golden set path, relative to the data folder.")
    format: Literal["jsonl", "csv", "parquet"] | None = None
    description: str = ""
    fields: FieldMapping = FieldMapping()
    require_expected: bool | None = None  # default: True for deterministic/similarity
    sample: SampleSpec | None = None
    repeats: int = Field(1, ge=1, le=20)
    max_record_bytes: int = Field(100_000, gt=0)
    prompt_vars: dict[str, Any] = Field(default_factory=dict)
    checks: list[dict[str, Any]] = Field(default_factory=list)
    similarity: SimilaritySettings | None = None
    judge: dict[str, Any] | None = None
    thresholds: list[Threshold] = Field(default_factory=list)
    tools: list[ToolSpec] = Field(default_factory=list)  # offered to the model (plus the row's input.tools)
    agent: AgentSettings | None = None  # run each sample as a tool loop (else one call)
    simulate: SimulateSettings | None = None  # a simulated user carries the conversation on

    _source_path: Path | None = PrivateAttr(default=None)
    _base: Path | None = PrivateAttr(default=None)  # the data folder: relative paths in checks resolve here

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return check_slug(v, "eval set name")

    @model_validator(mode="after")
    def _family_settings(self) -> EvalSet:
        if self.family == "deterministic" and not self.checks:
            raise ValueError("a deterministic eval set needs at least one entry under 'checks'")
        if self.family == "judge" and not self.judge:
            raise ValueError("a judge eval set needs a 'judge' section (model, dimensions)")
        if self.family == "similarity" and self.similarity is None:
            self.similarity = SimilaritySettings()
        return self

    @property
    def source_path(self) -> Path:
        assert self._source_path is not None, "suite was not loaded through load_suite()"
        return self._source_path

    @property
    def needs_expected(self) -> bool:
        if self.require_expected is not None:
            return self.require_expected
        return self.family in ("deterministic", "similarity")

    @property
    def file_format(self) -> str:
        if self.format:
            return self.format
        suffix = self.source_path.suffix.lower().lstrip(".")
        return {"jsonl": "jsonl", "ndjson": "jsonl", "csv": "csv", "parquet": "parquet"}.get(suffix, "jsonl")

    def evaluator_hash(self) -> str:
        """Hash of everything that decides a score (checks, rubric, thresholds excluded)."""
        return sha256_obj(
            {
                "family": self.family,
                "checks": self.checks,
                "similarity": self.similarity.model_dump() if self.similarity else None,
                "judge": self.judge,
            }
        )[:12]


class Suite(BaseModel):
    model_config = strict()
    name: str
    description: str = ""
    owner: str = ""
    baseline_model_version: str | None = Field(
        None, description="Registry name of the production model version used as the baseline."
    )
    error_rate_ceiling: float = Field(0.05, ge=0.0, le=1.0)
    forbid_same_family_judge: bool = Field(
        False,
        description="A judge of the same model family as a model version under test is an error (else a warning).",
    )
    regression: dict[str, Any] = Field(
        default_factory=dict,
        description="Options of the regression report / release gate for this suite's rows (keys of "
        "eval_pipeline.history.regression_config.RegressionConfig: alpha, min_effect, gate_segments, gate_procedure, ...).",
    )
    eval_sets: list[EvalSet] = Field(min_length=1)

    _file: Path | None = PrivateAttr(default=None)

    def regression_config(self):
        """The suite's ``regression:`` section as a validated ``stats.RegressionConfig`` (defaults for missing keys)."""
        from eval_pipeline.history.regression_config import (
            RegressionConfig,
        )  # local: keeps config import light

        data = dict(self.regression)
        if "blocking_metrics" not in data:  # the gated family: what the blocking thresholds name
            data["blocking_metrics"] = {es.name: rows for es in self.eval_sets if (rows := gated_rows(es))}
        if "directions" not in data:  # which way is worse: from the thresholds and the judge dimensions
            data["directions"] = {es.name: d for es in self.eval_sets if (d := metric_directions(es))}
        return RegressionConfig.from_dict(data, where="regression")

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return check_slug(v, "suite name")

    @model_validator(mode="after")
    def _unique(self) -> Suite:
        seen: set[str] = set()
        for es in self.eval_sets:
            if es.name in seen:
                raise ValueError(f"eval set name {es.name!r} is used twice; names must be unique in a suite")
            seen.add(es.name)
        return self

    @property
    def file(self) -> Path:
        assert self._file is not None
        return self._file

    def eval_set(self, name: str) -> EvalSet:
        for es in self.eval_sets:
            if es.name == name:
                return es
        raise KeyError(f"suite {self.name!r} has no eval set {name!r}")


def _in_file(path: Path, validate: Callable[..., Any], *args: Any, **kw: Any) -> None:
    """Run an evaluator module's validator; its ValueError becomes a ConfigError of ``path``."""
    try:
        validate(*args, **kw)
    except ValueError as e:
        raise ConfigError(path, "", str(e).removeprefix(f"{path}: ")) from None


def _validate_family_specs(suite: Suite, path: Path, base: Path) -> None:
    """Let the evaluator modules validate their own sections, so errors carry the key path."""
    from eval_pipeline.evaluators import deterministic, judge  # local: keeps config import light

    for i, es in enumerate(suite.eval_sets):
        where = f"{path}: eval_sets[{i}]"
        if es.checks:
            _in_file(
                path, deterministic.validate_check_specs, es.checks, where=f"{where}.checks", base_dir=base
            )
        if es.judge:
            _in_file(path, judge.validate_judge_config, es.judge, where=f"{where}.judge")


def load_suite(path: str | Path, base: Path | None = None, validate_evaluators: bool = True) -> Suite:
    """Parse and validate one suite file. Raises ConfigError naming the file and key path."""
    base = (base or data_dir()).resolve()
    path = Path(path).resolve()
    suite = load_mapping(path, Suite, "a mapping with 'name' and 'eval_sets' at the top level")
    suite._file = path
    for i, es in enumerate(suite.eval_sets):
        es._source_path = resolve_data_path(es.source, base, path, f"eval_sets[{i}].source")
        es._base = base
    from eval_pipeline.history.regression_config import RegressionConfigError

    try:
        suite.regression_config()
    except RegressionConfigError as e:
        raise ConfigError(path, e.key, e.reason) from None
    if validate_evaluators:
        _validate_family_specs(suite, path, base)
    return suite


def load_suites(base: Path | None = None, validate_evaluators: bool = True) -> dict[str, Suite]:
    """All ``suites/*.yaml`` under the data folder, by name."""
    base = (base or data_dir()).resolve()
    suites: dict[str, Suite] = {}
    for p in sorted((base / "suites").glob("*.y*ml")):
        s = load_suite(p, base, validate_evaluators)
        if s.name in suites:
            raise ConfigError(p, "name", f"suite name {s.name!r} is also used by {suites[s.name].file}")
        suites[s.name] = s
    return suites
