"""The SQL of the history layer, kept apart from any I/O.

Every function here returns a SQL string; nothing executes. ``aggregate.py``
runs them against a DuckDB connection (local folder or ``s3://`` globs, the
connection decides). All heavy lifting (scans, GROUP BY, quantiles) happens
inside DuckDB, so memory is bounded by DuckDB's streaming aggregation, never
by loading rows into pandas.

Tables produced (one row per group):

* ``score_history``: date, model_version, suite, eval_set, family, metric,
  segment (golden ``category``; :data:`SEGMENT_ALL` for the roll-up over all
  categories) -> n_rows, n_graded, n_passed, pass_rate, mean_value, std_value,
  n_infra_error, judge_model, rubric_hash (the judge's identity on judge rows; NULL for other
  families and for judge rows written before it was recorded).
* ``ops_history``: date, model_version, suite, eval_set (``__all__`` roll-up)
  -> responses, infra / model error counts, latency and TTFT quantiles, cost, and how many
  answers were live / replayed / synthetic (``n_live`` / ``n_replay`` / ``n_synthetic``), the
  prompt-cache hit rate with latency / TTFT medians of hits vs misses (per eval set, i.e. per
  prompt template), and how many answers came from Message Batches (``n_batch``).
* ``failure_modes``: date, model_version, suite, kind, label -> n, share,
  example_reason.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from eval_pipeline.inference.types import INFRA_ERROR_CATEGORIES, MODEL_ERROR_CATEGORIES

SEGMENT_ALL = "__all__"  # segment value of the roll-up over every category
ALL = "__all__"  # suite / eval_set value of the ops roll-up per date and model version
NO_CATEGORY = "(none)"  # segment of rows whose golden sample has no category

# One score series per row of a day: the leading columns of score_history and of an alert row.
SERIES_COLUMNS = ["date", "model_version", "suite", "eval_set", "family", "metric", "segment"]
SCORE_HISTORY_COLUMNS = [
    *SERIES_COLUMNS,
    "n_rows",
    "n_graded",
    "n_passed",
    "pass_rate",
    "mean_value",
    "std_value",
    "n_infra_error",
    "judge_model",
    "rubric_hash",  # the judge's identity on judge rows (NULL elsewhere): a change breaks the trend
]
OPS_HISTORY_COLUMNS = [
    "date",
    "model_version",
    "suite",
    "eval_set",
    "n_responses",
    "n_infra_error",
    "n_model_error",
    "infra_error_rate",
    "latency_p50",
    "latency_p95",
    "latency_p99",
    "ttft_p50",
    "ttft_p95",
    "cost_usd",
    "cost_per_sample",
    "input_tokens",
    "output_tokens",
    "n_live",
    "n_replay",
    "n_synthetic",  # answer provenance (rows written before it was recorded: in none)
    # prompt cache (a hit: usage reported cache reads) over answers without an infra error, and
    # latency / TTFT medians of hits vs misses (live answers only); answers from Message Batches
    "n_cache_hit",
    "cache_hit_rate",
    "cache_read_tokens",
    "cache_creation_tokens",
    "latency_p50_cache_hit",
    "latency_p50_cache_miss",
    "ttft_p50_cache_hit",
    "ttft_p50_cache_miss",
    "n_batch",
]
FAILURE_MODE_COLUMNS = ["date", "model_version", "suite", "kind", "label", "n", "share", "example_reason"]
RUN_COLUMNS = ["date", "model_version", "passed", "live_answers_only"]


def _quote(literal: str) -> str:
    """SQL string literal with single quotes escaped."""
    return "'" + str(literal).replace("'", "''") + "'"


def _in_list(values: Iterable[Any]) -> str:
    return "(" + ", ".join(_quote(v) for v in values) + ")"


def parquet_source(glob: str | list[str]) -> str:
    """``read_parquet(...)`` over Hive-partitioned files; partition keys stay strings.

    ``hive_types_autocast=false`` keeps ``date`` as ``'YYYY-MM-DD'`` text, the
    same as the column inside the files, so filters on it prune partitions.
    """
    globs = [glob] if isinstance(glob, str) else list(glob)
    files = "[" + ", ".join(_quote(g) for g in globs) + "]"
    return f"read_parquet({files}, hive_partitioning=true, hive_types_autocast=false, union_by_name=true)"


def score_history_sql(scores: str) -> str:
    """Aggregate long-format score rows (``scores`` is a FROM-able source) per run, metric and segment.

    ``pass_rate`` is over graded rows only (``passed`` not null): infrastructure
    failures are counted in ``n_infra_error`` and never as quality failures.
    """
    return f"""
