"""What the history report reads from the warehouse besides the aggregates.

In: a :class:`~eval_pipeline.storage.warehouse.Warehouse` (keys from :mod:`eval_pipeline.storage.keys`)
and the runs of the history. Out:

* :func:`run_events`: release approvals (``releases/...json`` with ``approved: true``) and
  config changes (a model version's first run: its model, prompts and config hash; a change of
  ``model`` / ``prompt_version`` between two runs of one model-version name) from ``run.json``.
* :func:`comparisons`: the rows of each version's latest regression report
  (``reports/regression/.../report.json``, written by the ``regression_report`` asset with the
  paired tests of :mod:`eval_pipeline.regression.compare`), overall segment only, with the baseline
  each was tested against and the link to its per-sample diff page (``diff``, relative to the report, when
  written). Nothing is re-tested here.
* ``pairs`` of :func:`report_inputs`: the runs and written diff pages behind the report's "compare any two
  versions" pickers (:func:`eval_pipeline.history.pair_index.picker_data`).
* ``monitoring`` of :func:`report_inputs`: online monitoring and the latest canary rollout
  (:func:`eval_pipeline.history.report_monitoring.monitoring_inputs`).
* :func:`failing_samples`: per eval set, the samples of one run with the most failed checks /
  dimensions, joined to their input, expected output and the model's answer; text cut to excerpts.
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Iterator
from typing import Any, cast

import pandas as pd

from eval_pipeline.history.pair_index import picker_data
from eval_pipeline.history.report_compare import runs_from_scores
from eval_pipeline.history.report_monitoring import monitoring_inputs
from eval_pipeline.history.report_summary import chart_thresholds, latest_verdicts
from eval_pipeline.history.sql import SEGMENT_ALL, _quote
from eval_pipeline.storage import keys
from eval_pipeline.storage.errors import WarehouseError
from eval_pipeline.storage.warehouse import Warehouse

EVENT_COLUMNS = ["date", "model_version", "kind", "label"]
EXCERPT_CHARS = 160


def _read_json(wh: Warehouse, key: str) -> dict[str, Any] | None:
    """The JSON object at ``key``, or None when it is absent or unreadable."""
    if not wh.exists(key):
        return None
    try:
        data: dict[str, Any] | None = json.loads(wh.read_bytes(key))
        return data
    except (WarehouseError, OSError, ValueError):
        return None


def run_events(warehouse: Warehouse, runs: pd.DataFrame) -> pd.DataFrame:
    """Release approvals and config changes of the ``runs`` (date, model_version), as event rows."""
    rows = []
    last_by_name: dict[str, tuple[Any, ...]] = {}
    seen_versions: set[str] = set()
    for r in runs.sort_values(["date", "model_version"]).itertuples():
        date, mv = str(r.date), str(r.model_version)
        rel = _read_json(warehouse, keys.release(date, mv))
        if rel and rel.get("approved"):
            rows.append(
                {
                    "date": date,
                    "model_version": mv,
                    "kind": "release approved",
                    "label": f"{mv} approved (baseline {rel.get('baseline') or '-'})",
                }
            )
        art = _read_json(warehouse, keys.run_artifact(date, mv))
        if not art:
            continue
        ident = (
            art.get("model"),
            json.dumps(art.get("prompt_version"), sort_keys=True),
            art.get("config_hash"),
        )
        name = art.get("model_version_name") or mv
        if mv not in seen_versions:
            seen_versions.add(mv)
            rows.append(
                {
                    "date": date,
                    "model_version": mv,
                    "kind": "config change",
                    "label": f"{mv} first run: model {ident[0]}, prompts {ident[1]}, config {ident[2]}",
                }
            )
        elif name in last_by_name and last_by_name[name][:2] != ident[:2]:
            rows.append(
                {
                    "date": date,
                    "model_version": mv,
                    "kind": "config change",
                    "label": f"{mv}: model {ident[0]}, prompts {ident[1]}",
                }
            )
        last_by_name[name] = ident
    return pd.DataFrame(rows, columns=EVENT_COLUMNS)


def comparisons(warehouse: Warehouse, runs: pd.DataFrame, production: str | None) -> pd.DataFrame:
    """Overall rows of the latest regression report of every version other than ``production``
    (of every version when there is none), with ``model_version``, ``date``, ``against``."""
    frames = []
    if runs is None or runs.empty:
        return pd.DataFrame()
    latest = runs.assign(date=runs["date"].astype(str)).sort_values("date").groupby("model_version").tail(1)
    for r in cast(Iterator[Any], latest.itertuples()):  # date, model_version: str (pandas-stubs: any scalar)
        if production is not None and r.model_version == production:
            continue
        rep = _read_json(warehouse, keys.regression_report(r.date, r.model_version))
        if not rep or not rep.get("rows"):
            continue
        df = pd.DataFrame(rep["rows"])
        df = df[df["segment"] == SEGMENT_ALL]
        diff = keys.diff_page(r.date, r.model_version)  # the per-sample diff, linked relative to the report
        frames.append(
            df.assign(
                model_version=r.model_version,
                date=r.date,
                against=(rep.get("summary") or {}).get("baseline"),
                diff=posixpath.relpath(diff, posixpath.dirname(keys.history_report()))
                if warehouse.exists(diff)
                else None,
            )
        )
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _excerpt(text: Any, n: int = EXCERPT_CHARS) -> str:
    if text is None or (isinstance(text, float) and pd.isna(text)):
        return ""
    s = " ".join(str(text).split())
    return s if len(s) <= n else s[: n - 1] + "\u2026"


def failing_samples(
    warehouse: Warehouse, date: str, model_version: str, per_eval_set: int = 5
) -> pd.DataFrame:
    """The ``per_eval_set`` samples of one run with the most failed rows per eval set.

    Columns: suite, eval_set, sample_id, n_failed, failed (metric names), reason, input, expected,
    output (excerpts of at most :data:`EXCERPT_CHARS` characters). Empty when the run has no scores."""
    con = warehouse.connect_duckdb()
    try:

        def glob(table: str) -> str:
            return warehouse.uri(f"{table}/{keys.run_files_glob(date, model_version, table=table)}")

        from eval_pipeline.history.sources import has_files  # noqa: PLC0415 - keeps duckdb out of `import eval_pipeline.definitions`

        if not has_files(con, glob(keys.SCORES)):
            return pd.DataFrame()

        def src(t: str) -> str:
            return f"read_parquet({_quote(glob(t))}, hive_partitioning=true, hive_types_autocast=false, union_by_name=true)"  # noqa: E731

        sql = f"""
