"""Prompt rendering: versioned YAML templates, Jinja2 in a sandbox with strict undefined variables.

Template variables: ``input`` (string or object), ``metadata``, ``sample_id``, ``labels``
(sorted distinct expected labels of the eval set, when they are strings) and any
``prompt_vars`` of the eval set. The expected answer is never available to the prompt.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any

import pandas as pd
from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment

from eval_pipeline.project.registry import ModelVersion, PromptTemplate
from eval_pipeline.project.suites import EvalSet, Suite
from eval_pipeline.inference.types import ModelRequest


class PromptRenderError(ValueError):
    pass


@lru_cache(maxsize=1)
def _env() -> SandboxedEnvironment:
    return SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False)


@lru_cache(maxsize=256)
def _compile(text: str):
    return _env().from_string(text)


def render(template: PromptTemplate, context: dict[str, Any], where: str = "prompt") -> tuple[str | None, str]:
    """Render (system, user). Undefined variables raise PromptRenderError naming the template."""
    try:
        system = _compile(template.system).render(**context).strip() if template.system else None
        user = _compile(template.user).render(**context).strip()
    except TemplateError as e:
        raise PromptRenderError(f"{where}: {e.__class__.__name__}: {e} (available variables: {sorted(context)})") from None
    return system, user


def eval_set_labels(golden: pd.DataFrame) -> list[str]:
    vals = golden["expected"] if "expected" in golden else []
    return sorted({v for v in vals if isinstance(v, str)})


def build_requests(
    golden: pd.DataFrame,
    suite: Suite,
    eval_set: EvalSet,
    mv: ModelVersion,
    date: str,
) -> list[ModelRequest]:
    """One request per (sample, repeat) of a decoded golden frame for one eval set."""
    template = mv.prompt_template(eval_set.task)
    labels = eval_set_labels(golden)
    where = f"{mv._prompt_paths.get(eval_set.task, eval_set.task)} (model version {mv.name}, eval set {suite.name}/{eval_set.name})"
    epoch = date if mv.fresh_samples_daily else ""
    params = mv.params.api_params()
    out: list[ModelRequest] = []
    for row in golden.itertuples(index=False):
        ctx = {"input": row.input, "metadata": row.metadata, "sample_id": row.sample_id, "labels": labels, **eval_set.prompt_vars}
        system, user = render(template, ctx, where)
        for rep in range(eval_set.repeats):
            out.append(
                ModelRequest(
                    sample_id=row.sample_id,
                    model=mv.model,
                    messages=[{"role": "user", "content": user}],
                    system=system,
                    params=params,
                    repeat=rep,
                    epoch=epoch,
                )
            )
    return out
