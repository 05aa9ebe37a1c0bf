"""The check registry: ``@check("name")`` records a factory under its YAML ``type``.

In: a factory ``f(**yaml_args) -> CheckFn`` (its signature and type hints are the argument
spec; a ``context: BuildContext`` parameter is injected, not read from YAML). Out:
:data:`CHECK_TYPES` (name -> :class:`CheckType`), read by :mod:`.build` to validate and build a
:class:`Check`. A factory whose result depends on more than its arguments (a schema file, the
source of a custom function) passes ``hash_extra`` so the evaluator hash changes with it.

What a check *accepts* is declared in the config package (:mod:`eval_pipeline.project.checks`, one
spec model per built-in type): registering a built-in asserts that the factory's parameters are its
spec model's fields; a type with no spec model there (a user's own check) gets one derived from the
factory's signature, whose validation calls the factory (so a suite naming it is validated at load).
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from pydantic import create_model

from eval_pipeline.evaluators.deterministic.base import CheckFn, CheckResult, Sample
from eval_pipeline.project.check_spec import UserCheck
from eval_pipeline.project.checks import (
    CHECK_SPECS,
    CheckContext,
    CheckSpec,
    register_check_spec,
    user_check_base,
)

CONTEXT_PARAM = "context"  # factories may take a `context: BuildContext` injected by build_check
RESERVED_KEYS = ("type", "name")


# What a factory may need beyond its arguments (where relative files are resolved from): the config's context.
BuildContext = CheckContext


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
        spec = CHECK_SPECS.get(name)
        if spec is None or issubclass(spec, user_check_base()):
            register_check_spec(name, _user_spec(name, factory, params, hints))
        else:
            _assert_same_params(name, spec, params)
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


def _assert_same_params(name: str, spec: type[CheckSpec], params: dict[str, inspect.Parameter]) -> None:
    """A built-in factory takes exactly its spec model's arguments, with the same defaults."""
    fields = {(f.alias or k): f for k, f in spec.params().items()}
    assert set(fields) == set(params), (
        f"check {name!r}: factory arguments {sorted(params)} != spec {sorted(fields)}"
    )
    for arg, p in params.items():
        f = fields[arg]
        default = f.get_default(call_default_factory=True) if not f.is_required() else inspect.Parameter.empty
        assert default == p.default, (
            f"check {name!r}: default of {arg!r} differs (factory {p.default!r}, spec {default!r})"
        )


def _user_spec(
    name: str, factory: Callable[..., CheckFn], params: dict[str, inspect.Parameter], hints: dict[str, Any]
) -> type[CheckSpec]:
    """A spec model of a check type known only here: fields from the factory's signature; validating it builds the check."""
    fields: dict[str, Any] = {
        arg: (hints.get(arg, Any), ... if p.default is inspect.Parameter.empty else p.default)
        for arg, p in params.items()
    }
    model = cast("type[UserCheck]", create_model(f"UserCheck_{name}", __base__=user_check_base(), **fields))

    def validate(args: dict[str, Any], context: CheckContext) -> None:
        kwargs = dict(args)
        if CONTEXT_PARAM in inspect.signature(factory).parameters:
            kwargs[CONTEXT_PARAM] = context
        factory(**kwargs)

    model.validator = validate
    return model
