"""The gated family and the verdicts: which rows may block a release, their correction, the rule.

In: tested regression rows (``p_value``, ``p_worse``, effect, direction, n) and a :class:`RegressionConfig`.
Out: the same rows with ``p_adjusted``, ``p_gate``, ``gating`` and ``verdict``; :func:`gate_rows` (the rows
that block), :func:`gate_family` and :func:`gate_description` (what is gated, said in words).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from eval_pipeline.history.sql import SEGMENT_ALL
from eval_pipeline.project.regression_config import RegressionConfig
from eval_pipeline.project.regression_schema import REPORT_COLUMNS, is_auxiliary
from eval_pipeline.regression.composite import COMPOSITE_PASS_METRIC
from eval_pipeline.regression.paired_tests import adjust


def family_measures(cfg: RegressionConfig, eval_set: str, metric: str, continuous: bool) -> set[str]:
    """Measures of ``metric`` that are in the gated family: the declared primary metric, else the eval set's
    ``blocking_metrics`` rows, else (no suite information) every non-auxiliary metric - pass rate for pass/fail
    checks, mean value for continuous scores; the composite ``pass_rate`` row is then drill-down."""
    natural = "mean_value" if continuous else "pass_rate"
    primary = cfg.primary_metrics.get(eval_set)
    if primary is not None:
        return {natural} if metric == primary else set()
    if eval_set in cfg.blocking_metrics:
        return {m.split(":", 1)[1] for m in cfg.blocking_metrics[eval_set] if m.split(":", 1)[0] == metric}
    # without suite information the composite is drill-down: its components are gated already
    return set() if is_auxiliary(metric) or metric == COMPOSITE_PASS_METRIC else {natural}


def verdicts(df: pd.DataFrame, cfg: RegressionConfig, procedure: str | None = None) -> pd.DataFrame:
    """Correct each family, then the significance + minimum-effect rule, in each row's direction.

    * ``p_adjusted``: the two-sided ``p_value`` corrected within the row's family (gated family:
      ``cfg.gate_procedure``; drill-down families - segments, auxiliary overall rows - BH). Descriptive;
      decides ``improvement`` on every row and ``regression`` on drill-down rows.
    * ``p_gate`` (gated rows only): the one-sided ``p_worse`` ("is the candidate worse in the metric's
      direction?", the question the gate asks) corrected over the gated family with ``cfg.gate_procedure``: overall
      rows and segment rows (``gate_segments``) are corrected apart, at ``1 - segment_alpha_share`` and
      ``segment_alpha_share`` of alpha, and ``p_gate`` is divided by that share (so ``p_gate < alpha`` decides).
      A gated row is a ``regression`` iff ``p_gate < alpha`` and the effect is >= ``min_effect`` worse:
      with discrete Holm (default; exact McNemar rows by their attainable p-values) or Holm the chance that any
      gated row of an equally good candidate blocks is <= alpha.
    """
    df = df.copy()
    gate_procedure = procedure or cfg.gate_procedure
    alpha = df["_alpha"].astype(float) if "_alpha" in df else pd.Series(cfg.alpha, index=df.index)
    enough = df["n_pairs"] >= df["_min_pairs"] if "_min_pairs" in df else df["n_pairs"] >= cfg.min_pairs
    df["p_adjusted"] = np.nan
    df["p_gate"] = np.nan
    gating = df["gating"].astype(bool)
    families = {
        "gate": (gating, gate_procedure),
        "segments": (~gating & (df["segment"] != SEGMENT_ALL), "bh"),
        "auxiliary": (~gating & (df["segment"] == SEGMENT_ALL), "bh"),
    }
    for mask, procedure in families.values():
        idx = df.index[mask & enough]
        if len(idx):
            df.loc[idx, "p_adjusted"] = adjust(
                df.loc[idx, "p_value"].to_numpy(),
                procedure,
                cfg.alpha,
                supports=_supports(df.loc[idx], "two-sided"),
            )
    # the gated family in two parts (overall rows, segment rows), each corrected on its own at its share of alpha;
    # p_gate is scaled so that ``p_gate < alpha`` <=> the row is rejected at its part's level: Bonferroni over the
    # two parts keeps the chance of any false block <= alpha (closed testing with weights 1 - s, s)
    segment = df["segment"] != SEGMENT_ALL
    parts = [(gating & enough & ~segment), (gating & enough & segment)]
    share = cfg.segment_alpha_share if parts[1].any() and parts[0].any() else (1.0 if parts[1].any() else 0.0)
    for mask, weight in zip(parts, (1.0 - share, share)):
        idx = df.index[mask]
        if len(idx):
            adj = adjust(
                df.loc[idx, "p_worse"].to_numpy(),
                gate_procedure,
                cfg.alpha,
                supports=_supports(df.loc[idx], "worse"),
            )
            df.loc[idx, "p_gate"] = np.minimum(1.0, adj / weight)
    df.loc[~enough, "gating"] = False
    gated = df["gating"].astype(bool)
    sig = df["p_adjusted"] < alpha
    sig_worse = np.where(gated, df["p_gate"] < alpha, sig)
    sign = np.where(df["direction"] == "lower", -1.0, 1.0)
    better: pd.Series = (
        df["effect"].astype(float) * sign
    )  # > 0: the candidate is better in the metric's direction
    df["verdict"] = "no_change"
    df.loc[sig_worse & (better <= -df["min_effect"]), "verdict"] = "regression"
    df.loc[sig & (better >= df["min_effect"]), "verdict"] = "improvement"
    df.loc[df["direction"] == "unknown", "verdict"] = "no_change"  # no side is worse or better
    df.loc[~enough, "verdict"] = "insufficient_data"
    return df


def _supports(rows: pd.DataFrame, alternative: str) -> list[np.ndarray | None]:
    """Per row, the p-values its test can attain (pass/fail rows carry them: ``_support_worse`` /
    ``_support_two_sided`` from the exact test), else ``None`` (treated as continuous); what ``discrete_holm``
    needs, ignored by the other procedures."""
    col = "_support_worse" if alternative == "worse" else "_support_two_sided"
    if col not in rows:
        return [None] * len(rows)
    return [s if isinstance(s, np.ndarray) else None for s in rows[col]]


def gate_rows(rows: pd.DataFrame) -> pd.DataFrame:
    """The rows that block a release: gated rows with a ``regression`` verdict."""
    if rows is None or len(rows) == 0:
        return pd.DataFrame(columns=REPORT_COLUMNS)
    gating = (
        rows["gating"].fillna(False).astype(bool) if "gating" in rows else pd.Series(True, index=rows.index)
    )
    return rows[gating & (rows["verdict"] == "regression")]


def gate_family(rows: pd.DataFrame) -> list[str]:
    """The gated family's rows as ``suite/eval_set:metric.measure[segment]`` (for the summary and check metadata)."""
    if rows is None or len(rows) == 0 or "gating" not in rows:
        return []
    g = rows[rows["gating"].fillna(False).astype(bool)]
    return [
        f"{r['suite']}/{r['eval_set']}:{r['metric']}.{r['measure']}"
        + ("" if r["segment"] == SEGMENT_ALL else f"[{r['segment']}]")
        for _, r in g.iterrows()
    ]


def gate_description(cfg: RegressionConfig) -> str:
    """One line saying what the gate tests and how it is corrected (for the report metadata)."""
    proc = {
        "discrete_holm": "discrete Holm (Doehler 2010; Zhu & Guo 2019: Holm over the p-values each exact "
        "test can attain; family-wise error <= alpha)",
        "holm": "Holm (family-wise error <= alpha)",
        "bonferroni": "Bonferroni (family-wise error <= alpha)",
        "bh": "Benjamini-Hochberg (FDR <= alpha; family-wise only under the global null)",
    }[cfg.gate_procedure]
    scope = (
        f"overall rows at {1 - cfg.segment_alpha_share:g} of alpha and their category segment rows at "
        f"{cfg.segment_alpha_share:g} of alpha (a segment blocks at >= {cfg.min_effect_segment * 100:g} points)"
        if cfg.gate_segments
        else "overall rows (segments are drill-down)"
    )
    what = []
    if cfg.primary_metrics:
        what.append(
            "the declared primary metric of "
            + ", ".join(f"{k}: {v}" for k, v in sorted(cfg.primary_metrics.items()))
        )
    rest = {k: v for k, v in cfg.blocking_metrics.items() if k not in cfg.primary_metrics}
    if rest:
        what.append(
            "the metrics the blocking thresholds name (else one primary row) of "
            + "; ".join(f"{k}: {', '.join(v)}" for k, v in sorted(rest.items()))
        )
    what.append(
        "every non-auxiliary metric of any other eval set (pass rate for pass/fail checks, mean for "
        "continuous scores)"
        if what
        else "every non-auxiliary metric (pass rate for pass/fail checks, mean for continuous scores)"
    )
    return (
        f"one-sided paired tests against the baseline run (candidate worse in the metric's direction, from the "
        f"thresholds; unknown direction never gates): exact McNemar = binomial on the discordant pairs with one draw "
        f"a side, paired t-test of per-sample differences with repeats or pooled distinct draws and for scores "
        f"({cfg.continuous_test}), {proc} over "
        f"the {scope} of {'; '.join(what)}; other rows are drill-down (two-sided, BH, never block), "
        f"alpha={cfg.alpha}; regression = p_gate < alpha and >= {cfg.min_effect * 100:g} points worse; "
        f"p_value / p_adjusted are two-sided (descriptive, improvements, drill-down)"
    )
