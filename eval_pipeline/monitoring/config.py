"""Glue for the daily online-monitoring assets (plain Python; the Dagster layer is ``defs/monitoring``).

One function per asset step, so each asset stays a few lines and every step is testable alone:

==================  ==========================================  ======================================
asset               here                                        warehouse output
==================  ==========================================  ======================================
traffic_sample      :func:`build_day_sample`, :func:`write_day_sample`  ``traffic_sample/date=<d>/data.parquet``,
                                                                ``reports/monitoring/date=<d>/malformed.json``
online_scores       :func:`score_invariants`, :func:`judge_sample`      ``online_scores/date=<d>/data.parquet``
feedback_metrics    :func:`day_metrics`, :func:`alert_outcomes`          ``monitoring_metrics/date=<d>/data.parquet``
traffic_drift       :func:`compute_drift`                       ``traffic_drift/date=<d>/data.parquet``,
                                                                ``reports/monitoring/date=<d>/drift.json``
shadow_comparison   :func:`shadow_model_requests`, :func:`run_shadow`    ``shadow_verdicts/date=<d>/data.parquet``,
                                                                ``reports/monitoring/date=<d>/shadow.json``
==================  ==========================================  ======================================

Configuration: ``data/monitoring.yaml`` (:class:`MonitoringConfig`, loaded by
:func:`load_monitoring_config`; a missing file means the defaults). Environment:

=============================  =====================================================================
``EVAL_TRAFFIC_PREFIX``        where production logs live (``<prefix>/date=YYYY-MM-DD/*.jsonl|parquet``):
                               a local folder or ``s3://`` URI; default ``<warehouse>/traffic``
``EVAL_TRAFFIC_SAMPLE_RATE``   overrides ``sample_rate``
``EVAL_TRAFFIC_SALT``          sampling salt (the variable's name is ``salt_env`` in the config)
``EVAL_MONITORING_CONFIG``     another config file instead of ``<data dir>/monitoring.yaml``
``EVAL_MONITORING_EMBEDDER``   ``minilm`` (default) or ``hashing`` (fast, not semantic: tests)
=============================  =====================================================================

Privacy: only the stored sample (hashes + redacted text, see :mod:`.sampling`) is ever written;
every later step reads that sample, so raw production text never reaches the warehouse, the
response store or a model other than the one that served it.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import date as date_type, timedelta
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .feedback import AlertThresholds, MetricValue, evaluate_thresholds, feedback_metrics, p99_latency_ratio, safety_violation_rate
from .pii import RedactionConfig, Redactor
from .sampling import build_stored_sample
from .schema import SAMPLE_COLUMNS
from .traffic import read_traffic_day

CONFIG_FILE = "monitoring.yaml"
CONFIG_ENV = "EVAL_MONITORING_CONFIG"
TRAFFIC_PREFIX_ENV = "EVAL_TRAFFIC_PREFIX"
SAMPLE_RATE_ENV = "EVAL_TRAFFIC_SAMPLE_RATE"
EMBEDDER_ENV = "EVAL_MONITORING_EMBEDDER"

SAMPLE_TABLE = "traffic_sample"
SCORES_TABLE = "online_scores"
METRICS_TABLE = "monitoring_metrics"
DRIFT_TABLE = "traffic_drift"
SHADOW_TABLE = "shadow_verdicts"
REPORT_PREFIX = "reports/monitoring"
ONLINE_SUITE = "online"
ALL_VERSIONS = "__all__"

# Check types that compare with a reference answer: production traffic has none.
REFERENCE_CHECK_TYPES = ("exact_match", "json_fields_match", "rouge_l", "bleu")


# ------------------------------------------------------------------------------------------ config


class DebounceConfig(BaseModel):
    """An alert fires when its level was reached on at least ``k`` of the last ``m`` days (today included).
    ``critical_immediate``: a critical level fires on the first day."""

    model_config = ConfigDict(extra="forbid")
    k: int = Field(2, ge=1)
    m: int = Field(3, ge=1)
    critical_immediate: bool = True


class DriftConfig(BaseModel):
    """Drift features: input-length quantile bins, category mix, k-means clusters of input embeddings."""

    model_config = ConfigDict(extra="forbid")
    length_bins: int = Field(10, ge=2, le=100)
    embedding_clusters: int = Field(8, ge=2, le=64)
    max_texts: int = Field(2000, ge=50, description="texts embedded per side (deterministic subsample)")
    embeddings: bool = True


class ShadowConfig(BaseModel):
    """Shadow comparison of a candidate model version on the day's sampled (redacted) inputs."""

    model_config = ConfigDict(extra="forbid")
    candidate_model_version: str | None = Field(None, description="registry name in data/models.yaml; null = off")
    task: str = Field("answer_faq", description="prompt task of the candidate used for every input")
    tasks: dict[str, str] = Field(default_factory=dict, description="prompt_template -> task overrides")
    judge: dict[str, Any] | None = Field(None, description="pairwise judge config (mode: pairwise, use_reference: false)")
    max_samples: int = Field(100, ge=1)
    min_n: int = Field(30, ge=1, description="fewer judged requests -> verdict inconclusive")


