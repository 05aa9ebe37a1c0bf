"""Reference-overlap checks: ``rouge_l`` and ``bleu``.

In: the response text (or one JSON field of it) and the reference text in ``expected`` (or
``expected_field`` of it). Out: the score in [0, 1] as the row's ``value``; with ``min_score``
also pass/fail, without it ``passed=None`` (the row only records the value). The scores come
from :mod:`eval_pipeline.evaluators.text_overlap` (rouge-score, sacrebleu).
"""

from __future__ import annotations

from collections.abc import Callable

from eval_pipeline.evaluators import (
    text_overlap,  # local: sacrebleu / rouge-score load only when used
)
from eval_pipeline.evaluators.deterministic.base import (
    CheckFn,
    CheckResult,
    Sample,
    as_text,
    expected_value,
    field_arg,
    response_value,
)
from eval_pipeline.evaluators.deterministic.check_registry import check


def _reference_check(
    score: Callable[[str, str], float],
    label: str,
    min_score: float | None,
    expected_field: str | None,
    field: str | None,
) -> CheckFn:
    """Plumbing for reference-overlap metrics: value = score(response, reference), optional threshold."""
    gold_parts = field_arg(expected_field, "expected_field")
    parts = field_arg(field)

    def run(sample: Sample) -> CheckResult:
        has_gold, gold = expected_value(sample, gold_parts)
        if not has_gold or not isinstance(gold, str):
            return CheckResult(None, "no reference text")
        ok, value, err = response_value(sample, parts)
        if not ok:
            return CheckResult(False if min_score is not None else None, err, value=0.0)
        s = score(as_text(value), gold)
        if min_score is None:
            return CheckResult(None, f"{label}={s:.3f}", value=s)
        passed = s >= min_score
        return CheckResult(passed, "ok" if passed else f"{label}={s:.3f} < {min_score}", value=s)

    return run


_OVERLAP_DOC = """{summary}

Args:
    min_score: pass threshold in [0, 1]; without it the row only records the value.
    expected_field / field: JSON paths into expected / the response.
"""


def _overlap_check(name: str, label: str, scorer: str, summary: str) -> Callable[..., CheckFn]:
    """Register check ``name``: ``eval_pipeline.evaluators.text_overlap.<scorer>`` of one pair, reported as ``label``."""

    def factory(
        min_score: float | None = None, expected_field: str | None = None, field: str | None = None
    ) -> CheckFn:

        score_batch = getattr(text_overlap, scorer)
        return _reference_check(
            lambda p, r: score_batch([p], [r])[0], label, min_score, expected_field, field
        )

    factory.__name__ = factory.__qualname__ = name
    factory.__doc__ = _OVERLAP_DOC.format(summary=summary)
    return check(name)(factory)


rouge_l = _overlap_check(
    "rouge_l",
    "rougeL",
    "rouge_l_scores",
    "ROUGE-L F-measure of the response against the reference (``expected``), via rouge-score.",
)
bleu = _overlap_check(
    "bleu",
    "bleu",
    "sentence_bleu_scores",
    "Sentence BLEU (sacrebleu, exp smoothing) of the response against the reference, scaled to [0, 1].",
)