WITH s AS (
    SELECT CAST(date AS VARCHAR) AS date, CAST(model_version AS VARCHAR) AS model_version,
           CAST(suite AS VARCHAR) AS suite, CAST(eval_set AS VARCHAR) AS eval_set,
           CAST(family AS VARCHAR) AS family, CAST(metric AS VARCHAR) AS metric,
           coalesce(CAST(category AS VARCHAR), {_quote(NO_CATEGORY)}) AS category,
           CAST(value AS DOUBLE) AS value, CAST(passed AS BOOLEAN) AS passed, infra_error,
           CAST(judge_model AS VARCHAR) AS judge_model, CAST(rubric_hash AS VARCHAR) AS rubric_hash
    -- UNION BY NAME adds the judge identity (NULL) to files without it (other families, older judge rows)
    FROM (SELECT * FROM {scores} UNION ALL BY NAME SELECT CAST(NULL AS VARCHAR) AS judge_model,
          CAST(NULL AS VARCHAR) AS rubric_hash WHERE false)
)
SELECT date, model_version, suite, eval_set, family, metric,
       CASE WHEN grouping(category) = 1 THEN {_quote(SEGMENT_ALL)} ELSE category END AS segment,
       count(*) AS n_rows,
       count(passed) AS n_graded,
       CAST(coalesce(sum(CASE WHEN passed THEN 1 ELSE 0 END), 0) AS BIGINT) AS n_passed,
       avg(CAST(passed AS DOUBLE)) AS pass_rate,
       avg(value) AS mean_value,
       stddev_samp(value) AS std_value,
       count(infra_error) AS n_infra_error,
       string_agg(DISTINCT judge_model, '|' ORDER BY judge_model) AS judge_model,
       string_agg(DISTINCT rubric_hash, '|' ORDER BY rubric_hash) AS rubric_hash
