"""Eval-set metrics: pure functions over score rows (and over plain lists, for direct use).

Every eval-set figure is a ``MetricValue`` dict ``{"value", "ci_low", "ci_high", "n"}`` (95 %
intervals; ``None`` where no interval applies), so the Dagster checks can compare any metric
with a threshold the same way. :func:`eval_set_metrics` computes all that apply:

==================  ==========================================================================
pass_rate           deterministic: share of (sample, repeat) passing every check; Wilson CI with one
                    repeat per sample, cluster-robust (by sample) t interval with several
<check>.pass_rate   the same for one check
accuracy, macro_f1  from ``<check>.prediction`` rows of ``exact_match`` (string gold labels)
ece                 expected calibration error (10 uniform bins) when predictions carry a confidence
<field>_f1          mean per-sample set F1 of ``json_fields_match`` ``set`` fields (= sklearn "samples" F1)
rouge_l*, bleu*     mean of the per-sample ROUGE-L / BLEU check values; t interval
pass_at_1, pass_at_k  unbiased pass@k (Chen et al. 2021) when samples have k >= 2 repeats
pass_hat_k          unbiased pass^k (tau-bench): all k repeats pass; next to pass_at_k, same k
mean_cosine         similarity: mean cosine; t interval
cosine_pass_rate    similarity: share at or above the threshold; Wilson CI
<family>.<metric>.mean / .pass_rate   any other family (e.g. judge dimensions)
infra_error_count   (sample, repeat) pairs lost to infrastructure errors (excluded everywhere else)
==================  ==========================================================================

Statistics come from statsmodels (Wilson), scipy (t interval, binomial coefficients),
scikit-learn (accuracy, F1, confusion matrix, calibration curve), rouge-score and sacrebleu.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Hashable, Iterable, Sequence
from typing import Any, cast

import numpy as np
import pandas as pd

MetricValue = dict[str, Any]
NO_PREDICTION = "<none>"  # predicted label when the response had no usable label


# --------------------------------------------------------------------------------------------
# Building blocks
# --------------------------------------------------------------------------------------------
def metric_value(
    value: float | None, ci_low: float | None = None, ci_high: float | None = None, n: int = 0, **extra: Any
) -> MetricValue:
    """The uniform metric record."""

    def f(x: Any) -> float | None:
        return None if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)

    return {"value": f(value), "ci_low": f(ci_low), "ci_high": f(ci_high), "n": int(n), **extra}


def wilson_interval(successes: int, n: int, alpha: float = 0.05) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (statsmodels ``proportion_confint``)."""
    from statsmodels.stats.proportion import proportion_confint  # noqa: PLC0415 - keeps statsmodels out of `import eval_pipeline.definitions`

    if n <= 0:
        return (math.nan, math.nan)
    lo, hi = proportion_confint(successes, n, alpha=alpha, method="wilson")
    return float(lo), float(hi)


def clustered_proportion(
    passed: Iterable[float], clusters: Iterable[Any], alpha: float = 0.05
) -> MetricValue:
    """Share of true values when rows come in clusters (the repeats of one sample are correlated).

    One row per cluster: the Wilson interval. Several: a cluster-robust interval - the pooled share
    with a CR1 sandwich standard error over clusters and a t quantile with (clusters - 1) degrees of
    freedom (statsmodels ``OLS(...).fit(cov_type="cluster", use_t=True)``), clipped to [0, 1]; when
    every cluster is constant and identical (zero variance), the Wilson interval with n = clusters.
    ``n`` is the number of rows, ``n_clusters`` the number of samples, ``interval`` the method.
    """
    y = np.asarray(list(passed), dtype=float)
    g = pd.factorize(pd.Series(list(clusters), dtype=object))[0]
    if y.size == 0:
        return metric_value(None, n=0)
    n_cl = int(g.max()) + 1
    k = float(y.sum())
    if n_cl == y.size:
        lo, hi = wilson_interval(int(k), y.size, alpha)
        return metric_value(k / y.size, lo, hi, y.size, n_clusters=n_cl, interval="wilson")
    if n_cl < 2 or np.all(y == y[0]):
        share = k / y.size
        lo, hi = wilson_interval(int(round(share * n_cl)), n_cl, alpha)
        return metric_value(share, lo, hi, y.size, n_clusters=n_cl, interval="wilson over samples")
    # Only with repeats: statsmodels' regression module is not loaded for one answer per sample.
    from statsmodels.regression.linear_model import OLS  # noqa: PLC0415 - keeps statsmodels out of `import eval_pipeline.definitions`

    fit = OLS(y, np.ones_like(y)).fit(cov_type="cluster", cov_kwds={"groups": g}, use_t=True)
    lo, hi = fit.conf_int(alpha=alpha)[0]
    return metric_value(
        k / y.size,
        max(0.0, float(lo)),
        min(1.0, float(hi)),
        y.size,
        n_clusters=n_cl,
        interval="cluster-robust t by sample",
    )


