"""A small review queue in a warehouse folder, shaped as the ``review_queue`` asset writes it.

Items belong to the demo project's judge eval set ``customer_support/faq_answer_quality`` (judged by
``claude-sonnet-4-5``), so labels of them count in ``labelled_review_metrics(judge_model=...)``. One item's
answer is hostile HTML/JS, for the escaping check.
"""

from __future__ import annotations

import json
from pathlib import Path

from eval_pipeline.noise.review import REVIEW_FIELDS
from eval_pipeline.storage import keys

DATE, MV = "2026-01-05", "claude-candidate"
SUITE, EVAL_SET, JUDGE = "customer_support", "faq_answer_quality", "claude-sonnet-4-5"
HOSTILE = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>'


def item(i: int, response: str | None = None, judge: float = 3.0) -> dict:
    dims = ("accuracy", "helpfulness", "tone")
    rec = {f: None for f in REVIEW_FIELDS}
    rec.update(
        review_id=f"{SUITE}/{EVAL_SET}/s{i}/r0",
        suite=SUITE,
        eval_set=EVAL_SET,
        sample_id=f"s{i}",
        repeat=0,
        category="faq",
        reasons=[f"low_margin: accuracy median {judge:g} within 0.5 of threshold 3.5"],
        input={"question": f"Question {i}: how long does the virus survive on surfaces?"},
        response_text=response or f"Answer {i}: up to three days on plastic.",
        expected=f"Reference {i}: hours to days depending on the surface.",
        judge_scores=dict.fromkeys(dims, judge + i % 2),
        judge_spread=dict.fromkeys(dims, 0.0),
        thresholds=dict.fromkeys(dims, 3.5),
        scales={d: [1, 5] for d in dims},
        judge_passed=judge + i % 2 >= 3.5,  # the judge's own verdict (every dimension at the threshold 3.5)
        evaluator_hash="h0",
        human_label=dict.fromkeys(dims),
        human_expected=None,
        human_notes="",
    )
    return rec


def write_queue(warehouse: Path, items: list[dict], date: str = DATE, mv: str = MV) -> Path:
    path = warehouse / keys.review_file(date, mv)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in items), encoding="utf-8")
    return path


def pair_item(i: int, judge: str | None = "A") -> dict:
    """A pairwise review item (answer A the candidate, B the baseline) whose judge flipped with the order."""
    rec = {f: None for f in REVIEW_FIELDS}
    rec.update(
        review_id=f"{SUITE}/faq_pairwise/s{i}/r0",
        kind="pairwise",
        suite=SUITE,
        eval_set="faq_pairwise",
        sample_id=f"s{i}",
        repeat=0,
        reasons=["position_inconsistent: the verdict flipped with the order in 50% of repeats"],
        input={"question": f"Question {i}: can I change my PIN?"},
        response_text=f"Answer A {i}: yes, in the app under Cards.",
        baseline_text=f"Answer B {i}: yes, at any ATM or in the app.",
        judge_scores={},
        judge_spread={},
        thresholds={},
        scales={},
        judge_preference=judge,
        judge_reason="outcomes ['candidate', 'tie']",
        evaluator_hash="h1",
        human_label={},
        human_notes="",
    )
    return rec
