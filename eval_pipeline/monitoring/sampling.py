"""Deterministic hash-based sampling and the privacy step that builds the stored sample.

Sampling: ``u = unit_interval(f"{salt}:{request_id}")`` (sha256, first 60 bits, see
:func:`eval_pipeline.project.hashing.unit_interval`); a request is in the sample iff ``u < rate``. The
decision depends only on the request id, the salt and the rate, so the same request is always in or
always out, whatever the file layout, chunking or day it is read with; raising the rate only adds
requests (samples are nested). :func:`judge_subsample` picks the judge's (and the shadow
candidate's) stable subsample the same way.

Privacy: :func:`build_stored_sample` keeps only hashes of the raw input and session id, redacted
input/output text (see :mod:`eval_pipeline.monitoring.pii`), numbers, feedback flags and the replay
keys (model snapshot id, config hash). Raw text is never part of its result.
"""

from __future__ import annotations

import hashlib
import multiprocessing as mp
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from eval_pipeline.monitoring.pii import Redactor, redactor_for
from eval_pipeline.monitoring.schema import FEEDBACK_TYPES, KEY_COLUMNS, SAMPLE_COLUMNS


def _as_list(values: Iterable[Any]) -> list[Any]:
    """Fast conversion to a Python list (iterating an Arrow-backed Series item by item is slow)."""
    return values.tolist() if hasattr(values, "tolist") else list(values)


def unit_hashes(request_ids: Iterable[str], salt: str = "") -> np.ndarray:
    """Deterministic uniform value in [0, 1) per request id (equals ``hashing.unit_interval(salt:id)``)."""
    prefix = f"{salt}:".encode()
    sha = hashlib.sha256
    ids = _as_list(request_ids)
    # first 8 digest bytes of every id, then one vectorized big-endian read (>> 4 keeps 60 bits)
    head = b"".join([sha(prefix + str(r).encode("utf-8")).digest()[:8] for r in ids])
    vals = np.frombuffer(head, dtype=">u8") >> np.uint64(4)
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


def _sha256_hex_distinct(values: pd.Series, salt: str = "") -> list[str]:
    """:func:`_sha256_hex` of every value, each distinct value hashed once."""
    codes, uniq = pd.factorize(values)
    if len(uniq) == len(values):
        return _sha256_hex(values, salt)
    hexes = np.asarray(_sha256_hex(uniq, salt) or [""], dtype=object)
    return hexes[codes].tolist() if len(codes) else []


def _str_series(values: list[str]) -> pd.Series:
    """List of str -> Arrow-backed string Series (much faster than letting pandas infer)."""

    out: pd.Series = pa.array(values, type=pa.string()).to_pandas()  # pyarrow ships no types
    return out


def build_stored_sample(
    frame: pd.DataFrame,
    rate: float,
    salt: str = "",
    redactor: Redactor | None = None,
    session_salt: str = "session:",
    input_salt: str = "",
    workers: int = 1,
) -> pd.DataFrame:
    """Sample ``frame`` and turn it into the privacy-safe stored form (``SAMPLE_COLUMNS``).

    ``frame`` is the traffic reader's output. ``input_hash`` is sha256 of ``input_salt`` + the raw
    input (so a replay can check it re-read the same text; set a secret ``input_salt`` to stop
    dictionary look-ups of short inputs); ``session_hash`` is a salted sha256 of the session id.

    ``workers > 1`` splits the work over that many forked processes (same result, same order): the
    frame is shared with the workers by ``fork`` (copy-on-write, not pickled) and only the (smaller,
    redacted) results come back. One process is used when the frame is small (< 20,000 rows) or
    ``fork`` is unavailable.
    """
    redactor = redactor or redactor_for()
    if workers > 1:
        return _build_parallel(frame, rate, salt, redactor, session_salt, input_salt, workers)
    s = sample_traffic(frame, rate, salt)
    inputs = s["input"].fillna("")
    outputs = s["output"].fillna("")
    (red_in, n_in), (red_out, n_out) = redactor.redact_columns(
        inputs, outputs
    )  # a value of one is redacted in both
    codes, uniq = pd.factorize(s["session_id"].fillna(""))  # hash each session once
    session_hashes = np.asarray([h[:32] for h in _sha256_hex(uniq, session_salt)] or [""], dtype=object)
    # Columns are copied as Series (no object round-trips: those dominate the cost at 1M rows).
    out = pd.DataFrame(
        {
            **{c: s[c] for c in KEY_COLUMNS},
            "input_hash": _str_series(_sha256_hex_distinct(inputs, input_salt)),
            "input_redacted": red_in.to_pandas(),
            "output_redacted": red_out.to_pandas(),
            "input_chars": inputs.str.len().astype(np.int64),
            "output_chars": outputs.str.len().astype(np.int64),
            "latency_s": s["latency_s"].astype(float),
            "ttft_s": pd.to_numeric(s["ttft_s"], errors="coerce").astype(float),
            "input_tokens": s["input_tokens"].astype(np.int64),
            "output_tokens": s["output_tokens"].astype(np.int64),
            "session_hash": _str_series(session_hashes[codes].tolist() if len(codes) else []),
            "category": s["category"],
            "synthetic": s["synthetic"].astype(bool),
            **{f"fb_{t}": s[f"fb_{t}"].astype(bool) for t in FEEDBACK_TYPES},
            "n_feedback_events": s["n_feedback_events"].astype(np.int64),
            "pii_redactions": n_in + n_out,
        },
        columns=SAMPLE_COLUMNS,
    )
    return out


_SHARED: dict[str, Any] = {}  # "frame" (pd.DataFrame) and "redactor" (Redactor), for the forked workers


def _chunk_worker(args: tuple[int, int, float, str, str, str]) -> pd.DataFrame:
    start, stop, rate, salt, session_salt, input_salt = args
    frame: pd.DataFrame = _SHARED["frame"]
    redactor: Redactor = _SHARED["redactor"]
    return build_stored_sample(frame.iloc[start:stop], rate, salt, redactor, session_salt, input_salt)


def _build_parallel(
    frame: pd.DataFrame,
    rate: float,
    salt: str,
    redactor: Redactor,
    session_salt: str,
    input_salt: str,
    workers: int,
) -> pd.DataFrame:

    if len(frame) < 20_000 or "fork" not in mp.get_all_start_methods():
        return build_stored_sample(frame, rate, salt, redactor, session_salt, input_salt)
    bounds = np.linspace(0, len(frame), workers + 1).astype(int)
    _SHARED["frame"] = frame
    _SHARED["redactor"] = redactor  # inherited by the forked workers (NER model loaded once, in the parent)
    try:
        with ProcessPoolExecutor(workers, mp_context=mp.get_context("fork")) as ex:
            parts = list(
                ex.map(
                    _chunk_worker,
                    [
                        (int(a), int(b), rate, salt, session_salt, input_salt)
                        for a, b in zip(bounds[:-1], bounds[1:])
                    ],
                )
            )
    finally:
        _SHARED.clear()
    return pd.concat(parts, ignore_index=True)


def judge_subsample(sample: pd.DataFrame, n: int) -> pd.DataFrame:
    """At most ``n`` rows, chosen by request id hash (stable across reruns); the judge and the
    shadow candidate see this subsample."""
    if len(sample) <= n:
        return sample
    order = np.argsort(unit_hashes(sample["request_id"], "judge"), kind="stable")[:n]
    return sample.iloc[np.sort(order)].reset_index(drop=True)
