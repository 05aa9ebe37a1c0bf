"""Judge prompts and the verdict tool: what the judge model is shown and how it must answer.

In: a :class:`~.config.JudgeConfig` (and, for a custom template, the YAML file it names) plus
one sample's input, reference and answer(s). Out: a :class:`PromptTemplate` (Jinja2 sources),
the rendered ``(system, user)`` text (sandboxed, ``StrictUndefined``: a typo in a variable name
is an error, not an empty string) and the ``record_verdict`` tool whose JSON Schema forces one
integer per rubric dimension (pointwise) or a winner (pairwise) plus a short ``reasoning``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import yaml
from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment

from eval_pipeline.evaluators.judge.samples import _is_missing, _row_value
from eval_pipeline.inference.conversation import is_conversation, trajectory_text, transcript
from eval_pipeline.project.judge import JudgeConfig

TOOL_NAME = "record_verdict"


@dataclass(frozen=True)
class PromptTemplate:
    """A judge prompt: Jinja2 sources for the system and the user message."""

    system: str
    user: str
    source: str = "<builtin>"


DEFAULT_POINTWISE = PromptTemplate(
    source="<builtin pointwise>",
    system=(
        "You are a strict, fair evaluator of a customer-support assistant's answers. "
        "Score the RESPONSE on each rubric dimension using only the integer scale given. "
        "Judge the response, not the user's request; do not reward length. "
        "Record your verdict with the record_verdict tool: first a short reasoning "
        "(at most 3 sentences), then one integer per dimension."
    ),
    user=(
        "## Task input\n{{ input_text }}\n\n"
        "{% if reference is not none %}## Reference answer (treat as correct)\n{{ reference }}\n\n{% endif %}"
        "## Response to evaluate\n{{ response }}\n\n"
        "## Rubric\n"
        "{% for d in dimensions %}- {{ d.name }} ({{ d.scale[0] }}-{{ d.scale[1] }}, higher is better)"
        "{% if d.description %}: {{ d.description }}{% endif %}\n{% endfor %}"
    ),
)

DEFAULT_PAIRWISE = PromptTemplate(
    source="<builtin pairwise>",
    system=(
        "You are a strict, fair evaluator comparing two answers to the same task. "
        "Decide which answer is better overall on the criteria given; answer 'tie' only if they "
        "are genuinely equivalent. Ignore the order the answers appear in and their length. "
        "Record your verdict with the record_verdict tool: a short reasoning (at most 3 "
        "sentences), then the winner: A, B or tie."
    ),
    user=(
        "## Task input\n{{ input_text }}\n\n"
        "{% if reference is not none %}## Reference answer (treat as correct)\n{{ reference }}\n\n{% endif %}"
        "## Answer A\n{{ answer_a }}\n\n## Answer B\n{{ answer_b }}\n\n"
        "## Criteria\n"
        "{% for d in dimensions %}- {{ d.name }}{% if d.description %}: {{ d.description }}{% endif %}\n{% endfor %}"
    ),
)

_ENV = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)


def default_prompt(mode: str) -> PromptTemplate:
    """The built-in template for ``mode`` (pointwise | pairwise)."""
    return DEFAULT_PAIRWISE if mode == "pairwise" else DEFAULT_POINTWISE


def load_prompt(config: JudgeConfig, base_dir: str | Path | None = None) -> PromptTemplate:
    """Load ``config.prompt`` (YAML with ``system`` and ``user`` keys) or the built-in template.

    Relative paths resolve against ``base_dir`` (the suite file's folder). The template is
    test-rendered with a sample context so unknown variables fail here, naming the file.
    """
    if config.prompt is None:
        return default_prompt(config.mode)
    path = Path(config.prompt)
    if not path.is_absolute() and base_dir is not None:
        path = Path(base_dir) / path
    if not path.is_file():
        raise FileNotFoundError(
            f"judge.prompt: template file {path} not found; fix the path (relative to the suite file)"
        )
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ValueError(
            f"{path}: not valid YAML ({exc}); the template must be a mapping with 'system' and 'user'"
        ) from None
    if not isinstance(data, dict):
        raise ValueError(
            f"{path}: expected a mapping with keys 'system' and 'user', got {type(data).__name__}"
        )
    unknown = set(data) - {"system", "user"}
    if unknown:
        raise ValueError(f"{path}: unknown key(s) {sorted(unknown)}; allowed: system, user")
    for key in ("system", "user"):
        if not isinstance(data.get(key), str) or not data[key].strip():
            raise ValueError(f"{path}: key '{key}' must be a non-empty string (a Jinja2 template)")
    template = PromptTemplate(system=data["system"], user=data["user"], source=str(path))
    _check_template(template, config)
    return template


def _check_template(template: PromptTemplate, config: JudgeConfig) -> None:
    """Render ``template`` once with a dummy context; raise naming the file on any error."""
    ctx = _prompt_context(
        config,
        input_value="example input",
        expected="example reference",
        response="example response",
        answer_a="answer A",
        answer_b="answer B",
        metadata={},
        category="example",
    )
    for key in ("system", "user"):
        try:
            _ENV.from_string(getattr(template, key)).render(**ctx)
        except TemplateError as exc:
            raise ValueError(
                f"{template.source}: key '{key}': template error: {exc}. Available variables: {sorted(ctx)}"
            ) from None


def _as_text(value: Any) -> str:
    """Render an input/expected value (str, dict, list, number) as prompt text."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if is_conversation(value):  # the judge reads the conversation as a transcript, not as JSON
        return transcript(value)
    return json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True)


