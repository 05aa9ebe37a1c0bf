"""The scoring stage as plain functions: graded samples and evaluator families in, run artifact out.

In: the golden samples and responses of one (date, model version) partition, the project and model
version. Flow, one module per step:

* ``families``: join responses to golden samples (``graded_samples``) and run each evaluator family
  over its eval sets (``score_deterministic_family``, ``score_similarity_family``, ``score_judge_family``);
* ``thresholds``: eval-set metrics with intervals (``set_metrics``) and the suite thresholds applied
  to them (``apply_thresholds`` -> ``ThresholdResult``, ``thresholds_markdown``);
* ``ppi_metrics``: judge metrics corrected by the human review labels (``human_ratings`` in, PPI++
  ``ppi:<metric>`` records out; thresholds with ``estimator: ppi`` gate on them);
* ``artifact``: the per-partition run JSON (``run_artifact``, ``dumps``).

Out: the ``scores`` rows of each family, the eval-set metrics and threshold verdicts, and the run
artifact (``keys.run_artifact(date, mv)``); the release decision is built from run artifacts and
the regression report by :mod:`eval_pipeline.release`.

The Dagster assets in
``eval_pipeline/defs/scoring/`` and ``defs/evaluators/`` are thin wrappers over these; the CLI and tests call them directly.
"""

from __future__ import annotations

from eval_pipeline.scoring.artifact import code_commit, dumps, json_default, provenance_fields, run_artifact
from eval_pipeline.scoring.families import (
    FAMILIES,
    empty_scores,
    graded_samples,
    score_deterministic_family,
    score_judge_family,
    score_similarity_family,
)
from eval_pipeline.scoring.ppi_metrics import human_ratings
from eval_pipeline.scoring.thresholds import (
    ThresholdResult,
    apply_thresholds,
    set_metrics,
    thresholds_markdown,
)

__all__ = [
    "FAMILIES",
    "ThresholdResult",
    "apply_thresholds",
    "code_commit",
    "dumps",
    "empty_scores",
    "graded_samples",
    "human_ratings",
    "json_default",
    "provenance_fields",
    "run_artifact",
    "score_deterministic_family",
    "score_judge_family",
    "score_similarity_family",
    "set_metrics",
    "thresholds_markdown",
]
