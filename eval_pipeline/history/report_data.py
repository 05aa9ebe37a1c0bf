"""The data of the interactive history report: history aggregates -> one compact JSON-able blob.

In: ``score_history`` / ``ops_history`` frames (aggregates, never raw scores), optional events
(:func:`eval_pipeline.history.report_sources.run_events`, judge changes) and alert rows
(:func:`eval_pipeline.history.alerts.evaluate_alerts`). Out: a dict the page's script draws every
chart from, so the file holds each number once:

* ``dates``: every date of the history (``YYYY-MM-DD``); series refer to dates by index.
* ``versions`` / ``production``: model-version keys (series refer to them by index).
* ``charts``: one per (suite, eval set, metric): every version's series (value, 95 % interval,
  n), the production version's control limits, the alerts on it.
* ``ops``: latency p50 / p95 / p99, TTFT p50, cost per sample, infra error rate per version.
* ``failures``: failed samples per check / judge dimension (``n_graded - n_passed``) and infra /
  model errors per date, per eval set and version (stacked).
* ``events``: release approvals, config changes, judge changes, alerts (date, version, label).

Compact encoding (``enc``): values are integers in units of the chart's quantum ``q`` (4
significant digits of the chart's largest value); a series' dates are ``x0`` + ``dx`` steps and
its ``n`` a scalar when constant. The page decodes them (``decode()`` in ``report_page.js``).

Intervals: pass rates get the Wilson score interval (statsmodels ``proportion_confint``), means
the t interval of the mean (scipy ``t.interval`` with the row's ``std_value`` and ``n_graded``);
ops quantiles have no interval (their ``n`` is shown). Control limits: the production version's
p-chart (pass rates) / Shewhart chart (means) over the same window the alert rules use
(:class:`~eval_pipeline.history.alert_rules.AlertRules` ``control_window`` / ``control_baseline_points``).
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterator
from typing import Any, cast

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import stats as sps
from statsmodels.stats.proportion import proportion_confint

from eval_pipeline.history.alert_rules import AlertRules
from eval_pipeline.history.control_charts import p_chart, shewhart_chart
from eval_pipeline.history.sql import ALL, SEGMENT_ALL

OPS_FIELDS = {  # ops_history column -> title
    "latency_p50": "latency p50 (s)",
    "latency_p95": "latency p95 (s)",
    "latency_p99": "latency p99 (s)",
    "ttft_p50": "time to first token p50 (s)",
    "cost_per_sample": "cost per sample (USD)",
    "infra_error_rate": "infrastructure error rate",
    "cache_hit_rate": "prompt cache hit rate",  # ops_history columns added later are drawn when present
}
SERIES_KEYS = ["suite", "eval_set", "family", "metric"]


def _code(key: object) -> int:
    """A category code (``_vi``) used as a groupby key; pandas-stubs type group keys as any scalar or a tuple."""
    return int(cast(int, key))


def chart_id(suite: Hashable, eval_set: Hashable, metric: Hashable) -> str:
    """The HTML id of one metric chart (alerts and the matrix link to it); the parts are group keys, formatted."""
    raw = f"c-{suite}-{eval_set}-{metric}"
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in raw)


def quantum(values: np.ndarray) -> float:
    """Unit of the integer encoding: a thousandth of the decade above the largest absolute value
    (pass rates: 0.001 = 0.1 point; 0.35 s latency: 1 ms; 0.0004 USD: 1e-6 USD)."""
    finite = np.abs(values[np.isfinite(values)])
    top = float(finite.max()) if finite.size else 0.0
    if top == 0:
        return 1e-3
    return 10.0 ** (math.ceil(math.log10(top)) - 3)


def _ints(values: np.ndarray, q: float) -> list[int | None]:
    out = np.round(np.asarray(values, dtype=float) / q)
    ok = np.isfinite(out)
    if ok.all():
        ints: list[int | None] = out.astype(np.int64).tolist()
        return ints
    res = out.astype(object)
    res[~ok] = None
    res[ok] = out[ok].astype(np.int64).tolist()
    with_gaps: list[int | None] = res.tolist()  # None where the value is not finite
    return with_gaps


def _x_encoding(idx: np.ndarray) -> dict[str, int | list[int]]:
    """Date indices as a start and steps (``dx`` omitted when every step is one day)."""
    steps = np.diff(idx)
    enc: dict[str, int | list[int]] = {"x0": int(idx[0])}
    if len(steps) and not (steps == 1).all():
        enc["dx"] = [int(s) for s in steps]
    return enc


def _n_encoding(n: np.ndarray) -> int | list[int]:
    n = np.nan_to_num(n.astype(float), nan=0).astype(np.int64)
    return int(n[0]) if len(n) and (n == n[0]).all() else [int(v) for v in n]


def intervals(
    measure: str,
    value: npt.ArrayLike,
    n: npt.ArrayLike,
    k: npt.ArrayLike | None = None,
    std: npt.ArrayLike | None = None,
    level: float = 0.95,
) -> tuple[np.ndarray, np.ndarray]:
    """95 % interval per row: Wilson for a pass rate (``k`` passes of ``n``), t for a mean (``std``, ``n``)."""
    n = np.asarray(n, dtype=float)
    value = np.asarray(value, dtype=float)
    lo, hi = np.full(value.shape, np.nan), np.full(value.shape, np.nan)
    ok = np.isfinite(value) & (n > 0)
    if measure == "pass_rate":
        k = np.asarray(k, dtype=float)
        if ok.any():
            lo[ok], hi[ok] = proportion_confint(np.round(k[ok]), n[ok], alpha=1 - level, method="wilson")
    else:
        std = np.asarray(std, dtype=float)
        ok &= (n > 1) & np.isfinite(std)
        if ok.any():
            lo[ok], hi[ok] = sps.t.interval(level, n[ok] - 1, loc=value[ok], scale=std[ok] / np.sqrt(n[ok]))
    return lo, hi


def _limits(
    g: pd.DataFrame, measure: str, rules: AlertRules, date_index: dict[str, int], q: float
) -> dict[str, Any] | None:
    """The production version's control limits over the alert rules' window (ints in units of q)."""
    g = g.tail(rules.control_window)
    if len(g) < 2:
        return None
    b = rules.control_baseline_points
    if measure == "pass_rate":
        ch = p_chart(g["n_passed"].to_numpy(float), g["n_graded"].to_numpy(float), baseline=b, x=g["date"])
        how = f"p-chart, 3 sigma from n, centre: pooled first {min(b, len(g))} of the last {len(g)} runs"
    else:
        ch = shewhart_chart(g["mean_value"].to_numpy(float), baseline=b, x=g["date"])
        how = f"Shewhart, 3 sigma of the first {min(b, len(g))} of the last {len(g)} runs"
    if not np.isfinite(ch["ucl"].to_numpy(float)).any():
        return None
    idx = g["_di"].to_numpy()
    return {
        **_x_encoding(idx),
        "lcl": _ints(ch["lcl"].to_numpy(float), q),
        "ucl": _ints(ch["ucl"].to_numpy(float), q),
        "center": _ints(ch["center"].to_numpy(float)[:1], q)[0],
        "how": how,
    }


def _measure(g: pd.DataFrame) -> str:
    return "pass_rate" if g["pass_rate"].notna().any() else "mean_value"


def metric_charts(
    scores: pd.DataFrame,
    date_index: dict[str, int],
    version_index: dict[str, int],
    production: str | None,
    rules: AlertRules,
    alerts: pd.DataFrame | None = None,
) -> list[dict[str, Any]]:
    """One chart per (suite, eval set, metric): overall-segment rows of every version."""
    s = scores[scores["segment"] == SEGMENT_ALL]
    if s.empty:
        return []
    s = s.sort_values(["suite", "eval_set", "metric", "_vi", "_di"])
    al = alerts if alerts is not None and len(alerts) else None
    charts = []
    for (suite, eval_set, family, metric), g in s.groupby(SERIES_KEYS, sort=True):
        measure = _measure(g)
        val = g[measure].to_numpy(float)
        lo, hi = intervals(
            measure, val, g["n_graded"], g["n_passed"], g.get("std_value", pd.Series(np.nan, index=g.index))
        )
        q = quantum(np.concatenate([val, hi]))
        g = g.assign(_v=val, _lo=lo, _hi=hi)
        series = []
        for vi, h in g.groupby("_vi", sort=True):
            idx = h["_di"].to_numpy()
            v = h["_v"].to_numpy(float)
            series.append(
                {
                    "v": _code(vi),
                    **_x_encoding(idx),
                    "y": _ints(v, q),
                    "lo": _ints(v - h["_lo"].to_numpy(float), q),
                    "hi": _ints(h["_hi"].to_numpy(float) - v, q),
                    "n": _n_encoding(h["n_graded"].to_numpy()),
                }
            )
        chart = {
            "id": chart_id(suite, eval_set, metric),
            "suite": suite,
            "eval_set": eval_set,
            "family": family,
            "metric": metric,
            "measure": measure,
            "q": q,
            "series": series,
        }
        if production is not None and production in version_index:
            prod = g[g["model_version"] == production]
            lim = _limits(prod, measure, rules, date_index, q) if len(prod) else None
            if lim:
                chart["limits"] = lim
        if al is not None:
            a = al[(al["suite"] == suite) & (al["eval_set"] == eval_set) & (al["metric"] == metric)]
            chart["alerts"] = [
                {
                    "x": date_index[str(r.date)],
                    "v": version_index.get(r.model_version),
                    "y": None if not np.isfinite(r.value) else int(round(r.value / q)),
                    "text": f"{r.severity} {r.rule}: {r.message}",
                }
                for r in cast(Iterator[Any], a.itertuples())  # alert rows (pandas-stubs: fields any scalar)
                if str(r.date) in date_index
            ]
        charts.append(chart)
    return charts


def ops_charts(
    ops: pd.DataFrame | None, date_index: dict[str, int], version_index: dict[str, int]
) -> list[dict[str, Any]]:
    """One chart per ops field over the per-run roll-up (suite ``__all__``), every version a line."""
    if ops is None or ops.empty:
        return []
    o = ops[(ops["suite"] == ALL) & (ops["eval_set"] == ALL)].sort_values(["_vi", "_di"])
    out = []
    for field, title in OPS_FIELDS.items():
        if field not in o or not o[field].notna().any():
            continue
        q = quantum(o[field].to_numpy(float))
        series = []
        for vi, h in o.groupby("_vi", sort=True):
            idx = h["_di"].to_numpy()
            n = h["n_responses"] - (h["n_infra_error"] if field != "infra_error_rate" else 0)
            series.append(
                {
                    "v": _code(vi),
                    **_x_encoding(idx),
                    "y": _ints(h[field].to_numpy(float), q),
                    "n": _n_encoding(n.to_numpy()),
                }
            )
        out.append({"id": f"ops-{field}", "field": field, "title": title, "q": q, "series": series})
    return out


def failure_charts(
    scores: pd.DataFrame, ops: pd.DataFrame | None, versions: list[int], top: int = 8
) -> list[dict[str, Any]]:
    """Per eval set and version (``versions``: indices): failed samples per check / dimension and errors per date.

    From the aggregates: ``n_graded - n_passed`` of each pass/fail metric (overall segment;
    auxiliary ``check.suffix`` rows left out) and ``n_infra_error`` / ``n_model_error`` of ops.
    The ``top`` largest labels of the eval set are kept, the rest summed as ``other``."""
    cols = ["_di", "_vi", "suite", "eval_set", "label", "count"]
    s = scores[
        (scores["segment"] == SEGMENT_ALL)
        & scores["pass_rate"].notna()
        & scores["_vi"].isin(versions)
        & ~scores["metric"].str.contains(".", regex=False)
    ]
    frames = [s.assign(label=s["family"] + ":" + s["metric"], count=s["n_graded"] - s["n_passed"])[cols]]
    if ops is not None and len(ops):
        o = ops[(ops["eval_set"] != ALL) & ops["_vi"].isin(versions)]
        for col, label in (("n_infra_error", "error:infrastructure"), ("n_model_error", "error:model")):
            frames.append(o.assign(label=label, count=o[col])[cols])
    f = pd.concat(frames, ignore_index=True)
    f = f[f["count"].fillna(0) > 0]
    out = []
    for (suite, eval_set), g in f.groupby(["suite", "eval_set"], sort=True):
        keep = list(g.groupby("label")["count"].sum().nlargest(top).index)
        g = g.assign(label=g["label"].where(g["label"].isin(keep), "other"))
        labels = keep + (["other"] if (g["label"] == "other").any() else [])
        wide = g.groupby(["_vi", "_di", "label"])["count"].sum().unstack("label", fill_value=0)
        wide = wide.reindex(columns=labels, fill_value=0)
        per_version = []
        for vi, h in wide.groupby(level="_vi", sort=True):
            idx = h.index.get_level_values("_di").to_numpy()
            per_version.append(
                {
                    "v": _code(vi),
                    **_x_encoding(idx),
                    "counts": [h[lab].to_numpy(np.int64).tolist() for lab in labels],
                }
            )
        out.append(
            {
                "id": chart_id(suite, eval_set, "failures"),
                "suite": suite,
                "eval_set": eval_set,
                "labels": labels,
                "versions": per_version,
            }
        )
    return out


def default_visible(
    scores: pd.DataFrame, production: str | None, versions: list[str], recent: int = 5
) -> list[int]:
    """Versions drawn when the page opens: production and the ``recent`` versions with the latest runs
    (the others are in every legend, one click away; ``#all`` in the URL draws every version)."""
    last = scores.groupby("model_version")["date"].max()
    others = sorted((v for v in last.index if v != production), key=lambda v: (last[v], v), reverse=True)
    keep = ([production] if production in versions else []) + others[:recent]
    return sorted(versions.index(v) for v in keep)


def judge_change_events(scores: pd.DataFrame) -> pd.DataFrame:
    """Judge changes from a judge-identity column of ``score_history`` when the history has one
    (any non-numeric column named ``judge*``, e.g. ``judge_identity``): a change of its value between consecutive runs of a version."""
    cols = [
        c for c in scores.columns if c.startswith("judge") and not pd.api.types.is_numeric_dtype(scores[c])
    ]
    rows = []
    for col in cols:
        s = scores[scores[col].notna()].drop_duplicates(["model_version", "eval_set", "date", col])
        for (mv, es), g in s.sort_values("date").groupby(["model_version", "eval_set"]):
            prev = g[col].shift()
            for r in g[(prev.notna()) & (g[col] != prev)].itertuples():
                rows.append(
                    {
                        "date": r.date,
                        "model_version": mv,
                        "kind": "judge change",
                        "label": f"{es}: {col} -> {getattr(r, col)}",
                    }
                )
    return pd.DataFrame(rows, columns=["date", "model_version", "kind", "label"])


def build_report_data(
    scores: pd.DataFrame,
    ops: pd.DataFrame | None,
    *,
    production: str | None = None,
    rules: AlertRules | None = None,
    alerts: pd.DataFrame | None = None,
    events: pd.DataFrame | None = None,
) -> dict[str, Any]:
    """The whole blob (see the module docstring). ``events`` has date, model_version, kind, label."""

    rules = rules or AlertRules()
    scores = scores.assign(date=scores["date"].astype(str), model_version=scores["model_version"].astype(str))
    if ops is not None:
        ops = ops.assign(date=ops["date"].astype(str), model_version=ops["model_version"].astype(str))
    dates = sorted(set(scores["date"]) | (set(ops["date"]) if ops is not None else set()))
    versions = sorted(
        set(scores["model_version"]) | (set(ops["model_version"]) if ops is not None else set())
    )
    if production in versions:  # production first: it gets the first colour and the limits
        versions = [production] + [v for v in versions if v != production]
    date_index = {d: i for i, d in enumerate(dates)}
    version_index = {v: i for i, v in enumerate(versions)}

    def coded(df: pd.DataFrame) -> pd.DataFrame:
        return df.assign(
            _di=pd.Categorical(df["date"], categories=dates).codes,
            _vi=pd.Categorical(df["model_version"], categories=versions).codes,
        )

    scores = coded(scores)
    ops = coded(ops) if ops is not None else None
    ev = pd.concat(
        [e for e in (events, judge_change_events(scores)) if e is not None and len(e)]
        or [pd.DataFrame(columns=["date", "model_version", "kind", "label"])],
        ignore_index=True,
    )
    ev = ev.assign(date=ev["date"].astype(str))
    ev = ev[ev["date"].isin(date_index)]
    visible = default_visible(scores, production, versions)
    return {
        "dates": dates,
        "versions": versions,
        "production": production,
        "visible": visible,
        "charts": metric_charts(scores, date_index, version_index, production, rules, alerts),
        "ops": ops_charts(ops, date_index, version_index),
        "failures": failure_charts(scores, ops, visible),
        "events": [
            {
                "x": date_index[r.date],
                "v": version_index.get(r.model_version),
                "kind": r.kind,
                "label": r.label,
            }
            for r in ev.itertuples()
        ],
    }
