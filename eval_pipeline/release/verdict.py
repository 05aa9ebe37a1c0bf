"""The verdict in words: PASS / FAIL / NOT TESTED and *why*, one wording for every place that shows it.

In: threshold results (the ``thresholds`` of a run artifact's eval sets, :class:`ThresholdResult` dicts),
regression report rows and summaries (:func:`eval_pipeline.regression.compare.report_dict`), the run artifact.
Out: :class:`Verdict` (``verdict`` + ``why``) of the quality gate (:func:`quality_verdict`), the regression
gate (:func:`regression_verdict`) and the release (:func:`release_verdict`), and the one-line phrases they
are built from:

* a threshold: ``mini/routing pass_rate 0.735 [0.670, 0.791] < 0.8 (n=200)`` (:func:`threshold_why`);
* a regression row: ``mini/routing exact_match -6.2 pts [-9.1, -3.3], p=0.0004 (mcnemar_exact, n=200 pairs)``
  (:func:`regression_why`; effects of pass rates in percentage points, ``p`` the gate's corrected one-sided
  ``p_gate`` on gated rows, else the corrected two-sided ``p_adjusted``);
* a report row's label (:func:`row_label`): its verdict, except that a ``no_change`` row whose 95% interval
  excludes 0 says in which direction it moved and that it is not significant after correction.

The Dagster metadata of ``eval_run`` / ``regression_report`` / ``release_approval`` and the gate checks,
the ``eval-pipeline run`` table, JUnit XML, the markdown step summary, ``compare`` and the demo output all
call these, so a verdict reads the same everywhere. Plain Python: no Dagster, no pandas.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

PASS, FAIL, NOT_TESTED = "PASS", "FAIL", "NOT TESTED"
SEGMENT_ALL = "__all__"  # eval_pipeline.history.sql.SEGMENT_ALL (not imported: that module pulls in DuckDB)


@dataclass(frozen=True)
class Verdict:
    """A decision and the sentence that says why (deciding metric, value, interval, n, bound or effect and p)."""

    verdict: str  # PASS / FAIL / NOT TESTED
    why: str

    @property
    def failed(self) -> bool:
        return self.verdict == FAIL

    def line(self) -> str:
        return f"{self.verdict}: {self.why}"


def _missing(x: Any) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def num(x: Any, spec: str = ".3f") -> str:
    """``x`` formatted, ``-`` when missing."""
    return "-" if _missing(x) else format(x, spec)


def p_text(p: Any) -> str:
    """``p=0.0004`` (four decimals; ``p<0.0001`` below), ``p=-`` when missing."""
    if _missing(p):
        return "p=-"
    return "p<0.0001" if p < 0.0001 else f"p={p:.4f}"


def _bound_value(x: float) -> str:
    return f"{x:g}"


def bound_text(t: dict[str, Any]) -> str:
    """The threshold's bound: ``>= 0.8``, ``<= 0.1``, ``>= 0.5 and <= 0.9`` (``-`` when none)."""
    parts = []
    if t.get("min") is not None:
        parts.append(f">= {_bound_value(t['min'])}")
    if t.get("max") is not None:
        parts.append(f"<= {_bound_value(t['max'])}")
    return " and ".join(parts) or "-"


def threshold_check(t: dict[str, Any]) -> str:
    """``suite/eval_set:metric``, the name of a threshold in tables and JUnit."""
    return f"{t['suite']}/{t['eval_set']}:{t['metric']}"


def threshold_why(t: dict[str, Any]) -> str:
    """``mini/routing pass_rate 0.735 [0.670, 0.791] < 0.8 (n=200)``: the value, its 95% interval and n
    against the bound it violates (or, when it passes, the bound it meets)."""
    name = f"{t['suite']}/{t['eval_set']} {t['metric']}"
    value = t.get("value")
    if _missing(value):
        return f"{name} not produced (bound {bound_text(t)})"
    ci = f" [{num(t.get('ci_low'))}, {num(t.get('ci_high'))}]" if not _missing(t.get("ci_low")) else ""
    lo, hi = t.get("min"), t.get("max")
    if lo is not None and value < lo:
        rel = f"< {_bound_value(lo)}"
    elif hi is not None and value > hi:
        rel = f"> {_bound_value(hi)}"
    else:
        rel = bound_text(t)
    return f"{name} {num(value)}{ci} {rel} (n={t.get('n')})"


def _margin(t: dict[str, Any]) -> float:
    """How far a passing value is inside its bound (the smallest margin is the closest call)."""
    v = t.get("value")
    if _missing(v):
        return -math.inf
    gaps = [v - t["min"]] if t.get("min") is not None else []
    gaps += [t["max"] - v] if t.get("max") is not None else []
    return min(gaps) if gaps else math.inf


def quality_verdict(thresholds: list[dict[str, Any]]) -> Verdict:
    """The quality gate: FAIL names every failing blocking threshold; PASS names the closest blocking one."""
    if not thresholds:
        return Verdict(NOT_TESTED, "no thresholds configured")
    blocking = [t for t in thresholds if t["enforced_blocking"]]
    failed = [t for t in blocking if not t["passed"]]
    warned = [t for t in thresholds if not t["enforced_blocking"] and not t["passed"]]
    warn = f"; warning (not blocking): {'; '.join(threshold_why(t) for t in warned)}" if warned else ""
    if failed:
        return Verdict(FAIL, "; ".join(threshold_why(t) for t in failed) + warn)
    if not blocking:
        return Verdict(NOT_TESTED, f"no blocking threshold (of {len(thresholds)}: warnings only){warn or ''}")
    closest = min(blocking, key=_margin)
    rest = f" (all {len(blocking)} blocking thresholds pass; closest shown)" if len(blocking) > 1 else ""
    return Verdict(PASS, threshold_why(closest) + rest + warn)


