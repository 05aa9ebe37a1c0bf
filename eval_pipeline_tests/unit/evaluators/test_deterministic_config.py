"""Bad deterministic check configuration fails at load naming the key path; check names and hashes of
repeated check types."""

from __future__ import annotations

import pytest

from eval_pipeline.evaluators.deterministic import EvaluatorConfigError, validate_check_specs

WHERE = "data/suites/x.yaml: eval_sets[0].checks"


# ------------------------------------------------------------------ configuration errors
@pytest.mark.parametrize(
    "spec, message",
    [
        (
            {"type": "regexp", "pattern": "x"},
            f"{WHERE}[1].type: unknown check 'regexp'; known checks: bleu, contains_all",
        ),
        ({"pattern": "x"}, f"{WHERE}[1].type: unknown check None"),
        (
            {"type": "regex", "pattern": "ab("},
            f"{WHERE}[1].pattern: invalid regex 'ab(' (missing ), unterminated subpattern at position 2)",
        ),
        (
            {"type": "json_schema", "schema": {"type": "objekt"}},
            f"{WHERE}[1].schema: invalid JSON Schema at ['type']",
        ),
        (
            {"type": "json_schema", "schema": {"type": "object", "minProperties": -1}},
            f"{WHERE}[1].schema: invalid JSON Schema at ['minProperties']",
        ),
        (
            {"type": "json_schema", "schema_file": "missing.json"},
            f"{WHERE}[1].schema_file: schema file not found",
        ),
        ({"type": "json_schema"}, f"{WHERE}[1].schema: give exactly one of `schema` or `schema_file`"),
        ({"type": "regex"}, f"{WHERE}[1].pattern: missing required argument for check 'regex'"),
        ({"type": "forbidden_phrases"}, f"{WHERE}[1].phrases: missing required argument"),
        (
            {"type": "regex", "pattern": "x", "must_mach": True},
            f"{WHERE}[1].must_mach: unknown argument for check 'regex'; allowed: field, ignore_case, must_match, pattern",
        ),
        (
            {"type": "regex", "pattern": "x", "must_match": "yes"},
            f"{WHERE}[1].must_match: input should be a valid boolean",
        ),
        (
            {"type": "length", "min_chars": 10, "max_chars": 5},
            f"{WHERE}[1].max_chars: max_chars=5 is below min_chars=10",
        ),
        ({"type": "length"}, f"{WHERE}[1].min_chars: give at least one of"),
        ({"type": "rouge_l", "min_score": 1.5}, f"{WHERE}[1].min_score: must be within [0, 1], got 1.5"),
        (
            {"type": "label_in_set"},
            f"{WHERE}[1].labels: give exactly one of `labels` or `labels_from: expected_values`",
        ),
        (
            {"type": "label_in_set", "labels_from": "golden"},
            f"{WHERE}[1].labels_from: input should be 'expected_values'",
        ),
        (
            {"type": "exact_match", "normalize": ["strip", "upper"]},
            f"{WHERE}[1].normalize: unknown normalizer(s) ['upper']",
        ),
        ({"type": "exact_match", "field": "a..b"}, f"{WHERE}[1].field: malformed field path"),
        (
            {"type": "custom", "function": "no_such_pkg.mod:f"},
            f"{WHERE}[1].function: cannot import module 'no_such_pkg.mod'",
        ),
        (
            {"type": "custom", "function": "json:nope"},
            f"{WHERE}[1].function: module 'json' has no attribute 'nope'",
        ),
        (
            {"type": "custom", "function": "justaname"},
            f"{WHERE}[1].function: 'justaname' is not a dotted import path",
        ),
        ({"type": "valid_json", "name": "a.b"}, f"{WHERE}[1].name: must be a word"),
        ({"type": "valid_json", "name": "first"}, f"{WHERE}[1].name: duplicate check name 'first'"),
        ("valid_json", f"{WHERE}[1]: a check must be a mapping"),
    ],
)
def test_bad_configuration_names_the_key_path(spec, message):
    with pytest.raises(EvaluatorConfigError) as err:
        validate_check_specs([{"type": "valid_json", "name": "first"}, spec], WHERE)
    assert str(err.value).startswith(message), str(err.value)


def test_checks_list_must_be_a_list():
    with pytest.raises(EvaluatorConfigError, match=r"^x\.yaml: checks: must be a list"):
        validate_check_specs({"type": "valid_json"}, "x.yaml: checks")


def test_repeated_check_types_get_distinct_names_and_hashes():
    checks = validate_check_specs(
        [{"type": "regex", "pattern": "a"}, {"type": "regex", "pattern": "b"}], WHERE
    )
    assert [c.name for c in checks] == ["regex", "regex_2"]
    assert checks[0].evaluator_hash != checks[1].evaluator_hash
    again = validate_check_specs([{"type": "regex", "pattern": "a"}], WHERE)
    assert again[0].evaluator_hash == checks[0].evaluator_hash  # stable across loads
