"""Stable content hashes used for cache keys, partition keys and lineage.

In: text, a JSON-able object or a file. Out: its SHA-256 hex digest (objects via canonical JSON:
sorted keys, no spaces), or a key mapped to a uniform number in [0, 1) for deterministic sampling.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any


def canonical_json(obj: Any) -> str:
    """JSON with sorted keys and no whitespace: equal values give equal strings."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def sha256_obj(obj: Any) -> str:
    return sha256_text(canonical_json(obj))


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def unit_interval(key: str) -> float:
    """Map a string to a deterministic float in [0, 1) (for hash-based sampling)."""
    return int(hashlib.sha256(key.encode("utf-8")).hexdigest()[:15], 16) / float(1 << 60)
