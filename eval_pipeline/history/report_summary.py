"""The morning summary at the top of the history report: today's verdict of every version, and honest labels.

In: a warehouse (``runs/.../run.json`` and ``reports/regression/.../report.json`` of the runs of the latest date,
keys from :mod:`eval_pipeline.storage.keys`), the runs of the history. Out:

* :func:`latest_verdicts`: one row per version evaluated on the latest date: PASS / FAIL / NOT TESTED of its
  release decision (thresholds and regression gate, :func:`eval_pipeline.release.verdict.release_verdict`,
  the wording used everywhere else), the sentence that says why (deciding metric, value, interval, effect, p,
  n), and the link to its per-sample diff (relative to the report) when one was written;
* :func:`summary_html`: those rows as the table the report opens with (failing versions first);
* :func:`effect_label`: a comparison row's label: ``no change`` only when the 95% interval lies within the
  minimum effect, ``inconclusive`` when it reaches past it (in one or both directions) without a significant
  verdict; significant verdicts and intervals that exclude 0 keep their label
  (:func:`eval_pipeline.release.verdict.row_label`);
* :func:`chart_thresholds` / :func:`attach_thresholds`: the threshold lines of the charts (from the latest run
  artifacts; a set-level threshold is drawn where it names a charted metric).
"""

from __future__ import annotations

import html
import math
import posixpath
from collections.abc import Callable
from typing import Any

import pandas as pd

from eval_pipeline.release import verdict as vd
from eval_pipeline.storage import keys
from eval_pipeline.storage.warehouse import Warehouse

ORDER = {vd.FAIL: 0, vd.NOT_TESTED: 1, vd.PASS: 2}


def _rel(key: str) -> str:
    return posixpath.relpath(key, posixpath.dirname(keys.history_report()))


def latest_verdicts(warehouse: Warehouse, runs: pd.DataFrame, production: str | None) -> list[dict[str, Any]]:
    """``[{"model_version", "date", "production", "verdict", "why", "quality", "regression", "diff", "not_live"}]``
    (``not_live``: the run artifact's answer label when not every answer was live, else None) for the
    runs of the latest date of ``runs`` (date, model_version), failing first, then production, then by name."""
    if runs is None or runs.empty:
        return []
    dates = runs["date"].astype(str)
    latest = dates.max()
    out: list[dict[str, Any]] = []
    for mv in sorted(set(runs.loc[dates == latest, "model_version"].astype(str))):
        artifact = warehouse.read_json_if_present(keys.run_artifact(latest, mv))
        report = warehouse.read_json_if_present(keys.regression_report(latest, mv))
        release = vd.release_verdict(artifact, report)
        diff = keys.diff_page(latest, mv)
        out.append(
            {
                "model_version": mv,
                "date": latest,
                "production": mv == production,
                "verdict": release.verdict,
                "why": release.why,
                "quality": vd.quality_verdict(vd.artifact_thresholds(artifact)).verdict
                if artifact
                else vd.NOT_TESTED,
                "regression": vd.regression_verdict(report).verdict,
                "diff": _rel(diff) if warehouse.exists(diff) else None,
                # replayed or synthetic answers say so on the row (the artifact's own label)
                "not_live": (artifact or {}).get("answers")
                if (artifact or {}).get("live_answers_only") is False
                else None,
            }
        )
    out.sort(key=lambda r: (ORDER.get(r["verdict"], 1), not r["production"], r["model_version"]))
    return out


def summary_html(rows: list[dict[str, Any]] | None) -> str:
    """The summary table: verdict (coloured), version, thresholds / regression gate, why, the diff link."""
    if not rows:
        return '<p class="note">No run on the latest date.</p>'
    body = []
    for r in rows:
        link = (
            f'<a class="diff-link" href="{html.escape(r["diff"])}">samples</a>'
            if r.get("diff")
            else '<span class="note">no baseline</span>'
        )
        cls = {vd.FAIL: "regression", vd.PASS: "improvement"}.get(r["verdict"], "insufficient_data")
        body.append(
            f'<tr class="verdict-row"><td class="{cls}"><b>{html.escape(r["verdict"])}</b></td>'
            f"<td>{html.escape(r['model_version'])}{' (production)' if r['production'] else ''}"
            + (f'<br><span class="not-live">{html.escape(r["not_live"])}</span>' if r.get("not_live") else "")
            + "</td>"
            f"<td>{html.escape(r['quality'])}</td><td>{html.escape(r['regression'])}</td>"
            f'<td class="why">{html.escape(r["why"])}</td><td>{link}</td></tr>'
        )
    return (
        f'<p class="note">Every version evaluated on {html.escape(rows[0]["date"])}: the release decision '
        "(thresholds on the run, and the paired regression gate against its baseline), the metric that decided it "
        "with its value or effect, 95% interval, p and n, and a link to its answers sample by sample.</p>"
        '<table id="summary"><thead><tr><th>verdict</th><th>version</th><th>thresholds</th>'
        f"<th>regression gate</th><th>why</th><th>diff</th></tr></thead><tbody>{''.join(body)}</tbody></table>"
    )