class MonitoringConfig(BaseModel):
    """``data/monitoring.yaml``. Every key is optional; unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")
    sample_rate: float = Field(0.1, ge=0.0, le=1.0)
    salt_env: str = Field("EVAL_TRAFFIC_SALT", description="environment variable holding the sampling salt")
    input_salt_env: str = Field("EVAL_TRAFFIC_INPUT_SALT", description="environment variable salting input hashes")
    redaction: RedactionConfig = Field(default_factory=RedactionConfig)
    thresholds: AlertThresholds = Field(default_factory=AlertThresholds)
    debounce: DebounceConfig = Field(default_factory=DebounceConfig)
    invariants: dict[str, list[dict[str, Any]]] = Field(
        default_factory=dict, description="prompt_template (or '*' for all) -> deterministic check specs")
    safety_metrics: list[str] = Field(default_factory=list, description="invariant names counted as safety violations")
    judge: dict[str, Any] | None = Field(None, description="pointwise judge rubric without reference (optional)")
    judge_max_samples: int = Field(50, ge=1)
    reference_window_days: int = Field(7, ge=1, le=90)
    drift: DriftConfig = Field(default_factory=DriftConfig)
    shadow: ShadowConfig = Field(default_factory=ShadowConfig)

    # filled by load_monitoring_config
    file: str = Field("<defaults>", exclude=True)
    base_dir: str = Field(".", exclude=True)

    def effective_rate(self) -> float:
        """``EVAL_TRAFFIC_SAMPLE_RATE`` if set, else ``sample_rate``."""
        raw = os.environ.get(SAMPLE_RATE_ENV)
        if raw in (None, ""):
            return self.sample_rate
        try:
            rate = float(raw)
        except ValueError:
            raise ValueError(f"{SAMPLE_RATE_ENV}={raw!r} is not a number; use e.g. 0.1 for 10%") from None
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"{SAMPLE_RATE_ENV}={raw!r} must be within [0, 1]")
        return rate

    def salt(self) -> str:
        return os.environ.get(self.salt_env, "")

    def input_salt(self) -> str:
        return os.environ.get(self.input_salt_env, "")

    def checks_for(self, template: str) -> list:
        """Built checks for one prompt template (its own list, else the ``'*'`` list)."""
        from eval_pipeline.evaluators.deterministic import validate_check_specs

        specs = self.invariants.get(template, self.invariants.get("*"))
        if not specs:
            return []
        key = template if template in self.invariants else "*"
        return validate_check_specs(specs, f"{self.file}: invariants.{key}", base_dir=self.base_dir)

    def judge_config(self):
        from eval_pipeline.evaluators.judge import validate_judge_config

        return validate_judge_config(self.judge, "judge") if self.judge else None

    def shadow_judge_config(self):
        from eval_pipeline.evaluators.judge import validate_judge_config

        return validate_judge_config(self.shadow.judge, "shadow.judge") if self.shadow.judge else None


def _key_path(loc: Sequence[Any]) -> str:
    out = ""
    for p in loc:
        out += f"[{p}]" if isinstance(p, int) else ("." if out else "") + str(p)
    return out


def config_path(data_dir: str | Path | None = None) -> Path:
    """``EVAL_MONITORING_CONFIG`` if set, else ``<data dir>/monitoring.yaml``."""
    from eval_pipeline.paths import data_dir as default_data_dir

    env = os.environ.get(CONFIG_ENV)
    if env:
        return Path(env)
    return Path(data_dir or default_data_dir()) / CONFIG_FILE


def load_monitoring_config(data_dir: str | Path | None = None) -> MonitoringConfig:
    """Load and fully validate the monitoring config (check specs and judge configs included).

    A missing ``<data dir>/monitoring.yaml`` means the defaults; a missing ``EVAL_MONITORING_CONFIG``
    file is an error. Errors are :class:`eval_pipeline.config.ConfigError` naming file and key path.
    """
    from eval_pipeline.config import ConfigError

    path = config_path(data_dir)
    if not path.exists():
        if os.environ.get(CONFIG_ENV):
            raise ConfigError(path, "", f"file not found (set by {CONFIG_ENV}); unset it to use <data dir>/{CONFIG_FILE}")
        return MonitoringConfig(file=str(path), base_dir=str(path.parent))
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(path, "", f"not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(path, "", f"must be a mapping of keys (sample_rate, thresholds, ...), got {type(raw).__name__}")
    for k in ("file", "base_dir"):
        if k in raw:
            raise ConfigError(path, k, "unknown key (check the spelling; see the README 'Online monitoring' section)")
    try:
        cfg = MonitoringConfig.model_validate({**raw, "file": str(path), "base_dir": str(path.parent)})
    except ValidationError as exc:
        errs = exc.errors()
        err = next((e for e in errs if e["type"] == "extra_forbidden"), errs[0])  # a typo explains the rest
        msg = "unknown key (check the spelling; see the README 'Online monitoring' section)" \
            if err["type"] == "extra_forbidden" else err["msg"]
        raise ConfigError(path, _key_path(err["loc"]), msg) from None
    _validate_semantics(cfg, path)
    return cfg


def _validate_semantics(cfg: MonitoringConfig, path: Path) -> None:
    from eval_pipeline.config import ConfigError
    from eval_pipeline.evaluators.deterministic import validate_check_specs

    names: set[str] = set()
    for tpl, specs in cfg.invariants.items():
        for i, spec in enumerate(specs):
            ctype = spec.get("type") if isinstance(spec, dict) else None
            if ctype in REFERENCE_CHECK_TYPES or (ctype == "label_in_set" and "labels" not in spec):
                raise ConfigError(path, f"invariants.{tpl}[{i}].type",
                                  f"{ctype!r} needs a reference answer, which production traffic does not have; "
                                  "use reference-free checks (valid_json, json_schema, regex, forbidden_phrases, "
                                  "length, contains_*, label_in_set with labels: [...], custom)")
        try:
            checks = validate_check_specs(specs, f"invariants.{tpl}", base_dir=path.parent)
        except ValueError as exc:
            raise ConfigError(path, "", str(exc)) from None
        names |= {c.name for c in checks}
    for i, m in enumerate(cfg.safety_metrics):
        if m not in names:
            raise ConfigError(path, f"safety_metrics[{i}]", f"{m!r} is not the name of any invariant; known: {sorted(names)}")
    for key, block, mode in (("judge", cfg.judge, "pointwise"), ("shadow.judge", cfg.shadow.judge, "pairwise")):
        if block is None:
            continue
        from eval_pipeline.evaluators.judge import validate_judge_config

        try:
            jc = validate_judge_config(block, key)
        except ValueError as exc:
            raise ConfigError(path, "", str(exc)) from None
        if jc.mode != mode:
            raise ConfigError(path, f"{key}.mode", f"must be {mode!r} here")
        if jc.use_reference:
            raise ConfigError(path, f"{key}.use_reference", "must be false: production traffic has no reference answer")
    if cfg.shadow.candidate_model_version and not cfg.shadow.judge:
        raise ConfigError(path, "shadow.judge", "a shadow candidate needs a pairwise judge config (mode: pairwise)")


# ---------------------------------------------------------------------------------- traffic sample


@dataclass
class TrafficLocation:
    """Where the production logs are read from: a key prefix inside the warehouse, or a path/URI."""

    prefix: str
    in_warehouse: bool
    display: str


def traffic_location(wh: Any) -> TrafficLocation:
    """``EVAL_TRAFFIC_PREFIX`` (a prefix under the warehouse root is read through the warehouse, so
    S3 endpoints and credentials apply), else ``<warehouse>/traffic``."""
    env = (os.environ.get(TRAFFIC_PREFIX_ENV) or "").rstrip("/")
    root = wh.root.rstrip("/")
    if not env:
        return TrafficLocation("traffic", True, f"{root}/traffic")
    norm = env if "://" in env else os.path.abspath(env)
    if norm == root or norm.startswith(root + "/"):
        return TrafficLocation(norm[len(root):].strip("/"), True, norm)
    return TrafficLocation(norm, False, norm)


@dataclass
class DaySample:
    """The stored (sampled, redacted) sample of one day and what was wrong with the logs."""

    day: str
    sample: pd.DataFrame  # SAMPLE_COLUMNS
    errors: list[dict[str, Any]]  # {file, line, error}, messages redacted
    n_read: int
    rate: float
    location: str


def build_day_sample(wh: Any, day: str, cfg: MonitoringConfig) -> DaySample:
    """Read one day of logs, sample deterministically, redact PII. Raw text stays in memory only."""
    loc = traffic_location(wh)
    if loc.in_warehouse:
        frame, errors = read_traffic_day(loc.prefix, day, warehouse=wh)
    else:
        frame, errors = read_traffic_day(loc.prefix, day)
    redactor = Redactor(cfg.redaction)
    rate = cfg.effective_rate()
    if len(frame):
        sample = build_stored_sample(frame, rate, cfg.salt(), redactor, input_salt=cfg.input_salt())
    else:  # an empty day still writes its (empty, typed) partition
        sample = empty_sample()
    n_read = len(frame)
    del frame
    sample["date"] = day  # the partition decides the day (late events stay with the file's day)
    if errors:  # error texts are ours, but never let a log line's content through unredacted
        red, _ = redactor.redact_series([e["error"] for e in errors])
        errors = [{**e, "error": r} for e, r in zip(errors, red)]
    return DaySample(day, sample, errors, n_read, rate, loc.display)


def write_day_sample(wh: Any, ds: DaySample) -> dict[str, str]:
    """Write the stored sample (always, even empty) and the full malformed-line list; returns URIs."""
    uri = wh.write_table(SAMPLE_TABLE, ds.sample, {"date": ds.day})
    payload = {"day": ds.day, "location": ds.location, "n_read": ds.n_read, "n_malformed": len(ds.errors),
               "errors": ds.errors}
    err_uri = wh.write_bytes(f"{REPORT_PREFIX}/date={ds.day}/malformed.json",
                             json.dumps(payload, indent=1, default=str).encode("utf-8"), content_type="application/json")
    return {"sample": uri, "malformed": err_uri}


_SAMPLE_DTYPES = {"input_chars": "int64", "output_chars": "int64", "latency_s": "float64", "ttft_s": "float64",
                  "input_tokens": "int64", "output_tokens": "int64", "synthetic": "bool", "n_feedback_events": "int64",
                  "pii_redactions": "int64", "timestamp": "datetime64[ns, UTC]"}


def empty_sample() -> pd.DataFrame:
    """A zero-row stored sample with the column types of a real one (strings as str)."""
    from .schema import FEEDBACK_TYPES

    dtypes = {**_SAMPLE_DTYPES, **{f"fb_{t}": "bool" for t in FEEDBACK_TYPES}}
    return pd.DataFrame({c: pd.Series([], dtype=dtypes.get(c, "str")) for c in SAMPLE_COLUMNS})


def read_sample(wh: Any, day: str) -> pd.DataFrame:
    """The stored sample of ``day`` (empty frame if the partition was never written)."""
    df = wh.read_table(SAMPLE_TABLE, {"date": day})
    return df if len(df.columns) else empty_sample()


def previous_days(day: str, n: int) -> list[str]:
    """The ``n`` dates before ``day``, oldest first."""
    d = date_type.fromisoformat(day)
    return [(d - timedelta(days=i)).isoformat() for i in range(n, 0, -1)]


def reference_dates(wh: Any, table: str, day: str, n: int) -> list[str]:
    """Dates of the ``n``-day window before ``day`` that have a partition of ``table``."""
    have = {p.get("date") for p in wh.list_partitions(table)}
    return [d for d in previous_days(day, n) if d in have]


def read_window(wh: Any, table: str, dates: Sequence[str]) -> pd.DataFrame:
    frames = [wh.read_table(table, {"date": d}) for d in dates]
    frames = [f for f in frames if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


# ------------------------------------------------------------------------------------ online scores


def graded_frame(sample: pd.DataFrame) -> pd.DataFrame:
    """The stored sample in the evaluators' graded-samples shape (no reference answer)."""
    return pd.DataFrame({
        "sample_id": sample["request_id"].astype(str).to_numpy(),
        "repeat": np.zeros(len(sample), dtype=int),
        "response_text": sample["output_redacted"].astype(object).to_numpy(),
        "error_category": [None] * len(sample),
        "input": sample["input_redacted"].astype(object).to_numpy(),
        "expected": [None] * len(sample),
        "metadata": [{"prompt_template": t, "model_version": m} for t, m in zip(sample["prompt_template"], sample["model_version"])],
        "category": sample["category"].astype(object).to_numpy(),
        "model_version": sample["model_version"].astype(str).to_numpy(),
        "prompt_template": sample["prompt_template"].astype(str).to_numpy(),
    })


