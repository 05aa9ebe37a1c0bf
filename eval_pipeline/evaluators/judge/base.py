"""LLM-as-judge evaluator: rubric config, prompt rendering, verdicts, scoring.

Stages (each a small function, in the order a run uses them):

1. **Config** - :class:`JudgeConfig` (pydantic v2, ``extra="forbid"``) is the ``judge:``
   block of a suite YAML. Bad values fail at load with the key path.
2. **Prompt** - :func:`load_prompt` reads an optional custom template (YAML with ``system``
   and ``user`` Jinja2 strings); :func:`render_prompt` renders it in a sandbox with
   ``StrictUndefined`` so a typo in a variable name is an error, not an empty string.
3. **Tool** - :func:`verdict_tool` builds the ``record_verdict`` tool whose JSON Schema
   forces one integer per rubric dimension (pointwise) or a winner (pairwise) plus a short
   ``reasoning``. The request forces that tool with ``tool_choice``.
4. **Verdicts** - :func:`judge_pointwise_verdicts` / :func:`judge_pairwise_verdicts` send
   requests through the provider layer (``execute``), validate each tool input with
   ``jsonschema``, retry invalid verdicts under a new attempt key, and return one row per
   judge call outcome. Nothing is dropped: a verdict is ``ok``, ``judge_unparseable``,
   ``judge_refusal`` or an infrastructure error category.
5. **Scores** - :func:`aggregate_pointwise` / :func:`aggregate_pairwise` turn verdicts into
   long-format rows (``eval_pipeline.schemas.SCORE_COLUMNS``, ``family="judge"``);
   :func:`score_pointwise` / :func:`score_pairwise` do 4+5 in one call.
6. **Summaries** - :func:`summarize_pointwise` (per-dimension means, pass rates with Wilson
   intervals) and :func:`summarize_pairwise` (win rate with a Wilson interval, ties count
   half; position-consistency rate) for asset metadata and gates.

The :func:`evaluator_hash` of model + rubric + prompt + sampling params is written to the
``evaluator_hash`` column and into every request's ``epoch`` key, so changing the rubric
re-judges instead of reusing stored verdicts.
"""
from __future__ import annotations

import hashlib
import json
import math
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Literal, Sequence

import jsonschema
import pandas as pd
import yaml
from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from eval_pipeline.inference.types import INFRA_ERROR_CATEGORIES, ModelRequest, ModelResponse
from eval_pipeline.schemas import SCORE_COLUMNS

Executor = Callable[[list[ModelRequest]], list[ModelResponse]]

JUDGE_VERSION = "judge-v1"  # bump when the verdict logic changes in a way that must re-judge
TOOL_NAME = "record_verdict"
FAMILY = "judge"

# Verdict statuses (the ``status`` column of a verdict frame).
STATUS_OK = "ok"
STATUS_UNPARSEABLE = "judge_unparseable"
STATUS_REFUSAL = "judge_refusal"
REASON_EXCERPT_CHARS = 300


# --------------------------------------------------------------------------------------
# 1. Config
# --------------------------------------------------------------------------------------
class JudgeDimension(BaseModel):
    """One rubric dimension scored as an integer on ``scale`` (inclusive)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
    description: str = ""
    scale: tuple[int, int] = (1, 5)
    threshold: float | None = None  # passed if median >= threshold; None = report only

    @field_validator("name")
    @classmethod
    def _not_reserved(cls, v: str) -> str:
        if v in {"reasoning", "winner"}:
            raise ValueError(f"dimension name {v!r} is reserved by the verdict tool; rename it")
        return v

    @model_validator(mode="after")
    def _check_scale(self) -> "JudgeDimension":
        lo, hi = self.scale
        if lo >= hi:
            raise ValueError(f"scale must be [low, high] with low < high, got [{lo}, {hi}]")
        if self.threshold is not None and not (lo <= self.threshold <= hi):
            raise ValueError(
                f"threshold {self.threshold} is outside scale [{lo}, {hi}]; pick a value within the scale"
            )
        return self


class MinCalibration(BaseModel):
    """Minimum judge-vs-human agreement before judge thresholds may block (else: warn only).

    Every field set here must be met by every calibration entry that reports it
    (see :func:`eval_pipeline.evaluators.calibration.calibration_gate`).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    agreement_within_one: float | None = Field(default=None, ge=0, le=1)
    exact_agreement: float | None = Field(default=None, ge=0, le=1)
    spearman: float | None = Field(default=None, ge=-1, le=1)
    weighted_kappa: float | None = Field(default=None, ge=-1, le=1)
    pairwise_accuracy: float | None = Field(default=None, ge=0, le=1)
    pairwise_kappa: float | None = Field(default=None, ge=-1, le=1)
    position_consistency: float | None = Field(default=None, ge=0, le=1)

    def required(self) -> dict[str, float]:
        """The thresholds that are set, as ``{metric: minimum}``."""
        return {k: v for k, v in self.model_dump().items() if v is not None}


