"""Judge metrics corrected by human review labels (scoring/ppi_metrics.py) and thresholds with
``estimator: ppi``: a judge that inflates scores passes the raw gate and fails the corrected one."""

import json

import numpy as np
import pandas as pd
import pytest
import yaml

from eval_pipeline import scoring
from eval_pipeline.project.loader import load_project

JUDGE_SET = {
    "name": "answers",
    "family": "judge",
    "task": "t",
    "source": "golden/g.jsonl",
    "judge": {"model": "m", "dimensions": [{"name": "accuracy", "threshold": 4}, {"name": "tone"}]},
    "thresholds": [
        {"metric": "judge.accuracy.pass_rate", "min": 0.6},
        {"metric": "accuracy.pass_rate", "min": 0.6, "estimator": "ppi", "blocking": True},
        {"metric": "accuracy.mean", "min": 3.3, "estimator": "ppi"},
    ],
}


@pytest.fixture
def project(tmp_path):
    d = tmp_path / "data"
    for sub in ("suites", "golden", "prompts", "reviews"):
        (d / sub).mkdir(parents=True)
    (d / "golden" / "g.jsonl").write_text('{"id": "1", "input": "hi", "expected": "greet"}\n')
    (d / "prompts" / "p.yaml").write_text("system: s\nuser: '{{ input }}'\n")
    (d / "suites" / "s.yaml").write_text(yaml.safe_dump({"name": "s", "eval_sets": [JUDGE_SET]}))
    models = {
        "models": [
            {"name": "v1", "model": "claude-haiku-4-5", "prompts": {"t": "prompts/p.yaml"}, "suites": ["s"]}
        ],
        "pricing": {"claude-haiku-4-5": {"input": 1.0, "output": 5.0}},
    }
    (d / "models.yaml").write_text(yaml.safe_dump(models))
    return load_project(d, validate_evaluators=False)


def _truth_and_judge(rng, n):
    """True 1-5 scores (human view: 50% at >= 4) and a judge one point kinder on 60% of answers."""
    truth = rng.choice([2, 3, 4, 5], size=n, p=[0.2, 0.3, 0.3, 0.2])
    judge = np.minimum(truth + (rng.random(n) < 0.6), 5)
    return truth, judge


def _scores(judge):
    rows = []
    for i, v in enumerate(judge):
        for dim, val in (("accuracy", float(v)), ("tone", 4.0)):
            rows.append(
                {
                    "suite": "s",
                    "eval_set": "answers",
                    "sample_id": f"s{i}",
                    "repeat": 0,
                    "family": "judge",
                    "metric": dim,
                    "value": val,
                    "passed": (val >= 4) if dim == "accuracy" else None,
                    "reason": "",
                    "infra_error": None,
                }
            )
    return pd.DataFrame(rows)


def _write_reviews(path, truth, judge, eval_set="answers"):
    lines = []
    for i, (h, j) in enumerate(zip(truth, judge)):
        lines.append(
            {
                "review_id": f"{eval_set}-r{i}",
                "suite": "s",
                "eval_set": eval_set,
                "sample_id": f"r{i}",
                "repeat": 0,
                "input": "q",
                "response_text": "a",
                "judge_scores": {"accuracy": float(j), "tone": 4.0},
                "scales": {"accuracy": [1, 5], "tone": [1, 5]},
                "human_label": {"accuracy": int(h), "tone": None},
            }
        )
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))


def test_ppi_corrects_an_inflating_judge_and_gates_on_it(project):
    rng = np.random.default_rng(3)
    _truth, judge = _truth_and_judge(rng, 1000)
    rtruth, rjudge = _truth_and_judge(rng, 150)
    base = project.base
    _write_reviews(base / "reviews" / "week1.jsonl", rtruth, rjudge)
    _write_reviews(base / "reviews" / "other.jsonl", rtruth[:5], rjudge[:5], eval_set="elsewhere")
    suite = project.suites["s"]
    (es,) = suite.eval_sets
    human = scoring.human_ratings(base, "s", "answers")
    assert len(human) == 150 and set(human["dimension"]) == {
        "accuracy"
    }  # tone unlabelled, other set left out

    m = scoring.set_metrics(_scores(judge), es, human)
    pr = m["ppi:accuracy.pass_rate"]
    raw = m["judge.accuracy.pass_rate"]["value"]
    assert raw > 0.62  # the judge sees about 0.68 pass
    assert pr["value"] < 0.6 and pr["ci_low"] < 0.5 < pr["ci_high"]  # the humans' 0.5 is inside
    assert pr["raw_judge"] == pytest.approx(np.mean(np.concatenate([rjudge, judge]) >= 4))
    assert pr["n_labelled"] == 150 and pr["n_unlabelled"] == 1000 and 0 < pr["lam"] <= 1
    assert pr["ci_high"] - pr["ci_low"] < pr["human_only_ci"][1] - pr["human_only_ci"][0]
    assert m["ppi:accuracy.mean"]["value"] == pytest.approx(3.5, abs=0.12)  # true mean 3.5; judge about 4.1
    assert "ppi:pass_rate" in m and "ppi:tone.mean" not in m

    results = {r.metric: r for r in scoring.apply_thresholds(suite, es, m)}
    assert results["judge.accuracy.pass_rate"].passed  # the raw judge clears 0.6 ...
    assert not results["ppi:accuracy.pass_rate"].passed  # ... the human-corrected estimate does not
    assert results["ppi:accuracy.pass_rate"].enforced_blocking
    assert results["ppi:accuracy.mean"].passed


def test_ppi_threshold_without_labels_fails_and_says_why(project):
    suite = project.suites["s"]
    (es,) = suite.eval_sets
    _t, judge = _truth_and_judge(np.random.default_rng(4), 50)
    m = scoring.set_metrics(_scores(judge), es, scoring.human_ratings(project.base, "s", "answers"))
    assert not any(k.startswith("ppi:") for k in m)
    r = {x.metric: x for x in scoring.apply_thresholds(suite, es, m)}["ppi:accuracy.pass_rate"]
    assert not r.passed and "needs >= 2 human labels" in r.note
