"""Judge metrics corrected by human labels (PPI++), for thresholds with ``estimator: ppi``.

In: one pointwise judge eval set's score rows of this run, its judge config, and the labelled
review ratings of that eval set (:func:`human_ratings`: ``data/reviews/*.jsonl|csv``, the files
``judge_calibration`` reads; one row per labelled item and dimension with the human's and the
judge's score of the same answer). Out: :func:`ppi_metrics` -> ``ppi:<dim>.mean``,
``ppi:<dim>.pass_rate`` (dimensions with a threshold) and ``ppi:pass_rate`` (every thresholded
dimension passes) as metric records: the PPI++ estimate of what the *humans* would score, its 95%
interval, and beside it the raw judge estimate and the human-only one (``raw_judge``,
``human_only``, each with its interval), ``lam``, ``n_labelled`` and ``n_unlabelled``.

Labelled pairs are (human, judge) on the reviewed answers; the unlabelled judge values are this
run's. The estimate is unbiased if the reviewed answers are a uniform random draw from the same
distribution as this run's (same judge, comparable answers); items picked for review *because*
judges disagreed are not, and the interval then covers the humans' view of those items only.
A metric needs at least 2 labelled items; without them it is absent, and a threshold on it fails
with "metric was not produced".
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from eval_pipeline.evaluators.metrics import metric_value
from eval_pipeline.evaluators.ppi import ppi_mean
from eval_pipeline.evaluators.review_calibration import labelled_review_files
from eval_pipeline.ingestion.reviews import RATING_COLUMNS, ingest_review

PREFIX = "ppi:"


def human_ratings(data_dir: str | Path, suite: str, eval_set: str) -> pd.DataFrame:
    """The labelled review ratings (``ingestion.reviews.RATING_COLUMNS``) of one eval set, with the
    judge's score of the reviewed answer; empty when there are none. A bad file raises
    ``ReviewFileError`` naming file, line and field."""

    frames = [ingest_review(p).ratings for p in labelled_review_files(data_dir)]
    frames = [f for f in frames if not f.empty]
    if not frames:
        return pd.DataFrame(columns=RATING_COLUMNS)
    r = pd.concat(frames, ignore_index=True)
    return r[(r["suite"] == suite) & (r["eval_set"] == eval_set) & r["judge"].notna()].reset_index(drop=True)


def _record(
    y: np.ndarray | list[float], yhat: np.ndarray | list[float], yu: np.ndarray | list[float], n_total: int
) -> dict[str, Any]:

    e = ppi_mean(y, yhat, yu)
    return metric_value(
        e.value,
        e.ci_low,
        e.ci_high,
        n=n_total,
        estimator="ppi++",
        lam=e.lam,
        n_labelled=e.n_labelled,
        n_unlabelled=e.n_unlabelled,
        raw_judge=e.judge[0],
        raw_judge_ci=[e.judge[1], e.judge[2]],
        human_only=e.human[0],
        human_only_ci=[e.human[1], e.human[2]],
        test="PPI++ (Angelopoulos et al. 2023), power-tuned lambda, normal 95% interval",
    )


def ppi_metrics(scores: pd.DataFrame, config: Any, ratings: pd.DataFrame | None) -> dict[str, dict[str, Any]]:
    """``ppi:<metric>`` records of a pointwise judge eval set (see module doc); {} without labels."""
    if ratings is None or len(ratings) < 2 or scores.empty:
        return {}
    rows = scores[(scores["family"] == "judge") & scores["value"].notna()]
    out: dict[str, dict[str, Any]] = {}
    for d in config.dimensions:
        lab = ratings[ratings["dimension"] == d.name]
        cur = rows[rows["metric"] == d.name]["value"].to_numpy(float)
        if len(lab) < 2 or not len(cur):
            continue
        y, yhat = lab["human"].to_numpy(float), lab["judge"].to_numpy(float)
        out[f"{PREFIX}{d.name}.mean"] = _record(y, yhat, cur, len(lab) + len(cur))
        if d.threshold is not None:
            t = d.threshold
            out[f"{PREFIX}{d.name}.pass_rate"] = _record(y >= t, yhat >= t, cur >= t, len(lab) + len(cur))
    gated = [d for d in config.dimensions if d.threshold is not None]
    if gated:
        thr = {d.name: d.threshold for d in gated}
        lab = ratings[ratings["dimension"].isin(thr)]
        keys = ["review_id"]
        full = lab.groupby(keys).filter(
            lambda g: set(g["dimension"]) == set(thr)
        )  # items labelled on every gated dimension
        cur = rows[rows["metric"].isin(thr)]
        if full["review_id"].nunique() >= 2 and len(cur):
            ok = full.assign(
                h=full["human"] >= full["dimension"].map(thr), j=full["judge"] >= full["dimension"].map(thr)
            )
            per = ok.groupby(keys)[["h", "j"]].all()
            cur_ok = (
                cur.assign(p=cur["value"] >= cur["metric"].map(thr))
                .groupby(["sample_id", "repeat"])["p"]
                .agg(lambda s: bool(s.all()) and len(s) == len(thr))
            )
            out[f"{PREFIX}pass_rate"] = _record(
                per["h"].to_numpy(float),
                per["j"].to_numpy(float),
                cur_ok.to_numpy(float),
                len(per) + len(cur_ok),
            )
    return out


def threshold_key(metric: str, estimator: str) -> str:
    """The metrics key a threshold reads: ``ppi:<metric>`` for ``estimator: ppi``."""
    return f"{PREFIX}{metric}" if estimator == "ppi" else metric
