"""Synthetic production traffic for the demo, tests and benchmark. SYNTHETIC - not real users.

Every generated row carries ``"synthetic": true`` and ``"metadata": {"synthetic": true,
"generator": "eval_pipeline.monitoring.synthetic"}``. Request ids start with ``syn-``.

Controls (:class:`SyntheticTrafficConfig`): volume, category mix (drift), input length (drift, as
extra sentences per input), PII injection rate per kind (plus Luhn-invalid decoy digit runs that
must *not* be redacted), feedback rates, latency distribution, malformed-line injection.
Deterministic by ``seed``: the same config writes byte-identical files.

Base texts are user utterances from ``/work/shared/datasets/clinc150_intent.jsonl`` (category =
CLINC domain) and ``banking77_intent.jsonl`` (category ``banking``); if those files are missing a
small built-in pool is used.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from .pii import luhn_valid

DATASET_DIR = Path(os.environ.get("EVAL_SHARED_DATASETS", "/work/shared/datasets"))
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
    echo_in_output: float = Field(0.5, ge=0, le=1, description="share of seeded values repeated in the output")


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


@dataclass
class WrittenDay:
    """What :func:`write_synthetic_day` wrote, with ground truth for tests."""

    files: list[str]
    n_rows: int  # valid rows written
    malformed: list[dict[str, Any]] = field(default_factory=list)  # {file, line, kind}
    seeded_pii: list[dict[str, str]] = field(default_factory=list)  # {kind, value, request_id}
    decoys: list[str] = field(default_factory=list)  # Luhn-invalid digit runs (must survive)


@lru_cache(maxsize=1)
def text_pool() -> dict[str, tuple[str, ...]]:
    """Category -> tuple of base user texts (CLINC150 domains + BANKING77 as ``banking``)."""
    pool: dict[str, list[str]] = {}
    for name, fixed in (("clinc150_intent.jsonl", None), ("banking77_intent.jsonl", "banking")):
        path = DATASET_DIR / name
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
    return sep.join(digits[i:i + 4] for i in range(0, len(digits), 4))


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
        return ".".join(str(x) for x in [rng.integers(11, 224), *rng.integers(0, 256, 2), rng.integers(1, 255)])
    if kind == "ipv6":
        groups = [f"{x:x}" for x in rng.integers(0, 65536, 8)]
        groups[0] = "2001"
        if rng.integers(2):
            return ":".join(groups)
        return ":".join(groups[:3]) + "::" + ":".join(groups[6:])
    raise ValueError(kind)


_PII_PHRASES = {
    "email": "my email is {}", "phone_us": "call me at {}", "phone_intl": "my number is {}",
    "card": "my card number is {}", "ipv4": "I connect from {}", "ipv6": "my address is {}",
    "card_luhn_invalid": "my order reference is {}",
}


def _feedback(rng: np.random.Generator, rates: FeedbackRates, ts: datetime) -> list[dict[str, str]]:
    events = []
    u = rng.random(5)
    if u[0] < rates.thumbs_down:
        events.append("thumbs_down")
    elif u[0] < rates.thumbs_down + rates.thumbs_up:
        events.append("thumbs_up")
    for j, kind in enumerate(("regenerate", "copy", "task_completed"), start=1):
        if u[j] < getattr(rates, "copy_" if kind == "copy" else kind):
            events.append(kind)
    return [{"type": k, "timestamp": (ts + timedelta(seconds=5 + 3 * n)).strftime("%Y-%m-%dT%H:%M:%SZ")}
            for n, k in enumerate(events)]


def generate_records(cfg: SyntheticTrafficConfig) -> tuple[list[dict[str, Any]], list[dict[str, str]], list[str]]:
    """Generate the day's valid records. Returns ``(records, seeded_pii, decoys)``."""
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
    cat_idx = rng.choice(len(cats), size=n, p=w)
    tpl_idx = rng.choice(len(tnames), size=n, p=tw)
    extra = rng.poisson(cfg.extra_sentences, size=n)
    secs = np.sort(rng.integers(0, 86400, size=n))
    lat = cfg.latency.median_s * cfg.latency.slow_multiplier * np.exp(rng.normal(0, cfg.latency.sigma, n))
    ttft = lat * cfg.latency.ttft_fraction * rng.uniform(0.6, 1.4, n)
    n_sessions = max(1, n // 3)
    sess = rng.integers(0, n_sessions, size=n)
    pii_kinds = [*PII_KINDS, "card_luhn_invalid"]
    pii_draw = rng.random((n, len(pii_kinds)))
    pii_rates = np.array([getattr(cfg.pii, k) for k in pii_kinds])
    day0 = datetime.fromisoformat(cfg.day).replace(tzinfo=timezone.utc)
    records, seeded, decoys = [], [], []
    for i in range(n):
        cat = cats[cat_idx[i]]
        texts = pool[cat]
        picks = rng.integers(0, len(texts), size=1 + int(extra[i]))
        inp = " ".join(texts[j] for j in picks)
        rid = f"{cfg.id_prefix}-{cfg.day}-{i:08d}"
        out = (f"Thanks for your question about {cat.replace('_', ' ')}. "
               f"Here is what I found: {texts[picks[0]].rstrip('?.!')} - let me walk you through it.")
        for k_i in np.flatnonzero(pii_draw[i] < pii_rates):
            kind = pii_kinds[k_i]
            val = _pii_value(kind, rng, i)
            inp += " " + _PII_PHRASES[kind].format(val) + "."
            if kind == "card_luhn_invalid":
                decoys.append(val)
            else:
                seeded.append({"kind": kind, "value": val, "request_id": rid})
                if rng.random() < cfg.pii.echo_in_output:
                    out += f" I noted {val} for you."
        ts = day0 + timedelta(seconds=int(secs[i]), milliseconds=int(rng.integers(1000)))
        records.append({
            "request_id": rid,
            "timestamp": ts.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
            "model_version": cfg.model_version,
            "model_snapshot_id": cfg.model_version,
            "config_hash": cfg.config_hash,
            "prompt_template": tnames[tpl_idx[i]],
            "input": inp,
            "output": out,
            "latency_s": round(float(lat[i]), 4),
            "ttft_s": round(float(ttft[i]), 4),
            "input_tokens": len(inp) // 4 + 1,
            "output_tokens": len(out) // 4 + 1,
            "session_id": f"{cfg.id_prefix}-sess-{sess[i]:07d}",
            "category": cat,
            "feedback": _feedback(rng, cfg.feedback, ts),
            "synthetic": True,
            "metadata": {"synthetic": True, "generator": "eval_pipeline.monitoring.synthetic"},
        })
    return records, seeded, decoys


_MALFORMED_KINDS = ("truncated_json", "missing_request_id", "bad_latency", "naive_timestamp")


def _malform(rec: dict[str, Any], kind: str) -> str:
    if kind == "truncated_json":
        s = json.dumps(rec)
        return s[: len(s) // 2]
    bad = dict(rec)
    if kind == "missing_request_id":
        bad.pop("request_id")
    elif kind == "bad_latency":
        bad["latency_s"] = "fast"
    elif kind == "naive_timestamp":
        bad["timestamp"] = rec["timestamp"].rstrip("Z")
    return json.dumps(bad)


def write_synthetic_day(prefix: str | Path, cfg: SyntheticTrafficConfig) -> WrittenDay:
    """Write ``<prefix>/date=<day>/part-NNNN.jsonl`` (overwrites the day: idempotent).

    Malformed lines (``malformed_rate``) *replace* generated rows; their file, line and kind are
    returned in ``WrittenDay.malformed``, and seeded PII of replaced rows is dropped from the truth.
    """
    records, seeded, decoys = generate_records(cfg)
    rng = np.random.default_rng(cfg.seed + 7_777_777)
    bad_rows = set(np.flatnonzero(rng.random(len(records)) < cfg.malformed_rate).tolist())
    folder = Path(prefix) / f"date={cfg.day}"
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("part-*.jsonl"):
        old.unlink()
    bounds = np.linspace(0, len(records), cfg.n_files + 1).astype(int)
    files, malformed, bad_ids = [], [], set()
    for fi in range(cfg.n_files):
        path = folder / f"part-{fi:04d}.jsonl"
        lines = []
        for line_no, r in enumerate(range(bounds[fi], bounds[fi + 1]), start=1):
            rec = records[r]
            if r in bad_rows:
                kind = _MALFORMED_KINDS[r % len(_MALFORMED_KINDS)]
                lines.append(_malform(rec, kind))
                malformed.append({"file": str(path), "line": line_no, "kind": kind})
                bad_ids.add(rec["request_id"])
            else:
                lines.append(json.dumps(rec, ensure_ascii=False))
        path.write_text("\n".join(lines) + ("\n" if lines else ""), encoding="utf-8")
        files.append(str(path))
    seeded = [s for s in seeded if s["request_id"] not in bad_ids]
    return WrittenDay(files=files, n_rows=len(records) - len(bad_rows), malformed=malformed,
                      seeded_pii=seeded, decoys=decoys)
