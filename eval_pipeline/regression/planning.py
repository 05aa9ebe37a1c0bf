"""Sample-size planning for the release gate: power, the N a drop needs, the minimal detectable effect (MDE).

In: a suite's :class:`RegressionConfig` (alpha, ``min_effect``, the gated family and its correction), per gated row
the baseline's pass rate, the candidate-baseline **discordance** (share of samples where the two disagree, from
stored regression reports, else a stated assumption) or the SD of the per-sample differences (score rows), and the
current number of samples N. Out: :class:`RowPlan` per gated row - the N for 80 % / 90 % power to detect a drop of
``min_effect``, the MDE at the current N, the per-row level used - and :func:`plan_lines` to print them.

The test planned is the gate's own: a pass/fail row with one draw a side is McNemar's exact conditional test
(binomial on the discordant pairs, one-sided "worse"); its power is computed exactly (unconditional over the number
of discordant pairs K ~ Binomial(N, d); given K, the candidate-worse pairs X ~ Binomial(K, (d + delta) / (2 d)); the
test rejects at X >= c(K), the smallest count with ``P(Binomial(K, 1/2) >= c) <= level``; scipy ``binom``). The
alternative keeps the discordance d of the history and moves delta of it to the worse side (d >= delta). Score rows
(mean values, pass fractions with repeats) use the one-sided paired t-test: statsmodels ``TTestPower``.

The level of a row is the gate's first Holm step, ``alpha * (1 - segment_alpha_share) / m`` over the m gated
overall rows (Bonferroni: what a single regression among m rows has to beat; discrete Holm and later Holm steps can
only be more lenient, so the N is conservative). The gate blocks only when the test rejects **and** the observed
drop is at least ``min_effect`` (:func:`eval_pipeline.regression.gating.verdicts`), so a true drop of exactly
``min_effect`` blocks at most about half of the time however large N is: :attr:`RowPlan.mde_gate` is the smallest
true drop the whole rule blocks with 80 % at the current N, next to the test's own MDE (:attr:`RowPlan.mde_test`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from eval_pipeline.history.sql import SEGMENT_ALL
from eval_pipeline.project.regression_config import RegressionConfig
from eval_pipeline.project.suites import Suite
from eval_pipeline.storage import keys
from eval_pipeline.storage.warehouse import Warehouse

ASSUMED_DISCORDANCE = (
    0.10  # no history: 1 in 10 samples flips between two runs (A/A at temperature 0: ~7.5 %)
)
ASSUMED_SD_JUDGE = 1.0  # no history: SD of per-sample judge-mean differences, in scale points (1-5 scale)
ASSUMED_SD_VALUE = 0.15  # no history: SD of per-sample differences of other continuous scores (cosine)
POWERS = (0.8, 0.9)
N_MAX = 200_000


# ---------------------------------------------------------------------------
# Power of the gate's tests
# ---------------------------------------------------------------------------


def mcnemar_critical(k: npt.ArrayLike, level: float) -> npt.NDArray[np.int_]:
    """Per number of discordant pairs ``k``, the smallest worse-count c with ``P(Binomial(k, 1/2) >= c) <= level``
    (the one-sided exact McNemar test of :func:`~eval_pipeline.regression.paired_tests.mcnemar_exact` rejects at
    X >= c); ``k + 1`` when no count can reject."""

    from scipy import stats  # noqa: PLC0415 - keeps scipy out of `eval-pipeline run`'s start-up (inference/warmup.py loads it during the requests)

    ks = np.asarray(k, dtype=np.int_)
    c: npt.NDArray[np.int_] = stats.binom.isf(level, ks, 0.5).astype(int) + 1  # type: ignore[union-attr]  # an array k gives an array
    c = np.where(
        stats.binom.sf(c - 2, ks, 0.5) <= level, c - 1, c
    )  # isf rounding: step down if that rejects too
    c = np.where(stats.binom.sf(c - 1, ks, 0.5) <= level, c, c + 1)  # ... or up if it does not
    return np.minimum(c, ks + 1)


def mcnemar_power(
    n: int, discordance: float, drop: float, level: float, min_effect: float | None = None
) -> float:
    """Exact power of the one-sided exact McNemar test with ``n`` pairs, discordance ``discordance`` and a true drop
    ``drop`` (both fractions), at ``level``. ``min_effect``: also require the observed drop ``(X - (K - X)) / n`` to
    be at least it (the gate's rule) - the chance the gate blocks."""

    from scipy import stats  # noqa: PLC0415 - keeps scipy out of `eval-pipeline run`'s start-up (inference/warmup.py loads it during the requests)

    d = max(float(discordance), float(drop), 1e-9)
    q = min(1.0, (d + drop) / (2 * d))  # given a discordant pair, the chance it is candidate-worse
    sd = math.sqrt(n * d * (1 - d)) if d < 1 else 0.0
    lo, hi = max(0, int(n * d - 9 * sd - 5)), min(n, int(n * d + 9 * sd + 5))
    k = np.arange(lo, hi + 1)
    c = mcnemar_critical(k, level)
    if min_effect is not None:
        c = np.maximum(c, np.ceil((n * min_effect + k) / 2 - 1e-9).astype(int))
    return float(np.sum(stats.binom.pmf(k, n, d) * stats.binom.sf(c - 1, k, q)))


def t_power(n: int, sd: float, drop: float, level: float) -> float:
    """Power of the one-sided paired t-test (statsmodels ``TTestPower``) for a mean drop ``drop`` with per-sample
    difference SD ``sd``."""
    from statsmodels.stats.power import TTestPower  # noqa: PLC0415 - keeps statsmodels out of `import eval_pipeline.definitions`

    if n < 2 or sd <= 0:
        return float("nan")
    return float(TTestPower().power(effect_size=drop / sd, nobs=n, alpha=level, alternative="larger"))


def _smallest_n(power_at: Callable[[int], float], target: float, start: int = 20) -> int | None:
    """The smallest N with ``power_at(N) >= target`` that stays there for the next few N (the exact test's power
    saw-tooths in N); ``None`` above :data:`N_MAX`. Doubling, then bisection, then a short forward scan."""
    hi = max(2, start)
    while power_at(hi) < target:
        hi *= 2
        if hi > N_MAX:
            return None
    lo = hi // 2 if hi > start else 1
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if power_at(mid) >= target:
            hi = mid
        else:
            lo = mid
    n = hi
    while not all(power_at(n + j) >= target for j in (1, 2, 3)):  # past the saw-tooth
        n += 1
    return n


def _smallest_effect(power_at: Callable[[float], float], target: float, upper: float) -> float | None:
    """The smallest true effect in (0, upper] with ``power_at(effect) >= target`` (bisection); None if none."""
    if power_at(upper) < target:
        return None
    lo, hi = 0.0, upper
    for _ in range(30):
        mid = (lo + hi) / 2
        if power_at(mid) >= target:
            hi = mid
        else:
            lo = mid
        if hi - lo < 1e-4 * max(upper, 1e-9):
            break
    return hi


# ---------------------------------------------------------------------------
# One gated row
# ---------------------------------------------------------------------------


@dataclass
class RowPlan:
    """The plan of one gated row. Effects are fractions for pass rates (0.03 = 3 points), units otherwise."""

    suite: str
    eval_set: str
    metric: str
    measure: str
    test: str  # "mcnemar_exact" or "paired_t"
    n_current: int | None
    min_effect: float
    level: float  # the per-row one-sided level planned for (alpha share / family size)
    family_size: int
    baseline: float | None  # the baseline's pass rate / mean, when known
    spread: float  # discordance (pass rate rows) or SD of per-sample differences (score rows)
    source: str  # where ``spread`` comes from ("history: ..." or "assumed: ...")
    n_for: dict[str, int | None]  # {"0.8": N, "0.9": N} to detect a drop of min_effect
    mde_test: float | None  # at n_current: smallest drop the test detects with 80 %
    mde_gate: float | None  # at n_current: smallest drop the gate's rule (test + min_effect) blocks with 80 %

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = json.loads(json.dumps(asdict(self)))  # JSON types: n_for's keys stay strings
        return out


def plan_row(
    *,
    suite: str,
    eval_set: str,
    metric: str,
    measure: str,
    n_current: int | None,
    min_effect: float,
    level: float,
    family_size: int,
    spread: float,
    source: str,
    baseline: float | None = None,
    binary: bool = True,
    sizes: bool = True,
) -> RowPlan:
    """Plan one row: N for :data:`POWERS` at a drop of ``min_effect`` (``sizes``; else ``None``), MDEs at
    ``n_current``."""
    from scipy import stats  # noqa: PLC0415 - keeps scipy out of `eval-pipeline run`'s start-up (inference/warmup.py loads it during the requests)

    if binary:

        def power(n: int, drop: float = min_effect, rule: float | None = None) -> float:
            return mcnemar_power(n, spread, drop, level, rule)

        upper = min(1.0, max(spread, 0.0) + 0.5)
        test = "mcnemar_exact"
    else:

        def power(n: int, drop: float = min_effect, rule: float | None = None) -> float:
            p = t_power(n, spread, drop, level)
            if rule is None:
                return p

            return min(p, float(stats.norm.sf((rule - drop) / (spread / math.sqrt(n)))))

        upper = 5 * spread
        test = "paired_t"
    n_for = {f"{p:g}": (_smallest_n(power, p) if sizes and min_effect > 0 else None) for p in POWERS}
    mde_test = mde_gate = None
    if n_current and n_current >= 2:
        mde_test = _smallest_effect(lambda e: power(n_current, e), POWERS[0], upper)
        mde_gate = _smallest_effect(lambda e: power(n_current, e, min_effect), POWERS[0], upper)
    return RowPlan(
        suite,
        eval_set,
        metric,
        measure,
        test,
        n_current,
        min_effect,
        level,
        family_size,
        baseline,
        spread,
        source,
        n_for,
        mde_test,
        mde_gate,
    )


def row_level(cfg: RegressionConfig, family_size: int, segments: bool = True) -> float:
    """The one-sided level one overall row is planned at: the gate's first Holm step over ``family_size`` rows,
    with ``1 - segment_alpha_share`` of alpha when segment rows gate too (``segments``: the eval sets have them)."""
    share = (1.0 - cfg.segment_alpha_share) if (cfg.gate_segments and segments) else 1.0
    return cfg.alpha * share / max(1, family_size)


# ---------------------------------------------------------------------------
# A suite
# ---------------------------------------------------------------------------


def history_spread(
    reports: list[dict[str, Any]], suite: str, eval_set: str, metric: str, measure: str
) -> dict[str, Any]:
    """What stored regression reports (``report_dict`` form, oldest first) say about one overall row: ``test``,
    ``discordance`` (sum of discordant samples over sum of pairs, McNemar rows), ``sd`` (SD of the per-sample
    differences, from each report's t interval: ``(ci_high - ci_low) / 2 / t_q * sqrt(n)``, pooled by n),
    ``baseline`` and ``n`` (the latest report's), ``reports`` (how many had the row). Empty when none had it."""

    from scipy import stats  # noqa: PLC0415 - keeps scipy out of `eval-pipeline run`'s start-up (inference/warmup.py loads it during the requests)

    disc = pairs = 0.0
    var_n = var_w = 0.0
    out: dict[str, Any] = {}
    for rep in reports:
        level = float(((rep.get("config") or {}).get("ci_level")) or 0.95)
        for r in rep.get("rows") or []:
            if (r.get("suite"), r.get("eval_set"), r.get("metric"), r.get("measure"), r.get("segment")) != (
                suite,
                eval_set,
                metric,
                measure,
                SEGMENT_ALL,
            ):
                continue
            n = int(r.get("n_pairs") or 0)
            if n < 2:
                continue
            out["reports"] = out.get("reports", 0) + 1
            out.update(test=r.get("test"), baseline=r.get("baseline"), n=n)
            if r.get("n_worse") is not None and r.get("n_better") is not None:
                disc += float(r["n_worse"]) + float(r["n_better"])
                pairs += n
            lo, hi = r.get("ci_low"), r.get("ci_high")
            if lo is not None and hi is not None and np.isfinite(lo) and np.isfinite(hi):
                sd = (float(hi) - float(lo)) / 2 / stats.t.ppf((1 + level) / 2, n - 1) * math.sqrt(n)
                var_n += sd**2 * n
                var_w += n
    if pairs:
        out["discordance"] = disc / pairs
    if var_w:
        out["sd"] = math.sqrt(var_n / var_w)
    return out


def plan_suite(
    suite: Suite,
    reports: list[dict[str, Any]] | None = None,
    n_by_eval_set: Mapping[str, int | None] | None = None,
    sizes: bool = True,
) -> list[RowPlan]:
    """Plan every gated overall row of ``suite`` (a ``project.Suite``): its ``regression_config()`` gives the gated
    family (``blocking_metrics``), alpha, the correction and ``min_effect``; ``reports`` the stored regression
    reports of the suite (``report_dict`` form, oldest first) for the discordance / SD / baseline / N seen;
    ``n_by_eval_set`` the current N (else the latest report's); ``sizes: False`` skips the N search (MDEs only)."""
    cfg = suite.regression_config()
    reports, n_by_eval_set = list(reports or []), dict(n_by_eval_set or {})
    gated = [(es, row) for es in suite.eval_sets for row in cfg.blocking_metrics.get(es.name, [])]
    m = len(gated)
    level = row_level(cfg, m)
    plans = []
    for es, row in gated:
        metric, measure = row.split(":", 1)
        seen = history_spread(reports, suite.name, es.name, metric, measure)
        repeats = es.judge_config.repeats if es.family == "judge" else 1
        test = seen.get("test") or (
            "mcnemar_exact" if measure == "pass_rate" and repeats == 1 else "paired_t"
        )
        binary = test == "mcnemar_exact"
        if measure == "pass_rate":
            min_effect = cfg.min_effect
        else:
            default = cfg.min_effect_judge if es.family == "judge" else cfg.min_effect_value
            min_effect = cfg.min_effect_by_metric.get(metric, default)
        n_seen = f"{seen.get('reports', 0)} stored regression report(s)"
        if binary and "discordance" in seen:
            spread, source = seen["discordance"], f"history: discordance over {n_seen}"
        elif not binary and "sd" in seen:
            spread, source = seen["sd"], f"history: SD of per-sample differences over {n_seen}"
        elif binary:
            spread, source = ASSUMED_DISCORDANCE, f"assumed: discordance {ASSUMED_DISCORDANCE:g} (no history)"
        else:
            spread = (
                math.sqrt(ASSUMED_DISCORDANCE)
                if measure == "pass_rate"
                else (ASSUMED_SD_JUDGE if es.family == "judge" else ASSUMED_SD_VALUE)
            )
            source = f"assumed: SD of per-sample differences {spread:.3g} (no history)"
        plans.append(
            plan_row(
                suite=suite.name,
                eval_set=es.name,
                metric=metric,
                measure=measure,
                n_current=n_by_eval_set.get(es.name) or seen.get("n"),
                min_effect=float(min_effect),
                level=level,
                family_size=m,
                spread=float(max(spread, 1e-6)),
                source=source,
                baseline=seen.get("baseline"),
                binary=binary,
                sizes=sizes,
            )
        )
    return plans


def stored_reports(warehouse: Warehouse, suite: str | None = None, latest: int = 30) -> list[dict[str, Any]]:
    """The ``latest`` stored regression reports (``reports/regression/date=.../report.json``, oldest date first)
    that have rows of ``suite`` (any suite when None); an unreadable one is skipped."""

    prefix = keys.regression_report("DATE", "MV").split("date=DATE")[0]
    out = []
    for key in sorted(k for k in warehouse.list_keys(prefix) if k.endswith("/report.json"))[-latest:]:
        try:
            rep = json.loads(warehouse.read_bytes(key))
        except (OSError, ValueError):
            continue
        if isinstance(rep, dict) and any(
            suite is None or r.get("suite") == suite for r in rep.get("rows") or []
        ):
            out.append(rep)
    return out


def mde_metadata(plans: list[RowPlan]) -> dict[str, str]:
    """``{suite/eval_set:metric.measure: "MDE ... at N=..."}``: what a green gate could have missed."""
    return {
        f"{p.suite}/{p.eval_set}:{p.metric}.{p.measure}": (
            f"gate blocks a drop of {_fmt(p.mde_gate, p.measure == 'pass_rate')} with 80% at N={p.n_current} "
            f"(test alone {_fmt(p.mde_test, p.measure == 'pass_rate')}); {p.source}"
        )
        for p in plans
        if p.n_current
    }


def _fmt(x: float | None, points: bool) -> str:
    if x is None:
        return "-"
    return f"{x * 100:.1f} pts" if points else f"{x:.3g}"


def plan_lines(plans: list[RowPlan], alpha: float | None = None) -> list[str]:
    """Human-readable plan: one line per gated row, then what the figures mean; ``alpha`` (the suite's) lets a row
    say its level as a share of it."""
    lines = []
    for p in plans:
        b = p.measure == "pass_rate"
        n80, n90 = p.n_for.get("0.8"), p.n_for.get("0.9")
        lines.append(
            f"{p.suite}/{p.eval_set} {p.metric}.{p.measure} [{p.test}, one-sided level {p.level:.4g}"
            + (f" = {p.level * p.family_size / alpha:.2g} x alpha / {p.family_size} rows" if alpha else "")
            + f"]: drop {_fmt(p.min_effect, b)} needs N={n80 or '>' + str(N_MAX)} (80% power), "
            f"N={n90 or '>' + str(N_MAX)} (90%); now N={p.n_current or '?'}: MDE {_fmt(p.mde_test, b)} (test, 80%), "
            f"{_fmt(p.mde_gate, b)} (gate: test + observed drop >= min effect); {p.source}"
            + (f"; baseline {p.baseline:.3g}" if p.baseline is not None else "")
        )
    if plans:
        lines.append(
            "N: samples for the one-sided test of the gated row to detect a true drop of the minimum effect at the "
            "row's level (the gate's first Holm step; discrete Holm can only be more lenient). The gate also needs "
            "the OBSERVED drop >= the minimum effect, so a true drop of exactly the minimum effect blocks about half "
            "the time at any N; 'MDE (gate)' is the true drop the gate blocks with 80% at the current N."
        )
    return lines


def run_mde(warehouse: Warehouse, suites: Iterable[Suite], scores: pd.DataFrame) -> dict[str, str]:
    """The MDE of every gated row of a scored run (``eval_run`` metadata): the N is the run's graded samples per
    eval set (``scores``: long-format score rows), the discordance / SD the suite's stored regression reports'."""
    out: dict[str, str] = {}
    for suite in {s.name: s for s in suites}.values():
        mine = scores[scores["suite"] == suite.name] if len(scores) else scores
        n = (
            {str(es): int(count) for es, count in mine.groupby("eval_set")["sample_id"].nunique().items()}
            if len(mine)
            else {}
        )
        if n:
            out |= mde_metadata(plan_suite(suite, stored_reports(warehouse, suite.name), n, sizes=False))
    return out
