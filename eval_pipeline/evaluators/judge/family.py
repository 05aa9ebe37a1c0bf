"""The judge family in the evaluator registry: an LLM judge, pointwise, pairwise or a panel, per eval set.

In: one eval set (its typed ``judge:`` section and prompt), its graded rows and the ``execute`` resource (the judge
calls), plus ``baseline`` graded rows for a pairwise judge. Out: the judge's score rows (:func:`score`); ``None``
for a pairwise eval set without baseline answers (e.g. when this run *is* the baseline): nothing to compare.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from eval_pipeline.evaluators.family import register_family, required_resource
from eval_pipeline.evaluators.judge import load_prompt, score

if TYPE_CHECKING:
    import pandas as pd

    from eval_pipeline.project.suites import EvalSet, Suite


class JudgeFamily:
    """LLM-as-judge: rubric dimensions scored by a judge model (or a panel), calibrated against human labels."""

    name, order = "judge", 30

    def score_eval_set(
        self, suite: Suite, eval_set: EvalSet, graded: pd.DataFrame, keys: dict[str, str], **resources: Any
    ) -> pd.DataFrame | None:
        cfg = eval_set.judge_config
        prompt = load_prompt(cfg, base_dir=suite.file.parent)
        if cfg.mode == "pairwise":
            baseline = resources.get("baseline")
            if baseline is None or baseline.empty:
                return None  # no baseline answers (e.g. this *is* the baseline): nothing to compare
            b = baseline[(baseline["suite"] == suite.name) & (baseline["eval_set"] == eval_set.name)][
                ["sample_id", "repeat", "response_text"]
            ]
            graded = graded.merge(
                b.rename(columns={"response_text": "baseline_text"}), on=["sample_id", "repeat"], how="inner"
            )
            if graded.empty:
                return None
        execute = required_resource(resources, "execute", self.name, "the judge-call executor")
        rows, _verdicts = score(graded, cfg, execute, prompt=prompt, keys=dict(keys))
        return rows


register_family(JudgeFamily())
