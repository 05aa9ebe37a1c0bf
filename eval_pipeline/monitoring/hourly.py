"""One hour of production traffic as per-request numeric rows, and per-version cohort windows.

In: the production logs of one hour. Both layouts are read (same prefix as the daily monitoring,
``EVAL_TRAFFIC_PREFIX`` or ``<warehouse>/traffic``)::

    <prefix>/date=YYYY-MM-DD/hour=HH/<any>.jsonl|.parquet    (hour-partitioned: the folder decides)
    <prefix>/date=YYYY-MM-DD/<any>.jsonl|.parquet            (day files: rows kept by timestamp hour)
    <prefix>/<any>.jsonl|.parquet                            (flat: rows kept by timestamp day + hour)

(the daily reader reads ``date=<d>/`` recursively, so hour folders also feed the daily monitoring).
Every row goes through the same privacy step as the daily sample (:func:`.sampling.build_stored_sample`
at rate 1, PII redacted) and the reference-free invariants (:func:`.scoring.score_invariants`) in
memory; only numbers and flags are kept (``HOUR_COLUMNS``: no text, session id hashed).

Out: :func:`build_hour_rows` -> the ``traffic_hourly`` rows of the hour; :func:`cohort_windows`
-> per model version and window (short: the last hour, for operations; long: 24 h, for quality)
the rates, latency percentiles and session signals. An error is a request that produced no output
(empty output or zero output tokens): the log schema has no status field.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from eval_pipeline.monitoring.day import traffic_location
from eval_pipeline.monitoring.pii import redactor_for
from eval_pipeline.monitoring.sampling import build_stored_sample, unit_hashes
from eval_pipeline.monitoring.schema import FEEDBACK_TYPES
from eval_pipeline.monitoring.scoring import score_invariants
from eval_pipeline.monitoring.traffic import read_traffic_day
from eval_pipeline.project.monitoring import MonitoringConfig
from eval_pipeline.storage import keys

HOUR_COLUMNS = [
    "hour",
    "model_version",
    "u",
    "latency_s",
    "ttft_s",
    *[f"fb_{t}" for t in FEEDBACK_TYPES],
    "rated",
    "error",
    "invariant_checked",
    "invariant_failed",
    "safety_checked",
    "safety_violation",
    "session_hash",
    "session_requests",
    "continued",
    "synthetic",
]


def hour_key(ts: datetime) -> str:
    """``YYYY-MM-DD-HH:00`` (Dagster's hourly partition key format) of a UTC time."""
    return ts.astimezone(UTC).strftime("%Y-%m-%d-%H:00")


def parse_hour(key: str) -> datetime:
    """Inverse of :func:`hour_key`."""
    return datetime.strptime(key, "%Y-%m-%d-%H:%M").replace(tzinfo=UTC)


def previous_hours(key: str, n: int) -> list[str]:
    """The ``n`` hour keys ending with ``key`` (included), oldest first."""
    t = parse_hour(key)
    return [hour_key(t - timedelta(hours=i)) for i in range(n - 1, -1, -1)]


def read_traffic_hour(warehouse: Any, hour: str) -> tuple[pd.DataFrame, list[dict[str, Any]], str]:
    """Reader frame of one hour (raw text: memory only), the malformed lines and where it was read."""

    t = parse_hour(hour)
    day, hh = t.date().isoformat(), f"{t.hour:02d}"
    loc = traffic_location(warehouse)
    kw = {"warehouse": warehouse} if loc.in_warehouse else {}
    hour_prefix = keys.traffic_hour(day, hh, loc.prefix)
    frame, errors = read_traffic_day(hour_prefix, day, **kw)  # files directly in the hour folder
    where = f"{loc.display}/{keys.traffic_hour(day, hh)}"
    if not len(frame) and not errors:
        frame, errors = read_traffic_day(loc.prefix, day, **kw)
        frame = frame[frame["timestamp"].dt.hour == t.hour].reset_index(drop=True)
        where = f"{loc.display} ({day}, rows of hour {hh} by timestamp)"
    return frame, errors, where


def build_hour_rows(frame: pd.DataFrame, cfg: MonitoringConfig, hour: str) -> pd.DataFrame:
    """Per-request numeric rows (``HOUR_COLUMNS``) of one hour's reader frame."""

    if frame.empty:
        return pd.DataFrame(
            {
                c: pd.Series([], dtype="float64" if c in ("u", "latency_s", "ttft_s") else "object")
                for c in HOUR_COLUMNS
            }
        )
    sample = build_stored_sample(
        frame, 1.0, cfg.salt(), redactor_for(cfg.redaction, hour[:10]), input_salt=cfg.input_salt()
    )
    scores = score_invariants(sample, cfg, hour[:10])
    rid = sample["request_id"].astype(str)
    checked = failed = s_checked = s_failed = pd.Series(False, index=rid.to_numpy())
    if len(scores):
        sc = scores[scores["passed"].notna()]
        if "infra_error" in sc.columns:
            sc = sc[sc["infra_error"].isna()]
        fail = ~sc["passed"].astype(bool)
        safety = sc["metric"].isin(set(cfg.safety_metrics))
        checked = (~safety).groupby(sc["sample_id"]).any()
        failed = (fail & ~safety).groupby(sc["sample_id"]).any()
        s_checked = safety.groupby(sc["sample_id"]).any()
        s_failed = (fail & safety).groupby(sc["sample_id"]).any()

    def flag(s: pd.Series) -> np.ndarray:
        return s.reindex(rid.to_numpy()).fillna(False).to_numpy(dtype=bool)

    ts = pd.to_datetime(sample["timestamp"], utc=True)
    sess = sample["session_hash"].astype(str)
    order = ts.rank(method="first")
    last_in_session = order.groupby(sess).transform("max")
    out = pd.DataFrame(
        {
            "hour": hour,
            "model_version": sample["model_version"].astype(str).to_numpy(),
            "u": unit_hashes(rid, "canary"),
            "latency_s": pd.to_numeric(sample["latency_s"], errors="coerce").to_numpy(dtype=float),
            "ttft_s": pd.to_numeric(sample["ttft_s"], errors="coerce").to_numpy(dtype=float),
            **{f"fb_{t}": sample[f"fb_{t}"].to_numpy(dtype=bool) for t in FEEDBACK_TYPES},
            "rated": (
                sample["fb_thumbs_up"].to_numpy(dtype=bool) | sample["fb_thumbs_down"].to_numpy(dtype=bool)
            ),
            "error": (sample["output_chars"].to_numpy() == 0) | (sample["output_tokens"].to_numpy() == 0),
            "invariant_checked": flag(checked),
            "invariant_failed": flag(failed),
            "safety_checked": flag(s_checked),
            "safety_violation": flag(s_failed),
            "session_hash": sess.to_numpy(),
            "session_requests": sess.map(sess.value_counts()).to_numpy(dtype=int),
            "continued": (order < last_in_session).to_numpy(dtype=bool),
            "synthetic": sample["synthetic"].to_numpy(dtype=bool),
        }
    )
    return out[HOUR_COLUMNS]


def _rate(num: pd.Series, den: pd.Series | None = None) -> tuple[float, int]:
    n = int(den.sum()) if den is not None else len(num)
    k = int((num & den).sum()) if den is not None else int(num.sum())
    return (k / n if n else float("nan")), n


def cohort_windows(rows: pd.DataFrame, hour: str, short_hours: int = 1, long_hours: int = 24) -> pd.DataFrame:
    """Per model version and window (``short``: the last ``short_hours``, ``long``: ``long_hours``):
    n, thumbs-down (among rated), regenerate, copy, task completion, error, invariant failure and
    safety rates, latency p50/p95/p99, TTFT p95, mean session length and continuation rate."""
    out = []
    for window, n_h in (("short", short_hours), ("long", long_hours)):
        part = rows[rows["hour"].isin(previous_hours(hour, n_h))]
        for mv, g in part.groupby("model_version", sort=True):
            lat = g["latency_s"].dropna().to_numpy(dtype=float)
            ttft = g["ttft_s"].dropna().to_numpy(dtype=float)
            sessions = g.drop_duplicates("session_hash")
            out.append(
                {
                    "window": f"{window} ({n_h}h)",
                    "model_version": mv,
                    "n": len(g),
                    "thumbs_down_rate": _rate(g["fb_thumbs_down"].astype(bool), g["rated"].astype(bool))[0],
                    "regenerate_rate": g["fb_regenerate"].astype(bool).mean(),
                    "copy_rate": g["fb_copy"].astype(bool).mean(),
                    "task_completion_rate": g["fb_task_completed"].astype(bool).mean(),
                    "error_rate": g["error"].astype(bool).mean(),
                    "invariant_failure_rate": _rate(
                        g["invariant_failed"].astype(bool), g["invariant_checked"].astype(bool)
                    )[0],
                    "safety_violation_rate": _rate(
                        g["safety_violation"].astype(bool), g["safety_checked"].astype(bool)
                    )[0],
                    "latency_p50_s": float(np.quantile(lat, 0.5)) if len(lat) else np.nan,
                    "latency_p95_s": float(np.quantile(lat, 0.95)) if len(lat) else np.nan,
                    "latency_p99_s": float(np.quantile(lat, 0.99)) if len(lat) else np.nan,
                    "ttft_p95_s": float(np.quantile(ttft, 0.95)) if len(ttft) else np.nan,
                    "session_length": float(sessions["session_requests"].mean()) if len(sessions) else np.nan,
                    "session_continuation_rate": g["continued"].astype(bool).mean(),
                }
            )
    return pd.DataFrame(out)
