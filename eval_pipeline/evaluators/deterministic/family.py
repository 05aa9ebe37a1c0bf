"""The deterministic family in the evaluator registry: an eval set's ``checks:`` over its graded rows.

In: one eval set (its ``checks:`` validated against the ``@check`` registry, with the file and position named on
error) and its graded rows. Out: one score row per (sample, repeat, check) (:func:`score_deterministic`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from eval_pipeline.evaluators.deterministic.build import validate_check_specs
from eval_pipeline.evaluators.deterministic.frame import score_deterministic
from eval_pipeline.evaluators.family import register_family

if TYPE_CHECKING:
    import pandas as pd

    from eval_pipeline.project.suites import EvalSet, Suite


class DeterministicFamily:
    """Configurable checks (JSON, schema, labels, exact match, regex, overlap, tool calls, custom)."""

    name, order = "deterministic", 10

    def score_eval_set(
        self, suite: Suite, eval_set: EvalSet, graded: pd.DataFrame, keys: dict[str, str], **resources: Any
    ) -> pd.DataFrame:
        checks = validate_check_specs(
            eval_set.checks,
            where=f"{suite.file}: eval_sets[{suite.eval_sets.index(eval_set)}].checks",
            base_dir=eval_set._base,
        )
        return score_deterministic(graded, checks, **keys)


register_family(DeterministicFamily())
