"""Building checks from a suite's check specs, and the evaluator hash.

In: the check specs of one eval set (validated at load by :mod:`eval_pipeline.project.checks`), or
the raw check mappings (validated here by the same code) and the key path they sit at. Out: configured :class:`.registry.Check` objects, or an
:class:`.base.EvaluatorConfigError` whose message starts with the key path, e.g.
``data/suites/x.yaml: eval_sets[0].checks[2].pattern: invalid regex 'ab(' (...)``.
"""

from __future__ import annotations

import hashlib
import inspect
import json
from pathlib import Path
from typing import Any, cast

from eval_pipeline.evaluators.deterministic.check_registry import (
    CHECK_TYPES,
    CONTEXT_PARAM,
    BuildContext,
    Check,
)
from eval_pipeline.project.checks import (
    ArgError,
    CheckSpec,
    EvaluatorConfigError,
    parse_check_spec,
    parse_check_specs,
)


def _evaluator_hash(spec: dict[str, Any], extra: str = "") -> str:
    blob = json.dumps(spec, sort_keys=True, default=str) + extra
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]


def _build(spec: CheckSpec, where: str) -> Check:
    """The configured :class:`Check` of a validated spec (its factory called with its arguments)."""
    ct = CHECK_TYPES[spec.type]
    ctx = BuildContext(base_dir=spec.base_dir or Path.cwd(), where=where)
    args = spec.args
    kwargs = dict(args)
    if CONTEXT_PARAM in inspect.signature(ct.factory).parameters:
        kwargs[CONTEXT_PARAM] = ctx
    try:
        fn = ct.factory(**kwargs)
    except ArgError as exc:  # a user's check whose factory found more than its spec
        raise EvaluatorConfigError(f"{where}.{exc.arg}: {exc.message}") from None
    extra_hash = ct.hash_extra(args, ctx) if ct.hash_extra is not None else ""
    return Check(
        name=spec.metric,
        type=spec.type,
        args=args,
        fn=fn,
        evaluator_hash=_evaluator_hash(spec.raw, extra_hash),
    )


def build_check(
    spec: dict[str, Any] | CheckSpec, where: str = "check", *, base_dir: str | Path | None = None
) -> Check:
    """Build one check from its YAML mapping (validated here) or its spec validated at load; ``where`` is
    its key path (e.g. ``x.yaml: checks[2]``)."""
    if not isinstance(spec, CheckSpec):
        spec = parse_check_spec(spec, where, base_dir=base_dir)
    return _build(spec, where)


def validate_check_specs(
    specs: list[dict[str, Any]] | list[CheckSpec], where: str, *, base_dir: str | Path | None = None
) -> list[Check]:
    """Build a suite's check list; raises :class:`EvaluatorConfigError` with the key path.

    Args:
        specs: the YAML list of check mappings (validated here), or the eval set's specs validated at
            load (``EvalSet.checks``, built as they are).
        where: key path of the list itself, e.g. ``"data/suites/x.yaml: eval_sets[0].checks"``;
            errors read ``<where>[<i>].<key>: <problem>``.
        base_dir: folder relative ``schema_file`` paths are resolved from (the suite file's folder).
    """
    if isinstance(specs, list) and specs and all(isinstance(s, CheckSpec) for s in specs):
        checks = cast(list[CheckSpec], specs)
    else:
        checks = parse_check_specs(specs, where, base_dir=base_dir)
    return [_build(spec, f"{where}[{i}]") for i, spec in enumerate(checks)]


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
