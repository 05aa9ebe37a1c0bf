"""Building checks from a suite's YAML: validation with the key path, and the evaluator hash.

In: the list of check mappings of one eval set (``type``, optional ``name``, the factory's
arguments) and the key path they sit at. Out: configured :class:`.registry.Check` objects, or an
:class:`.base.EvaluatorConfigError` whose message starts with the key path, e.g.
``data/suites/x.yaml: eval_sets[0].checks[2].pattern: invalid regex 'ab(' (...)``.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import re
from pathlib import Path
from typing import Any

from eval_pipeline.evaluators.deterministic.base import ArgError, EvaluatorConfigError
from eval_pipeline.evaluators.deterministic.registry import (
    CHECK_TYPES,
    CONTEXT_PARAM,
    RESERVED_KEYS,
    BuildContext,
    Check,
)


def _validate_type(value: Any, hint: Any) -> str | None:
    """Check ``value`` against a type hint with pydantic (strict); return an error text or None."""
    from pydantic import TypeAdapter, ValidationError

    try:
        TypeAdapter(hint).validate_python(value, strict=True)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = "".join(f"[{p!r}]" for p in first["loc"] if not isinstance(p, str) or p not in ("list", "dict"))
        return f"{first['msg'].lower()}{(' at ' + loc) if loc else ''} (got {value!r:.80})"
    return None


def _evaluator_hash(spec: dict[str, Any], extra: str = "") -> str:
    blob = json.dumps(spec, sort_keys=True, default=str) + extra
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]


def build_check(spec: dict[str, Any], where: str = "check", *, base_dir: str | Path | None = None) -> Check:
    """Build one check from its YAML mapping; ``where`` is its key path (e.g. ``x.yaml: checks[2]``)."""
    if not isinstance(spec, dict):
        raise EvaluatorConfigError(f"{where}: a check must be a mapping with a `type`, got {spec!r:.80}")
    ctype = spec.get("type")
    if ctype not in CHECK_TYPES:
        raise EvaluatorConfigError(
            f"{where}.type: unknown check {ctype!r}; known checks: {', '.join(sorted(CHECK_TYPES))}"
        )
    ct = CHECK_TYPES[ctype]
    name = spec.get("name", ctype)
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_-]*", name):
        raise EvaluatorConfigError(
            f"{where}.name: must be a word ([A-Za-z0-9_-], no dots: dots separate auxiliary metrics), got {name!r}"
        )
    args = {k: v for k, v in spec.items() if k not in RESERVED_KEYS}
    extra = sorted(set(args) - set(ct.params))
    if extra:
        raise EvaluatorConfigError(
            f"{where}.{extra[0]}: unknown argument for check {ctype!r}; allowed: "
            f"{', '.join(sorted(ct.params)) or '(none)'} (plus `name`)"
        )
    missing = [p for p in ct.required if p not in args]
    if missing:
        raise EvaluatorConfigError(f"{where}.{missing[0]}: missing required argument for check {ctype!r}")
    for k, v in args.items():
        err = _validate_type(v, ct.hints.get(k, Any))
        if err:
            raise EvaluatorConfigError(f"{where}.{k}: {err}")
    ctx = BuildContext(base_dir=Path(base_dir) if base_dir is not None else Path.cwd(), where=where)
    kwargs = dict(args)
    if CONTEXT_PARAM in inspect.signature(ct.factory).parameters:
        kwargs[CONTEXT_PARAM] = ctx
    try:
        fn = ct.factory(**kwargs)
    except ArgError as exc:
        raise EvaluatorConfigError(f"{where}.{exc.arg}: {exc.message}") from None
    extra_hash = ct.hash_extra(args, ctx) if ct.hash_extra is not None else ""
    return Check(name=name, type=ctype, args=args, fn=fn, evaluator_hash=_evaluator_hash(spec, extra_hash))


def validate_check_specs(
    specs: list[dict[str, Any]], where: str, *, base_dir: str | Path | None = None
) -> list[Check]:
    """Build and validate a suite's check list; raises :class:`EvaluatorConfigError` with the key path.

    Args:
        specs: the YAML list of check mappings.
        where: key path of the list itself, e.g. ``"data/suites/x.yaml: eval_sets[0].checks"``;
            errors read ``<where>[<i>].<key>: <problem>``.
        base_dir: folder relative ``schema_file`` paths are resolved from (the suite file's folder).
    """
    if not isinstance(specs, list):
        raise EvaluatorConfigError(f"{where}: must be a list of checks, got {type(specs).__name__}")
    checks: list[Check] = []
    seen: dict[str, int] = {}
    for i, spec in enumerate(specs):
        c = build_check(spec, f"{where}[{i}]", base_dir=base_dir)
        if "name" not in spec and c.name in seen:  # second check of the same type: regex_2, ...
            n = sum(1 for x in checks if x.type == c.type) + 1
            c = Check(f"{c.type}_{n}", c.type, c.args, c.fn, c.evaluator_hash)
        if c.name in seen:
            raise EvaluatorConfigError(
                f"{where}[{i}].name: duplicate check name {c.name!r} (also checks[{seen[c.name]}]); set a unique `name`"
            )
        seen[c.name] = i
        checks.append(c)
    return checks


def describe_checks() -> str:
    """Markdown list of every registered check type with its arguments (for docs and errors)."""
    lines = []
    for name, ct in sorted(CHECK_TYPES.items()):
        args = ", ".join(
            n + ("" if p.default is inspect.Parameter.empty else f"={p.default!r}")
            for n, p in ct.params.items()
        )
        lines.append(f"- `{name}({args})`: {ct.doc.splitlines()[0] if ct.doc else ''}")
    return "\n".join(lines)