def score_invariants(sample: pd.DataFrame, cfg: MonitoringConfig, day: str) -> pd.DataFrame:
    """Deterministic invariants per prompt template -> long-format scores (``SCORE_COLUMNS``;
    ``suite="online"``, ``eval_set=<prompt_template>``, ``model_version`` from the row)."""
    from eval_pipeline.evaluators.deterministic import score_deterministic
    from eval_pipeline.scoring import empty_scores

    if sample.empty or not cfg.invariants:
        return empty_scores()
    g = graded_frame(sample)
    frames = []
    for (tpl, mv), part in g.groupby(["prompt_template", "model_version"], sort=True):
        checks = cfg.checks_for(str(tpl))
        if checks:
            frames.append(score_deterministic(part.reset_index(drop=True), checks, date=day, model_version=str(mv),
                                              suite=ONLINE_SUITE, eval_set=str(tpl)))
    return pd.concat(frames, ignore_index=True) if frames else empty_scores()


def judge_subsample(sample: pd.DataFrame, n: int) -> pd.DataFrame:
    """At most ``n`` rows, chosen by request id hash (stable across reruns)."""
    if len(sample) <= n:
        return sample
    from .sampling import unit_hashes

    order = np.argsort(unit_hashes(sample["request_id"], "judge"), kind="stable")[:n]
    return sample.iloc[np.sort(order)].reset_index(drop=True)


