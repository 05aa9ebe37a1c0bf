"""What a scripted (synthetic) model answers, for ``eval-pipeline serve-model``.

In: an Anthropic Messages request body (a dict). Out: an :class:`Answer` (text, or a tool call).

* :func:`unit` - a deterministic uniform number in [0, 1) from any JSON-able parts.
* :func:`user_text` / :func:`system_text` - the text of the last user message / the system prompt.
* :func:`parse_labels` - the labels a classification prompt lists ("Labels: a, b, c").
* :func:`synth_from_schema` - a value that fits a JSON schema (for tool calls, e.g. a judge's verdict).
* :class:`AnswerKey` - golden-set rows (input -> expected) read with the project's golden-set reader.
* :class:`SyntheticModel` - answers a request from the key: right with probability ``accuracy`` of its
  model id (deterministic in the request), else another row's expected answer.

Nothing here is a model: every answer is synthetic and is labelled so by the provider that asks for it
(``EVAL_PROVIDER=synthetic``, :mod:`eval_pipeline.inference.synthetic_provider`). Plain Python.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eval_pipeline.inference.conversation import last_user_text
from eval_pipeline.ingestion.golden import read_golden_set


@dataclass
class Answer:
    """What the scripted model answers: text, or a tool_use input (dict)."""

    text: str | None = None
    tool_input: dict[str, Any] | None = None
    tool_name: str | None = None
    stop_reason: str | None = None  # default: end_turn / tool_use / max_tokens


def unit(*parts: Any) -> float:
    """Deterministic uniform number in [0, 1) from the parts."""
    digest = hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def user_text(body: dict[str, Any]) -> str:
    """Concatenated text of the last user message."""
    return last_user_text(body.get("messages"))


def system_text(body: dict[str, Any]) -> str:
    system = body.get("system")
    if isinstance(system, list):
        return "\n".join(b.get("text", "") for b in system if isinstance(b, dict))
    return system or ""


_LABELS_RE = re.compile(r"(?:labels?|categories|classes|one of|options?)\s*[:\-]\s*([^\n]+)", re.IGNORECASE)


def parse_labels(text: str) -> list[str]:
    """Labels listed in a classification prompt ("Labels: a, b, c" / "one of: a | b | c")."""
    m = _LABELS_RE.search(text)
    if not m:
        return []
    raw = re.split(r"\s*(?:,|\||/|\bor\b)\s*", m.group(1).strip().rstrip("."))
    return [r.strip().strip("'\"`.") for r in raw if r.strip().strip("'\"`.")]


def synth_from_schema(schema: dict[str, Any], u: float) -> Any:
    """A value that fits a JSON schema (enum / integer bounds / object with required properties)."""
    if "enum" in schema:
        return schema["enum"][int(u * len(schema["enum"])) % len(schema["enum"])]
    kind = schema.get("type", "object")
    if isinstance(kind, list):
        kind = kind[0]
    if kind == "object":
        props = schema.get("properties", {})
        return {k: synth_from_schema(v, unit(u, k)) for k, v in props.items()}
    if kind == "integer":
        lo, hi = schema.get("minimum", 1), schema.get("maximum", 5)
        return int(lo + int(u * (hi - lo + 1)) % (hi - lo + 1))
    if kind == "number":
        lo, hi = schema.get("minimum", 0.0), schema.get("maximum", 1.0)
        return round(lo + u * (hi - lo), 3)
    if kind == "boolean":
        return u >= 0.5
    if kind == "array":
        return [synth_from_schema(schema.get("items", {"type": "string"}), u)]
    return f"synthetic rationale {int(u * 1e6):06d}"


def as_answer_text(expected: Any) -> str:
    """The text a model would answer for an expected value: strings as they are, anything else as JSON."""
    return expected if isinstance(expected, str) else json.dumps(expected, ensure_ascii=False)


def _needle(value: Any) -> str:
    """The part of a row's input to look for in a rendered prompt: the text, or an object's longest string."""
    if isinstance(value, str):
        return value.strip()
    strings = [v for v in (value.values() if isinstance(value, dict) else []) if isinstance(v, str)]
    return max(strings, key=len).strip() if strings else json.dumps(value, ensure_ascii=False)


class AnswerKey:
    """Rows of golden sets as (needle, expected answer text); the longest needle found in a prompt wins."""

    def __init__(self, pairs: Iterable[tuple[str, str]]):
        unique = {n: a for n, a in pairs if n}
        self.pairs = sorted(unique.items(), key=lambda kv: -len(kv[0]))
        self.answers = sorted(set(unique.values()))

    @classmethod
    def from_files(cls, paths: Iterable[str | Path], fields: Any = None) -> AnswerKey:
        """Golden sets (JSONL / CSV / Parquet, the golden row format) -> an answer key. Raises the
        golden-set reader's error (file, line, field) for a bad file."""

        pairs: list[tuple[str, str]] = []
        for path in paths:
            path = Path(path)
            fmt = {".csv": "csv", ".parquet": "parquet"}.get(path.suffix.lower(), "jsonl")
            for rec in read_golden_set(path, fmt, fields, require_expected=True):
                pairs.append((_needle(rec.input), as_answer_text(rec.expected)))
        return cls(pairs)

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any]) -> AnswerKey:
        return cls((k, as_answer_text(v)) for k, v in mapping.items())

    def __len__(self) -> int:
        return len(self.pairs)

    def lookup(self, text: str) -> str | None:
        for needle, answer in self.pairs:
            if needle in text:
                return answer
        return None


class SyntheticModel:
    """Answers from an :class:`AnswerKey`: right with probability ``accuracy(model)``, else wrong.

    ``accuracy``: ``{model id: p}`` with ``"*"`` the default for every other model. A wrong answer is
    another label listed in the prompt, else another row's answer, else ``"not <answer>"``. A prompt the
    key does not know gets a listed label, or a labelled placeholder text. Tool calls (an LLM judge's
    verdict) get a value fitting the tool's schema. Deterministic in (seed, model, request).
    """

    def __init__(self, key: AnswerKey, accuracy: Mapping[str, float] | None = None, seed: int = 0):
        self.key = key
        self.accuracy = {"*": 0.9, **(accuracy or {})}
        for model, p in self.accuracy.items():
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"accuracy of {model!r} is {p}: give a fraction between 0 and 1")
        self.seed = seed

    def accuracy_of(self, model: str) -> float:
        return self.accuracy.get(model, self.accuracy["*"])

    def __call__(self, body: dict[str, Any]) -> Answer:
        model = body.get("model", "")
        text = user_text(body)
        u = unit(self.seed, model, body.get("system"), body.get("messages"), body.get("tools"))
        if body.get("tools"):
            tools = body["tools"]
            name = (body.get("tool_choice") or {}).get("name") or tools[0]["name"]
            tool = next((t for t in tools if t.get("name") == name), tools[0])
            return Answer(
                tool_input=synth_from_schema(tool.get("input_schema", {}), u), tool_name=tool["name"]
            )
        labels = parse_labels(text) or parse_labels(system_text(body))
        expected = self.key.lookup(text)
        if expected is None:
            if labels:
                return Answer(text=labels[int(u * len(labels))])
            return Answer(
                text=f"Synthetic answer {int(u * 16**8):08x}: this prompt is not in the answer key."
            )
        if u < self.accuracy_of(model):
            return Answer(text=expected)
        wrong = [lab for lab in labels if lab.strip().lower() != expected.strip().lower()]
        if not wrong:
            wrong = [a for a in self.key.answers if a != expected]
        return Answer(text=wrong[int(unit(u, "wrong") * len(wrong))] if wrong else f"not {expected}")
