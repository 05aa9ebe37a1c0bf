"""The report's online-monitoring and canary sections: what production traffic said, beside the offline evals.

In: a warehouse (keys from :mod:`eval_pipeline.storage.keys`): the ``monitoring_metrics`` rows (feedback rates
with their Wilson / Clopper-Pearson intervals and n), the daily ``alerts.json`` / ``drift.json`` /
``shadow.json`` reports, the ``traffic_sample`` / ``traffic_hourly`` tables (their ``synthetic`` flag and, per
hour, the requests each version served) and the hourly ``canary.json`` reports. Out:
:func:`monitoring_inputs` (a JSON-able dict of the last ``days`` days and the latest canary rollout) and
:func:`monitoring_html` (two sections of plain HTML tables, every number with its interval or n, the test
named as the monitoring step stated it). Traffic flagged ``synthetic`` is labelled SYNTHETIC in the heading
and on every day it was seen; nothing here re-tests anything.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Iterator
from typing import Any, cast

import pandas as pd

from eval_pipeline.history.sources import has_files
from eval_pipeline.storage import keys
from eval_pipeline.storage.warehouse import Warehouse

FEEDBACK_SHOWN = 7  # days of feedback rates in the table


def _tuples(frame: pd.DataFrame) -> Iterator[Any]:
    """``frame.itertuples()``; its fields are the SQL's columns (pandas-stubs type each as any scalar)."""
    return cast(Iterator[Any], frame.itertuples())


def _rows(wh: Warehouse, sql: str, table: str) -> pd.DataFrame:
    """``sql`` over one table (a view named ``t``); empty when the table has no files."""

    con = wh.connect_duckdb()
    try:
        glob = wh.table_glob(table)
        if not has_files(con, glob):
            return pd.DataFrame()
        con.execute(
            f"CREATE VIEW t AS SELECT * FROM read_parquet('{glob}', hive_partitioning=true, "
            "hive_types_autocast=false, union_by_name=true)"
        )
        return con.execute(sql).df()
    finally:
        con.close()


def _clean(v: Any) -> Any:
    return None if isinstance(v, float) and not math.isfinite(v) else v


def monitoring_inputs(warehouse: Warehouse, days: int = 14) -> dict[str, Any]:
    """Feedback, alerts, drift and shadow of the last ``days`` monitored days and the latest canary rollout."""
    traffic = _rows(
        warehouse,
        "SELECT date, count(*) AS n, sum(CAST(synthetic AS INTEGER)) AS synthetic FROM t GROUP BY date ORDER BY date",
        keys.TRAFFIC_SAMPLE,
    )
    dates = [str(d) for d in traffic["date"]][-days:] if len(traffic) else []
    synthetic = {
        str(r.date): [int(r.synthetic or 0), int(r.n)] for r in _tuples(traffic) if str(r.date) in dates
    }
    fb = _rows(
        warehouse,
        "SELECT date, metric, value, ci_low, ci_high, nobs FROM t WHERE model_version = '__all__' ORDER BY date, metric",
        keys.MONITORING_METRICS,
    )
    feedback = (
        [
            {k: _clean(v) for k, v in r.items()}
            for r in fb[fb["date"].astype(str).isin(dates)].to_dict("records")
        ]
        if len(fb)
        else []
    )
    daily = []
    for d in dates:
        alerts = warehouse.read_json_if_present(keys.monitoring_report(d, "alerts.json")) or {}
        drift = warehouse.read_json_if_present(keys.monitoring_report(d, "drift.json")) or {}
        shadow = warehouse.read_json_if_present(keys.monitoring_report(d, "shadow.json")) or {}
        daily.append(
            {
                "date": d,
                "alerts": [
                    {k: _clean(a.get(k)) for k in ("metric", "level_today", "firing", "message")}
                    for a in alerts.get("alerts", [])
                ],
                "drift": {
                    "status": drift.get("status"),
                    "message": drift.get("message"),
                    "features": [
                        {
                            k: _clean(f.get(k))
                            for k in ("feature", "psi", "level", "p_adjusted", "n_ref", "n_cur", "test")
                        }
                        for f in drift.get("drift", [])
                    ],
                }
                if drift
                else None,
                "shadow": {
                    k: shadow.get(k) for k in ("status", "message", "candidate", "decision", "answers")
                }
                if shadow
                else None,
            }
        )
    return {"synthetic": synthetic, "feedback": feedback, "daily": daily, "canary": canary_inputs(warehouse)}


