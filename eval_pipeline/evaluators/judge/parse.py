"""Judge verdicts: execute the calls, validate each tool input, retry, classify what came back.

In: the logical judge calls of one run (:class:`_Call`: sample row, judge repeat, order, prompt
context), the config, prompt and an ``execute(requests) -> responses`` provider function. Out:
each call filled in with its ``status`` - ``ok`` (a verdict valid against the tool's JSON
Schema), ``judge_refusal``, an infrastructure error category, or ``judge_unparseable`` after
``max_attempts`` invalid or missing verdicts (each retry under a fresh attempt key) - and its
verdict, attempts, cost and message. Nothing is dropped.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import jsonschema
import pandas as pd

from eval_pipeline.evaluators.judge.prompts import TOOL_NAME, PromptTemplate, default_prompt, verdict_tool
from eval_pipeline.evaluators.judge.requests import Executor, _request, evaluator_hash, judge_call_key
from eval_pipeline.evaluators.judge.samples import _require_columns
from eval_pipeline.inference.types import INFRA_ERROR_CATEGORIES, ModelResponse
from eval_pipeline.project.judge import JudgeConfig

# Verdict statuses (the ``status`` column of a verdict frame).
STATUS_OK = "ok"
STATUS_UNPARSEABLE = "judge_unparseable"
STATUS_REFUSAL = "judge_refusal"


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


def _classify(
    response: ModelResponse, validator: jsonschema.protocols.Validator
) -> tuple[str | None, str | None]:
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
    samples: pd.DataFrame,
    evaluator: str,
) -> None:
    """Execute ``calls`` in batches, retrying invalid verdicts with a fresh attempt key.

    Each call's key is :func:`~.requests.judge_call_key` of ``evaluator`` (the evaluator hash), the
    response repeat of its sample row and its order.
    """
    tool = verdict_tool(config)
    validator = jsonschema.Draft202012Validator(tool["input_schema"])
    pending = list(calls)
    for attempt in range(config.max_attempts):
        if not pending:
            break
        requests = [
            _request(
                config,
                prompt,
                c.context,
                sample_id=str(samples["sample_id"].iat[c.row]),
                judge_repeat=c.judge_repeat,
                key=judge_call_key(evaluator, samples["repeat"].iat[c.row], c.order),
                attempt=attempt,
            )
            for c in pending
        ]
        responses = execute(requests, batch=True) if config.batch else execute(requests)
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


def _prepare_run(
    samples: pd.DataFrame,
    config: JudgeConfig,
    prompt: PromptTemplate | None,
    mode: str,
    columns: Iterable[str],
    what: str,
) -> tuple[PromptTemplate, str]:
    """Check the mode and the samples' columns; return the prompt to use and its evaluator hash."""
    if config.mode != mode:
        raise ValueError(f"judge.mode is {config.mode!r}; use judge_{config.mode}_verdicts")
    _require_columns(samples, columns, what)
    prompt = prompt or default_prompt(config.mode)
    return prompt, evaluator_hash(config, prompt)


def _verdict_frame(rows: list[dict[str, Any]], columns: list[str]) -> pd.DataFrame:
    """A verdict frame with ``columns``; ``judge_repeat`` nullable (None for skipped rows)."""
    frame = pd.DataFrame(rows, columns=columns)
    frame["judge_repeat"] = frame["judge_repeat"].astype("Int64")
    return frame


def _infra_only(statuses: dict[str, int]) -> str | None:
    """The infrastructure category to report when no call gave a verdict, or None when any call was
    unparseable or refused (then the judge, not the infrastructure, failed)."""
    if STATUS_UNPARSEABLE in statuses or STATUS_REFUSAL in statuses:
        return None
    return next((s for s in statuses if s in INFRA_ERROR_CATEGORIES), None)
