"""Suites and the model registry as typed configuration.

A *suite* (``data/suites/<name>.yaml``) lists eval sets: where the golden set is, which
evaluator family scores it, how to sample it, which checks / rubric / thresholds apply.
The *model registry* (``data/models.yaml``) lists model versions: provider, model id,
params and prompt templates. Both are parsed into pydantic models; every error names the
file and the key path (``data/suites/x.yaml: eval_sets[1].thresholds[0].min: ...``).

Plain Python: no Dagster here.
"""
from __future__ import annotations

import re
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator

from eval_pipeline.project.hashing import sha256_obj, sha256_text
from eval_pipeline.project.paths import data_dir

SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,62}$")
# Dagster partition keys must not contain "," "|" or "..." (UI backfills and multi-partitions break).
FORBIDDEN_KEY_PARTS = (",", "|", "...", "/", "=")


class ConfigError(ValueError):
    """A configuration file is invalid. The message names the file and key path."""

    def __init__(self, file: str | Path, key: str, message: str):
        self.file, self.key = str(file), key
        where = f"{file}: {key}" if key else str(file)
        super().__init__(f"{where}: {message}")


def _loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _first_error(file: Path, exc: ValidationError, prefix: str = "") -> ConfigError:
    err = exc.errors()[0]
    key = _loc(tuple(err["loc"]))
    key = f"{prefix}.{key}" if prefix and key else (prefix or key)
    msg = err["msg"]
    if err["type"] == "extra_forbidden":
        msg = "unknown key (check the spelling; see README 'Adding a suite' for the allowed keys)"
    elif err["type"] == "missing":
        msg = "required key is missing"
    more = len(exc.errors()) - 1
    if more:
        msg += f" (and {more} more error{'s' if more > 1 else ''})"
    return ConfigError(file, key, msg)


def _strict(**kw: Any) -> ConfigDict:
    return ConfigDict(extra="forbid", **kw)


def _check_slug(v: str, what: str) -> str:
    if not SLUG_RE.match(v):
        raise ValueError(f"{what} {v!r} must be lower-case letters, digits, '_', '-' or '.', starting with a letter or digit")
    return v


def resolve_data_path(rel: str, base: Path, file: Path, key: str) -> Path:
    """Resolve ``rel`` against ``base`` (the data dir) and refuse paths that escape it or do not exist."""
    p = Path(rel)
    if p.is_absolute():
        raise ConfigError(file, key, f"path {rel!r} must be relative to the data folder {base}")
    full = (base / p).resolve()
    if base != full and base not in full.parents:
        raise ConfigError(file, key, f"path {rel!r} escapes the data folder {base}; keep golden sets and prompts inside it")
    if not full.exists():
        raise ConfigError(file, key, f"file not found: {full} (paths are relative to {base})")
    return full


# --------------------------------------------------------------------------- suites


class FieldMapping(BaseModel):
    """Maps the golden set's column names onto ours (e.g. ``input: question``). Dotted paths reach into objects."""

    model_config = _strict()
    id: str = "id"
    input: str = "input"
    expected: str = "expected"
    metadata: str = "metadata"
    category: str = "metadata.category"


class SampleSpec(BaseModel):
    """Deterministic sampling: the N records with the smallest hash of (seed, id)."""

    model_config = _strict()
    n: int = Field(gt=0)
    seed: int = 0


class Threshold(BaseModel):
    """A gate on an eval-set metric. ``blocking`` makes a failure stop downstream assets (ERROR severity)."""

    model_config = _strict()
    metric: str
    min: float | None = None
    max: float | None = None
    blocking: bool = False

    @model_validator(mode="after")
    def _bounds(self) -> "Threshold":
        if self.min is None and self.max is None:
            raise ValueError("give at least one of 'min' or 'max'")
        rate_like = self.metric.endswith("rate") or self.metric in {"accuracy", "macro_f1", "mean_cosine", "win_rate", "pass_at_k"}
        for name in ("min", "max"):
            val = getattr(self, name)
            if val is not None and rate_like and not 0.0 <= val <= 1.0:
                raise ValueError(f"{name}={val} is out of range: {self.metric} is a fraction between 0 and 1 (write 0.8, not 80)")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min={self.min} is greater than max={self.max}")
        return self


class SimilaritySettings(BaseModel):
    model_config = _strict()
    threshold: float = Field(0.85, ge=-1.0, le=1.0)
    model_path: str | None = None  # any sentence-transformers model folder; default: the packaged all-MiniLM-L6-v2
    reference_field: str | None = None  # JSON path into `expected` when it is an object
    response_field: str | None = None  # JSON path into the parsed response


class EvalSet(BaseModel):
    """One golden set scored by one evaluator family."""

    model_config = _strict()
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

    _source_path: Path | None = PrivateAttr(default=None)
    _base: Path | None = PrivateAttr(default=None)  # the data folder: relative paths in checks resolve here

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return _check_slug(v, "eval set name")

    @model_validator(mode="after")
    def _family_settings(self) -> "EvalSet":
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
        return sha256_obj({"family": self.family, "checks": self.checks, "similarity": self.similarity.model_dump() if self.similarity else None, "judge": self.judge})[:12]


