"""Typed sections at load: check specs (one model per check type, the registry's factories agreeing with
them), the judge and regression sections; evaluator hashes unchanged by the typing."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
import yaml

from eval_pipeline.evaluators.deterministic import CHECK_TYPES, build_check, check, text_check
from eval_pipeline.evaluators.deterministic.base import ArgError, CheckFn, Sample
from eval_pipeline.project.checks import BUILTIN_CHECK_SPECS, CHECK_SPECS, CheckSpec, parse_check_specs
from eval_pipeline.project.errors import ConfigError
from eval_pipeline.project.judge import JudgeConfig
from eval_pipeline.project.loader import load_project
from eval_pipeline.project.paths import PROJECT_ROOT
from eval_pipeline.project.regression_config import RegressionConfig
from eval_pipeline.project.suites import load_suite

DATA = PROJECT_ROOT / "data"


def test_every_check_the_evaluators_ship_has_a_spec_model_with_the_same_arguments():
    builtin = {m.model_fields["type"].default: m for m in BUILTIN_CHECK_SPECS}
    shipped = {n for n, ct in CHECK_TYPES.items() if ct.factory.__module__.startswith("eval_pipeline.")}
    assert shipped == set(builtin)
    for name in shipped:
        fields = {(f.alias or k): f for k, f in builtin[name].params().items()}
        params = CHECK_TYPES[name].params
        assert set(fields) == set(params), name
        for arg, p in params.items():
            assert fields[arg].is_required() == (p.default is inspect.Parameter.empty), (name, arg)


def test_the_demo_suite_loads_typed_and_its_evaluator_hashes_are_those_of_the_raw_sections():
    project = load_project(DATA)
    suite = project.suites["customer_support"]
    sets = {es.name: es for es in suite.eval_sets}
    routing = sets["intent_routing"]
    assert all(isinstance(c, CheckSpec) for c in routing.checks)
    assert [c.metric for c in routing.checks] == ["label_in_set", "exact_match", "length"]
    assert isinstance(sets["faq_answer_quality"].judge, JudgeConfig)
    assert isinstance(suite.regression, RegressionConfig)
    # the hashes stored with every score row before the sections were typed (computed from the YAML as written)
    assert {n: es.evaluator_hash() for n, es in sets.items()} == {
        "intent_routing": "8ead13803ae6",
        "slot_extraction": "e2cea3204f05",
        "faq_answers": "a49e631de821",
        "faq_answer_quality": "5c3dacbf3841",
        "tool_calls": "8c9b260a852f",
        "next_turn": "c4a2debb1af9",
    }


def test_repeated_check_types_get_numbered_metrics_and_build_from_their_specs():
    specs = parse_check_specs([{"type": "regex", "pattern": "a"}, {"type": "regex", "pattern": "b"}], "x")
    assert [s.metric for s in specs] == ["regex", "regex_2"]
    built = build_check(specs[1], "x[1]")
    assert built.name == "regex_2" and built(Sample("s", text="b")).passed is True


def _suite_file(tmp_path: Path, checks: list) -> Path:
    (tmp_path / "suites").mkdir(exist_ok=True)
    (tmp_path / "g.jsonl").write_text('{"id": "1", "input": "hi", "expected": "x"}\n')
    suite = {
        "name": "s",
        "eval_sets": [
            {"name": "e", "family": "deterministic", "task": "t", "source": "g.jsonl", "checks": checks}
        ],
    }
    p = tmp_path / "suites" / "s.yaml"
    p.write_text(yaml.safe_dump(suite))
    return p


def test_a_bad_check_argument_fails_at_load_naming_file_and_key(tmp_path):
    p = _suite_file(tmp_path, [{"type": "valid_json"}, {"type": "regex", "pattern": "ab("}])
    with pytest.raises(ConfigError) as ei:
        load_suite(p, tmp_path)
    assert str(ei.value).startswith(f"{p.resolve()}: eval_sets[0].checks[1].pattern: invalid regex 'ab('")
    assert ei.value.key == "eval_sets[0].checks[1].pattern"


def test_a_users_own_check_is_validated_at_load_by_its_factory(tmp_path):
    @check("ends_with_test_only")
    def ends_with(suffix: str) -> CheckFn:
        """The response ends with ``suffix``."""
        if not suffix:
            raise ArgError("suffix", "must not be empty")
        return text_check(
            lambda value, sample: (value.endswith(suffix), f"does not end with {suffix!r}"), None
        )

    try:
        assert "ends_with_test_only" in CHECK_SPECS
        ok = load_suite(_suite_file(tmp_path, [{"type": "ends_with_test_only", "suffix": "!"}]), tmp_path)
        assert ok.eval_sets[0].checks[0].args == {"suffix": "!"}
        with pytest.raises(ConfigError, match=r"eval_sets\[0\]\.checks\[0\]\.suffix: must not be empty"):
            load_suite(_suite_file(tmp_path, [{"type": "ends_with_test_only", "suffix": ""}]), tmp_path)
        with pytest.raises(ConfigError, match=r"checks\[0\]\.suffix: input should be a valid string"):
            load_suite(_suite_file(tmp_path, [{"type": "ends_with_test_only", "suffix": 3}]), tmp_path)
    finally:
        CHECK_TYPES.pop("ends_with_test_only", None)
        CHECK_SPECS.pop("ends_with_test_only", None)