def canary_inputs(warehouse: Warehouse) -> dict[str, Any] | None:
    """The latest hour with a canary report: its verdicts, metrics and hourly story, and each hour's traffic share."""
    prefix = keys.monitoring_report("D", "x").split("/date=", 1)[0] + "/"
    reports = sorted(k for k in warehouse.list_keys(prefix) if k.endswith("/canary.json"))
    if not reports:
        return None
    latest = warehouse.read_json_if_present(reports[-1])
    if not latest:
        return None
    day = reports[-1].split("date=", 1)[1].split("/", 1)[0]
    share = _rows(
        warehouse,
        f"SELECT hour, model_version, count(*) AS n, sum(CAST(synthetic AS INTEGER)) AS synthetic FROM t "
        f"WHERE date = '{day}' GROUP BY hour, model_version ORDER BY hour, model_version",
        keys.TRAFFIC_HOURLY,
    )
    hours: dict[str, dict[str, int]] = {}
    syn = [0, 0]
    for r in _tuples(share) if len(share) else []:
        hours.setdefault(str(r.hour), {})[str(r.model_version)] = int(r.n)
        syn[0] += int(r.synthetic or 0)
        syn[1] += int(r.n)
    return {"day": day, "report": latest, "traffic": hours, "synthetic": syn}


# ------------------------------------------------------------------------------------------------ HTML
def _e(v: Any) -> str:
    return html.escape("" if v is None else str(v))


def _g(v: Any) -> str:
    return f"{float(v):.2g}"


def _pct(v: Any, digits: int = 1) -> str:
    return "" if _missing(v) else f"{100 * float(v):.{digits}f}%"


def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and not math.isfinite(v))


def _pts(v: Any) -> str:
    return "" if _missing(v) else f"{100 * float(v):+.1f} pts"


def _synthetic_note(counts: dict[str, list[int]]) -> str:
    syn = sum(s for s, _ in counts.values())
    total = sum(n for _, n in counts.values())
    if not total:
        return ""
    if syn == total:
        return "SYNTHETIC traffic: every sampled request of these days is flagged synthetic (the demo's generated logs)."
    if syn:
        return f"Partly SYNTHETIC: {syn} of {total} sampled requests are flagged synthetic."
    return "Live traffic: no sampled request is flagged synthetic."


def _feedback_table(feedback: list[dict[str, Any]], synthetic: dict[str, list[int]]) -> str:
    if not feedback:
        return '<p class="note">No feedback metrics yet (feedback_metrics has not run).</p>'
    dates = sorted({str(r["date"]) for r in feedback})[-FEEDBACK_SHOWN:]
    metrics = sorted({r["metric"] for r in feedback})
    cell = {(str(r["date"]), r["metric"]): r for r in feedback}
    head = "".join(f"<th>{_e(d)}{'<br>synthetic' if synthetic.get(d, [0])[0] else ''}</th>" for d in dates)
    body = []
    for m in metrics:
        tds = []
        for d in dates:
            r = cell.get((d, m))
            if not r or r["value"] is None:
                tds.append("<td></td>")
            elif r["ci_low"] is None:
                tds.append(f'<td class="num">{float(r["value"]):.3g} (no interval)</td>')
            else:
                lo, hi = (f"{100 * float(r[k]):.1f}" for k in ("ci_low", "ci_high"))
                tds.append(f'<td class="num">{_pct(r["value"])} [{lo}, {hi}] n={_e(r["nobs"])}</td>')
        body.append(f"<tr><td>{_e(m)}</td>{''.join(tds)}</tr>")
    return (
        '<table id="feedback" style="font-size:.76em"><thead><tr><th>feedback metric</th>'
        + head
        + "</tr></thead><tbody>"
        + "".join(body)
        + "</tbody></table>"
    )