WITH f AS (
    SELECT suite, eval_set, sample_id, count(*) AS n_failed,
           string_agg(DISTINCT metric, ', ') AS failed,
           first(reason ORDER BY family, metric) AS reason, min(repeat) AS repeat
    FROM {src(keys.SCORES)} WHERE passed = false
    GROUP BY suite, eval_set, sample_id
), top AS (
    SELECT * FROM f QUALIFY row_number() OVER (PARTITION BY suite, eval_set ORDER BY n_failed DESC, sample_id)
                                <= {int(per_eval_set)}
)"""
        has_golden = has_files(con, glob(keys.GOLDEN))
        has_resp = has_files(con, glob(keys.RESPONSES))
        sel = [
            "top.*",
            "g.input_json AS input" if has_golden else "NULL AS input",
            "g.expected_json AS expected" if has_golden else "NULL AS expected",
            "r.text AS output" if has_resp else "NULL AS output",
        ]
        joins = ""
        if has_golden:
            joins += (
                f" LEFT JOIN (SELECT suite, eval_set, sample_id, any_value(input_json) AS input_json, "
                f"any_value(expected_json) AS expected_json FROM {src(keys.GOLDEN)} GROUP BY ALL) g "
                f"USING (suite, eval_set, sample_id)"
            )
        if has_resp:
            joins += (
                f" LEFT JOIN (SELECT suite, eval_set, sample_id, repeat, any_value(text) AS text "
                f"FROM {src(keys.RESPONSES)} GROUP BY ALL) r USING (suite, eval_set, sample_id, repeat)"
            )
        df = con.execute(
            f"{sql} SELECT {', '.join(sel)} FROM top{joins} "
            f"ORDER BY suite, eval_set, n_failed DESC, sample_id"
        ).df()
    finally:
        con.close()
    for col in ("reason", "input", "expected", "output"):
        df[col] = df[col].map(_excerpt)
    return df.drop(columns=["repeat"]).assign(date=date, model_version=model_version)


def report_inputs(
    warehouse: Warehouse, scores: pd.DataFrame, production: str | None, max_versions: int = 4
) -> dict[str, Any]:
    """Events, comparisons, failing samples and the latest date's verdicts (``summary``) for :func:`~eval_pipeline.history.report_page.build_report_html`.

    Failing samples: the runs of the latest date, production first, at most ``max_versions``."""
    if scores is None or scores.empty:
        return {
            "events": None,
            "comparisons": None,
            "samples": None,
            "summary": None,
            "thresholds": None,
            "pairs": None,
            "monitoring": monitoring_inputs(warehouse),
        }
    runs = scores[["date", "model_version"]].drop_duplicates().assign(date=lambda d: d["date"].astype(str))
    latest = runs["date"].max()
    on_latest = sorted(runs.loc[runs["date"] == latest, "model_version"], key=lambda v: (v != production, v))
    samples = [failing_samples(warehouse, latest, mv) for mv in on_latest[:max_versions]]
    samples = [s for s in samples if len(s)]
    return {
        "events": run_events(warehouse, runs),
        "comparisons": comparisons(warehouse, runs, production),
        "samples": pd.concat(samples, ignore_index=True) if samples else None,
        "summary": latest_verdicts(warehouse, runs, production),
        "thresholds": chart_thresholds(warehouse, runs),
        "pairs": picker_data(warehouse, keys.history_report(), runs_from_scores(runs)),  # any two versions
        "monitoring": monitoring_inputs(warehouse),  # feedback, drift, shadow and the canary
    }
