"""Synthetic traffic days as files: SYNTHETIC - not real users.

In: a :class:`~eval_pipeline.demo.synthetic_traffic.SyntheticTrafficConfig` (or, for the demo, a
day, a seed and a size). Out: :func:`write_synthetic_day` writes ``<prefix>/date=<day>/part-NNNN.jsonl``
(malformed lines injected at ``malformed_rate``, returned with their file, line and kind in a
:class:`WrittenDay`); :func:`write_demo_traffic` writes the demo's days under the traffic prefix
(``EVAL_TRAFFIC_PREFIX`` or ``<warehouse>/traffic``), the last one drifted (:func:`demo_day_config`).
Deterministic and idempotent: the same config writes byte-identical files.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from eval_pipeline.demo.synthetic_traffic import (
    FeedbackRates,
    PiiRates,
    SyntheticTrafficConfig,
    generate_records,
    text_pool,
)
from eval_pipeline.monitoring.day import previous_days, traffic_location
from eval_pipeline.monitoring.settings import TRAFFIC_PREFIX_ENV
from eval_pipeline.storage.location import Location


@dataclass
class WrittenDay:
    """What :func:`write_synthetic_day` wrote, with ground truth for tests."""

    files: list[str]
    n_rows: int  # valid rows written
    malformed: list[dict[str, Any]] = field(default_factory=list)  # {file, line, kind}
    seeded_pii: list[dict[str, str]] = field(default_factory=list)  # {kind, value, request_id}
    decoys: list[str] = field(default_factory=list)  # Luhn-invalid digit runs (must survive)


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
    return WrittenDay(
        files=files,
        n_rows=len(records) - len(bad_rows),
        malformed=malformed,
        seeded_pii=seeded,
        decoys=decoys,
    )


# ---------------------------------------------------------------- demo days in the warehouse


def demo_day_config(day: str, seed: int, n_rows: int, drifted: bool) -> SyntheticTrafficConfig:
    """The synthetic-traffic config of one demo day; ``drifted`` shifts the category mix to a few
    travel-like categories, makes inputs longer and users unhappier (a drift and a behaviour drop)."""
    pii = PiiRates(
        email=0.02,
        phone_us=0.02,
        phone_intl=0.01,
        card=0.01,
        ipv4=0.01,
        ipv6=0.005,
        card_luhn_invalid=0.01,
        echo_in_output=0.0,
    )
    # Normal days well below the default thumbs-down warn level (15% of rated requests).
    fb = FeedbackRates(thumbs_up=0.25, thumbs_down=0.02, regenerate=0.05, task_completed=0.45)
    cfg = SyntheticTrafficConfig(
        day=day, n_rows=n_rows, seed=seed, pii=pii, feedback=fb, malformed_rate=0.002
    )
    if drifted:
        cats = list(text_pool())
        shifted = cats[: max(1, min(3, len(cats)))]
        cfg = cfg.model_copy(
            update={
                "category_weights": {c: 1.0 for c in shifted},
                "extra_sentences": 2.0,
                "feedback": cfg.feedback.model_copy(
                    update={"thumbs_down": 0.06, "thumbs_up": 0.04, "regenerate": 0.12}
                ),
            }
        )
    return cfg


def write_demo_traffic(
    warehouse: Any,
    days: int = 8,
    end_date: str | None = None,
    seed: int = 0,
    n_rows: int = 2000,
    drift_last_day: bool = True,
) -> list[dict[str, Any]]:
    """Write ``days`` days of SYNTHETIC production traffic ending at ``end_date`` (default: yesterday,
    UTC) under the traffic prefix (``EVAL_TRAFFIC_PREFIX`` or ``<warehouse>/traffic``), with a drift
    on the last day. Every row is labelled synthetic. Idempotent (same seed -> same files).

    Returns one ``{day, files, n_rows, malformed, seeded_pii, drifted}`` summary per day.
    """
    end = end_date or (datetime.now(UTC).date() - timedelta(days=1)).isoformat()
    dates = [*previous_days(end, days - 1), end] if days > 1 else [end]
    loc = traffic_location(warehouse)
    if not loc.in_warehouse and Location.parse(loc.prefix).scheme:
        raise ValueError(
            f"{TRAFFIC_PREFIX_ENV}={loc.prefix} is outside the warehouse on object storage; the demo "
            "writes local folders or warehouse prefixes only"
        )
    out = []
    for i, day in enumerate(dates):
        drifted = drift_last_day and i == len(dates) - 1
        cfg = demo_day_config(day, seed + i, n_rows, drifted)
        if loc.in_warehouse:
            with tempfile.TemporaryDirectory() as tmp:
                written = write_synthetic_day(tmp, cfg)
                for old in warehouse.list_keys(f"{loc.prefix}/date={day}/"):
                    warehouse.delete(old)
                files = []
                for f in written.files:
                    key = f"{loc.prefix}/date={day}/{Path(f).name}"
                    files.append(
                        warehouse.write_bytes(key, Path(f).read_bytes(), content_type="application/x-ndjson")
                    )
        else:
            written = write_synthetic_day(loc.prefix, cfg)
            files = written.files
        out.append(
            {
                "day": day,
                "files": files,
                "n_rows": written.n_rows,
                "malformed": len(written.malformed),
                "seeded_pii": len(written.seeded_pii),
                "drifted": drifted,
                "synthetic": True,
            }
        )
    return out
