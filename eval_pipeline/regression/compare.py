"""Candidate vs baseline: paired per-sample tests, effect sizes, one gated family, verdicts.

In: the candidate's and the baseline's long-format score rows (``SCORE_COLUMNS``).
Out: a :class:`RegressionReport` whose rows say, per (suite, eval_set, family, metric,
segment, measure), the test, n, effect with its interval, p / adjusted p, direction,
whether the row gates the release, and a verdict.

Tests (one per piece of evidence):

* ``pass_rate``: McNemar's exact conditional test (``mcnemar_exact``: binomial on the discordant pairs;
  its discreteness is spent by the gate's discrete Holm, see below) when every sample has one graded draw on
  each side - exact under the gate's null, "the candidate is no worse on the task distribution the golden set was
  drawn from", because the samples' (baseline, candidate) pairs are i.i.d.; with repeats, or with distinct draws
  of the baseline's earlier nights pooled in (``baseline_nights`` > 1), the paired t-test of the per-sample
  pass-fraction differences (``paired_t``: the sample is the unit, so correlated or replayed draws and a
  different model at temperature 0 do not break it).
* ``mean_value``: the paired t-test (default ``continuous_test``; Wilcoxon signed-rank or sign-flip on request) on
  per-sample mean values against the baseline night, only for metrics whose raw values are not 0/1 (a binary check
  with repeats gets its ``pass_rate`` row only).

Direction: every metric has one (:func:`metric_direction`); "worse" is a drop for
higher-is-better metrics and a rise for lower-is-better ones (``*_spread``,
``judge_unparseable``, ``judge_refusal``, latency, cost, counts). Auxiliary metrics
(those, and ``check.suffix`` diagnostics) are tested in their own direction but never gate.

Two p-values per row: ``p_value`` two-sided (descriptive; improvements and drill-down rows) and
``p_worse`` one-sided, "is the candidate worse in the metric's direction?" (exact McNemar: ``P(X >= n_worse)``,
``X ~ Binomial(n_worse + n_better, 0.5)``; Wilcoxon / sign-flip with the matching one-sided
alternative). The gate asks only that one-sided question, so gated rows are decided on ``p_worse``.

Multiplicity (what the release gate acts on): the **gated family** is, per eval set, the overall
(segment ``__all__``) rows of the metrics its **blocking thresholds** name (``RegressionConfig.blocking_metrics``,
derived by ``Suite.regression_config``: ``pass_rate`` (the composite) -> the pass rate of every check / thresholded judge dimension in it,
``<check>.pass_rate`` -> that check, ``cosine_pass_rate`` / ``mean_cosine`` -> cosine pass rate / mean,
``<dimension>.mean`` -> that dimension's mean), else one primary row per eval set; declared
``primary_metrics`` override; without suite information every non-auxiliary metric's row (pass rate for
pass/fail checks, mean value for continuous scores). It is corrected as one family (their ``p_worse`` -> ``p_gate``) with
``gate_procedure`` (default ``discrete_holm``: Holm over the p-values each exact McNemar row can attain,
Döhler 2010, Zhu & Guo 2019; family-wise error <= alpha, i.e. the chance that the gate
blocks on any false row is at most alpha; ``"holm"`` plain Holm; ``"bh"`` gives Benjamini-Hochberg, which
equals that bound only under the global null). The category segment rows of the gated metrics are in the gated
family too (``gate_segments``, default true): overall rows are corrected at ``1 - segment_alpha_share`` of alpha,
segment rows at ``segment_alpha_share`` (Bonferroni over the two parts), a segment blocking at ``min_effect_segment``.
Auxiliary rows (and segment rows with ``gate_segments: false``) are drill-down: Benjamini-Hochberg within their own
family, labelled but ``gating=False``.

A gated row is a **regression** when ``p_gate`` < alpha *and* the effect is at least ``min_effect``
worse in the metric's direction; a drill-down row when its (two-sided, BH) ``p_adjusted`` < alpha and
the same effect rule; **improvement**: ``p_adjusted`` < alpha and at least ``min_effect`` better;
**insufficient_data** below ``min_pairs`` shared samples; otherwise **no_change**.

Where the pieces live: :mod:`~eval_pipeline.project.regression_schema` (columns, verdicts, metric
directions), :mod:`~eval_pipeline.project.regression_config` (the ``regression:`` knobs),
:mod:`~eval_pipeline.regression.paired_tests` (exact McNemar, Wilcoxon / sign-flip, effect intervals, multiplicity
adjustment incl. discrete Holm, the exact stratified test), :mod:`~eval_pipeline.regression.pairing` (the runs paired
sample by sample, one test row per comparison), :mod:`~eval_pipeline.regression.gating` (the gated family,
verdicts, the rows that block), :mod:`~eval_pipeline.regression.baselines` (the baseline run and the nights pooled with
it); this module builds the report from them. :func:`~eval_pipeline.regression.gating.gate_rows` returns the rows
that block.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, cast

import numpy as np
import pandas as pd

from eval_pipeline.project.regression_config import RegressionConfig
from eval_pipeline.project.regression_schema import REPORT_COLUMNS, VERDICTS
from eval_pipeline.regression.baselines import RunRef
from eval_pipeline.regression.composite import with_composite_pass
from eval_pipeline.regression.draws import distinct_nights, draw_summary
from eval_pipeline.regression.gating import gate_description, gate_family, gate_rows, verdicts
from eval_pipeline.regression.judge_changes import refuse_mixed_judges
from eval_pipeline.regression.markdown import markdown_table
from eval_pipeline.regression.pairing import pair_runs, same_evidence, tested_rows
from eval_pipeline.release import verdict as verdict_words

# What a markdown table of report rows shows of each comparison: the segment and measure compared, the test,
# n, both sides and the effect with its interval (the report's table and the gate check's blocking rows).
EFFECT_TABLE_COLUMNS = (
    "segment",
    "measure",
    "test",
    "n_pairs",
    "baseline",
    "candidate",
    "effect",
    "ci_low",
    "ci_high",
)


@dataclass
class RegressionReport:
    """Result of :func:`regression_report`.

    ``status`` is ``"ok"``, ``"no_baseline"`` (first run: nothing to compare to,
    not an error) or ``"no_overlap"`` (baseline exists but shares no graded samples).
    ``rows`` has :data:`REPORT_COLUMNS`, one row per (suite, eval_set, family,
    metric, segment, measure).
    """

    status: str
    message: str
    candidate: RunRef | None
    baseline: RunRef | None
    rows: pd.DataFrame
    config: RegressionConfig
    baseline_reason: str = ""
    suite_configs: dict[str, RegressionConfig] = field(default_factory=dict)
    baseline_pool: list[str] = field(
        default_factory=list
    )  # earlier baseline nights pooled into pass/fail rows
    # how many distinct baseline draws each sample had ({draws: samples}) and the baseline answers' origin
    # (fresh provider calls vs response-store hits of an earlier night), from the score rows' ``draw`` / ``stored``
    baseline_draws: dict[str, Any] = field(default_factory=dict)

    @property
    def regressions(self) -> pd.DataFrame:
        return self.rows[self.rows["verdict"] == "regression"]

    @property
    def improvements(self) -> pd.DataFrame:
        return self.rows[self.rows["verdict"] == "improvement"]

    @property
    def gate_regressions(self) -> pd.DataFrame:
        """Regression rows that block the release (the gated family, see :func:`gate_rows`)."""
        return gate_rows(self.rows)

    @property
    def has_regression(self) -> bool:
        """True when the gate blocks: a gated row is a regression (drill-down rows never block)."""
        return bool(len(self.gate_regressions))

    def summary(self) -> dict[str, Any]:
        """Small JSON-able summary (for Dagster metadata)."""
        counts = {v: int((self.rows["verdict"] == v).sum()) for v in VERDICTS}
        return {
            "status": self.status,
            "message": self.message,
            "candidate": str(self.candidate) if self.candidate else None,
            "baseline": str(self.baseline) if self.baseline else None,
            "baseline_reason": self.baseline_reason,
            "baseline_pool": list(self.baseline_pool),
            "baseline_draws": dict(self.baseline_draws),
            "rows": len(self.rows),
            **counts,
            "gate_regressions": int(len(self.gate_regressions)),
            "gate_family": gate_family(self.rows),
            "gate_family_size": int(self.rows["gating"].fillna(False).astype(bool).sum())
            if len(self.rows)
            else 0,
            "gate_procedure": self.config.gate_procedure,
            "gate_segments": self.config.gate_segments,
            "gate": gate_description(self.config),
            "alpha": self.config.alpha,
            "min_effect": self.config.min_effect,
            "suite_configs": {s: gate_description(c) for s, c in self.suite_configs.items()},
        }

    def to_markdown(self, max_rows: int = 25, only_changes: bool = False) -> str:
        """Markdown table of the most important rows (regressions first), for metadata / PR comments."""
        status = verdict_words.report_status({"status": self.status}, len(self.gate_regressions))
        head = f"**{status}**: {self.message}\n\n"
        if self.rows.empty:
            return head.rstrip() + "\n"
        order = {"regression": 0, "improvement": 1, "insufficient_data": 2, "no_change": 3}
        df = self.rows.assign(_o=self.rows["verdict"].map(order)).sort_values(["_o", "p_adjusted", "effect"])
        records = cast(
            list[dict[str, Any]], df.to_dict(orient="records")
        )  # pandas-stubs: keys Hashable; these are str
        df["verdict"] = [verdict_words.row_label(r) for r in records]
        if only_changes:
            df = df[df["verdict"].isin(["regression", "improvement"])]
        cols = [
            "verdict",
            "gating",
            "suite",
            "family",
            "metric",
            *EFFECT_TABLE_COLUMNS,
            "p_adjusted",
            "p_gate",
        ]
        return head + markdown_table(df[cols], max_rows=max_rows)


def _empty_rows() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in REPORT_COLUMNS})


def regression_report(
    candidate_scores: pd.DataFrame,
    baseline_scores: pd.DataFrame | None,
    config: RegressionConfig | dict[str, RegressionConfig] | None = None,
    *,
    candidate: RunRef | None = None,
    baseline: RunRef | None = None,
    baseline_reason: str = "",
    suite_configs: dict[str, RegressionConfig] | None = None,
    baseline_pool: list[pd.DataFrame] | None = None,
    pool_runs: list[RunRef] | None = None,  # noqa: F811
) -> RegressionReport:
    """Compare a candidate run with its baseline, sample by sample.

    Args:
        candidate_scores: long-format score rows of the candidate run (``SCORE_COLUMNS``; at least
            suite, eval_set, sample_id, family, metric, value, passed, category).
        baseline_scores: the same for the baseline run, or ``None`` / empty on a first run.
        config: thresholds and methods (:class:`RegressionConfig`), or a ``{suite: RegressionConfig}`` mapping
            (taken as ``suite_configs``).
        candidate, baseline: run identities, only for messages.
        suite_configs: per-suite options (a suite's ``regression:`` YAML section); a suite not in it uses
            ``config``. Each suite's rows are tested with its own options (min effect, tests, segments,
            ``gate_segments``, alpha); the gated rows of all suites form ONE family, corrected with the common
            ``gate_procedure`` (discrete Holm when the suites disagree), each row compared with its suite's alpha -
            so the whole gate's false-block rate is at most the largest alpha.
        baseline_pool: earlier nights of the baseline's model version (one score frame per night, ``pool_runs``
            names them; :func:`pool_runs` picks them when ``baseline_nights`` > 1). Pass/fail rows pool their
            **distinct draws** with the baseline's, per sample - only samples and evaluators the baseline run has.
            A score row's ``draw`` column names the answer it scores (its response-store key,
            :func:`eval_pipeline.regression.draws.attach_draws`): an answer the store served again on a later night is
            the draw of the night that produced it and counts once; a night without ``draw`` is not pooled. Pooled
            rows use the per-sample paired t-test; it assumes the provider did not drift between the nights.
            Mean-value rows compare with the baseline night only.

    Returns:
        A :class:`RegressionReport`; ``status="no_baseline"`` with an explanatory message when
        there is nothing to compare to yet.
    """
    if isinstance(config, dict):  # {suite: RegressionConfig}: each suite's ``regression:`` section
        suite_configs, config = {**config, **(suite_configs or {})}, None
    cfg = config or RegressionConfig()
    cfg.validate()
    if baseline_scores is None or len(baseline_scores) == 0:
        msg = (
            "no baseline yet: this is the first scored run"
            + (f" ({candidate})" if candidate else "")
            + "; it becomes the baseline once it passes or is configured as the production model version"
        )
        return RegressionReport(
            "no_baseline",
            msg,
            candidate,
            None,
            _empty_rows(),
            cfg,
            baseline_reason,
            dict(suite_configs or {}),
        )
    # judge rows of an eval set judged by different judges are not compared (unless both were re-judged by one)
    candidate_scores, baseline_scores, refused = refuse_mixed_judges(candidate_scores, baseline_scores)
    cand_c, base_c = with_composite_pass(candidate_scores), with_composite_pass(baseline_scores)
    pairs = pair_runs(cand_c, base_c)
    # (name, the night's rows that measure what the baseline run did, new draws only)
    nights, replayed, no_draws = distinct_nights(
        base_c,
        [with_composite_pass(f) for f in (baseline_pool or [])],
        [str(r) for r in (pool_runs or [])],
        same_evidence,
    )
    pooled = (
        pair_runs(cand_c, pd.concat([base_c, *(f for _, f in nights)], ignore_index=True)) if nights else None
    )
    pool_names = [name for name, _ in nights]
    rows: list[dict[str, Any]] = []
    configs = dict(suite_configs or {})
    for c in configs.values():
        c.validate()
    for suite_name, sp in pairs.groupby("suite", sort=True) if len(pairs) else []:
        scfg = configs.get(str(suite_name), cfg)
        psp = pooled[pooled["suite"] == suite_name] if pooled is not None else None
        rows += [r | {"_alpha": scfg.alpha, "_min_pairs": scfg.min_pairs} for r in tested_rows(sp, scfg, psp)]
    present = sorted(set(pairs["suite"].astype(str))) if len(pairs) else []
    if len(present) == 1 and present[0] in configs:
        cfg = configs[present[0]]  # one suite (the usual case): its options are the report's options
    used = {configs.get(s, cfg).gate_procedure for s in present} or {cfg.gate_procedure}
    procedure = used.pop() if len(used) == 1 else "discrete_holm"
    if not rows and not refused:
        msg = f"baseline {baseline or ''} shares no graded samples with the candidate; nothing to compare"
        return RegressionReport(
            "no_overlap",
            msg.replace("  ", " "),
            candidate,
            baseline,
            _empty_rows(),
            cfg,
            baseline_reason,
            configs,
        )
    pre = pd.DataFrame(rows)
    short = pre[pre["gating"].astype(bool) & (pre["n_pairs"] < pre["_min_pairs"])]
    df = verdicts(pre, cfg, procedure)[REPORT_COLUMNS] if rows else pd.DataFrame(columns=REPORT_COLUMNS)
    if refused:
        df = pd.concat([df, pd.DataFrame(refused).reindex(columns=REPORT_COLUMNS)], ignore_index=True)
    n_reg, n_imp = int((df["verdict"] == "regression").sum()), int((df["verdict"] == "improvement").sum())
    n_gate, n_block = int(df["gating"].sum()), int(len(gate_rows(df)))
    msg = (
        f"{candidate or 'candidate'} vs {baseline or 'baseline'}: {n_block} blocking regression(s) among "
        f"{n_gate} gated comparisons ({cfg.gate_procedure}, alpha={cfg.alpha}, min effect "
        f"{cfg.min_effect * 100:g} points); {n_reg} regression(s), {n_imp} improvement(s) over all {len(df)} "
        f"rows incl. drill-down"
        + (
            f"; {len(refused)} judge eval set(s) NOT compared: judged by different judges (re-score the baseline "
            f"with the new judge, rescore_job)"
            if refused
            else ""
        )
        + (
            f"; pass/fail rows pool the baseline with the distinct draws of {len(nights)} earlier night(s) of its "
            f"model version ({', '.join(pool_names)})"
            if nights
            else ""
        )
        + (
            f"; NOT pooled, their answers are draws already counted (response-store hits): {', '.join(replayed)}"
            if replayed
            else ""
        )
        + (
            f"; NOT pooled, which draw each answer is is unknown (no responses with cache keys): {', '.join(no_draws)}"
            if no_draws
            else ""
        )
    )
    if len(short):  # a gated comparison that could not be tested must be said, not look like a pass
        names = ", ".join(
            f"{r['eval_set']}:{r['metric']}.{r['measure']} (n={r['n_pairs']} < {r['_min_pairs']})"
            for _, r in short.iterrows()
        )
        msg += (
            f"; NOT TESTED, too few shared samples for the regression gate (min_pairs): {names} - "
            f"only the thresholds decide these"
        )
    return RegressionReport(
        "ok",
        msg,
        candidate,
        baseline,
        df.reset_index(drop=True),
        cfg,
        baseline_reason,
        configs,
        pool_names,
        baseline_draws=draw_summary(base_c, [f for _, f in nights]),
    )


def report_dict(report: RegressionReport) -> dict[str, Any]:
    """JSON-able form of a report (summary + rows + config)."""
    return {
        "summary": report.summary(),
        "config": asdict(report.config),
        "suite_configs": {s: asdict(c) for s, c in report.suite_configs.items()},
        "rows": report.rows.replace({np.nan: None}).to_dict(orient="records"),
    }
