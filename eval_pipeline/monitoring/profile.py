"""Reference-free profile of a traffic sample: latency/TTFT percentiles and failure-mode shares.

Inputs are the stored sample (``SAMPLE_COLUMNS``) or the reader frame; the deterministic
invariants and the judge rubric are applied by the evaluators (lead wiring) and come back as
long-format scores (``eval_pipeline.project.schemas.SCORE_COLUMNS``), which
:func:`failure_mode_distribution` groups.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

DEFAULT_QUANTILES = (0.5, 0.9, 0.95, 0.99)
# Input-length buckets in characters of the raw input: [0,50), [50,100), ... [2000, inf)
LENGTH_EDGES = (0, 50, 100, 200, 500, 1000, 2000, np.inf)


def length_bucket(chars: Any, edges: Sequence[float] = LENGTH_EDGES) -> pd.Series:
    """Label each input length with its bucket (``"0-49"``, ..., ``"2000+"``)."""
    labels = [
        f"{int(lo)}-{int(hi) - 1}" if np.isfinite(hi) else f"{int(lo)}+"
        for lo, hi in zip(edges[:-1], edges[1:])
    ]
    return pd.cut(
        pd.Series(np.asarray(chars, dtype=float)), bins=list(edges), right=False, labels=labels
    ).astype("string")


def _length_column(sample: pd.DataFrame) -> np.ndarray:
    if "input_chars" in sample:
        return sample["input_chars"].to_numpy()
    return sample["input"].astype("string").str.len().to_numpy()


def latency_percentiles(
    sample: pd.DataFrame,
    by: str = "prompt_template",
    quantiles: Sequence[float] = DEFAULT_QUANTILES,
) -> pd.DataFrame:
    """Latency and TTFT percentiles per group.

    ``by`` is a column name or ``"length_bucket"`` (input-length buckets). Columns: ``by``, ``n``,
    ``latency_p50`` ... ``latency_p99``, ``ttft_p50`` ... ``ttft_p99`` (seconds; TTFT ignores nulls).
    """
    df = pd.DataFrame(
        {
            "latency_s": sample["latency_s"].to_numpy(dtype=float),
            "ttft_s": pd.to_numeric(sample["ttft_s"], errors="coerce").to_numpy(dtype=float),
        }
    )
    if by == "length_bucket":
        df[by] = length_bucket(_length_column(sample)).to_numpy()
    else:
        df[by] = sample[by].astype("string").fillna("<none>").to_numpy()
    g = df.groupby(by, sort=True, observed=True)
    out = g.size().rename("n").to_frame()
    for col, name in (("latency_s", "latency"), ("ttft_s", "ttft")):
        q = g[col].quantile(list(quantiles)).unstack()  # type: ignore[arg-type]  # pandas-stubs: q may be a list
        q.columns = [f"{name}_p{int(round(float(x) * 100))}" for x in q.columns]
        out = out.join(q)
    return out.reset_index()


def overall_latency(sample: pd.DataFrame, quantiles: Sequence[float] = DEFAULT_QUANTILES) -> dict[str, float]:
    """Whole-sample latency/TTFT percentiles, e.g. ``{"latency_p99": 3.1, "ttft_p50": 0.3, ...}``."""
    out: dict[str, float] = {"n": float(len(sample))}
    for col, name in (("latency_s", "latency"), ("ttft_s", "ttft")):
        vals = pd.to_numeric(sample[col], errors="coerce").to_numpy(dtype=float)
        vals = vals[~np.isnan(vals)]
        for q in quantiles:
            out[f"{name}_p{int(round(q * 100))}"] = float(np.quantile(vals, q)) if len(vals) else float("nan")
    return out


def mix(values: Any, name: str = "value") -> pd.DataFrame:
    """Counts and shares of a categorical column (nulls as ``<none>``), largest first."""
    s = pd.Series(values).astype("string").fillna("<none>")
    c = s.value_counts()
    return pd.DataFrame(
        {name: c.index.astype(str), "n": c.to_numpy(), "share": (c / max(len(s), 1)).to_numpy()}
    )


def failure_mode_distribution(
    scores: pd.DataFrame,
    by: Sequence[str] = ("metric",),
) -> pd.DataFrame:
    """Failure counts and shares from long-format scores (``SCORE_COLUMNS``: ``metric``, ``passed``...).

    Rows with ``infra_error`` set or ``passed`` null are not quality failures and are left out.
    Columns: ``*by``, ``n`` (evaluated), ``n_failed``, ``failure_rate`` (of evaluated),
    ``share_of_failures`` (of all failures in the table), sorted by ``n_failed`` descending.
    """
    by = list(by)
    missing = [c for c in [*by, "passed"] if c not in scores.columns]
    if missing:
        raise KeyError(
            f"scores lack columns {missing}; expected long format (eval_pipeline.project.schemas.SCORE_COLUMNS)"
        )
    df = scores
    if "infra_error" in df.columns:
        df = df[df["infra_error"].isna()]
    df = df[df["passed"].notna()]
    failed = ~df["passed"].astype(bool)
    g = pd.DataFrame({**{c: df[c].astype("string").fillna("<none>") for c in by}, "failed": failed})
    out = g.groupby(by, observed=True).agg(n=("failed", "size"), n_failed=("failed", "sum")).reset_index()
    out["failure_rate"] = out["n_failed"] / out["n"]
    total = out["n_failed"].sum()
    out["share_of_failures"] = out["n_failed"] / total if total else 0.0
    return out.sort_values(["n_failed", *by], ascending=[False, *[True] * len(by)]).reset_index(drop=True)


def profile_sample(sample: pd.DataFrame) -> dict[str, Any]:
    """One-call profile for asset metadata: overall latency, per-template and per-length-bucket
    percentiles, category / template mix and input-length summary."""
    lengths = _length_column(sample)
    return {
        "n": int(len(sample)),
        "overall": overall_latency(sample),
        "by_template": latency_percentiles(sample, "prompt_template"),
        "by_length_bucket": latency_percentiles(sample, "length_bucket"),
        "category_mix": mix(sample["category"], "category") if "category" in sample else None,
        "template_mix": mix(sample["prompt_template"], "prompt_template"),
        "input_chars": {
            "mean": float(np.mean(lengths)) if len(lengths) else float("nan"),
            "p50": float(np.median(lengths)) if len(lengths) else float("nan"),
            "p99": float(np.quantile(lengths, 0.99)) if len(lengths) else float("nan"),
        },
    }