def _prompt_context(
    config: JudgeConfig,
    *,
    input_value: Any,
    expected: Any,
    response: str | None = None,
    answer_a: str | None = None,
    answer_b: str | None = None,
    metadata: dict[str, Any] | None = None,
    category: str | None = None,
) -> dict[str, Any]:
    reference = (
        _as_text(expected)
        if (config.use_reference and expected is not None and not _is_missing(expected))
        else None
    )
    return {
        "input": input_value,
        "input_text": _as_text(input_value),
        "reference": reference,
        "response": response,
        "answer_a": answer_a,
        "answer_b": answer_b,
        "dimensions": [d.model_dump() for d in config.dimensions],
        "metadata": metadata or {},
        "category": category,
    }


def render_prompt(template: PromptTemplate, context: dict[str, Any]) -> tuple[str, str]:
    """Render (system, user) text in the Jinja2 sandbox with StrictUndefined."""
    return (
        _ENV.from_string(template.system).render(**context),
        _ENV.from_string(template.user).render(**context),
    )


def _sample_context(config: JudgeConfig, samples: pd.DataFrame, i: int, **answers: str) -> dict[str, Any]:
    """The prompt context of sample row ``i`` with the answer(s) to judge (``response`` or ``answer_a/_b``).
    An answer that called tools shows the judge its trajectory (calls and results) after its text."""
    used = trajectory_text(
        _decode(_row_value(samples, "trajectory_json", i)), _decode(_row_value(samples, "tool_calls_json", i))
    )
    if used and "response" in answers:
        answers["response"] = f"{answers['response'] or ''}\n\n## Tool use\n{used}".strip()
    return _prompt_context(
        config,
        input_value=samples["input"].iat[i],
        expected=_row_value(samples, "expected", i),
        metadata=_row_value(samples, "metadata", i, {}),
        category=_row_value(samples, "category", i),
        **answers,
    )


def _decode(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) and value else (value or None)


def verdict_tool(config: JudgeConfig) -> dict[str, Any]:
    """The ``record_verdict`` tool definition (Anthropic format) for ``config.mode``."""
    props: dict[str, Any] = {
        "reasoning": {"type": "string", "description": "Short justification (at most 3 sentences)."}
    }
    if config.mode == "pointwise":
        for d in config.dimensions:
            lo, hi = d.scale
            props[d.name] = {
                "type": "integer",
                "minimum": lo,
                "maximum": hi,
                "description": (d.description or d.name) + f" ({lo} = worst, {hi} = best)",
            }
        required = ["reasoning", *[d.name for d in config.dimensions]]
        description = "Record the rubric scores for the response."
    else:
        props["winner"] = {"type": "string", "enum": ["A", "B", "tie"], "description": "The better answer."}
        required = ["reasoning", "winner"]
        description = "Record which answer is better."
    return {
        "name": TOOL_NAME,
        "description": description,
        "input_schema": {
            "type": "object",
            "properties": props,
            "required": required,
            "additionalProperties": False,
        },
    }
