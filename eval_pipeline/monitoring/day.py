"""One day's stored sample in the warehouse, and the reference window of earlier days.

In: the day's production logs (``EVAL_TRAFFIC_PREFIX``, default ``<warehouse>/traffic``, read by
:mod:`.traffic`) and the :class:`~.config.MonitoringConfig` (rate, salts, redaction).
Out: ``traffic_sample/date=<d>/data.parquet`` (hashes + redacted text only, see :mod:`.sampling`)
and ``reports/monitoring/date=<d>/malformed.json`` (:func:`build_day_sample`, :func:`write_day_sample`);
every later step reads that sample back with :func:`read_sample`, and earlier days' partitions of
any day table with :func:`reference_dates` + :func:`read_window`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date as date_type
from datetime import timedelta
from typing import Any

import pandas as pd

from eval_pipeline.monitoring.pii import redactor_for
from eval_pipeline.monitoring.sampling import build_stored_sample
from eval_pipeline.monitoring.schema import FEEDBACK_TYPES, SAMPLE_COLUMNS
from eval_pipeline.monitoring.settings import SAMPLE_TABLE, TRAFFIC_PREFIX_ENV
from eval_pipeline.monitoring.traffic import read_traffic_day
from eval_pipeline.project.monitoring import MonitoringConfig
from eval_pipeline.storage import keys
from eval_pipeline.storage.location import Location


@dataclass
class TrafficLocation:
    """Where the production logs are read from: a key prefix inside the warehouse, or a path/URI."""

    prefix: str
    in_warehouse: bool
    display: str


def traffic_location(warehouse: Any) -> TrafficLocation:
    """``EVAL_TRAFFIC_PREFIX`` (a prefix under the warehouse root is read through the warehouse, so
    S3 endpoints and credentials apply), else ``<warehouse>/traffic``."""
    env = (os.environ.get(TRAFFIC_PREFIX_ENV) or "").rstrip("/")
    root = warehouse.root.rstrip("/")
    if not env:
        return TrafficLocation(keys.TRAFFIC_PREFIX, True, f"{root}/{keys.TRAFFIC_PREFIX}")
    norm = env if Location.parse(env).scheme else os.path.abspath(env)
    if norm == root or norm.startswith(root + "/"):
        return TrafficLocation(norm[len(root) :].strip("/"), True, norm)
    return TrafficLocation(norm, False, norm)


@dataclass
class DaySample:
    """The stored (sampled, redacted) sample of one day and what was wrong with the logs."""

    day: str
    sample: pd.DataFrame  # SAMPLE_COLUMNS
    errors: list[dict[str, Any]]  # {file, line, error}, messages redacted
    n_read: int
    rate: float
    location: str


def build_day_sample(warehouse: Any, day: str, cfg: MonitoringConfig) -> DaySample:
    """Read one day of logs, sample deterministically, redact PII. Raw text stays in memory only."""
    loc = traffic_location(warehouse)
    if loc.in_warehouse:
        frame, errors = read_traffic_day(loc.prefix, day, warehouse=warehouse)
    else:
        frame, errors = read_traffic_day(loc.prefix, day)
    redactor = redactor_for(cfg.redaction, day)
    rate = cfg.effective_rate()
    if len(frame):
        sample = build_stored_sample(frame, rate, cfg.salt(), redactor, input_salt=cfg.input_salt())
    else:  # an empty day still writes its (empty, typed) partition
        sample = empty_sample()
    n_read = len(frame)
    del frame
    sample["date"] = day  # the partition decides the day (late events stay with the file's day)
    if errors:  # error texts are ours, but never let a log line's content through unredacted
        red, _ = redactor.redact_series([e["error"] for e in errors])
        errors = [{**e, "error": r} for e, r in zip(errors, red)]
    return DaySample(day, sample, errors, n_read, rate, loc.display)


def write_day_sample(warehouse: Any, ds: DaySample) -> dict[str, str]:
    """Write the stored sample (always, even empty) and the full malformed-line list; returns URIs."""
    uri = warehouse.write_table(SAMPLE_TABLE, ds.sample, keys.day_partition(ds.day))
    payload = {
        "day": ds.day,
        "location": ds.location,
        "n_read": ds.n_read,
        "n_malformed": len(ds.errors),
        "errors": ds.errors,
    }
    err_uri = warehouse.write_bytes(
        keys.monitoring_report(ds.day, "malformed.json"),
        json.dumps(payload, indent=1, default=str).encode("utf-8"),
        content_type="application/json",
    )
    return {"sample": uri, "malformed": err_uri}


_SAMPLE_DTYPES = {
    "input_chars": "int64",
    "output_chars": "int64",
    "latency_s": "float64",
    "ttft_s": "float64",
    "input_tokens": "int64",
    "output_tokens": "int64",
    "synthetic": "bool",
    "n_feedback_events": "int64",
    "pii_redactions": "int64",
    "timestamp": "datetime64[ns, UTC]",
}


def empty_sample() -> pd.DataFrame:
    """A zero-row stored sample with the column types of a real one (strings as str)."""
    dtypes = {**_SAMPLE_DTYPES, **{f"fb_{t}": "bool" for t in FEEDBACK_TYPES}}
    return pd.DataFrame({c: pd.Series([], dtype=dtypes.get(c, "str")) for c in SAMPLE_COLUMNS})


def read_sample(warehouse: Any, day: str) -> pd.DataFrame:
    """The stored sample of ``day`` (empty frame if the partition was never written)."""
    df = warehouse.read_table(SAMPLE_TABLE, keys.day_partition(day))
    return df if len(df.columns) else empty_sample()


def previous_days(day: str, n: int) -> list[str]:
    """The ``n`` dates before ``day``, oldest first."""
    d = date_type.fromisoformat(day)
    return [(d - timedelta(days=i)).isoformat() for i in range(n, 0, -1)]


def reference_dates(warehouse: Any, table: str, day: str, n: int) -> list[str]:
    """Dates of the ``n``-day window before ``day`` that have a partition of ``table``."""
    have = {p.get("date") for p in warehouse.list_partitions(table)}
    return [d for d in previous_days(day, n) if d in have]


def read_window(warehouse: Any, table: str, dates: Sequence[str]) -> pd.DataFrame:
    """The partitions of ``table`` for ``dates`` that have rows, concatenated (empty frame if none)."""
    frames = [warehouse.read_table(table, keys.day_partition(d)) for d in dates]
    frames = [f for f in frames if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def reference_window(warehouse: Any, table: str, day: str, n: int) -> tuple[list[str], pd.DataFrame]:
    """``(dates, rows)`` of the ``n``-day window of ``table`` before ``day`` (only dates that have a partition)."""
    dates = reference_dates(warehouse, table, day, n)
    return dates, read_window(warehouse, table, dates)
