"""``ModelVersion.eval_sets`` (suite order, family filter) and the ``scoring`` package built on it."""

import importlib

import pandas as pd
import pytest
import yaml

from eval_pipeline import scoring
from eval_pipeline.project.loader import load_project
from eval_pipeline.scoring import families, thresholds

DET = {
    "family": "deterministic",
    "task": "t",
    "source": "golden/g.jsonl",
    "checks": [{"type": "exact_match"}],
    "thresholds": [{"metric": "pass_rate", "min": 0.5, "blocking": True}],
}
SIM = {"family": "similarity", "task": "t", "source": "golden/g.jsonl"}
JUDGE = {
    "family": "judge",
    "task": "t",
    "source": "golden/g.jsonl",
    "judge": {"model": "m", "dimensions": [{"name": "x"}]},
}
SUITES = {
    "alpha": [{"name": "a_det", **DET}, {"name": "a_sim", **SIM}],
    "beta": [{"name": "b_judge", **JUDGE}, {"name": "b_det", **DET}],
    "gamma": [{"name": "g_det", **DET}],
}


@pytest.fixture
def project(tmp_path):
    d = tmp_path / "data"
    for sub in ("suites", "golden", "prompts"):
        (d / sub).mkdir(parents=True)
    (d / "golden" / "g.jsonl").write_text('{"id": "1", "input": "hi", "expected": "greet"}\n')
    (d / "prompts" / "p.yaml").write_text("system: s\nuser: '{{ input }}'\n")
    for name, sets in SUITES.items():
        (d / "suites" / f"{name}.yaml").write_text(yaml.safe_dump({"name": name, "eval_sets": sets}))
    models = {
        "models": [
            # suites listed out of file order: the method must follow the model version's order
            {
                "name": "v1",
                "model": "claude-haiku-4-5",
                "prompts": {"t": "prompts/p.yaml"},
                "suites": ["beta", "alpha"],
            },
            {
                "name": "v2",
                "model": "claude-haiku-4-5",
                "prompts": {"t": "prompts/p.yaml"},
                "suites": ["gamma"],
            },
        ],
        "pricing": {"claude-haiku-4-5": {"input": 1.0, "output": 5.0}},
    }
    (d / "models.yaml").write_text(yaml.safe_dump(models))
    return load_project(d, validate_evaluators=False)


def _names(pairs):
    return [(s.name, es.name) for s, es in pairs]


def test_eval_sets_follow_model_version_suite_order_and_filter_by_family(project):
    v1, v2 = project.registry.models
    assert _names(v1.eval_sets(project)) == [
        ("beta", "b_judge"),
        ("beta", "b_det"),
        ("alpha", "a_det"),
        ("alpha", "a_sim"),
    ]
    assert _names(v1.eval_sets(project, "deterministic")) == [("beta", "b_det"), ("alpha", "a_det")]
    assert _names(v1.eval_sets(project, ("similarity", "judge"))) == [("beta", "b_judge"), ("alpha", "a_sim")]
    assert _names(v2.eval_sets(project)) == [("gamma", "g_det")]
    assert v2.eval_sets(project, "judge") == []
    suite, es = v1.eval_sets(project)[0]
    assert suite is project.suites["beta"] and es is project.suites["beta"].eval_sets[0]


def test_package_reexports_the_split_modules():
    assert scoring.graded_samples is families.graded_samples and scoring.FAMILIES == (
        "deterministic",
        "similarity",
        "judge",
    )
    assert (
        scoring.set_metrics is thresholds.set_metrics
        and scoring.ThresholdResult is thresholds.ThresholdResult
    )
    module = importlib.import_module("eval_pipeline.scoring.artifact")
    assert scoring.run_artifact is module.run_artifact and scoring.dumps is module.dumps


def _graded(rows):
    return pd.DataFrame(
        [
            {
                "suite": s,
                "eval_set": e,
                "sample_id": "1",
                "repeat": 0,
                "input": "hi",
                "expected": "greet",
                "metadata": {},
                "category": None,
                "response_text": text,
                "error_category": None,
                "stop_reason": "end_turn",
            }
            for s, e, text in rows
        ]
    )


def test_deterministic_family_scores_only_the_model_versions_sets(project):
    v1 = project.registry.models[0]
    graded = _graded(
        [
            ("alpha", "a_det", "greet"),
            ("beta", "b_det", "nope"),
            ("gamma", "g_det", "greet"),
            ("alpha", "a_sim", "greet"),
        ]
    )
    out = scoring.score_deterministic_family(project, v1, graded, "2026-01-01", v1.key)
    checks = out[out["metric"] == "exact_match"]
    # in the model version's order (beta before alpha); gamma (not a suite of v1) and a_sim (similarity) left out
    assert list(zip(checks["suite"], checks["eval_set"], checks["passed"])) == [
        ("beta", "b_det", False),
        ("alpha", "a_det", True),
    ]
    assert set(out["eval_set"]) == {"b_det", "a_det"}


