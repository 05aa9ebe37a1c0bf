"""PII redaction on Presidio + libphonenumber + spaCy NER: entities, modes, configuration, and a
monitoring run over the Faker-labelled PII set that writes no PII value to any file."""

from __future__ import annotations

import json
import re
import time

import dagster as dg
import pyarrow.parquet as pq
import pytest
import yaml

from eval_pipeline.monitoring.pii import RedactionConfig, Redactor, redactor_for
from eval_pipeline_tests.support.pii_testset import (
    FREE_KINDS,
    KINDS,
    STRUCTURED_KINDS,
    clean_messages,
    generate,
    value_caught,
)


@pytest.fixture(scope="module")
def full():
    return redactor_for({"mode": "full"})


@pytest.mark.parametrize(
    "text,expected",
    [
        ("my iban is DE89 3704 0044 0532 0130 00 thanks", "my iban is [IBAN] thanks"),
        ("send it to GB82WEST12345698765432", "send it to [IBAN]"),
        ("ref GB82WEST12345698765431 ok", "ref GB82WEST12345698765431 ok"),  # mod-97 checksum fails
        ("my SSN is 536-90-4399", "my SSN is [SSN]"),
        ("ruf mich an: 030 12345678", "ruf mich an: [PHONE]"),  # German national format
        ("appelle-moi au 06 12 34 56 78", "appelle-moi au [PHONE]"),  # French mobile
        ("call +44 20 7946 0958 please", "call [PHONE] please"),
        ("my date of birth is 12.03.1985", "my date of birth is [DOB]"),
        ("I was born on March 3, 1985", "I was born on [DOB]"),
        ("the payment on 12.03.2024 failed", "the payment on 12.03.2024 failed"),  # a date, no birth context
        ("account number 12345678, sort code 12-34-56", "account number [ACCOUNT], sort code [ACCOUNT]"),
        ("passport number C01X00T47", "passport number [PASSPORT]"),
        (
            "Hi, my name is Grégoire Colas and my card was stolen",
            "Hi, my name is [PERSON] and my card was stolen",
        ),
        ("Please send it to Agnes-Wesack-Straße 26, 66907 Werdau.", "Please send it to [ADDRESS]."),
        ("new address: 8, avenue Manon Gillet, 97636 Sainte Antoinenec", "new address: [ADDRESS]"),
        ("I moved to 3608 Kathryn Park, West Jerry, IN 60742", "I moved to [ADDRESS]"),
        ("order 12345 costs $19.99", "order 12345 costs $19.99"),
        ("I am in the UK and my Mastercard does not work", "I am in the UK and my Mastercard does not work"),
    ],
)
def test_entities_found_by_presidio_phonenumbers_ner_and_project_patterns(full, text, expected):
    assert full.redact_text(text) == expected


def test_generated_set_recall_precision_and_clean_messages(full):
    msgs = generate(25, seed=5)
    spans = full.analyze([m.text for m in msgs])
    by_kind = {k: [value_caught(m, s) for m, s in zip(msgs, spans) if m.kind == k] for k in KINDS}
    for k in STRUCTURED_KINDS:
        assert sum(by_kind[k]) / len(by_kind[k]) >= 0.95, (k, by_kind[k])
    for k in FREE_KINDS:
        assert sum(by_kind[k]) / len(by_kind[k]) >= 0.85, (k, by_kind[k])
    n_spans = sum(len(s) for s in spans)
    tp = sum(1 for m, sp in zip(msgs, spans) for s in sp if s.start < m.end and s.end > m.start)
    assert tp / n_spans >= 0.95
    clean = clean_messages(1500)
    altered = [c for c, s in zip(clean, full.analyze(clean)) if s]
    assert len(clean) == 1500 and len(altered) / len(clean) <= 0.02, altered[:10]


def test_value_caught_needs_every_identifying_character():
    (m,) = generate(1, seed=1, kinds=("iban",))

    class S:
        def __init__(self, a, b):
            self.start, self.end = a, b

    assert value_caught(m, [S(m.start, m.end)])
    assert not value_caught(m, [S(m.start, m.end - 2)])
    assert not value_caught(m, [])


def test_structured_mode_runs_no_ner_and_full_mode_finds_places():
    fast = Redactor({"mode": "structured"})
    assert fast.ner is None
    text = "My card was swallowed by the ATM in Leeds yesterday, email me at a.b@example.org"
    assert (
        fast.redact_text(text) == "My card was swallowed by the ATM in Leeds yesterday, email me at [EMAIL]"
    )
    assert (
        redactor_for().redact_text(text)
        == "My card was swallowed by the ATM in [LOCATION] yesterday, email me at [EMAIL]"
    )


