"""DuckDB history aggregation on a small local Parquet tree (tmp_path)."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from eval_pipeline.history import sql as q
from eval_pipeline.history.aggregate import refresh_history, refresh_warehouse_history
from eval_pipeline.history.runs import (
    list_scored_runs,
    load_run_scores,
    load_runs,
    open_history,
    query_history,
)
from eval_pipeline.history.sources import HistorySources
from eval_pipeline.project.schemas import SCORE_COLUMNS
from eval_pipeline.regression.baselines import RunRef, select_baseline
from eval_pipeline.regression.compare import regression_report
from eval_pipeline.storage import Warehouse
from eval_pipeline_tests.support.servers.seaweed import seaweed_fixture

DATES = ["2024-03-01", "2024-03-02"]
MVS = ["prod", "cand"]


def _write(root: Path, rel: str, df: pd.DataFrame) -> None:
    p = root / rel
    p.mkdir(parents=True, exist_ok=True)
    df.to_parquet(p / "data.parquet", index=False)


def _scores(
    date: str, mv: str, family: str, passed: list, cats: list, values=None, infra=None
) -> pd.DataFrame:
    n = len(passed)
    return pd.DataFrame(
        {
            "date": date,
            "model_version": mv,
            "suite": "qa",
            "eval_set": "golden",
            "sample_id": [f"s{i}" for i in range(n)],
            "repeat": 0,
            "family": family,
            "metric": f"{family}_m",
            "value": values if values is not None else [None if p is None else float(p) for p in passed],
            "passed": pd.array(passed, dtype="boolean"),
            "reason": ["bad" if p is False else "ok" for p in passed],
            "category": cats,
            "infra_error": infra if infra is not None else [None] * n,
            "evaluator_hash": "h",
        }
    )[SCORE_COLUMNS]


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """2 dates x 2 model versions; deterministic: 6 samples (one infra error), judge: continuous values."""
    root = tmp_path / "wh"
    for date in DATES:
        for mv in MVS:
            passed = (
                [True, True, False, None, True, False]
                if mv == "prod"
                else [True, False, False, None, False, False]
            )
            cats = ["a", "a", "a", "b", "b", "b"]
            infra = [None, None, None, "timeout", None, None]
            _write(
                root,
                f"scores/family=deterministic/date={date}/model_version={mv}",
                _scores(date, mv, "deterministic", passed, cats, infra=infra),
            )
            _write(
                root,
                f"scores/family=judge/date={date}/model_version={mv}",
                _scores(date, mv, "judge", [True, True, False], ["a", "a", "b"], values=[4.0, 5.0, 2.0]),
            )
            _write(
                root,
                f"responses/date={date}/model_version={mv}",
                pd.DataFrame(
                    {
                        "date": date,
                        "model_version": mv,
                        "suite": "qa",
                        "eval_set": "golden",
                        "sample_id": [f"s{i}" for i in range(6)],
                        "repeat": 0,
                        "latency_s": [1.0, 2.0, 3.0, 30.0, 4.0, 5.0],
                        "ttft_s": 0.2,
                        "cost_usd": [0.01, 0.01, 0.01, 0.0, 0.02, 0.02],
                        "input_tokens": 10,
                        "output_tokens": 20,
                        "error_category": [None, None, None, "timeout", "refusal", None],
                    }
                ),
            )
            run = root / f"runs/date={date}/model_version={mv}"
            run.mkdir(parents=True)
            (run / "run.json").write_text(json.dumps({"passed": mv == "prod", "n": 6}))
    return root


def _refresh(root: Path):
    con = duckdb.connect()
    return refresh_history(
        con,
        HistorySources.for_root(root),
        db_path=root / "history" / "history.duckdb",
        parquet_dir=str(root / "history"),
    )


def test_empty_history_works_and_says_no_baseline(tmp_path: Path):
    res = _refresh(tmp_path / "empty")
    assert res.empty and res.row_counts == {"score_history": 0, "ops_history": 0, "failure_modes": 0}
    assert pd.read_parquet(res.parquet_paths["score_history"]).columns.tolist() == q.SCORE_HISTORY_COLUMNS
    for sql_text in (q.TREND_QUERY,):
        assert query_history(res.db_path, sql_text, ["v1", "m"]).empty
    con = open_history(tmp_path / "missing.duckdb")  # never refreshed: an empty history, not an error
    runs = list_scored_runs(con)
    baseline, why = select_baseline(runs, RunRef("2024-03-01", "v1"))
    assert baseline is None
    cand = load_run_scores(
        duckdb.connect(), HistorySources.for_root(tmp_path / "empty").scores_glob, "2024-03-01", "v1"
    )
    assert regression_report(cand, None).status == "no_baseline"


def test_aggregate_counts(tree: Path):
    res = _refresh(tree)
    h = pd.read_parquet(res.parquet_paths["score_history"])
    det = h[(h["family"] == "deterministic") & (h["date"] == DATES[0])].set_index(
        ["model_version", "segment"]
    )
    row = det.loc[("prod", "__all__")]
    assert (row["n_rows"], row["n_graded"], row["n_passed"], row["n_infra_error"]) == (6, 5, 3, 1)
    assert row["pass_rate"] == pytest.approx(3 / 5)
    assert det.loc[("prod", "a"), "pass_rate"] == pytest.approx(2 / 3)
    assert det.loc[("prod", "b"), "n_graded"] == 2
    assert det.loc[("cand", "__all__"), "pass_rate"] == pytest.approx(1 / 5)
    judge = h[(h["family"] == "judge") & (h["segment"] == "__all__")]
    assert judge["mean_value"].tolist() == pytest.approx([11 / 3] * 4)
    assert len(h) == 2 * 2 * 2 * 3  # dates x versions x families x (2 categories + roll-up)

    ops = pd.read_parquet(res.parquet_paths["ops_history"])
    o = ops[(ops["suite"] == "qa") & (ops["date"] == DATES[0]) & (ops["model_version"] == "prod")].iloc[0]
    lat_ok = np.array([1.0, 2.0, 3.0, 4.0, 5.0])  # the timeout's 30 s is excluded
    assert o["latency_p50"] == pytest.approx(np.quantile(lat_ok, 0.5))
    assert o["latency_p95"] == pytest.approx(np.quantile(lat_ok, 0.95))
    assert (o["n_infra_error"], o["n_model_error"]) == (1, 1)
    # per response without an infrastructure error: the timeout cost nothing and answered nothing
    assert o["cost_per_sample"] == pytest.approx(0.07 / 5)
    assert o["n_responses"] - o["n_infra_error"] == 5
    assert len(ops[ops["suite"] == "__all__"]) == 4

    fm = pd.read_parquet(res.parquet_paths["failure_modes"])
    f = fm[(fm["date"] == DATES[0]) & (fm["model_version"] == "cand")].set_index(["kind", "label"])
    assert f.loc[("failed_check", "deterministic_m"), "n"] == 4
    assert f.loc[("failed_check", "deterministic_m"), "share"] == pytest.approx(4 / 5)
    assert f.loc[("failed_check", "deterministic_m"), "example_reason"] == "bad"
    assert f.loc[("error_category", "timeout"), "n"] == 1
    assert f.loc[("judge_fail", "judge_m"), "n"] == 1


def test_example_queries_and_run_loading(tree: Path):
    res = _refresh(tree)
    trend = query_history(res.db_path, q.TREND_QUERY, ["prod", "deterministic_m"])
    assert trend["date"].tolist() == DATES and trend["pass_rate"].tolist() == pytest.approx([0.6, 0.6])
    cmp_ = query_history(res.db_path, q.CANDIDATE_VS_BASELINE_QUERY, [DATES[1], "cand", "prod"])
    top = cmp_.iloc[0]
    # segment b: prod passes 1 of 2 graded, cand 0 of 2 -> the largest drop
    assert (top["metric"], top["segment"]) == ("deterministic_m", "b")
    assert top["pass_rate_delta"] == pytest.approx(-0.5)
    overall = cmp_[(cmp_["metric"] == "deterministic_m") & (cmp_["segment"] == "__all__")].iloc[0]
    assert overall["pass_rate_delta"] == pytest.approx(1 / 5 - 3 / 5)
    win = query_history(res.db_path, q.ALERT_WINDOW_QUERY, ["prod", "2024-03-01"])
    assert set(win["date"]) == {DATES[1]} and win["trailing_avg"].notna().all()
    assert len(query_history(res.db_path, q.OPS_TREND_QUERY, ["prod"])) == 2

    con = duckdb.connect()
    src = HistorySources.for_root(tree)
    run = load_run_scores(con, src.scores_glob, DATES[1], "cand")
    assert len(run) == 9 and set(run["family"]) == {"deterministic", "judge"}
    runs = load_runs(con, src.runs_glob)
    assert runs.set_index(["date", "model_version"]).loc[(DATES[1], "prod"), "passed"] == True  # noqa: E712
    base, why = select_baseline(runs, RunRef(DATES[1], "cand"), production_model_version="prod")
    assert base == RunRef(DATES[1], "prod")


def test_refresh_is_idempotent_single_writer_and_readers_never_see_half_a_db(tree: Path):
    first = _refresh(tree)
    before = query_history(first.db_path, "SELECT * FROM score_history ORDER BY ALL")
    errors: list[BaseException] = []
    stop = threading.Event()

    def writer():
        try:
            for _ in range(3):
                _refresh(tree)
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    def reader():
        while not stop.is_set():
            try:
                n = query_history(first.db_path, "SELECT count(*) AS n FROM score_history")["n"].iloc[0]
                assert n == len(before)
            except BaseException as e:  # noqa: BLE001
                errors.append(e)
                return

    threads = [threading.Thread(target=writer) for _ in range(2)]
    r = threading.Thread(target=reader)
    r.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stop.set()
    r.join()
    assert errors == []
    after = query_history(first.db_path, "SELECT * FROM score_history ORDER BY ALL")
    pd.testing.assert_frame_equal(before, after)
    leftovers = [p.name for p in (tree / "history").iterdir() if ".tmp-" in p.name]
    assert leftovers == []


seaweed_s3 = seaweed_fixture(scope="module")


def test_refresh_from_s3_warehouse(tree: Path, tmp_path: Path, seaweed_s3, monkeypatch):
    """The same tree in S3 (SeaweedFS): same history, history Parquet written back to the bucket."""
    for k, v in seaweed_s3.env().items():
        monkeypatch.setenv(k, v)
    client = seaweed_s3.client()
    for f in tree.rglob("*"):
        if f.is_file():
            client.put_object(Bucket=seaweed_s3.bucket, Key=f"wh/{f.relative_to(tree)}", Body=f.read_bytes())
    wh = Warehouse.from_url(f"s3://{seaweed_s3.bucket}/wh", endpoint_url=seaweed_s3.endpoint_url)
    res = refresh_warehouse_history(wh, db_path=tmp_path / "s3hist.duckdb", threads=2)
    assert res.parquet_paths["score_history"] == f"s3://{seaweed_s3.bucket}/wh/history/score_history.parquet"
    local = _refresh(tree)
    cols = "date, model_version, suite, family, metric, segment, n_graded, n_passed"
    a = query_history(res.db_path, f"SELECT {cols} FROM score_history ORDER BY ALL")
    b = query_history(local.db_path, f"SELECT {cols} FROM score_history ORDER BY ALL")
    pd.testing.assert_frame_equal(a, b)
    assert wh.exists("history/ops_history.parquet")
    con = wh.connect_duckdb()
    assert len(load_run_scores(con, HistorySources.for_warehouse(wh).scores_glob, DATES[0], "prod")) == 9


def test_regression_report_for_run_picks_baseline_and_flags(tree: Path):
    from eval_pipeline.project.regression_config import RegressionConfig
    from eval_pipeline.regression.stored_runs import regression_report_for_run

    con = duckdb.connect()
    src = HistorySources.for_root(tree)
    cfg = RegressionConfig(min_pairs=1)
    rep = regression_report_for_run(
        con, src, RunRef(DATES[1], "cand"), production_model_version="prod", config=cfg
    )
    assert rep.baseline == RunRef(DATES[1], "prod") and rep.baseline_reason == "production model version"
    row = rep.rows[(rep.rows["metric"] == "deterministic_m") & (rep.rows["segment"] == "__all__")].iloc[0]
    assert (row["n_pairs"], row["n_worse"], row["n_better"]) == (5, 2, 0)
    # default: the baseline run alone (the same-night paired comparison), exact McNemar
    assert rep.baseline_pool == [] and (row["test"], row["repeats"]) == ("mcnemar_exact", 1)
    two = regression_report_for_run(
        con,
        src,
        RunRef(DATES[1], "cand"),
        production_model_version="prod",
        config=RegressionConfig(min_pairs=1, baseline_nights=2),
    )
    # the earlier night's responses carry no cache key: whether its answers are new draws is unknown, not pooled
    assert two.baseline_pool == [] and "which draw each answer is is unknown" in two.message
    first = regression_report_for_run(con, src, RunRef(DATES[0], "prod"), config=cfg)
    assert first.status == "no_baseline"


def _tables(db_path) -> dict[str, pd.DataFrame]:
    return {
        t: query_history(db_path, f"SELECT * FROM {t} ORDER BY ALL")
        for t in ("score_history", "ops_history", "failure_modes")
    }


def _add_date(root: Path, date: str) -> None:
    for mv in MVS:
        _write(
            root,
            f"scores/family=deterministic/date={date}/model_version={mv}",
            _scores(date, mv, "deterministic", [True, False, True], ["a", "b", "b"]),
        )
        _write(
            root,
            f"responses/date={date}/model_version={mv}",
            pd.DataFrame(
                {
                    "date": date,
                    "model_version": mv,
                    "suite": "qa",
                    "eval_set": "golden",
                    "sample_id": ["s0", "s1"],
                    "repeat": 0,
                    "latency_s": [1.0, 3.0],
                    "ttft_s": 0.1,
                    "cost_usd": 0.01,
                    "input_tokens": 5,
                    "output_tokens": 7,
                    "error_category": [None, "refusal"],
                }
            ),
        )


def test_incremental_refresh_reaggregates_only_changed_dates(tree: Path, tmp_path: Path):
    first = _refresh(tree)
    assert sorted(first.dates_aggregated) == DATES and first.dates_reused == []
    again = _refresh(tree)  # nothing changed: every date reused, same tables
    assert again.dates_aggregated == [] and sorted(again.dates_reused) == DATES
    pd.testing.assert_frame_equal(
        _tables(first.db_path)["score_history"], _tables(again.db_path)["score_history"]
    )

    _add_date(tree, "2024-03-03")
    inc = _refresh(tree)
    assert inc.dates_aggregated == ["2024-03-03"] and sorted(inc.dates_reused) == DATES
    assert (tree / "history" / "score_history" / "date=2024-03-03.parquet").exists()
    # the same tables as a full rebuild from scratch (fresh db and parts folder)
    con = duckdb.connect()
    full = refresh_history(con, HistorySources.for_root(tree), db_path=tmp_path / "full" / "h.duckdb")
    assert sorted(full.dates_aggregated) == DATES + ["2024-03-03"]
    inc_t, full_t = _tables(inc.db_path), _tables(full.db_path)
    for t in inc_t:
        pd.testing.assert_frame_equal(inc_t[t], full_t[t])
    assert set(inc_t["score_history"]["date"]) == set(DATES + ["2024-03-03"])
    assert inc.row_counts == full.row_counts

    # a rewritten partition (different content) re-aggregates its date only
    _write(
        tree,
        f"scores/family=judge/date={DATES[0]}/model_version=prod",
        _scores(DATES[0], "prod", "judge", [False, False, False], ["a", "a", "b"], values=[1.0, 1.0, 1.0]),
    )
    rw = _refresh(tree)
    assert rw.dates_aggregated == [DATES[0]]
    judge = query_history(
        rw.db_path,
        "SELECT mean_value FROM score_history WHERE date = ? AND model_version = "
        "'prod' AND family = 'judge' AND segment = '__all__'",
        [DATES[0]],
    )
    assert judge["mean_value"].tolist() == pytest.approx([1.0])

    # a deleted date drops its aggregates; a lost part file forces that date to be rebuilt
    import shutil

    for sub in ("scores/family=deterministic", "scores/family=judge", "responses", "runs"):
        shutil.rmtree(tree / sub / f"date={DATES[1]}")
    (tree / "history" / "ops_history" / "date=2024-03-03.parquet").unlink()
    gone = _refresh(tree)
    assert gone.dates_removed == [DATES[1]] and gone.dates_aggregated == ["2024-03-03"]
    assert not (tree / "history" / "score_history" / f"date={DATES[1]}.parquet").exists()
    for t, frame in _tables(gone.db_path).items():
        assert DATES[1] not in set(frame["date"]), t
    assert set(pd.read_parquet(gone.parquet_paths["score_history"])["date"]) == {DATES[0], "2024-03-03"}
