"""The small option blocks of an eval set: golden-set field mapping, sampling, thresholds, similarity.

In: the ``fields:``, ``sample:``, ``thresholds:`` and ``similarity:`` mappings of an eval set. Out:
validated :class:`FieldMapping`, :class:`SampleSpec`, :class:`Threshold`, :class:`SimilaritySettings`
(re-exported by :mod:`.suites`, whose :class:`~.suites.EvalSet` holds them). Plain Python, no stage here.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, model_validator

from eval_pipeline.project.errors import strict


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
