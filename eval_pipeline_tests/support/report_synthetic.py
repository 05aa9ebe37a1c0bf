"""Synthetic history aggregates for the report tests and benchmark (no warehouse, no raw scores).

``synthetic_history(n_versions, n_metrics, n_days)`` returns ``score_history`` / ``ops_history``
frames with the documented columns (``history.sql``), release / config events, and per-sample
score frames of the latest run of every version (the input the regression report's paired tests
need for the comparison matrix). Version 0 is production; metrics are spread over eval sets of
six metrics each; every version runs every day (the worst case for the report's size).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from eval_pipeline.history.sql import ALL, OPS_HISTORY_COLUMNS, SCORE_HISTORY_COLUMNS


def names(n_versions: int, n_metrics: int) -> tuple[list[str], list[tuple[str, str]]]:
    versions = [f"bot-v{i:02d}-{i * 7919 % 65536:04x}" for i in range(n_versions)]
    metrics = [(f"set_{m // 6:02d}", f"check_{m:02d}") for m in range(n_metrics)]
    return versions, metrics


def synthetic_history(
    n_versions: int = 20, n_metrics: int = 30, n_days: int = 365, n: int = 400, seed: int = 0
) -> dict[str, pd.DataFrame]:
    """``scores``, ``ops``, ``events`` frames; vectorized (one row per date x version x metric)."""
    rng = np.random.default_rng(seed)
    versions, metrics = names(n_versions, n_metrics)
    start = dt.date(2026, 1, 1)
    dates = [(start + dt.timedelta(days=d)).isoformat() for d in range(n_days)]
    D, V, M = np.meshgrid(np.arange(n_days), np.arange(n_versions), np.arange(n_metrics), indexing="ij")
    D, V, M = D.ravel(), V.ravel(), M.ravel()
    p = np.clip(0.85 - 0.01 * V + 0.02 * np.sin(D / 30 + M) - 0.0002 * D * (V % 3 == 1), 0.05, 0.99)
    k = rng.binomial(n, p)
    es = np.array([m[0] for m in metrics])[M]
    scores = pd.DataFrame(
        {
            "date": np.array(dates)[D],
            "model_version": np.array(versions)[V],
            "suite": "synthetic",
            "eval_set": es,
            "family": "deterministic",
            "metric": np.array([m[1] for m in metrics])[M],
            "segment": "__all__",
            "n_rows": n,
            "n_graded": n,
            "n_passed": k,
            "pass_rate": k / n,
            "mean_value": k / n,
            "std_value": np.sqrt(p * (1 - p)),
            "n_infra_error": 0,
        }
    ).reindex(columns=SCORE_HISTORY_COLUMNS)
    sets = sorted(set(m[0] for m in metrics))
    rows = []
    for eval_set in [ALL, *sets]:
        Dd, Vv = np.meshgrid(np.arange(n_days), np.arange(n_versions), indexing="ij")
        Dd, Vv = Dd.ravel(), Vv.ravel()
        nr = n if eval_set != ALL else n * len(sets)
        infra = rng.binomial(nr, 0.005, Dd.size)
        lat = 0.4 + 0.05 * Vv + rng.gamma(2, 0.02, Dd.size)
        rows.append(
            pd.DataFrame(
                {
                    "date": np.array(dates)[Dd],
                    "model_version": np.array(versions)[Vv],
                    "suite": ALL if eval_set == ALL else "synthetic",
                    "eval_set": eval_set,
                    "n_responses": nr,
                    "n_infra_error": infra,
                    "n_model_error": rng.binomial(nr, 0.01, Dd.size),
                    "infra_error_rate": infra / nr,
                    "latency_p50": lat,
                    "latency_p95": lat * 1.8,
                    "latency_p99": lat * 2.5,
                    "ttft_p50": lat * 0.3,
                    "ttft_p95": lat * 0.5,
                    "cost_usd": nr * 0.0004,
                    "cost_per_sample": 0.0004 * (1 + 0.1 * Vv) / (1 - infra / nr),
                    "input_tokens": nr * 300,
                    "output_tokens": nr * 80,
                    "n_live": nr,
                    "n_replay": 0,
                    "n_synthetic": 0,
                }
            )
        )
    ops = pd.concat(rows, ignore_index=True).reindex(columns=OPS_HISTORY_COLUMNS)  # columns added later: NaN
    events = pd.DataFrame(
        [
            {
                "date": d,
                "model_version": versions[0],
                "kind": "release approved",
                "label": f"{versions[0]} approved",
            }
            for d in dates[::7]
        ]
        + [
            {
                "date": dates[(i * 17) % n_days],
                "model_version": v,
                "kind": "config change",
                "label": f"{v}: prompt v{i}",
            }
            for i, v in enumerate(versions)
        ]
    )
    return {"scores": scores, "ops": ops, "events": events, "dates": dates, "versions": versions}


def latest_run_samples(version: int, n_metrics: int, n_samples: int = 200, seed: int = 0) -> pd.DataFrame:
    """Per-sample score rows (one repeat) of one version's latest run: pass probability drops with the version."""
    rng = np.random.default_rng(seed)
    _, metrics = names(version + 1, n_metrics)
    base = rng.beta(4, 1, size=(n_metrics, n_samples))  # sample difficulty, shared by every version
    p = np.clip(base - 0.01 * version, 0, 1)
    passed = rng.random(p.shape) < p
    M, S = np.meshgrid(np.arange(n_metrics), np.arange(n_samples), indexing="ij")
    return pd.DataFrame(
        {
            "suite": "synthetic",
            "eval_set": np.array([m[0] for m in metrics])[M.ravel()],
            "sample_id": [f"s{s:04d}" for s in S.ravel()],
            "repeat": 0,
            "family": "deterministic",
            "metric": np.array([m[1] for m in metrics])[M.ravel()],
            "value": passed.ravel().astype(float),
            "passed": passed.ravel(),
            "category": "(none)",
            "infra_error": None,
        }
    )