class Suite(BaseModel):
    model_config = _strict()
    name: str
    description: str = ""
    owner: str = ""
    baseline_model_version: str | None = Field(None, description="Registry name of the production model version used as the baseline.")
    error_rate_ceiling: float = Field(0.05, ge=0.0, le=1.0)
    regression: dict[str, Any] = Field(
        default_factory=dict,
        description="Options of the regression report / release gate for this suite's rows (keys of "
        "eval_pipeline.history.stats.RegressionConfig: alpha, min_effect, gate_segments, gate_procedure, ...).")
    eval_sets: list[EvalSet] = Field(min_length=1)

    _file: Path | None = PrivateAttr(default=None)

    def regression_config(self):
        """The suite's ``regression:`` section as a validated ``stats.RegressionConfig`` (defaults for missing keys)."""
        from eval_pipeline.history.stats import RegressionConfig  # local: keeps config import light

        return RegressionConfig.from_dict(self.regression, where="regression")

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return _check_slug(v, "suite name")

    @model_validator(mode="after")
    def _unique(self) -> "Suite":
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


def _read_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(path, "", "file not found") from None
    except UnicodeDecodeError as e:
        raise ConfigError(path, "", f"not valid UTF-8 ({e.reason} at byte {e.start})") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise ConfigError(path, "", f"{where}invalid YAML ({getattr(e, 'problem', e)})") from None


def _validate_family_specs(suite: Suite, path: Path, base: Path) -> None:
    """Let the evaluator modules validate their own sections, so errors carry the key path."""
    from eval_pipeline.evaluators import deterministic, judge  # local: keeps config import light

    for i, es in enumerate(suite.eval_sets):
        where = f"{path}: eval_sets[{i}]"
        if es.checks:
            try:
                deterministic.validate_check_specs(es.checks, where=f"{where}.checks", base_dir=base)
            except ValueError as e:
                raise ConfigError(path, "", str(e).removeprefix(f"{path}: ")) from None
        if es.judge:
            try:
                judge.validate_judge_config(es.judge, where=f"{where}.judge")
            except ValueError as e:
                raise ConfigError(path, "", str(e).removeprefix(f"{path}: ")) from None


def load_suite(path: str | Path, base: Path | None = None, validate_evaluators: bool = True) -> Suite:
    """Parse and validate one suite file. Raises ConfigError naming the file and key path."""
    base = (base or data_dir()).resolve()
    path = Path(path).resolve()
    raw = _read_yaml(path)
    if not isinstance(raw, dict):
        raise ConfigError(path, "", "expected a mapping with 'name' and 'eval_sets' at the top level")
    try:
        suite = Suite.model_validate(raw)
    except ValidationError as e:
        raise _first_error(path, e) from None
    suite._file = path
    for i, es in enumerate(suite.eval_sets):
        es._source_path = resolve_data_path(es.source, base, path, f"eval_sets[{i}].source")
        es._base = base
    from eval_pipeline.history.stats import RegressionConfigError

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


# --------------------------------------------------------------------------- model registry


class ModelParams(BaseModel):
    model_config = _strict()
    max_tokens: int = Field(512, gt=0, le=64_000)
    temperature: float | None = Field(None, ge=0.0, le=1.0)
    top_p: float | None = Field(None, gt=0.0, le=1.0)
    stop_sequences: list[str] | None = None

    def api_params(self) -> dict[str, Any]:
        return {k: v for k, v in self.model_dump().items() if v is not None}


class Pricing(BaseModel):
    """USD per million tokens."""

    model_config = _strict()
    input: float = Field(ge=0)
    output: float = Field(ge=0)
    cache_read: float = Field(0.0, ge=0)
    cache_write: float = Field(0.0, ge=0)


class PromptTemplate(BaseModel):
    """A prompt template file (YAML with ``system`` and ``user`` Jinja templates)."""

    model_config = _strict()
    system: str | None = None
    user: str
    version: str | None = None