class JudgeConfig(BaseModel):
    """The ``judge:`` block of a suite YAML."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str = Field(min_length=1)
    mode: Literal["pointwise", "pairwise"] = "pointwise"
    repeats: int = Field(default=3, ge=1, le=50)
    use_reference: bool = True
    dimensions: list[JudgeDimension] = Field(min_length=1)
    prompt: str | None = None  # path of a custom template YAML (relative to the suite file)
    min_calibration: MinCalibration | None = None
    max_attempts: int = Field(default=3, ge=1, le=10)  # tries per verdict before judge_unparseable
    # None = not sent (the API default). Newer Claude models reject non-default sampling
    # parameters and anthropic SDK >= 1.0 removed the keyword; repeats still vary at the default.
    temperature: float | None = Field(default=None, ge=0, le=1)
    max_tokens: int = Field(default=1024, ge=64, le=16384)
    pass_rate_threshold: float | None = Field(default=None, ge=0, le=1)  # optional set-level gate
    win_rate_threshold: float | None = Field(default=None, ge=0, le=1)  # pairwise set-level gate

    @field_validator("dimensions")
    @classmethod
    def _unique_names(cls, dims: list[JudgeDimension]) -> list[JudgeDimension]:
        seen: set[str] = set()
        for i, d in enumerate(dims):
            if d.name in seen:
                raise ValueError(f"dimensions.{i}.name: duplicate dimension {d.name!r}; names must be unique")
            seen.add(d.name)
        return dims

    def dimension(self, name: str) -> JudgeDimension:
        """Look a dimension up by name (KeyError if unknown)."""
        for d in self.dimensions:
            if d.name == name:
                return d
        raise KeyError(name)


def validate_judge_config(data: dict[str, Any], where: str = "judge") -> JudgeConfig:
    """Validate a raw ``judge:`` mapping; errors name the key path (``where`` prefixes it)."""
    from pydantic import ValidationError

    try:
        return JudgeConfig.model_validate(data)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            path = ".".join(str(p) for p in (where, *err["loc"]))
            lines.append(f"{path}: {err['msg']}")
        raise ValueError("invalid judge config:\n  " + "\n  ".join(lines)) from None


# --------------------------------------------------------------------------------------
# 2. Prompt templates
# --------------------------------------------------------------------------------------
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
        raise FileNotFoundError(f"judge.prompt: template file {path} not found; fix the path (relative to the suite file)")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not valid YAML ({exc}); the template must be a mapping with 'system' and 'user'") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping with keys 'system' and 'user', got {type(data).__name__}")
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
                f"{template.source}: key '{key}': template error: {exc}. "
                f"Available variables: {sorted(ctx)}"
            ) from None


def _as_text(value: Any) -> str:
    """Render an input/expected value (str, dict, list, number) as prompt text."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True)


def _prompt_context(
    config: JudgeConfig,
    *,
    input_value: Any,
    expected: Any,
    response: str | None = None,
    answer_a: str | None = None,
    answer_b: str | None = None,
    metadata: dict | None = None,
    category: str | None = None,
) -> dict[str, Any]:
    reference = _as_text(expected) if (config.use_reference and expected is not None and not _is_missing(expected)) else None
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
    return (_ENV.from_string(template.system).render(**context), _ENV.from_string(template.user).render(**context))


# --------------------------------------------------------------------------------------
# 3. Verdict tool and hashing
# --------------------------------------------------------------------------------------
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
        "input_schema": {"type": "object", "properties": props, "required": required, "additionalProperties": False},
    }


