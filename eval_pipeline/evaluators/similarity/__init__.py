"""Semantic similarity scoring: cosine between a response and its reference answer.

In: a samples frame (responses joined with the golden set), a
:class:`~eval_pipeline.evaluators.embeddings.SimilarityScorer` and the eval set's
``similarity:`` settings. Out: one ``similarity``/``cosine`` score row per (sample, repeat)
(``SCORE_COLUMNS``); ``passed = cosine >= threshold`` (default 0.85, per eval set).

The embeddings and their cache are :mod:`eval_pipeline.evaluators.embeddings`; choosing the
threshold from labelled paraphrases is :mod:`eval_pipeline.evaluators.similarity_calibration`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from eval_pipeline.evaluators.deterministic import (
    FAILING_MODEL_ERRORS,
    EvaluatorConfigError,
    finish_score_frame,
    get_field,
    is_infra_error,
    parse_field_path,
    samples_from_frame,
)
from eval_pipeline.evaluators.embeddings import SimilarityScorer

FAMILY = "similarity"
METRIC = "cosine"
DEFAULT_THRESHOLD = 0.85


@dataclass(frozen=True)
class SimilarityConfig:
    """Per-eval-set similarity settings (YAML ``similarity:`` mapping)."""

    threshold: float = DEFAULT_THRESHOLD
    reference_field: str | None = None  # JSON path into `expected` when it is an object
    response_field: str | None = None  # JSON path into the parsed response
    model_path: str | None = None  # sentence-transformers folder; None = packaged all-MiniLM-L6-v2

    @classmethod
    def from_any(cls, obj: Any) -> SimilarityConfig:
        """Accept this class, a mapping, or any object with the same attributes (e.g. a pydantic settings model)."""
        if isinstance(obj, cls):
            return obj
        get = obj.get if isinstance(obj, dict) else (lambda k, d=None: getattr(obj, k, d))
        return cls(
            float(get("threshold", DEFAULT_THRESHOLD)),
            get("reference_field"),
            get("response_field"),
            get("model_path"),
        )

    def evaluator_hash(self, model_id: str) -> str:
        blob = json.dumps(
            {
                "model_id": model_id,
                "threshold": self.threshold,
                "reference_field": self.reference_field,
                "response_field": self.response_field,
            },
            sort_keys=True,
        )
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


def validate_similarity_config(spec: dict[str, Any] | None, where: str) -> SimilarityConfig:
    """Validate a ``similarity:`` mapping; errors name the key path, e.g. ``x.yaml: eval_sets[0].similarity.threshold``."""
    if spec is None:
        return SimilarityConfig()
    if not isinstance(spec, dict):
        raise EvaluatorConfigError(f"{where}: must be a mapping, got {type(spec).__name__}")
    allowed = {"threshold", "reference_field", "response_field", "model_path"}
    extra = sorted(set(spec) - allowed)
    if extra:
        raise EvaluatorConfigError(f"{where}.{extra[0]}: unknown key; allowed: {', '.join(sorted(allowed))}")
    thr = spec.get("threshold", DEFAULT_THRESHOLD)
    if isinstance(thr, bool) or not isinstance(thr, (int, float)) or not 0.0 <= float(thr) <= 1.0:
        raise EvaluatorConfigError(f"{where}.threshold: must be a number within [0, 1] (cosine), got {thr!r}")
    for key in ("reference_field", "response_field"):
        if spec.get(key) is not None:
            try:
                parse_field_path(spec[key])
            except ValueError as exc:
                raise EvaluatorConfigError(f"{where}.{key}: {exc}") from None
    mp = spec.get("model_path")
    if mp is not None and not (Path(mp) / "modules.json").is_file():
        raise EvaluatorConfigError(
            f"{where}.model_path: {mp!r} is not a sentence-transformers model folder (no modules.json)"
        )
    return SimilarityConfig(float(thr), spec.get("reference_field"), spec.get("response_field"), mp)


def _pick(value: Any, path: str | None, parse_json: bool) -> str | None:
    if path is None:
        return value if isinstance(value, str) else None
    if parse_json:
        try:
            value = json.loads(value) if isinstance(value, str) else value
        except json.JSONDecodeError:
            return None
    found, v = get_field(value, parse_field_path(path))
    return v if found and isinstance(v, str) else None


def score_similarity(
    samples: pd.DataFrame,
    scorer: SimilarityScorer,
    config: SimilarityConfig | Any = None,
    *,
    threshold: float | None = None,
    date: str | None = None,
    model_version: str | None = None,
    suite: str | None = None,
    eval_set: str | None = None,
) -> pd.DataFrame:
    """Cosine of each response against its reference -> ``SCORE_COLUMNS`` rows (family ``similarity``).

    Infra errors give ``passed=None`` with ``infra_error`` set; refusals/empty answers fail
    (value 0.0 when there is no text); samples without a string reference give ``passed=None``.
    """
    cfg = SimilarityConfig.from_any(config) if config is not None else SimilarityConfig()
    if threshold is not None:
        cfg = SimilarityConfig(threshold, cfg.reference_field, cfg.response_field, cfg.model_path)
    ehash = cfg.evaluator_hash(scorer.model_id)
    rows: list[dict[str, Any]] = []
    todo: list[tuple[int, str, str]] = []  # (row index, response, reference)
    for s in samples_from_frame(samples):
        row = {
            "sample_id": s.sample_id,
            "repeat": s.repeat,
            "family": FAMILY,
            "metric": METRIC,
            "value": None,
            "passed": None,
            "category": s.category,
            "infra_error": None,
            "evaluator_hash": ehash,
        }
        ref = _pick(s.expected, cfg.reference_field, parse_json=False)
        if is_infra_error(s.error_category):
            row.update(infra_error=s.error_category, reason=f"infra error: {s.error_category} (not scored)")
        elif ref is None:
            row.update(reason="no reference text")
        else:
            resp = _pick(s.text, cfg.response_field, parse_json=True) if cfg.response_field else s.text
            if s.error_category in FAILING_MODEL_ERRORS and not (resp or "").strip():
                row.update(value=0.0, passed=False, reason=f"model {s.error_category}: no usable answer")
            elif resp is None:
                row.update(
                    value=0.0, passed=False, reason=f"response has no string field {cfg.response_field!r}"
                )
            else:
                todo.append((len(rows), resp, ref))
                row["_model_error"] = s.error_category if s.error_category in FAILING_MODEL_ERRORS else None
        rows.append(row)
    if todo:
        cos = scorer.cosine([t[1] for t in todo], [t[2] for t in todo])
        for (i, _, _), c in zip(todo, cos):
            c = float(np.clip(c, -1.0, 1.0))
            passed = c >= cfg.threshold
            reason = f"cosine {c:.3f} {'>=' if passed else '<'} {cfg.threshold:g}"
            if rows[i]["_model_error"]:
                passed, reason = False, f"model {rows[i]['_model_error']}: {reason}"
            rows[i].update(value=c, passed=passed, reason=reason)
    for r in rows:
        r.pop("_model_error", None)
    return finish_score_frame(
        rows, samples, date=date, model_version=model_version, suite=suite, eval_set=eval_set
    )