def test_entities_threshold_allow_list_and_extra_patterns():
    text = "Hi, I opened a Nova Saver account, IBAN DE89370400440532013000, call 030 12345678"
    assert re.fullmatch(
        r"Hi, I opened a \[(PERSON|LOCATION)\] account, IBAN \[IBAN\], call \[PHONE\]",
        redactor_for().redact_text(text),
    )  # a product name that looks like a name
    allowed = Redactor({"allow_list": ["Nova Saver"]})
    assert allowed.redact_text(text) == "Hi, I opened a Nova Saver account, IBAN [IBAN], call [PHONE]"
    only_email = Redactor({"entities": ["email"], "mode": "structured"})
    assert only_email.redact_text(text) == text
    strict = Redactor({"score_threshold": 0.95, "mode": "structured"})  # phone scores 0.4, IBAN 1.0
    assert strict.redact_text(text) == "Hi, I opened a Nova Saver account, IBAN [IBAN], call 030 12345678"
    extra = Redactor(
        {
            "mode": "structured",
            "extra_patterns": [{"name": "member", "regex": r"MBR-\d{6}", "token": "[MEMBER]"}],
        }
    )
    out, counts = extra.redact_array(["member MBR-123456 here", "nothing"])
    assert out.to_pylist() == ["member [MEMBER] here", "nothing"] and counts.tolist() == [1, 0]
    with pytest.raises(ValueError, match="mode"):
        RedactionConfig(mode="fastest")


def test_salted_hash_replacement_is_stable_within_a_day_only(monkeypatch):
    cfg = {"replacement": "hash", "mode": "structured", "hash_salt_env": "TEST_PII_SALT"}
    monkeypatch.delenv("TEST_PII_SALT", raising=False)
    with pytest.raises(ValueError, match="TEST_PII_SALT"):
        Redactor(cfg, day="2026-01-01")
    monkeypatch.setenv("TEST_PII_SALT", "s3cret-salt")
    d1, d2 = Redactor(cfg, day="2026-01-01"), Redactor(cfg, day="2026-01-02")
    texts = ["mail jane@example.org now", "again jane@example.org", "other bob@example.org"]
    a = d1.redact_series(texts)[0]
    toks = [re.search(r"\[EMAIL:[0-9a-f]{8}\]", t).group(0) for t in a]
    assert toks[0] == toks[1] != toks[2]
    assert d2.redact_series(texts)[0][0] != a[0]  # another day: not linkable
    monkeypatch.setenv("TEST_PII_SALT", "other-salt")
    assert Redactor(cfg, day="2026-01-01").redact_series(texts)[0][0] != a[0]
    assert not any("s3cret" in t or "jane" in t for t in a)


# ------------------------------------------------------------- a monitoring run over the PII set

DAY = "2026-10-20"