def evaluator_hash(config: JudgeConfig, prompt: PromptTemplate | None = None) -> str:
    """Hash of everything that changes a verdict: judge model, mode, rubric, prompt, sampling.

    ``repeats``, ``max_attempts``, gates and ``min_calibration`` are excluded (they do not
    change any single verdict).
    """
    prompt = prompt or default_prompt(config.mode)
    payload = {
        "version": JUDGE_VERSION,
        "model": config.model,
        "mode": config.mode,
        "use_reference": config.use_reference,
        "dimensions": [d.model_dump() for d in config.dimensions],
        "prompt": {"system": prompt.system, "user": prompt.user},
        "temperature": config.temperature,
        "max_tokens": config.max_tokens,
        "tool": verdict_tool(config),
    }
    blob = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=list)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]


def _params(config: JudgeConfig) -> dict[str, Any]:
    """Request params: max_tokens always, temperature only when configured."""
    params: dict[str, Any] = {"max_tokens": config.max_tokens}
    if config.temperature is not None:
        params["temperature"] = config.temperature
    return params


def _request(
    config: JudgeConfig,
    prompt: PromptTemplate,
    context: dict[str, Any],
    *,
    sample_id: str,
    judge_repeat: int,
    key: str,
    attempt: int,
) -> ModelRequest:
    system, user = render_prompt(prompt, context)
    return ModelRequest(
        sample_id=sample_id,
        model=config.model,
        messages=[{"role": "user", "content": user}],
        system=system,
        params=_params(config),
        tools=[verdict_tool(config)],
        tool_choice={"type": "tool", "name": TOOL_NAME},
        repeat=judge_repeat,
        # The attempt is part of the key so a retry is never served the stored bad answer.
        epoch=f"{key}:a{attempt}",
    )


# --------------------------------------------------------------------------------------
# 4. Verdicts (execute, validate, retry)
# --------------------------------------------------------------------------------------
@dataclass
class _Call:
    """One logical judge call, retried until it yields a valid verdict or runs out of tries."""

    row: int  # index into the samples frame
    judge_repeat: int
    order: str  # "" (pointwise) | "AB" | "BA"
    context: dict[str, Any]
    status: str | None = None
    verdict: dict[str, Any] | None = None
    attempts: int = 0
    cost_usd: float = 0.0
    error_message: str | None = None
    cached: bool = False


def _is_missing(value: Any) -> bool:
    try:
        return value is None or (isinstance(value, float) and math.isnan(value))
    except TypeError:  # pragma: no cover - exotic types
        return False


def _classify(response: ModelResponse, validator: jsonschema.protocols.Validator) -> tuple[str | None, str | None]:
    """Classify one judge response: (status or None to retry, message).

    Returns ``(STATUS_OK, None)``, ``(STATUS_REFUSAL, msg)``, ``(<infra category>, msg)`` or
    ``(None, msg)`` for an invalid / missing verdict that should be retried.
    """
    if response.error_category in INFRA_ERROR_CATEGORIES:
        return response.error_category, response.error_message or response.error_category
    if response.error_category == "refusal" or response.stop_reason == "refusal":
        return STATUS_REFUSAL, response.error_message or "judge refused (stop_reason=refusal)"
    if response.tool_input is None:
        detail = response.error_category or f"stop_reason={response.stop_reason}"
        return None, f"no {TOOL_NAME} tool call ({detail})"
    errors = sorted(validator.iter_errors(response.tool_input), key=lambda e: list(e.path))
    if errors:
        e = errors[0]
        where = "/".join(str(p) for p in e.path) or "<root>"
        return None, f"invalid verdict at {where}: {e.message}"
    return STATUS_OK, None


def _run_calls(
    calls: list[_Call],
    config: JudgeConfig,
    prompt: PromptTemplate,
    execute: Executor,
    key_of: Callable[[_Call], str],
    sample_id_of: Callable[[_Call], str],
) -> None:
    """Execute ``calls`` in batches, retrying invalid verdicts with a fresh attempt key."""
    tool = verdict_tool(config)
    validator = jsonschema.Draft202012Validator(tool["input_schema"])
    pending = list(calls)
    for attempt in range(config.max_attempts):
        if not pending:
            break
        requests = [
            _request(
                config, prompt, c.context, sample_id=sample_id_of(c), judge_repeat=c.judge_repeat,
                key=key_of(c), attempt=attempt,
            )
            for c in pending
        ]
        responses = execute(requests)
        if len(responses) != len(requests):
            raise RuntimeError(f"executor returned {len(responses)} responses for {len(requests)} requests")
        retry: list[_Call] = []
        for call, resp in zip(pending, responses):
            call.attempts += 1
            call.cost_usd += float(resp.cost_usd or 0.0)
            call.cached = bool(resp.cached)
            status, message = _classify(resp, validator)
            call.error_message = message
            if status is None:
                retry.append(call)
                continue
            call.status = status
            if status == STATUS_OK:
                call.verdict = dict(resp.tool_input or {})
        pending = retry
    for call in pending:  # out of attempts: counted, never dropped
        call.status = STATUS_UNPARSEABLE