def judge_sample(sample: pd.DataFrame, cfg: MonitoringConfig, day: str, execute: Callable) -> pd.DataFrame:
    """Pointwise judge rubric (no reference) on a stable subsample -> long-format judge scores."""
    from eval_pipeline.evaluators import judge
    from eval_pipeline.scoring import empty_scores

    jc = cfg.judge_config()
    if jc is None or sample.empty:
        return empty_scores()
    prompt = judge.load_prompt(jc, base_dir=cfg.base_dir)
    g = graded_frame(judge_subsample(sample, cfg.judge_max_samples))
    frames = []
    for (tpl, mv), part in g.groupby(["prompt_template", "model_version"], sort=True):
        keys = {"date": day, "model_version": str(mv), "suite": ONLINE_SUITE, "eval_set": str(tpl)}
        rows, _ = judge.score(part.reset_index(drop=True), jc, execute, prompt=prompt, keys=keys)
        frames.append(rows)
    return pd.concat(frames, ignore_index=True) if frames else empty_scores()


def pass_rate(scores: pd.DataFrame) -> tuple[float, int]:
    """Share of passed verdicts among scored invariant rows (``nan`` when none)."""
    if scores is None or scores.empty:
        return float("nan"), 0
    s = scores[scores["passed"].notna()]
    if "infra_error" in s.columns:
        s = s[s["infra_error"].isna()]
    if s.empty:
        return float("nan"), 0
    return float(s["passed"].astype(bool).mean()), int(len(s))


