"""Model families (self-preference: a judge should not grade its own family) and an eval set's judges.

In: a model id (Anthropic, OpenAI, Bedrock ``us.anthropic.claude-...``, ``org/model`` of an
OpenAI-compatible server) and optionally the registry's ``model_families:`` table; an eval set.
Out: the model's family (``"unknown"`` when no prefix matches), the eval set's judge model ids, and
``check_judge_family`` (a same-family judge: a registry warning, or an error under the suite's
``forbid_same_family_judge``).
Re-exported by ``project.registry``.

Plain Python: no Dagster here.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from eval_pipeline.project.errors import ConfigError

if TYPE_CHECKING:
    from eval_pipeline.project.registry import ModelRegistry, ModelVersion
    from eval_pipeline.project.suites import EvalSet, Suite

# Model id prefix -> model family (self-preference: a judge should not grade its own family). The
# registry's ``model_families:`` adds to / overrides these; the longest matching prefix wins.
DEFAULT_MODEL_FAMILIES: dict[str, str] = {
    "claude": "anthropic-claude",
    "anthropic.claude": "anthropic-claude",
    "us.anthropic.claude": "anthropic-claude",
    "gpt": "openai-gpt",
    "chatgpt": "openai-gpt",
    "o1": "openai-gpt",
    "o3": "openai-gpt",
    "o4": "openai-gpt",
    "gemini": "google-gemini",
    "gemma": "google-gemma",
    "llama": "meta-llama",
    "meta-llama": "meta-llama",
    "mistral": "mistral",
    "mixtral": "mistral",
    "codestral": "mistral",
    "ministral": "mistral",
    "command": "cohere-command",
    "qwen": "alibaba-qwen",
    "deepseek": "deepseek",
    "grok": "xai-grok",
    "nova": "amazon-nova",
    "titan": "amazon-nova",
    "jamba": "ai21-jamba",
    "phi": "microsoft-phi",
    "granite": "ibm-granite",
    "kimi": "moonshot-kimi",
}
# Bedrock ids carry a cross-region inference prefix and a vendor prefix ("us.meta.llama3-1-8b-...",
# "eu.amazon.nova-pro-v1:0"); OpenAI-compatible servers often an organisation ("meta-llama/Llama-3.1-8B",
# "openai/gpt-oss-20b"). Both are stripped when the full id matches no prefix.
_REGION_PREFIX = ("us.", "eu.", "apac.", "global.", "us-gov.", "jp.", "au.", "ca.")
_VENDOR_PREFIX = (
    "anthropic.",
    "meta.",
    "mistral.",
    "amazon.",
    "cohere.",
    "ai21.",
    "deepseek.",
    "qwen.",
    "openai.",
    "writer.",
    "moonshot.",
)


def model_family(model_id: str, families: dict[str, str] | None = None) -> str:
    """The family of a model id: the longest matching prefix (case-insensitive) of ``families``
    (default :data:`DEFAULT_MODEL_FAMILIES`); ``"unknown"`` when none matches."""
    table = DEFAULT_MODEL_FAMILIES if families is None else families
    mid = str(model_id).lower()
    candidates = [mid]
    bare = mid
    for prefixes in (_REGION_PREFIX, _VENDOR_PREFIX):
        bare = next((bare[len(p) :] for p in prefixes if bare.startswith(p)), bare)
        candidates.append(bare)
    if "/" in mid:
        candidates.append(mid.rsplit("/", 1)[1])
    for cand in candidates:
        best = max((p for p in table if cand.startswith(p.lower())), key=len, default=None)
        if best is not None:
            return table[best]
    return "unknown"


def judge_models(es: EvalSet) -> list[str]:
    """The judge model ids of an eval set (``judge.models`` of a panel, else ``judge.model``)."""
    return list(es.judge.judge_models) if es.judge else []


def check_judge_family(
    reg: ModelRegistry, path: Path, i: int, m: ModelVersion, suite: Suite, es: EvalSet
) -> None:
    """Self-preference: a judge of the candidate's own family is a warning, an error with
    ``forbid_same_family_judge: true`` on the suite."""
    fam = reg.family_of(m.model)
    same = [j for j in judge_models(es) if fam != "unknown" and reg.family_of(j) == fam]
    if not same:
        return
    msg = (
        f"suite {suite.name!r} eval set {es.name!r}: judge {', '.join(same)} is of the same model family ({fam}) as "
        f"model version {m.name!r} ({m.model}); LLM judges tend to prefer their own family's answers - use a judge of another family"
    )
    if suite.forbid_same_family_judge:
        raise ConfigError(
            suite.file,
            f"eval_sets[{suite.eval_sets.index(es)}].judge",
            msg + " (forbid_same_family_judge: true)",
        )
    reg._warnings.append(f"{path}: models[{i}]: {msg}")
    # Not logged here (every command and asset loads the project): the judge step of this model version
    # logs it (judge_scores) and `eval-pipeline validate` prints it - once, and only where a judge runs.
    reg._warnings_by_version.setdefault(m.name, []).append(f"{path}: models[{i}]: {msg}")
