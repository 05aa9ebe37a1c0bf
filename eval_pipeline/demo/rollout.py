"""Simulated canary rollouts as SYNTHETIC hourly production logs (demo and tests; never real users).

In: a :class:`RolloutConfig` (first hour, hours, requests per hour, canary share with a linear ramp,
the hour the canary degrades and its per-metric effects). Out: one
``<prefix>/date=YYYY-MM-DD/hour=HH/part-0000.jsonl`` file per hour with production and canary rows
built by :func:`eval_pipeline.demo.synthetic_traffic.generate_records`: every row carries
``"synthetic": true`` and the generator's metadata, ids start with ``syn-``.

Effects (canary only, from ``degrade_from_hour`` on; before it the canary equals production):
feedback probabilities (``thumbs_down``, ``regenerate``, ``copy``, ``task_completed``,
``thumbs_up``), ``latency_multiplier`` and ``error_rate`` (a request without output).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from eval_pipeline.demo.synthetic_traffic import (
    FeedbackRates,
    LatencyModel,
    SyntheticTrafficConfig,
    generate_records,
)


class RolloutConfig(BaseModel):
    """One simulated rollout of ``canary_version`` next to ``production_version``."""

    model_config = ConfigDict(extra="forbid")
    start: str = Field("2026-11-22T00:00:00Z", description="first hour (UTC, on the hour)")
    hours: int = Field(8, ge=1)
    requests_per_hour: int = Field(1000, ge=1)
    production_version: str = "prod-model@v1"
    canary_version: str = "canary-model@v2"
    share_start: float = Field(0.10, ge=0, le=1, description="canary share in the first hour")
    share_end: float = Field(0.20, ge=0, le=1, description="canary share after the ramp")
    ramp_hours: int = Field(4, ge=1, description="hours to go linearly from share_start to share_end")
    degrade_from_hour: int | None = Field(
        2, ge=0, description="0-based hour the canary degrades (null: never)"
    )
    effects: dict[str, float] = Field(default_factory=lambda: {"thumbs_down": 0.16})
    base_feedback: FeedbackRates = Field(
        default_factory=lambda: FeedbackRates(
            thumbs_up=0.30, thumbs_down=0.04, regenerate=0.05, task_completed=0.45
        )
    )
    error_rate: float = Field(0.005, ge=0, le=1, description="production's share of requests without output")
    stop_after_rollback_hour: int | None = Field(
        None, description="no canary traffic after this hour (rolled back)"
    )
    seed: int = 0

    def share(self, h: int) -> float:
        f = min(1.0, h / max(1, self.ramp_hours - 1)) if self.ramp_hours > 1 else 1.0
        return self.share_start + (self.share_end - self.share_start) * f


def _hour_records(cfg: RolloutConfig, h: int, t0: datetime) -> list[dict[str, Any]]:
    start = t0 + timedelta(hours=h)
    n_c = int(round(cfg.requests_per_hour * cfg.share(h)))
    if cfg.stop_after_rollback_hour is not None and h > cfg.stop_after_rollback_hour:
        n_c = 0
    degraded = cfg.degrade_from_hour is not None and h >= cfg.degrade_from_hour
    out = []
    for mv, n, bad in (
        (cfg.production_version, cfg.requests_per_hour - n_c, False),
        (cfg.canary_version, n_c, degraded),
    ):
        fb = cfg.base_feedback.model_copy(
            update={
                k: v
                for k, v in cfg.effects.items()
                if bad and k in ("thumbs_down", "regenerate", "thumbs_up", "task_completed")
            }
        )
        if bad and "copy" in cfg.effects:
            fb = fb.model_copy(update={"copy_": cfg.effects["copy"]})
        lat = LatencyModel(slow_multiplier=cfg.effects.get("latency_multiplier", 1.0) if bad else 1.0)
        tag = "p" if mv == cfg.production_version else "c"
        sc = SyntheticTrafficConfig(
            day=start.date().isoformat(),
            n_rows=n,
            seed=cfg.seed * 1000 + h * 2 + (tag == "c"),
            model_version=mv,
            feedback=fb,
            latency=lat,
            id_prefix=f"syn-{tag}{h:03d}",
        )
        recs, _, _ = generate_records(sc)
        rng = np.random.default_rng(cfg.seed * 7919 + h * 2 + (tag == "c"))
        offs = np.sort(rng.integers(0, 3600 * 1000, size=n))
        err = rng.random(n) < (cfg.effects.get("error_rate", cfg.error_rate) if bad else cfg.error_rate)
        for r, off, e in zip(recs, offs, err):
            ts = start + timedelta(milliseconds=int(off))
            stamp = ts.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"
            r["timestamp"] = stamp
            r["session_id"] = f"{r['session_id']}-h{h}"
            for ev in r["feedback"]:
                ev["timestamp"] = stamp
            if e:
                r["output"], r["output_tokens"] = "", 0
            out.append(r)
    out.sort(key=lambda r: r["timestamp"])
    return out


def write_rollout(
    prefix: str | Path | None, cfg: RolloutConfig, warehouse: Any = None
) -> list[dict[str, Any]]:
    """Write the rollout's hourly files under ``prefix`` (a folder) or, with ``wh``, under the warehouse
    key ``prefix`` (default ``traffic``). Idempotent. Returns ``{hour, files, n_rows, n_canary, degraded}``."""
    t0 = datetime.fromisoformat(cfg.start.replace("Z", "+00:00")).astimezone(UTC)
    out = []
    for h in range(cfg.hours):
        recs = _hour_records(cfg, h, t0)
        t = t0 + timedelta(hours=h)
        rel = f"date={t.date().isoformat()}/hour={t.hour:02d}/part-0000.jsonl"
        data = ("\n".join(json.dumps(r, ensure_ascii=False) for r in recs) + "\n").encode("utf-8")
        if warehouse is not None:
            where = warehouse.write_bytes(
                f"{(prefix or 'traffic')}/{rel}", data, content_type="application/x-ndjson"
            )
        elif prefix is None:  # before the first file is written
            raise ValueError(
                "write_rollout: give prefix (the folder to write the hourly files to) or warehouse"
            )
        else:
            path = Path(prefix) / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            where = str(path)
        n_c = sum(r["model_version"] == cfg.canary_version for r in recs)
        out.append(
            {
                "hour": t.strftime("%Y-%m-%d-%H:00"),
                "files": [where],
                "n_rows": len(recs),
                "n_canary": n_c,
                "degraded": cfg.degrade_from_hour is not None and h >= cfg.degrade_from_hour,
                "synthetic": True,
            }
        )
    return out
