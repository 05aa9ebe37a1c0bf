"""Judge config: the ``judge:`` block of a suite YAML, validated (pydantic v2, ``extra="forbid"``).

In: the raw ``judge:`` mapping of a suite YAML. Out: a frozen :class:`JudgeConfig` (model, mode,
repeats, rubric :class:`JudgeDimension` s, optional :class:`MinCalibration`, sampling params,
set-level gates). Bad values fail at load with the key path (:func:`validate_judge_config`).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator


class JudgeDimension(BaseModel):
    """One rubric dimension scored as an integer on ``scale`` (inclusive)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
    description: str = ""
    scale: tuple[int, int] = (1, 5)
    threshold: float | None = (
        None  # passed if median >= threshold (<= when not higher_is_better); None = report only
    )
    # False for a dimension where a low score is good (toxicity, verbosity): passed = median <= threshold, and the
    # regression gate tests its mean as lower-is-better
    higher_is_better: bool = True

    def passes(self, value: float) -> bool:
        """Whether a (median / mean) score meets the threshold in this dimension's direction."""
        assert self.threshold is not None
        return bool(value >= self.threshold) if self.higher_is_better else bool(value <= self.threshold)

    @field_validator("name")
    @classmethod
    def _not_reserved(cls, v: str) -> str:
        if v in {"reasoning", "winner"}:
            raise ValueError(f"dimension name {v!r} is reserved by the verdict tool; rename it")
        return v

    @model_validator(mode="after")
    def _check_scale(self) -> JudgeDimension:
        lo, hi = self.scale
        if lo >= hi:
            raise ValueError(f"scale must be [low, high] with low < high, got [{lo}, {hi}]")
        if self.threshold is not None and not (lo <= self.threshold <= hi):
            raise ValueError(
                f"threshold {self.threshold} is outside scale [{lo}, {hi}]; pick a value within the scale"
            )
        return self


class MinCalibration(BaseModel):
    """Minimum judge-vs-human agreement before judge thresholds may block (else: warn only).

    Every field set here must be met by every calibration entry that reports it
    (see :func:`eval_pipeline.evaluators.calibration.calibration_gate`).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    agreement_within_one: float | None = Field(default=None, ge=0, le=1)
    exact_agreement: float | None = Field(default=None, ge=0, le=1)
    spearman: float | None = Field(default=None, ge=-1, le=1)
    weighted_kappa: float | None = Field(default=None, ge=-1, le=1)
    pairwise_accuracy: float | None = Field(default=None, ge=0, le=1)
    pairwise_kappa: float | None = Field(default=None, ge=-1, le=1)
    position_consistency: float | None = Field(default=None, ge=0, le=1)

    def required(self) -> dict[str, float]:
        """The thresholds that are set, as ``{metric: minimum}``."""
        return {k: v for k, v in self.model_dump().items() if v is not None}


class JudgeConfig(BaseModel):
    """The ``judge:`` block of a suite YAML."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str = Field(min_length=1)  # a panel's first judge when only ``models`` is given
    # A panel ("jury"): each judge scores independently; verdicts aggregated by ``aggregate``. One judge = default.
    models: list[str] = Field(default_factory=list)
    aggregate: Literal["mean", "majority"] = "mean"
    mode: Literal["pointwise", "pairwise"] = "pointwise"
    repeats: int = Field(default=3, ge=1, le=50)
    use_reference: bool = True
    dimensions: list[JudgeDimension] = Field(min_length=1)
    prompt: str | None = None  # path of a custom template YAML (relative to the suite file)
    min_calibration: MinCalibration | None = None
    # ``lower_bound``: min_calibration is met only when the 95 % interval's lower bound clears it; ``point``: the estimate.
    calibration_gate: Literal["lower_bound", "point"] = "lower_bound"
    max_attempts: int = Field(default=3, ge=1, le=10)  # tries per verdict before judge_unparseable
    # None = not sent (the API default). Newer Claude models reject non-default sampling
    # parameters and anthropic SDK >= 1.0 removed the keyword; repeats still vary at the default.
    temperature: float | None = Field(default=None, ge=0, le=1)
    max_tokens: int = Field(default=1024, ge=64, le=16384)
    # Cost, not verdicts (neither is in the evaluator hash): ``batch`` sends the judge's store misses through the
    # Message Batches API (half price; no latency measured); ``cache_prompt`` marks the static prefix (system
    # prompt with the rubric, the verdict tool) with cache_control (cache reads at a tenth of the input price).
    batch: bool = False
    cache_prompt: bool = False
    pass_rate_threshold: float | None = Field(default=None, ge=0, le=1)  # optional set-level gate
    win_rate_threshold: float | None = Field(default=None, ge=0, le=1)  # pairwise set-level gate

    @model_validator(mode="before")
    @classmethod
    def _panel_model(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("models") and not data.get("model"):
            data = {**data, "model": data["models"][0]}
        return data

    @field_validator("models")
    @classmethod
    def _panel(cls, models: list[str]) -> list[str]:
        if models and (
            len(models) < 2 or len(set(models)) != len(models) or not all(m.strip() for m in models)
        ):
            raise ValueError(
                "a judge panel needs at least two distinct, non-empty model ids (or use 'model' for one judge)"
            )
        return models

    @property
    def judge_models(self) -> list[str]:
        """The panel's judges, or the one judge."""
        return list(self.models) or [self.model]

    @property
    def is_panel(self) -> bool:
        return len(self.models) >= 2

    def single(self, model: str) -> JudgeConfig:
        """This config with one judge ``model`` (a panel member scoring on its own)."""
        return self.model_copy(update={"model": model, "models": []})

    @field_validator("dimensions")
    @classmethod
    def _unique_names(cls, dims: list[JudgeDimension]) -> list[JudgeDimension]:
        seen: set[str] = set()
        for i, d in enumerate(dims):
            if d.name in seen:
                raise ValueError(f"dimensions.{i}.name: duplicate dimension {d.name!r}; names must be unique")
            seen.add(d.name)
        return dims

    def dimension(self, name: str) -> JudgeDimension:
        """Look a dimension up by name (KeyError if unknown)."""
        for d in self.dimensions:
            if d.name == name:
                return d
        raise KeyError(name)


def validate_judge_config(data: dict[str, Any], where: str = "judge") -> JudgeConfig:
    """Validate a raw ``judge:`` mapping; errors name the key path (``where`` prefixes it)."""

    try:
        return JudgeConfig.model_validate(data)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            path = ".".join(str(p) for p in (where, *err["loc"]))
            lines.append(f"{path}: {err['msg']}")
        raise ValueError("invalid judge config:\n  " + "\n  ".join(lines)) from None
