"""Prompt rendering: versioned YAML templates, Jinja2 in a sandbox with strict undefined variables.

Template variables: ``input`` (string or object; for a conversation row - ``input.messages`` - the
last user turn, the whole input being ``conversation``, see :mod:`.conversation`), ``metadata``, ``sample_id``, ``labels``
(sorted distinct expected labels of the eval set, when they are strings) and any
``prompt_vars`` of the eval set. The expected answer is never available to the prompt.
With ``cache_prompt`` on the model version, each request says how long its static user-message
prefix is (:func:`static_prefix_chars`), which the provider marks with ``cache_control``.
"""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Any

import pandas as pd
from jinja2 import StrictUndefined, Template, TemplateError
from jinja2.sandbox import SandboxedEnvironment

from eval_pipeline.inference.conversation import is_conversation, last_user_turn, row_tools, to_messages
from eval_pipeline.inference.types import ModelRequest
from eval_pipeline.project.registry import ModelVersion, PromptTemplate
from eval_pipeline.project.suites import EvalSet, Suite
from eval_pipeline.project.tools import merge_tools


class PromptRenderError(ValueError):
    pass


@lru_cache(maxsize=1)
def _env() -> SandboxedEnvironment:
    return SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False)


@lru_cache(maxsize=256)
def _compile(text: str) -> Template:
    return _env().from_string(text)


def render(
    template: PromptTemplate, context: dict[str, Any], where: str = "prompt"
) -> tuple[str | None, str]:
    """Render (system, user). Undefined variables raise PromptRenderError naming the template."""
    try:
        system = _compile(template.system).render(**context).strip() if template.system else None
        user = _compile(template.user).render(**context).strip()
    except TemplateError as e:
        raise PromptRenderError(
            f"{where}: {e.__class__.__name__}: {e} (available variables: {sorted(context)})"
        ) from None
    return system, user


def eval_set_labels(golden: pd.DataFrame) -> list[str]:
    vals: Any = golden.get("expected", [])
    return sorted({v for v in vals if isinstance(v, str)})


def build_requests(
    golden: pd.DataFrame,
    suite: Suite,
    eval_set: EvalSet,
    model_version: ModelVersion,
    date: str,
) -> list[ModelRequest]:
    """One request per (sample, repeat) of a decoded golden frame for one eval set."""
    template = model_version.prompt_template(eval_set.task)
    labels = eval_set_labels(golden)
    where = f"{model_version._prompt_paths.get(eval_set.task, eval_set.task)} (model version {model_version.name}, eval set {suite.name}/{eval_set.name})"
    epoch = date if model_version.fresh_samples_daily else ""
    params = model_version.params.api_params()
    rendered = []
    base_tools = merge_tools(
        [t.as_request_tool() for t in getattr(model_version, "tools", [])],
        [t.as_request_tool() for t in getattr(eval_set, "tools", [])],
    )
    row: Any  # a golden row (itertuples: its fields are attributes)
    for row in golden.itertuples(index=False):
        convo = is_conversation(row.input)
        row_where = f"{where}, sample {row.sample_id}"
        ctx = {
            # a conversation: the template wraps the last user turn; the whole input is `conversation`
            "input": last_user_turn(row.input, row_where) if convo else row.input,
            "conversation": row.input if convo else None,
            "metadata": row.metadata,
            "sample_id": row.sample_id,
            "labels": labels,
            **eval_set.prompt_vars,
        }
        system, user = render(template, ctx, where)
        if convo:
            system, messages = to_messages(row.input, system, user, row_where)
        else:
            messages = [{"role": "user", "content": user}]
        tools = merge_tools(base_tools, row_tools(row.input, row_where))
        rendered.append((row.sample_id, system, user, messages, tools))
    cache = getattr(model_version, "cache_prompt", False)
    prefix = (
        static_prefix_chars([user for _, _, user, messages, _ in rendered if len(messages) == 1])
        if cache
        else 0
    )
    out: list[ModelRequest] = []
    for sample_id, system, _user, messages, tools in rendered:
        for rep in range(eval_set.repeats):
            out.append(
                ModelRequest(
                    sample_id=sample_id,
                    model=model_version.model,
                    messages=messages,
                    system=system,
                    tools=tools,
                    params=params,
                    repeat=rep,
                    epoch=epoch,
                    cache_prompt=cache,
                    static_prefix_chars=prefix if len(messages) == 1 else 0,
                )
            )
    return out


def static_prefix_chars(users: list[str]) -> int:
    """Length of the static part of an eval set's rendered user messages (the text every sample
    shares before its own values, e.g. the routing label list), cut at a line end so no sample's
    value is part of it; 0 for fewer than two messages or no shared line."""

    if len(users) < 2:
        return 0
    common = os.path.commonprefix(users)
    cut = common.rfind("\n")
    return cut + 1 if cut >= 0 else 0
