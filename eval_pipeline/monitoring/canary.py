"""Canary analysis: every model version serving next to production, compared with it every hour.

In: the per-request hourly rows of :mod:`.hourly` (``HOUR_COLUMNS``: numbers, feedback and check
flags, no text) of the rollout so far, and :class:`CanaryConfig` (``canary:`` in
``data/monitoring.yaml``). Out: one :class:`CanaryResult` per canary version: the verdict
``promote`` / ``continue`` / ``roll back`` of this hour with the metrics that decided it, a metrics
table (effect, always-valid interval, p-value, n) and the hourly story (the verdict at every look).

How the verdict is made (Kayenta-style metric-by-metric comparison, with sequential statistics):

* Looks: one per hour since the canary first served traffic (within ``lookback_hours``).
* Rates (thumbs-down among rated requests, regenerate, copy, task completion, invariant failures,
  safety violations, errors): canary and production compared within each hour and combined across
  hours (stratified, CMH weights), with a session-clustered variance, tested by the mixture SPRT
  (:func:`.canary_stats.stratified_rate`, Johari et al. 2017): always-valid p-value, confidence
  sequence and the minimal detectable effect (MDE, 80% power) at the information so far. Latency
  p95 / p99 and TTFT p95: one-sided Mann-Whitney on the cumulative
  cohorts with alpha spending over ``planned_looks`` (:func:`.sequential.spent_p_values`), effect =
  quantile ratio with an order-statistic interval at the look's spent level.
* Correction: Bonferroni over the ``m`` gated metrics with data, each at ``alpha / m`` with an
  always-valid p-value, so P(any false rollback over every look and metric) <= ``alpha``.
* Minimum effects (``min_effect``; defaults from the alert threshold table, read as the harm that
  matters: thumbs-down +15 % relative, regenerate +20 %, safety +0.1 percentage point, p99 latency
  2x; ``critical_effect`` 25 %, 35 %, 0.5 pp, 5x).
* ``roll back``: some gated metric is significantly worse (always-valid p <= alpha/m, harm side)
  AND its estimated harm is at least its minimum effect (Kayenta's effect-size tolerance; only
  makes rollbacks rarer). Severity ``critical`` when the interval's lower bound clears the
  critical effect.
* ``promote``: at least ``min_looks`` looks and, for every gated metric, the always-valid interval
  excludes a harm of the minimum effect (non-inferiority).
* ``cannot decide yet``: neither, and some gated rate metric that is not yet non-inferior has an MDE
  above its minimum effect (underpowered at the current traffic; the metrics table states the MDE, the
  design effect of the sessions and the hours still needed at the current traffic). A significant harm
  still rolls back at any traffic: the false-rollback bound holds at every look.
* ``continue``: otherwise.

The metric table and its configuration are in :mod:`eval_pipeline.project.canary`, the rate statistics in
:mod:`.canary_stats`, the sequential tests in :mod:`.sequential`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from eval_pipeline.monitoring import canary_stats as cs
from eval_pipeline.monitoring import sequential as seq
from eval_pipeline.project.canary import CanaryConfig, MetricDef

Verdict = Literal["promote", "continue", "cannot decide yet", "roll back"]
UNDECIDED = "cannot decide yet"


@dataclass
class CanaryResult:
    """The verdict of one canary at one hour, its metrics table and the hourly story."""

    canary: str
    production: str
    hour: str
    verdict: Verdict
    deciding: list[str]
    reason: str
    severity: str
    n_looks: int
    alpha: float
    m: int
    metrics: pd.DataFrame
    story: pd.DataFrame
    windows: pd.DataFrame = field(default_factory=pd.DataFrame)

    def to_json(self) -> dict[str, Any]:
        return {
            "canary": self.canary,
            "production": self.production,
            "hour": self.hour,
            "verdict": self.verdict,
            "deciding_metrics": self.deciding,
            "reason": self.reason,
            "severity": self.severity,
            "n_looks": self.n_looks,
            "alpha": self.alpha,
            "bonferroni_m": self.m,
            "test": "rates: within-hour differences combined across hours, session-clustered variance, mSPRT "
            "always-valid p (Johari et al. 2017); latency: Mann-Whitney + alpha spending; "
            f"Bonferroni over {self.m} gated metrics at alpha={self.alpha}",
            "metrics": self.metrics.to_dict("records"),
            "story": self.story.to_dict("records"),
            "windows": self.windows.to_dict("records"),
        }


METRIC_COLUMNS = [
    "metric",
    "gated",
    "test",
    "harm",
    "n_canary",
    "n_production",
    "canary",
    "production",
    "effect",
    "effect_unit",
    "ci_low",
    "ci_high",
    "min_effect",
    "critical_effect",
    "p_value",
    "naive_p",
    "level",
    "mde",
    "design_effect",
    "hours_to_power",
    "status",
]


def production_version(rows: pd.DataFrame, cfg: CanaryConfig) -> str | None:
    """The configured production version, else the version with most requests in ``rows``."""
    if cfg.production_model_version:
        return cfg.production_model_version
    if rows.empty:
        return None
    return str(rows["model_version"].value_counts().sort_index().idxmax())


def _look_index(rows: pd.DataFrame, hours: list[str]) -> np.ndarray:
    pos = {h: i for i, h in enumerate(hours)}
    return rows["hour"].map(pos).to_numpy(dtype=int)


def _rate_counts(part: pd.DataFrame, look: np.ndarray, d: MetricDef, k: int) -> tuple[np.ndarray, np.ndarray]:
    den = np.ones(len(part), dtype=bool) if d.den == "one" else part[d.den].to_numpy(dtype=bool)
    num = part[d.num].to_numpy(dtype=bool) & den
    x = np.bincount(look, weights=num, minlength=k)[:k]
    n = np.bincount(look, weights=den, minlength=k)[:k]
    return np.cumsum(x), np.cumsum(n)


def _tau(d: MetricDef, p0: float) -> float:
    """Mixture scale = the minimum effect in absolute units (relative effects scaled by production's rate)."""
    if d.effect == "absolute":
        return d.min_effect
    return max(d.min_effect * p0, 1e-4)


def analyze_canary(
    rows: pd.DataFrame, canary: str, production: str, hours: list[str], cfg: CanaryConfig
) -> CanaryResult:
    """The canary's verdict at the last of ``hours`` (one look per hour, oldest first) from ``rows``
    (``HOUR_COLUMNS`` with an ``hour`` column among ``hours``)."""
    defs = cfg.metric_defs()
    k = len(hours)
    rows = rows[rows["hour"].isin(hours)]
    c = rows[rows["model_version"] == canary]
    p = rows[rows["model_version"] == production]
    lc, lp = _look_index(c, hours), _look_index(p, hours)
    rows_all = cs.arms_frame(pd.concat([c, p]), canary, np.r_[lc, lp])
    # Bonferroni family: gated metrics with any data in the window (fixed over the looks)
    usable = {}
    for name, d in defs.items():
        if d.kind == "rate":
            has = (d.den == "one" or (d.den in rows and rows[d.den].astype(bool).any())) and d.num in rows
        else:
            has = d.col in rows and np.isfinite(pd.to_numeric(rows[d.col], errors="coerce")).any()
        usable[name] = bool(has) and len(c) > 0 and len(p) > 0
    m = max(1, sum(1 for n, d in defs.items() if d.gate and usable[n]))
    level = cfg.alpha / m
    inc = seq.spending_increments(cfg.planned_looks, cfg.alpha, k)
    per_look: dict[str, dict[str, np.ndarray]] = {}
    table = []
    for name, d in defs.items():
        if not usable[name]:
            table.append(
                {
                    "metric": name,
                    "gated": d.gate,
                    "status": "no_data",
                    "test": "-",
                    "harm": d.harm,
                    "n_canary": 0,
                    "n_production": 0,
                }
            )
            continue
        sign = 1.0 if d.harm == "higher" else -1.0
        if d.kind == "rate":
            xc, nc = _rate_counts(c, lc, d, k)
            xp, np_ = _rate_counts(p, lp, d, k)
            first = int(np.argmax(np_ >= cfg.min_n)) if (np_ >= cfg.min_n).any() else k - 1
            p0 = float(xp[first] / np_[first]) if np_[first] else 0.0
            tau = _tau(d, p0)
            r = cs.rate_looks(rows_all, d.num, d.den, k, tau, level, cfg.min_n)
            naive = seq.naive_two_proportions(xc, nc, xp, np_, "larger" if d.harm == "higher" else "smaller")
            harm = sign * r["diff"]
            lo, hi = (r["ci_low"], r["ci_high"]) if sign > 0 else (-r["ci_high"], -r["ci_low"])
            prod_rate = np.where(np_ > 0, xp / np.maximum(np_, 1), np.nan)
            scale = prod_rate if d.effect == "relative" else np.ones(k)
            min_abs, crit_abs = d.min_effect * scale, d.critical_effect * scale
            pv = r["p_value"]
            mde = r["mde"]
            underpowered = ~(mde <= np.nan_to_num(min_abs, nan=np.inf))
            row = {
                "test": "stratified by hour, session-clustered mSPRT (always valid)",
                "n_canary": int(nc[-1]),
                "n_production": int(np_[-1]),
                "canary": xc[-1] / nc[-1] if nc[-1] else np.nan,
                "production": prod_rate[-1],
                "effect": harm[-1],
                "effect_unit": "difference within hour (harm side)",
                "mde": mde[-1],
                "design_effect": r["design_effect"][-1],
                "hours_to_power": cs.hours_to_power(r["var"], k - 1, float(min_abs[-1]), tau, level)
                if underpowered[-1] and np.isfinite(min_abs[-1])
                else 0.0,
            }
        else:
            pv_look, eff, lo, hi, naive = (np.full(k, np.nan) for _ in range(5))
            vc = pd.to_numeric(c[d.col], errors="coerce").to_numpy(dtype=float)
            vp = pd.to_numeric(p[d.col], errors="coerce").to_numpy(dtype=float)
            uc, up = c["u"].to_numpy(dtype=float), p["u"].to_numpy(dtype=float)
            # one stable sort by the request hash, then each look's nested deterministic subsample
            oc, op = np.argsort(uc, kind="stable"), np.argsort(up, kind="stable")
            vc_s, lc_s, vp_s, lp_s = vc[oc], lc[oc], vp[op], lp[op]
            fc, fp = np.isfinite(vc_s), np.isfinite(vp_s)
            for j in range(k):
                a = vc_s[fc & (lc_s <= j)][: cfg.max_latency_values]
                b = vp_s[fp & (lp_s <= j)][: cfg.max_latency_values]
                if len(a) < cfg.min_n or len(b) < cfg.min_n:
                    pv_look[j] = naive[j] = 1.0
                    continue
                naive[j] = pv_look[j] = float(seq.mann_whitney_greater(a, b))
                lvl = 1 - (inc[j] / m if inc[j] > 0 else 1e-12)
                eff[j], lo[j], hi[j] = seq.quantile_ratio(a, b, d.q, lvl)
            pv = seq.spent_p_values(pv_look, inc, cfg.alpha)
            harm, min_abs, crit_abs = eff, np.full(k, d.min_effect), np.full(k, d.critical_effect)
            underpowered = np.zeros(k, dtype=bool)  # power is judged on the rate metrics
            sign = 1.0
            row = {
                "test": "Mann-Whitney + alpha spending",
                "n_canary": int(np.isfinite(vc).sum()),
                "n_production": int(np.isfinite(vp).sum()),
                "canary": float(np.nanquantile(vc, d.q)) if np.isfinite(vc).any() else np.nan,
                "production": float(np.nanquantile(vp, d.q)) if np.isfinite(vp).any() else np.nan,
                "effect": eff[-1],
                "effect_unit": f"p{int(d.q * 100)} ratio",
            }
        sig = pv <= level
        direction = np.nan_to_num(harm, nan=0.0) - (1.0 if d.kind == "latency" else 0.0)
        worse = sig & (direction > 0) & (np.nan_to_num(harm, nan=-np.inf) >= min_abs)
        better = sig & (direction < 0)
        noninf = np.nan_to_num(hi, nan=np.inf) < min_abs
        per_look[name] = {
            "worse": worse,
            "noninf": noninf,
            "critical": worse & (np.nan_to_num(lo, nan=-np.inf) >= crit_abs),
            "underpowered": underpowered,
            "mde": row.get("mde", np.nan),
            "min_effect": min_abs[-1],
        }
        status = (
            "worse"
            if worse[-1]
            else "better"
            if better[-1]
            else "non_inferior"
            if noninf[-1]
            else "inconclusive"
        )
        table.append(
            {
                "metric": name,
                "gated": d.gate,
                "harm": d.harm,
                **row,
                "ci_low": lo[-1],
                "ci_high": hi[-1],
                "min_effect": min_abs[-1],
                "critical_effect": crit_abs[-1],
                "p_value": pv[-1],
                "naive_p": naive[-1],
                "level": level,
                "status": status,
            }
        )
    metrics = pd.DataFrame(table, columns=METRIC_COLUMNS)
    story = _story(per_look, defs, hours, cfg, c, lc)
    last = story.iloc[-1]
    return CanaryResult(
        canary,
        production,
        hours[-1],
        last["verdict"],
        list(last["deciding"]),
        last["reason"],
        last["severity"],
        k,
        cfg.alpha,
        m,
        metrics,
        story,
    )


def _story(
    per_look: dict[str, dict[str, np.ndarray]],
    defs: dict[str, MetricDef],
    hours: list[str],
    cfg: CanaryConfig,
    c: pd.DataFrame,
    lc: np.ndarray,
) -> pd.DataFrame:
    """The verdict at every look (the first rollback / promotion is final: later looks keep it)."""
    gated = [n for n in per_look if defs[n].gate]
    n_by_look = np.bincount(lc, minlength=len(hours))[: len(hours)]
    rows, final = [], None
    for j, h in enumerate(hours):
        worse = [n for n in gated if per_look[n]["worse"][j]]
        if final is None:
            if worse:
                crit = any(per_look[n]["critical"][j] for n in worse)
                final = (
                    "roll back",
                    worse,
                    "critical" if crit else "warn",
                    f"significantly worse by at least the minimum effect: {', '.join(worse)}",
                )
            elif j + 1 >= cfg.min_looks and gated and all(per_look[n]["noninf"][j] for n in gated):
                final = (
                    "promote",
                    gated,
                    "info",
                    "every gated metric is non-inferior (interval below its minimum effect)",
                )
        if final is not None:
            verdict, deciding, severity, reason = final
        else:
            pending = [n for n in gated if not per_look[n]["noninf"][j]]
            weak = [n for n in pending if per_look[n]["underpowered"][j]]
            if weak:
                verdict, deciding, severity = UNDECIDED, weak, "info"
                last = j == len(hours) - 1
                reason = "underpowered at the current traffic: " + "; ".join(
                    f"{n} minimal detectable effect {per_look[n]['mde']:.3g} > minimum effect "
                    f"{per_look[n]['min_effect']:.3g}"
                    if last
                    else f"{n} minimal detectable effect above its minimum effect"
                    for n in weak
                )
            else:
                verdict, deciding, severity = "continue", pending, "info"
                reason = (
                    f"not yet non-inferior on {', '.join(pending)}"
                    if pending
                    else f"non-inferior, waiting for {cfg.min_looks} looks"
                )
        rows.append(
            {
                "look": j + 1,
                "hour": h,
                "n_canary_hour": int(n_by_look[j]),
                "verdict": verdict,
                "deciding": list(deciding),
                "severity": severity,
                "reason": reason,
            }
        )
    return pd.DataFrame(rows)


def canaries(rows: pd.DataFrame, production: str, hour: str) -> list[str]:
    """Versions other than production that served traffic in ``hour``."""
    now = rows[(rows["hour"] == hour) & (rows["model_version"] != production)]
    return sorted(now["model_version"].astype(str).unique())


def rollout_hours(rows: pd.DataFrame, canary: str, hours: list[str]) -> list[str]:
    """The looks of ``canary``: the hours from its first request in ``hours`` to the last hour."""
    seen = set(rows.loc[rows["model_version"] == canary, "hour"])
    first = next((i for i, h in enumerate(hours) if h in seen), len(hours) - 1)
    return hours[first:]
