"""Synthetic production traffic for the demo, tests and benchmark. SYNTHETIC - not real users.

Every generated row carries ``"synthetic": true`` and ``"metadata": {"synthetic": true,
"generator": "eval_pipeline.demo.synthetic_traffic"}``. Request ids start with ``syn-``.

Controls (:class:`SyntheticTrafficConfig`): volume, category mix (drift), input length (drift, as
extra sentences per input), PII injection rate per kind (plus Luhn-invalid decoy digit runs that
must *not* be redacted), feedback rates, latency distribution, malformed-line injection.
Deterministic by ``seed``: the same config writes byte-identical files.

Base texts are user utterances from ``data/synthetic/clinc150_intent.jsonl`` (category =
CLINC domain) and ``banking77_intent.jsonl`` (category ``banking``); if those files are missing a
small built-in pool is used.

Files (one JSONL folder per day, malformed lines, the demo's days in the warehouse) are written
by :mod:`eval_pipeline.demo.traffic_days`. Simulated canary rollouts (share ramp, degradation hour,
per-metric effects; hourly files) are built on this generator in ``eval_pipeline/demo/rollout.py``.
Not part of the serving path: no asset imports this module.
"""

from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from eval_pipeline.monitoring.pii_recognizers import luhn_valid
from eval_pipeline.monitoring.schema import FEEDBACK_TYPES, RECORD_FIELDS, TRAFFIC_COLUMNS

DATASET_DIR = Path(
    os.environ.get("EVAL_SYNTHETIC_TEXTS_DIR", Path(__file__).resolve().parents[2] / "data" / "synthetic")
)
PII_KINDS = ("email", "phone_us", "phone_intl", "card", "ipv4", "ipv6")

_FALLBACK = {
    "banking": ["My card has not arrived yet.", "How do I top up my account?", "Why was I charged twice?"],
    "travel": ["Book a flight to Boston next Friday.", "What is the weather in Rome?", "Do I need a visa?"],
    "small_talk": ["How are you today?", "Tell me a joke.", "What do you like to do?"],
}


class PiiRates(BaseModel):
    """Probability that a row's input gets one seeded value of each kind."""

    model_config = ConfigDict(extra="forbid")
    email: float = Field(0.0, ge=0, le=1)
    phone_us: float = Field(0.0, ge=0, le=1)
    phone_intl: float = Field(0.0, ge=0, le=1)
    card: float = Field(0.0, ge=0, le=1)
    ipv4: float = Field(0.0, ge=0, le=1)
    ipv6: float = Field(0.0, ge=0, le=1)
    card_luhn_invalid: float = Field(0.0, ge=0, le=1, description="decoy digit runs that must survive")
    echo_in_output: float = Field(
        0.5, ge=0, le=1, description="share of seeded values repeated in the output"
    )


