"""Every storage key of the pipeline, in one place.

In: a table name, a date, a model-version key, a judge model, a report name. Out: the key
(a relative path under the warehouse root, ``/``-separated, no leading ``/``) of that table
partition or artifact, or the partition dict a table is read/written with. Also the partition
check the warehouse applies to every write (names, keys and values: :mod:`.key_rules`).

Layout (``<d>`` a ``YYYY-MM-DD`` date, ``<mv>`` a model-version key)::

    golden/date=<d>/model_version=<mv>/data.parquet              table_partition("golden", d, mv)
    responses/date=<d>/model_version=<mv>/data.parquet           table_partition("responses", d, mv)
    scores/family=<f>/date=<d>/model_version=<mv>/data.parquet   table_partition("scores", d, mv, family=f)
    <monitoring table>/date=<d>/data.parquet                     day_partition(d) for DAY_TABLES
    runs/date=<d>/model_version=<mv>/run.json                    run_artifact(d, mv)
    claims/<step>/date=<d>/model_version=<mv>.json (.lock local)  step_claim(step, d, mv) (storage/claims.py)
    model_versions/<mv>.json                                     model_version_snapshot(mv)
    releases/date=<d>/model_version=<mv>.json                    release(d, mv)
    reports/regression/date=<d>/model_version=<mv>/report.json   regression_report(d, mv)
    reports/regression/date=<d>/model_version=<mv>/comparison.png  regression_chart(d, mv)
    reports/regression/date=<d>/model_version=<mv>/diff.html     diff_page(d, mv) (per-sample diff vs its baseline)
    reports/diff/date=<d>/model_version=<mv>/vs-<mv2>-<d2>.html  diff_page(d, mv, against=(d2, mv2))
    reports/noise/date=<d>/model_version=<mv>/noise.json         noise_report(d, mv)
    review/date=<d>/model_version=<mv>/review.jsonl              review_file(d, mv)
    calibration/judge/<model>.json                               judge_calibration(model)
    calibration/similarity/latest.json                           similarity_calibration()
    reports/history/latest.html | alerts.json | trend_<i>.png    history_report(), history_alerts(), history_trend_chart(i)
    provenance/<stage>/date=<d>/model_version=<mv>.json          provenance(stage, d, mv)
    history/<table>/date=<d>.parquet, history/_manifest.parquet  HISTORY_AGGREGATES + history_part(table, d), HISTORY_MANIFEST
    history/<table>.parquet                                      HISTORY_AGGREGATES + history_table(table)
    history/history.duckdb                                       HISTORY_DB (local warehouse only)
    response_store/responses-<id>.jsonl                          RESPONSE_STORE + response_shard(id), RESPONSE_SHARD_GLOB
    response_store/batches/batch-<id>.json                       RESPONSE_STORE + batch_record(id), BATCH_LEDGER, BATCH_RECORD_GLOB
    response_store/segments/fresh/seg-<id>.parquet               RESPONSE_STORE + response_segment(id) (new answers, any key)
    response_store/segments/shard=<xx>/c-<id>.parquet            RESPONSE_STORE + response_shard_segment(xx, id) (compacted)
    response_store/segments/manifest/m-<id>.parquet              RESPONSE_STORE + response_manifest(id) (footers of compacted segments)
    embedding_cache/<model id>/shard-<id>.npz                    EMBEDDING_CACHE + embedding_shard(model, id)
    reports/monitoring/date=<d>/<name>                           monitoring_report(d, name)
    traffic/date=<d>/<file>.jsonl|.parquet                       traffic_day(d, TRAFFIC_PREFIX)
    traffic/date=<d>/hour=<HH>/<file>.jsonl|.parquet             traffic_hour(d, HH, TRAFFIC_PREFIX)
    <hourly table>/date=<d>/hour=<HH>/data.parquet               hour_partition(d, HH) for HOUR_TABLES
    reports/monitoring/date=<d>/hour=<HH>/<name>                 monitoring_hour_report(d, HH, name)

Artifact keys are built as given (no validation); the warehouse checks every key on use.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from eval_pipeline.storage.errors import WarehouseError
from eval_pipeline.storage.key_rules import check_name, check_partition_values

__all__ = [
    "BATCH_LEDGER",
    "BATCH_RECORD_GLOB",
    "DATA_FILE",
    "DAY_TABLES",
    "GOLDEN",
    "HISTORY_AGGREGATES",
    "HISTORY_DB",
    "HISTORY_MANIFEST",
    "MONITORING_METRICS",
    "MONITORING_REPORTS",
    "ONLINE_SCORES",
    "RESPONSES",
    "RESPONSE_SHARD_GLOB",
    "RESPONSE_STORE",
    "RESPONSE_SEGMENTS",
    "RESPONSE_FRESH",
    "RESPONSE_MANIFESTS",
    "EMBEDDING_CACHE",
    "SCORES",
    "SHADOW_VERDICTS",
    "TABLE_PARTITION_KEYS",
    "TRAFFIC_DRIFT",
    "TRAFFIC_PREFIX",
    "TRAFFIC_SAMPLE",
    "TRAFFIC_HOURLY",
    "CANARY_VERDICTS",
    "HOUR_TABLES",
    "hour_partition",
    "traffic_hour",
    "monitoring_hour_report",
    "batch_record",
    "day_partition",
    "diff_page",
    "history_alerts",
    "history_part",
    "history_parts_glob",
    "history_report",
    "history_table",
    "history_trend_chart",
    "judge_calibration",
    "model_version_snapshot",
    "monitoring_report",
    "noise_report",
    "parse_partition_key",
    "partition_files_glob",
    "partition_key",
    "provenance",
    "regression_chart",
    "regression_report",
    "release",
    "response_shard",
    "response_segment",
    "response_shard_segment",
    "response_manifest",
    "embedding_shard",
    "review_file",
    "run_artifact",
    "run_artifacts_glob",
    "run_files_glob",
    "run_partition",
    "scores_partition",
    "similarity_calibration",
    "table_glob",
    "table_partition",
    "traffic_day",
    "validate_partition",
]

DATA_FILE = "data.parquet"

# Tables partitioned by run: (date, model_version), scores also by evaluator family.
GOLDEN, RESPONSES, SCORES = "golden", "responses", "scores"
# Canonical partition key order of the run tables (see eval_pipeline/project/schemas.py). Writes to these
# tables must give exactly these keys; they are stored in this order, so the same partition always
# maps to the same key whatever the dict order of the caller.
TABLE_PARTITION_KEYS: dict[str, tuple[str, ...]] = {
    GOLDEN: ("date", "model_version"),
    RESPONSES: ("date", "model_version"),
    SCORES: ("family", "date", "model_version"),
}
# Online-monitoring tables, partitioned by day only (eval_pipeline/monitoring/settings.py names them by role).
TRAFFIC_SAMPLE, ONLINE_SCORES, MONITORING_METRICS = "traffic_sample", "online_scores", "monitoring_metrics"
TRAFFIC_DRIFT, SHADOW_VERDICTS = "traffic_drift", "shadow_verdicts"
DAY_TABLES = (TRAFFIC_SAMPLE, ONLINE_SCORES, MONITORING_METRICS, TRAFFIC_DRIFT, SHADOW_VERDICTS)
# Canary analysis tables, partitioned by day and hour (eval_pipeline/monitoring/hourly.py, canary.py).
TRAFFIC_HOURLY, CANARY_VERDICTS = "traffic_hourly", "canary_verdicts"
HOUR_TABLES = (TRAFFIC_HOURLY, CANARY_VERDICTS)

MONITORING_REPORTS = "reports/monitoring"
HISTORY_AGGREGATES = "history"  # per-date aggregates of the history refresh
HISTORY_MANIFEST = "_manifest.parquet"  # inside the aggregates folder
HISTORY_DB = "history/history.duckdb"  # default history DB under a local warehouse
RESPONSE_STORE = "response_store"  # default response-store folder under a local warehouse
RESPONSE_SHARD_GLOB = "responses-*.jsonl"  # the append-only shards inside a response-store folder
BATCH_LEDGER = "batches"  # Message Batches ids of a response store (inside its folder)
BATCH_RECORD_GLOB = "batch-*.json"  # one record per batch inside BATCH_LEDGER
RESPONSE_SEGMENTS = "segments"  # immutable Parquet segments of a response store (inside its folder / prefix)
RESPONSE_FRESH = f"{RESPONSE_SEGMENTS}/fresh"  # segments as writers seal them (any key)
RESPONSE_MANIFESTS = (
    f"{RESPONSE_SEGMENTS}/manifest"  # footers + sizes of the compacted segments (a lookup index)
)
EMBEDDING_CACHE = "embedding_cache"  # default embedding-cache folder / prefix of a warehouse
TRAFFIC_PREFIX = "traffic"

# -- validation -------------------------------------------------------------------------------


def validate_partition(table: str, partition: Mapping[str, Any]) -> dict[str, str]:
    """Check a partition dict and return it in canonical key order.

    Raises WarehouseError naming the table, key and value when a key or value is invalid
    (:func:`~.key_rules.check_partition_values`), or when a known table (``TABLE_PARTITION_KEYS``)
    is given the wrong set of keys.
    """
    check_partition_values(table, partition)
    expected = TABLE_PARTITION_KEYS.get(table)
    if expected is None:
        return dict(partition)
    if set(partition) != set(expected):
        raise WarehouseError(
            f"table {table!r} is partitioned by {list(expected)}, got keys {list(partition)}"
        )
    return {k: partition[k] for k in expected}


# -- table partitions -------------------------------------------------------------------------


def partition_key(table: str, partition: Mapping[str, Any]) -> str:
    """Key of a partition's single data file: ``<table>/<k1>=<v1>/.../data.parquet``."""
    part = validate_partition(table, partition)
    return "/".join([table, *(f"{k}={v}" for k, v in part.items()), DATA_FILE])