def _write_pii_traffic(traffic, msgs) -> None:
    from eval_pipeline.demo.synthetic_traffic import SyntheticTrafficConfig, generate_records

    records, _, _ = generate_records(SyntheticTrafficConfig(day=DAY, n_rows=len(msgs), seed=7))
    lines = []
    for rec, m in zip(records, msgs):
        rec = {
            **rec,
            "input": m.text,
            "output": f"Thanks, I noted {m.value} for you.",
        }  # the answer echoes it
        lines.append(json.dumps(rec))
    lines.append(json.dumps(records[0])[:-40] + f" {msgs[0].value}")  # a malformed line holding PII
    folder = traffic / f"date={DAY}"
    folder.mkdir(parents=True)
    (folder / "part-0000.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_monitoring_run_over_the_generated_pii_set_writes_no_pii(tmp_path, monkeypatch):
    from eval_pipeline.defs.resources import (
        EmbeddingResource,
        EvalConfigResource,
        LLMResource,
        WarehouseResource,
        project_resource,
    )

    msgs = generate(12, seed=23)
    traffic, wh, data = tmp_path / "traffic", tmp_path / "wh", tmp_path / "data"
    data.mkdir()
    (data / "monitoring.yaml").write_text(
        yaml.safe_dump(
            {
                "sample_rate": 1.0,
                "drift": {"embedding_clusters": 2, "max_texts": 200},
                "invariants": {"*": [{"type": "length", "min_chars": 1, "max_chars": 4000}]},
            }
        ),
        encoding="utf-8",
    )
    _write_pii_traffic(traffic, msgs)
    monkeypatch.setenv("EVAL_TRAFFIC_PREFIX", str(traffic))
    monkeypatch.setenv("EVAL_MONITORING_EMBEDDER", "hashing")
    monkeypatch.delenv("EVAL_TRAFFIC_SAMPLE_RATE", raising=False)
    monkeypatch.delenv("EVAL_MONITORING_CONFIG", raising=False)
    from eval_pipeline.definitions import defs

    resources = {
        "eval_config": EvalConfigResource(data_dir=str(data)),
        "project": project_resource,
        "warehouse": WarehouseResource(url=str(wh)),
        "llm": LLMResource(provider="replay"),
        "embeddings": EmbeddingResource(),
    }
    result = dg.materialize(
        [*defs.assets, *defs.asset_checks],
        selection=[
            "traffic_sample",
            "online_scores",
            "feedback_metrics",
            "traffic_drift",
            "shadow_comparison",
        ],
        partition_key=DAY,
        instance=dg.DagsterInstance.ephemeral(),
        resources=resources,
    )
    assert result.success
    files = [p for p in wh.rglob("*") if p.is_file()]
    assert any(p.suffix == ".parquet" for p in files) and any(p.name == "malformed.json" for p in files)
    decoded = []
    for p in files:
        text = p.read_bytes().decode("utf-8", "replace")
        if p.suffix == ".parquet":
            text += json.dumps(pq.read_table(p).to_pylist(), default=str, ensure_ascii=False)
        elif p.suffix == ".json":
            text += json.dumps(json.loads(text), ensure_ascii=False)
        decoded.append((p, text))
    logs = " ".join(str(getattr(e, "message", "")) for e in result.all_events)  # run logs and metadata
    decoded.append(("run events", logs))
    sample = pq.read_table(wh / "traffic_sample" / f"date={DAY}" / "data.parquet").to_pandas()
    assert len(sample) == len(msgs) and (sample["pii_redactions"] >= 2).mean() > 0.95
    squash = lambda s: re.sub(r"[\s\-.()/]", "", s)  # noqa: E731 (IBANs/cards/phones without separators too)
    leaks = [
        (str(p)[-40:], m.kind, m.value)
        for m in msgs
        for p, text in decoded
        if m.value in text or (m.kind in STRUCTURED_KINDS and squash(m.value) in squash(text))
    ]
    assert not leaks, leaks[:10]
    # Control: the raw logs do hold every value, so the search above can see a leak.
    raw = (traffic / f"date={DAY}" / "part-0000.jsonl").read_text(encoding="utf-8")
    assert all(json.dumps(m.value)[1:-1] in raw for m in msgs)


def test_redaction_block_of_monitoring_yaml(tmp_path, monkeypatch):
    from eval_pipeline.project.errors import ConfigError
    from eval_pipeline.project.monitoring import load_monitoring_config

    monkeypatch.delenv("EVAL_MONITORING_CONFIG", raising=False)
    (tmp_path / "monitoring.yaml").write_text(
        yaml.safe_dump(
            {
                "redaction": {
                    "mode": "structured",
                    "locales": ["DE", "FR"],
                    "allow_list": ["Nova Saver"],
                    "score_threshold": 0.5,
                }
            }
        )
    )
    cfg = load_monitoring_config(tmp_path)
    assert cfg.redaction.mode == "structured" and cfg.redaction.locales == ["DE", "FR"]
    assert redactor_for(cfg.redaction).ner is None
    (tmp_path / "monitoring.yaml").write_text(yaml.safe_dump({"redaction": {"modes": "full"}}))
    with pytest.raises(ConfigError, match=r"redaction\.modes"):
        load_monitoring_config(tmp_path)


def test_repeated_texts_are_redacted_like_single_ones_and_the_street_guard_loses_no_match():
    """Arrays are dictionary-encoded (each distinct text analyzed once): the result per row must equal
    redacting that text alone; the street-word-first address pattern only runs where its RE2 guard
    matches, so the guard must match every text the pattern finds an address in."""
    import random

    import pyarrow as pa
    import pyarrow.compute as pc

    from eval_pipeline.monitoring.pii_patterns import ADDRESS_RXS, STREET_FIRST_PREFILTER

    red = redactor_for({"mode": "structured"})
    texts = [m.text for m in generate(40, seed=5)] + clean_messages()[:300]
    rows = texts * 3 + [""]
    random.Random(1).shuffle(rows)
    out, counts = red.redact_array(rows)
    alone = {t: red.redact_series([t])[0][0] for t in texts}
    assert out.to_pylist() == [alone.get(t, "") for t in rows]
    assert counts.sum() > 0 and out.to_pylist() != rows
    # input + output of one row: a value found in the input is also redacted where the output echoes it
    (ri, _), (ro, n_out) = red.redact_columns(
        ["my account number is 12345678"] * 70, ["ok, 12345678 noted"] * 70
    )
    assert set(ro.to_pylist()) == {"ok, [ACCOUNT] noted"} and n_out.tolist() == [1] * 70

    found = [any(any(c.isupper() for c in m.group("v")) for m in ADDRESS_RXS[1].finditer(t)) for t in texts]
    guard = pc.match_substring_regex(pa.array(texts), STREET_FIRST_PREFILTER).to_pylist()
    assert sum(found) >= 10 and all(g for f, g in zip(found, guard) if f)


def test_redaction_extra_patterns_run_in_re2():
    """monitoring.yaml extra patterns were checked in RE2 but run with Python's re: now RE2 both ways."""
    red = Redactor(
        {
            "mode": "structured",
            "entities": ["email"],
            "extra_patterns": [{"name": "x", "regex": "(a+)+$", "token": "[A]"}],
        }
    )
    # Arrow's RE2 selects the texts that match somewhere; the spans were then found with Python's re,
    # which backtracks for about 25 minutes on the 34 a's before reaching the match at the end
    evil = "a" * 34 + "! aaa"
    t0 = time.perf_counter()
    assert red.redact_text(evil) == "a" * 34 + "! [A]"
    assert time.perf_counter() - t0 < 2.0


@pytest.mark.parametrize(
    "text,expected",
    [
        # issue 24: forms that slipped through
        ("Call me back on 535.915.7917x34897 please.", "Call me back on [PHONE] please."),
        (
            "reach me on (841)435-0408x445 about the blocked payment",
            "reach me on [PHONE] about the blocked payment",
        ),
        (
            "I changed my number to +1-730-637-4584x3991, update it",
            "I changed my number to [PHONE], update it",
        ),
        ("Kind regards, Thérèse Gay", "Kind regards, [PERSON]"),
        ("the payee Viktor Walter B.Eng. says nothing arrived", "the payee [PERSON] says nothing arrived"),
        ("This is Dipl.-Ing. Hans-H. Schleich, I need help", "This is [PERSON], I need help"),
        (
            "Hi, my name is Ing. Baldur Pruschke MBA. and I lost my card.",
            "Hi, my name is [PERSON] and I lost my card.",
        ),
        ("Kind regards, Brittany May", "Kind regards, [PERSON]"),
        (
            "Please add Frau Svea Holt B.Sc. as a joint account holder",
            "Please add [PERSON] as a joint account holder",
        ),
        ("My address is 390 Gonzalez Meadows, Hallland", "My address is [ADDRESS]"),
        (
            "I moved to 611, rue Masse, Grondin-sur-Klein, please update",
            "I moved to [ADDRESS], please update",
        ),
        ("Please update my details: 13/07/1948.", "Please update my details: [DOB]."),
        ("I entered January 05, 1973 and the app rejects it", "I entered [DOB] and the app rejects it"),
        ("can you confirm you have August 04, 1948 on file?", "can you confirm you have [DOB] on file?"),
        # kept: recent dates (birth_like policy), dates without a year, a country after an address
        ("I paid on 13/07/2025 and it has not arrived", "I paid on 13/07/2025 and it has not arrived"),
        ("the transfer on 11 February has not arrived", "the transfer on 11 February has not arrived"),
        ("Thanks, it was May 5 when I called", "Thanks, it was May 5 when I called"),
    ],
)
def test_issue24_forms_are_redacted(full, text, expected):
    assert full.redact_text(text) == expected


def test_first_name_beside_a_found_surname_is_redacted_with_it():
    """NER sometimes finds only the surname: ``Isabelle [PERSON]`` kept the first name."""
    from presidio_analyzer import RecognizerResult

    from eval_pipeline.monitoring.pii_extend import extend_spans

    text = "Isabelle Moreau here, my card was stolen"
    (s,) = extend_spans(text, [RecognizerResult("PERSON", 9, 15, 0.85)])
    assert text[s.start : s.end] == "Isabelle Moreau"
    text = "Please send it to Moreau"
    (s,) = extend_spans(text, [RecognizerResult("PERSON", 18, 24, 0.85)])
    assert text[s.start : s.end] == "Moreau"  # "to" is lower case, "Please" a stop word


@pytest.mark.parametrize(
    "policy,expected",
    [
        ("birth_like", "details: [DOB]; paid [DATE_KEPT]"),
        ("all", "details: [DOB]; paid [DATE]"),
        ("none", "details: 13/07/1948; paid [DATE_KEPT]"),
    ],
)
def test_date_policy(policy, expected):
    red = redactor_for({"mode": "structured", "dates": policy})
    got = red.redact_text("details: 13/07/1948; paid 02/03/2026")
    assert got == expected.replace("[DATE_KEPT]", "02/03/2026")
    assert red.redact_text("I was born on 02/03/2016") == "I was born on [DOB]"  # a birth cue: any policy
    with pytest.raises(ValueError, match="dates"):
        RedactionConfig.model_validate({"dates": "some"})
