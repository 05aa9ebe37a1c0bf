"""The ``data/monitoring.yaml`` file: sampling, redaction, alert thresholds, invariants, judge, drift,
shadow and canary settings, loaded and validated.

In: ``<data dir>/monitoring.yaml`` (or the file ``EVAL_MONITORING_CONFIG`` names) and the environment
(``EVAL_TRAFFIC_SAMPLE_RATE``, the salts). Out: a fully validated :class:`MonitoringConfig` from
:func:`load_monitoring_config` (its invariants are check specs, :mod:`.checks`; its judge sections
judge configs, :mod:`.judge`); a missing file means the defaults; errors are
:class:`~.errors.ConfigError` naming the file and key path. The monitoring stage
(:mod:`eval_pipeline.monitoring.settings`) adds table names and builds the checks.

Plain Python, part of the config leaf: no stage is imported here.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, model_validator
from pydantic.json_schema import SkipJsonSchema

from eval_pipeline.project.canary import CanaryConfig
from eval_pipeline.project.checks import CheckSpec, parse_check_specs
from eval_pipeline.project.errors import ConfigError, key_path
from eval_pipeline.project.judge import JudgeConfig
from eval_pipeline.project.paths import data_dir as default_data_dir
from eval_pipeline.project.redaction import RedactionConfig

CONFIG_FILE = "monitoring.yaml"
CONFIG_ENV = "EVAL_MONITORING_CONFIG"
SAMPLE_RATE_ENV = "EVAL_TRAFFIC_SAMPLE_RATE"

# Check types that compare with a reference answer: production traffic has none.
REFERENCE_CHECK_TYPES = ("exact_match", "json_fields_match", "rouge_l", "bleu")

Level = Literal["ok", "warn", "critical"]


class AlertThreshold(BaseModel):
    """Warn / critical levels; ``direction="above"`` fires when value >= level (``below``: <=)."""

    model_config = ConfigDict(extra="forbid")
    warn: float
    critical: float
    direction: Literal["above", "below"] = "above"

    @model_validator(mode="after")
    def _order(self) -> AlertThreshold:
        if self.direction == "above" and self.critical < self.warn:
            raise ValueError(
                f"critical ({self.critical}) must be >= warn ({self.warn}) for direction 'above'"
            )
        if self.direction == "below" and self.critical > self.warn:
            raise ValueError(
                f"critical ({self.critical}) must be <= warn ({self.warn}) for direction 'below'"
            )
        return self

    def level(self, value: float) -> Level:
        """``critical`` / ``warn`` / ``ok`` for ``value`` (boundaries are inclusive)."""
        if self.direction == "above":
            return "critical" if value >= self.critical else "warn" if value >= self.warn else "ok"
        return "critical" if value <= self.critical else "warn" if value <= self.warn else "ok"


class AlertThresholds(BaseModel):
    """Default alert thresholds from the seeds; override any field, add more under ``extra``."""

    model_config = ConfigDict(extra="forbid")
    thumbs_down_rate: AlertThreshold = Field(default_factory=lambda: AlertThreshold(warn=0.15, critical=0.25))
    regenerate_rate: AlertThreshold = Field(default_factory=lambda: AlertThreshold(warn=0.20, critical=0.35))
    safety_violation_rate: AlertThreshold = Field(
        default_factory=lambda: AlertThreshold(warn=0.001, critical=0.005)
    )
    p99_latency_ratio: AlertThreshold = Field(default_factory=lambda: AlertThreshold(warn=2.0, critical=5.0))
    extra: dict[str, AlertThreshold] = Field(default_factory=dict)

    def items(self) -> list[tuple[str, AlertThreshold]]:
        """All (metric name, threshold) pairs, built-ins first."""
        fixed = [
            (k, getattr(self, k))
            for k in ("thumbs_down_rate", "regenerate_rate", "safety_violation_rate", "p99_latency_ratio")
        ]
        return fixed + sorted(self.extra.items())


class DebounceConfig(BaseModel):
    """An alert fires when its level was reached on at least ``k`` of the last ``m`` days (today included).
    ``critical_immediate``: a critical level fires on the first day."""

    model_config = ConfigDict(extra="forbid")
    k: int = Field(2, ge=1)
    m: int = Field(3, ge=1)
    critical_immediate: bool = True


class DriftConfig(BaseModel):
    """Drift features: input-length quantile bins, category mix, k-means clusters of input embeddings."""

    model_config = ConfigDict(extra="forbid")
    length_bins: int = Field(10, ge=2, le=100)
    embedding_clusters: int = Field(8, ge=2, le=64)
    max_texts: int = Field(2000, ge=50, description="texts embedded per side (deterministic subsample)")
    embeddings: bool = True


class ShadowConfig(BaseModel):
    """Shadow comparison of a candidate model version on the day's sampled (redacted) inputs."""

    model_config = ConfigDict(extra="forbid")
    candidate_model_version: str | None = Field(
        None, description="registry name in data/models.yaml; null = off"
    )
    task: str = Field("answer_faq", description="prompt task of the candidate used for every input")
    tasks: dict[str, str] = Field(default_factory=dict, description="prompt_template -> task overrides")
    judge: JudgeConfig | None = Field(
        None, description="pairwise judge config (mode: pairwise, use_reference: false)"
    )
    max_samples: int = Field(100, ge=1)
    min_n: int = Field(30, ge=1, description="fewer judged requests -> verdict inconclusive")