def parse_partition_key(table: str, key: str) -> dict[str, str] | None:
    """Inverse of partition_key; None for keys that are not partition data files."""
    parts = key.split("/")
    if len(parts) < 3 or parts[0] != table or parts[-1] != DATA_FILE:
        return None
    out: dict[str, str] = {}
    for seg in parts[1:-1]:
        k, sep, v = seg.partition("=")
        if not sep:
            return None
        out[k] = v
    return out


def run_partition(date: str, model_version_key: str) -> dict[str, str]:
    """Partition of one run in ``golden`` / ``responses``: ``{"date", "model_version"}``."""
    return {"date": date, "model_version": model_version_key}


def scores_partition(family: str, date: str, model_version_key: str) -> dict[str, str]:
    """Partition of one run's scores of one evaluator family."""
    return {"family": family, **run_partition(date, model_version_key)}


def day_partition(day: str) -> dict[str, str]:
    """Partition of one day in a monitoring table (``DAY_TABLES``)."""
    return {"date": day}


def table_partition(table: str, date: str, model_version_key: str, family: str | None = None) -> str:
    """Data-file key of one run's partition of ``table`` (``family`` for ``scores``)."""
    part = (
        run_partition(date, model_version_key)
        if family is None
        else scores_partition(family, date, model_version_key)
    )
    return partition_key(table, part)


