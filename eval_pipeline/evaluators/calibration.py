"""Judge calibration: how well does the LLM judge agree with human labels?

Stages:

1. **Data** - :func:`build_rating_samples` / :func:`build_pairwise_samples` read a
   human-labelled JSONL file (``../shared/datasets``), sample ``n`` rows deterministically
   (:func:`sample_records`: order by ``sha256(seed|id)``, stable under file reordering) and
   return the judge's input frame plus the human labels.
2. **Judge** - :func:`run_calibration` runs the suite's judge (its model and prompt, with the
   dataset's rubric) through the same ``execute`` provider path as production scoring.
3. **Metrics** - pure functions over arrays, wrapping scikit-learn / scipy:
   :func:`rating_agreement` (quadratic-weighted Cohen's kappa, Spearman, exact and
   within-one agreement) and :func:`pairwise_agreement` (accuracy, Cohen's kappa, position
   consistency, tie rate).
   Every agreement metric also gets a 95 % paired bootstrap interval (``scipy.stats.bootstrap``,
   percentile, 1000 resamples, fixed seed): ``<metric>_ci_low`` / ``<metric>_ci_high``;
   ``position_consistency`` a Wilson interval (statsmodels).
4. **Gate** - :func:`calibration_gate` compares the *lower bound* of each metric's interval with
   the suite's ``min_calibration`` (a point estimate of 0.82 from 20 items is not evidence of
   >= 0.8); below it, judge thresholds only warn. Entries without an interval (older files)
   fall back to the point estimate, and the reason says so.

Metric entries are keyed ``"<dataset>/<dimension>"`` for ratings and ``"<dataset>"`` for
pairwise sets; each is a flat ``{metric_name: value}`` dict whose names match the fields of
:class:`eval_pipeline.evaluators.judge.MinCalibration`.
"""
from __future__ import annotations

import hashlib
import json
import math
import statistics
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from eval_pipeline.evaluators.judge import (
    STATUS_OK,
    Executor,
    JudgeConfig,
    JudgeDimension,
    MinCalibration,
    PromptTemplate,
    judge_pairwise_verdicts,
    judge_pointwise_verdicts,
)

DEFAULT_DATA_DIR = Path(__file__).resolve().parents[2] / "data" / "calibration"


# --------------------------------------------------------------------------------------
# Dataset registry
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RatingSpec:
    """How a numeric-rating dataset maps onto a pointwise judge rubric."""

    response_field: str  # key of ``input`` holding the text that humans rated
    context_fields: tuple[str, ...]  # keys of ``input`` shown to the judge as the task
    reference_field: str | None  # key of ``input`` holding a reference answer, if any
    dimensions: tuple[JudgeDimension, ...]


RATING_DATASETS: dict[str, RatingSpec] = {
    "sf_dialogue_nlg_ratings": RatingSpec(
        response_field="system_output",
        context_fields=("dialogue_act",),
        reference_field="reference",
        dimensions=(
            JudgeDimension(name="informativeness", scale=(1, 6),
                           description="Does the utterance convey all the information in the dialogue act (and nothing false)?"),
            JudgeDimension(name="naturalness", scale=(1, 6),
                           description="Could a native speaker have said this? Fluent, grammatical, natural."),
            JudgeDimension(name="overall", scale=(1, 6), description="Overall quality of the system utterance."),
        ),
    ),
    "topicalchat_usr_response_ratings": RatingSpec(
        response_field="response",
        context_fields=("dialogue_history", "knowledge"),
        reference_field=None,
        dimensions=(
            JudgeDimension(name="naturalness", scale=(1, 3), description="Is the response natural, like a person would say?"),
            JudgeDimension(name="coherence", scale=(1, 3), description="Does the response follow coherently from the dialogue history?"),
            JudgeDimension(name="engagingness", scale=(1, 3), description="Is the response engaging and interesting?"),
            JudgeDimension(name="overall", scale=(1, 5), description="Overall quality of the response."),
        ),
    ),
}