class MonitoringConfig(BaseModel):
    """``data/monitoring.yaml``. Every key is optional; unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")
    sample_rate: float = Field(0.1, ge=0.0, le=1.0)
    salt_env: str = Field("EVAL_TRAFFIC_SALT", description="environment variable holding the sampling salt")
    input_salt_env: str = Field(
        "EVAL_TRAFFIC_INPUT_SALT", description="environment variable salting input hashes"
    )
    redaction: RedactionConfig = Field(
        default_factory=RedactionConfig,
        description="PII redaction: mode, entities, locales, threshold, allow_list, "
        "extra_patterns, replacement (see project/redaction.py)",
    )
    thresholds: AlertThresholds = Field(default_factory=AlertThresholds)
    debounce: DebounceConfig = Field(default_factory=DebounceConfig)
    invariants: dict[str, list[dict[str, Any]]] = Field(
        default_factory=dict, description="prompt_template (or '*' for all) -> deterministic check specs"
    )
    safety_metrics: list[str] = Field(
        default_factory=list, description="invariant names counted as safety violations"
    )
    judge: JudgeConfig | None = Field(None, description="pointwise judge rubric without reference (optional)")
    judge_max_samples: int = Field(50, ge=1)
    reference_window_days: int = Field(7, ge=1, le=90)
    drift: DriftConfig = Field(default_factory=DriftConfig)
    shadow: ShadowConfig = Field(default_factory=ShadowConfig)
    canary: CanaryConfig = Field(default_factory=CanaryConfig)

    # filled by load_monitoring_config (not keys of the file)
    file: SkipJsonSchema[str] = Field("<defaults>", exclude=True)
    base_dir: SkipJsonSchema[str] = Field(".", exclude=True)
    _invariant_specs: dict[str, list[CheckSpec]] = PrivateAttr(default_factory=dict)
    _judges: dict[str, JudgeConfig] = PrivateAttr(
        default_factory=dict
    )  # "judge" / "shadow.judge", validated at load

    def effective_rate(self) -> float:
        """``EVAL_TRAFFIC_SAMPLE_RATE`` if set, else ``sample_rate``."""
        raw = os.environ.get(SAMPLE_RATE_ENV)
        if raw in (None, ""):
            return self.sample_rate
        try:
            rate = float(raw)
        except ValueError:
            raise ValueError(f"{SAMPLE_RATE_ENV}={raw!r} is not a number; use e.g. 0.1 for 10%") from None
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"{SAMPLE_RATE_ENV}={raw!r} must be within [0, 1]")
        return rate

    def salt(self) -> str:
        return os.environ.get(self.salt_env, "")

    def input_salt(self) -> str:
        return os.environ.get(self.input_salt_env, "")

    def invariant_specs(self, template: str) -> list[Any]:
        """The check specs of one prompt template (its own list, else the ``'*'`` list): validated at load,
        or the raw mappings of a config built without :func:`load_monitoring_config`."""
        specs: dict[str, list[Any]] = dict(self._invariant_specs) or dict(self.invariants)
        return list(specs.get(template, specs.get("*")) or [])

    def judge_config(self) -> JudgeConfig | None:
        """The ``judge:`` section (validated at load)."""
        return self.judge

    def shadow_judge_config(self) -> JudgeConfig | None:
        """The ``shadow.judge:`` section (validated at load)."""
        return self.shadow.judge


def config_path(data_dir: str | Path | None = None) -> Path:
    """``EVAL_MONITORING_CONFIG`` if set, else ``<data dir>/monitoring.yaml``."""
    env = os.environ.get(CONFIG_ENV)
    if env:
        return Path(env)
    return Path(data_dir or default_data_dir()) / CONFIG_FILE


def load_monitoring_config(data_dir: str | Path | None = None) -> MonitoringConfig:
    """Load and fully validate the monitoring config (check specs and judge configs included).

    A missing ``<data dir>/monitoring.yaml`` means the defaults; a missing ``EVAL_MONITORING_CONFIG``
    file is an error. Errors are :class:`eval_pipeline.project.errors.ConfigError` naming file and key path.
    """
    path = config_path(data_dir)
    if not path.exists():
        if os.environ.get(CONFIG_ENV):
            raise ConfigError(
                path, "", f"file not found (set by {CONFIG_ENV}); unset it to use <data dir>/{CONFIG_FILE}"
            )
        return MonitoringConfig(file=str(path), base_dir=str(path.parent))
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(path, "", f"not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(
            path, "", f"must be a mapping of keys (sample_rate, thresholds, ...), got {type(raw).__name__}"
        )
    for k in ("file", "base_dir"):
        if k in raw:
            raise ConfigError(path, k, "unknown key (check the spelling; see docs/monitoring.md)")
    try:
        cfg = MonitoringConfig.model_validate({**raw, "file": str(path), "base_dir": str(path.parent)})
    except ValidationError as exc:
        errs = exc.errors()
        err = next((e for e in errs if e["type"] == "extra_forbidden"), errs[0])  # a typo explains the rest
        msg = (
            "unknown key (check the spelling; see docs/monitoring.md)"
            if err["type"] == "extra_forbidden"
            else err["msg"]
        )
        raise ConfigError(path, key_path(tuple(err["loc"])), msg) from None
    _validate_semantics(cfg, path)
    return cfg


def _validate_semantics(cfg: MonitoringConfig, path: Path) -> None:
    names: set[str] = set()
    for tpl, specs in cfg.invariants.items():
        for i, spec in enumerate(specs):
            ctype = spec.get("type") if isinstance(spec, dict) else None
            if ctype in REFERENCE_CHECK_TYPES or (ctype == "label_in_set" and "labels" not in spec):
                raise ConfigError(
                    path,
                    f"invariants.{tpl}[{i}].type",
                    f"{ctype!r} needs a reference answer, which production traffic does not have; "
                    "use reference-free checks (valid_json, json_schema, regex, forbidden_phrases, "
                    "length, contains_*, label_in_set with labels: [...], custom)",
                )
        try:
            checks = parse_check_specs(specs, f"invariants.{tpl}", base_dir=path.parent)
        except ValueError as exc:
            raise ConfigError(path, "", str(exc)) from None
        names |= {c.metric for c in checks}
        cfg._invariant_specs[tpl] = checks
    for i, m in enumerate(cfg.safety_metrics):
        if m not in names:
            raise ConfigError(
                path,
                f"safety_metrics[{i}]",
                f"{m!r} is not the name of any invariant; known: {sorted(names)}",
            )
    for key, jc, mode in (
        ("judge", cfg.judge, "pointwise"),
        ("shadow.judge", cfg.shadow.judge, "pairwise"),
    ):
        if jc is None:
            continue
        if jc.mode != mode:
            raise ConfigError(path, f"{key}.mode", f"must be {mode!r} here")
        if jc.use_reference:
            raise ConfigError(
                path, f"{key}.use_reference", "must be false: production traffic has no reference answer"
            )
    if cfg.shadow.candidate_model_version and not cfg.shadow.judge:
        raise ConfigError(
            path, "shadow.judge", "a shadow candidate needs a pairwise judge config (mode: pairwise)"
        )
