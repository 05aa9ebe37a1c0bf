"""Simulated per-request canary traffic under real deployment conditions (SYNTHETIC; benchmarks, tests).

In: hours, requests per hour, the canary share per hour (a ramp), a daily cycle, session size and
intra-session correlation, per-metric canary effects. Out: per-request ``HOUR_COLUMNS`` rows, the
input of :func:`eval_pipeline.monitoring.canary.analyze_canary` (the project's own canary path).

* Traffic: ``per_hour * (1 + cycle * sin(2 pi (h + phase) / 24))`` requests in hour ``h`` (a daily cycle).
* Base rates move with the same cycle: every rate metric's production probability is multiplied by
  ``1 + cycle * sin(2 pi h / 24)`` (different users at different hours); latency by
  ``1 + cycle / 3 * sin(...)`` (load). A canary with a ramping share thus sees other hours than
  production in its cumulative cohort: the confounding a stratified comparison must remove.
* Sessions: ``session_size`` consecutive requests of one arm and hour share a session; every rate
  metric's per-session probability is ``Beta`` with intra-class correlation ``icc`` (mean = the
  hour's rate), so outcomes of one session are correlated; 0 = independent requests.
* Effects: metric -> canary probability as a multiple of production's (``{"task_completion_rate": 0.875}``)
  or, with ``absolute=True``, an additive change.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from eval_pipeline.monitoring.hourly import HOUR_COLUMNS, previous_hours

RATES = {  # metric -> (column, per-request probability, denominator column or None)
    "thumbs_down_rate": ("fb_thumbs_down", 0.10, "rated"),
    "regenerate_rate": ("fb_regenerate", 0.05, None),
    "copy_rate": ("fb_copy", 0.15, None),
    "task_completion_rate": ("fb_task_completed", 0.40, None),
    "invariant_failure_rate": ("invariant_failed", 0.02, None),
    "safety_violation_rate": ("safety_violation", 0.002, None),
    "error_rate": ("error", 0.01, None),
}
RATED = 0.40
CANARY, PRODUCTION = "canary@v2", "prod@v1"


def _draw(rng, p: np.ndarray, sessions: np.ndarray, icc: float) -> np.ndarray:
    """0/1 outcomes with per-request probability ``p``; with ``icc > 0`` one Beta draw per session
    (mean = the session's ``p``, intra-class correlation ``icc``)."""
    if icc <= 0:
        return rng.random(len(p)) < p
    ps = np.clip(p, 1e-6, 1 - 1e-6)
    k = 1 / icc - 1
    first = np.r_[True, sessions[1:] != sessions[:-1]]
    idx = np.cumsum(first) - 1
    q = rng.beta(ps[first] * k, (1 - ps[first]) * k)
    return rng.random(len(p)) < q[idx]


def rollout_rows(
    seed: int,
    hours: int = 24,
    per_hour: int = 2000,
    share=0.10,
    cycle: float = 0.0,
    session_size: int = 1,
    icc: float = 0.0,
    effects: dict[str, float] | None = None,
    phase: int = 0,
    end_hour: str = "2026-11-02-23:00",
) -> tuple[pd.DataFrame, list[str]]:
    """``(rows, hour keys)`` of one simulated rollout; ``share`` a number or a function of the hour index."""
    rng = np.random.default_rng(seed)
    keys = previous_hours(end_hour, hours)
    effects = effects or {}
    frames = []
    for h, key in enumerate(keys):
        wave = np.sin(2 * np.pi * (h + phase) / 24)
        n = int(round(per_hour * (1 + cycle * wave)))
        s = float(share(h) if callable(share) else share)
        n_c = int(rng.binomial(n, s))
        for mv, m in ((CANARY, n_c), (PRODUCTION, n - n_c)):
            if m == 0:
                continue
            sess = np.arange(m) // max(session_size, 1)
            f: dict[str, object] = {"hour": key, "model_version": mv, "u": rng.random(m)}
            lat = 1.2 * (1 + cycle / 3 * wave) * np.exp(rng.normal(0, 0.35, m))
            f["latency_s"] = lat
            f["ttft_s"] = lat * 0.25 * rng.uniform(0.6, 1.4, m)
            rated = _draw(rng, np.full(m, RATED), sess, icc)
            f["rated"] = rated
            for name, (col, p0, den) in RATES.items():
                p = p0 * (1 + cycle * wave)
                if mv == CANARY and name in effects:
                    p = p * effects[name]
                y = _draw(rng, np.full(m, min(max(p, 0.0), 1.0)), sess, icc)
                f[col] = y & rated if den == "rated" else y
            f["fb_thumbs_up"] = rated & ~f["fb_thumbs_down"]
            for col in HOUR_COLUMNS:
                f.setdefault(col, np.zeros(m, dtype=bool))
            f["invariant_checked"] = np.ones(m, bool)
            f["safety_checked"] = np.ones(m, bool)
            f["session_hash"] = np.char.add(f"{seed}-{h}-{mv}-", sess.astype(str))
            f["session_requests"] = np.full(m, max(session_size, 1))
            frames.append(pd.DataFrame(f)[HOUR_COLUMNS])
    return pd.concat(frames, ignore_index=True), keys


def ramp(start: float = 0.01, end: float = 0.50, hours: int = 24):
    """Canary share rising linearly from ``start`` to ``end`` over ``hours`` hours, then held."""
    return lambda h: start + (end - start) * min(h / max(hours - 1, 1), 1.0)
