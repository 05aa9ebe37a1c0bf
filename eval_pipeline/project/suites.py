"""Suites: eval sets, their golden-set field mapping, sampling and thresholds, loaded from YAML.

In: a suite file (``data/suites/<name>.yaml``) and the data folder. A suite lists eval sets: where
the golden set is, which evaluator family scores it, how to sample it, which checks / rubric /
thresholds apply. Out: a validated :class:`Suite` of :class:`EvalSet` (``load_suite``, or every
suite by name with ``load_suites``) whose sections are typed: ``checks`` (:mod:`.checks`),
``judge`` (:mod:`.judge`), ``regression`` (:mod:`.regression_config`); every error is a
:class:`ConfigError` naming the file and key path.

Plain Python, a leaf of the package tree: no stage and no Dagster here.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    Field,
    ModelWrapValidatorHandler,
    PrivateAttr,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.json_schema import SkipJsonSchema

from eval_pipeline.project.checks import AnyCheckSpec, CheckSpec, EvaluatorConfigError, parse_check_specs
from eval_pipeline.project.errors import (
    ConfigError,
    check_slug,
    load_mapping,
    resolve_data_path,
    section_error,
    strict,
)
from eval_pipeline.project.eval_set_options import FieldMapping, SampleSpec, SimilaritySettings, Threshold
from eval_pipeline.project.gate_rows import gated_rows, metric_directions
from eval_pipeline.project.hashing import sha256_obj
from eval_pipeline.project.judge import JudgeConfig
from eval_pipeline.project.paths import data_dir
from eval_pipeline.project.regression_config import RegressionConfig, RegressionConfigError
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
    checks: list[AnyCheckSpec | SkipJsonSchema[CheckSpec]] = Field(
        default_factory=list, description="deterministic checks, each {type: <check>, name?, <its arguments>}"
    )
    similarity: SimilaritySettings | None = None
    judge: JudgeConfig | None = None
    thresholds: list[Threshold] = Field(default_factory=list)
    tools: list[ToolSpec] = Field(default_factory=list)  # offered to the model (plus the row's input.tools)
    agent: AgentSettings | None = None  # run each sample as a tool loop (else one call)
    simulate: SimulateSettings | None = None  # a simulated user carries the conversation on

    _source_path: Path | None = PrivateAttr(default=None)
    _base: Path | None = PrivateAttr(default=None)  # the data folder: relative paths in checks resolve here
    _judge_raw: dict[str, Any] | None = PrivateAttr(default=None)  # the judge section as written (its hash)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return check_slug(v, "eval set name")

    @field_validator("checks", mode="before")
    @classmethod
    def _checks(cls, v: Any, info: ValidationInfo) -> Any:
        """Each check validated as its type's spec; errors keep the check's key path (``checks[2].pattern``)."""
        base = (info.context or {}).get("base")
        try:
            return parse_check_specs(v, "checks", base_dir=base)
        except EvaluatorConfigError as e:
            key, _, reason = str(e).partition(": ")
            raise section_error(key, reason) from None

    @model_validator(mode="wrap")
    @classmethod
    def _keep_judge_raw(cls, data: Any, handler: ModelWrapValidatorHandler[EvalSet]) -> EvalSet:
        es = handler(data)
        raw = data.get("judge") if isinstance(data, dict) else None
        if isinstance(raw, JudgeConfig):
            raw = raw.model_dump(exclude_unset=True)
        es._judge_raw = raw
        return es

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
    def judge_config(self) -> JudgeConfig:
        """The validated ``judge:`` section of a judge eval set (ValueError for an eval set without one)."""
        if self.judge is None:
            raise ValueError(f"eval set {self.name!r} has no 'judge' section")
        return self.judge

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
                "checks": [c.raw for c in self.checks],
                "similarity": self.similarity.model_dump() if self.similarity else None,
                "judge": self._judge_raw if self.judge is not None else None,
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
    regression: RegressionConfig = Field(
        default_factory=RegressionConfig,
        description="Options of the regression report / release gate for this suite's rows (alpha, min_effect, "
        "gate_segments, gate_procedure, ...).",
    )
    eval_sets: list[EvalSet] = Field(min_length=1)

    _file: Path | None = PrivateAttr(default=None)
    _regression_keys: frozenset[str] = PrivateAttr(default=frozenset())  # the keys the file sets

    @field_validator("regression", mode="before")
    @classmethod
    def _regression(cls, v: Any) -> Any:
        """The section validated by :meth:`RegressionConfig.from_dict` (its messages name ``regression.<key>``)."""
        if isinstance(v, RegressionConfig):
            return v
        if v is not None and not isinstance(v, dict):
            raise section_error("regression", f"expected a mapping of options, got {type(v).__name__}")
        try:
            return RegressionConfig.from_dict(v, where="regression")
        except RegressionConfigError as e:
            raise section_error(e.key, e.reason) from None

    @model_validator(mode="wrap")
    @classmethod
    def _keep_regression_keys(cls, data: Any, handler: ModelWrapValidatorHandler[Suite]) -> Suite:
        suite = handler(data)
        raw = data.get("regression") if isinstance(data, dict) else None
        suite._regression_keys = frozenset(raw) if isinstance(raw, dict) else frozenset()
        return suite

    def regression_config(self) -> RegressionConfig:
        """The suite's ``regression:`` options (validated at load) with the gated family and the metric
        directions derived from its eval sets when the file does not set them."""
        derived: dict[str, Any] = {}
        if (
            "blocking_metrics" not in self._regression_keys
        ):  # the gated family: what the blocking thresholds name
            derived["blocking_metrics"] = {es.name: rows for es in self.eval_sets if (rows := gated_rows(es))}
        if "directions" not in self._regression_keys:  # which way is worse: thresholds and judge dimensions
            derived["directions"] = {es.name: d for es in self.eval_sets if (d := metric_directions(es))}
        return dataclasses.replace(self.regression, **derived)

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


def load_suite(path: str | Path, base: Path | None = None, validate_evaluators: bool = True) -> Suite:
    """Parse and validate one suite file, every section included (its checks, judge and regression options
    are typed from here on). Raises ConfigError naming the file and key path. ``validate_evaluators`` is
    kept for callers: the sections are always validated, once, here."""
    del validate_evaluators
    base = (base or data_dir()).resolve()
    path = Path(path).resolve()
    suite = load_mapping(
        path, Suite, "a mapping with 'name' and 'eval_sets' at the top level", context={"base": base}
    )
    suite._file = path
    for i, es in enumerate(suite.eval_sets):
        es._source_path = resolve_data_path(es.source, base, path, f"eval_sets[{i}].source")
        es._base = base
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
