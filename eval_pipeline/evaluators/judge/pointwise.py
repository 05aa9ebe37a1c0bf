"""Pointwise judging: each response scored on every rubric dimension, ``repeats`` times.

In: a graded-samples frame (``response_text`` per sample row), a pointwise
:class:`~.config.JudgeConfig` and an ``execute`` provider function. Out:

* :func:`judge_pointwise_verdicts` - one verdict row per (sample row, judge repeat)
  (:data:`VERDICT_COLUMNS`); rows with an infrastructure error or no text are ``skipped``.
* :func:`aggregate_pointwise` - score rows: per dimension the median over valid judge repeats
  (passed = median >= threshold), a ``<dim>_spread`` row (max - min), and per sample the counts of
  ``judge_unparseable`` / ``judge_refusal`` repeats, and the words of the answer and of a text
  reference (``response_word_count`` / ``reference_word_count``). :func:`eval_pipeline.evaluators.judge.score`
  runs both.
* :func:`summarize_pointwise` - per-dimension mean, pass rate with a 95% interval (Wilson, or
  clustered by sample with several response repeats) and n, for asset metadata and gates, and
  ``length_association`` (score vs length per dimension, :mod:`.length_control`).
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Sequence
from typing import Any

import pandas as pd

from eval_pipeline.evaluators.judge.length_control import (
    LENGTH_METRIC,
    REFERENCE_LENGTH_METRIC,
    summarize_length_pointwise,
)
from eval_pipeline.evaluators.judge.parse import (
    STATUS_OK,
    STATUS_REFUSAL,
    STATUS_UNPARSEABLE,
    _Call,
    _infra_only,
)
from eval_pipeline.evaluators.judge.prompts import PromptTemplate, _sample_context
from eval_pipeline.evaluators.judge.requests import Executor
from eval_pipeline.evaluators.judge.rows import (
    FAMILY,
    _excerpt,
    _length_row,
    _sample_groups,
    _score_row,
    _status_totals,
)
from eval_pipeline.evaluators.judge.run import judge_verdicts
from eval_pipeline.evaluators.judge.samples import _SAMPLE_COLUMNS, _cell, _response_skip_reason, _row_value
from eval_pipeline.evaluators.metrics import clustered_proportion
from eval_pipeline.project.judge import JudgeConfig
from eval_pipeline.project.schemas import JUDGE_SCORE_COLUMNS

VERDICT_COLUMNS = [
    "row",
    "sample_id",
    "repeat",
    "judge_repeat",
    "status",
    "scores",
    "reasoning",
    "attempts",
    "cost_usd",
    "cached",
    "message",
]


def judge_pointwise_verdicts(
    samples: pd.DataFrame, config: JudgeConfig, execute: Executor, *, prompt: PromptTemplate | None = None
) -> pd.DataFrame:
    """Run the pointwise judge ``config.repeats`` times per sample row.

    Returns one row per (sample row, judge repeat): ``row, sample_id, repeat, judge_repeat,
    status, scores (dict dim->int or None), reasoning, attempts, cost_usd, cached, message``.
    Rows whose response is an infra error or has no text are not sent (status ``skipped``).
    """
    dims = [d.name for d in config.dimensions]

    def contexts(i: int) -> dict[str, dict[str, Any]]:
        return {"": _sample_context(config, samples, i, response=str(samples["response_text"].iat[i]))}

    def verdict_row(calls: Sequence[_Call]) -> dict[str, Any]:
        (c,) = calls
        v = c.verdict or {}
        ok = c.status == STATUS_OK
        return {
            "status": c.status,
            "scores": {d: int(v[d]) for d in dims} if ok else None,
            "reasoning": v.get("reasoning") if ok else None,
            "attempts": c.attempts,
            "cost_usd": c.cost_usd,
            "cached": c.cached,
            "message": c.error_message,
        }

    return judge_verdicts(
        samples,
        config,
        execute,
        prompt,
        "pointwise",
        sample_columns=_SAMPLE_COLUMNS,
        columns=VERDICT_COLUMNS,
        status_columns=["status"],
        contexts=contexts,
        verdict_row=verdict_row,
    )


def aggregate_pointwise(
    samples: pd.DataFrame,
    verdicts: pd.DataFrame,
    config: JudgeConfig,
    *,
    prompt: PromptTemplate | None = None,
    keys: dict[str, Any] | None = None,
) -> pd.DataFrame:
    """Long-format score rows from pointwise verdicts (``JUDGE_SCORE_COLUMNS``: ``SCORE_COLUMNS`` + the judge identity).

    Per sample row and dimension: ``value`` = median over valid judge repeats, ``passed`` =
    median >= threshold (None without a threshold or without a valid verdict); a
    ``<dim>_spread`` row (max - min over valid repeats, ``passed`` None); and per sample
    ``judge_unparseable`` / ``judge_refusal`` rows whose value is the count of judge repeats
    with that outcome (0 when all parsed), so failures are visible and never dropped.
    A response without text scores the scale minimum (failed) without calling the judge.
    """
    out: list[dict[str, Any]] = []
    groups = _sample_groups(
        samples, verdicts, config, prompt, keys, "; pass verdicts from the same samples frame"
    )
    for i, base, g in groups:
        if (g["status"] == "skipped").all():
            why = str(g["message"].iat[0])
            infra, _ = _response_skip_reason(samples, i)
            for d in config.dimensions:
                if infra:
                    out.append(_score_row(base, d.name, None, None, why, infra))
                else:  # model produced no text: the worst score, a quality failure
                    passed = None if d.threshold is None else False
                    out.append(_score_row(base, d.name, d.scale[0], passed, why, None))
            continue
        statuses = Counter(list(g["status"]))
        ok = g[g["status"] == STATUS_OK]
        note = f"{len(ok)}/{len(g)} judge repeats valid"
        if len(ok) < len(g):
            note += " (" + ", ".join(f"{k}={v}" for k, v in sorted(statuses.items()) if k != STATUS_OK) + ")"
        if ok.empty:
            msg = next((m for m in g["message"] if isinstance(m, str)), "")
            infra = _infra_only(statuses)
            reason = f"no valid judge verdict: {note}; {_excerpt(msg, 200)}"
            for d in config.dimensions:
                # Every repeat unparseable / refused (not an infrastructure error): the sample stays in the
                # denominator as a failure of each thresholded dimension (no score: the mean skips it).
                failed = None if infra or d.threshold is None else False
                out.append(
                    _score_row(
                        base,
                        d.name,
                        None,
                        failed,
                        reason + ("; counted as a failure" if failed is False else ""),
                        infra,
                    )
                )
                out.append(_score_row(base, f"{d.name}_spread", None, None, reason, infra))
        else:
            for d in config.dimensions:
                values = [s[d.name] for s in ok["scores"]]
                med = statistics.median(values)
                spread = max(values) - min(values)
                passed = None if d.threshold is None else d.passes(med)
                # Explain with the reasoning of the repeat closest to the median.
                closest = min(range(len(values)), key=lambda k: abs(values[k] - med))
                why = _excerpt(_cell(ok, "reasoning", closest))
                thr = "" if d.threshold is None else f" vs threshold {d.threshold:g}"
                reason = f"median {med:g}{thr} over {values}; {note}. {why}"
                out.append(_score_row(base, d.name, med, passed, reason, None))
                out.append(_score_row(base, f"{d.name}_spread", spread, None, f"max-min over {values}", None))
        for status in (STATUS_UNPARSEABLE, STATUS_REFUSAL):
            n = statuses.get(status, 0)
            example = next((m for s, m in zip(g["status"], g["message"]) if s == status), None)
            out.append(_score_row(base, status, n, None, _excerpt(example, 200) if n else "", None))
        # Lengths (words) of the answer and of a text reference: the score-vs-length association (length_control).
        out.append(_length_row(base, LENGTH_METRIC, samples["response_text"].iat[i], "answer"))
        ref = _row_value(samples, "expected", i)
        if isinstance(ref, str) and ref.strip():
            out.append(_length_row(base, REFERENCE_LENGTH_METRIC, ref, "reference answer"))
    return pd.DataFrame(out, columns=JUDGE_SCORE_COLUMNS)


def _pass_interval(rows: pd.DataFrame) -> tuple[float, float]:
    """95% interval of a pass share over (sample, repeat) rows: Wilson with one repeat per sample,
    clustered by sample with several (``metrics.clustered_proportion``)."""

    keys = (
        rows["eval_set"].astype(str) + "\x1f" + rows["sample_id"].astype(str)
        if "eval_set" in rows
        else rows["sample_id"]
    )
    m = clustered_proportion(rows["passed"].astype(bool).to_numpy(), keys.to_numpy())
    return (math.nan, math.nan) if m["value"] is None else (m["ci_low"], m["ci_high"])


def summarize_pointwise(rows: pd.DataFrame, config: JudgeConfig) -> dict[str, Any]:
    """Per-dimension summary of pointwise score rows.

    For each dimension: ``n`` (samples with a valid verdict), ``mean`` of medians,
    ``pass_rate`` over every graded sample (a sample whose judge repeats were all unparseable or
    refused counts as a failure, ``n_no_verdict``) with a 95% ``ci``, ``mean_spread``; plus totals
    ``judge_unparseable``, ``judge_refusal`` (judge repeats) and ``infra_errors`` (samples).
    ``all_pass_rate`` is the share of samples passing every thresholded dimension.
    """
    rows = rows[rows["family"] == FAMILY]
    out: dict[str, Any] = {"dimensions": {}}
    for d in config.dimensions:
        r = rows[(rows["metric"] == d.name) & rows["value"].notna()]
        sp = rows[(rows["metric"] == f"{d.name}_spread") & rows["value"].notna()]
        n = len(r)
        entry: dict[str, Any] = {
            "n": n,
            "mean": float(r["value"].mean()) if n else math.nan,
            "mean_spread": float(sp["value"].mean()) if len(sp) else math.nan,
            "threshold": d.threshold,
        }
        if d.threshold is not None:
            g = rows[(rows["metric"] == d.name) & rows["passed"].notna()]
            k, m = int(g["passed"].astype(bool).sum()), len(g)
            entry.update(
                pass_rate=k / m if m else math.nan,
                ci=_pass_interval(g),
                n_graded=m,
                n_no_verdict=int(g["value"].isna().sum()),
            )
        out["dimensions"][d.name] = entry
    thr_dims = [d.name for d in config.dimensions if d.threshold is not None]
    gated = rows[rows["metric"].isin(thr_dims) & rows["passed"].notna()]
    if thr_dims and not gated.empty:
        per_sample = gated.groupby(["eval_set", "sample_id", "repeat"], dropna=False)["passed"].agg(
            lambda s: bool(s.astype(bool).all())
        )
        k, n = int(per_sample.sum()), len(per_sample)
        ok = per_sample.rename("passed").reset_index()
        out.update(all_pass_rate=k / n, all_pass_ci=_pass_interval(ok), n_samples=n)
    out["length_association"] = summarize_length_pointwise(rows, [d.name for d in config.dimensions])
    out.update(_status_totals(rows))
    first_dim = config.dimensions[0].name
    out["infra_errors"] = int(rows.loc[rows["metric"] == first_dim, "infra_error"].notna().sum())
    return out