def _missing(x: Any) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def effect_label(row: Any) -> str:
    """The label of a comparison row (see the module docstring): ``regression`` / ``improvement`` as tested;
    a ``no_change`` row says ``no change`` only when its interval lies within +-``min_effect``."""
    get: Callable[[str], Any] = row.get if hasattr(row, "get") else (lambda k: getattr(row, k, None))
    verdict = str(get("verdict") or "")
    lo, hi, m = get("ci_low"), get("ci_high"), get("min_effect")
    if verdict != "no_change" or _missing(lo) or _missing(hi):
        return verdict.replace("_", " ")
    if not (lo <= 0 <= hi):
        return vd.row_label({k: get(k) for k in ("verdict", "ci_low", "ci_high", "direction")})
    if _missing(m) or (-m <= lo and hi <= m):
        return "no change"
    return "inconclusive"


def _target(metric: str) -> tuple[str, str | None]:
    """The chart a set-level threshold metric is drawn on: ``cosine_pass_rate`` -> (cosine, pass_rate),
    ``mean_cosine`` -> (cosine, mean_value), else the metric itself (either measure)."""
    if metric.endswith("_pass_rate"):
        return metric.removesuffix("_pass_rate"), "pass_rate"
    if metric.startswith("mean_"):
        return metric.removeprefix("mean_"), "mean_value"
    return metric, None


def chart_thresholds(warehouse: Warehouse, runs: pd.DataFrame) -> list[dict[str, Any]]:
    """Thresholds of the latest date's run artifacts that name a charted metric:
    ``{"suite", "eval_set", "metric", "measure" (None: any), "bound" ("min"/"max"), "value", "blocking"}``.
    Set-level metrics without a chart of their own (``pass_rate`` over every check, ``macro_f1``) draw nothing."""
    if runs is None or runs.empty:
        return []
    dates = runs["date"].astype(str)
    latest = dates.max()
    seen, out = set(), []
    for mv in sorted(set(runs.loc[dates == latest, "model_version"].astype(str))):
        for t in vd.artifact_thresholds(warehouse.read_json_if_present(keys.run_artifact(latest, mv))):
            metric, measure = _target(str(t.get("metric")))
            for bound in ("min", "max"):
                v = t.get(bound)
                key = (t.get("suite"), t.get("eval_set"), metric, measure, bound)
                if v is None or _missing(v) or key in seen:
                    continue
                seen.add(key)
                out.append(
                    {
                        "suite": t.get("suite"),
                        "eval_set": t.get("eval_set"),
                        "metric": metric,
                        "measure": measure,
                        "bound": bound,
                        "value": float(v),
                        "blocking": bool(t.get("enforced_blocking", t.get("blocking"))),
                    }
                )
    return out


def attach_thresholds(charts: list[dict[str, Any]], thresholds: list[dict[str, Any]] | None) -> None:
    """Add ``thr`` (``[{"y", "bound", "blocking"}]``) to each chart of ``charts`` a threshold names (in place)."""
    for c in charts:
        thr = [
            {"y": t["value"], "bound": t["bound"], "blocking": t["blocking"]}
            for t in thresholds or []
            if (t["suite"], t["eval_set"], t["metric"]) == (c["suite"], c["eval_set"], c["metric"])
            and t["measure"] in (None, c["measure"])
        ]
        if thr:
            c["thr"] = thr


def fold_constant(charts: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``(kept, folded)``: a chart whose every version has one and the same value on every date (at least two
    runs of one version; no alert or threshold line) carries no information and is folded into one line of its eval set's section."""
    kept, folded = [], []
    for c in charts:
        ys = {v for s in c["series"] for v in s["y"] if v is not None}
        runs = max((sum(v is not None for v in s["y"]) for s in c["series"]), default=0)
        if len(ys) <= 1 and runs >= 2 and not c.get("alerts") and not c.get("thr"):
            folded.append({**c, "value": (next(iter(ys)) * c["q"]) if ys else None})
        else:
            kept.append(c)
    return kept, folded


def folded_html(folded: list[dict[str, Any]]) -> str:
    """The folded charts of one eval set: one line each, with the chart's id so links to it still land."""
    if not folded:
        return ""

    def val(c: dict[str, Any]) -> str:
        v = c["value"]
        if v is None:
            return "no value"
        return f"{v:.1%}" if c["measure"] == "pass_rate" else f"{v:.4g}"

    items = "".join(
        f'<li id="{html.escape(c["id"])}">{html.escape(c["metric"])} ({html.escape(c["measure"].replace("_", " "))}): '
        f"{html.escape(val(c))} in every run of every version</li>"
        for c in folded
    )
    return (
        f'<details class="folded note"><summary>{len(folded)} constant chart(s) folded away</summary>'
        f"<ul>{items}</ul></details>"
    )
