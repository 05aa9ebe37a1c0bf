"""The model registry: model versions (provider, endpoint, model id, params, prompt templates) and prices.

In: ``data/models.yaml``, the data folder and (optionally) the loaded suites. Out: a validated
:class:`ModelRegistry` of :class:`ModelVersion` (``load_registry``): prompt files inside the data folder
that parse, known suites with a prompt per task, safe partition keys (``ModelVersion.key``: slug + config
hash), judges checked for self-preference (``project.model_families``). Errors are :class:`ConfigError`
naming the file and key path. Plain Python: no Dagster here.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import yaml
from pydantic import BaseModel, Field, PrivateAttr, ValidationError, field_validator, model_validator

from eval_pipeline.project import model_families as families
from eval_pipeline.project.endpoints import Endpoint, endpoint_identity, parse_endpoint, resolve_endpoints
from eval_pipeline.project.errors import ConfigError, check_slug, load_mapping, resolve_data_path, strict
from eval_pipeline.project.hashing import sha256_obj, sha256_text
from eval_pipeline.project.model_families import DEFAULT_MODEL_FAMILIES, judge_models, model_family
from eval_pipeline.project.paths import data_dir
from eval_pipeline.project.suites import EvalSet, Suite
from eval_pipeline.project.tools import ToolSpec

if TYPE_CHECKING:
    from eval_pipeline.project.loader import Project

__all__ = [
    "DEFAULT_MODEL_FAMILIES",
    "FORBIDDEN_KEY_PARTS",
    "judge_models",
    "model_family",
    "ModelParams",
    "ModelRegistry",
    "ModelVersion",
    "Pricing",
    "PromptTemplate",
    "load_registry",
]

# Dagster partition keys must not contain "," "|" or "..." (UI backfills and multi-partitions break).
FORBIDDEN_KEY_PARTS = (",", "|", "...", "/", "=")


class ModelParams(BaseModel):
    model_config = strict()
    max_tokens: int = Field(512, gt=0, le=64_000)
    temperature: float | None = Field(None, ge=0.0, le=1.0)
    top_p: float | None = Field(None, gt=0.0, le=1.0)
    stop_sequences: list[str] | None = None

    def api_params(self) -> dict[str, Any]:
        return {k: v for k, v in self.model_dump().items() if v is not None}


class Pricing(BaseModel):
    """USD per million tokens."""

    model_config = strict()
    input: float = Field(ge=0)
    output: float = Field(ge=0)
    cache_read: float | None = Field(
        None, ge=0, description="default: 0.1 x input (Anthropic's cache-read price)"
    )
    cache_write: float | None = Field(
        None, ge=0, description="default: 1.25 x input (Anthropic's 5-minute cache-write price)"
    )


class PromptTemplate(BaseModel):
    """A prompt template file (YAML with ``system`` and ``user`` Jinja templates)."""

    model_config = strict()
    system: str | None = None
    user: str
    version: str | None = None


class ModelVersion(BaseModel):
    """A deployable configuration: provider + model id + params + prompt templates."""

    model_config = strict()
    name: str
    description: str = ""
    provider: Literal["anthropic", "openai", "bedrock", "http", "python", "replay"] = "anthropic"
    model: str
    endpoint: str | dict[str, Any] | None = Field(
        None,
        description="where requests go: settings of the provider (docs/providers.md), or the name of an entry of endpoints:",
    )
    params: ModelParams = ModelParams()
    prompts: dict[str, str] = Field(
        min_length=1, description="task -> prompt template file (relative to data/)"
    )
    suites: list[str] = Field(min_length=1)
    nightly: bool = True
    production: bool = False
    fresh_samples_daily: bool = Field(
        False, description="Put the date into the response-store key, so each day samples anew."
    )
    batch: bool = Field(
        False,
        description="Send this version's requests through the Message Batches API (half price, no latency figures).",
    )
    cache_prompt: bool = Field(
        False,
        description="Mark the static prompt prefix (system, tools, the template's static part) with cache_control.",
    )

    tools: list[ToolSpec] = Field(default_factory=list, description="Tools offered on every request.")

    _prompt_paths: dict[str, Path] = PrivateAttr(default_factory=dict)
    _prompt_texts: dict[str, str] = PrivateAttr(default_factory=dict)
    _endpoint: Endpoint | None = PrivateAttr(default=None)

    @property
    def endpoint_settings(self) -> Endpoint | None:
        """The validated endpoint (None: the provider's defaults, e.g. the deployment's Anthropic settings)."""
        if self._endpoint is None and self.provider in ("anthropic", "openai", "bedrock"):
            return parse_endpoint(self.provider, None)
        return self._endpoint

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return check_slug(v, "model version name")

    def prompt_template(self, task: str) -> PromptTemplate:
        if task not in self._prompt_texts:
            raise KeyError(
                f"model version {self.name!r} has no prompt for task {task!r} (add it under prompts: in models.yaml)"
            )
        return PromptTemplate.model_validate(yaml.safe_load(self._prompt_texts[task]))

    def prompt_hash(self, task: str) -> str:
        return sha256_text(self._prompt_texts[task])[:12]

    def config_hash(self) -> str:
        """Hash of what decides the model's answers: provider, model, params and prompt contents."""
        payload = {
            "provider": self.provider,
            "model": self.model,
            "params": self.params.api_params(),
            "prompts": {k: sha256_text(v) for k, v in sorted(self._prompt_texts.items())},
            **({"tools": [t.as_request_tool() for t in self.tools]} if self.tools else {}),
        }
        if self._endpoint is not None:  # where answers come from (versions without one keep their old keys)
            payload["endpoint"] = endpoint_identity(self._endpoint)
        return sha256_obj(payload)[:6]

    @property
    def key(self) -> str:
        """Partition key: readable slug + short config hash (never contains ',', '|' or '...')."""
        slug = self.name.replace(".", "-")
        return f"{slug}-{self.config_hash()}"

    def eval_sets(
        self, project: Project, family: str | tuple[str, ...] | None = None
    ) -> list[tuple[Suite, EvalSet]]:
        """(suite, eval set) of this model version: its suites in ``suites`` order, each suite's eval sets
        in file order; only those whose family is ``family`` (one name or a tuple of names) when given."""
        families = (family,) if isinstance(family, str) else family
        return [
            (suite, es)
            for suite in (project.suites[name] for name in self.suites)
            for es in suite.eval_sets
            if families is None or es.family in families
        ]