PAIRWISE_DATASETS: dict[str, JudgeDimension] = {
    "llmbar_pairwise": JudgeDimension(
        name="instruction_following",
        description="Which output honestly and precisely executes the instruction? Prefer correctness and "
        "faithfulness to the instruction over style or length.",
    ),
    "human_preference_pairwise": JudgeDimension(
        name="overall_preference",
        description="Which output would an expert human prefer: more helpful, correct, relevant and clear?",
    ),
}


def dataset_name(path: str | Path) -> str:
    """Registry name of a dataset file (its stem), validated against the known datasets."""
    name = Path(path).name.removesuffix(".jsonl")
    if name not in RATING_DATASETS and name not in PAIRWISE_DATASETS:
        known = sorted([*RATING_DATASETS, *PAIRWISE_DATASETS])
        raise ValueError(f"{path}: unknown calibration dataset {name!r}; known: {known}")
    return name


# --------------------------------------------------------------------------------------
# 1. Data
# --------------------------------------------------------------------------------------
def load_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """Read a JSONL file; errors name the file and line."""
    path = Path(path)
    out = []
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{lineno}: invalid JSON ({exc.msg}); each line must be one JSON object") from None
            if not isinstance(rec, dict) or "id" not in rec:
                raise ValueError(f"{path}:{lineno}: expected an object with an 'id' field")
            rec["_line"] = lineno
            out.append(rec)
    return out


def sample_records(records: Sequence[dict[str, Any]], n: int | None, seed: int = 0) -> list[dict[str, Any]]:
    """Deterministic sample of ``n`` records: order by ``sha256(f"{seed}|{id}")``, take the first n.

    The result does not depend on the file's row order; ``n=None`` keeps all records.
    """
    ranked = sorted(records, key=lambda r: hashlib.sha256(f"{seed}|{r['id']}".encode()).hexdigest())
    return ranked if n is None else ranked[:n]


def _field(rec: dict[str, Any], key: str, path: Path) -> Any:
    inp = rec.get("input")
    if not isinstance(inp, dict) or key not in inp:
        raise ValueError(f"{path}:{rec.get('_line')}: input.{key} missing (record {rec.get('id')})")
    return inp[key]


