"""Similarity threshold calibration: how well cosine separates human-labelled paraphrases.

In: a :class:`~eval_pipeline.evaluators.embeddings.SimilarityScorer` and a paraphrase JSONL
(``input: {question_1, question_2}``, ``expected`` 0/1). Out: :class:`SimilarityCalibration` -
ROC AUC (scikit-learn), the threshold maximising Youden's J with the accuracy there, and
accuracy / TPR / FPR at the configured threshold, with n, so a threshold is chosen from data
rather than guessed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from eval_pipeline.evaluators.embeddings import SimilarityScorer
from eval_pipeline.evaluators.similarity import DEFAULT_THRESHOLD
from eval_pipeline.ingestion.golden import read_jsonl

DEFAULT_CALIBRATION_SET = "data/golden/covid_question_similarity.jsonl"


@dataclass(frozen=True)
class SimilarityCalibration:
    """How well cosine separates human-labelled paraphrases, and which threshold to use."""

    model_id: str
    n: int
    n_positive: int
    auc: float
    best_threshold: float  # maximises Youden's J = TPR - FPR
    youden_j: float
    accuracy_at_best: float
    configured_threshold: float
    accuracy_at_configured: float
    tpr_at_configured: float
    fpr_at_configured: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_markdown(self) -> str:
        """Two-line summary for Dagster metadata / reports."""
        return (
            f"ROC AUC {self.auc:.3f} on {self.n} labelled pairs ({self.n_positive} paraphrases), model `{self.model_id}`.\n"
            f"Best threshold {self.best_threshold:.3f} (Youden J {self.youden_j:.3f}, accuracy {self.accuracy_at_best:.3f}); "
            f"configured {self.configured_threshold:g}: accuracy {self.accuracy_at_configured:.3f}, "
            f"TPR {self.tpr_at_configured:.3f}, FPR {self.fpr_at_configured:.3f}."
        )


def load_pair_labels(path: str | Path) -> tuple[list[str], list[str], list[int]]:
    """Read a paraphrase JSONL (``input: {question_1, question_2}`` or any two string fields, ``expected`` 0/1)."""
    a, b, y = [], [], []
    for lineno, rec in read_jsonl(path):
        inp = rec.get("input")
        inp = inp if isinstance(inp, dict) else {}
        texts = [v for v in inp.values() if isinstance(v, str)]
        if len(texts) < 2 or rec.get("expected") not in (0, 1, True, False):
            raise ValueError(f"{path}:{lineno}: need `input` with two text fields and `expected` 0/1")
        a.append(inp.get("question_1", texts[0]))
        b.append(inp.get("question_2", texts[1]))
        y.append(int(rec["expected"]))
    if len(set(y)) < 2:
        raise ValueError(f"{path}: calibration needs both labels (0 and 1)")
    return a, b, y


def calibrate_similarity(
    scorer: SimilarityScorer,
    path: str | Path = DEFAULT_CALIBRATION_SET,
    configured_threshold: float = DEFAULT_THRESHOLD,
) -> SimilarityCalibration:
    """ROC AUC (sklearn) of cosine on a labelled pair set and the Youden-optimal threshold."""
    from sklearn.metrics import roc_auc_score, roc_curve

    a, b, y = load_pair_labels(path)
    scores = scorer.cosine(a, b).astype(float)
    labels = np.asarray(y)
    fpr, tpr, thr = roc_curve(labels, scores)
    finite = np.isfinite(thr)
    j = np.where(finite, tpr - fpr, -np.inf)
    best = int(np.argmax(j))

    def at(t: float) -> tuple[float, float, float]:
        pred = scores >= t
        return (
            float(np.mean(pred == labels.astype(bool))),
            float(pred[labels == 1].mean()),
            float(pred[labels == 0].mean()),
        )

    acc_best = at(float(thr[best]))[0]
    acc_cfg, tpr_cfg, fpr_cfg = at(configured_threshold)
    return SimilarityCalibration(
        model_id=scorer.model_id,
        n=len(y),
        n_positive=int(labels.sum()),
        auc=float(roc_auc_score(labels, scores)),
        best_threshold=float(thr[best]),
        youden_j=float(j[best]),
        accuracy_at_best=acc_best,
        configured_threshold=float(configured_threshold),
        accuracy_at_configured=acc_cfg,
        tpr_at_configured=tpr_cfg,
        fpr_at_configured=fpr_cfg,
    )
