"""Pairwise review items: the judged pairs worth a human look, labelled with the preferred answer.

In: a pairwise judge eval set's graded samples (the candidate's answer in ``response_text``), the baseline's
graded samples of the same date (its answer becomes ``baseline_text``) and the judge's pairwise score rows
(:func:`eval_pipeline.evaluators.judge.pairwise.aggregate_pairwise`: ``pairwise_win`` = median over judge repeats
of 1 candidate / 0.5 tie / 0 baseline, ``position_consistency``, failure counts). Out: review items
(:data:`eval_pipeline.noise.review.REVIEW_FIELDS`, ``kind = "pairwise"``) where

* ``position_inconsistent`` - the verdict flipped when the two answers swapped places (consistency < 1);
* ``judge_split`` - the repeats did not agree (0 < win < 1, a tie included);
* ``judge_failed`` - some order calls were unparseable or refused.

Answer A is the candidate (``response_text``), answer B the baseline (``baseline_text``); ``judge_preference``
is the judge's final A / B / tie. A reviewer fills ``human_preference`` (A, B or tie); it comes back through
:func:`eval_pipeline.ingestion.reviews.ingest_review` as a preference row and into ``judge_calibration`` as
the pairwise agreement entry ``human_review/preference``.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from eval_pipeline.evaluators.judge import FAMILY, STATUS_REFUSAL, STATUS_UNPARSEABLE
from eval_pipeline.ingestion.reviews import is_missing
from eval_pipeline.noise.review import REVIEW_FIELDS, Key, score_tuples
from eval_pipeline.project.judge import JudgeConfig


def _preference(win: float | None) -> str | None:
    if win is None:
        return None
    return "A" if win > 0.5 else "B" if win < 0.5 else "tie"


def select_pairwise_for_review(
    samples: pd.DataFrame, judge_rows: pd.DataFrame, config: JudgeConfig, baseline: pd.DataFrame | None
) -> pd.DataFrame:
    """Pairs worth a human look (see the module docstring), one row per (eval set, sample, repeat)."""
    if config.mode != "pairwise":
        raise ValueError("select_pairwise_for_review needs pairwise judge rows (judge.mode = pairwise)")
    rows = judge_rows[judge_rows["family"] == FAMILY]
    per: dict[Key, dict[str, Any]] = {}
    for r in score_tuples(rows):
        k = ("" if is_missing(r.eval_set) else str(r.eval_set), str(r.sample_id), int(r.repeat))
        e = per.setdefault(k, {"suite": r.suite, "hash": r.evaluator_hash, "failures": {}, "reason": ""})
        val = None if is_missing(r.value) else float(r.value)
        if r.metric == "pairwise_win":
            e["win"], e["reason"] = val, str(r.reason or "")
        elif r.metric == "position_consistency":
            e["consistency"] = val
        elif r.metric in (STATUS_UNPARSEABLE, STATUS_REFUSAL) and val:
            e["failures"][r.metric] = int(val)

    def index(frame: pd.DataFrame | None) -> dict[Key, int]:
        if frame is None or frame.empty:
            return {}
        es = frame["eval_set"] if "eval_set" in frame.columns else pd.Series([""] * len(frame))
        return {
            (str(e or ""), str(s), int(rp)): i
            for i, (e, s, rp) in enumerate(zip(es, frame["sample_id"], frame["repeat"], strict=True))
        }

    cand_at, base_at = index(samples), index(baseline)
    items = []
    for k, e in sorted(per.items()):
        win, cons = e.get("win"), e.get("consistency")
        reasons = []
        if cons is not None and cons < 1:
            reasons.append(
                f"position_inconsistent: the verdict flipped with the order in {1 - cons:.0%} of repeats"
            )
        if win is not None and 0 < win < 1:
            reasons.append(f"judge_split: median win {win:g} (repeats disagree or a tie)")
        for status, n in e["failures"].items():
            reasons.append(f"judge_failed: {n} order call(s) {status}")
        if not reasons or k not in base_at:
            continue  # nothing to review, or no baseline answer to show beside it

        at = cand_at.get(k)
        assert baseline is not None  # k is in base_at, the baseline's index

        def cand(c: str, i: int | None = at) -> Any:
            return samples[c].iat[i] if i is not None and c in samples.columns else None

        item = dict.fromkeys(REVIEW_FIELDS)
        suite = None if is_missing(e["suite"]) else str(e["suite"])
        item.update(
            review_id="/".join(p for p in (suite, k[0] or None, k[1], f"r{k[2]}") if p),
            kind="pairwise",
            suite=suite,
            eval_set=k[0] or None,
            sample_id=k[1],
            repeat=k[2],
            category=cand("category"),
            reasons=reasons,
            input=cand("input"),
            response_text=cand("response_text"),
            baseline_text=baseline["response_text"].iat[base_at[k]],
            expected=cand("expected"),
            judge_scores={},
            judge_spread={},
            thresholds={},
            scales={},
            judge_preference=_preference(win),
            judge_reason=e["reason"],
            evaluator_hash=e["hash"],
            human_label={},
            human_notes="",
        )
        items.append(item)
    return pd.DataFrame(items, columns=REVIEW_FIELDS)
