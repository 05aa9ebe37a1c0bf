"""Text-overlap scores: ROUGE-L (rouge-score) and BLEU (sacrebleu), per pair and per corpus.

In: predictions and references, two equally long sequences of strings. Out: floats in 0-1.
Re-exported by ``evaluators.metrics``; the libraries are imported on first use (they are only needed
by eval sets that use an overlap check).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any


@lru_cache(maxsize=1)
def _rouge_scorer() -> Any:
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)


def rouge_l_scores(predictions: Sequence[str], references: Sequence[str]) -> list[float]:
    """Per-pair ROUGE-L F-measure (rouge-score, Porter stemming)."""
    sc = _rouge_scorer()
    return [
        float(sc.score(ref, pred)["rougeL"].fmeasure)
        for pred, ref in zip(predictions, references, strict=True)
    ]


def sentence_bleu_scores(predictions: Sequence[str], references: Sequence[str]) -> list[float]:
    """Per-pair sentence BLEU (sacrebleu defaults, exp smoothing), scaled from 0-100 to 0-1."""
    import sacrebleu

    return [
        sacrebleu.sentence_bleu(p, [r]).score / 100.0 for p, r in zip(predictions, references, strict=True)
    ]


def corpus_bleu(predictions: Sequence[str], references: Sequence[str]) -> float:
    """Corpus BLEU (sacrebleu, one reference per prediction), scaled to 0-1."""
    import sacrebleu

    return sacrebleu.corpus_bleu(list(predictions), [list(references)]).score / 100.0
