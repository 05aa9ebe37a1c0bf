"""Config errors that name the file and key path, and the shared steps of reading a config file.

In: a YAML file path, a pydantic model class, a pydantic ``ValidationError``, a path relative to the
data folder. Out: the validated model, a resolved path inside the data folder, or a
:class:`ConfigError` whose message is ``<file>: <key path>: <message>`` (e.g.
``data/suites/x.yaml: eval_sets[1].thresholds[0].min: ...``).

Plain Python: no Dagster here.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, TypeVar, Unpack

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic_core import PydanticCustomError

SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,62}$")

M = TypeVar("M", bound=BaseModel)


class ConfigError(ValueError):
    """A configuration file is invalid. The message names the file and key path."""

    def __init__(self, file: str | Path, key: str, message: str):
        self.file, self.key = str(file), key
        where = f"{file}: {key}" if key else str(file)
        super().__init__(f"{where}: {message}")


def key_path(loc: tuple[Any, ...]) -> str:
    """A pydantic error location as a key path: ``("eval_sets", 1, "name")`` -> ``eval_sets[1].name``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


SECTION_ERROR = (
    "section"  # a section validated by its own rules (checks, regression): its key path and reason
)


def section_error(key: str, reason: str) -> PydanticCustomError:
    """A validator's error for a section with its own key paths: ``key`` is relative to the field (e.g.
    ``checks[2].pattern`` of the field ``checks``, or ``regression.alpha``); :func:`first_error` joins it
    to the field's location, so the ConfigError names ``eval_sets[0].checks[2].pattern``."""
    return PydanticCustomError(SECTION_ERROR, "{key}: {reason}", {"key": key, "reason": reason})


def first_error(file: Path, exc: ValidationError, prefix: str = "") -> ConfigError:
    """The first error of ``exc`` as a ConfigError at its key path (under ``prefix``), counting the rest."""
    err = exc.errors()[0]
    key = key_path(tuple(err["loc"]))
    msg = err["msg"]
    if err["type"] == SECTION_ERROR:  # the section's own key path replaces the field's last part
        ctx = err.get("ctx") or {}
        parent = key_path(tuple(err["loc"])[:-1])
        key, msg = (f"{parent}.{ctx['key']}" if parent else ctx["key"]), ctx["reason"]
    key = f"{prefix}.{key}" if prefix and key else (prefix or key)
    if err["type"] == "extra_forbidden":
        msg = "unknown key (check the spelling; see docs/configuration.md for the allowed keys)"
    elif err["type"] == "missing":
        msg = "required key is missing"
    more = len(exc.errors()) - 1
    if more:
        msg += f" (and {more} more error{'s' if more > 1 else ''})"
    return ConfigError(file, key, msg)


def strict(**kw: Unpack[ConfigDict]) -> ConfigDict:
    """Model config that refuses unknown keys (so a misspelt key is an error, not ignored)."""
    return ConfigDict(extra="forbid", **kw)


def check_slug(v: str, what: str) -> str:
    """``v`` if it is a lower-case slug usable in partition keys, else ValueError naming ``what``."""
    if not SLUG_RE.match(v):
        raise ValueError(
            f"{what} {v!r} must be lower-case letters, digits, '_', '-' or '.', starting with a letter or digit"
        )
    return v


def read_yaml(path: Path) -> Any:
    """The parsed YAML of ``path``; ConfigError for a missing file, bad UTF-8 or bad YAML (with line, column)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(path, "", "file not found") from None
    except UnicodeDecodeError as e:
        raise ConfigError(path, "", f"not valid UTF-8 ({e.reason} at byte {e.start})") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise ConfigError(path, "", f"{where}invalid YAML ({getattr(e, 'problem', e)})") from None


def load_mapping(path: Path, model: type[M], expected: str, context: dict[str, Any] | None = None) -> M:
    """Read ``path`` and validate it as ``model`` (``context``: pydantic's validation context, e.g. the data
    folder); ``expected`` says what the top level must be when it is not a mapping (e.g. ``"a mapping with a
    'models' list at the top level"``)."""
    raw = read_yaml(path)
    if not isinstance(raw, dict):
        raise ConfigError(path, "", f"expected {expected}")
    try:
        return model.model_validate(raw, context=context)
    except ValidationError as e:
        raise first_error(path, e) from None


def resolve_data_path(rel: str, base: Path, file: Path, key: str) -> Path:
    """Resolve ``rel`` against ``base`` (the data dir) and refuse paths that escape it or do not exist."""
    p = Path(rel)
    if p.is_absolute():
        raise ConfigError(file, key, f"path {rel!r} must be relative to the data folder {base}")
    full = (base / p).resolve()
    if base != full and base not in full.parents:
        raise ConfigError(
            file, key, f"path {rel!r} escapes the data folder {base}; keep golden sets and prompts inside it"
        )
    if not full.exists():
        raise ConfigError(file, key, f"file not found: {full} (paths are relative to {base})")
    return full