def table_glob(table: str) -> str:
    """Glob of every data file of ``table`` at any depth: ``<table>/**/*.parquet``."""
    return f"{check_name('table', table)}/**/*.parquet"


def partition_files_glob(table: str) -> str:
    """Glob with one ``*`` per partition level of a run table, e.g. ``scores/*/*/*/*.parquet``."""
    return "/".join([table, *("*" for _ in TABLE_PARTITION_KEYS[table]), "*.parquet"])


def run_files_glob(
    date: str, model_version_key: str, family: str | None = None, *, table: str = SCORES
) -> str:
    """Glob of one run's data files, relative to the folder of ``table``: for ``scores``
    ``family=<f>/date=<d>/model_version=<mv>/*.parquet`` (``*/...`` for every family when ``family``
    is None); for ``golden`` / ``responses`` ``date=<d>/model_version=<mv>/*.parquet``."""
    run = f"date={date}/model_version={model_version_key}/*.parquet"
    if "family" not in TABLE_PARTITION_KEYS[table]:
        return run
    return f"{'*' if family is None else f'family={family}'}/{run}"


# -- artifacts --------------------------------------------------------------------------------


def _run_dir(prefix: str, date: str, mv_key: str) -> str:
    return f"{prefix}/date={date}/model_version={mv_key}"


def run_artifact(date: str, model_version_key: str) -> str:
    """The run artifact (scores summary, gate verdict, versions) of one run."""
    return f"{_run_dir('runs', date, model_version_key)}/run.json"


def step_claim(step: str, date: str, model_version_key: str) -> str:
    """The claim a paid step of one partition holds while it runs (:mod:`eval_pipeline.storage.claims`)."""
    prefix = "claims/" + check_name("step", step)
    return _run_dir(prefix, date, model_version_key) + ".json"


def run_artifacts_glob() -> str:
    """Glob of every run artifact: ``runs/*/*/run.json``."""
    return "runs/*/*/run.json"


def model_version_snapshot(model_version_key: str) -> str:
    """The frozen snapshot (model, prompt, params, suites) of a model version."""
    return f"model_versions/{model_version_key}.json"


def release(date: str, model_version_key: str) -> str:
    """The release decision of one run."""
    return f"{_run_dir('releases', date, model_version_key)}.json"


def regression_report(date: str, model_version_key: str) -> str:
    """The regression report (candidate vs baseline) of one run."""
    return f"{_run_dir('reports/regression', date, model_version_key)}/report.json"


def regression_chart(date: str, model_version_key: str) -> str:
    """The comparison chart beside the regression report."""
    return f"{_run_dir('reports/regression', date, model_version_key)}/comparison.png"


