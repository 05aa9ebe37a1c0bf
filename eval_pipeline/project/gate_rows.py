"""Which regression rows an eval set gates, and in which direction each score row counts as better.

In: a validated :class:`~eval_pipeline.project.suites.EvalSet` (its checks, judge dimensions and
thresholds). Out: ``gated_rows`` (the ``<metric>:<measure>`` rows of the regression report its blocking
thresholds name) and ``metric_directions`` (``{metric: "higher" | "lower" | "unknown"}``, from ``max:`` /
``min:`` bounds and a judge dimension's ``higher_is_better``). Re-exported by ``project.suites``.

Plain Python: no Dagster here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from eval_pipeline.project.suites import EvalSet


def _threshold_rows(es: EvalSet, metric: str) -> list[str]:
    """Regression rows (``<metric>:<measure>`` of ``regression.compare``) that an eval-set threshold metric is about."""
    checks = [c.name or c.type for c in es.checks]
    dims = es.judge.dimensions if es.judge else []
    scored = [d.name for d in dims if d.threshold is not None] or [d.name for d in dims[:1]]
    if metric == "pass_rate":
        # The composite (a sample passes when every check / thresholded dimension passes): a regression in any
        # component breaks it, so every component's row is gated. Not the composite row itself
        # (``regression.composite``, drill-down): measured in benchmarks/detection, its noise is the sum of the
        # components' run-to-run flips, and a 5-point drop in one check was blocked 0.32 of the time against
        # 0.73 with per-component rows.
        if es.family == "deterministic" and checks:
            return [f"{c}:pass_rate" for c in checks]
        if es.family == "judge" and scored:
            return [f"{d}:pass_rate" for d in scored]
    if metric == "cosine_pass_rate":
        return ["cosine:pass_rate"]
    if metric == "mean_cosine":
        return ["cosine:mean_value"]
    if metric.endswith(".pass_rate"):
        return [f"{metric.removesuffix('.pass_rate')}:pass_rate"]
    if metric.endswith(".mean"):
        return [f"{metric.removesuffix('.mean').removeprefix('judge.')}:mean_value"]
    if metric in checks:
        return [f"{metric}:mean_value"]
    return []


def metric_directions(es: EvalSet) -> dict[str, str]:
    """``{metric: "higher" | "lower" | "unknown"}`` for the score metrics whose direction the eval set declares:
    a judge dimension's ``higher_is_better``, and each threshold on a metric's mean (``<dim>.mean``,
    ``mean_cosine``, a check's value): ``max:`` only = lower is better, ``min:`` only = higher is better, both
    bounds (or a bound contradicting the dimension) = unknown, which never gates."""
    out: dict[str, str] = {}
    for d in es.judge.dimensions if es.judge else []:
        if not d.higher_is_better:
            out[d.name] = "lower"
    for t in es.thresholds:
        rows = [r.split(":", 1)[0] for r in _threshold_rows(es, t.metric) if r.endswith(":mean_value")]
        said = (
            "unknown" if t.min is not None and t.max is not None else ("lower" if t.min is None else "higher")
        )
        for metric in rows:
            before = out.get(metric)
            out[metric] = said if before in (None, said) else "unknown"
    return out


def gated_rows(es: EvalSet) -> list[str]:
    """The eval set's gated regression rows: those its blocking thresholds name (``pass_rate``, the composite
    -> the pass rate of every check / every thresholded judge dimension it is made of, ``<check>.pass_rate``,
    ``cosine_pass_rate`` -> cosine pass rate, ``mean_cosine`` -> cosine mean, ``<dimension>.mean``); with no
    blocking threshold that maps, one primary row (deterministic: first check's pass rate; similarity: cosine
    mean; pointwise judge: first scored dimension's mean). ``[]``
    (pairwise judge, nothing known): ``regression.compare`` gates every metric."""
    rows = [r for t in es.thresholds if t.blocking for r in _threshold_rows(es, t.metric)]
    if not rows:
        if es.family == "deterministic" and es.checks:
            rows = _threshold_rows(es, "pass_rate")[:1]
        elif es.family == "similarity":
            rows = ["cosine:mean_value"]
        elif es.family == "judge" and es.judge is not None and es.judge.mode == "pointwise":
            dims = es.judge.dimensions
            scored = [d.name for d in dims if d.threshold is not None] or [d.name for d in dims]
            rows = [f"{scored[0]}:mean_value"] if scored else []
    return list(dict.fromkeys(rows))
