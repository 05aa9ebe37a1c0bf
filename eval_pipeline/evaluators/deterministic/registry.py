"""The check registry: ``@check("name")`` records a factory under its YAML ``type``.

In: a factory ``f(**yaml_args) -> CheckFn`` (its signature and type hints are the argument
spec; a ``context: BuildContext`` parameter is injected, not read from YAML). Out:
:data:`CHECK_TYPES` (name -> :class:`CheckType`), read by :mod:`.build` to validate and build a
:class:`Check`. A factory whose result depends on more than its arguments (a schema file, the
source of a custom function) passes ``hash_extra`` so the evaluator hash changes with it.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eval_pipeline.evaluators.deterministic.base import CheckFn, CheckResult, Sample

CONTEXT_PARAM = "context"  # factories may take a `context: BuildContext` injected by build_check
RESERVED_KEYS = ("type", "name")


@dataclass(frozen=True)
class BuildContext:
    """What a factory may need beyond its arguments: where relative files are resolved from."""

    base_dir: Path
    where: str

    def resolve(self, path: str) -> Path:
        """``path`` as is when absolute, else relative to :attr:`base_dir` (the suite's folder)."""
        p = Path(path)
        return p if p.is_absolute() else self.base_dir / p


# (validated YAML arguments, context) -> text mixed into the evaluator hash
HashExtra = Callable[[dict[str, Any], BuildContext], str]


@dataclass(frozen=True)
class CheckType:
    """A registered check factory and its argument specification."""

    name: str
    factory: Callable[..., CheckFn]
    params: dict[str, inspect.Parameter]
    hints: dict[str, Any]
    doc: str
    hash_extra: HashExtra | None = None

    @property
    def required(self) -> list[str]:
        return [n for n, p in self.params.items() if p.default is inspect.Parameter.empty]


CHECK_TYPES: dict[str, CheckType] = {}


def check(
    name: str, *, hash_extra: HashExtra | None = None
) -> Callable[[Callable[..., CheckFn]], Callable[..., CheckFn]]:
    """Register a check factory under ``name`` (the YAML ``type``)."""

    def register(factory: Callable[..., CheckFn]) -> Callable[..., CheckFn]:
        sig = inspect.signature(factory)
        params = {n: p for n, p in sig.parameters.items() if n != CONTEXT_PARAM}
        hints = typing.get_type_hints(factory)
        CHECK_TYPES[name] = CheckType(name, factory, params, hints, inspect.getdoc(factory) or "", hash_extra)
        return factory

    return register


@dataclass(frozen=True)
class Check:
    """A configured check: ``name`` is the ``metric`` of its score rows."""

    name: str
    type: str
    args: dict[str, Any]
    fn: CheckFn
    evaluator_hash: str

    def __call__(self, sample: Sample) -> CheckResult:
        return self.fn(sample)
