"""The one way an evaluation asset or check reads and writes its (date, model version) partition.

In: the execution context of a partitioned asset or check, the ``eval_config`` and ``warehouse``
resources - an asset asks for both at once as the ``project`` resource (:class:`EvalProject`,
``project: ProjectParam``; :func:`~eval_pipeline.defs.resources.project_resource`). Out: a
:class:`Partition` with the date, the model-version key, the project, the warehouse, the resolved
:class:`~eval_pipeline.project.registry.ModelVersion` (lazily, via ``versions.resolve``), the version's
eval sets, table reads/writes of this partition and JSON artifacts under the keys of
:mod:`eval_pipeline.storage.keys`::

    p = project.partition(context)  # a check that only reads artifacts: partition(context, None, warehouse)
    for suite, es in p.eval_sets("judge"): ...
    scores = p.read("scores", family="judge")
    p.write_json(keys.run_artifact(p.date, p.mv_key), artifact)
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, NoReturn

import dagster as dg
import pandas as pd

from eval_pipeline import scoring
from eval_pipeline.defs.partitions import EVAL_PARTITIONS, partition_parts
from eval_pipeline.ingestion.golden import decode_golden
from eval_pipeline.scoring.artifact import dumps
from eval_pipeline.storage import keys
from eval_pipeline.storage import model_versions as versions


@dataclass
class Partition:
    """One (date, model version) partition: its project, warehouse and model version."""

    date: str
    mv_key: str
    wh: Any  # eval_pipeline.storage.Warehouse
    load_project: Callable[[], Any] = field(repr=False)

    @cached_property
    def project(self):
        """The validated project (loaded on first use, so checks that only read artifacts never parse YAML)."""
        return self.load_project()

    @cached_property
    def mv(self):
        """The partition's model version: from the registry, else its stored snapshot."""

        return versions.resolve(self.project, self.wh, self.mv_key)

    def eval_sets(self, family: str | tuple[str, ...] | None = None):
        """``(suite, eval set)`` pairs of the model version (only ``family`` when given)."""
        return self.mv.eval_sets(self.project, family)

    def part(self, model_version_key: str | None = None) -> dict[str, str]:
        """The ``{"date", "model_version"}`` partition dict (of ``mv_key`` on the same date when given)."""
        return keys.run_partition(self.date, model_version_key or self.mv_key)

    def read(self, table: str, model_version_key: str | None = None, **extra: str) -> pd.DataFrame:
        """This partition of ``table`` (``extra`` keys such as ``family=`` for ``scores``); empty if absent."""
        return self.wh.read_table(table, {**extra, **self.part(model_version_key)})

    def write(self, table: str, df: pd.DataFrame, **extra: str) -> str:
        """Write this partition of ``table``; returns its URI."""
        return self.wh.write_table(table, df, {**extra, **self.part()})

    def exists(self, key: str) -> bool:
        return self.wh.exists(key)

    def read_json(self, key: str) -> Any:
        """A JSON artifact of the warehouse."""
        return json.loads(self.wh.read_bytes(key))

    def write_json(self, key: str, payload: Any) -> str:
        """Write ``payload`` as JSON (NaN/inf as null) under ``key``; returns its URI."""

        return self.wh.write_bytes(key, dumps(payload), content_type="application/json")

    def samples(self, model_version_key: str | None = None) -> pd.DataFrame | None:
        """Golden samples joined with their responses (of ``mv_key`` on this date when given); None if either is missing."""

        golden, responses = self.read("golden", model_version_key), self.read("responses", model_version_key)
        if golden.empty or responses.empty:
            return None
        return scoring.graded_samples(decode_golden(golden), responses)

    def graded(self) -> pd.DataFrame:
        """This partition's graded samples; ``dg.Failure`` when golden_samples or model_responses has not run."""
        graded = self.samples()
        if graded is None:
            raise dg.Failure(
                f"no golden samples or responses for {self.mv_key} on {self.date}: "
                "materialize golden_samples and model_responses first"
            )
        return graded

    def golden(self) -> pd.DataFrame:
        """This partition's decoded golden rows; ``dg.Failure`` when golden_samples has not run."""

        golden = self.read("golden")
        if golden.empty:
            raise dg.Failure(
                f"no golden samples for {self.mv_key} on {self.date}: "
                "materialize golden_samples for this partition first"
            )
        return decode_golden(golden)


def partition(
    context: dg.AssetExecutionContext | dg.AssetCheckExecutionContext, eval_config, warehouse
) -> Partition:
    """The :class:`Partition` being materialized or checked (``eval_config`` may be None for checks
    that only read artifacts)."""
    date, mv_key = partition_parts(context)
    return Partition(
        date, mv_key, warehouse.get(), eval_config.load if eval_config is not None else _no_project
    )


@dataclass(frozen=True)
class EvalProject:
    """The ``project`` resource: the run's ``eval_config`` and ``warehouse`` resources, which an asset asks
    for once (``project: ProjectParam``)."""

    eval_config: Any  # EvalConfigResource
    warehouse: Any  # WarehouseResource

    def partition(self, context: dg.AssetExecutionContext) -> Partition:
        """The (date, model version) :class:`Partition` being materialized."""
        return partition(context, self.eval_config, self.warehouse)

    def load(self) -> Any:
        """The validated :class:`~eval_pipeline.project.loader.Project`."""
        return self.eval_config.load()

    def wh(self) -> Any:
        """The :class:`~eval_pipeline.storage.Warehouse`."""
        return self.warehouse.get()

    @property
    def url(self) -> str:
        """The warehouse's location (a folder or ``s3://bucket/prefix``)."""
        return self.warehouse.resolved_url()


ProjectParam = dg.ResourceParam[EvalProject]


def partitioned_asset(*, group: str, deps=(), kinds=("python",), **kwargs):
    """``dg.asset`` over the (date, model version) partitions, reading ``deps``, in ``group``."""
    return dg.asset(
        partitions_def=EVAL_PARTITIONS, deps=list(deps), group_name=group, kinds=set(kinds), **kwargs
    )


def partitioned_check(*, asset, **kwargs):
    """``dg.asset_check`` over the (date, model version) partitions of its asset: each result is recorded on
    the partition it checked, so the UI shows it on that partition (not "Partition -") and a partition's
    failed gate reads as failed there. Dagster 1.13 marks a check's ``partitions_def`` as a preview; that
    warning is silenced here, the one place it is used."""

    def decorate(fn):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", dg.PreviewWarning)
            return dg.asset_check(asset=asset, partitions_def=EVAL_PARTITIONS, **kwargs)(fn)

    return decorate


def _no_project() -> NoReturn:
    raise RuntimeError("this asset or check was given no eval_config resource; pass it to partition()")