def proportion_metric(
    passed: Iterable[bool], alpha: float = 0.05, clusters: Iterable[Any] | None = None
) -> MetricValue:
    """Share of true values with its Wilson interval; with ``clusters`` (e.g. the sample id of each
    (sample, repeat) row) the interval accounts for clustering (:func:`clustered_proportion`)."""
    arr = np.asarray(list(passed), dtype=bool)
    if clusters is not None:
        return clustered_proportion(arr, clusters, alpha)
    if arr.size == 0:
        return metric_value(None, n=0)
    k = int(arr.sum())
    lo, hi = wilson_interval(k, arr.size, alpha)
    return metric_value(k / arr.size, lo, hi, arr.size)


def mean_metric(
    values: Iterable[float], confidence: float = 0.95, bounds: tuple[float, float] | None = None
) -> MetricValue:
    """Mean with a Student-t interval (scipy), clipped to ``bounds``; no interval below two values."""

    from scipy import stats  # noqa: PLC0415 - keeps scipy out of `eval-pipeline run`'s start-up (inference/warmup.py loads it during the requests)

    arr = np.asarray([v for v in values if v is not None and not math.isnan(v)], dtype=float)
    if arr.size == 0:
        return metric_value(None, n=0)
    mean = float(arr.mean())
    if arr.size < 2:
        return metric_value(mean, n=1)
    sem = stats.sem(arr)
    if sem == 0:
        return metric_value(mean, mean, mean, arr.size)
    lo, hi = stats.t.interval(confidence, df=arr.size - 1, loc=mean, scale=sem)
    if bounds is not None:
        lo, hi = max(lo, bounds[0]), min(hi, bounds[1])
    return metric_value(mean, lo, hi, arr.size)


def classification_metrics(
    y_true: Sequence[str], y_pred: Sequence[str | None], top_n: int = 5
) -> dict[str, Any]:
    """Accuracy, macro-F1 (over the gold labels) and the most confused (gold, predicted) pairs.

    ``None`` predictions count as the label ``"<none>"`` (always wrong). Macro-F1 averages over
    the labels present in ``y_true`` (predictions outside them still cost recall/precision).
    """
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score

    yt = [str(y) for y in y_true]
    yp = [NO_PREDICTION if y is None else str(y) for y in y_pred]
    if not yt:
        return {"accuracy": None, "macro_f1": None, "n": 0, "confused_pairs": []}
    gold_labels = sorted(set(yt))
    labels = sorted(set(yt) | set(yp))
    cm = confusion_matrix(yt, yp, labels=labels)
    np.fill_diagonal(cm, 0)
    pairs = [(labels[i], labels[j], int(cm[i, j])) for i, j in zip(*np.nonzero(cm))]
    pairs.sort(key=lambda p: (-p[2], p[0], p[1]))
    return {
        "accuracy": float(accuracy_score(yt, yp)),
        "macro_f1": float(f1_score(yt, yp, labels=gold_labels, average="macro", zero_division=0)),
        "n": len(yt),
        "confused_pairs": [{"gold": g, "pred": p, "count": c} for g, p, c in pairs[:top_n]],
    }


