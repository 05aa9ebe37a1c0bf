"""The configuration reference, generated from the config models (``docs/reference.md`` is built from it).

In: the pydantic models that validate ``models.yaml``, the suite files, prompts and ``monitoring.yaml``
(and the ``regression:`` dataclass). Out: markdown - one table per model: key, type, default and
meaning, where the meaning is the field's ``description``, else the comment on its line in the source,
else (for the dataclass) its entry in the class docstring's ``Attributes:``. So the reference changes
when the code does; ``mkdocs_hooks.py`` puts it into the page at build time. Plain Python.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
import typing
from typing import TYPE_CHECKING, Any, TypeAlias

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from eval_pipeline.project import endpoints
from eval_pipeline.project.canary import CanaryConfig
from eval_pipeline.project.judge import JudgeConfig, JudgeDimension, MinCalibration
from eval_pipeline.project.monitoring import DebounceConfig, DriftConfig, MonitoringConfig, ShadowConfig
from eval_pipeline.project.redaction import RedactionConfig
from eval_pipeline.project.registry import (
    ModelParams,
    ModelRegistry,
    ModelVersion,
    Pricing,
    PromptTemplate,
)
from eval_pipeline.project.regression_config import RegressionConfig
from eval_pipeline.project.suites import (
    EvalSet,
    FieldMapping,
    SampleSpec,
    SimilaritySettings,
    Suite,
    Threshold,
)

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

# a section's keys: a pydantic model or a dataclass
ConfigModel: TypeAlias = "type[BaseModel] | type[DataclassInstance]"

MARKER = "<!-- generated: config-reference -->"

# Meanings of the keys whose model gives none (no ``description``, no comment on the line). The type,
# the default and whether a key exists still come from the model; a key listed here that the model
# does not have is never shown (test_first_hour checks every model key appears).
NOTES = {
    "Suite.name": "the suite's name (a slug): what model versions list under `suites:`",
    "Suite.description": "free text, shown in the UI",
    "Suite.owner": "who to ask about it (free text)",
    "Suite.error_rate_ceiling": "share of infrastructure errors (429, 529, timeouts) above which the inference step fails",
    "Suite.eval_sets": "the eval sets (at least one)",
    "EvalSet.name": "the eval set's name (a slug), unique in the suite",
    "EvalSet.family": "how answers are scored: deterministic `checks`, `similarity` to the reference, or an LLM `judge`",
    "EvalSet.format": "the golden set's format (default: from the file extension)",
    "EvalSet.description": "free text, shown in the UI",
    "EvalSet.fields": "your column names, when they are not id / input / expected / metadata",
    "EvalSet.sample": "evaluate a deterministic sample of the rows instead of all",
    "EvalSet.repeats": "answers per row (k > 1 gives pass@k and run-to-run variance)",
    "EvalSet.max_record_bytes": "a row larger than this is an error naming its line",
    "EvalSet.prompt_vars": "extra template variables for the prompts of this eval set",
    "EvalSet.checks": "the deterministic checks (`type:` plus its options), see the configuration reference",
    "EvalSet.similarity": "settings of a similarity eval set",
    "EvalSet.judge": "settings of a judge eval set (see Judge below)",
    "EvalSet.thresholds": "gates on the eval set's metrics",
    "FieldMapping.id": "column of the row id",
    "FieldMapping.input": "column of the input",
    "FieldMapping.expected": "column of the expected answer",
    "FieldMapping.metadata": "column of the metadata object",
    "FieldMapping.category": "column of the segment (dotted paths reach into objects)",
    "SampleSpec.n": "how many rows",
    "SampleSpec.seed": "which rows: the n with the smallest hash of (seed, id)",
    "Threshold.metric": "a metric of the eval set (e.g. pass_rate, <check>.pass_rate, macro_f1, cosine_pass_rate, <dimension>.mean)",
    "Threshold.min": "the metric's point value must be at least this",
    "Threshold.max": "the metric's point value must be at most this",
    "Threshold.blocking": "true: a failure fails the run (exit 1) and stops the release; false: a warning",
    "ModelVersion.name": "the version's name; its partition key is the name plus a hash of its config",
    "ModelVersion.description": "free text, shown in the UI",
    "ModelVersion.model": "the provider's model id",
    "ModelVersion.params": "request parameters",
    "ModelVersion.suites": "the suites this version runs",
    "ModelVersion.nightly": "evaluated by the nightly schedule and by `eval-pipeline run` without --model-version",
    "ModelVersion.production": "the production version (at most one)",
    "ModelParams.max_tokens": "maximum output tokens",
    "ModelParams.temperature": "sampling temperature",
    "ModelParams.top_p": "nucleus sampling",
    "ModelParams.stop_sequences": "stop sequences",
    "PromptTemplate.system": "the system prompt (Jinja2)",
    "PromptTemplate.user": "the user message (Jinja2; variables: input, metadata, sample_id, labels, prompt_vars)",
    "PromptTemplate.version": "a label of this prompt version (free text)",
    "SimilaritySettings.threshold": "an answer passes when its cosine similarity to the reference is at least this",
    "SimilaritySettings.model_path": "a sentence-transformers model folder (default: the packaged all-MiniLM-L6-v2)",
    "JudgeConfig.aggregate": "how a panel's verdicts combine",
    "JudgeConfig.mode": "pointwise: score each answer on the rubric; pairwise: candidate vs the production answer, both orders",
    "JudgeConfig.repeats": "verdicts per answer (the median is the score; the spread is reported)",
    "JudgeConfig.use_reference": "show the judge the expected answer",
    "JudgeConfig.dimensions": "the rubric (at least one dimension)",
    "JudgeConfig.min_calibration": "agreement with human labels required before judge thresholds may block",
    "JudgeDimension.name": "the dimension's name: thresholds use <name>.mean",
    "JudgeDimension.description": "what the judge is told this dimension means",
    "JudgeDimension.scale": "the integer scale [low, high]",
    "MinCalibration.agreement_within_one": "share of verdicts within one point of the human label",
    "MinCalibration.exact_agreement": "share of verdicts equal to the human label",
    "MinCalibration.spearman": "rank correlation with the human labels",
    "MinCalibration.weighted_kappa": "quadratic-weighted kappa with the human labels",
    "MinCalibration.pairwise_accuracy": "share of pairwise verdicts that agree with the human preference",
    "MinCalibration.pairwise_kappa": "Cohen's kappa of pairwise verdicts with the human preference",
    "MinCalibration.position_consistency": "share of pairs judged the same in both orders",
    "ModelRegistry.models": "the model versions",
    "ModelRegistry.pricing": "USD per million tokens per model id (a model without a price costs 0)",
    "Pricing.input": "USD per million input tokens",
    "Pricing.output": "USD per million output tokens",
    "_Flow.requests_per_minute": "client-side request rate limit (none when unset)",
    "_Flow.tokens_per_minute": "client-side token rate limit (none when unset)",
    "_Flow.request_timeout_s": "seconds one attempt may take",
    "AnthropicEndpoint.provider": "the provider this endpoint is for",
    "AnthropicEndpoint.api_key_env": "the environment variable that holds the key (never the key itself)",
    "AnthropicEndpoint.stream": "stream answers (measures time to first token)",
    "OpenAIEndpoint.provider": "the provider this endpoint is for",
    "OpenAIEndpoint.api_key_env": "the environment variable that holds the key (never the key itself)",
    "OpenAIEndpoint.stream": "stream answers (measures time to first token)",
    "OpenAIEndpoint.max_tokens_param": "max_completion_tokens for OpenAI's reasoning models",
    "BedrockEndpoint.provider": "the provider this endpoint is for",
    "BedrockEndpoint.stream": "stream answers (measures time to first token)",
    "HttpEndpoint.provider": "the provider this endpoint is for",
    "HttpEndpoint.url": "where requests are sent",
    "HttpEndpoint.method": "the HTTP method",
    "PythonEndpoint.provider": "the provider this endpoint is for",
    "MonitoringConfig.sample_rate": "share of a day's interactions sampled (deterministic hash)",
    "MonitoringConfig.thresholds": "warn / critical levels of the online rates",
    "MonitoringConfig.debounce": "how many days must breach before a warning fires",
    "MonitoringConfig.judge_max_samples": "at most this many sampled interactions are judged per day",
    "MonitoringConfig.reference_window_days": "earlier days that drift is measured against",
    "MonitoringConfig.drift": "drift features",
    "MonitoringConfig.shadow": "the shadow candidate and its pairwise judge",
    "MonitoringConfig.canary": "the hourly canary analysis",
    "DebounceConfig.k": "a warning needs k breaching days ...",
    "DebounceConfig.m": "... out of the last m",
    "DebounceConfig.critical_immediate": "a critical level fires at once",
    "DriftConfig.length_bins": "bins of the input-length histogram",
    "DriftConfig.embedding_clusters": "clusters of the input embeddings",
    "DriftConfig.embeddings": "measure embedding-cluster drift (MiniLM)",
    "ShadowConfig.max_samples": "at most this many sampled inputs are answered by the candidate per day",
}


def _sections() -> list[tuple[str, str, ConfigModel]]:
    """(heading, where in the file, model) in reading order."""
    out: list[tuple[str, str, ConfigModel]] = [
        ("Suite", "`data/suites/<name>.yaml`", Suite),
        ("Eval set", "`eval_sets[]` of a suite", EvalSet),
        ("Field mapping", "`eval_sets[].fields`", FieldMapping),
        ("Sample", "`eval_sets[].sample`", SampleSpec),
        ("Threshold", "`eval_sets[].thresholds[]`", Threshold),
        ("Similarity", "`eval_sets[].similarity`", SimilaritySettings),
        ("Judge", "`eval_sets[].judge`", JudgeConfig),
        ("Judge dimension", "`eval_sets[].judge.dimensions[]`", JudgeDimension),
        ("Judge calibration bar", "`eval_sets[].judge.min_calibration`", MinCalibration),
        ("Regression gate", "`regression:` of a suite", RegressionConfig),
        ("Model registry", "`data/models.yaml`", ModelRegistry),
        ("Model version", "`models[]` of models.yaml", ModelVersion),
        ("Model parameters", "`models[].params`", ModelParams),
        ("Price", "`pricing.<model id>` of models.yaml", Pricing),
        ("Prompt template", "a prompt file, e.g. `data/prompts/<task>_v1.yaml`", PromptTemplate),
    ]
    for name in ("AnthropicEndpoint", "OpenAIEndpoint", "BedrockEndpoint", "HttpEndpoint", "PythonEndpoint"):
        cls = getattr(endpoints, name, None)
        if cls is not None:
            kind = name.removesuffix("Endpoint").lower()
            out.append((f"Endpoint: {kind}", f"`models[].endpoint` with `provider: {kind}`", cls))
    out += [
        ("Monitoring", "`data/monitoring.yaml`", MonitoringConfig),
        ("Debounce", "`debounce` of monitoring.yaml", DebounceConfig),
        ("Drift", "`drift` of monitoring.yaml", DriftConfig),
        ("Shadow", "`shadow` of monitoring.yaml", ShadowConfig),
        ("Redaction", "`redaction` of monitoring.yaml", RedactionConfig),
        ("Canary", "`canary` of monitoring.yaml", CanaryConfig),
    ]
    return out


def _type(annotation: Any) -> str:
    if annotation is None or annotation is type(None):
        return "null"
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Literal:
        return " \\| ".join(f'"{a}"' if isinstance(a, str) else str(a) for a in args)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        return " \\| ".join(_type(a) for a in args)
    if origin in (list, tuple, set):
        return f"list of {_type(args[0])}" if args else "list"
    if origin is dict:
        return f"mapping {_type(args[0])} -> {_type(args[1])}" if args else "mapping"
    if isinstance(annotation, type):
        return {"str": "string", "int": "integer", "float": "number", "bool": "boolean", "Any": "any"}.get(
            annotation.__name__, annotation.__name__
        )
    return str(annotation).replace("typing.", "").replace("Any", "any")


def _comments(cls: type) -> dict[str, str]:
    """The comment of each field in the class source: on its line (``name: ... = ...  # comment``), else
    the comment lines right above it. Base classes' fields too (their source is read in turn)."""
    out: dict[str, str] = {}
    for klass in reversed([k for k in cls.__mro__ if k.__module__.startswith("eval_pipeline")]):
        try:
            lines = inspect.getsource(klass).splitlines()
        except (OSError, TypeError):
            continue
        above: list[str] = []
        for line in lines:
            if re.match(r"^\s{4}#", line):
                above.append(line.strip().lstrip("#").strip())
                continue
            m = re.match(r"^\s{4}(\w+)\s*:[^\n#]*?(?:#\s*(.+))?$", line)
            if m and not line.strip().startswith(("def ", "@", "return")):
                text = m.group(2) or " ".join(above)
                if text:
                    out[m.group(1)] = text.strip()
            above = []
    return out


def _docstring_attributes(cls: type) -> dict[str, str]:
    doc = inspect.getdoc(cls) or ""
    if "Attributes:" not in doc:
        return {}
    body = doc.split("Attributes:", 1)[1]
    out: dict[str, str] = {}
    name = None
    for line in body.splitlines():
        m = re.match(r"^\s{4}(\w+):\s*(.*)$", line)
        if m:
            name = m.group(1)
            out[name] = m.group(2)
        elif name and line.startswith("        "):
            out[name] += " " + line.strip()
    return out


def _default(value: Any) -> str:
    if value is PydanticUndefined or value is dataclasses.MISSING:
        return "**required**"
    if isinstance(value, BaseModel):
        return "(defaults below)"
    if value in ({}, [], ""):
        empty: dict[type, str] = {dict: "`{}`", list: "`[]`", str: '`""`'}
        return empty[type(value)]
    return f"`{value!r}`".replace("|", "\\|")


def _note(cls: type, name: str) -> str:
    return next((NOTES[f"{k.__name__}.{name}"] for k in cls.__mro__ if f"{k.__name__}.{name}" in NOTES), "")


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def model_table(cls: ConfigModel) -> str:
    """A markdown table of the keys of one config model (pydantic model or dataclass)."""
    rows = ["| key | type | default | meaning |", "|---|---|---|---|"]
    comments = _comments(cls)
    if dataclasses.is_dataclass(cls):
        docs = _docstring_attributes(cls)
        for f in dataclasses.fields(cls):
            default = (
                f.default
                if f.default is not dataclasses.MISSING
                else (f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default)
            )
            meaning = docs.get(f.name) or comments.get(f.name) or _note(cls, f.name)
            rows.append(
                f"| `{f.name}` | {_type(f.type if not isinstance(f.type, str) else eval_type(cls, f))} | {_default(default)} | {_cell(meaning)} |"
            )
        return "\n".join(rows)
    for name, info in cls.model_fields.items():
        key = info.alias or name
        # no config model's default_factory takes the validated data (pydantic's one-argument form)
        default = info.default if info.default_factory is None else info.default_factory()  # type: ignore[call-arg]
        if info.is_required():
            default = PydanticUndefined
        meaning = info.description or comments.get(name) or _note(cls, name)
        rows.append(f"| `{key}` | {_type(info.annotation)} | {_default(default)} | {_cell(meaning)} |")
    return "\n".join(rows)


def eval_type(cls: type, f: dataclasses.Field[Any]) -> Any:
    """A dataclass field's annotation (postponed, a string) resolved in its module."""
    try:
        return typing.get_type_hints(cls).get(f.name, f.type)
    except Exception:
        return f.type


def reference_markdown() -> str:
    """Every section: heading, where the keys go, the model's docstring, the table."""
    parts = []
    for title, where, cls in _sections():
        own = cls.__dict__.get("__doc__") or ""  # not BaseModel's docstring
        doc = inspect.cleandoc(own).split("\n\n")[0].replace("\n", " ")
        if dataclasses.is_dataclass(cls):
            doc = doc.split("Attributes:")[0].strip()
        parts.append(f"## {title}\n\nWhere: {where}. {doc}\n\n{model_table(cls)}\n")
    return "\n".join(parts)