# ------------------------------------------------------------------------------- feedback + alerts


def day_metrics(sample: pd.DataFrame, scores: pd.DataFrame, cfg: MonitoringConfig,
                reference: pd.DataFrame | None) -> tuple[dict[str, Any], dict[str, str]]:
    """Feedback metrics (Wilson intervals), safety violation rate, p99 latency vs the reference window.

    Returns ``(metrics, notes)``; ``notes`` says why a metric is missing (no data is not "ok")."""
    notes: dict[str, str] = {}
    if sample.empty:
        return {}, {"all": "no sampled traffic today"}
    metrics: dict[str, Any] = dict(feedback_metrics(sample))
    if cfg.safety_metrics:
        if scores is not None and len(scores):
            metrics["safety_violation_rate"] = safety_violation_rate(scores, cfg.safety_metrics)
        else:
            notes["safety_violation_rate"] = "no invariant scores today"
    else:
        notes["safety_violation_rate"] = "no safety_metrics configured in monitoring.yaml"
    if reference is not None and len(reference) and "latency_s" in reference:
        base = float(np.nanquantile(pd.to_numeric(reference["latency_s"], errors="coerce").to_numpy(dtype=float), 0.99))
        if base > 0:
            metrics["p99_latency_ratio"] = p99_latency_ratio(sample["latency_s"], base)
            notes["p99_latency_ratio"] = f"baseline p99 {base:.3f}s over {len(reference)} reference requests"
    else:
        notes["p99_latency_ratio"] = "no reference window yet (first day): latency baseline unknown"
    return metrics, notes


def metrics_frame(sample: pd.DataFrame, scores: pd.DataFrame, cfg: MonitoringConfig,
                  reference: pd.DataFrame | None, day: str) -> tuple[pd.DataFrame, dict[str, Any], dict[str, str]]:
    """Long rows for ``monitoring_metrics``: all traffic (``model_version="__all__"``) and per version."""
    from .feedback import metrics_long

    metrics, notes = day_metrics(sample, scores, cfg, reference)
    frames = [metrics_long(metrics, day, ALL_VERSIONS)]
    if len(sample) and sample["model_version"].nunique() > 1:
        for mv, part in sample.groupby("model_version", sort=True):
            ref = reference[reference["model_version"] == mv] if reference is not None and len(reference) else None
            sc = scores[scores["model_version"] == mv] if scores is not None and len(scores) else scores
            m, _ = day_metrics(part, sc, cfg, ref)
            frames.append(metrics_long(m, day, str(mv)))
    return pd.concat(frames, ignore_index=True), metrics, notes


