"""A sequential run's state from what is stored: replay the sequential gate over the candidate's scored units.

In: the candidate's score rows (the units scored so far), the baseline's score rows (every unit), the suite's
:class:`RegressionConfig` and :class:`SequentialOptions`. Out: :class:`SequentialOutcome` - ``continue`` with the
units to score next, or ``stopped`` with the verdict, the samples used and each gated row's status - and
:func:`apply_verdicts`, which makes the regression report's gated rows say the sequential gate's verdict.

The gate (:class:`~eval_pipeline.regression.sequential.SequentialGate`) is a deterministic function of the scoring
order (``seed``), ``chunk`` and the drops, so replaying it from the stored scores gives the same looks the run
took: ``eval-pipeline run --sequential`` scores what :func:`replay` asks for, stores it, and replays again; a rerun
of the same command replays to the same verdict (and the response store answers every request it already paid).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, TypedDict

import numpy as np
import pandas as pd

from eval_pipeline.history.sql import SEGMENT_ALL
from eval_pipeline.project.loader import Project
from eval_pipeline.project.regression_config import RegressionConfig
from eval_pipeline.regression.compare import RegressionReport
from eval_pipeline.regression.gating import verdicts
from eval_pipeline.regression.sequential import (
    DEFAULT_BETA,
    DEFAULT_CHUNK,
    DEFAULT_EARLY_SHARE,
    DEFAULT_GAMMA,
    DEFAULT_Z,
    OPEN,
    REGRESSION,
    STATUS_NAMES,
    SequentialGate,
    final_config,
    final_levels,
    gated_drops,
    row_levels,
    scoring_order,
)


class SequentialNotPossible(ValueError):
    """The suite's gated family has rows the sequential gate cannot take (mean values); names them."""


@dataclass(frozen=True)
class SequentialOptions:
    """The sequential run's settings: scoring order ``seed``, units per look ``chunk``, and the gate's knobs."""

    seed: int = 0
    chunk: int = DEFAULT_CHUNK
    z: float = DEFAULT_Z
    gamma: float = DEFAULT_GAMMA
    beta: float = DEFAULT_BETA
    early_share: float = DEFAULT_EARLY_SHARE


class RowStatus(TypedDict):
    """One gated row of a replay: its name, status (:data:`STATUS_NAMES`) and whether it is frozen."""

    name: str
    status: str
    frozen: bool


@dataclass
class SequentialOutcome:
    """``state``: ``continue`` (``next_units`` to score) or ``stopped``; ``blocked`` at a look; ``needs_final``: rows
    still open with all their units scored (the fixed gate decides them); ``used`` / ``n`` units; per gated row its
    ``status`` (open, regression, no_worse, below_mde) and whether it is ``frozen``."""

    state: str
    blocked: bool
    needs_final: bool
    used: int
    n: int
    next_units: list[str]
    rows: list[RowStatus]
    looks: list[dict[str, int]] = field(default_factory=list)  # per look: samples "used", rows "open"
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def share_used(self) -> float:
        return self.used / self.n if self.n else 1.0

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["share_used"] = round(self.share_used, 4)
        out["saved_units"] = self.n - self.used
        return out


def replay(
    candidate_scores: pd.DataFrame,
    baseline_scores: pd.DataFrame,
    cfg: RegressionConfig,
    opts: SequentialOptions,
) -> SequentialOutcome:
    """Drive the sequential gate over the units the candidate has scored, in the scoring order; stop where it asks
    for a unit not scored yet (``continue``) or where it stops."""
    g = gated_drops(candidate_scores, baseline_scores, cfg, opts.seed)
    if g.left_out:
        raise SequentialNotPossible(
            f"the sequential gate takes pass-rate rows only; these gated rows are mean values: {g.left_out} "
            "(gate them on a pass rate, or run without --sequential)"
        )
    level, beta = row_levels(cfg, g.segment, opts.beta, opts.early_share)
    gate = SequentialGate(
        g.masks, g.min_effect, level, beta, final_levels(cfg, g.segment, opts.early_share), opts.z, opts.gamma
    )
    order = np.arange(len(g.order))
    next_units: list[str] = []
    while not gate.stopped:
        idx = gate.next_samples(order, opts.chunk)
        if not g.scored[idx].all():
            next_units = [g.order[i] for i in idx]
            break
        gate.add(idx, g.drops[:, idx])
        gate.look()
    rows = [
        RowStatus(name=name, status=STATUS_NAMES[int(s)], frozen=bool(f))
        for name, s, f in zip(g.names, gate.status, gate.frozen)
    ]
    return SequentialOutcome(
        "stopped" if gate.stopped else "continue",
        gate.blocked,
        gate.needs_final,
        gate.used,
        gate.n,
        next_units,
        rows,
        gate.looks,
        asdict(opts),
    )