def _daily_table(daily: list[dict[str, Any]], synthetic: dict[str, list[int]]) -> str:
    if not daily:
        return ""
    body = []
    for d in reversed(daily):
        fired = [a for a in d["alerts"] if a.get("firing") not in (None, "none")]
        alerts = "; ".join(f"{a['metric']}: {a['firing']}" for a in fired) or "none firing"
        drift = d["drift"] or {}
        sig = [f for f in drift.get("features", []) if f.get("level") == "significant"]
        drift_txt = drift.get("message") or "not run"
        shadow = d["shadow"] or {}
        dec = shadow.get("decision") or {}
        shadow_txt = (
            f"{dec.get('verdict')}: win rate {_pct(dec.get('win_rate'))} [{_pct((dec.get('ci') or [None])[0])}, "
            f"{_pct((dec.get('ci') or [None, None])[1])}] n={dec.get('n')}"
            + (f"; {shadow['answers']}" if shadow.get("answers") else "")  # e.g. NOT LIVE - synthetic answers
            if dec
            else (shadow.get("message") or "not run")
        )
        s = synthetic.get(d["date"], [0, 0])
        body.append(
            f'<tr class="monitor-day"><td>{_e(d["date"])}{" <b>SYNTHETIC</b>" if s[0] else ""}</td>'
            f'<td class="{"WARN" if fired else ""}">{_e(alerts)}</td>'
            f'<td class="{"regression" if sig else ""}">{_e(drift_txt)}</td><td>{_e(shadow_txt)}</td></tr>'
        )
    latest = next((d for d in reversed(daily) if d["drift"] and d["drift"]["features"]), None)
    features = ""
    if latest:
        rows = "".join(
            f'<tr><td>{_e(f["feature"])}</td><td class="num">{_e(None if f["psi"] is None else round(f["psi"], 3))}</td>'
            f'<td class="num">{_e(None if f["p_adjusted"] is None else _g(f["p_adjusted"]))}</td>'
            f'<td class="num">{_e(f["n_ref"])} / {_e(f["n_cur"])}</td>'
            f'<td class="{"regression" if f["level"] == "significant" else ""}">{_e(f["level"])}</td></tr>'
            for f in latest["drift"]["features"]
        )
        test = latest["drift"]["features"][0].get("test") or ""
        features = (
            f'<h3>Drift of {_e(latest["date"])} by feature</h3><p class="note">{_e(test)}; PSI for size.</p>'
            '<table id="drift"><thead><tr><th>feature</th><th>PSI</th><th>p (Holm)</th><th>n reference / today</th>'
            f"<th>level</th></tr></thead><tbody>{rows}</tbody></table>"
        )
    return (
        '<table id="monitoring-days"><thead><tr><th>day</th><th>feedback alerts (debounced)</th><th>drift</th>'
        f"<th>shadow</th></tr></thead><tbody>{''.join(body)}</tbody></table>{features}"
    )


def _verdict_class(verdict: str | None) -> str:
    """The CSS class of a canary verdict (an hour's or the rollout's): roll back, promote, or still undecided."""
    return {"roll back": "regression", "promote": "improvement"}.get(verdict or "", "insufficient_data")


