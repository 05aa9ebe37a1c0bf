"""The base of every check spec: what a check entry is, its errors, and the argument rules checks share.

In: one check mapping's arguments and the folder relative files resolve from. Out: :class:`CheckSpec`
(``type``, ``name``, the arguments as written, the metric name), :class:`ArgError` /
:class:`EvaluatorConfigError`, :class:`CheckContext`, and the shared argument rules (JSON field paths,
normalizer names, dotted import paths, schema files). The spec models of the check types are in
:mod:`.checks`. Plain Python: no stage is imported here.
"""

from __future__ import annotations

import importlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

RESERVED_KEYS = ("type", "name")
NORMALIZER_NAMES = ("strip", "lower", "casefold", "collapse_whitespace", "strip_punctuation", "strip_quotes")
NAME_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]*")
_PATH_TOKEN = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


class EvaluatorConfigError(ValueError):
    """A suite's evaluator configuration is invalid; the message starts with the key path."""


class ArgError(Exception):
    """An invalid argument of one check; :func:`parse_check_spec` adds the key path."""

    def __init__(self, arg: str, message: str):
        super().__init__(message)
        self.arg = arg
        self.message = message


@dataclass(frozen=True)
class CheckContext:
    """What validating (and building) a check may need beyond its arguments."""

    base_dir: Path
    where: str

    def resolve(self, path: str) -> Path:
        """``path`` as is when absolute, else relative to :attr:`base_dir`."""
        p = Path(path)
        return p if p.is_absolute() else self.base_dir / p


def parse_field_path(path: str) -> list[str | int]:
    """Parse a JSON path like ``a.b[0].c`` into keys/indices; raises ValueError if malformed."""
    if not isinstance(path, str) or not path.strip():
        raise ValueError("empty field path")
    parts: list[str | int] = []
    pos = 0
    for m in _PATH_TOKEN.finditer(path):
        if m.start() != pos and path[pos : m.start()] != ".":
            raise ValueError(f"malformed field path {path!r} at position {pos}")
        parts.append(m.group(1) if m.group(1) is not None else int(m.group(2)))
        pos = m.end()
    if pos != len(path) or not parts:
        raise ValueError(f"malformed field path {path!r} at position {pos}")
    return parts


def import_function(path: str) -> Callable[..., Any]:
    """Import ``package.module:function`` (or ``package.module.function``); ValueError says why not."""
    if ":" in path:
        mod_name, _, attr = path.partition(":")
    else:
        mod_name, _, attr = path.rpartition(".")
    if not mod_name or not attr:
        raise ValueError(f"{path!r} is not a dotted import path like 'package.module:function'")
    try:
        module = importlib.import_module(mod_name)
    except ImportError as exc:
        raise ValueError(f"cannot import module {mod_name!r} ({exc})") from None
    obj: object = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ValueError(f"module {mod_name!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise ValueError(f"{path!r} is not callable")
    return obj


def read_schema_file(schema_file: str, context: CheckContext) -> dict[str, Any]:
    """The JSON (or YAML) schema object in ``schema_file``; :class:`ArgError` when missing or not an object."""
    path = context.resolve(schema_file)
    if not path.is_file():
        raise ArgError("schema_file", f"schema file not found: {path}")
    try:
        text = path.read_text()
        schema = yaml.safe_load(text) if path.suffix in (".yaml", ".yml") else json.loads(text)
    except Exception as exc:  # noqa: BLE001 - reported with the key path
        raise ArgError("schema_file", f"cannot read schema file {path}: {exc}") from None
    if not isinstance(schema, dict):
        raise ArgError("schema_file", f"schema file {path} does not hold a JSON object")
    return schema


def field_ok(value: str | None, arg: str) -> None:
    if value is not None:
        try:
            parse_field_path(value)
        except ValueError as exc:
            raise ArgError(arg, str(exc)) from None


def normalizers_ok(names: list[str], arg: str = "normalize") -> None:
    unknown = [n for n in names if n not in NORMALIZER_NAMES]
    if unknown:
        raise ArgError(arg, f"unknown normalizer(s) {unknown}; known: {sorted(NORMALIZER_NAMES)}")


def strings_ok(values: list[str], arg: str) -> None:
    if not values or any(not isinstance(v, str) or not v for v in values):
        raise ArgError(arg, "give a non-empty list of non-empty strings")


class CheckSpec(BaseModel):
    """One entry of ``checks:``: its ``type``, optional ``name`` (the metric of its rows) and arguments."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    type: str
    name: str | None = Field(
        None, description="metric name of the rows (default: the type; regex_2, ... when repeated)"
    )

    _raw: dict[str, Any] = PrivateAttr(default_factory=dict)
    _metric: str = PrivateAttr(default="")
    _base_dir: Path | None = PrivateAttr(default=None)

    @property
    def raw(self) -> dict[str, Any]:
        """The mapping as written in the YAML (what the evaluator hash is computed from)."""
        return dict(self._raw) if self._raw else self.model_dump(exclude_unset=True)

    @property
    def args(self) -> dict[str, Any]:
        """The check's arguments as written (without ``type`` and ``name``)."""
        return {k: v for k, v in self.raw.items() if k not in RESERVED_KEYS}

    @property
    def metric(self) -> str:
        """The metric name of this check's rows (``name``, else the type; ``<type>_<n>`` when repeated)."""
        return self._metric or self.name or self.type

    @property
    def base_dir(self) -> Path | None:
        """The folder relative files of this check resolve from (set at load)."""
        return self._base_dir

    @classmethod
    def params(cls) -> dict[str, Any]:
        """The check's arguments: name -> pydantic field (``type`` and ``name`` excluded)."""
        return {k: f for k, f in cls.model_fields.items() if k not in RESERVED_KEYS}

    @classmethod
    def check_args(cls, args: dict[str, Any], context: CheckContext) -> None:
        """Rules beyond the argument types; raise :class:`ArgError` naming the argument."""


class UserCheck(CheckSpec):
    """Base of the spec of a check type registered by a user's ``@check`` (its factory validates it)."""

    validator: ClassVar[Callable[[dict[str, Any], CheckContext], None] | None] = None

    @classmethod
    def check_args(cls, args: dict[str, Any], context: CheckContext) -> None:
        if cls.validator is not None:
            cls.validator(args, context)


def user_check_base() -> type[UserCheck]:
    """The base class the evaluators derive a user check's spec model from."""
    return UserCheck
