"""Judge changes in history: the judge identity is a column of score_history, control charts break at a
judge change (marker, limits recomputed), and the regression report refuses to compare judge metrics
judged by different judges unless both sides were re-judged by the same one."""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from eval_pipeline.history import alerts as al
from eval_pipeline.history import charts
from eval_pipeline.history.aggregate import refresh_history
from eval_pipeline.history.alert_rules import AlertRules
from eval_pipeline.history.sources import HistorySources
from eval_pipeline.project.schemas import JUDGE_SCORE_COLUMNS, SCORE_COLUMNS
from eval_pipeline.regression.compare import regression_report
from eval_pipeline.regression.judge_changes import JUDGE_CHANGE_COLUMNS, judge_changes, judge_segments

N = 100


def judge_rows(
    date: str, mv: str, judge: str, rubric: str, pass_rate: float, seed: int, ehash: str | None = None
) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    passed = rng.uniform(size=N) < pass_rate
    return pd.DataFrame(
        {
            "date": date,
            "model_version": mv,
            "suite": "qa",
            "eval_set": "golden",
            "sample_id": [f"s{i}" for i in range(N)],
            "repeat": 0,
            "family": "judge",
            "metric": "helpful",
            "value": np.where(passed, 5.0, 2.0),
            "passed": passed,
            "reason": "r",
            "category": "a",
            "infra_error": None,
            "evaluator_hash": ehash or f"{judge}-{rubric}",
            "judge_model": judge,
            "rubric_hash": rubric,
        }
    )[JUDGE_SCORE_COLUMNS]


def _write(root: Path, date: str, mv: str, df: pd.DataFrame, family: str = "judge") -> None:
    p = root / f"scores/family={family}/date={date}/model_version={mv}"
    p.mkdir(parents=True, exist_ok=True)
    df.to_parquet(p / "data.parquet", index=False)


def history(tmp_path: Path) -> pd.DataFrame:
    """14 days of one judge series: days 0-9 judge A (pass rate ~0.8), days 10-13 judge B (a harsher judge, ~0.55);
    plus one older deterministic file without judge columns."""
    root = tmp_path / "wh"
    dates = [f"2025-01-{d:02d}" for d in range(1, 15)]
    for i, date in enumerate(dates):
        judge, rate = ("claude-sonnet-4-5", 0.8) if i < 10 else ("gpt-4o", 0.55)
        _write(root, date, "v1", judge_rows(date, "v1", judge, "r1", rate, seed=i))
    det = judge_rows(dates[0], "v1", "x", "y", 0.9, 0)[SCORE_COLUMNS].assign(
        family="deterministic", metric="exact"
    )
    _write(root, dates[0], "v1", det, family="deterministic")
    con = duckdb.connect()
    res = refresh_history(
        con, HistorySources.for_root(root), db_path=root / "history.duckdb", parquet_dir=str(root / "history")
    )
    return pd.read_parquet(res.parquet_paths["score_history"])


def test_judge_identity_is_a_history_column_and_changes_are_listed(tmp_path):
    h = history(tmp_path)
    j = h[(h.family == "judge") & (h.segment == "__all__")].sort_values("date")
    assert list(j.judge_model[:10].unique()) == ["claude-sonnet-4-5"] and set(j.judge_model[10:]) == {
        "gpt-4o"
    }
    assert h.loc[h.family == "deterministic", "judge_model"].isna().all()
    ch = judge_changes(h)
    assert list(ch.columns) == JUDGE_CHANGE_COLUMNS and len(ch) == 1
    r = ch.iloc[0]
    assert (r.date, r.judge_model, r.previous_judge_model, r.suite, r.eval_set) == (
        "2025-01-11",
        "gpt-4o",
        "claude-sonnet-4-5",
        "qa",
        "golden",
    )
    assert list(judge_segments(["a", "a", None, "b", "b", "a"], ["r", "r", None, "r", "r", "r"])) == [
        0,
        0,
        0,
        1,
        1,
        2,
    ]


def test_control_chart_breaks_at_judge_change(tmp_path):
    h = history(tmp_path)
    g = (
        h[(h.family == "judge") & (h.segment == "__all__")]
        .sort_values("date")
        .assign(date=lambda d: d["date"].astype(str))
    )
    rules = AlertRules(control_chart="shewhart", control_baseline_points=3)
    ch = al.control_chart_for(g, rules)
    assert ch["judge_change"].tolist() == [False] * 10 + [True, False, False, False]
    # limits recomputed: the second segment's centre is judge B's baseline (~0.55), not judge A's (~0.8)
    assert abs(ch["center"].iat[0] - 0.8) < 0.08 and abs(ch["center"].iat[-1] - 0.55) < 0.08
    # without the break the harsher judge looks like a quality drop: out-of-control points; with it, none
    flat = al._one_chart(g, rules)
    assert flat["out_of_control"].iloc[10:].any() and not ch["out_of_control"].iloc[10:].any()
    assert al.control_chart_alerts(g, rules) == []
    png = charts.trend_chart_png(ch, title="qa/golden helpful")
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


def test_regression_report_refuses_mixed_judges_unless_rejudged():
    cand = judge_rows("2025-01-02", "v2", "gpt-4o", "r1", 0.5, seed=1)
    base = judge_rows("2025-01-01", "v1", "claude-sonnet-4-5", "r1", 0.9, seed=2)
    det_c = cand[SCORE_COLUMNS].assign(family="deterministic", metric="exact", evaluator_hash="d")
    det_b = base[SCORE_COLUMNS].assign(family="deterministic", metric="exact", evaluator_hash="d")
    rep = regression_report(pd.concat([cand, det_c]), pd.concat([base, det_b]))
    judge = rep.rows[rep.rows.family == "judge"]
    assert len(judge) == 1 and judge["test"].iat[0].startswith("refused: judged by different judges")
    assert judge["verdict"].iat[0] == "insufficient_data" and not bool(judge["gating"].iat[0])
    assert "rescore_job" in judge["test"].iat[0] and "NOT compared" in rep.message
    assert (
        rep.rows.family == "deterministic"
    ).any() and not rep.gate_regressions.empty  # det. still compared
    # the baseline re-scored with the candidate's judge (rescore_job backfill): compared, a real regression found
    rejudged = judge_rows("2025-01-01", "v1", "gpt-4o", "r1", 0.9, seed=2)
    rep2 = regression_report(cand, rejudged)
    j2 = rep2.rows[rep2.rows.family == "judge"]
    assert not j2["test"].str.startswith("refused").any() and (j2["verdict"] == "regression").any()
