"""Which answer each score row scores, so the gate counts distinct draws and tells fresh calls from store hits.

In: a run's score rows (``SCORE_COLUMNS``) and that run's ``responses`` partition (``cache_key``, ``cached`` per
suite, eval set, sample and repeat). Out: the score rows plus ``draw`` (the answer's response-store key: the
content address of the request, which includes the date only when the model version sets
``fresh_samples_daily``) and ``stored`` (True: the answer was a response-store hit - a draw of an earlier night
or run, served again; False: a fresh provider call of this run). Two nights whose rows share a ``draw`` scored
the *same* answer, so pooling them would count one draw twice (:func:`eval_pipeline.regression.compare.regression_report`
pools distinct draws only, :func:`distinct_nights`). :func:`draw_counts` summarises a run: fresh calls, store
hits, distinct draws; :func:`draw_summary` the distinct baseline draws per sample for the report.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import duckdb
import pandas as pd

from eval_pipeline.history.sources import has_files
from eval_pipeline.storage import keys

_JOIN = ["suite", "eval_set", "sample_id", "repeat"]
_GROUP = ["suite", "eval_set", "family", "metric"]


def load_draws(
    con: duckdb.DuckDBPyConnection, responses_glob: str | None, date: str, model_version: str
) -> pd.DataFrame:
    """One run's answers as (suite, eval_set, sample_id, repeat, draw, stored); empty when it has none."""
    empty = pd.DataFrame(columns=[*_JOIN, "draw", "stored"])
    suffix = keys.partition_files_glob(keys.RESPONSES).removeprefix(keys.RESPONSES)
    if not responses_glob or not responses_glob.endswith(suffix):
        return empty
    glob = (
        responses_glob[: -len(suffix)] + "/" + keys.run_files_glob(date, model_version, table=keys.RESPONSES)
    )
    if not has_files(con, glob):
        return empty
    cols = con.execute("SELECT * FROM read_parquet(?, union_by_name=true) LIMIT 0", [glob]).df().columns
    if "cache_key" not in cols:
        return empty
    stored = "coalesce(cached, false)" if "cached" in cols else "NULL"
    return con.execute(
        f"SELECT suite, eval_set, sample_id, CAST(repeat AS BIGINT) AS repeat, cache_key AS draw, "
        f"{stored} AS stored FROM read_parquet(?, union_by_name=true)",
        [glob],
    ).df()


def attach_draws(scores: pd.DataFrame, draws: pd.DataFrame) -> pd.DataFrame:
    """``scores`` with ``draw`` / ``stored`` from ``draws`` (:func:`load_draws`); rows without an answer (or a run
    without a responses partition) get None, which the regression report treats as "identity unknown"."""
    if scores is None or not len(scores):
        return scores
    out = scores.drop(columns=[c for c in ("draw", "stored") if c in scores.columns])
    if draws is None or not len(draws):
        return out.assign(draw=None, stored=None)
    d = draws.drop_duplicates(_JOIN).astype({"repeat": "int64"})
    merged = out.astype({"repeat": "int64"}).merge(d, on=_JOIN, how="left")
    return merged


def draw_counts(scores: pd.DataFrame) -> dict[str, int]:
    """``{"answers", "fresh_calls", "store_hits", "distinct_draws"}`` of score rows carrying ``draw``/``stored``."""
    if scores is None or not len(scores) or "draw" not in scores:
        return {"answers": 0, "fresh_calls": 0, "store_hits": 0, "distinct_draws": 0}
    a = scores.drop_duplicates([c for c in _JOIN if c in scores.columns])
    stored = (
        a["stored"].astype("boolean") if "stored" in a else pd.Series(pd.NA, index=a.index, dtype="boolean")
    )
    return {
        "answers": int(len(a)),
        "fresh_calls": int((stored == False).sum()),  # noqa: E712
        "store_hits": int((stored == True).sum()),  # noqa: E712
        "distinct_draws": int(a["draw"].dropna().nunique()),
    }


def _draw_key(frame: pd.DataFrame) -> pd.Series:
    """One string per score row naming the answer it scores: (suite, eval set, family, metric, sample, draw)."""
    return frame[[*_GROUP, "sample_id", "draw"]].astype(str).agg("\x1f".join, axis=1)


def distinct_nights(
    baseline: pd.DataFrame,
    frames: list[pd.DataFrame],
    names: list[str],
    same_evidence: Callable[[pd.DataFrame, pd.DataFrame], pd.DataFrame],
) -> tuple[list[tuple[str, pd.DataFrame]], list[str], list[str]]:
    """The earlier nights' rows that are **new draws**: ``(nights, replayed, unknown)`` with ``nights`` a list of
    (name, rows) - rows of a night that measure what the baseline run did (``same_evidence(frame, baseline)``)
    and whose ``draw`` neither the baseline run nor a later night has -, ``replayed`` the nights that added no
    new draw (store hits) and ``unknown`` those whose draws are not known (not pooled)."""
    known = "draw" in baseline and not baseline["draw"].isna().any()
    seen = set(_draw_key(baseline)) if known else None
    nights: list[tuple[str, pd.DataFrame]] = []
    replayed: list[str] = []
    unknown: list[str] = []
    for i, frame in enumerate(frames):
        name = names[i] if i < len(names) else f"night {i + 1}"
        same = same_evidence(frame, baseline)
        if not len(same):
            continue
        if seen is None or "draw" not in same or same["draw"].isna().any():
            unknown.append(name)
            continue
        key = _draw_key(same)
        fresh = same[~key.isin(seen)]
        seen |= set(key)
        (nights.append((name, fresh)) if len(fresh) else replayed.append(name))
    return nights, replayed, unknown


def draw_summary(baseline: pd.DataFrame, pooled: list[pd.DataFrame]) -> dict[str, Any]:
    """``{"per_sample": {draws: (eval set, sample)s}, "origin": draw_counts(baseline)}``: the distinct baseline
    draws each sample had - the baseline run's answers plus the new draws of pooled nights - and where the
    baseline run's answers came from (fresh calls vs response-store hits)."""
    frames = [f for f in (baseline, *pooled) if f is not None and len(f)]
    if not frames:
        return {"per_sample": {}, "origin": draw_counts(baseline)}
    rows = pd.concat(frames, ignore_index=True)
    if "draw" in rows and rows["draw"].notna().all():
        tag = rows["draw"].astype(str)
    else:  # identity unknown: count repeats per night
        tag = rows["repeat"].astype(str) + "@" + (rows["date"].astype(str) if "date" in rows else "")
    per = tag.groupby([rows["suite"], rows["eval_set"], rows["sample_id"]]).nunique()
    samples_with = per.value_counts().sort_index()  # draws -> samples that had that many
    return {
        "per_sample": {str(int(k)): int(v) for k, v in zip(samples_with.index, samples_with)},
        "origin": draw_counts(baseline),
    }
