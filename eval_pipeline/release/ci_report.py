"""What ``eval-pipeline run`` prints and writes for CI: the PASS/FAIL table, JUnit XML, a markdown summary.

In: one :class:`CIResult` per evaluated model version: the run artifact (``runs/.../run.json``), its
quality gate (:func:`~eval_pipeline.release.decision.quality_gate`) and regression gate
(:func:`~eval_pipeline.release.decision.regression_gate`), or the error that stopped it.
Out: :func:`exit_code` (0 pass, 1 a blocking gate failed, 2 an error of configuration or data,
3 an infrastructure error),
:func:`table` (plain text), :func:`junit_xml` (one ``testsuite`` per model version, one
``testcase`` per threshold plus one for the regression gate; a failed *blocking* threshold or a
blocking regression is a ``failure``, a failed warning threshold is reported in ``system-out``
and passes), :func:`markdown` (for ``$GITHUB_STEP_SUMMARY``). Every threshold line states its
value, 95% interval, n and bound; the regression line names the blocking metric with its effect,
interval and p (or the largest gated drop), and the baseline. The wording is
:mod:`eval_pipeline.release.verdict`'s, the same as in the Dagster UI.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any

from eval_pipeline.release import verdict as vd

EXIT_PASS, EXIT_GATE_FAILED, EXIT_ERROR, EXIT_INFRA = 0, 1, 2, 3  # see scoring/errors_report.py


@dataclass
class CIResult:
    """One model version's outcome in a CI run."""

    name: str
    model_version: str
    date: str
    artifact: dict[str, Any] | None = None
    quality: dict[str, Any] | None = None
    regression: dict[str, Any] | None = None
    report: dict[str, Any] | None = None  # the regression report dict the regression gate was decided on
    baseline: str | None = None
    error: str | None = None
    error_kind: str | None = None  # "config" (exit 2) or "infra" (exit 3); None with an error = config
    run_id: str | None = None
    suite: str | None = None  # restrict the table and the decision to one suite
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def thresholds(self) -> list[dict[str, Any]]:
        return vd.artifact_thresholds(self.artifact, self.suite)

    def quality_verdict(self) -> vd.Verdict:
        return vd.quality_verdict(self.thresholds())

    def regression_verdict(self) -> vd.Verdict:
        if self.report is not None:
            return vd.regression_verdict(self.report, name_baseline=not self.baseline)
        g = self.regression
        if not g:
            return vd.Verdict(vd.NOT_TESTED, "not compared")
        if not g["passed"]:  # a gate dict without its report: the blocking rows are in it
            return vd.Verdict(vd.FAIL, "; ".join(vd.regression_why(r) for r in g.get("blocking") or []))
        return vd.Verdict(vd.PASS if g.get("status") == "ok" else vd.NOT_TESTED, str(g.get("message")))

    def why(self) -> str:
        """What decided the status, in the words of :mod:`eval_pipeline.release.verdict`."""
        if self.error:
            return self.error
        q, r = self.quality_verdict(), self.regression_verdict()
        parts = [f"thresholds: {q.why}" if q.failed else "", f"regression: {r.why}" if r.failed else ""]
        return "; ".join(p for p in parts if p) or f"thresholds: {q.why}; regression: {r.verdict} - {r.why}"

    @property
    def blocking_failures(self) -> list[str]:
        return [
            f"{t['suite']}/{t['eval_set']}:{t['metric']}"
            for t in self.thresholds()
            if t["enforced_blocking"] and not t["passed"]
        ]

    @property
    def regression_blocks(self) -> bool:
        return self.regression is not None and bool(self.regression) and not self.regression["passed"]

    @property
    def status(self) -> str:
        if self.error:
            return "ERROR"
        return "FAIL" if self.blocking_failures or self.regression_blocks else "PASS"


def exit_code(results: list[CIResult]) -> int:
    """3 if any version hit an infrastructure error, else 2 if any hit a configuration/data error,
    else 1 if any blocking gate failed, else 0."""
    if not results:
        return EXIT_ERROR
    errors = [r for r in results if r.status == "ERROR"]
    if errors:
        return EXIT_INFRA if any(r.error_kind == "infra" for r in errors) else EXIT_ERROR
    return EXIT_GATE_FAILED if any(r.status == "FAIL" for r in results) else EXIT_PASS


def _num(x: Any, spec: str = ".3f") -> str:
    return "-" if x is None else format(x, spec)


def threshold_line(t: dict[str, Any]) -> tuple[str, str, str, str, str]:
    """(check, value [95% CI] (n), bound, kind, verdict) of one threshold result."""
    bound = vd.bound_text(t)
    kind = (
        "blocking"
        if t["enforced_blocking"]
        else ("warning (blocking needs a calibrated judge)" if t.get("blocking") else "warning")
    )
    value = f"{_num(t.get('value'))} [{_num(t.get('ci_low'))}, {_num(t.get('ci_high'))}] (n={t.get('n')})"
    verdict = "PASS" if t["passed"] else ("FAIL" if t["enforced_blocking"] else "WARN")
    return vd.threshold_check(t), value, bound, kind, verdict