def first_units(units: Iterable[object], opts: SequentialOptions) -> list[str]:
    """The first look's units (``eval_set/sample_id``) of a run that has scored nothing: the first ``chunk``."""
    return scoring_order(units, opts.seed)[: opts.chunk]


def _row_name(r: Mapping[Hashable, Any]) -> str:
    seg = "" if r["segment"] == SEGMENT_ALL else f"[{r['segment']}]"
    return f"{r['suite']}/{r['eval_set']}:{r['metric']}.{r['measure']}{seg}"


def apply_verdicts(
    rows: pd.DataFrame, outcome: SequentialOutcome, cfg: RegressionConfig, opts: SequentialOptions
) -> pd.DataFrame:
    """The report's gated rows with the sequential gate's verdicts: blocked at a look -> its ``regression`` rows;
    stopped with rows open -> the fixed gate (``gating.verdicts``) at ``1 - early_share`` of alpha on them, every
    settled or frozen row at p = 1; every row settled -> no gated regression; ``continue`` -> gated rows are
    ``insufficient_data`` (the run is not finished). Drill-down rows keep their verdicts."""
    if rows.empty:
        return rows
    status = {r["name"]: r["status"] for r in outcome.rows}
    df = rows.copy()
    names = [_row_name(r) for r in df.to_dict(orient="records")]
    gated = df["gating"].fillna(False).astype(bool).to_numpy()
    known = np.array([n in status for n in names])
    if outcome.state == "continue":
        df.loc[gated, "verdict"] = "insufficient_data"
        return df
    if outcome.blocked:
        hit = np.array([status.get(n) == STATUS_NAMES[REGRESSION] for n in names])
        df.loc[gated & ~hit & (df["verdict"] == "regression"), "verdict"] = "no_change"
        df.loc[gated & hit, "verdict"] = "regression"
        return df
    open_ = np.array([status.get(n) == STATUS_NAMES[OPEN] for n in names])
    closed = gated & known & ~open_
    final = df.copy()
    final.loc[closed, "p_worse"] = 1.0
    final = verdicts(final.drop(columns=["p_gate"], errors="ignore"), final_config(cfg, opts.early_share))
    df.loc[gated, "verdict"] = final.loc[gated, "verdict"]
    df.loc[gated, "p_gate"] = final.loc[gated, "p_gate"]
    return df


def report_section(
    rep: RegressionReport,
    candidate_scores: pd.DataFrame,
    baseline_scores: pd.DataFrame,
    opts: SequentialOptions,
    responses: pd.DataFrame | None = None,
) -> dict[str, Any]:
    """Replay the sequential gate for a regression report ``rep`` (its candidate's and baseline's score rows), make
    its gated rows say the sequential verdict (:func:`apply_verdicts`, in place) and return the report's
    ``sequential`` section: state, verdict, units used and saved, and the money saved at the run's mean cost per
    scored unit (``responses``: the candidate's, with ``cost_usd``)."""
    cfg = next(iter(rep.suite_configs.values())) if len(rep.suite_configs) == 1 else rep.config
    outcome = replay(candidate_scores, baseline_scores, cfg, opts)
    rep.rows = apply_verdicts(rep.rows, outcome, cfg, opts)
    out = outcome.to_dict()
    out["verdict"] = (
        "pending" if outcome.state == "continue" else ("blocked" if len(rep.gate_regressions) else "passed")
    )
    cost = None
    if responses is not None and len(responses) and "cost_usd" in responses:
        per_unit = responses.groupby(["eval_set", "sample_id"])["cost_usd"].sum()
        cost = float(per_unit.mean()) if len(per_unit) else None
    out["cost_per_unit_usd"] = cost
    out["saved_usd"] = None if cost is None else round(cost * out["saved_units"], 6)
    return out


def summary_line(section: Mapping[str, Any]) -> str:
    """One line for the CLI and the metadata: verdict, units used of n, units and money saved."""
    saved = "" if section.get("saved_usd") is None else f", ~${section['saved_usd']:.4f} saved"
    return (
        f"sequential gate: {section['verdict']} after {section['used']} of {section['n']} samples "
        f"({section['share_used']:.0%}); {section['saved_units']} not paid for{saved}"
    )


def suite_sequential(project: Project, names: list[str], suite: str | None) -> bool:
    """A suite's ``regression: sequential: true`` asks ``eval-pipeline run`` of one model version for the
    sequential gate (a nightly run of several versions keeps the fixed gate)."""
    suites = [suite] if suite else [s for n in names for s in project.registry.by_name(n).suites]
    return len(names) == 1 and any(project.suites[s].regression_config().sequential for s in suites)