def metrics_by_day(history: pd.DataFrame, model_version: str = ALL_VERSIONS) -> dict[str, dict[str, dict[str, float]]]:
    """``monitoring_metrics`` rows -> ``{date: {metric: {value, ci_low, ci_high, count, nobs}}}``."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    if history is None or history.empty:
        return out
    h = history[history["model_version"] == model_version]
    for r in h.to_dict("records"):
        out.setdefault(str(r["date"]), {})[r["metric"]] = {k: r[k] for k in ("value", "ci_low", "ci_high", "count", "nobs")}
    return out


ALERT_COLUMNS = ["metric", "value", "ci_low", "ci_high", "n", "level_today", "days_at_level", "firing", "message"]


def alert_outcomes(today: Mapping[str, Any], previous: Sequence[Mapping[str, Any]], cfg: MonitoringConfig) -> pd.DataFrame:
    """Threshold levels today, debounced over the previous days (history's ``debounce``).

    ``previous`` holds the metrics of the ``debounce.m - 1`` days before today (oldest first, ``{}``
    for a day without data). ``firing`` is ``critical`` / ``warn`` / ``none``: a warn fires when at
    least ``k`` of the last ``m`` days were at warn or worse; a critical fires at once when
    ``critical_immediate`` (else like a warn, with critical days counted).
    """
    from eval_pipeline.history.control_charts import debounce

    d = cfg.debounce
    m = max(d.m, d.k)
    past = list(previous)[-(m - 1):] if m > 1 else []
    past_levels = [{a.metric: a.level for a in evaluate_thresholds(p, cfg.thresholds)} for p in past]
    rows = []
    for a in evaluate_thresholds(today, cfg.thresholds):
        warn_flags = [lv.get(a.metric) in ("warn", "critical") for lv in past_levels] + [a.level in ("warn", "critical")]
        crit_flags = [lv.get(a.metric) == "critical" for lv in past_levels] + [a.level == "critical"]
        sustained_warn = bool(debounce(warn_flags, d.k, m)[-1])
        sustained_crit = bool(debounce(crit_flags, d.k, m)[-1])
        if a.level == "critical" and (d.critical_immediate or sustained_crit):
            firing = "critical"
        elif a.level in ("warn", "critical") and sustained_warn:
            firing = "warn"
        else:
            firing = "none"
        n_at = int(sum(warn_flags[-m:]))
        msg = a.message
        if a.level != "ok" and firing == "none":
            msg += f" (not sustained: {n_at} of the last {m} days at warn or worse, needs {d.k})"
        rows.append({"metric": a.metric, "value": a.value, "ci_low": a.ci_low, "ci_high": a.ci_high, "n": a.n,
                     "level_today": a.level,
                     "days_at_level": f"{n_at}/{m}", "firing": firing, "message": msg})
    return pd.DataFrame(rows, columns=ALERT_COLUMNS)


def control_chart(history: pd.DataFrame, today: Mapping[str, Any], day: str, metric: str) -> pd.DataFrame:
    """p-chart of a proportion metric over the reference window + today (history's ``p_chart``);
    the reference days set the center line."""
    from eval_pipeline.history.control_charts import p_chart

    by_day = metrics_by_day(history)
    days = sorted(by_day)
    xs, k, n = [], [], []
    for dd in days:
        v = by_day[dd].get(metric)
        if v and v.get("nobs"):
            xs.append(dd)
            k.append(float(v["count"]))
            n.append(int(v["nobs"]))
    ref_points = len(xs)
    t = today.get(metric)
    if isinstance(t, MetricValue) and t.nobs:
        xs.append(day)
        k.append(t.count)
        n.append(t.nobs)
    if not ref_points or len(xs) == ref_points:
        return pd.DataFrame()
    return p_chart(k, n, baseline=ref_points, x=xs)


# ------------------------------------------------------------------------------------------- drift


def embedder(kind: str | None = None, scorer_factory: Callable[[], Any] | None = None) -> tuple[Callable, str]:
    """``(embed_fn, name)``: MiniLM through ``scorer_factory()`` (a SimilarityScorer, cached) or the
    hashing embedder when ``EVAL_MONITORING_EMBEDDER=hashing``."""
    from .drift import hashing_embedder, minilm_embedder

    kind = (kind or os.environ.get(EMBEDDER_ENV) or "minilm").lower()
    if kind == "hashing":
        return hashing_embedder(), "hashing (char n-grams; not semantic)"
    if kind != "minilm":
        raise ValueError(f"{EMBEDDER_ENV}={kind!r}: use 'minilm' or 'hashing'")
    if scorer_factory is None:
        return minilm_embedder(), "all-MiniLM-L6-v2"
    state: dict[str, Any] = {}

    def embed(texts: Sequence[str]) -> np.ndarray:
        if "s" not in state:
            state["s"] = scorer_factory()
        return np.asarray(state["s"].embed([str(t) for t in texts], persist=True), dtype=np.float32)

    return embed, "all-MiniLM-L6-v2"


@dataclass
class DriftOutcome:
    """Drift of today vs the reference window, next to quality."""

    status: str  # "ok" | "no_reference" | "no_traffic"
    message: str
    results: list = field(default_factory=list)  # DriftResult
    report: pd.DataFrame = field(default_factory=pd.DataFrame)
    divergence: Any = None
    reference_dates: list[str] = field(default_factory=list)

    @property
    def significant(self) -> list:
        return [r for r in self.results if r.level == "significant"]

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status, "message": self.message, "reference_dates": self.reference_dates,
            "drift": [{**r.to_dict(), "bins": r.table.to_dict("records")} for r in self.results],
            "divergence": None if self.divergence is None else {
                "flagged": self.divergence.flagged, "automated_change": self.divergence.automated_change,
                "behavioural_change": self.divergence.behavioural_change, "message": self.divergence.message},
            "report": self.report.replace({np.nan: None}).to_dict("records"),
        }


def compute_drift(today: pd.DataFrame, reference: pd.DataFrame, ref_dates: list[str], cfg: MonitoringConfig,
                  embed_fn: Callable | None, quality: Mapping[str, tuple[float, float]] | None = None,
                  behaviour: Mapping[str, tuple[float, float]] | None = None) -> DriftOutcome:
    """PSI/KL for input length, category mix and (if ``embed_fn``) embedding clusters; the
    drift-next-to-quality report and the divergence flag. ``quality``/``behaviour`` map a metric
    to ``(today, reference)``, higher is better; NaN pairs are left out."""
    from .drift import category_drift, divergence_flag, drift_quality_report, embedding_cluster_drift, input_length_drift

    if today.empty:
        return DriftOutcome("no_traffic", "no sampled traffic today: nothing to compare", reference_dates=ref_dates)
    if reference is None or reference.empty:
        return DriftOutcome("no_reference", f"no reference: no stored samples in the {cfg.reference_window_days} "
                            "days before this date (first day, or earlier days not materialized yet). Drift starts "
                            "from the next day.", reference_dates=ref_dates)
    dc = cfg.drift
    results = [
        input_length_drift(reference["input_chars"], today["input_chars"], n_bins=dc.length_bins),
        category_drift(reference["category"], today["category"]),
    ]
    if embed_fn is not None and dc.embeddings:
        results.append(embedding_cluster_drift(reference["input_redacted"].astype(str).tolist(),
                                               today["input_redacted"].astype(str).tolist(), embed_fn,
                                               k=dc.embedding_clusters, max_texts=dc.max_texts))

    def clean(d):
        return {k: v for k, v in (d or {}).items() if not any(pd.isna(x) for x in v)}

    quality, behaviour = clean(quality), clean(behaviour)
    div = None
    if quality and behaviour:
        (qa, qr), (ba, br) = next(iter(quality.values())), next(iter(behaviour.values()))
        div = divergence_flag(qa, qr, ba, br)
    report = drift_quality_report(results, quality, behaviour, divergence=div)
    sig = [r.feature for r in results if r.level == "significant"]
    msg = (f"significant drift in {', '.join(sig)}" if sig else "no significant drift") + \
        f" vs {len(ref_dates)} reference day(s) ({len(reference)} requests)"
    return DriftOutcome("ok", msg, results, report, div, ref_dates)


# ------------------------------------------------------------------------------------------ shadow


def shadow_model_requests(sample: pd.DataFrame, mv: Any, sc: ShadowConfig, day: str) -> list:
    """One request per sampled (redacted) input, rendered with the candidate's prompt for the task."""
    from eval_pipeline.inference.types import ModelRequest
    from eval_pipeline.prompts import render

    params = mv.params.api_params()
    out, templates = [], {}
    for rid, tpl, text in zip(sample["request_id"].astype(str), sample["prompt_template"].astype(str),
                              sample["input_redacted"].astype(str)):
        task = sc.tasks.get(tpl, sc.task)
        if task not in templates:
            templates[task] = mv.prompt_template(task)
        system, user = render(templates[task], {"input": text, "metadata": {}, "sample_id": rid, "labels": []},
                              f"shadow prompt {task} of {mv.name}")
        out.append(ModelRequest(sample_id=rid, model=mv.model, messages=[{"role": "user", "content": user}],
                                system=system, params=params, epoch=f"shadow:{day}"))
    return out


@dataclass
class ShadowOutcome:
    status: str  # "skipped" | "ok"
    message: str
    pairs: pd.DataFrame = field(default_factory=pd.DataFrame)
    verdicts: pd.DataFrame = field(default_factory=pd.DataFrame)
    win_rates: pd.DataFrame = field(default_factory=pd.DataFrame)
    decision: dict[str, Any] = field(default_factory=dict)
    cost_usd: float = 0.0


def run_shadow(sample: pd.DataFrame, mv: Any, cfg: MonitoringConfig, day: str,
               answer: Callable[[list], list], judge_execute: Callable) -> ShadowOutcome:
    """Candidate answers the sampled inputs (``answer(requests) -> responses``), the pairwise judge
    compares with production outputs in both orders, win rates with Wilson intervals per category."""
    from eval_pipeline.evaluators import judge

    from .shadow import build_shadow_pairs, shadow_decision, shadow_win_rates

    sc = cfg.shadow
    sub = judge_subsample(sample, sc.max_samples)
    if sub.empty:
        return ShadowOutcome("skipped", "no sampled traffic today")
    responses = answer(shadow_model_requests(sub, mv, sc, day))
    redactor = Redactor(cfg.redaction)
    texts, _ = redactor.redact_series([r.text or "" for r in responses])
    cand = pd.DataFrame({"request_id": [r.sample_id for r in responses],
                         "text": [t if r.text is not None else None for t, r in zip(texts, responses)],
                         "error_category": [r.error_category for r in responses]})
    pairs = build_shadow_pairs(sub, cand, mv.name)
    jc = cfg.shadow_judge_config()
    prompt = judge.load_prompt(jc, base_dir=cfg.base_dir)
    verdicts = judge.judge_pairwise_verdicts(pairs, jc, judge_execute, prompt=prompt)
    verdicts = verdicts.merge(pairs[["sample_id", "category"]], on="sample_id", how="left")
    valid = verdicts[verdicts["outcome"].notna()]
    if valid.empty:
        return ShadowOutcome("ok", "no valid pairwise verdicts (candidate or judge errors)", pairs, verdicts,
                             cost_usd=float(sum(r.cost_usd for r in responses) + verdicts["cost_usd"].sum()))
    rates = shadow_win_rates(valid, pairs)
    decision = shadow_decision(rates, sc.min_n)
    msg = (f"{mv.name} vs production: win rate {decision['win_rate']:.3f} "
           f"[{decision['ci'][0]:.3f}, {decision['ci'][1]:.3f}] on {decision['n']} requests -> {decision['verdict']}")
    return ShadowOutcome("ok", msg, pairs, verdicts, rates, decision,
                         float(sum(r.cost_usd for r in responses) + verdicts["cost_usd"].sum()))


# ---------------------------------------------------------------------------------------- markdown


def md_table(df: pd.DataFrame | None, max_rows: int = 20, digits: int = 4, empty: str = "none") -> str:
    """A DataFrame as a markdown table (first ``max_rows`` rows, floats rounded)."""
    if df is None or df.empty:
        return empty
    d = df.head(max_rows).copy()
    for c in d.columns:
        if pd.api.types.is_float_dtype(d[c]):
            d[c] = d[c].round(digits)
    out = d.to_markdown(index=False)
    if len(df) > max_rows:
        out += f"\n\n(first {max_rows} of {len(df)} rows)"
    return out


# -------------------------------------------------------------------------------------------- demo


def demo_day_config(day: str, seed: int, n_rows: int, drifted: bool) -> Any:
    """The synthetic-traffic config of one demo day; ``drifted`` shifts the category mix to a few
    travel-like categories, makes inputs longer and users unhappier (a drift and a behaviour drop)."""
    from .synthetic import PiiRates, SyntheticTrafficConfig, text_pool

    pii = PiiRates(email=0.02, phone_us=0.02, phone_intl=0.01, card=0.01, ipv4=0.01, ipv6=0.005,
                   card_luhn_invalid=0.01, echo_in_output=0.0)
    from .synthetic import FeedbackRates

    # Normal days well below the default thumbs-down warn level (15% of rated requests).
    fb = FeedbackRates(thumbs_up=0.25, thumbs_down=0.02, regenerate=0.05, task_completed=0.45)
    cfg = SyntheticTrafficConfig(day=day, n_rows=n_rows, seed=seed, pii=pii, feedback=fb, malformed_rate=0.002)
    if drifted:
        cats = list(text_pool())
        shifted = cats[: max(1, min(3, len(cats)))]
        cfg = cfg.model_copy(update={
            "category_weights": {c: 1.0 for c in shifted}, "extra_sentences": 2.0,
            "feedback": cfg.feedback.model_copy(update={"thumbs_down": 0.06, "thumbs_up": 0.04, "regenerate": 0.12}),
        })
    return cfg


def write_demo_traffic(wh: Any, days: int = 8, end_date: str | None = None, seed: int = 0,
                       n_rows: int = 2000, drift_last_day: bool = True) -> list[dict[str, Any]]:
    """Write ``days`` days of SYNTHETIC production traffic ending at ``end_date`` (default: yesterday,
    UTC) under the traffic prefix (``EVAL_TRAFFIC_PREFIX`` or ``<warehouse>/traffic``), with a drift
    on the last day. Every row is labelled synthetic. Idempotent (same seed -> same files).

    Returns one ``{day, files, n_rows, malformed, seeded_pii, drifted}`` summary per day.
    """
    import tempfile
    from datetime import datetime, timezone

    from .synthetic import write_synthetic_day

    end = end_date or (datetime.now(timezone.utc).date() - timedelta(days=1)).isoformat()
    dates = [*previous_days(end, days - 1), end] if days > 1 else [end]
    loc = traffic_location(wh)
    if not loc.in_warehouse and "://" in loc.prefix:
        raise ValueError(f"{TRAFFIC_PREFIX_ENV}={loc.prefix} is outside the warehouse on object storage; the demo "
                         "writes local folders or warehouse prefixes only")
    out = []
    for i, day in enumerate(dates):
        drifted = drift_last_day and i == len(dates) - 1
        cfg = demo_day_config(day, seed + i, n_rows, drifted)
        if loc.in_warehouse:
            with tempfile.TemporaryDirectory() as tmp:
                written = write_synthetic_day(tmp, cfg)
                for old in wh.list_keys(f"{loc.prefix}/date={day}/"):
                    wh.delete(old)
                files = []
                for f in written.files:
                    key = f"{loc.prefix}/date={day}/{Path(f).name}"
                    files.append(wh.write_bytes(key, Path(f).read_bytes(), content_type="application/x-ndjson"))
        else:
            written = write_synthetic_day(loc.prefix, cfg)
            files = written.files
        out.append({"day": day, "files": files, "n_rows": written.n_rows, "malformed": len(written.malformed),
                    "seeded_pii": len(written.seeded_pii), "drifted": drifted, "synthetic": True})
    return out
