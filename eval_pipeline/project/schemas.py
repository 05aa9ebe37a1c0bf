"""Column contracts of the warehouse tables (long format, one row per fact).

Every table is Hive-partitioned Parquet: ``<root>/<table>/<key>=<value>/.../data.parquet``.
Re-writing a partition replaces its single file.
"""

from __future__ import annotations

# golden/date=<d>/model_version=<mv>/data.parquet  (the exact samples each run used)
GOLDEN_COLUMNS = [
    "suite",
    "eval_set",
    "sample_id",
    "input_json",
    "expected_json",
    "metadata_json",
    "category",
    "source_file",
    "source_line",
]

# responses/date=<d>/model_version=<mv>/data.parquet  (ModelResponse.to_row() + these keys)
RESPONSE_KEY_COLUMNS = ["date", "model_version", "suite", "eval_set", "sample_id", "repeat"]

# scores/family=<family>/date=<d>/model_version=<mv>/data.parquet
SCORE_COLUMNS = [
    "date",  # partition date, YYYY-MM-DD
    "model_version",  # partition model version key
    "suite",
    "eval_set",
    "sample_id",
    "repeat",  # int, 0-based
    "family",  # deterministic | similarity | judge
    "metric",  # check name / "cosine" / judge dimension
    "value",  # float or null (e.g. cosine, judge score, 1.0/0.0 for checks)
    "passed",  # bool or null (null when not applicable or infra error)
    "reason",  # short human-readable explanation
    "category",  # sample segment (golden metadata.category)
    "infra_error",  # error category of the response if it was an infrastructure failure, else null
    "evaluator_hash",  # hash of evaluator config (rubric, judge model, check config)
]
# Judge score rows add the judge's identity (the history's judge columns; a change breaks the trend):
JUDGE_IDENTITY_COLUMNS = [
    "judge_model",  # judge model id ("a+b+c" for a panel)
    "rubric_hash",  # hash of mode + rubric + reference use + prompt (evaluators.judge.requests.rubric_hash)
]
JUDGE_SCORE_COLUMNS = SCORE_COLUMNS + JUDGE_IDENTITY_COLUMNS