FROM s
GROUP BY GROUPING SETS (
    (date, model_version, suite, eval_set, family, metric, category),
    (date, model_version, suite, eval_set, family, metric)
)
ORDER BY date, model_version, suite, eval_set, family, metric, segment
"""


def ops_history_sql(responses: str) -> str:
    """Latency / cost / error aggregates of response rows per run and suite (plus a per-run roll-up).

    Latency quantiles exclude infrastructure failures (their latency is the
    time to fail, not the model's); cost per sample is total cost / responses without an
    infrastructure error (a run full of 429s is not "cheap": those responses cost nothing and
    answered nothing); its n is ``n_responses - n_infra_error`` (NULL when every response failed)."""
    infra = _in_list(INFRA_ERROR_CATEGORIES)
    model = _in_list(MODEL_ERROR_CATEGORIES)
    ok = f"(error_category IS NULL OR error_category NOT IN {infra})"
    return f"""
WITH r AS (
    SELECT CAST(date AS VARCHAR) AS date, CAST(model_version AS VARCHAR) AS model_version,
           CAST(suite AS VARCHAR) AS suite, CAST(eval_set AS VARCHAR) AS eval_set,
           CAST(error_category AS VARCHAR) AS error_category,
           CAST(latency_s AS DOUBLE) AS latency_s, CAST(ttft_s AS DOUBLE) AS ttft_s,
           CAST(cost_usd AS DOUBLE) AS cost_usd,
           CAST(input_tokens AS BIGINT) AS input_tokens, CAST(output_tokens AS BIGINT) AS output_tokens,
           CAST(provenance AS VARCHAR) AS provenance,
           coalesce(CAST(cache_read_tokens AS BIGINT), 0) AS cache_read_tokens,
           coalesce(CAST(cache_creation_tokens AS BIGINT), 0) AS cache_creation_tokens,
           CAST(batch_id AS VARCHAR) AS batch_id
    -- UNION BY NAME adds NULL columns to files written before they existed
    FROM (SELECT * FROM {responses} UNION ALL BY NAME SELECT CAST(NULL AS VARCHAR) AS provenance,
          CAST(NULL AS BIGINT) AS cache_read_tokens, CAST(NULL AS BIGINT) AS cache_creation_tokens,
          CAST(NULL AS VARCHAR) AS batch_id WHERE false)
)
SELECT date, model_version,
       CASE WHEN grouping(suite) = 1 THEN {_quote(ALL)} ELSE suite END AS suite,
       CASE WHEN grouping(eval_set) = 1 THEN {_quote(ALL)} ELSE eval_set END AS eval_set,
       count(*) AS n_responses,
       count(*) FILTER (WHERE error_category IN {infra}) AS n_infra_error,
       count(*) FILTER (WHERE error_category IN {model}) AS n_model_error,
       count(*) FILTER (WHERE error_category IN {infra}) / count(*) AS infra_error_rate,
       quantile_cont(latency_s, 0.50) FILTER (WHERE {ok}) AS latency_p50,
       quantile_cont(latency_s, 0.95) FILTER (WHERE {ok}) AS latency_p95,
       quantile_cont(latency_s, 0.99) FILTER (WHERE {ok}) AS latency_p99,
       quantile_cont(ttft_s, 0.50) FILTER (WHERE {ok}) AS ttft_p50,
       quantile_cont(ttft_s, 0.95) FILTER (WHERE {ok}) AS ttft_p95,
       coalesce(sum(cost_usd), 0) AS cost_usd,
       coalesce(sum(cost_usd), 0) / nullif(count(*) FILTER (WHERE {ok}), 0) AS cost_per_sample,
       CAST(coalesce(sum(input_tokens), 0) AS BIGINT) AS input_tokens,
       CAST(coalesce(sum(output_tokens), 0) AS BIGINT) AS output_tokens,
       count(*) FILTER (WHERE provenance = 'live') AS n_live,
       count(*) FILTER (WHERE provenance = 'replay') AS n_replay,
       count(*) FILTER (WHERE provenance = 'synthetic') AS n_synthetic,
       count(*) FILTER (WHERE {ok} AND cache_read_tokens > 0) AS n_cache_hit,
       count(*) FILTER (WHERE {ok} AND cache_read_tokens > 0) / nullif(count(*) FILTER (WHERE {ok}), 0) AS cache_hit_rate,
       CAST(coalesce(sum(cache_read_tokens), 0) AS BIGINT) AS cache_read_tokens,
       CAST(coalesce(sum(cache_creation_tokens), 0) AS BIGINT) AS cache_creation_tokens,
       quantile_cont(latency_s, 0.50) FILTER (WHERE {ok} AND cache_read_tokens > 0) AS latency_p50_cache_hit,
       quantile_cont(latency_s, 0.50) FILTER (WHERE {ok} AND cache_read_tokens = 0) AS latency_p50_cache_miss,
       quantile_cont(ttft_s, 0.50) FILTER (WHERE {ok} AND cache_read_tokens > 0) AS ttft_p50_cache_hit,
       quantile_cont(ttft_s, 0.50) FILTER (WHERE {ok} AND cache_read_tokens = 0) AS ttft_p50_cache_miss,
       count(batch_id) AS n_batch
FROM r
GROUP BY GROUPING SETS ((date, model_version, suite, eval_set), (date, model_version))
ORDER BY date, model_version, suite, eval_set
"""


def failure_modes_sql(scores: str | None, responses: str | None) -> str:
    """Failure-mode counts per run and suite: response error categories, failed checks, failed judge dimensions.

    ``share`` is the label's count over all rows of that kind in the run and
    suite. Judge reasons are free text: the label is the failed dimension and
    ``example_reason`` the most frequent reason (first 120 characters).
    Either source may be ``None`` (no files yet).
    """
    parts = []
    if responses is not None:
        parts.append(f"""
    SELECT CAST(date AS VARCHAR) AS date, CAST(model_version AS VARCHAR) AS model_version,
           CAST(suite AS VARCHAR) AS suite, 'error_category' AS kind,
           CAST(error_category AS VARCHAR) AS label, count(*) AS n,
           CAST(NULL AS VARCHAR) AS example_reason, count(*) AS denom_part
    FROM {responses}
    GROUP BY ALL""")
    if scores is not None:
        parts.append(f"""
    SELECT CAST(date AS VARCHAR) AS date, CAST(model_version AS VARCHAR) AS model_version,
           CAST(suite AS VARCHAR) AS suite,
           CASE WHEN family = 'judge' THEN 'judge_fail' ELSE 'failed_check' END AS kind,
           CAST(metric AS VARCHAR) AS label, count(*) FILTER (WHERE passed = false) AS n,
           mode(left(CAST(reason AS VARCHAR), 120)) FILTER (WHERE passed = false) AS example_reason,
           count(passed) AS denom_part
    FROM {scores}
    GROUP BY ALL""")
    if not parts:
        return empty_table_sql(FAILURE_MODE_COLUMNS, {"n": "BIGINT", "share": "DOUBLE"})
    union = "\n    UNION ALL".join(parts)
    return f"""
WITH f AS ({union}
), d AS (
    SELECT *, sum(denom_part) OVER (PARTITION BY date, model_version, suite, kind) AS denom FROM f
)
SELECT date, model_version, suite, kind, label, CAST(n AS BIGINT) AS n,
       CAST(n AS DOUBLE) / nullif(denom, 0) AS share, example_reason
FROM d
WHERE label IS NOT NULL AND n > 0
ORDER BY date, model_version, suite, kind, n DESC, label
"""


def runs_sql(runs_glob: str) -> str:
    """Run artifacts (``runs/date=<d>/model_version=<mv>/run.json``) -> date, model_version, passed,
    live_answers_only (the artifact's flag: every answer and verdict came from a live provider; null when the
    artifact predates it).

    ``passed`` is the JSON's boolean ``passed`` if present, else true when its
    ``status`` is ``passed``/``success``/``succeeded``, else null (unknown).
    """
    return f"""
SELECT CAST(date AS VARCHAR) AS date, CAST(model_version AS VARCHAR) AS model_version,
       CASE
         WHEN json_extract(j, '$.passed') IS NOT NULL THEN CAST(json_extract(j, '$.passed') AS BOOLEAN)
         WHEN json_extract_string(j, '$.status') IS NOT NULL
              THEN lower(json_extract_string(j, '$.status')) IN ('passed', 'success', 'succeeded')
         ELSE NULL END AS passed,
       CAST(json_extract(j, '$.live_answers_only') AS BOOLEAN) AS live_answers_only
FROM (
    SELECT regexp_extract(filename, 'date=([^/]+)', 1) AS date,
           regexp_extract(filename, 'model_version=([^/]+)', 1) AS model_version,
           CAST(content AS JSON) AS j
    FROM read_text({_quote(runs_glob)})
)
ORDER BY date, model_version
"""


def empty_table_sql(columns: list[str], types: dict[str, str] | None = None) -> str:
    """A zero-row SELECT with the given columns (VARCHAR unless typed), for empty history."""
    types = types or {}
    cols = ", ".join(f"CAST(NULL AS {types.get(c, 'VARCHAR')}) AS {c}" for c in columns)
    return f"SELECT {cols} WHERE false"


SCORE_HISTORY_TYPES = {
    "n_rows": "BIGINT",
    "n_graded": "BIGINT",
    "n_passed": "BIGINT",
    "pass_rate": "DOUBLE",
    "mean_value": "DOUBLE",
    "std_value": "DOUBLE",
    "n_infra_error": "BIGINT",
    "judge_model": "VARCHAR",
    "rubric_hash": "VARCHAR",
}
OPS_HISTORY_TYPES = {c: "DOUBLE" for c in OPS_HISTORY_COLUMNS[4:]} | {
    "n_responses": "BIGINT",
    "n_infra_error": "BIGINT",
    "n_model_error": "BIGINT",
    "input_tokens": "BIGINT",
    "output_tokens": "BIGINT",
    "n_live": "BIGINT",
    "n_replay": "BIGINT",
    "n_synthetic": "BIGINT",
    "n_cache_hit": "BIGINT",
    "cache_read_tokens": "BIGINT",
    "cache_creation_tokens": "BIGINT",
    "n_batch": "BIGINT",
}


def run_scores_sql(scores: str, date: str, model_version: str, families: list[str] | None = None) -> str:
    """Per-sample score rows of one run (``date``, ``model_version``): the input of a paired comparison.

    The filters are on Hive partition keys, so DuckDB reads only that run's files.
    """
    fam = f" AND family IN {_in_list(families)}" if families else ""
    return f"""
SELECT CAST(suite AS VARCHAR) AS suite, CAST(eval_set AS VARCHAR) AS eval_set,
       CAST(sample_id AS VARCHAR) AS sample_id, CAST(repeat AS BIGINT) AS repeat,
       CAST(family AS VARCHAR) AS family, CAST(metric AS VARCHAR) AS metric,
       CAST(value AS DOUBLE) AS value, CAST(passed AS BOOLEAN) AS passed,
       coalesce(CAST(category AS VARCHAR), {_quote(NO_CATEGORY)}) AS category, infra_error
FROM {scores}
WHERE date = {_quote(date)} AND model_version = {_quote(model_version)}{fam}
"""


# ---------------------------------------------------------------------------
# Example / report queries over the persisted history database (docs/history.md shows these).
# Parameters are DuckDB positional ``?`` placeholders.
# ---------------------------------------------------------------------------

#: 1. Trend of one metric for one model version (overall segment): the data of the trend chart.
TREND_QUERY = f"""
SELECT date, suite, eval_set, family, metric, n_graded, n_passed, pass_rate, mean_value
FROM score_history
WHERE model_version = ? AND metric = ? AND segment = {_quote(SEGMENT_ALL)}
ORDER BY suite, eval_set, date
"""

#: 2. Candidate vs baseline on one date, per metric and segment, side by side.
CANDIDATE_VS_BASELINE_QUERY = """
SELECT c.suite, c.eval_set, c.family, c.metric, c.segment,
       b.pass_rate AS baseline_pass_rate, c.pass_rate AS candidate_pass_rate,
       c.pass_rate - b.pass_rate AS pass_rate_delta,
       b.mean_value AS baseline_mean, c.mean_value AS candidate_mean,
       c.n_graded AS n_candidate, b.n_graded AS n_baseline
FROM score_history c
JOIN score_history b USING (date, suite, eval_set, family, metric, segment)
WHERE c.date = ? AND c.model_version = ? AND b.model_version = ?
ORDER BY pass_rate_delta NULLS LAST, c.metric, c.segment
"""

#: 3. Alert window: each day's pass rate next to its trailing 7-day average (same model version, metric, segment).
ALERT_WINDOW_QUERY = f"""
SELECT * FROM (
    SELECT date, model_version, suite, eval_set, family, metric, segment, pass_rate, n_graded,
           avg(pass_rate) OVER w AS trailing_avg,
           pass_rate - avg(pass_rate) OVER w AS delta_vs_trailing
    FROM score_history
    WHERE model_version = ? AND segment = {_quote(SEGMENT_ALL)}
    WINDOW w AS (PARTITION BY model_version, suite, eval_set, family, metric, segment
                 ORDER BY CAST(date AS DATE)
                 RANGE BETWEEN INTERVAL 7 DAYS PRECEDING AND INTERVAL 1 DAYS PRECEDING)
)
WHERE date > ?
ORDER BY suite, eval_set, family, metric, date
"""

#: Latency / cost trend per model version (ops roll-up), a fourth handy query.
OPS_TREND_QUERY = f"""
SELECT date, model_version, n_responses, n_infra_error, latency_p50, latency_p95, latency_p99, cost_per_sample
FROM ops_history
WHERE suite = {_quote(ALL)} AND model_version = ?
ORDER BY date
"""

EXAMPLE_QUERIES = {
    "trend": TREND_QUERY,
    "candidate_vs_baseline": CANDIDATE_VS_BASELINE_QUERY,
    "alert_window": ALERT_WINDOW_QUERY,
    "ops_trend": OPS_TREND_QUERY,
}
