"""The release gate as plain functions: what blocks a candidate's ``release_approval``.

In: the run artifact (``runs/.../run.json``: its eval sets' threshold results) and the regression
report (``reports/regression/.../report.json``, :func:`eval_pipeline.regression.compare.report_dict`).
Out: JSON-able decisions. The Dagster checks ``quality_gate`` / ``no_significant_regression`` and the
``release_approval`` asset call these, and so does the detection benchmark - one implementation.

* :func:`quality_gate`: blocked when an enforced-blocking threshold fails (judge thresholds block
  only when the judge is calibrated; that is decided upstream in ``scoring.apply_thresholds``).
* :func:`regression_gate`: blocked when a row of the gated family is a significant regression
  (:func:`eval_pipeline.regression.gating.gate_rows`; the family and its correction are named in the
  report summary ``gate_procedure`` / ``gate``, the rows in ``gated_rows``; gated rows are decided on
  their one-sided ``p_gate``); no baseline or no overlap does not block.
* :func:`release_decision`: approved iff neither blocks.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from eval_pipeline.regression.gating import gate_rows


def quality_gate(artifact_or_thresholds: dict[str, Any] | list[dict[str, Any]]) -> dict[str, Any]:
    """Threshold gate over a run artifact (or a list of threshold-result dicts)."""
    if isinstance(artifact_or_thresholds, dict):
        thresholds = [t for s in artifact_or_thresholds.get("eval_sets", []) for t in s.get("thresholds", [])]
    else:
        thresholds = list(artifact_or_thresholds)
    failing = [t for t in thresholds if not t["passed"]]
    blocking = [t for t in failing if t["enforced_blocking"]]
    return {
        "passed": not blocking,
        "n_thresholds": len(thresholds),
        "n_failing": len(failing),
        "n_blocking": len(blocking),
        "failing": failing,
        "blocking_failures": [f"{t['suite']}/{t['eval_set']}:{t['metric']}" for t in blocking],
    }


def regression_gate(report: dict[str, Any]) -> dict[str, Any]:
    """Regression gate over a report dict (``summary`` + ``rows``)."""

    summary = report.get("summary", {})
    rows = pd.DataFrame(report.get("rows") or [])
    blocking = gate_rows(rows)
    gated = rows[rows["gating"].fillna(False).astype(bool)] if "gating" in rows else rows.iloc[0:0]
    sequential = report.get("sequential") or {}
    pending = sequential.get("state") == "continue"  # a sequential run between looks: not decided yet
    return {
        "passed": len(blocking) == 0 and not pending,
        **(
            {"sequential": {k: v for k, v in sequential.items() if k not in ("rows", "looks")}}
            if sequential
            else {}
        ),
        "status": summary.get("status"),
        "message": summary.get("message"),
        "gate_procedure": summary.get("gate_procedure"),
        "gate": summary.get("gate"),
        "gate_family": summary.get("gate_family"),
        "gate_family_size": summary.get("gate_family_size"),
        "alpha": summary.get("alpha"),
        "gated_rows": [
            f"{r['suite']}/{r['eval_set']}:{r['metric']}.{r['measure']}"
            + ("" if r["segment"] == "__all__" else f"[{r['segment']}]")
            for _, r in gated.iterrows()
        ],
        "n_blocking": int(len(blocking)),
        "blocking": blocking.to_dict(orient="records"),
    }


def release_decision(artifact: dict[str, Any], report: dict[str, Any]) -> dict[str, Any]:
    """``approved`` iff the quality gate and the regression gate both pass; both decisions included."""
    q, r = quality_gate(artifact), regression_gate(report)
    return {"approved": bool(q["passed"] and r["passed"]), "quality_gate": q, "regression_gate": r}