def test_a_family_without_the_resource_it_needs_names_it(project):
    """The similarity and judge families say which resource the caller left out (evaluators.family.required_resource)."""
    v1 = project.registry.models[0]
    graded = _graded([("alpha", "a_sim", "greet"), ("beta", "b_judge", "greet")])
    with pytest.raises(
        ValueError, match=r"the similarity family needs scorer_factory \(model path -> similarity"
    ):
        families.score_family("similarity", project, v1, graded, "2026-01-01", v1.key)
    with pytest.raises(ValueError, match=r"the judge family needs execute \(the judge-call executor\)"):
        families.score_family("judge", project, v1, graded, "2026-01-01", v1.key, execute=None)


def test_run_artifact_lists_sets_in_model_version_order_and_gates_on_blocking_failures(project):
    v1 = project.registry.models[0]
    graded = _graded([("alpha", "a_det", "greet"), ("beta", "b_det", "nope")])
    scores = scoring.score_deterministic_family(project, v1, graded, "2026-01-01", v1.key)
    metrics_by_set, results = {}, []
    for suite, es in v1.eval_sets(project, "deterministic"):
        m = scoring.set_metrics(scores[scores["eval_set"] == es.name], es)
        metrics_by_set[(suite.name, es.name)] = m
        results.extend(scoring.apply_thresholds(suite, es, m))
    metrics_by_set[("gamma", "g_det")] = metrics_by_set[("alpha", "a_det")]  # not a suite of v1: left out
    responses = pd.DataFrame(
        {"cost_usd": [0.01, 0.02], "provenance": ["live", "replay"], "cached": [False, True]}
    )
    art = scoring.run_artifact(
        run_id="r",
        date="2026-01-01",
        model_version=v1,
        model_version_key=v1.key,
        project=project,
        metrics_by_set=metrics_by_set,
        thresholds=results,
        responses=responses,
        started_at=0.0,
    )
    assert [(s["suite"], s["eval_set"], s["pass"]) for s in art["eval_sets"]] == [
        ("beta", "b_det", False),
        ("alpha", "a_det", True),
    ]
    assert art["overall"] == "FAIL" and art["blocking_failures"] == ["beta/b_det:pass_rate"]
    assert art["answer_provenance"] == {"live": 1, "replay": 1} and art["live_answers_only"] is False
    assert art["cost_usd_cached"] == pytest.approx(0.02)
    assert b"NaN" not in scoring.dumps({"x": float("nan"), "y": [float("inf")]})


def test_families_are_the_evaluator_folders_that_register_one():
    from pathlib import Path

    from eval_pipeline.evaluators import family as registry

    names = registry.family_names()
    assert names == scoring.FAMILIES  # in order: the order eval_run concatenates score rows in
    root = Path(registry.__file__).parent
    assert {p.parent.name for p in root.glob("*/family.py")} == set(names)
    for name in names:
        assert registry.get_family(name).name == name
    with pytest.raises(
        KeyError, match=r"unknown evaluator family 'toxicity'; known: deterministic, similarity, judge"
    ):
        registry.get_family("toxicity")


def test_a_family_registered_twice_under_one_name_is_refused():
    from eval_pipeline.evaluators import family as registry

    class Other:
        name, order = "deterministic", 99

        def score_eval_set(self, suite, es, graded, keys, **resources):
            return None

    registry.family_names()
    with pytest.raises(ValueError, match="registered twice"):
        registry.register_family(Other())
    assert type(registry.get_family("deterministic")).__name__ == "DeterministicFamily"


def test_score_family_dispatches_each_eval_set_to_the_registered_family(project, monkeypatch):
    """A family sees each of the model version's eval sets of its name once, with the row keys and the
    resources; ``None`` skips an eval set; rows come back in the model version's order."""
    from eval_pipeline.evaluators import family as registry

    calls = []

    class Recorder:
        name, order = "deterministic", 10

        def score_eval_set(self, suite, es, graded, keys, **resources):
            calls.append((suite.name, es.name, len(graded), keys, resources))
            if es.name == "a_det":
                return None
            row = {c: None for c in families.SCORE_COLUMNS} | keys | {"metric": "seen", "sample_id": "1"}
            return pd.DataFrame([row])

    registry.family_names()
    monkeypatch.setitem(registry._REGISTRY, "deterministic", Recorder())
    v1 = project.registry.models[0]
    graded = _graded(
        [("alpha", "a_det", "x"), ("beta", "b_det", "y"), ("gamma", "g_det", "z"), ("alpha", "a_sim", "w")]
    )
    out = families.score_family("deterministic", project, v1, graded, "2026-01-01", v1.key, marker=7)
    assert [(s, e, n) for s, e, n, _, _ in calls] == [("beta", "b_det", 1), ("alpha", "a_det", 1)]
    assert calls[0][3] == {
        "date": "2026-01-01",
        "model_version": v1.key,
        "suite": "beta",
        "eval_set": "b_det",
    }
    assert all(r == {"marker": 7} for *_, r in calls)
    assert list(zip(out["suite"], out["eval_set"], out["metric"])) == [("beta", "b_det", "seen")]
