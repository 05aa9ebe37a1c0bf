"""Scripted judges for the Anthropic-compatible test server (``judge_hook=scripted_judge``).

In: a judge request body (the ``record_verdict`` tool forced; the rendered judge prompt with
``## Answer A`` / ``## Answer B`` for pairwise or ``## Response to evaluate`` for pointwise).
Out: the tool input of a verdict. Which judge answers is chosen by a substring of the judge model id:

* ``length-judge`` - prefers the LONGER answer regardless of quality: A wins with probability
  ``expit(LENGTH_SLOPE * (words_A - words_B))`` (hash draw of the unordered pair, so both orders
  agree); pointwise, the score grows with the answer's words (lo + words // 10, capped).
* ``quality-judge`` - reads the hidden quality marker ``[q=<float in 0..1>]`` of each answer:
  pairwise, A wins with probability ``expit(QUALITY_SLOPE * (q_A - q_B))``, drawn from a hash of the
  two answers (order-independent, so both orders agree); pointwise, score = round(lo + q (hi - lo)).
* ``contrarian-judge`` - the mirror of the quality judge: pointwise ``hi + lo - score``, pairwise
  the other answer.
* ``noisy-judge`` - a noisy copy of human labels (:func:`noisy_copy_judge` with the labelled
  pairs): the human's choice with probability ``accuracy``, else the other answer; a share
  ``position_bias`` of presentations answers "A" whatever they show.

Anything else falls back to a schema-valid synthetic verdict.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import Any

from eval_pipeline.mock_server.answers import synth_from_schema
from eval_pipeline.mock_server.answers import unit as _unit
from eval_pipeline_tests.support.servers.anthropic_server import user_text

QUALITY_SLOPE = 4.0
LENGTH_SLOPE = 0.15  # logit per word of length difference
_Q = re.compile(r"\[q=([0-9.]+)\]")


def _answers(text: str) -> tuple[str, str]:
    a = text.split("## Answer A\n", 1)[1].split("\n\n## Answer B\n", 1)
    b = a[1].split("\n\n## Criteria", 1)[0]
    return a[0], b


def _response(text: str) -> str:
    return text.split("## Response to evaluate\n", 1)[1].split("\n\n## Rubric", 1)[0]


def _quality(answer: str) -> float:
    m = _Q.search(answer)
    return float(m.group(1)) if m else 0.5


def _dims(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    props = body["tools"][0]["input_schema"]["properties"]
    return {k: v for k, v in props.items() if k not in ("reasoning", "winner")}


def _pointwise(body: dict[str, Any], score_of: Callable[[str, int, int], int], why: str) -> dict[str, Any]:
    resp = _response(user_text(body))
    out: dict[str, Any] = {"reasoning": why}
    for name, schema in _dims(body).items():
        lo, hi = int(schema.get("minimum", 1)), int(schema.get("maximum", 5))
        out[name] = int(min(hi, max(lo, score_of(resp, lo, hi))))
    return out


def length_judge(body: dict[str, Any]) -> dict[str, Any]:
    props = body["tools"][0]["input_schema"]["properties"]
    if "winner" in props:
        a, b = _answers(user_text(body))
        return {
            "reasoning": "the longer answer is more thorough",
            "winner": _draw("length-judge", a, b, LENGTH_SLOPE * (len(a.split()) - len(b.split()))),
        }
    return _pointwise(body, lambda r, lo, hi: lo + len(r.split()) // 10, "longer is better")


def _draw(salt: str, a: str, b: str, logit_a: float) -> str:
    """A wins with probability expit(logit_a); the draw hashes the unordered pair, so both orders agree."""
    p_a = 1.0 / (1.0 + math.exp(-logit_a))
    first, second = sorted([a, b])
    p_first = p_a if first == a else 1.0 - p_a
    winner = first if _unit(salt, first, second) < p_first else second
    return "A" if winner == a else "B"


def _quality_pick(a: str, b: str) -> str:
    return _draw("quality-judge", a, b, QUALITY_SLOPE * (_quality(a) - _quality(b)))


def quality_judge(body: dict[str, Any], contrarian: bool = False) -> dict[str, Any]:
    props = body["tools"][0]["input_schema"]["properties"]
    if "winner" in props:
        a, b = _answers(user_text(body))
        w = _quality_pick(a, b)
        if contrarian:
            w = "B" if w == "A" else "A"
        return {"reasoning": "judged on content", "winner": w}

    def score(r: str, lo: int, hi: int) -> int:
        s = int(math.floor(lo + _quality(r) * (hi - lo) + 0.5))
        return hi + lo - s if contrarian else s

    return _pointwise(body, score, "contrarian" if contrarian else "judged on content")


def noisy_copy_judge(
    labelled: Mapping[tuple[str, str], int], accuracy: float = 0.8, position_bias: float = 0.1
) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """A pairwise judge copying human labels (``{(output_1, output_2): 1 or 2}``, texts stripped) with
    probability ``accuracy`` per pair (the same draw in both orders); unknown pairs get a coin flip. With
    probability ``position_bias`` per presentation it just answers "A" (a position-biased verdict)."""

    def hook(body: dict[str, Any]) -> dict[str, Any]:
        a, b = _answers(user_text(body))
        a_s, b_s = a.strip(), b.strip()
        if _unit("position", a_s, b_s) < position_bias:
            return {"reasoning": "the first answer", "winner": "A"}
        if (a_s, b_s) in labelled:
            human_a = labelled[(a_s, b_s)] == 1
        elif (b_s, a_s) in labelled:
            human_a = labelled[(b_s, a_s)] == 2
        else:
            human_a = _unit("coin", *sorted([a_s, b_s])) < 0.5
        copy = _unit("noisy", *sorted([a_s, b_s])) < accuracy
        return {"reasoning": "noisy copy of the human label", "winner": "A" if human_a == copy else "B"}

    return hook


def labelled_pairs(*paths: Any) -> dict[tuple[str, str], int]:
    """``{(output_1, output_2): human label}`` of human-labelled pairwise JSONL files (for :func:`noisy_copy_judge`)."""
    import json

    out = {}
    for p in paths:
        with open(p, encoding="utf-8") as fh:
            for line in fh:
                if line.strip():
                    r = json.loads(line)
                    out[(str(r["input"]["output_1"]).strip(), str(r["input"]["output_2"]).strip())] = int(
                        r["expected"]
                    )
    return out


def scripted_judge(
    body: dict[str, Any], noisy: Callable[[dict[str, Any]], dict[str, Any]] | None = None
) -> dict[str, Any]:
    """The ``judge_hook``: dispatch on the judge model id (see the module docstring)."""
    model = str(body.get("model", ""))
    if "length-judge" in model:
        return length_judge(body)
    if "contrarian-judge" in model:
        return quality_judge(body, contrarian=True)
    if "quality-judge" in model:
        return quality_judge(body)
    if "noisy-judge" in model and noisy is not None:
        return noisy(body)
    tool = body["tools"][0]
    return synth_from_schema(tool.get("input_schema", {}), _unit(model, body.get("messages")))