class ModelRegistry(BaseModel):
    model_config = strict()
    models: list[ModelVersion] = Field(min_length=1)
    pricing: dict[str, Pricing] = Field(default_factory=dict)
    model_families: dict[str, str] = Field(
        default_factory=dict,
        description="model id prefix -> family, added to / overriding DEFAULT_MODEL_FAMILIES",
    )
    endpoints: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="named endpoints ({provider: ..., settings}) that model versions and judges refer to",
    )
    judge_endpoints: dict[str, str] = Field(
        default_factory=dict,
        description="judge model id -> name of an endpoint (default: the deployment's Anthropic provider)",
    )

    _file: Path | None = PrivateAttr(default=None)
    _warnings: list[str] = PrivateAttr(default_factory=list)
    _warnings_by_version: dict[str, list[str]] = PrivateAttr(default_factory=dict)

    def family_of(self, model_id: str) -> str:
        """The model family of ``model_id`` (:func:`model_family` over the defaults + ``model_families``)."""
        return model_family(model_id, {**DEFAULT_MODEL_FAMILIES, **self.model_families})

    @property
    def warnings(self) -> list[str]:
        """Configuration warnings found at load (e.g. a judge of the candidate's own family)."""
        return list(self._warnings)

    def warnings_for(self, name: str) -> list[str]:
        """The warnings about one model version (its judges' model family), for the step that judges it."""
        return list(self._warnings_by_version.get(name, []))

    @model_validator(mode="after")
    def _unique(self) -> ModelRegistry:
        names = [m.name for m in self.models]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"model version names must be unique; duplicated: {sorted(dup)}")
        if sum(m.production for m in self.models) > 1:
            raise ValueError("at most one model version may be marked production: true")
        return self

    def _one(self, field: str, value: str, missing: str) -> ModelVersion:
        """The model version whose ``field`` is ``value``; a ``KeyError`` saying ``missing`` when there is none."""
        for m in self.models:
            if getattr(m, field) == value:
                return m
        raise KeyError(missing)

    def by_name(self, name: str) -> ModelVersion:
        known = [m.name for m in self.models]
        return self._one("name", name, f"no model version named {name!r} in {self._file}; known: {known}")

    def by_key(self, key: str) -> ModelVersion:
        return self._one(
            "key",
            key,
            f"model version key {key!r} is not in the current registry {self._file} (it may be a historical version "
            f"whose config changed or was removed; its stored responses and scores are kept). Current keys: {[m.key for m in self.models]}",
        )

    @property
    def production(self) -> ModelVersion | None:
        return next((m for m in self.models if m.production), None)

    def judge_endpoint(self, model_id: str) -> Endpoint | None:
        """The endpoint a judge model id is sent to (``judge_endpoints``), None = the default Anthropic one."""
        name = self.judge_endpoints.get(model_id)
        if name is None:
            return None
        raw = self.endpoints[name]
        return parse_endpoint(raw.get("provider", ""), raw)

    def price_table(self) -> dict[str, dict[str, float]]:
        return {k: v.model_dump() for k, v in self.pricing.items()}


