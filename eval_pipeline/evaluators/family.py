"""The evaluator-family protocol and its registry: adding a family is one folder under ``evaluators/``.

In: family folders ``evaluators/<name>/`` whose ``family.py`` defines a class with a ``name``, an ``order`` and
``score_eval_set`` (:class:`EvaluatorFamily`) and registers one instance with :func:`register_family` when
imported. Out: :func:`get_family` (one family by name; an unknown name is an error naming the known ones) and
:func:`family_names` (every family, in ``order``). :func:`eval_pipeline.scoring.families.score_family` runs a
family over the eval sets of one partition through this registry.

Discovery: the first lookup imports ``eval_pipeline.evaluators.<pkg>.family`` for every sub-package of
``evaluators/`` that has a ``family.py`` (deterministic, similarity, judge today), so nothing else lists the
families. A family module looks like this::

    class ToxicityFamily:
        name, order = "toxicity", 40

        def score_eval_set(self, suite, es, graded, keys, **resources):
            return score_toxicity(graded, **keys)  # SCORE_COLUMNS rows, or None to skip the eval set

    register_family(ToxicityFamily())

(its Dagster asset writing ``keys.scores_partition("toxicity", ...)`` goes in ``defs/evaluators/``, and the
config must accept ``family: toxicity``).
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import pandas as pd

    from eval_pipeline.project.suites import EvalSet, Suite

_REGISTRY: dict[str, EvaluatorFamily] = {}
_DISCOVERED = False
_PACKAGE = "eval_pipeline.evaluators"


class EvaluatorFamily(Protocol):
    """One evaluator family: scores the graded rows of one eval set.

    ``keys`` are the score rows' identity columns (``date``, ``model_version``, ``suite``, ``eval_set``);
    ``resources`` what the caller hands every family (``scorer_factory`` for similarity; ``execute`` and
    ``baseline`` for the judge); a family takes the ones it needs by name (:func:`required_resource`). Returns ``SCORE_COLUMNS`` rows, or
    ``None`` when the eval set has nothing to score (e.g. a pairwise judge without baseline answers)."""

    name: str
    order: int

    def score_eval_set(
        self, suite: Suite, eval_set: EvalSet, graded: pd.DataFrame, keys: dict[str, str], **resources: Any
    ) -> pd.DataFrame | None: ...


def required_resource(resources: dict[str, Any], name: str, family: str, what: str) -> Any:
    """The resource ``name`` (``what`` it is) that ``family`` needs from ``resources``; an error naming it when
    the caller did not pass it."""
    value = resources.get(name)
    if value is None:
        raise ValueError(f"the {family} family needs {name} ({what})")
    return value


def register_family(family: EvaluatorFamily) -> EvaluatorFamily:
    """Add ``family`` to the registry (once per name; a second, different family of that name is an error)."""
    known = _REGISTRY.get(family.name)
    if known is not None and type(known) is not type(family):
        raise ValueError(
            f"evaluator family {family.name!r} is registered twice ({type(known).__qualname__} and "
            f"{type(family).__qualname__}); rename one of them"
        )
    _REGISTRY[family.name] = family
    return family


def _discover() -> None:
    """Import every ``evaluators/<pkg>/family.py`` once (each registers its family)."""
    global _DISCOVERED
    if _DISCOVERED:
        return
    root = Path(__file__).parent
    for pkg in sorted(
        p for p in root.iterdir() if (p / "__init__.py").is_file() and (p / "family.py").is_file()
    ):
        importlib.import_module(f"{_PACKAGE}.{pkg.name}.family")
    _DISCOVERED = True


def get_family(name: str) -> EvaluatorFamily:
    """The registered family ``name``; a ``KeyError`` that names the known families otherwise."""
    _discover()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(
            f"unknown evaluator family {name!r}; known: {', '.join(family_names())} "
            f"(a family is a folder evaluators/<name>/ with a family.py that calls register_family)"
        ) from None


def family_names() -> tuple[str, ...]:
    """Every registered family's name, in ``order`` (the order score rows are concatenated in)."""
    _discover()
    return tuple(f.name for f in sorted(_REGISTRY.values(), key=lambda f: (f.order, f.name)))