def _canary_html(c: dict[str, Any] | None) -> str:
    if not c:
        return '<p class="note">No canary rollout analysed (canary_analysis has not run).</p>'
    rep, traffic = c["report"], c["traffic"]
    syn, total = c["synthetic"]
    label = (
        " <b>SYNTHETIC</b> hourly traffic (the demo's generated rollout)."
        if total and syn == total
        else f" {syn} of {total} requests flagged synthetic."
        if syn
        else ""
    )
    parts = [f'<p class="note">Day {_e(c["day"])}, production {_e(rep.get("production"))}.{label}</p>']
    for can in rep.get("canaries", []):
        story = []
        for s in can.get("story", []):
            hh = str(s.get("hour", ""))[-5:-3]
            hour = traffic.get(hh, {})
            n_all = sum(hour.values())
            share = (
                f"{hour.get(can['canary'], 0)} of {n_all} ({_pct(hour.get(can['canary'], 0) / n_all)})"
                if n_all
                else ""
            )
            cls = _verdict_class(s.get("verdict"))
            story.append(
                f'<tr class="canary-hour"><td>{_e(s.get("hour"))}</td><td class="num">{_e(s.get("look"))}</td>'
                f'<td class="num">{_e(share)}</td><td class="{cls}">{_e(s.get("verdict"))}</td>'
                f"<td>{_e(', '.join(s.get('deciding') or []))}</td></tr>"
            )
        metrics = []
        for m in can.get("metrics", []):
            pct = str(m.get("effect_unit", "")).startswith("difference")
            f: Callable[[Any], str] = _pct if pct else (lambda v: "" if _missing(v) else f"{float(v):.3g}")
            d = _pts if pct else f  # a difference of two rates in points, a latency ratio as it is
            metrics.append(
                f'<tr><td>{_e(m.get("metric"))}</td><td class="num">{f(m.get("canary"))}</td>'
                f'<td class="num">{f(m.get("production"))}</td>'
                f'<td class="num">{d(m.get("effect"))} [{d(m.get("ci_low"))}, {d(m.get("ci_high"))}]</td>'
                f'<td class="num">{_e(None if _missing(m.get("p_value")) else _g(m["p_value"]))}</td>'
                f'<td class="num">{d(m.get("mde"))}</td><td class="num">{d(m.get("min_effect"))}</td>'
                f'<td class="num">{_e(m.get("n_canary"))} / {_e(m.get("n_production"))}</td>'
                f'<td class="{ {"worse": "regression", "not worse": "improvement"}.get(m.get("status"), "") }">{_e(m.get("status"))}</td></tr>'
            )
        cls = _verdict_class(can.get("verdict"))
        parts.append(
            f"<h3>{_e(can.get('canary'))} against {_e(can.get('production'))}: "
            f'<span class="{cls}" id="canary-verdict">{_e(can.get("verdict"))}</span> at {_e(can.get("hour"))}</h3>'
            f'<p class="note">{_e(can.get("reason"))}. Test: {_e(can.get("test"))}.</p>'
            '<table class="canary-story"><thead><tr><th>hour</th><th>look</th><th>canary traffic share</th>'
            f"<th>verdict</th><th>deciding metrics</th></tr></thead><tbody>{''.join(story)}</tbody></table>"
            '<table class="canary-metrics"><thead><tr><th>metric</th><th>canary</th><th>production</th>'
            "<th>effect [always-valid 95% interval]</th><th>p (always valid)</th><th>minimal detectable effect</th>"
            f"<th>minimum effect</th><th>n canary / production</th><th>status</th></tr></thead><tbody>{''.join(metrics)}"
            "</tbody></table>"
        )
    return "".join(parts)


def monitoring_html(m: dict[str, Any] | None) -> str:
    """The "Online monitoring" and "Canary" sections (empty string when nothing was monitored)."""
    if not m or (not m["daily"] and not m["canary"]):
        return ""
    note = _synthetic_note(m["synthetic"])
    return (
        '<h2 id="sec-monitoring">Online monitoring</h2>'
        f'<p class="note"><b>{_e(note)}</b> Daily sample of production traffic: user-feedback rates with their 95% '
        "intervals (Wilson; safety: exact Clopper-Pearson) and n, the debounced feedback alerts, drift of the inputs "
        "against the reference window and the shadow candidate's pairwise verdict.</p>"
        + _feedback_table(m["feedback"], m["synthetic"])
        + _daily_table(m["daily"], m["synthetic"])
        + '<h2 id="sec-canary">Canary</h2>'
        + _canary_html(m["canary"])
    )