def load_registry(
    path: str | Path | None = None, base: Path | None = None, suites: dict[str, Suite] | None = None
) -> ModelRegistry:
    """Parse ``models.yaml``; check prompt files exist inside the data folder and suites are known."""
    base = (base or data_dir()).resolve()
    path = Path(path or base / "models.yaml").resolve()
    reg = load_mapping(path, ModelRegistry, "a mapping with a 'models' list at the top level")
    reg._file = path
    resolve_endpoints(reg, path)
    for i, m in enumerate(reg.models):
        for task, rel in m.prompts.items():
            p = resolve_data_path(rel, base, path, f"models[{i}].prompts.{task}")
            text = p.read_text(encoding="utf-8")
            try:
                tpl = yaml.safe_load(text)
                PromptTemplate.model_validate(tpl)
            except (yaml.YAMLError, ValidationError) as e:
                raise ConfigError(
                    p, "", f"invalid prompt template (expected YAML with 'user' and optional 'system'): {e}"
                ) from None
            m._prompt_paths[task] = p
            m._prompt_texts[task] = text
        if m.model not in reg.pricing and m.provider in ("anthropic", "openai", "bedrock"):
            raise ConfigError(
                path,
                f"models[{i}].model",
                f"no price for {m.model!r}: add it under 'pricing:' (USD per million tokens)",
            )
        if suites is not None:
            for j, s in enumerate(m.suites):
                if s not in suites:
                    raise ConfigError(
                        path, f"models[{i}].suites[{j}]", f"unknown suite {s!r}; known: {sorted(suites)}"
                    )
                for es in suites[s].eval_sets:
                    families.check_judge_family(reg, path, i, m, suites[s], es)
                    if es.task not in m.prompts:
                        raise ConfigError(
                            path,
                            f"models[{i}].prompts",
                            f"suite {s!r} eval set {es.name!r} needs a prompt for task {es.task!r}; add '{es.task}: prompts/<file>.yaml'",
                        )
    keys = [m.key for m in reg.models]
    for k in keys:
        if any(bad in k for bad in FORBIDDEN_KEY_PARTS):
            raise ConfigError(path, "models", f"model version key {k!r} contains a forbidden character")
    return reg
