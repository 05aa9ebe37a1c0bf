"""What ``eval-pipeline run`` prints and writes for CI: the PASS/FAIL table, JUnit XML, a markdown summary.

In: one :class:`CIResult` per evaluated model version: the run artifact (``runs/.../run.json``), its
quality gate (:func:`~eval_pipeline.scoring.release.quality_gate`) and regression gate
(:func:`~eval_pipeline.scoring.release.regression_gate`), or the error that stopped it.
Out: :func:`exit_code` (0 pass, 1 a blocking gate failed, 2 an error of configuration or data,
3 an infrastructure error),
:func:`table` (plain text), :func:`junit_xml` (one ``testsuite`` per model version, one
``testcase`` per threshold plus one for the regression gate; a failed *blocking* threshold or a
blocking regression is a ``failure``, a failed warning threshold is reported in ``system-out``
and passes), :func:`markdown` (for ``$GITHUB_STEP_SUMMARY``). Every threshold line states its
value, 95% interval, n and bound; the regression line states the test family, its correction
and the baseline.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any

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
    baseline: str | None = None
    error: str | None = None
    error_kind: str | None = None  # "config" (exit 2) or "infra" (exit 3); None with an error = config
    run_id: str | None = None
    suite: str | None = None  # restrict the table and the decision to one suite
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def thresholds(self) -> list[dict[str, Any]]:
        sets = (self.artifact or {}).get("eval_sets", [])
        return [
            t for s in sets for t in s.get("thresholds", []) if self.suite is None or t["suite"] == self.suite
        ]

    @property
    def blocking_failures(self) -> list[str]:
        return [
            f"{t['suite']}/{t['eval_set']}:{t['metric']}"
            for t in self.thresholds()
            if t["enforced_blocking"] and not t["passed"]
        ]

    @property
    def regression_blocks(self) -> bool:
        return bool(self.regression) and not self.regression["passed"]

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
    bound = " and ".join(
        x
        for x in (
            f">= {t['min']}" if t.get("min") is not None else "",
            f"<= {t['max']}" if t.get("max") is not None else "",
        )
        if x
    )
    kind = (
        "blocking"
        if t["enforced_blocking"]
        else ("warning (blocking needs a calibrated judge)" if t.get("blocking") else "warning")
    )
    value = f"{_num(t.get('value'))} [{_num(t.get('ci_low'))}, {_num(t.get('ci_high'))}] (n={t.get('n')})"
    verdict = "PASS" if t["passed"] else ("FAIL" if t["enforced_blocking"] else "WARN")
    return f"{t['suite']}/{t['eval_set']}:{t['metric']}", value, bound or "-", kind, verdict


def regression_line(r: CIResult) -> str:
    g = r.regression
    if not g:
        return "regression: not compared"
    base = f" vs {r.baseline}" if r.baseline else ""
    verdict = "BLOCKS" if not g["passed"] else "ok"
    return f"regression{base}: {verdict} - {g.get('message') or g.get('status')} (gate: {g.get('gate') or '-'}; {g.get('gate_family_size') or 0} gated rows)"


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
                        case, "failure", message=f"{value} violates {bound} ({kind})"
                    ).text = f"{check}: {value}, bound {bound}"
                elif verdict == "WARN":
                    ET.SubElement(
                        case, "system-out"
                    ).text = f"WARNING {check}: {value} violates {bound} ({kind}, not blocking)"
            case = ET.SubElement(
                suite, "testcase", name="no_significant_regression", classname=r.model_version
            )
            cases += 1
            if r.regression_blocks:
                failures += 1
                ET.SubElement(case, "failure", message=regression_line(r)[:500]).text = regression_line(r)
            else:
                ET.SubElement(case, "system-out").text = regression_line(r)
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
        out += ["", "| check | value [95% CI] (n) | bound | kind | verdict |", "|---|---|---|---|---|"]
        out += ["| " + " | ".join(threshold_line(t)) + " |" for t in r.thresholds()]
        out += ["", regression_line(r), ""]
    return "\n".join(out)
