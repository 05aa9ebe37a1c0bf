"""Which answer each score row scores, so the gate counts distinct draws and tells fresh calls from store hits.

In: a run's score rows (``SCORE_COLUMNS``) and that run's ``responses`` partition (``cache_key``, ``cached`` per
suite, eval set, sample and repeat). Out: the score rows plus ``draw`` (the answer's response-store key: the
content address of the request, which includes the date only when the model version sets
``fresh_samples_daily``) and ``stored`` (True: the answer was a response-store hit - a draw of an earlier night
or run, served again; False: a fresh provider call of this run). Two nights whose rows share a ``draw`` scored
the *same* answer, so pooling them would count one draw twice (:func:`eval_pipeline.history.stats.regression_report`
pools distinct draws only). :func:`draw_counts` summarises a run: fresh calls, store hits, distinct draws.
"""

from __future__ import annotations

import duckdb
import pandas as pd

from eval_pipeline.history.sources import has_files
from eval_pipeline.storage import keys

_JOIN = ["suite", "eval_set", "sample_id", "repeat"]


def load_draws(con: duckdb.DuckDBPyConnection, responses_glob: str | None, date: str, model_version: str):
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
