"""Judge changes: a judge metric is only comparable over time while the judge stays the same.

In: the ``score_history`` table (its ``judge_model`` / ``rubric_hash`` columns), or two runs' judge
score rows (their ``evaluator_hash``: judge model + rubric + prompt + sampling). Out:

* :func:`judge_changes` - one row per (suite, eval set, model version) and date where the judge
  identity differs from the previous date's: :data:`JUDGE_CHANGE_COLUMNS` (the history report and
  the trend charts draw a marker there).
* :func:`judge_segments` - a segment number per point of one series (a new segment at every judge
  change): control charts recompute their limits per segment
  (:func:`eval_pipeline.history.control_charts.segmented_chart`).
* :func:`refuse_mixed_judges` - before a regression report: judge rows of an eval set whose two runs
  were judged by different judges are taken out of the comparison and reported as refused rows
  (verdict ``insufficient_data``, never gating), unless both were (re-)judged by the same one: to
  compare, re-score the baseline's stored responses with the new judge (``rescore_job`` on the
  baseline's partition).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

JUDGE_CHANGE_COLUMNS = [
    "date",
    "suite",
    "eval_set",
    "model_version",
    "judge_model",
    "rubric_hash",
    "previous_judge_model",
    "previous_rubric_hash",
]
JUDGE_FAMILY = "judge"


def _identity(frame: pd.DataFrame) -> pd.Series:
    jm = frame["judge_model"].astype("string").fillna("")
    rh = frame["rubric_hash"].astype("string").fillna("")
    return jm + "@" + rh


def judge_changes(history: pd.DataFrame) -> pd.DataFrame:
    """Dates where a judge eval set's judge (model or rubric hash) changed, per model version series.

    ``history`` is ``score_history`` (rows of family ``judge``; rows without a recorded judge - written
    before it was recorded - are ignored). The first date of a series is not a change."""
    if history is None or len(history) == 0 or "judge_model" not in history:
        return pd.DataFrame(columns=JUDGE_CHANGE_COLUMNS)
    h = history[(history["family"] == JUDGE_FAMILY) & history["judge_model"].notna()]
    if "segment" in h:
        h = h[h["segment"] == "__all__"]
    h = (
        h.assign(date=h["date"].astype(str))
        .groupby(["suite", "eval_set", "model_version", "date"], sort=True)[["judge_model", "rubric_hash"]]
        .first()
        .reset_index()
    )
    out = []
    for _, g in h.groupby(["suite", "eval_set", "model_version"], sort=True):
        ident = _identity(g).to_numpy()
        for i in range(1, len(g)):
            if ident[i] != ident[i - 1]:
                r, p = g.iloc[i], g.iloc[i - 1]
                out.append(
                    {
                        "date": r["date"],
                        "suite": r["suite"],
                        "eval_set": r["eval_set"],
                        "model_version": r["model_version"],
                        "judge_model": r["judge_model"],
                        "rubric_hash": r["rubric_hash"],
                        "previous_judge_model": p["judge_model"],
                        "previous_rubric_hash": p["rubric_hash"],
                    }
                )
    return pd.DataFrame(out, columns=JUDGE_CHANGE_COLUMNS)


def judge_segments(judge_model: Any, rubric_hash: Any) -> np.ndarray:
    """Segment id per point of a date-ordered series: +1 at every change of (judge model, rubric hash).
    Points without a recorded judge continue the current segment."""
    jm = pd.Series([None if pd.isna(v) else str(v) for v in judge_model], dtype=object)
    rh = pd.Series(["" if pd.isna(v) else str(v) for v in rubric_hash], dtype=object)
    ident = (jm.fillna("") + "@" + rh).where(jm.notna()).ffill().fillna("").to_numpy()
    changed = np.concatenate([[False], ident[1:] != ident[:-1]]) if len(ident) else np.zeros(0, bool)
    return np.cumsum(changed).astype(int)


def _hashes(scores: pd.DataFrame) -> dict[tuple[str, str], set[str]]:
    j = scores[(scores["family"] == JUDGE_FAMILY)] if "family" in scores else scores.iloc[0:0]
    if "evaluator_hash" not in j or j.empty:
        return {}
    out: dict[tuple[str, str], set[str]] = {}
    for (suite, es), g in j.groupby(["suite", "eval_set"], sort=True):
        out[(str(suite), str(es))] = set(g["evaluator_hash"].dropna().astype(str))
    return out


def refuse_mixed_judges(
    candidate: pd.DataFrame, baseline: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame, list[dict[str, Any]]]:
    """Drop judge rows of eval sets judged by different judges in the two runs.

    Returns ``(candidate, baseline, refused)``; ``refused`` has one report-row dict per refused eval set
    (``family="judge"``, ``metric="*"``, ``test`` saying which judges and how to compare them)."""
    hc, hb = _hashes(candidate), _hashes(baseline)
    refused, drop = [], []
    for key in sorted(set(hc) & set(hb)):
        if hc[key] and hb[key] and hc[key] != hb[key]:
            drop.append(key)
            refused.append(
                {
                    "suite": key[0],
                    "eval_set": key[1],
                    "family": JUDGE_FAMILY,
                    "metric": "*",
                    "segment": "__all__",
                    "measure": "refused",
                    "n_pairs": 0,
                    "gating": False,
                    "verdict": "insufficient_data",
                    "direction": "higher",
                    "test": (
                        f"refused: judged by different judges (candidate evaluator {sorted(hc[key])}, baseline {sorted(hb[key])}); "
                        "re-score the baseline's responses with the candidate's judge (rescore_job) to compare"
                    ),
                }
            )
    if not drop:
        return candidate, baseline, []

    def keep(frame: pd.DataFrame) -> pd.DataFrame:
        k = list(zip(frame["suite"].astype(str), frame["eval_set"].astype(str)))
        mask = (frame["family"] == JUDGE_FAMILY) & pd.Series([x in set(drop) for x in k], index=frame.index)
        return frame[~mask]

    return keep(candidate), keep(baseline), refused