def artifact_thresholds(artifact: dict[str, Any] | None, suite: str | None = None) -> list[dict[str, Any]]:
    """The threshold results of a run artifact (of one suite when given)."""
    sets = (artifact or {}).get("eval_sets", [])
    return [t for s in sets for t in s.get("thresholds", []) if suite is None or t["suite"] == suite]


# ---------------------------------------------------------------------------
# Regression rows
# ---------------------------------------------------------------------------


def _is_points(row: dict[str, Any]) -> bool:
    return row.get("measure") == "pass_rate"


def effect_text(row: dict[str, Any]) -> str:
    """``-6.2 pts [-9.1, -3.3]`` for pass rates (percentage points), ``-0.062 [-0.091, -0.033]`` for means."""
    if _is_points(row):

        def f(x: Any) -> str:
            return "-" if _missing(x) else f"{x * 100:+.1f}"

        return f"{f(row.get('effect'))} pts [{f(row.get('ci_low'))}, {f(row.get('ci_high'))}]"
    return f"{num(row.get('effect'), '+.3f')} [{num(row.get('ci_low'), '+.3f')}, {num(row.get('ci_high'), '+.3f')}]"


def row_name(row: dict[str, Any]) -> str:
    """``mini/routing exact_match`` (``[segment]`` for a segment row, `` mean`` for a mean-value row)."""
    seg = row.get("segment")
    name = f"{row['suite']}/{row['eval_set']} {row['metric']}"
    if seg not in (None, SEGMENT_ALL):
        name += f"[{seg}]"
    return name + ("" if _is_points(row) else " mean")


def row_p(row: dict[str, Any]) -> Any:
    """The p-value a row is decided on: ``p_gate`` on gated rows, else ``p_adjusted``, else ``p_value``."""
    for col in ("p_gate", "p_adjusted", "p_value"):
        if not _missing(row.get(col)):
            return row[col]
    return None


def regression_why(row: dict[str, Any]) -> str:
    """``mini/routing exact_match -6.2 pts [-9.1, -3.3], p=0.0004 (mcnemar_exact, n=200 pairs)``."""
    return (
        f"{row_name(row)} {effect_text(row)}, {p_text(row_p(row))} "
        f"({row.get('test') or '-'}, n={row.get('n_pairs')} pairs)"
    )


def row_label(row: dict[str, Any]) -> str:
    """A report row's verdict for display: ``no_change`` only when the interval includes 0; otherwise
    ``worse (n.s. after correction)`` / ``better (n.s. after correction)`` (significance or the minimum
    effect not reached), in the metric's direction."""
    verdict = str(row.get("verdict") or "")
    lo: Any = row.get("ci_low")
    hi: Any = row.get("ci_high")
    if verdict != "no_change" or _missing(lo) or _missing(hi) or lo <= 0 <= hi:
        return verdict
    up = lo > 0
    better = up if row.get("direction", "higher") != "lower" else not up
    return f"{'better' if better else 'worse'} (n.s. after correction)"


def _gated(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in rows if not _missing(r.get("gating")) and bool(r.get("gating"))]


def regression_verdict(report: dict[str, Any] | None, name_baseline: bool = True) -> Verdict:
    """The regression gate over a report dict (``summary`` + ``rows``): FAIL names every blocking row with its
    effect, interval and p; PASS names the gated row that moved most towards worse; NOT TESTED without a
    baseline or shared samples. ``name_baseline``: end with `` vs <baseline>`` (off where it is said already)."""
    if not report:
        return Verdict(NOT_TESTED, "no regression report")
    summary = report.get("summary") or {}
    rows = report.get("rows") or []
    if summary.get("status") not in (None, "ok"):
        return Verdict(NOT_TESTED, str(summary.get("message") or summary.get("status")))
    base = f" vs {summary['baseline']}" if summary.get("baseline") and name_baseline else ""
    gated = _gated(rows)
    blocking = [r for r in gated if r.get("verdict") == "regression"]
    if blocking:
        return Verdict(FAIL, "; ".join(regression_why(r) for r in blocking) + base)
    if not gated:
        return Verdict(NOT_TESTED, f"no gated comparison{base} (too few shared samples or nothing gated)")

    def worse(r: dict[str, Any]) -> float:
        e: Any = r.get("effect")
        return math.inf if _missing(e) else (e if r.get("direction") != "lower" else -e)

    w = min(gated, key=worse)
    return Verdict(
        PASS,
        f"no gated regression among {len(gated)} gated row(s){base}; largest drop: {regression_why(w)}",
    )


def report_status(summary: dict[str, Any], n_blocking: int) -> str:
    """The report's status with the gate in it: ``blocked`` when a gated row blocks, else the report status
    (``ok``, ``no_baseline``, ``no_overlap``)."""
    return "blocked" if n_blocking else str(summary.get("status") or "ok")


def release_verdict(artifact: dict[str, Any] | None, report: dict[str, Any] | None) -> Verdict:
    """The release: FAIL when either gate fails (both reasons named), PASS when the thresholds pass and the
    regression gate passes or had nothing to compare (said), NOT TESTED when neither could decide."""
    q = quality_verdict(artifact_thresholds(artifact))
    r = regression_verdict(report)
    if q.failed or r.failed:
        parts = [f"thresholds: {q.why}" if q.failed else "", f"regression: {r.why}" if r.failed else ""]
        return Verdict(FAIL, "; ".join(p for p in parts if p))
    if q.verdict == NOT_TESTED and r.verdict == NOT_TESTED:
        return Verdict(NOT_TESTED, f"thresholds: {q.why}; regression: {r.why}")
    return Verdict(PASS, f"thresholds: {q.why}; regression: {r.verdict} - {r.why}")