def diff_page(date: str, model_version_key: str, against: tuple[str, str] | None = None) -> str:
    """The per-sample diff page of one run: beside its regression report (against the baseline it was tested
    against), or, for ``against=(date, model_version)``, under ``reports/diff/`` (``eval-pipeline diff``)."""
    if against is None:
        return f"{_run_dir('reports/regression', date, model_version_key)}/diff.html"
    return f"{_run_dir('reports/diff', date, model_version_key)}/vs-{against[1]}-{against[0]}.html"


def noise_report(date: str, model_version_key: str) -> str:
    """The A/A noise-floor report of one run."""
    return f"{_run_dir('reports/noise', date, model_version_key)}/noise.json"


def review_file(date: str, model_version_key: str) -> str:
    """The human-review queue (JSON lines) of one run."""
    return f"{_run_dir('review', date, model_version_key)}/review.jsonl"


def provenance(stage: str, date: str, model_version_key: str) -> str:
    """Answer provenance counts (live / replay / synthetic) of one stage of one run."""
    return f"{_run_dir(f'provenance/{stage}', date, model_version_key)}.json"


def judge_calibration(model: str) -> str:
    """Calibration metrics of one judge model."""
    return f"calibration/judge/{model}.json"


def similarity_calibration() -> str:
    """The latest similarity-threshold calibration."""
    return "calibration/similarity/latest.json"


def history_report() -> str:
    """The HTML history report (latest refresh)."""
    return "reports/history/latest.html"


def history_alerts() -> str:
    """The history alerts (JSON records) of the latest refresh."""
    return "reports/history/alerts.json"


def history_trend_chart(index: int = 0) -> str:
    """The ``index``-th trend chart of the history report."""
    return f"reports/history/trend_{index}.png"


def history_part(table: str, date: str) -> str:
    """One date's aggregate of a history table, relative to the aggregates folder."""
    return f"{table}/date={date}.parquet"


def history_parts_glob() -> str:
    """Glob of every per-date aggregate, relative to the aggregates folder: ``*/date=*.parquet``."""
    return history_part("*", "*")


def history_table(table: str) -> str:
    """The whole exported history table, relative to the aggregates folder: ``<table>.parquet``."""
    return f"{table}.parquet"


def batch_record(batch_id: str) -> str:
    """The ledger record of one Message Batch, relative to a response-store folder."""
    return f"{BATCH_LEDGER}/{BATCH_RECORD_GLOB.replace('*', batch_id)}"


def response_segment(segment_id: str) -> str:
    """A fresh (uncompacted) segment of a response store, relative to its folder or prefix."""
    return f"{RESPONSE_FRESH}/seg-{segment_id}.parquet"


def response_shard_segment(shard: str, segment_id: str) -> str:
    """A compacted segment of one key-prefix shard, relative to the store's folder or prefix."""
    return f"{RESPONSE_SEGMENTS}/shard={shard}/c-{segment_id}.parquet"


def response_manifest(manifest_id: str) -> str:
    """A manifest (footers and sizes of the compacted segments) of a response store, relative to its folder or prefix."""
    return f"{RESPONSE_MANIFESTS}/m-{manifest_id}.parquet"


def embedding_shard(model_dir: str, shard_id: str) -> str:
    """One embedding-cache shard, relative to the cache folder or prefix: ``<model dir>/shard-<id>.npz``."""
    return f"{model_dir}/shard-{shard_id}.npz"


def response_shard(shard_id: str) -> str:
    """One append-only shard of a response store, relative to its folder: ``responses-<id>.jsonl``."""
    return RESPONSE_SHARD_GLOB.replace("*", shard_id)


def monitoring_report(day: str, name: str) -> str:
    """A monitoring report of one day (``malformed.json``, ``alerts.json``, ``drift.json``, ``shadow.json``)."""
    return f"{MONITORING_REPORTS}/date={day}/{name}"


def traffic_day(day: str, prefix: str = "") -> str:
    """The folder of one day of production logs: ``<prefix>/date=<day>`` (no trailing ``/``)."""
    return "/".join(x for x in (prefix, f"date={day}") if x)


def hour_partition(day: str, hour: str) -> dict[str, str]:
    """Partition of one hour in an hourly table (``HOUR_TABLES``): ``{"date": d, "hour": "HH"}``."""
    return {"date": day, "hour": hour}


def traffic_hour(day: str, hour: str, prefix: str = "") -> str:
    """The folder of one hour of production logs: ``<prefix>/date=<day>/hour=<HH>`` (no trailing ``/``)."""
    return f"{traffic_day(day, prefix)}/hour={hour}"


def monitoring_hour_report(day: str, hour: str, name: str) -> str:
    """A monitoring report of one hour (``canary.json``): ``reports/monitoring/date=<d>/hour=<HH>/<name>``."""
    return f"{MONITORING_REPORTS}/date={day}/hour={hour}/{name}"
