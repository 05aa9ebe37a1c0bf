"""FROZEN: every hash whose output is stored. Never change what these functions return.

Their outputs are persisted: response-store keys (:func:`request_key`), judge evaluator and rubric
hashes and calibration versions (:func:`digest16`), wire names of long tool names
(:func:`tool_name_digest`), config / prompt / file hashes in run artifacts and sensor cursors
(:func:`sha256_obj`, :func:`sha256_text`, :func:`sha256_file`; :func:`sha256_text` also orders the
calibration records sampled) and the traffic / golden-set
sampling decisions (:func:`unit_interval`). A changed output silently misses every stored answer
(paid again), re-judges stored verdicts, breaks the recorded demo and re-samples traffic.
``eval_pipeline_tests/unit/project/test_hashing.py`` pins each on fixed inputs; a deliberate
change needs a new function (and a version bump such as ``JUDGE_VERSION``), not an edit here.

In: text, a JSON-able object, a file, a model request. Out: hex digests, or a key mapped to a
uniform number in [0, 1) for deterministic sampling. Objects are hashed as canonical JSON (sorted
keys, no spaces, UTF-8, ``str`` of what JSON cannot encode).
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


def request_key(provider: str, request: Any) -> str:
    """The response-store key of a model request (a ``ModelRequest``): sha256 hex of everything
    that determines an answer (never the sample id or the API key)."""
    return sha256_obj(
        {
            "provider": provider,
            "model": request.model,
            "params": request.params,
            "system": request.system,
            "messages": request.messages,
            "tools": request.tools,
            "tool_choice": request.tool_choice,
            "repeat": request.repeat,
            "epoch": request.epoch,
        }
    )


def digest16(payload: Any) -> str:
    """The first 16 hex digits of the sha256 of ``payload`` as canonical JSON, sets and tuples as
    lists (the judge's evaluator and rubric hashes, calibration versions)."""
    blob = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=list)
    return sha256_text(blob)[:16]


def tool_name_digest(name: str) -> str:
    """The 8 hex digits that make a shortened tool name unique on the wire."""
    return sha256_text(name)[:8]