class ModelVersion(BaseModel):
    """A deployable configuration: provider + model id + params + prompt templates."""

    model_config = _strict()
    name: str
    description: str = ""
    provider: Literal["anthropic", "replay"] = "anthropic"
    model: str
    params: ModelParams = ModelParams()
    prompts: dict[str, str] = Field(min_length=1, description="task -> prompt template file (relative to data/)")
    suites: list[str] = Field(min_length=1)
    nightly: bool = True
    production: bool = False
    fresh_samples_daily: bool = Field(False, description="Put the date into the response-store key, so each day samples anew.")

    _prompt_paths: dict[str, Path] = PrivateAttr(default_factory=dict)
    _prompt_texts: dict[str, str] = PrivateAttr(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return _check_slug(v, "model version name")

    def prompt_template(self, task: str) -> PromptTemplate:
        if task not in self._prompt_texts:
            raise KeyError(f"model version {self.name!r} has no prompt for task {task!r} (add it under prompts: in models.yaml)")
        return PromptTemplate.model_validate(yaml.safe_load(self._prompt_texts[task]))

    def prompt_hash(self, task: str) -> str:
        return sha256_text(self._prompt_texts[task])[:12]

    def config_hash(self) -> str:
        """Hash of what decides the model's answers: provider, model, params and prompt contents."""
        return sha256_obj(
            {
                "provider": self.provider,
                "model": self.model,
                "params": self.params.api_params(),
                "prompts": {k: sha256_text(v) for k, v in sorted(self._prompt_texts.items())},
            }
        )[:6]

    @property
    def key(self) -> str:
        """Partition key: readable slug + short config hash (never contains ',', '|' or '...')."""
        slug = self.name.replace(".", "-")
        return f"{slug}-{self.config_hash()}"

    def eval_sets(self, project: "Project", family: str | tuple[str, ...] | None = None) -> list[tuple[Suite, EvalSet]]:
        """(suite, eval set) of this model version: its suites in ``suites`` order, each suite's eval sets
        in file order; only those whose family is ``family`` (one name or a tuple of names) when given."""
        families = (family,) if isinstance(family, str) else family
        return [
            (suite, es)
            for suite in (project.suites[name] for name in self.suites)
            for es in suite.eval_sets
            if families is None or es.family in families
        ]


class ModelRegistry(BaseModel):
    model_config = _strict()
    models: list[ModelVersion] = Field(min_length=1)
    pricing: dict[str, Pricing] = Field(default_factory=dict)

    _file: Path | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _unique(self) -> "ModelRegistry":
        names = [m.name for m in self.models]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"model version names must be unique; duplicated: {sorted(dup)}")
        if sum(m.production for m in self.models) > 1:
            raise ValueError("at most one model version may be marked production: true")
        return self

    def by_name(self, name: str) -> ModelVersion:
        for m in self.models:
            if m.name == name:
                return m
        raise KeyError(f"no model version named {name!r} in {self._file}; known: {[m.name for m in self.models]}")

    def by_key(self, key: str) -> ModelVersion:
        for m in self.models:
            if m.key == key:
                return m
        raise KeyError(
            f"model version key {key!r} is not in the current registry {self._file} (it may be a historical version "
            f"whose config changed or was removed; its stored responses and scores are kept). Current keys: {[m.key for m in self.models]}"
        )

    @property
    def production(self) -> ModelVersion | None:
        return next((m for m in self.models if m.production), None)

    def price_table(self) -> dict[str, dict[str, float]]:
        return {k: v.model_dump() for k, v in self.pricing.items()}


def load_registry(path: str | Path | None = None, base: Path | None = None, suites: dict[str, Suite] | None = None) -> ModelRegistry:
    """Parse ``models.yaml``; check prompt files exist inside the data folder and suites are known."""
    base = (base or data_dir()).resolve()
    path = Path(path or base / "models.yaml").resolve()
    raw = _read_yaml(path)
    if not isinstance(raw, dict):
        raise ConfigError(path, "", "expected a mapping with a 'models' list at the top level")
    try:
        reg = ModelRegistry.model_validate(raw)
    except ValidationError as e:
        raise _first_error(path, e) from None
    reg._file = path
    for i, m in enumerate(reg.models):
        for task, rel in m.prompts.items():
            p = resolve_data_path(rel, base, path, f"models[{i}].prompts.{task}")
            text = p.read_text(encoding="utf-8")
            try:
                tpl = yaml.safe_load(text)
                PromptTemplate.model_validate(tpl)
            except (yaml.YAMLError, ValidationError) as e:
                raise ConfigError(p, "", f"invalid prompt template (expected YAML with 'user' and optional 'system'): {e}") from None
            m._prompt_paths[task] = p
            m._prompt_texts[task] = text
        if m.model not in reg.pricing and m.provider == "anthropic":
            raise ConfigError(path, f"models[{i}].model", f"no price for {m.model!r}: add it under 'pricing:' (USD per million tokens)")
        if suites is not None:
            for j, s in enumerate(m.suites):
                if s not in suites:
                    raise ConfigError(path, f"models[{i}].suites[{j}]", f"unknown suite {s!r}; known: {sorted(suites)}")
                for es in suites[s].eval_sets:
                    if es.task not in m.prompts:
                        raise ConfigError(
                            path, f"models[{i}].prompts",
                            f"suite {s!r} eval set {es.name!r} needs a prompt for task {es.task!r}; add '{es.task}: prompts/<file>.yaml'",
                        )
    keys = [m.key for m in reg.models]
    for k in keys:
        if any(bad in k for bad in FORBIDDEN_KEY_PARTS):
            raise ConfigError(path, "models", f"model version key {k!r} contains a forbidden character")
    return reg


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
    base = (base or data_dir()).resolve()
    suites = load_suites(base, validate_evaluators)
    registry = load_registry(base=base, suites=suites)
    for name, s in suites.items():
        if s.baseline_model_version:
            try:
                registry.by_name(s.baseline_model_version)
            except KeyError as e:
                raise ConfigError(s.file, "baseline_model_version", str(e)) from None
    return Project(base=base, suites=suites, registry=registry)
