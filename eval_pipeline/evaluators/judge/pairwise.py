"""Pairwise judging: candidate vs baseline answer, judged in both orders, ``repeats`` times.

In: a graded-samples frame with the candidate in ``response_text`` and the baseline in
``baseline_column``, a pairwise :class:`~.config.JudgeConfig` and an ``execute`` provider
function. Out:

* :func:`judge_pairwise_verdicts` - one row per (sample row, judge repeat)
  (:data:`PAIR_VERDICT_COLUMNS`): the raw winners of order AB (candidate shown as A) and BA, and
  the candidate-perspective ``outcome``; orders that disagree become a tie (position bias
  cancelled) and ``position_consistent`` False.
* :func:`aggregate_pairwise` - score rows ``pairwise_win`` (1 win / 0.5 tie / 0 loss, median
  over judge repeats), ``position_consistency`` and the unparseable / refusal counts;
  :func:`eval_pipeline.evaluators.judge.score` runs both.
* :func:`summarize_pairwise` - win rate with a Wilson 95% interval (ties count half), n, wins,
  ties, losses, position consistency and ``length_control`` (the length-controlled win rate,
  :func:`.length_control.length_controlled_win_rate`).
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Sequence
from typing import Any

import pandas as pd

from eval_pipeline.evaluators.judge.length_control import (
    BASELINE_LENGTH_METRIC,
    LENGTH_METRIC,
    summarize_length_pairwise,
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
from eval_pipeline.evaluators.judge.samples import _SAMPLE_COLUMNS, _cell, _is_missing, _response_skip_reason
from eval_pipeline.evaluators.metrics import clustered_proportion
from eval_pipeline.project.judge import JudgeConfig
from eval_pipeline.project.schemas import JUDGE_SCORE_COLUMNS

PAIR_VERDICT_COLUMNS = [
    "row",
    "sample_id",
    "repeat",
    "judge_repeat",
    "status_ab",
    "status_ba",
    "winner_ab",
    "winner_ba",
    "outcome",
    "position_consistent",
    "reasoning",
    "attempts",
    "cost_usd",
    "message",
]


def _pair_outcome(winner_ab: str | None, winner_ba: str | None) -> tuple[str | None, bool | None]:
    """Combine both orders into a candidate-perspective outcome.

    Order AB shows the candidate as A, order BA shows it as B. Each winner is mapped to
    ``candidate`` / ``baseline`` / ``tie``; if the two orders disagree the result is a tie
    (position bias cancelled). Returns (outcome, position_consistent); (None, None) if
    either order has no valid verdict.
    """
    if winner_ab is None or winner_ba is None:
        return None, None
    ab = {"A": "candidate", "B": "baseline", "tie": "tie"}[winner_ab]
    ba = {"A": "baseline", "B": "candidate", "tie": "tie"}[winner_ba]
    consistent = ab == ba
    return (ab if consistent else "tie"), consistent


def judge_pairwise_verdicts(
    samples: pd.DataFrame,
    config: JudgeConfig,
    execute: Executor,
    *,
    prompt: PromptTemplate | None = None,
    baseline_column: str = "baseline_text",
) -> pd.DataFrame:
    """Judge candidate (``response_text``) vs baseline in both orders, ``repeats`` times.

    Returns one row per (sample row, judge repeat) with ``status_ab/status_ba``, the raw
    ``winner_ab/winner_ba`` (``A``/``B``/``tie``), the combined candidate-perspective
    ``outcome`` (``candidate``/``baseline``/``tie``, None if either order failed) and
    ``position_consistent``.
    """

    def contexts(i: int) -> dict[str, dict[str, Any]] | str:
        cand, base = samples["response_text"].iat[i], samples[baseline_column].iat[i]
        if _is_missing(base) or not str(base).strip():
            return "no baseline text"
        cand, base = str(cand), str(base)
        return {
            "AB": _sample_context(config, samples, i, answer_a=cand, answer_b=base),
            "BA": _sample_context(config, samples, i, answer_a=base, answer_b=cand),
        }

    def verdict_row(calls: Sequence[_Call]) -> dict[str, Any]:
        ab, ba = calls
        w_ab = ab.verdict.get("winner") if ab.verdict is not None and ab.status == STATUS_OK else None
        w_ba = ba.verdict.get("winner") if ba.verdict is not None and ba.status == STATUS_OK else None
        outcome, consistent = _pair_outcome(w_ab, w_ba)
        msgs = [
            f"{o}: {c.status}: {c.error_message}"
            for o, c in (("AB", ab), ("BA", ba))
            if c.status != STATUS_OK
        ]
        return {
            "status_ab": ab.status,
            "status_ba": ba.status,
            "winner_ab": w_ab,
            "winner_ba": w_ba,
            "outcome": outcome,
            "position_consistent": consistent,
            "reasoning": (ab.verdict or {}).get("reasoning") or (ba.verdict or {}).get("reasoning"),
            "attempts": ab.attempts + ba.attempts,
            "cost_usd": ab.cost_usd + ba.cost_usd,
            "message": "; ".join(msgs) or None,
        }

    return judge_verdicts(
        samples,
        config,
        execute,
        prompt,
        "pairwise",
        sample_columns=(*_SAMPLE_COLUMNS, baseline_column),
        columns=PAIR_VERDICT_COLUMNS,
        status_columns=["status_ab", "status_ba"],
        contexts=contexts,
        verdict_row=verdict_row,
    )


def aggregate_pairwise(
    samples: pd.DataFrame,
    verdicts: pd.DataFrame,
    config: JudgeConfig,
    *,
    prompt: PromptTemplate | None = None,
    keys: dict[str, Any] | None = None,
    baseline_column: str = "baseline_text",
) -> pd.DataFrame:
    """Long-format score rows from pairwise verdicts (``JUDGE_SCORE_COLUMNS``: ``SCORE_COLUMNS`` + the judge identity).

    Per sample row: ``pairwise_win`` (value = median over judge repeats of 1 win /
    0.5 tie / 0 loss for the candidate; passed None), ``position_consistency`` (fraction of
    judge repeats whose two orders agreed), and ``judge_unparseable`` / ``judge_refusal``
    counts over the individual order calls, and the words of both answers
    (``response_word_count`` / ``baseline_word_count``, for :mod:`.length_control`).
    """
    value_of = {"candidate": 1.0, "tie": 0.5, "baseline": 0.0}
    out: list[dict[str, Any]] = []
    for i, base, g in _sample_groups(samples, verdicts, config, prompt, keys):
        statuses = Counter([*g["status_ab"], *g["status_ba"]])
        if (g["status_ab"] == "skipped").all():
            why = str(g["message"].iat[0])
            infra, _ = _response_skip_reason(samples, i)
            value = None if infra or why == "no baseline text" else 0.0
            out.append(_score_row(base, "pairwise_win", value, None, why, infra))
            out.append(_score_row(base, "position_consistency", None, None, why, infra))
            continue
        done = g[g["outcome"].notna()]
        if done.empty:
            infra = _infra_only(statuses)
            reason = f"no valid judge verdict in both orders: {_excerpt(str(g['message'].iat[0]), 200)}"
            out.append(_score_row(base, "pairwise_win", None, None, reason, infra))
            out.append(_score_row(base, "position_consistency", None, None, reason, infra))
        else:
            values = [value_of[o] for o in done["outcome"]]
            med = statistics.median(values)
            cons = float(sum(bool(c) for c in done["position_consistent"]) / len(done))
            outcomes = list(done["outcome"])
            reason = f"outcomes {outcomes} ({len(done)}/{len(g)} repeats complete). {_excerpt(_cell(done, 'reasoning', 0))}"
            out.append(_score_row(base, "pairwise_win", med, None, reason, None))
            out.append(
                _score_row(
                    base, "position_consistency", cons, None, f"orders agreed in {cons:.0%} of repeats", None
                )
            )
        for status in (STATUS_UNPARSEABLE, STATUS_REFUSAL):
            out.append(_score_row(base, status, statuses.get(status, 0), None, "", None))
        # Answer lengths (words): the length-controlled win rate regresses the outcome on their difference.
        out.append(_length_row(base, LENGTH_METRIC, samples["response_text"].iat[i], "candidate answer"))
        out.append(
            _length_row(base, BASELINE_LENGTH_METRIC, samples[baseline_column].iat[i], "baseline answer")
        )
    return pd.DataFrame(out, columns=JUDGE_SCORE_COLUMNS)


def wilson_interval(successes: float, n: int, alpha: float = 0.05) -> tuple[float, float]:
    """Wilson score interval via statsmodels (``successes`` may be fractional: ties count half)."""
    from statsmodels.stats.proportion import proportion_confint  # noqa: PLC0415 - keeps statsmodels out of `import eval_pipeline.definitions`

    if n <= 0:
        return (math.nan, math.nan)
    lo, hi = proportion_confint(successes, n, alpha=alpha, method="wilson")
    return float(lo), float(hi)


def summarize_pairwise(rows: pd.DataFrame) -> dict[str, Any]:
    """Win rate of the candidate with a Wilson 95% interval and position consistency.

    Unit = sample row; each contributes its ``pairwise_win`` value (1 win, 0.5 tie,
    0 loss; the median over judge repeats). Win rate = sum / n; the interval is the Wilson
    score interval (statsmodels ``proportion_confint(method="wilson")``) on the fractional
    count wins + ties/2, which treats a tie as half a win (approximate when ties are many). With response
    repeats (several rows per sample) the interval is cluster-robust by sample
    (:func:`~eval_pipeline.evaluators.metrics.clustered_proportion`): repeats of one sample are not independent.
    """
    rows = rows[rows["family"] == FAMILY]
    won = rows[(rows["metric"] == "pairwise_win") & rows["value"].notna()]
    win = won["value"].astype(float)
    cons = rows[(rows["metric"] == "position_consistency") & rows["value"].notna()]["value"].astype(float)
    n = len(win)
    total = float(win.sum())
    ci, method = wilson_interval(total, n), "wilson (statsmodels), ties counted as half a win"
    if n and won["sample_id"].duplicated().any():  # response repeats: the sample is the unit, not the repeat
        m = clustered_proportion(win.to_numpy(), won["sample_id"].to_numpy())
        ci = (m["ci_low"], m["ci_high"])
        method = f"{m['interval']} (ties counted as half a win; {m['n_clusters']} samples)"
    return {
        "n": n,
        "wins": int((win == 1.0).sum()),
        "ties": int(((win > 0) & (win < 1)).sum()),
        "losses": int((win == 0.0).sum()),
        "win_rate": total / n if n else math.nan,
        "win_rate_ci": ci,
        "interval_method": method,
        "position_consistency": float(cons.mean()) if len(cons) else math.nan,
        "length_control": summarize_length_pairwise(rows),
        **_status_totals(rows),
    }
