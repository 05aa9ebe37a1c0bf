"""Deterministic hash-based sampling and the privacy step that builds the stored sample.

Sampling: ``u = unit_interval(f"{salt}:{request_id}")`` (sha256, first 60 bits, see
:func:`eval_pipeline.hashing.unit_interval`); a request is in the sample iff ``u < rate``. The
decision depends only on the request id, the salt and the rate, so the same request is always in or
always out, whatever the file layout, chunking or day it is read with; raising the rate only adds
requests (samples are nested).

Privacy: :func:`build_stored_sample` keeps only hashes of the raw input and session id, redacted
input/output text (see :mod:`eval_pipeline.monitoring.pii`), numbers, feedback flags and the replay
keys (model snapshot id, config hash). Raw text is never part of its result.
"""
from __future__ import annotations

import hashlib
from typing import Iterable

import numpy as np
import pandas as pd

from .pii import Redactor
from .schema import FEEDBACK_TYPES, SAMPLE_COLUMNS


def _as_list(values: Iterable) -> list:
    """Fast conversion to a Python list (iterating an Arrow-backed Series item by item is slow)."""
    return values.tolist() if hasattr(values, "tolist") else list(values)


def unit_hashes(request_ids: Iterable[str], salt: str = "") -> np.ndarray:
    """Deterministic uniform value in [0, 1) per request id (equals ``hashing.unit_interval(salt:id)``)."""
    prefix = f"{salt}:".encode("utf-8")
    sha = hashlib.sha256
    ids = _as_list(request_ids)
    vals = np.fromiter(
        (int.from_bytes(sha(prefix + str(r).encode("utf-8")).digest()[:8], "big") >> 4 for r in ids),
        dtype=np.uint64, count=len(ids),
    )
    return vals.astype(np.float64) / float(1 << 60)


def sample_mask(request_ids: Iterable[str], rate: float, salt: str = "") -> np.ndarray:
    """Boolean mask: which requests are in the sample at ``rate`` (0..1)."""
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"sample rate must be within [0, 1], got {rate!r}; e.g. 0.05 for 5%")
    return unit_hashes(request_ids, salt) < rate  # always hashed (u < 1.0 holds for rate 1.0)


def sample_traffic(frame: pd.DataFrame, rate: float, salt: str = "") -> pd.DataFrame:
    """Rows of ``frame`` (reader output) that are in the sample."""
    return frame.loc[sample_mask(frame["request_id"], rate, salt)].reset_index(drop=True)


def _sha256_hex(values: Iterable[str], salt: str = "") -> list[str]:
    pre = salt.encode("utf-8")
    sha = hashlib.sha256
    return [sha(pre + ("" if v is None else str(v)).encode("utf-8")).hexdigest() for v in _as_list(values)]


def build_stored_sample(
    frame: pd.DataFrame,
    rate: float,
    salt: str = "",
    redactor: Redactor | None = None,
    session_salt: str = "session:",
) -> pd.DataFrame:
    """Sample ``frame`` and turn it into the privacy-safe stored form (``SAMPLE_COLUMNS``).

    ``frame`` is the traffic reader's output. ``input_hash`` is sha256 of the raw input (so a replay
    can check it re-read the same text); ``session_hash`` is a salted sha256 of the session id.
    """
    redactor = redactor or Redactor()
    s = sample_traffic(frame, rate, salt)
    inputs = s["input"].fillna("")
    outputs = s["output"].fillna("")
    red_in, n_in = redactor.redact_array(inputs)
    red_out, n_out = redactor.redact_array(outputs)
    sessions = s["session_id"].fillna("").tolist()
    uniq = list(dict.fromkeys(sessions))  # hash each session once
    session_map = dict(zip(uniq, (h[:32] for h in _sha256_hex(uniq, session_salt))))
    # Columns are copied as Series (no object round-trips: those dominate the cost at 1M rows).
    out = pd.DataFrame({
        **{c: s[c] for c in ("request_id", "timestamp", "date", "model_version", "model_snapshot_id",
                             "config_hash", "prompt_template")},
        "input_hash": _sha256_hex(inputs),
        "input_redacted": red_in.to_pandas(),
        "output_redacted": red_out.to_pandas(),
        "input_chars": inputs.str.len().astype(np.int64),
        "output_chars": outputs.str.len().astype(np.int64),
        "latency_s": s["latency_s"].astype(float),
        "ttft_s": pd.to_numeric(s["ttft_s"], errors="coerce").astype(float),
        "input_tokens": s["input_tokens"].astype(np.int64),
        "output_tokens": s["output_tokens"].astype(np.int64),
        "session_hash": [session_map[x] for x in sessions],
        "category": s["category"],
        "synthetic": s["synthetic"].astype(bool),
        **{f"fb_{t}": s[f"fb_{t}"].astype(bool) for t in FEEDBACK_TYPES},
        "n_feedback_events": s["n_feedback_events"].astype(np.int64),
        "pii_redactions": n_in + n_out,
    }, columns=SAMPLE_COLUMNS)
    return out
