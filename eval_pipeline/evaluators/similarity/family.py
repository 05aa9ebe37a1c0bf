"""The similarity family in the evaluator registry: cosine of each response against its reference.

In: one eval set (its ``similarity:`` settings), its graded rows and the ``scorer_factory`` resource
(``scorer_factory(model_path)`` returns a scorer with its cached model and embedding cache). Out: one
``similarity``/``cosine`` score row per (sample, repeat) (:func:`score_similarity`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from eval_pipeline.evaluators.family import register_family, required_resource
from eval_pipeline.evaluators.similarity import SimilarityConfig, score_similarity

if TYPE_CHECKING:
    import pandas as pd

    from eval_pipeline.project.suites import EvalSet, Suite


class SimilarityFamily:
    """Sentence-embedding cosine against a reference answer, ``passed = cosine >= threshold``."""

    name, order = "similarity", 20

    def score_eval_set(
        self, suite: Suite, eval_set: EvalSet, graded: pd.DataFrame, keys: dict[str, str], **resources: Any
    ) -> pd.DataFrame:
        scorer_factory = required_resource(
            resources, "scorer_factory", self.name, "model path -> similarity scorer"
        )
        settings = eval_set.similarity
        if settings is None:  # filled with the defaults at load for every similarity eval set
            raise ValueError(f"eval set {eval_set.name!r} has no similarity settings")
        scorer = scorer_factory(settings.model_path)
        cfg = SimilarityConfig(settings.threshold, settings.reference_field, settings.response_field)
        return score_similarity(
            graded,
            scorer,
            cfg,
            date=keys["date"],
            model_version=keys["model_version"],
            suite=keys["suite"],
            eval_set=keys["eval_set"],
        )


register_family(SimilarityFamily())
