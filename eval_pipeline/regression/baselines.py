"""Which run a candidate is compared with: the baseline run and the earlier nights pooled with it.

In: the known runs (a frame of date, model_version and, where the run artifacts say, passed and
live_answers_only) and the candidate's :class:`RunRef`. Out: the baseline :class:`RunRef` with the reason it was
chosen (:func:`select_baseline`; the version a candidate's suites declare, :func:`declared_baseline`) and the
baseline version's earlier nights the pass/fail rows may pool (:func:`pool_runs`, ``RegressionConfig.baseline_nights``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:  # the loader pulls in every config module; only its type is needed here
    from eval_pipeline.project.loader import Project


@dataclass(frozen=True)
class RunRef:
    """One run: a date and a model version."""

    date: str
    model_version: str

    def __str__(self) -> str:
        return f"{self.model_version}@{self.date}"


def declared_baseline(project: Project, model_version_key: str) -> tuple[str | None, str]:
    """The baseline model version (its partition key) that ``model_version_key``'s suites declare
    (``baseline_model_version``), else the registry's ``production: true`` version; ``(None, why)`` when neither.
    Suites of one version that declare different baselines: the first suite's (by name), said in ``why``. The one
    rule behind the stored regression report, ``eval-pipeline run`` and ``compare``."""
    reg = project.registry
    try:
        suites = list(reg.by_key(model_version_key).suites)
    except KeyError:
        suites = []
    declared = {
        name: version
        for name in sorted(suites)
        if name in project.suites and (version := project.suites[name].baseline_model_version)
    }
    if declared:
        first = next(iter(declared))
        mv = reg.by_name(declared[first])
        others = sorted({v for v in declared.values()} - {declared[first]})
        why = f"baseline_model_version {mv.name} declared by suite {first}" + (
            f" (other suites declare {', '.join(others)}: compare with them by name)" if others else ""
        )
        return mv.key, why
    prod = reg.production
    return (prod.key, f"production model version {prod.name}") if prod else (None, "no declared baseline")


def select_baseline(
    runs: pd.DataFrame,
    candidate: RunRef,
    production_model_version: str | None = None,
    production_reason: str = "production model version",
) -> tuple[RunRef | None, str]:
    """Choose the baseline run for ``candidate`` from known runs (columns date, model_version[, passed]).

    1. A configured production model version other than the candidate's: its latest run on or
       before the candidate's date that did not fail (same date preferred: same golden set).
    2. Otherwise the last passing run before the candidate's date, preferring the candidate's own
       model version (``passed`` true; when no run records a pass/fail, any earlier run).

    A candidate whose answers were all live (``live_answers_only`` true in its run artifact) is never compared
    with a run that used replayed or synthetic answers (``live_answers_only`` false): invented answers never
    decide a live gate. A non-live candidate (the demo) may use any run; the reason then says NOT LIVE.

    Returns ``(run or None, reason)``; ``None`` means "no baseline yet".
    """
    if runs is None or len(runs) == 0:
        return None, "no earlier runs"
    df = runs.copy()
    df["date"] = df["date"].astype(str)
    if "passed" not in df:
        df["passed"] = None
    live = _live_flags(df)
    is_cand = _is_run(df, candidate)
    if _candidate_is_live(live, is_cand):
        df = df[live.map(lambda v: v is not False)]  # a live candidate: drop baselines known to be non-live
        suffix = ""
    else:
        suffix = (
            "; NOT LIVE: candidate or baseline may use replayed / synthetic answers"
            if live.map(lambda v: v is False).any()
            else ""
        )
    ref, why = _pick_baseline(df[~is_cand.loc[df.index]], candidate, production_model_version)
    if why == "production model version":
        why = production_reason
    return ref, why + (suffix if ref else "")


def pool_runs(runs: pd.DataFrame, candidate: RunRef, baseline: RunRef | None, nights: int) -> list[RunRef]:
    """The earlier nights pooled with ``baseline`` for pass/fail rows: up to ``nights - 1`` runs of the baseline's
    model version before the baseline's date, latest first, that did not fail - and, for a live candidate, none
    known to use replayed or synthetic answers (the rule :func:`select_baseline` applies). Never the candidate."""
    if baseline is None or nights <= 1 or runs is None or not len(runs):
        return []
    df = runs.copy()
    df["date"] = df["date"].astype(str)
    passed = df["passed"] if "passed" in df else pd.Series(None, index=df.index, dtype=object)
    ok = passed.map(lambda v: _flag(v) is not False)
    live = _live_flags(df)
    is_cand = _is_run(df, candidate)
    if _candidate_is_live(live, is_cand):
        ok &= live.map(lambda v: v is not False)
    same = df[ok & (df["model_version"] == baseline.model_version) & (df["date"] < baseline.date) & ~is_cand]
    dates = sorted(set(same["date"]), reverse=True)[: nights - 1]
    return [RunRef(d, baseline.model_version) for d in dates]


def _live_flags(df: pd.DataFrame) -> pd.Series:
    """Per run, ``live_answers_only`` as a nullable boolean (None where the run artifact does not say)."""
    if "live_answers_only" not in df:
        return pd.Series(None, index=df.index, dtype=object)
    return df["live_answers_only"].map(_flag)


def _is_run(df: pd.DataFrame, ref: RunRef) -> pd.Series:
    """The rows of ``df`` that are the run ``ref``."""
    return (df["date"] == ref.date) & (df["model_version"] == ref.model_version)


def _candidate_is_live(live: pd.Series, is_cand: pd.Series) -> bool:
    """Whether the candidate's run artifact says all its answers were live."""
    known = live[is_cand].dropna()
    return bool(len(known) and bool(known.iloc[0]))


def _flag(v: Any) -> bool | None:
    """A nullable boolean from a runs-table cell (None / NaN / pd.NA -> None)."""
    if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)):
        return None
    return bool(v)


def _pick_baseline(
    df: pd.DataFrame, candidate: RunRef, production_model_version: str | None
) -> tuple[RunRef | None, str]:
    """:func:`select_baseline`'s rules on the eligible runs (the candidate itself removed)."""
    if not len(df):
        return None, "no earlier runs"
    not_failed = df["passed"].map(lambda v: v is None or (isinstance(v, float) and np.isnan(v)) or bool(v))
    if production_model_version and production_model_version != candidate.model_version:
        prod = df[
            (df["model_version"] == production_model_version) & (df["date"] <= candidate.date) & not_failed
        ]
        if len(prod):
            row = prod.sort_values("date").iloc[-1]
            return RunRef(row["date"], row["model_version"]), "production model version"
    earlier = df[df["date"] < candidate.date]
    passed = earlier[earlier["passed"].map(lambda v: v is True or v == 1)]
    pool = passed if len(passed) else earlier[not_failed.loc[earlier.index]]
    why = "last passing run" if len(passed) else "last run (no pass/fail recorded)"
    if not len(pool):
        return None, "no earlier passing run"
    for mv in (production_model_version, candidate.model_version):
        same = pool[pool["model_version"] == mv] if mv else pool.iloc[0:0]
        if len(same):
            row = same.sort_values("date").iloc[-1]
            return RunRef(row["date"], row["model_version"]), f"{why} of {mv}"
    row = pool.sort_values(["date", "model_version"]).iloc[-1]
    return RunRef(row["date"], row["model_version"]), why
