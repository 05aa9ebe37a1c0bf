"""The regression report of one evaluation partition, as the ``regression_report`` asset stores and shows it.

In: the project (each suite's declared baseline and ``regression:`` config), the warehouse and its root, the
partition (date, model-version key), the sequential gate's options when the run is sequential (``eval-pipeline run
--sequential``) and a reader of the candidate's responses (their cost, for the money a sequential stop saved).
Out: :class:`PartitionReport` - the :class:`~eval_pipeline.regression.compare.RegressionReport` and its report dict
(the sequential section first, then :func:`~eval_pipeline.regression.compare.report_dict`), stored as
:meth:`PartitionReport.stored_bytes` at ``keys.regression_report(date, mv)`` - and :func:`summary_fields`, the
figures the asset shows, in the order shown (the fields named in :data:`SUMMARY_JSON` and :data:`SUMMARY_MD` are
JSON and markdown, ``path`` is the stored report's URI). For its check ``no_significant_regression``: from the
stored report and the gate's decision over it (:func:`~eval_pipeline.release.decision.regression_gate`, which the
check calls; this stage never imports the decisions), :func:`gate_check_fields`, the check's fields in order
(:data:`CHECK_MD`, :data:`CHECK_JSON`; text only: Dagster plots a check's numeric metadata across partitions).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from eval_pipeline.history.sources import HistorySources
from eval_pipeline.history.sql import SEGMENT_ALL
from eval_pipeline.project.loader import Project
from eval_pipeline.regression.baselines import RunRef, declared_baseline
from eval_pipeline.regression.compare import EFFECT_TABLE_COLUMNS, RegressionReport, report_dict
from eval_pipeline.regression.gating import gate_description, gate_family
from eval_pipeline.regression.sequential_replay import SequentialOptions, report_section, summary_line
from eval_pipeline.regression.stored_runs import load_run_scores_with_draws, regression_report_for_run
from eval_pipeline.release import verdict as vd

SUMMARY_JSON = ("baseline_pool", "gate_family", "sequential_detail")
SUMMARY_MD = ("report",)


@dataclass
class PartitionReport:
    """A partition's regression report: the comparison and the dict that is stored."""

    rep: RegressionReport
    report: dict[str, Any]

    def stored_bytes(self) -> bytes:
        """The report as stored (indented JSON; values JSON cannot hold as text)."""
        return json.dumps(self.report, default=str, indent=2).encode("utf-8")


def build_partition_report(
    project: Project,
    wh: Any,
    root: str,
    run: RunRef,
    sequential: SequentialOptions | None,
    responses: Callable[[], pd.DataFrame],
) -> PartitionReport:
    """The report of ``run`` against its baseline (the suites' ``baseline_model_version``, else production's
    stored runs); with ``sequential``, its section is computed first, which also makes the gated rows say the
    sequential gate's verdicts (:func:`~eval_pipeline.regression.sequential_replay.report_section`)."""
    con, sources = wh.connect_duckdb(), HistorySources.for_root(root)
    declared, declared_why = declared_baseline(project, run.model_version)
    rep = regression_report_for_run(
        con,
        sources,
        run,
        production_model_version=declared,
        config={name: suite.regression_config() for name, suite in project.suites.items()},
        production_reason=declared_why,
    )
    section = {}
    if sequential is not None and rep.baseline is not None:
        candidate = load_run_scores_with_draws(con, sources, run)  # rep.candidate is run
        baseline = load_run_scores_with_draws(con, sources, rep.baseline)
        section = {"sequential": report_section(rep, candidate, baseline, sequential, responses())}
    return PartitionReport(rep, section | report_dict(rep))


def summary_fields(part: PartitionReport, uri: str) -> dict[str, Any]:
    """What the asset shows, in order: first the gate's decision and why (the blocking metric, its effect,
    interval and p), then the baseline, the counts, the gate, a sequential run's line, the report table, ``uri``."""
    rep, report = part.rep, part.report
    verdict = vd.regression_verdict(json.loads(json.dumps(report, default=str)))
    family = gate_family(rep.rows)
    return {
        "verdict": verdict.verdict,
        "why": verdict.why,
        "status": vd.report_status(report["summary"], len(rep.gate_regressions)),
        "baseline": str(rep.baseline) if rep.baseline else "none",
        "baseline_reason": rep.baseline_reason,
        "baseline_pool": list(rep.baseline_pool),
        "regressions": int(len(rep.regressions)),
        "gate_regressions": int(len(rep.gate_regressions)),
        "gate_procedure": rep.config.gate_procedure,
        "gate": gate_description(rep.config),
        "gate_family": family,
        "gate_family_size": len(family),
        "improvements": int(len(rep.improvements)),
        **_sequential_fields(report.get("sequential")),
        "report": rep.to_markdown(max_rows=15),
        "path": uri,
    }


def _sequential_fields(section: dict[str, Any] | None) -> dict[str, Any]:
    if not section:
        return {}
    brief = {k: v for k, v in section.items() if k not in ("rows", "looks", "next_units")}
    return {"sequential": summary_line(section), "sequential_detail": brief}


def overall_rows(rep: RegressionReport) -> pd.DataFrame:
    """The rows the comparison chart shows: the whole-set (``__all__``) rows, else every row (segments are in
    the JSON and the HTML report)."""
    overall = rep.rows[rep.rows["segment"] == SEGMENT_ALL]
    return overall if len(overall) else rep.rows


CHECK_MD = ("regressions",)
CHECK_JSON = ("gated_rows",)
BLOCKING_COLUMNS = ["suite", "eval_set", "metric", *EFFECT_TABLE_COLUMNS, "p_worse", "p_gate"]


def gate_check_fields(report: dict[str, Any], gate: dict[str, Any], partition: str) -> dict[str, Any]:
    """The check's fields from the stored ``report`` and the regression ``gate`` over it: the verdict and why,
    the partition, the report's status and message, the blocking rows, the gate's procedure, description and
    family."""
    blocking = pd.DataFrame(gate["blocking"])
    columns = [c for c in BLOCKING_COLUMNS if c in blocking]
    verdict = vd.regression_verdict(report)
    return {
        "verdict": verdict.verdict,
        "why": verdict.why,
        "partition": partition,
        "status": vd.report_status(report.get("summary") or {}, gate["n_blocking"]),
        "message": gate["message"] or "",
        "regressions": blocking[columns].to_markdown(index=False) if len(blocking) else "none",
        "gate_procedure": str(gate["gate_procedure"]),
        "gate": str(gate["gate"]),
        "gate_family": f"{gate['gate_family_size'] or 0} gated row(s) at alpha={gate['alpha']}",
        "gated_rows": gate["gated_rows"],
    }
