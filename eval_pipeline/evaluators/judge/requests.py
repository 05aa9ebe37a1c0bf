"""Judge requests: the evaluator hash and the provider requests built from a rendered prompt.

In: a :class:`~.config.JudgeConfig`, a :class:`~.prompts.PromptTemplate` and one call's prompt
context. Out: :func:`evaluator_hash` (16 hex digits over model + mode + rubric + prompt + sampling
params + tool, written to the ``evaluator_hash`` column), :func:`judge_call_key` (the ``epoch`` of a
judge request: the hash, the response repeat and, pairwise, the order) and the
:class:`~eval_pipeline.inference.types.ModelRequest` that forces the verdict tool. Changing the
rubric changes the hash and so every key: stored verdicts are re-judged, never reused.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from eval_pipeline.evaluators.judge.prompts import (
    TOOL_NAME,
    PromptTemplate,
    default_prompt,
    render_prompt,
    verdict_tool,
)
from eval_pipeline.inference.types import ModelRequest, ModelResponse
from eval_pipeline.project.hashing import digest16
from eval_pipeline.project.judge import JudgeConfig, JudgeDimension

# ``execute(requests) -> responses``, in order. A judge whose config sets ``batch: true`` calls it as
# ``execute(requests, batch=True)`` (Message Batches; see :mod:`.executor`, which builds the standard one).
Executor = Callable[..., list[ModelResponse]]

JUDGE_VERSION = "judge-v1"  # bump when the verdict logic changes in a way that must re-judge


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
        "dimensions": [_dimension(d) for d in config.dimensions],
        "prompt": {"system": prompt.system, "user": prompt.user},
        "temperature": config.temperature,
        "max_tokens": config.max_tokens,
        "tool": verdict_tool(config),
    }
    if config.is_panel:  # a panel's aggregated rows: the jury and its rule decide them too
        payload.update(models=list(config.models), aggregate=config.aggregate)
    return digest16(payload)


def _dimension(d: JudgeDimension) -> dict[str, Any]:
    """A dimension as hashed: ``higher_is_better`` only when False (it changes ``passed``), so every hash of a
    rubric written before the field existed stays the same (stored verdicts and caches stay valid)."""
    out: dict[str, Any] = d.model_dump()
    if out.get("higher_is_better", True):
        out.pop("higher_is_better", None)
    return out


def rubric_hash(config: JudgeConfig, prompt: PromptTemplate | None = None) -> str:
    """Hash of what the judge is asked, without who asks: mode, rubric, reference use and prompt text.
    With the judge model it is the judge's identity (``judge_model`` + ``rubric_hash`` in history)."""
    prompt = prompt or default_prompt(config.mode)
    return digest16(
        {
            "mode": config.mode,
            "use_reference": config.use_reference,
            "dimensions": [_dimension(d) for d in config.dimensions],
            "prompt": {"system": prompt.system, "user": prompt.user},
        }
    )


def judge_identity(config: JudgeConfig, prompt: PromptTemplate | None = None) -> dict[str, str]:
    """``{"judge_model", "rubric_hash"}``: the panel's models joined by ``+`` for a panel."""
    return {"judge_model": "+".join(config.judge_models), "rubric_hash": rubric_hash(config, prompt)}


def _params(config: JudgeConfig) -> dict[str, Any]:
    """Request params: max_tokens always, temperature only when configured."""
    params: dict[str, Any] = {"max_tokens": config.max_tokens}
    if config.temperature is not None:
        params["temperature"] = config.temperature
    return params


def judge_call_key(evaluator: str, sample_repeat: Any, order: str = "") -> str:
    """The stored-response key of one logical judge call (before the ``:a<attempt>`` suffix).

    ``order`` is ``""`` for pointwise calls and ``"AB"`` / ``"BA"`` for the two pairwise orders.
    """
    return f"judge:{evaluator}:sr{sample_repeat}" + (f":{order}" if order else "")


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
        cache_prompt=config.cache_prompt,  # not in the key: caching does not change the verdict
    )