def set_f1(
    pred_sets: Sequence[Iterable[str]], gold_sets: Sequence[Iterable[str]], average: str = "samples"
) -> float:
    """Multi-label F1 (sklearn) of predicted vs gold label sets; ``average`` = samples | micro | macro."""
    from sklearn.metrics import f1_score
    from sklearn.preprocessing import MultiLabelBinarizer

    pred = [set(p) for p in pred_sets]
    gold = [set(g) for g in gold_sets]
    mlb = MultiLabelBinarizer().fit(pred + gold)
    return float(f1_score(mlb.transform(gold), mlb.transform(pred), average=average, zero_division=1.0))


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k of one sample with ``c`` passing among ``n`` attempts (Chen et al. 2021):
    ``1 - C(n-c, k) / C(n, k)``."""

    from scipy.special import comb  # noqa: PLC0415 - keeps scipy out of `eval-pipeline run`'s start-up (inference/warmup.py loads it during the requests)

    if not 0 <= c <= n or not 1 <= k <= n:
        raise ValueError(f"need 0 <= c <= n and 1 <= k <= n, got n={n} c={c} k={k}")
    if n - c < k:
        return 1.0
    return float(1.0 - comb(n - c, k, exact=True) / comb(n, k, exact=True))


def pass_hat_k(n: int, c: int, k: int) -> float:
    """Unbiased pass^k (tau-bench, Yao et al. 2024): chance that k of n attempts all pass, C(c,k)/C(n,k)."""

    from scipy.special import comb  # noqa: PLC0415 - keeps scipy out of `eval-pipeline run`'s start-up (inference/warmup.py loads it during the requests)

    if not 0 <= c <= n or not 1 <= k <= n:
        raise ValueError(f"need 0 <= c <= n and 1 <= k <= n, got n={n} c={c} k={k}")
    return float(comb(c, k, exact=True) / comb(n, k, exact=True))


def expected_calibration_error(
    confidences: Sequence[float], correct: Sequence[bool], n_bins: int = 10
) -> float:
    """Binned ECE: sum over uniform confidence bins of (bin share) x |accuracy - mean confidence|.

    Per-bin accuracy and mean confidence come from sklearn's ``calibration_curve`` (same bins).
    """
    from sklearn.calibration import calibration_curve

    conf = np.clip(np.asarray(confidences, dtype=float), 0.0, 1.0)
    y = np.asarray(correct, dtype=int)
    if conf.size == 0:
        return math.nan
    if y.min() == y.max():  # calibration_curve needs both classes; the formula does not
        bins = np.linspace(0.0, 1.0, n_bins + 1)
        idx = np.searchsorted(bins[1:-1], conf)
        counts = np.bincount(idx, minlength=n_bins)
        sums = np.bincount(idx, weights=conf, minlength=n_bins)
        nz = counts > 0
        return float(np.sum(counts[nz] / conf.size * np.abs(y[0] - sums[nz] / counts[nz])))
    prob_true, prob_pred = calibration_curve(y, conf, n_bins=n_bins, strategy="uniform")
    bins = np.linspace(0.0, 1.0, n_bins + 1)
    counts = np.bincount(np.searchsorted(bins[1:-1], conf), minlength=n_bins)
    weights = counts[counts > 0] / conf.size
    return float(np.sum(weights * np.abs(prob_true - prob_pred)))


# --------------------------------------------------------------------------------------------
# Eval-set metrics over score rows
# --------------------------------------------------------------------------------------------
def _is_aux(metric: pd.Series) -> pd.Series:
    return metric.str.contains(".", regex=False)


def _outcomes(det: pd.DataFrame) -> pd.DataFrame:
    """Per (sample_id, repeat): passed every scored check (rows with passed=None ignored)."""
    scored = det[det["passed"].notna()]
    if scored.empty:
        return pd.DataFrame(columns=["sample_id", "repeat", "ok"])
    # vectorized groupby-all (a Python lambda per sample cost ~0.2 s per 500 samples, twice per run)
    per_sample = scored.assign(ok=scored["passed"].astype(bool)).groupby(
        ["sample_id", "repeat"], as_index=False
    )
    return cast(pd.DataFrame, per_sample["ok"].all())  # as_index=False: a frame, not the Series the stubs say


def _strip_prefix(names: list[str]) -> dict[str, str]:
    """Map aux metric names ``check.suffix`` to ``suffix`` when unambiguous, else keep the full name."""
    suffixes = [n.split(".", 1)[1] for n in names]
    return {n: (s if suffixes.count(s) == 1 else n) for n, s in zip(names, suffixes)}


def eval_set_metrics(scores: pd.DataFrame) -> dict[str, MetricValue]:
    """All applicable metrics of one eval set's score rows (any mix of families); see module doc.

    Infra-error rows are excluded from every denominator and counted in ``infra_error_count``.
    """
    out: dict[str, MetricValue] = {}
    if scores.empty:
        return {"infra_error_count": metric_value(0, n=0)}
    keys = scores[["sample_id", "repeat"]].drop_duplicates()
    infra_keys = scores.loc[scores["infra_error"].notna(), ["sample_id", "repeat"]].drop_duplicates()
    df = scores[scores["infra_error"].isna()]
    df = df.assign(metric=df["metric"].astype(str))

    det = df[df["family"] == "deterministic"]
    main = det[~_is_aux(det["metric"])]
    if main["passed"].notna().any():
        oc = _outcomes(main)
        out["pass_rate"] = proportion_metric(oc["ok"], clusters=oc["sample_id"])
        for m, g in main.groupby("metric", sort=True):
            if g["passed"].notna().any():
                gp = g[g["passed"].notna()]
                out[f"{m}.pass_rate"] = proportion_metric(gp["passed"].astype(bool), clusters=gp["sample_id"])
        out.update(_pass_at_k_metrics(main))
    for metric, g in main.groupby("metric", sort=True):
        m = str(metric)
        if m.startswith(("rouge_l", "bleu")):
            out[m] = mean_metric(g["value"].dropna(), bounds=(0.0, 1.0))

    aux = det[_is_aux(det["metric"])]
    pred_metrics = sorted(m for m in aux["metric"].unique() if m.endswith(".prediction"))
    for m in pred_metrics:
        prefix = "" if len(pred_metrics) == 1 else m[: -len("prediction")]
        out.update({prefix + k: v for k, v in _prediction_metrics(aux[aux["metric"] == m]).items()})
    f1_metrics = sorted(m for m in aux["metric"].unique() if m.endswith("_f1"))
    for m, name in _strip_prefix(f1_metrics).items():
        out[name] = mean_metric(aux.loc[aux["metric"] == m, "value"].dropna(), bounds=(0.0, 1.0))

    sim = df[(df["family"] == "similarity") & (df["metric"] == "cosine")]
    if not sim.empty:
        out["mean_cosine"] = mean_metric(sim["value"].dropna(), bounds=(-1.0, 1.0))
        if sim["passed"].notna().any():
            sp = sim[sim["passed"].notna()]
            out["cosine_pass_rate"] = proportion_metric(sp["passed"].astype(bool), clusters=sp["sample_id"])

    for (fam, fam_metric), g in df[~df["family"].isin(["deterministic", "similarity"])].groupby(
        ["family", "metric"], sort=True
    ):
        if g["value"].notna().any():
            out[f"{fam}.{fam_metric}.mean"] = mean_metric(g["value"].dropna())
        if g["passed"].notna().any():
            gp = g[g["passed"].notna()]
            out[f"{fam}.{fam_metric}.pass_rate"] = proportion_metric(
                gp["passed"].astype(bool), clusters=gp["sample_id"]
            )

    out["infra_error_count"] = metric_value(len(infra_keys), n=len(keys))
    return out


def _pass_at_k_metrics(main: pd.DataFrame) -> dict[str, MetricValue]:
    """pass@1, pass@k and pass^k (k = fewest scored repeats of any sample) when every sample has >= 2 repeats."""
    per = _outcomes(main).groupby("sample_id")["ok"].agg(["size", "sum"])
    if per.empty or per["size"].min() < 2:
        return {}
    k = int(per["size"].min())
    at1 = [pass_at_k(int(n), int(c), 1) for n, c in zip(per["size"], per["sum"])]
    atk = [pass_at_k(int(n), int(c), k) for n, c in zip(per["size"], per["sum"])]
    hatk = [pass_hat_k(int(n), int(c), k) for n, c in zip(per["size"], per["sum"])]
    return {
        "pass_at_1": mean_metric(at1, bounds=(0.0, 1.0)),
        "pass_at_k": {**mean_metric(atk, bounds=(0.0, 1.0)), "k": k},
        "pass_hat_k": {**mean_metric(hatk, bounds=(0.0, 1.0)), "k": k},
    }


def _prediction_metrics(rows: pd.DataFrame) -> dict[str, MetricValue]:
    recs = [json.loads(r) for r in rows["reason"]]
    if not recs:
        return {}
    gold = [r["gold"] for r in recs]
    pred = [r["pred"] for r in recs]
    cls = classification_metrics(gold, pred)
    correct = [p == g for p, g in zip(pred, gold)]
    out = {
        "accuracy": proportion_metric(
            correct, clusters=list(rows["sample_id"]) if "sample_id" in rows else None
        ),
        "macro_f1": metric_value(cls["macro_f1"], n=cls["n"]),
    }
    conf = [(r["confidence"], ok) for r, ok in zip(recs, correct) if r.get("confidence") is not None]
    if conf:
        out["ece"] = metric_value(
            expected_calibration_error([c for c, _ in conf], [ok for _, ok in conf]), n=len(conf)
        )
    return out


def confusion_summary(scores: pd.DataFrame, top_n: int = 5) -> list[dict[str, Any]]:
    """Most confused (gold, predicted) label pairs from ``*.prediction`` rows (infra rows excluded)."""
    rows = scores[(scores["metric"].astype(str).str.endswith(".prediction")) & scores["infra_error"].isna()]
    recs = [json.loads(r) for r in rows["reason"]]
    summary = classification_metrics([r["gold"] for r in recs], [r["pred"] for r in recs], top_n)
    pairs: list[dict[str, Any]] = summary["confused_pairs"]
    return pairs


def metrics_by_eval_set(scores: pd.DataFrame) -> dict[str, dict[str, MetricValue]]:
    """:func:`eval_set_metrics` for each ``eval_set`` in the frame."""
    return {str(k): eval_set_metrics(g) for k, g in scores.groupby("eval_set", sort=True, dropna=False)}


# --------------------------------------------------------------------------------------------
# Human-readable summaries
# --------------------------------------------------------------------------------------------
def _cell(value: Any, n: int) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        s = ""
    else:
        s = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    s = re.sub(r"\s+", " ", s).strip()
    if len(s) > n:
        s = s[: n - 1] + "…"
    return s.replace("|", "\\|")


def top_failures(
    scores: pd.DataFrame, samples: pd.DataFrame | None = None, n: int = 10, excerpt_chars: int = 80
) -> str:
    """Markdown table of the worst failing (sample, repeat) pairs: id, input and output excerpts, reasons.

    Ranked by the number of failed checks, then the lowest score value. ``samples`` (optional)
    supplies ``input`` (or ``input_json``) and ``response_text`` by ``sample_id`` (and ``repeat`` if present).
    """
    fails = scores[(scores["passed"] == False) & scores["infra_error"].isna()]  # noqa: E712 - nullable boolean
    if fails.empty:
        return "No failures."
    fails = fails.assign(why=fails["metric"].astype(str) + ": " + fails["reason"].astype(str))
    agg = fails.groupby(["sample_id", "repeat"], as_index=False).agg(
        n_failed=("why", "size"), min_value=("value", "min"), reasons=("why", lambda s: "; ".join(s))
    )
    agg = agg.sort_values(
        ["n_failed", "min_value", "sample_id", "repeat"],
        ascending=[False, True, True, True],
        na_position="last",
    ).head(n)
    lookup: dict[tuple[Any, ...], dict[Hashable, Any]] = {}
    if samples is not None and not samples.empty:
        # only the rows of the listed samples (a 500-row frame's to_dict was most of this function's time)
        listed = samples[samples["sample_id"].astype(str).isin({str(x) for x in agg["sample_id"]})]
        for rec in listed.to_dict("records"):
            key = (
                (str(rec["sample_id"]), int(rec["repeat"]))
                if "repeat" in rec
                else (str(rec["sample_id"]), None)
            )
            lookup.setdefault(key, rec)
    lines = ["| sample_id | repeat | input | output | reason |", "|---|---|---|---|---|"]
    for r in agg.to_dict("records"):
        rec = (
            lookup.get((str(r["sample_id"]), int(r["repeat"])))
            or lookup.get((str(r["sample_id"]), None))
            or {}
        )
        inp = rec.get("input", rec.get("input_json"))
        lines.append(
            f"| {_cell(str(r['sample_id']), 60)} | {int(r['repeat'])} | {_cell(inp, excerpt_chars)} | "
            f"{_cell(rec.get('response_text'), excerpt_chars)} | {_cell(r['reasons'], 200)} |"
        )
    return "\n".join(lines)