def _key_columns(samples: pd.DataFrame, i: int, keys: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for col in ("date", "model_version", "suite", "eval_set"):
        out[col] = samples[col].iat[i] if col in samples.columns else keys.get(col)
    return out


def _require_columns(samples: pd.DataFrame, columns: Iterable[str], what: str) -> None:
    missing = [c for c in columns if c not in samples.columns]
    if missing:
        raise ValueError(f"{what}: samples frame is missing column(s) {missing}; got {list(samples.columns)}")


_SAMPLE_COLUMNS = ("sample_id", "repeat", "response_text", "error_category", "input", "expected")


def _response_skip_reason(samples: pd.DataFrame, i: int, column: str = "response_text") -> tuple[str | None, str | None]:
    """Why a sample is not sent to the judge: (infra category, reason) or (None, reason) or (None, None)."""
    err = samples["error_category"].iat[i]
    err = None if _is_missing(err) else err
    if err in INFRA_ERROR_CATEGORIES:
        return err, f"response infra error: {err}"
    text = samples[column].iat[i]
    if _is_missing(text) or not str(text).strip():
        return None, f"no response text ({err or 'empty'})"
    return None, None


def _row_value(samples: pd.DataFrame, col: str, i: int, default: Any = None) -> Any:
    if col not in samples.columns:
        return default
    v = samples[col].iat[i]
    return default if (not isinstance(v, (dict, list)) and _is_missing(v)) else v


def judge_pointwise_verdicts(
    samples: pd.DataFrame,
    config: JudgeConfig,
    execute: Executor,
    *,
    prompt: PromptTemplate | None = None,
) -> pd.DataFrame:
    """Run the pointwise judge ``config.repeats`` times per sample row.

    Returns one row per (sample row, judge repeat): ``row, sample_id, repeat, judge_repeat,
    status, scores (dict dim->int or None), reasoning, attempts, cost_usd, cached, message``.
    Rows whose response is an infra error or has no text are not sent (status ``skipped``).
    """
    if config.mode != "pointwise":
        raise ValueError("judge.mode is 'pairwise'; use judge_pairwise_verdicts")
    _require_columns(samples, _SAMPLE_COLUMNS, "judge_pointwise_verdicts")
    prompt = prompt or default_prompt(config.mode)
    h = evaluator_hash(config, prompt)
    calls: list[_Call] = []
    skipped: list[tuple[int, str]] = []
    for i in range(len(samples)):
        infra, why = _response_skip_reason(samples, i)
        if why is not None:
            skipped.append((i, why))
            continue
        ctx = _prompt_context(
            config,
            input_value=samples["input"].iat[i],
            expected=_row_value(samples, "expected", i),
            response=str(samples["response_text"].iat[i]),
            metadata=_row_value(samples, "metadata", i, {}),
            category=_row_value(samples, "category", i),
        )
        for r in range(config.repeats):
            calls.append(_Call(row=i, judge_repeat=r, order="", context=ctx))

    def key_of(c: _Call) -> str:
        return f"judge:{h}:sr{samples['repeat'].iat[c.row]}"

    _run_calls(calls, config, prompt, execute, key_of, lambda c: str(samples["sample_id"].iat[c.row]))
    dims = [d.name for d in config.dimensions]
    rows = []
    for c in calls:
        v = c.verdict or {}
        rows.append({
            "row": c.row,
            "sample_id": samples["sample_id"].iat[c.row],
            "repeat": int(samples["repeat"].iat[c.row]),
            "judge_repeat": c.judge_repeat,
            "status": c.status,
            "scores": {d: int(v[d]) for d in dims} if c.status == STATUS_OK else None,
            "reasoning": v.get("reasoning") if c.status == STATUS_OK else None,
            "attempts": c.attempts,
            "cost_usd": c.cost_usd,
            "cached": c.cached,
            "message": c.error_message,
        })
    for i, why in skipped:
        rows.append({
            "row": i, "sample_id": samples["sample_id"].iat[i], "repeat": int(samples["repeat"].iat[i]),
            "judge_repeat": None, "status": "skipped", "scores": None, "reasoning": None,
            "attempts": 0, "cost_usd": 0.0, "cached": False, "message": why,
        })
    frame = pd.DataFrame(rows, columns=VERDICT_COLUMNS)
    frame["judge_repeat"] = frame["judge_repeat"].astype("Int64")
    return frame


VERDICT_COLUMNS = [
    "row", "sample_id", "repeat", "judge_repeat", "status", "scores", "reasoning",
    "attempts", "cost_usd", "cached", "message",
]
PAIR_VERDICT_COLUMNS = [
    "row", "sample_id", "repeat", "judge_repeat", "status_ab", "status_ba",
    "winner_ab", "winner_ba", "outcome", "position_consistent", "reasoning",
    "attempts", "cost_usd", "message",
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
    if config.mode != "pairwise":
        raise ValueError("judge.mode is 'pointwise'; use judge_pointwise_verdicts")
    _require_columns(samples, (*_SAMPLE_COLUMNS, baseline_column), "judge_pairwise_verdicts")
    prompt = prompt or default_prompt(config.mode)
    h = evaluator_hash(config, prompt)
    calls: list[_Call] = []
    skipped: list[tuple[int, str]] = []
    for i in range(len(samples)):
        _, why = _response_skip_reason(samples, i)
        if why is None:
            base = samples[baseline_column].iat[i]
            if _is_missing(base) or not str(base).strip():
                why = "no baseline text"
        if why is not None:
            skipped.append((i, why))
            continue
        cand, base = str(samples["response_text"].iat[i]), str(samples[baseline_column].iat[i])
        common = dict(
            input_value=samples["input"].iat[i], expected=_row_value(samples, "expected", i),
            metadata=_row_value(samples, "metadata", i, {}), category=_row_value(samples, "category", i),
        )
        for r in range(config.repeats):
            calls.append(_Call(i, r, "AB", _prompt_context(config, answer_a=cand, answer_b=base, **common)))
            calls.append(_Call(i, r, "BA", _prompt_context(config, answer_a=base, answer_b=cand, **common)))

    def key_of(c: _Call) -> str:
        return f"judge:{h}:sr{samples['repeat'].iat[c.row]}:{c.order}"

    _run_calls(calls, config, prompt, execute, key_of, lambda c: str(samples["sample_id"].iat[c.row]))
    rows = []
    for ab, ba in zip(calls[0::2], calls[1::2]):
        w_ab = ab.verdict.get("winner") if ab.status == STATUS_OK else None
        w_ba = ba.verdict.get("winner") if ba.status == STATUS_OK else None
        outcome, consistent = _pair_outcome(w_ab, w_ba)
        msgs = [f"{o}: {c.status}: {c.error_message}" for o, c in (("AB", ab), ("BA", ba)) if c.status != STATUS_OK]
        rows.append({
            "row": ab.row, "sample_id": samples["sample_id"].iat[ab.row], "repeat": int(samples["repeat"].iat[ab.row]),
            "judge_repeat": ab.judge_repeat, "status_ab": ab.status, "status_ba": ba.status,
            "winner_ab": w_ab, "winner_ba": w_ba, "outcome": outcome, "position_consistent": consistent,
            "reasoning": (ab.verdict or {}).get("reasoning") or (ba.verdict or {}).get("reasoning"),
            "attempts": ab.attempts + ba.attempts, "cost_usd": ab.cost_usd + ba.cost_usd,
            "message": "; ".join(msgs) or None,
        })
    for i, why in skipped:
        rows.append({
            "row": i, "sample_id": samples["sample_id"].iat[i], "repeat": int(samples["repeat"].iat[i]),
            "judge_repeat": None, "status_ab": "skipped", "status_ba": "skipped", "winner_ab": None,
            "winner_ba": None, "outcome": None, "position_consistent": None, "reasoning": None,
            "attempts": 0, "cost_usd": 0.0, "message": why,
        })
    frame = pd.DataFrame(rows, columns=PAIR_VERDICT_COLUMNS)
    frame["judge_repeat"] = frame["judge_repeat"].astype("Int64")
    return frame


# --------------------------------------------------------------------------------------
# 5. Aggregation into long-format score rows
# --------------------------------------------------------------------------------------
def _excerpt(text: str | None, n: int = REASON_EXCERPT_CHARS) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= n else text[: n - 1] + "…"


def _score_row(base: dict[str, Any], metric: str, value: Any, passed: Any, reason: str, infra: Any) -> dict[str, Any]:
    row = dict(base)
    row.update(metric=metric, value=None if value is None else float(value), passed=passed, reason=reason, infra_error=infra)
    return row


def _count_statuses(statuses: Sequence[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for s in statuses:
        out[s] = out.get(s, 0) + 1
    return out


def aggregate_pointwise(
    samples: pd.DataFrame,
    verdicts: pd.DataFrame,
    config: JudgeConfig,
    *,
    prompt: PromptTemplate | None = None,
    keys: dict[str, Any] | None = None,
) -> pd.DataFrame:
    """Long-format score rows from pointwise verdicts (``SCORE_COLUMNS``).

    Per sample row and dimension: ``value`` = median over valid judge repeats, ``passed`` =
    median >= threshold (None without a threshold or without a valid verdict); a
    ``<dim>_spread`` row (max - min over valid repeats, ``passed`` None); and per sample
    ``judge_unparseable`` / ``judge_refusal`` rows whose value is the count of judge repeats
    with that outcome (0 when all parsed), so failures are visible and never dropped.
    A response without text scores the scale minimum (failed) without calling the judge.
    """
    keys = keys or {}
    h = evaluator_hash(config, prompt or default_prompt(config.mode))
    out: list[dict[str, Any]] = []
    by_row = {r: g for r, g in verdicts.groupby("row", sort=True)}
    for i in range(len(samples)):
        base = {
            **_key_columns(samples, i, keys),
            "sample_id": samples["sample_id"].iat[i],
            "repeat": int(samples["repeat"].iat[i]),
            "family": FAMILY,
            "category": _row_value(samples, "category", i),
            "evaluator_hash": h,
        }
        g = by_row.get(i)
        if g is None:
            raise ValueError(f"verdicts have no row for sample row {i} ({base['sample_id']}); pass verdicts from the same samples frame")
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
        statuses = _count_statuses(list(g["status"]))
        ok = g[g["status"] == STATUS_OK]
        infra_statuses = [s for s in statuses if s in INFRA_ERROR_CATEGORIES]
        note = f"{len(ok)}/{len(g)} judge repeats valid"
        if len(ok) < len(g):
            note += " (" + ", ".join(f"{k}={v}" for k, v in sorted(statuses.items()) if k != STATUS_OK) + ")"
        if ok.empty:
            msg = next((m for m in g["message"] if isinstance(m, str)), "")
            infra = infra_statuses[0] if infra_statuses and STATUS_UNPARSEABLE not in statuses and STATUS_REFUSAL not in statuses else None
            reason = f"no valid judge verdict: {note}; {_excerpt(msg, 200)}"
            for d in config.dimensions:
                # Every repeat unparseable / refused (not an infrastructure error): the sample stays in the
                # denominator as a failure of each thresholded dimension (no score: the mean skips it).
                failed = None if infra or d.threshold is None else False
                out.append(_score_row(base, d.name, None, failed, reason + ("; counted as a failure" if failed is False else ""), infra))
                out.append(_score_row(base, f"{d.name}_spread", None, None, reason, infra))
        else:
            for d in config.dimensions:
                values = [s[d.name] for s in ok["scores"]]
                med = statistics.median(values)
                spread = max(values) - min(values)
                passed = None if d.threshold is None else bool(med >= d.threshold)
                # Explain with the reasoning of the repeat closest to the median.
                closest = min(range(len(values)), key=lambda k: abs(values[k] - med))
                why = _excerpt(ok["reasoning"].iat[closest])
                thr = "" if d.threshold is None else f" vs threshold {d.threshold:g}"
                reason = f"median {med:g}{thr} over {values}; {note}. {why}"
                out.append(_score_row(base, d.name, med, passed, reason, None))
                out.append(_score_row(base, f"{d.name}_spread", spread, None, f"max-min over {values}", None))
        for status in (STATUS_UNPARSEABLE, STATUS_REFUSAL):
            n = statuses.get(status, 0)
            msg = next((m for s, m in zip(g["status"], g["message"]) if s == status), None)
            out.append(_score_row(base, status, n, None, _excerpt(msg, 200) if n else "", None))
    return pd.DataFrame(out, columns=SCORE_COLUMNS)


def aggregate_pairwise(
    samples: pd.DataFrame,
    verdicts: pd.DataFrame,
    config: JudgeConfig,
    *,
    prompt: PromptTemplate | None = None,
    keys: dict[str, Any] | None = None,
) -> pd.DataFrame:
    """Long-format score rows from pairwise verdicts (``SCORE_COLUMNS``).

    Per sample row: ``pairwise_win`` (value = median over judge repeats of 1 win /
    0.5 tie / 0 loss for the candidate; passed None), ``position_consistency`` (fraction of
    judge repeats whose two orders agreed), and ``judge_unparseable`` / ``judge_refusal``
    counts over the individual order calls.
    """
    keys = keys or {}
    h = evaluator_hash(config, prompt or default_prompt(config.mode))
    value_of = {"candidate": 1.0, "tie": 0.5, "baseline": 0.0}
    out: list[dict[str, Any]] = []
    by_row = {r: g for r, g in verdicts.groupby("row", sort=True)}
    for i in range(len(samples)):
        base = {
            **_key_columns(samples, i, keys), "sample_id": samples["sample_id"].iat[i],
            "repeat": int(samples["repeat"].iat[i]), "family": FAMILY,
            "category": _row_value(samples, "category", i), "evaluator_hash": h,
        }
        g = by_row.get(i)
        if g is None:
            raise ValueError(f"verdicts have no row for sample row {i} ({base['sample_id']})")
        statuses = _count_statuses([*g["status_ab"], *g["status_ba"]])
        if (g["status_ab"] == "skipped").all():
            why = str(g["message"].iat[0])
            infra, _ = _response_skip_reason(samples, i)
            value = None if infra or why == "no baseline text" else 0.0
            out.append(_score_row(base, "pairwise_win", value, None, why, infra))
            out.append(_score_row(base, "position_consistency", None, None, why, infra))
            continue
        done = g[g["outcome"].notna()]
        if done.empty:
            infra = next((s for s in statuses if s in INFRA_ERROR_CATEGORIES), None)
            if STATUS_UNPARSEABLE in statuses or STATUS_REFUSAL in statuses:
                infra = None
            reason = f"no valid judge verdict in both orders: {_excerpt(str(g['message'].iat[0]), 200)}"
            out.append(_score_row(base, "pairwise_win", None, None, reason, infra))
            out.append(_score_row(base, "position_consistency", None, None, reason, infra))
        else:
            values = [value_of[o] for o in done["outcome"]]
            med = statistics.median(values)
            cons = float(sum(bool(c) for c in done["position_consistent"]) / len(done))
            outcomes = list(done["outcome"])
            reason = f"outcomes {outcomes} ({len(done)}/{len(g)} repeats complete). {_excerpt(done['reasoning'].iat[0])}"
            out.append(_score_row(base, "pairwise_win", med, None, reason, None))
            out.append(_score_row(base, "position_consistency", cons, None, f"orders agreed in {cons:.0%} of repeats", None))
        for status in (STATUS_UNPARSEABLE, STATUS_REFUSAL):
            out.append(_score_row(base, status, statuses.get(status, 0), None, "", None))
    return pd.DataFrame(out, columns=SCORE_COLUMNS)


def score_pointwise(
    samples: pd.DataFrame,
    config: JudgeConfig,
    execute: Executor,
    *,
    prompt: PromptTemplate | None = None,
    keys: dict[str, Any] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Judge and aggregate in one call: returns ``(score_rows, verdicts)``."""
    verdicts = judge_pointwise_verdicts(samples, config, execute, prompt=prompt)
    return aggregate_pointwise(samples, verdicts, config, prompt=prompt, keys=keys), verdicts


def score_pairwise(
    samples: pd.DataFrame,
    config: JudgeConfig,
    execute: Executor,
    *,
    prompt: PromptTemplate | None = None,
    keys: dict[str, Any] | None = None,
    baseline_column: str = "baseline_text",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Pairwise judge and aggregate in one call: returns ``(score_rows, verdicts)``."""
    verdicts = judge_pairwise_verdicts(samples, config, execute, prompt=prompt, baseline_column=baseline_column)
    return aggregate_pairwise(samples, verdicts, config, prompt=prompt, keys=keys), verdicts


def score(
    samples: pd.DataFrame,
    config: JudgeConfig,
    execute: Executor,
    *,
    prompt: PromptTemplate | None = None,
    keys: dict[str, Any] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Dispatch on ``config.mode`` to :func:`score_pointwise` or :func:`score_pairwise`."""
    fn = score_pairwise if config.mode == "pairwise" else score_pointwise
    return fn(samples, config, execute, prompt=prompt, keys=keys)


# --------------------------------------------------------------------------------------
# 6. Summaries (for metadata and gates)
# --------------------------------------------------------------------------------------
def wilson_interval(successes: float, n: int, alpha: float = 0.05) -> tuple[float, float]:
    """Wilson score interval via statsmodels (``successes`` may be fractional: ties count half)."""
    from statsmodels.stats.proportion import proportion_confint

    if n <= 0:
        return (math.nan, math.nan)
    lo, hi = proportion_confint(successes, n, alpha=alpha, method="wilson")
    return float(lo), float(hi)


def _pass_interval(rows: pd.DataFrame) -> tuple[float, float]:
    """95% interval of a pass share over (sample, repeat) rows: Wilson with one repeat per sample,
    clustered by sample with several (``metrics.clustered_proportion``)."""
    from eval_pipeline.evaluators.metrics import clustered_proportion

    keys = rows["eval_set"].astype(str) + "\x1f" + rows["sample_id"].astype(str) if "eval_set" in rows else rows["sample_id"]
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
        entry: dict[str, Any] = {"n": n, "mean": float(r["value"].mean()) if n else math.nan,
                                 "mean_spread": float(sp["value"].mean()) if len(sp) else math.nan,
                                 "threshold": d.threshold}
        if d.threshold is not None:
            g = rows[(rows["metric"] == d.name) & rows["passed"].notna()]
            k, m = int(g["passed"].astype(bool).sum()), len(g)
            entry.update(pass_rate=k / m if m else math.nan, ci=_pass_interval(g), n_graded=m,
                         n_no_verdict=int(g["value"].isna().sum()))
        out["dimensions"][d.name] = entry
    thr_dims = [d.name for d in config.dimensions if d.threshold is not None]
    gated = rows[rows["metric"].isin(thr_dims) & rows["passed"].notna()]
    if thr_dims and not gated.empty:
        per_sample = gated.groupby(["eval_set", "sample_id", "repeat"], dropna=False)["passed"].agg(lambda s: bool(s.astype(bool).all()))
        k, n = int(per_sample.sum()), len(per_sample)
        ok = per_sample.rename("passed").reset_index()
        out.update(all_pass_rate=k / n, all_pass_ci=_pass_interval(ok), n_samples=n)
    for status in (STATUS_UNPARSEABLE, STATUS_REFUSAL):
        out[status] = int(rows.loc[rows["metric"] == status, "value"].sum())
    first_dim = config.dimensions[0].name
    out["infra_errors"] = int(rows.loc[rows["metric"] == first_dim, "infra_error"].notna().sum())
    return out


def summarize_pairwise(rows: pd.DataFrame) -> dict[str, Any]:
    """Win rate of the candidate with a Wilson 95% interval and position consistency.

    Unit = sample row; each contributes its ``pairwise_win`` value (1 win, 0.5 tie,
    0 loss; the median over judge repeats). Win rate = sum / n; the interval is the Wilson
    score interval (statsmodels ``proportion_confint(method="wilson")``) on the fractional
    count wins + ties/2, which treats a tie as half a win (approximate when ties are many).
    """
    rows = rows[rows["family"] == FAMILY]
    win = rows[(rows["metric"] == "pairwise_win") & rows["value"].notna()]["value"].astype(float)
    cons = rows[(rows["metric"] == "position_consistency") & rows["value"].notna()]["value"].astype(float)
    n = len(win)
    total = float(win.sum())
    return {
        "n": n,
        "wins": int((win == 1.0).sum()),
        "ties": int(((win > 0) & (win < 1)).sum()),
        "losses": int((win == 0.0).sum()),
        "win_rate": total / n if n else math.nan,
        "win_rate_ci": wilson_interval(total, n),
        "interval_method": "wilson (statsmodels), ties counted as half a win",
        "position_consistency": float(cons.mean()) if len(cons) else math.nan,
        STATUS_UNPARSEABLE: int(rows.loc[rows["metric"] == STATUS_UNPARSEABLE, "value"].sum()),
        STATUS_REFUSAL: int(rows.loc[rows["metric"] == STATUS_REFUSAL, "value"].sum()),
    }
