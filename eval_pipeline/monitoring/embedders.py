"""Text embedders for the embedding-cluster drift feature.

In: texts (redacted inputs). Out: an ``EmbedFn`` (texts -> float32 matrix): MiniLM through the
similarity evaluator's scorer (:func:`minilm_embedder`, :func:`embedder`), or a cheap
deterministic character n-gram hashing embedder (:func:`hashing_embedder`: tests, offline
fallback, ``EVAL_MONITORING_EMBEDDER=hashing``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from eval_pipeline.evaluators.embeddings import SimilarityScorer
from eval_pipeline.monitoring.settings import EMBEDDER_ENV

EmbedFn = Callable[[Sequence[str]], np.ndarray]


def hashing_embedder(n_features: int = 256) -> EmbedFn:
    """Cheap deterministic embedding (character 3-5-gram hashing + L2 norm, scikit-learn).

    No model download; good for tests and as an offline fallback. Not semantic like MiniLM.
    """
    from sklearn.feature_extraction.text import HashingVectorizer

    vec = HashingVectorizer(
        analyzer="char_wb", ngram_range=(3, 5), n_features=n_features, alternate_sign=False, norm="l2"
    )

    def embed(texts: Sequence[str]) -> np.ndarray:
        out: np.ndarray = (
            vec.transform([str(t) for t in texts]).toarray().astype(np.float32)
        )  # sklearn: untyped
        return out

    return embed


def minilm_embedder(cache_dir: str | None = None, batch_size: int = 64) -> EmbedFn:
    """MiniLM (all-MiniLM-L6-v2) sentence embeddings through the similarity evaluator's
    ``SimilarityScorer`` (offline packaged model, content-addressed cache; ``cache_dir`` None =
    memory only). The model loads lazily on the first call. Embed *redacted* text only.
    """
    state: dict[str, Any] = {}

    def embed(texts: Sequence[str]) -> np.ndarray:
        if "scorer" not in state:
            state["scorer"] = SimilarityScorer(cache_dir=cache_dir, batch_size=batch_size)
        return np.asarray(
            state["scorer"].embed_groups([([str(t) for t in texts], False)])[0], dtype=np.float32
        )

    return embed


def embedder(kind: str | None = None, scorer_factory: Callable[[], Any] | None = None) -> tuple[EmbedFn, str]:
    """``(embed_fn, name)``: MiniLM through ``scorer_factory()`` (a SimilarityScorer, cached) or the
    hashing embedder when ``EVAL_MONITORING_EMBEDDER=hashing``."""
    kind = (kind or os.environ.get(EMBEDDER_ENV) or "minilm").lower()
    if kind == "hashing":
        return hashing_embedder(), "hashing (char n-grams; not semantic)"
    if kind != "minilm":
        raise ValueError(f"{EMBEDDER_ENV}={kind!r}: use 'minilm' or 'hashing'")
    if scorer_factory is None:
        return minilm_embedder(), "all-MiniLM-L6-v2"
    state: dict[str, Any] = {}

    def embed(texts: Sequence[str]) -> np.ndarray:
        if "s" not in state:
            state["s"] = scorer_factory()
        return np.asarray(state["s"].embed([str(t) for t in texts], persist=True), dtype=np.float32)

    return embed, "all-MiniLM-L6-v2"
