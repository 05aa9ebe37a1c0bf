"""The ``traffic_drift`` step: drift of today's sample against the reference window, next to quality.

In: today's stored sample, the reference window's samples (:mod:`.day`), the config, an embedder
(:mod:`.embedders`) and quality / behaviour figures as ``(today, reference)``. Out:
:func:`compute_drift` -> a :class:`DriftOutcome` (the features' drift from :mod:`.drift`, Holm
levels, the report, the divergence flag; ``to_json`` is ``reports/monitoring/date=<d>/drift.json``).
:func:`drift_quality_report` puts drift rows next to quality and behaviour rows and gives a
diagnosis (distribution shift vs model degradation); :func:`divergence_flag` flags automated
scores that stay high while behavioural signals fall.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from eval_pipeline.monitoring.drift import (
    DriftResult,
    category_drift,
    embedding_cluster_drift,
    holm_levels,
    input_length_drift,
)
from eval_pipeline.monitoring.embedders import EmbedFn

if TYPE_CHECKING:
    from eval_pipeline.project.monitoring import MonitoringConfig


@dataclass
class Divergence:
    """Automated scores stay high while behavioural signals fall."""

    flagged: bool
    automated_change: float
    behavioural_change: float
    message: str


# Divergence: the automated score held (fell less than this) while the behavioural one fell at least this much.
AUTO_TOLERANCE = 0.02
BEHAVIOUR_DROP = 0.05


def divergence_flag(
    automated_today: float, automated_ref: float, behaviour_today: float, behaviour_ref: float
) -> Divergence:
    """Flag when the automated score (e.g. judge/deterministic pass rate, higher is better) moved
    less than :data:`AUTO_TOLERANCE` below its reference while the behavioural score (e.g.
    ``implicit_quality``, higher is better) fell by at least :data:`BEHAVIOUR_DROP`."""
    da = automated_today - automated_ref
    db = behaviour_today - behaviour_ref
    flagged = bool(da > -AUTO_TOLERANCE and db <= -BEHAVIOUR_DROP)
    msg = (
        f"automated {automated_ref:.3f}->{automated_today:.3f} ({da:+.3f}), "
        f"behavioural {behaviour_ref:.3f}->{behaviour_today:.3f} ({db:+.3f})"
    )
    if flagged:
        msg = (
            "DIVERGENCE: automated scores stable while users react worse - the evals may miss a "
            "failure mode users see; " + msg
        )
    return Divergence(flagged, da, db, msg)


def _diagnosis(any_drift: bool, quality_drop: bool, divergence: bool) -> str:
    if divergence:
        return "divergence: automated scores stable, behavioural signals falling"
    if any_drift and quality_drop:
        return "distribution shift with quality drop: check whether the new traffic is harder or the model regressed"
    if any_drift:
        return "distribution shift: inputs changed, quality stable"
    if quality_drop:
        return "model degradation: quality dropped on a stable input distribution"
    return "stable"


def drift_quality_report(
    drift: Sequence[DriftResult],
    quality: dict[str, tuple[float, float]] | None = None,
    behaviour: dict[str, tuple[float, float]] | None = None,
    quality_drop: float = 0.03,
    divergence: Divergence | None = None,
) -> pd.DataFrame:
    """One table with drift next to quality.

    ``quality`` / ``behaviour`` map metric names to ``(today, reference)`` (higher is better).
    Rows: ``kind`` (drift | quality | behaviour | diagnosis), ``signal``, ``today``,
    ``reference``, ``change``, ``level`` and, on the last row, the diagnosis in ``note``.
    """
    rows: list[dict[str, Any]] = []
    for d in drift:
        rows.append(
            {
                "kind": "drift",
                "signal": d.feature,
                "today": d.psi,
                "reference": 0.0,
                "change": d.psi,
                "level": d.level,
                "note": f"PSI {d.psi:.3f}, KL {d.kl:.3f}, chi-square p={d.p_value:.2g} "
                f"(n {d.n_cur} vs {d.n_ref})",
            }
        )
    dropped = False
    for kind, table in (("quality", quality or {}), ("behaviour", behaviour or {})):
        for name, (today, ref) in table.items():
            change = today - ref
            drop = change <= -quality_drop
            dropped |= drop and kind == "quality"
            rows.append(
                {
                    "kind": kind,
                    "signal": name,
                    "today": today,
                    "reference": ref,
                    "change": change,
                    "level": "drop" if drop else "stable",
                    "note": "",
                }
            )
    any_drift = any(d.level == "significant" for d in drift)
    diag = _diagnosis(any_drift, dropped, bool(divergence and divergence.flagged))
    rows.append(
        {
            "kind": "diagnosis",
            "signal": "overall",
            "today": np.nan,
            "reference": np.nan,
            "change": np.nan,
            "level": "flag" if diag != "stable" else "ok",
            "note": diag + (f" | {divergence.message}" if divergence else ""),
        }
    )
    return pd.DataFrame(rows, columns=["kind", "signal", "today", "reference", "change", "level", "note"])


@dataclass
class DriftOutcome:
    """Drift of today vs the reference window, next to quality."""

    status: str  # "ok" | "no_reference" | "no_traffic"
    message: str
    results: list[DriftResult] = field(default_factory=list)
    report: pd.DataFrame = field(default_factory=pd.DataFrame)
    divergence: Divergence | None = None
    reference_dates: list[str] = field(default_factory=list)

    @property
    def significant(self) -> list[DriftResult]:
        return [r for r in self.results if r.level == "significant"]

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "message": self.message,
            "reference_dates": self.reference_dates,
            "drift": [{**r.to_dict(), "bins": r.table.to_dict("records")} for r in self.results],
            "divergence": None
            if self.divergence is None
            else {
                "flagged": self.divergence.flagged,
                "automated_change": self.divergence.automated_change,
                "behavioural_change": self.divergence.behavioural_change,
                "message": self.divergence.message,
            },
            "report": self.report.replace({np.nan: None}).to_dict("records"),
        }


def compute_drift(
    today: pd.DataFrame,
    reference: pd.DataFrame,
    ref_dates: list[str],
    cfg: MonitoringConfig,
    embed_fn: EmbedFn | None,
    quality: Mapping[str, tuple[float, float]] | None = None,
    behaviour: Mapping[str, tuple[float, float]] | None = None,
) -> DriftOutcome:
    """PSI/KL for input length, category mix and (if ``embed_fn``) embedding clusters; the
    drift-next-to-quality report and the divergence flag. ``quality``/``behaviour`` map a metric
    to ``(today, reference)``, higher is better; NaN pairs are left out."""
    if today.empty:
        return DriftOutcome(
            "no_traffic", "no sampled traffic today: nothing to compare", reference_dates=ref_dates
        )
    if reference is None or reference.empty:
        return DriftOutcome(
            "no_reference",
            f"no reference: no stored samples in the {cfg.reference_window_days} "
            "days before this date (first day, or earlier days not materialized yet). Drift starts "
            "from the next day.",
            reference_dates=ref_dates,
        )
    dc = cfg.drift
    results = [
        input_length_drift(reference["input_chars"], today["input_chars"], n_bins=dc.length_bins),
        category_drift(reference["category"], today["category"]),
    ]
    if embed_fn is not None and dc.embeddings:
        results.append(
            embedding_cluster_drift(
                reference["input_redacted"].astype(str).tolist(),
                today["input_redacted"].astype(str).tolist(),
                embed_fn,
                k=dc.embedding_clusters,
                max_texts=dc.max_texts,
            )
        )

    def clean(d: Mapping[str, tuple[float, float]] | None) -> dict[str, tuple[float, float]]:
        return {k: v for k, v in (d or {}).items() if not any(pd.isna(x) for x in v)}

    holm_levels(results)
    quality_pairs, behaviour_pairs = clean(quality), clean(behaviour)
    div = None
    if quality_pairs and behaviour_pairs:
        (qa, qr), (ba, br) = next(iter(quality_pairs.values())), next(iter(behaviour_pairs.values()))
        div = divergence_flag(qa, qr, ba, br)
    report = drift_quality_report(results, quality_pairs, behaviour_pairs, divergence=div)
    sig = [r.feature for r in results if r.level == "significant"]
    msg = (
        f"significant drift in {', '.join(sig)}" if sig else "no significant drift"
    ) + f" vs {len(ref_dates)} reference day(s) ({len(reference)} requests)"
    return DriftOutcome("ok", msg, results, report, div, ref_dates)