class FeedbackRates(BaseModel):
    """Probability of each feedback event per request (thumbs up/down are exclusive)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    thumbs_up: float = Field(0.10, ge=0, le=1)
    thumbs_down: float = Field(0.02, ge=0, le=1)
    regenerate: float = Field(0.05, ge=0, le=1)
    copy_: float = Field(0.15, ge=0, le=1, alias="copy")  # ``copy`` would shadow BaseModel.copy
    task_completed: float = Field(0.40, ge=0, le=1)


class LatencyModel(BaseModel):
    """Log-normal latency; TTFT is a fixed-ish fraction of it."""

    model_config = ConfigDict(extra="forbid")
    median_s: float = Field(1.2, gt=0)
    sigma: float = Field(0.35, gt=0)
    ttft_fraction: float = Field(0.25, gt=0, le=1)
    slow_multiplier: float = Field(1.0, gt=0, description="multiplies every latency (degradation demo)")


class SyntheticTrafficConfig(BaseModel):
    """Everything that shapes one synthetic day."""

    model_config = ConfigDict(extra="forbid")
    day: str = "2025-06-01"
    n_rows: int = Field(1000, ge=0)
    seed: int = 0
    model_version: str = "prod-model@v1"
    config_hash: str = "cfg-synthetic-0001"
    prompt_templates: dict[str, float] = Field(default_factory=lambda: {"support_v3": 0.7, "faq_v1": 0.3})
    category_weights: dict[str, float] | None = None  # None: uniform over the pool's categories
    extra_sentences: float = Field(0.3, ge=0, description="mean extra sentences per input (Poisson)")
    pii: PiiRates = Field(default_factory=PiiRates)
    feedback: FeedbackRates = Field(default_factory=FeedbackRates)
    latency: LatencyModel = Field(default_factory=LatencyModel)
    malformed_rate: float = Field(0.0, ge=0, le=1)
    n_files: int = Field(1, ge=1)
    id_prefix: str = "syn"


@lru_cache(maxsize=1)
def text_pool() -> dict[str, tuple[str, ...]]:
    """Category -> tuple of base user texts (CLINC150 domains + BANKING77 as ``banking``)."""
    pool: dict[str, list[str]] = {}
    for name, fixed in (("clinc150_intent.jsonl", None), ("banking77_intent.jsonl", "banking")):
        path = DATASET_DIR / name
        if not path.exists():
            path = DATASET_DIR.parent / "golden" / name  # banking77 is one of the demo golden sets
        if not path.exists():
            continue
        with open(path, encoding="utf-8") as f:
            for line in f:
                d = json.loads(line)
                cat = fixed or (d.get("metadata") or {}).get("category") or "other"
                pool.setdefault(cat, []).append(str(d["input"]))
    if not pool:
        pool = {k: list(v) for k, v in _FALLBACK.items()}
    return {k: tuple(v) for k, v in sorted(pool.items())}


def _luhn_complete(body: str) -> str:
    for d in "0123456789":
        if luhn_valid(body + d):
            return body + d
    raise AssertionError("unreachable")


def _group(digits: str, rng: np.random.Generator) -> str:
    style = rng.integers(3)
    if style == 0:
        return digits
    sep = " " if style == 1 else "-"
    return sep.join(digits[i : i + 4] for i in range(0, len(digits), 4))


def _pii_value(kind: str, rng: np.random.Generator, i: int) -> str:
    """One unique, realistic-looking value of ``kind`` (``i`` makes it unique per row)."""
    if kind == "email":
        return f"user{i}.{rng.integers(10**6)}@example{rng.integers(100)}.com"
    if kind == "phone_us":
        a, b, c = rng.integers(200, 1000), rng.integers(200, 1000), (i * 7919 + rng.integers(10**4)) % 10**4
        fmt = rng.integers(3)
        return (f"({a}) {b}-{c:04d}", f"{a}-{b}-{c:04d}", f"{a}.{b}.{c:04d}")[fmt]
    if kind == "phone_intl":
        return f"+44 20 {rng.integers(1000, 10000)} {(i * 31 + rng.integers(10**4)) % 10**4:04d}"
    if kind == "card":
        body = "4" + "".join(str(x) for x in rng.integers(0, 10, 14))
        return _group(_luhn_complete(body), rng)
    if kind == "card_luhn_invalid":
        good = _luhn_complete("5" + "".join(str(x) for x in rng.integers(0, 10, 14)))
        bad = good[:-1] + str((int(good[-1]) + 1 + rng.integers(9)) % 10)
        return _group(bad, rng)
    if kind == "ipv4":
        return ".".join(
            str(x) for x in [rng.integers(11, 224), *rng.integers(0, 256, 2), rng.integers(1, 255)]
        )
    if kind == "ipv6":
        groups = [f"{x:x}" for x in rng.integers(0, 65536, 8)]
        groups[0] = "2001"
        if rng.integers(2):
            return ":".join(groups)
        return ":".join(groups[:3]) + "::" + ":".join(groups[6:])
    raise ValueError(kind)


_PII_PHRASES = {
    "email": "my email is {}",
    "phone_us": "call me at {}",
    "phone_intl": "my number is {}",
    "card": "my card number is {}",
    "ipv4": "I connect from {}",
    "ipv6": "my address is {}",
    "card_luhn_invalid": "my order reference is {}",
}


_FB_ORDER = ("thumbs_up", "thumbs_down", "regenerate", "copy", "task_completed")


def _feedback_flags(rng: np.random.Generator, rates: FeedbackRates, n: int) -> dict[str, np.ndarray]:
    """Boolean per event type and row (thumbs up/down exclusive)."""
    u = rng.random((n, 4))
    down = u[:, 0] < rates.thumbs_down
    up = ~down & (u[:, 0] < rates.thumbs_down + rates.thumbs_up)
    return {
        "thumbs_up": up,
        "thumbs_down": down,
        "regenerate": u[:, 1] < rates.regenerate,
        "copy": u[:, 2] < rates.copy_,
        "task_completed": u[:, 3] < rates.task_completed,
    }


def _iso_ms(ts: np.ndarray) -> np.ndarray:
    return np.char.add(np.datetime_as_string(ts, unit="ms"), "Z")


def generate_columns(cfg: SyntheticTrafficConfig) -> tuple[dict[str, Any], list[dict[str, str]], list[str]]:
    """Generate the day column-wise (fast). Returns ``(columns, seeded_pii, decoys)``.

    ``columns`` holds the log fields as lists/arrays plus ``fb_<type>`` booleans and, in
    ``feedback``, the event lists of each row.
    """
    rng = np.random.default_rng(cfg.seed)
    pool = text_pool()
    cats = list(pool)
    if cfg.category_weights:
        unknown = [c for c in cfg.category_weights if c not in pool]
        if unknown:
            raise ValueError(f"category_weights has unknown categories {unknown}; known: {cats}")
        cats = list(cfg.category_weights)
        w = np.array([cfg.category_weights[c] for c in cats], dtype=float)
    else:
        w = np.ones(len(cats))
    w = w / w.sum()
    tnames = list(cfg.prompt_templates)
    tw = np.array([cfg.prompt_templates[t] for t in tnames], dtype=float)
    tw = tw / tw.sum()
    n = cfg.n_rows
    flat = np.array([t for c in cats for t in pool[c]], dtype=object)
    sizes = np.array([len(pool[c]) for c in cats])
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    cat_idx = rng.choice(len(cats), size=n, p=w)
    first = offsets[cat_idx] + (rng.random(n) * sizes[cat_idx]).astype(int)
    extra = rng.poisson(cfg.extra_sentences, size=n)
    secs = np.sort(rng.integers(0, 86400 * 1000, size=n))
    lat = cfg.latency.median_s * cfg.latency.slow_multiplier * np.exp(rng.normal(0, cfg.latency.sigma, n))
    ttft = lat * cfg.latency.ttft_fraction * rng.uniform(0.6, 1.4, n)
    sess = rng.integers(0, max(1, n // 3), size=n)
    tpl = np.asarray(tnames, dtype=object)[rng.choice(len(tnames), size=n, p=tw)]
    cat_arr = np.asarray(cats, dtype=object)[cat_idx]
    firsts = flat[first]
    inputs = firsts.copy()
    for i in np.flatnonzero(extra):
        more = offsets[cat_idx[i]] + rng.integers(0, sizes[cat_idx[i]], size=int(extra[i]))
        inputs[i] = " ".join([inputs[i], *flat[more]])
    outputs = np.array(
        [
            f"Thanks for your question about {c.replace('_', ' ')}. Here is what I found: "
            f"{t.rstrip('?.!')} - let me walk you through it."
            for c, t in zip(cat_arr, firsts)
        ],
        dtype=object,
    )
    rids = np.array([f"{cfg.id_prefix}-{cfg.day}-{i:08d}" for i in range(n)], dtype=object)
    pii_kinds = [*PII_KINDS, "card_luhn_invalid"]
    pii_rates = np.array([getattr(cfg.pii, k) for k in pii_kinds])
    seeded: list[dict[str, str]] = []
    decoys: list[str] = []
    if pii_rates.any():
        draw = rng.random((n, len(pii_kinds))) < pii_rates
        for i in np.flatnonzero(draw.any(axis=1)):
            for k_i in np.flatnonzero(draw[i]):
                kind = pii_kinds[k_i]
                val = _pii_value(kind, rng, int(i))
                inputs[i] += " " + _PII_PHRASES[kind].format(val) + "."
                if kind == "card_luhn_invalid":
                    decoys.append(val)
                else:
                    seeded.append({"kind": kind, "value": val, "request_id": rids[i]})
                    if rng.random() < cfg.pii.echo_in_output:
                        outputs[i] += f" I noted {val} for you."
    day0 = np.datetime64(cfg.day, "ms")
    ts = day0 + secs.astype("timedelta64[ms]")
    flags = _feedback_flags(rng, cfg.feedback, n)
    fb_ts = _iso_ms(ts + np.timedelta64(5, "s"))
    feedback: list[list[dict[str, str]]] = [[] for _ in range(n)]
    for kind in _FB_ORDER:
        for i in np.flatnonzero(flags[kind]):
            feedback[i].append({"type": kind, "timestamp": fb_ts[i]})
    in_len = np.fromiter((len(x) for x in inputs), dtype=np.int64, count=n)
    out_len = np.fromiter((len(x) for x in outputs), dtype=np.int64, count=n)
    cols = {
        "request_id": rids,
        "timestamp": _iso_ms(ts),
        "model_version": cfg.model_version,
        "model_snapshot_id": cfg.model_version,
        "config_hash": cfg.config_hash,
        "prompt_template": tpl,
        "input": inputs,
        "output": outputs,
        "latency_s": np.round(lat, 4),
        "ttft_s": np.round(ttft, 4),
        "input_tokens": in_len // 4 + 1,
        "output_tokens": out_len // 4 + 1,
        "session_id": np.array([f"{cfg.id_prefix}-sess-{x:07d}" for x in sess], dtype=object),
        "category": cat_arr,
        "feedback": feedback,
        **{f"fb_{k}": flags[k] for k in _FB_ORDER},
    }
    return cols, seeded, decoys


_RECORD_KEYS = ("request_id", "timestamp", *RECORD_FIELDS, "feedback")
_META = {"synthetic": True, "generator": "eval_pipeline.demo.synthetic_traffic"}


def generate_records(
    cfg: SyntheticTrafficConfig,
) -> tuple[list[dict[str, Any]], list[dict[str, str]], list[str]]:
    """Generate the day's valid log records (JSON-ready dicts). Returns ``(records, seeded_pii, decoys)``."""
    cols, seeded, decoys = generate_columns(cfg)
    n = cfg.n_rows

    def val(k: str, i: int) -> Any:
        v = cols[k]
        if isinstance(v, str):
            return v
        x = v[i]
        return x.item() if isinstance(x, np.generic) else x

    records = [
        {**{k: val(k, i) for k in _RECORD_KEYS}, "synthetic": True, "metadata": dict(_META)} for i in range(n)
    ]
    return records, seeded, decoys


def generate_frame(cfg: SyntheticTrafficConfig) -> tuple[pd.DataFrame, list[dict[str, str]], list[str]]:
    """Generate the day directly as a reader-format frame (``TRAFFIC_COLUMNS``), skipping files.

    For benchmarks and drift experiments; equals what :func:`read_traffic_day` returns for the
    written day (apart from ``source_file`` / ``source_line``).
    """
    cols, seeded, decoys = generate_columns(cfg)
    n = cfg.n_rows
    frame = pd.DataFrame(
        {
            "request_id": cols["request_id"],
            "timestamp": pd.to_datetime(pd.Series(cols["timestamp"]), utc=True, format="ISO8601"),
            "date": cfg.day,
            **{k: cols[k] for k in RECORD_FIELDS},
            "synthetic": True,
            **{f"fb_{k}": cols[f"fb_{k}"] for k in FEEDBACK_TYPES},
            "n_feedback_events": np.fromiter((len(f) for f in cols["feedback"]), dtype=np.int64, count=n),
            "source_file": "<generated>",
            "source_line": np.arange(1, n + 1),
        },
        columns=TRAFFIC_COLUMNS,
    )
    return frame, seeded, decoys