def build_rating_samples(
    path: str | Path, n: int | None = 50, seed: int = 0
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Judge input frame and human ratings for a numeric-rating dataset.

    Returns ``(samples, human)``: ``samples`` has the judge's input columns (``sample_id,
    repeat, response_text, error_category, input, expected, metadata, category``);
    ``human`` is long: ``sample_id, dimension, human, scale_lo, scale_hi``.
    """
    path = Path(path)
    spec = RATING_DATASETS[dataset_name(path)]
    recs = sample_records(load_jsonl(path), n, seed)
    rows, human = [], []
    for rec in recs:
        context = {k: _field(rec, k, path) for k in spec.context_fields}
        ref = _field(rec, spec.reference_field, path) if spec.reference_field else None
        meta = rec.get("metadata") or {}
        rows.append({
            "sample_id": rec["id"], "repeat": 0, "response_text": _field(rec, spec.response_field, path),
            "error_category": None, "input": context, "expected": ref, "metadata": meta,
            "category": meta.get("category"),
        })
        expected = rec.get("expected")
        for d in spec.dimensions:
            if not isinstance(expected, dict) or not isinstance(expected.get(d.name), (int, float)):
                raise ValueError(f"{path}:{rec['_line']}: expected.{d.name} missing or not a number (record {rec['id']})")
            human.append({"sample_id": rec["id"], "dimension": d.name, "human": float(expected[d.name]),
                          "scale_lo": d.scale[0], "scale_hi": d.scale[1]})
    return pd.DataFrame(rows), pd.DataFrame(human, columns=["sample_id", "dimension", "human", "scale_lo", "scale_hi"])


def build_pairwise_samples(path: str | Path, n: int | None = 50, seed: int = 0) -> tuple[pd.DataFrame, pd.Series]:
    """Judge input frame (``response_text`` = output_1, ``baseline_text`` = output_2) and human labels.

    Human labels are a Series indexed by sample_id with values 1 (output_1 better) or 2.
    """
    path = Path(path)
    dataset_name(path)
    recs = sample_records(load_jsonl(path), n, seed)
    rows, labels = [], {}
    for rec in recs:
        if rec.get("expected") not in (1, 2):
            raise ValueError(f"{path}:{rec['_line']}: expected must be 1 or 2, got {rec.get('expected')!r} (record {rec['id']})")
        meta = rec.get("metadata") or {}
        rows.append({
            "sample_id": rec["id"], "repeat": 0, "response_text": _field(rec, "output_1", path),
            "baseline_text": _field(rec, "output_2", path), "error_category": None,
            "input": _field(rec, "instruction", path), "expected": None, "metadata": meta,
            "category": meta.get("category"),
        })
        labels[rec["id"]] = int(rec["expected"])
    return pd.DataFrame(rows), pd.Series(labels, name="human", dtype="int64")


def rating_judge_config(base: JudgeConfig, dataset: str) -> JudgeConfig:
    """The suite's judge (model, prompt, sampling, repeats) with the dataset's rubric."""
    spec = RATING_DATASETS[dataset]
    return base.model_copy(update={"mode": "pointwise", "dimensions": list(spec.dimensions),
                                   "use_reference": spec.reference_field is not None})


def pairwise_judge_config(base: JudgeConfig, dataset: str) -> JudgeConfig:
    """The suite's judge with the pairwise dataset's criterion (no reference answer)."""
    return base.model_copy(update={"mode": "pairwise", "dimensions": [PAIRWISE_DATASETS[dataset]], "use_reference": False})


# --------------------------------------------------------------------------------------
# 3. Pure metric functions (wrapping scikit-learn / scipy)
# --------------------------------------------------------------------------------------
BOOTSTRAP_RESAMPLES = 1000
CI_LEVEL = 0.95


def bootstrap_interval(statistic, *arrays: np.ndarray, n_resamples: int = BOOTSTRAP_RESAMPLES,
                       seed: int = 0, level: float = CI_LEVEL) -> tuple[float, float]:
    """Paired percentile bootstrap interval of ``statistic(*arrays)`` (``scipy.stats.bootstrap``).

    Resamples where the statistic is undefined (NaN, e.g. a constant resample for Spearman) are
    dropped; with more than 10 % of them, or fewer than 3 items, the interval is ``(nan, nan)``."""
    from scipy.stats import bootstrap

    if len(arrays[0]) < 3:
        return math.nan, math.nan
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = bootstrap(arrays, statistic, paired=True, vectorized=False, n_resamples=n_resamples,
                        method="percentile", confidence_level=level, random_state=np.random.default_rng(seed))
    dist = np.asarray(res.bootstrap_distribution, dtype=float)
    ok = dist[~np.isnan(dist)]
    if ok.size < 0.9 * dist.size:
        return math.nan, math.nan
    a = (1 - level) / 2
    return float(np.quantile(ok, a)), float(np.quantile(ok, 1 - a))


def _with_ci(out: dict[str, Any], name: str, interval: tuple[float, float]) -> None:
    lo, hi = interval
    out[f"{name}_ci_low"] = math.nan if math.isnan(lo) else lo
    out[f"{name}_ci_high"] = math.nan if math.isnan(hi) else hi

def round_half_up(values: Any) -> np.ndarray:
    """Round to the nearest integer, .5 upwards (numpy's default rounds half to even)."""
    return np.floor(np.asarray(values, dtype=float) + 0.5).astype(int)


def map_to_scale(values: Any, src: tuple[float, float], dst: tuple[float, float]) -> np.ndarray:
    """Linearly map values from scale ``src`` to ``dst`` (e.g. a 1-6 human mean to a 1-5 judge scale)."""
    v = np.asarray(values, dtype=float)
    (a, b), (c, d) = src, dst
    return c + (v - a) * (d - c) / (b - a)


def rating_agreement(
    human: Any, judge: Any, scale: tuple[int, int], human_scale: tuple[float, float] | None = None,
    ci: bool = True, seed: int = 0,
) -> dict[str, float]:
    """Agreement of judge scores with human ratings on an ordinal scale.

    ``human`` may be means over annotators (floats); they are mapped from ``human_scale`` to
    the judge ``scale`` (if given), then rounded half-up and clipped for the categorical
    metrics. Judge medians (possibly x.5) are rounded the same way.

    Returns ``n``, ``exact_agreement`` (share of rounded equal), ``agreement_within_one``
    (share with |difference| <= 1), ``weighted_kappa`` (sklearn ``cohen_kappa_score``,
    ``weights="quadratic"``, labels = the whole scale), ``spearman`` and ``spearman_p``
    (scipy ``spearmanr`` on the unrounded values), and for each of the four a 95 % paired
    bootstrap interval ``<name>_ci_low`` / ``<name>_ci_high`` (:func:`bootstrap_interval`; off
    with ``ci=False``). Undefined values (e.g. a constant input) are NaN.
    """
    from scipy.stats import spearmanr
    from sklearn.metrics import cohen_kappa_score

    h = np.asarray(human, dtype=float)
    j = np.asarray(judge, dtype=float)
    if h.shape != j.shape or h.ndim != 1:
        raise ValueError(f"human and judge must be 1-D arrays of equal length, got {h.shape} and {j.shape}")
    mask = ~(np.isnan(h) | np.isnan(j))
    h, j = h[mask], j[mask]
    if human_scale is not None and tuple(human_scale) != tuple(scale):
        h = map_to_scale(h, human_scale, scale)
    lo, hi = scale
    hr = np.clip(round_half_up(h), lo, hi)
    jr = np.clip(round_half_up(j), lo, hi)
    n = int(len(h))
    out = {"n": n, "exact_agreement": math.nan, "agreement_within_one": math.nan,
           "weighted_kappa": math.nan, "spearman": math.nan, "spearman_p": math.nan}
    names = ("exact_agreement", "agreement_within_one", "weighted_kappa", "spearman")
    if ci:
        for name in names:
            _with_ci(out, name, (math.nan, math.nan))
    if n == 0:
        return out
    labels = list(range(lo, hi + 1))

    def kappa(a, b):
        with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # undefined kappa (one label only) is reported as NaN
            return float(cohen_kappa_score(a, b, labels=labels, weights="quadratic"))

    def spearman(a, b):
        return float(spearmanr(a, b).statistic) if np.ptp(a) > 0 and np.ptp(b) > 0 else math.nan

    out["exact_agreement"] = float(np.mean(hr == jr))
    out["agreement_within_one"] = float(np.mean(np.abs(hr - jr) <= 1))
    out["weighted_kappa"] = kappa(hr, jr)
    if n >= 2 and np.ptp(h) > 0 and np.ptp(j) > 0:
        res = spearmanr(h, j)
        out["spearman"], out["spearman_p"] = float(res.statistic), float(res.pvalue)
    if ci:
        _with_ci(out, "exact_agreement", bootstrap_interval(lambda a, b: float(np.mean(a == b)), hr, jr, seed=seed))
        _with_ci(out, "agreement_within_one",
                 bootstrap_interval(lambda a, b: float(np.mean(np.abs(a - b) <= 1)), hr, jr, seed=seed))
        _with_ci(out, "weighted_kappa", bootstrap_interval(kappa, hr, jr, seed=seed))
        if not math.isnan(out["spearman"]):
            _with_ci(out, "spearman", bootstrap_interval(spearman, h, j, seed=seed))
    return out


TIE = 0  # pairwise label for "no preference"


def combine_orders(label_ab: Any, label_ba: Any) -> tuple[np.ndarray, np.ndarray]:
    """Final pairwise labels from both presentation orders.

    Inputs are per-order verdicts already expressed in the original numbering (1 = output_1,
    2 = output_2, 0 = tie). Where the orders disagree the final label is a tie. Returns
    ``(final, consistent)``.
    """
    ab = np.asarray(label_ab, dtype=int)
    ba = np.asarray(label_ba, dtype=int)
    consistent = ab == ba
    return np.where(consistent, ab, TIE), consistent


def pairwise_agreement(human: Any, final: Any, position_consistent: Any | None = None,
                       ci: bool = True, seed: int = 0) -> dict[str, float]:
    """Agreement of final pairwise verdicts (1, 2 or 0 = tie) with human labels (1 or 2).

    Returns ``n``, ``pairwise_accuracy`` (a tie counts as wrong), ``pairwise_accuracy_ties_half``
    (a tie counts half), ``pairwise_kappa`` (sklearn ``cohen_kappa_score`` over labels 1, 2, 0),
    ``tie_rate`` and ``position_consistency`` (share of judgements where both orders agreed;
    NaN if not given); with ``ci``, 95 % intervals ``<name>_ci_low`` / ``<name>_ci_high`` for
    accuracy and kappa (paired bootstrap, :func:`bootstrap_interval`) and position consistency
    (Wilson, statsmodels).
    """
    from sklearn.metrics import cohen_kappa_score

    h = np.asarray(human, dtype=int)
    f = np.asarray(final, dtype=int)
    if h.shape != f.shape:
        raise ValueError(f"human and final must have equal length, got {h.shape} and {f.shape}")
    n = int(len(h))
    out = {"n": n, "pairwise_accuracy": math.nan, "pairwise_accuracy_ties_half": math.nan,
           "pairwise_kappa": math.nan, "tie_rate": math.nan, "position_consistency": math.nan}
    if ci:
        for name in ("pairwise_accuracy", "pairwise_kappa", "position_consistency"):
            _with_ci(out, name, (math.nan, math.nan))
    if position_consistent is not None and len(position_consistent):
        pc = np.asarray(position_consistent, dtype=bool)
        out["position_consistency"] = float(np.mean(pc))
        if ci:
            from statsmodels.stats.proportion import proportion_confint

            _with_ci(out, "position_consistency", tuple(float(x) for x in proportion_confint(
                int(pc.sum()), len(pc), alpha=1 - CI_LEVEL, method="wilson")))
    if n == 0:
        return out
    correct = f == h
    ties = f == TIE
    out["pairwise_accuracy"] = float(np.mean(correct))
    out["pairwise_accuracy_ties_half"] = float(np.mean(correct + 0.5 * ties))
    out["tie_rate"] = float(np.mean(ties))
    def kappa(a, b):
        with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return float(cohen_kappa_score(a, b, labels=[1, 2, TIE]))

    out["pairwise_kappa"] = kappa(h, f)
    if ci:
        _with_ci(out, "pairwise_accuracy", bootstrap_interval(lambda a, b: float(np.mean(a == b)), h, f, seed=seed))
        _with_ci(out, "pairwise_kappa", bootstrap_interval(kappa, h, f, seed=seed))
    return out


def rating_metrics_from_frame(frame: pd.DataFrame, prefix: str = "") -> dict[str, dict[str, float]]:
    """Per-dimension :func:`rating_agreement` from a long frame.

    ``frame`` columns: ``dimension, human, judge, scale_lo, scale_hi`` (optionally
    ``human_scale_lo, human_scale_hi`` when humans used another scale). Used for both judge
    runs over shared datasets and ingested human-review files.
    """
    out: dict[str, dict[str, float]] = {}
    for dim, g in frame.groupby("dimension", sort=True):
        scale = (int(g["scale_lo"].iat[0]), int(g["scale_hi"].iat[0]))
        hs = None
        if "human_scale_lo" in g.columns and g["human_scale_lo"].notna().all():
            hs = (float(g["human_scale_lo"].iat[0]), float(g["human_scale_hi"].iat[0]))
        out[f"{prefix}{dim}"] = rating_agreement(g["human"].to_numpy(float), g["judge"].to_numpy(float), scale, hs)
    return out


# --------------------------------------------------------------------------------------
# 2. Running the judge over a dataset
# --------------------------------------------------------------------------------------
def rating_frame_from_verdicts(verdicts: pd.DataFrame, human: pd.DataFrame) -> pd.DataFrame:
    """Join judge medians (valid repeats only) with human ratings: one row per (sample, dimension)."""
    rows = []
    ok = verdicts[verdicts["status"] == STATUS_OK]
    medians: dict[tuple[str, str], float] = {}
    for sid, g in ok.groupby("sample_id"):
        dims = g["scores"].iat[0].keys()
        for d in dims:
            medians[(sid, d)] = float(statistics.median(s[d] for s in g["scores"]))
    for rec in human.itertuples(index=False):
        rows.append({**rec._asdict(), "judge": medians.get((rec.sample_id, rec.dimension), math.nan)})
    return pd.DataFrame(rows)


def pairwise_final_from_verdicts(verdicts: pd.DataFrame) -> tuple[pd.Series, list[bool]]:
    """Per-sample final label (1 / 2 / 0 tie) and the per-judgement position consistency.

    Per sample, the judge repeats' candidate-perspective outcomes (output_1 = candidate) are
    valued 1 / 0.5 / 0 and their median decides: 1 -> label 1, 0 -> label 2, else tie. This
    mirrors :func:`eval_pipeline.evaluators.judge.aggregate_pairwise`.
    """
    value_of = {"candidate": 1.0, "tie": 0.5, "baseline": 0.0}
    done = verdicts[verdicts["outcome"].notna()]
    final = {}
    for sid, g in done.groupby("sample_id"):
        med = statistics.median(value_of[o] for o in g["outcome"])
        final[sid] = 1 if med == 1.0 else 2 if med == 0.0 else TIE
    return pd.Series(final, dtype="int64"), [bool(c) for c in done["position_consistent"]]


@dataclass
class CalibrationResult:
    """Output of :func:`run_calibration`."""

    metrics: dict[str, dict[str, float]]  # "<dataset>/<dim>" or "<dataset>" -> metric dict
    verdicts: dict[str, pd.DataFrame] = field(default_factory=dict)  # dataset -> raw verdict frame
    frames: dict[str, pd.DataFrame] = field(default_factory=dict)  # dataset -> human/judge joined rows
    cost_usd: float = 0.0
    judge_failures: dict[str, dict[str, int]] = field(default_factory=dict)  # dataset -> status counts


def run_calibration(
    execute: Executor,
    judge_config: JudgeConfig,
    datasets: Sequence[str | Path],
    *,
    n: int | None = 50,
    seed: int = 0,
    data_dir: str | Path | None = None,
    prompt: PromptTemplate | None = None,
) -> CalibrationResult:
    """Run the suite's judge over human-labelled datasets and compute agreement metrics.

    ``datasets`` are file paths or registry names (resolved in ``data_dir``, default
    ``../shared/datasets``). ``prompt`` is the suite's custom template for the matching mode
    (None = built-in). Failed verdicts (unparseable, refusal, infra) are excluded from the
    metrics and counted in ``judge_failures``.
    """
    base_dir = Path(data_dir) if data_dir else DEFAULT_DATA_DIR
    result = CalibrationResult(metrics={})
    for ds in datasets:
        path = Path(ds)
        if not path.suffix:
            path = base_dir / f"{ds}.jsonl"
        name = dataset_name(path)
        if not path.is_file():
            raise FileNotFoundError(f"calibration dataset {path} not found; set data_dir or pass a full path")
        if name in RATING_DATASETS:
            cfg = rating_judge_config(judge_config, name)
            samples, human = build_rating_samples(path, n=n, seed=seed)
            verdicts = judge_pointwise_verdicts(samples, cfg, execute, prompt=prompt if prompt and judge_config.mode == "pointwise" else None)
            frame = rating_frame_from_verdicts(verdicts, human)
            result.metrics.update(rating_metrics_from_frame(frame, prefix=f"{name}/"))
            statuses = verdicts["status"].value_counts().to_dict()
        else:
            cfg = pairwise_judge_config(judge_config, name)
            samples, human_labels = build_pairwise_samples(path, n=n, seed=seed)
            verdicts = judge_pairwise_verdicts(samples, cfg, execute, prompt=prompt if prompt and judge_config.mode == "pairwise" else None)
            final, consistent = pairwise_final_from_verdicts(verdicts)
            frame = pd.DataFrame({"human": human_labels, "final": final}).dropna()
            frame.index.name = "sample_id"
            result.metrics[name] = pairwise_agreement(frame["human"].astype(int), frame["final"].astype(int), consistent)
            statuses = pd.concat([verdicts["status_ab"], verdicts["status_ba"]]).value_counts().to_dict()
        result.verdicts[name] = verdicts
        result.frames[name] = frame
        result.cost_usd += float(verdicts["cost_usd"].sum())
        result.judge_failures[name] = {str(k): int(v) for k, v in statuses.items() if k != STATUS_OK}
    return result


# --------------------------------------------------------------------------------------
# 4. Gate
# --------------------------------------------------------------------------------------
def calibration_gate(
    metrics: Mapping[str, Any], min_calibration: MinCalibration | Mapping[str, float] | None
) -> tuple[bool, list[str]]:
    """May judge thresholds block? ``(ok, reasons)``.

    ``metrics`` is either one flat metric dict or ``{entry: metric dict}``. Every metric set
    in ``min_calibration`` must be reported by at least one entry, and every entry that
    reports it must reach the minimum with the LOWER bound of its 95 % interval
    (``<metric>_ci_low``; NaN fails); an entry without an interval key is judged on its point
    estimate. With no ``min_calibration`` the judge may block: ``(True, [])``. ``reasons``
    explains each failure (entry, value, interval, minimum, n).
    """
    if min_calibration is None:
        return True, []
    required = (
        min_calibration.required() if isinstance(min_calibration, MinCalibration)
        else MinCalibration.model_validate(dict(min_calibration)).required()
    )
    if not required:
        return True, []
    entries: dict[str, Mapping[str, Any]]
    if metrics and all(isinstance(v, Mapping) for v in metrics.values()):
        entries = dict(metrics)
    else:
        entries = {"calibration": metrics}
    reasons: list[str] = []
    for metric, minimum in sorted(required.items()):
        reporting = {k: e[metric] for k, e in entries.items() if metric in e and e[metric] is not None}
        if not reporting:
            reasons.append(f"{metric}: no calibration result reports it (required >= {minimum:g}); run calibration on a dataset that measures it")
            continue
        for entry, value in sorted(reporting.items()):
            value = float(value)
            e = entries[entry]
            n = e.get("n")
            has_ci = f"{metric}_ci_low" in e
            lo = float(e[f"{metric}_ci_low"]) if has_ci and e[f"{metric}_ci_low"] is not None else math.nan
            decided = lo if has_ci else value
            if math.isnan(value) or math.isnan(decided) or decided < minimum:
                shown = "undefined (NaN)" if math.isnan(value) else f"{value:.3f}"
                note = ""
                if has_ci and not math.isnan(value):
                    hi = e.get(f"{metric}_ci_high")
                    shown += (f" [95% CI {lo:.3f}, {float(hi):.3f}]: lower bound {lo:.3f}" if not math.isnan(lo)
                              else " [95% CI undefined]: lower bound")
                elif not has_ci:
                    note = "; point estimate, no interval reported"
                reasons.append(f"{entry}: {metric} {shown} < required {minimum:g} (n={n}{note})")
    return (not reasons), reasons


def metrics_table(metrics: Mapping[str, Mapping[str, float]]) -> pd.DataFrame:
    """Calibration metrics as a table (one row per entry) for reports and asset metadata."""
    return pd.DataFrame([{"entry": k, **dict(v)} for k, v in sorted(metrics.items())])