def regression_line(r: CIResult) -> str:
    """``regression vs <baseline>: FAIL - <metric> <effect> [<interval>], p=...`` (PASS / NOT TESTED likewise)."""
    base = f" vs {r.baseline}" if r.baseline else ""
    return f"regression{base}: {r.regression_verdict().line().replace(': ', ' - ', 1)}"


def gate_line(r: CIResult) -> str:
    """How the regression gate decides (test family, correction, alpha): for JUnit system-out and the summary."""
    g = r.regression or {}
    return f"regression gate: {g.get('gate') or '-'} ({g.get('gate_family_size') or 0} gated rows)"


def table(results: list[CIResult]) -> str:
    """The plain-text PASS/FAIL table with the thresholds that decided it and the regression summary."""
    lines = []
    for r in results:
        lines.append(
            f"== {r.name} ({r.model_version}) on {r.date}: {r.status}"
            + (f" [{r.seconds:.1f}s]" if r.seconds else "")
        )
        if r.error:
            lines.append(f"   error: {r.error}")
            continue
        rows = [threshold_line(t) for t in r.thresholds()]
        if rows:
            widths = [
                max(len(x[i]) for x in rows + [("check", "value [95% CI] (n)", "bound", "kind", "verdict")])
                for i in range(5)
            ]
            head = ("check", "value [95% CI] (n)", "bound", "kind", "verdict")
            for row in [head] + rows:
                lines.append("   " + "  ".join(c.ljust(w) for c, w in zip(row, widths)))
        lines.append("   " + regression_line(r))
        if r.blocking_failures:
            lines.append(f"   blocking failures: {', '.join(r.blocking_failures)}")
        if r.status == "FAIL":
            lines.append(f"   why: {r.why()}")
    lines.append(
        f"overall: {['PASS', 'FAIL', 'ERROR', 'ERROR'][exit_code(results)]} (exit {exit_code(results)})"
    )
    return "\n".join(lines)


def junit_xml(results: list[CIResult]) -> str:
    """JUnit XML: a testsuite per model version, a testcase per threshold and one for the regression gate."""
    root = ET.Element("testsuites", name="eval-pipeline")
    for r in results:
        suite = ET.SubElement(root, "testsuite", name=f"{r.name}@{r.date}", timestamp=r.date)
        cases = failures = errors = 0
        if r.error:
            case = ET.SubElement(suite, "testcase", name="pipeline", classname=r.model_version)
            ET.SubElement(case, "error", message=r.error[:500]).text = r.error
            cases, errors = 1, 1
        else:
            for t in r.thresholds():
                check, value, bound, kind, verdict = threshold_line(t)
                case = ET.SubElement(suite, "testcase", name=f"{check} {bound}", classname=r.model_version)
                cases += 1
                if verdict == "FAIL":
                    failures += 1
                    ET.SubElement(
                        case, "failure", message=f"{vd.threshold_why(t)} ({kind})"
                    ).text = f"{check}: {value}, bound {bound}"
                elif verdict == "WARN":
                    ET.SubElement(
                        case, "system-out"
                    ).text = f"WARNING {vd.threshold_why(t)} ({kind}, not blocking)"
            case = ET.SubElement(
                suite, "testcase", name="no_significant_regression", classname=r.model_version
            )
            cases += 1
            if r.regression_blocks:
                failures += 1
                ET.SubElement(
                    case, "failure", message=regression_line(r)[:500]
                ).text = f"{regression_line(r)}\n{gate_line(r)}"
            else:
                ET.SubElement(case, "system-out").text = f"{regression_line(r)}\n{gate_line(r)}"
        suite.set("tests", str(cases))
        suite.set("failures", str(failures))
        suite.set("errors", str(errors))
        suite.set("time", f"{r.seconds:.3f}")
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True)


def markdown(results: list[CIResult]) -> str:
    """A markdown summary (GitHub step summary)."""
    out = [f"## Eval: {['PASS', 'FAIL', 'ERROR', 'ERROR'][exit_code(results)]}", ""]
    for r in results:
        out.append(f"### {r.name} (`{r.model_version}`) on {r.date}: **{r.status}**")
        if r.error:
            out += ["", f"```\n{r.error}\n```", ""]
            continue
        if r.status == "FAIL":
            out += ["", f"**Why:** {r.why()}"]
        out += ["", "| check | value [95% CI] (n) | bound | kind | verdict |", "|---|---|---|---|---|"]
        out += ["| " + " | ".join(threshold_line(t)) + " |" for t in r.thresholds()]
        out += ["", regression_line(r), "", f"<sub>{gate_line(r)}</sub>", ""]
    return "\n".join(out)
