"""Monitoring: deterministic sampling and PII redaction (no seeded PII reaches a written file)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from eval_pipeline.demo.synthetic_traffic import PII_KINDS, PiiRates, SyntheticTrafficConfig, generate_frame
from eval_pipeline.demo.traffic_days import write_synthetic_day
from eval_pipeline.monitoring.pii import RedactionConfig, Redactor
from eval_pipeline.monitoring.pii_recognizers import luhn_valid
from eval_pipeline.monitoring.profile import profile_sample
from eval_pipeline.monitoring.sampling import build_stored_sample, sample_mask, unit_hashes
from eval_pipeline.monitoring.schema import SAMPLE_COLUMNS
from eval_pipeline.monitoring.traffic import read_traffic_day
from eval_pipeline.project.hashing import unit_interval

DAY = "2025-06-01"


@pytest.fixture(scope="module")
def pii_day(tmp_path_factory):
    logs = tmp_path_factory.mktemp("logs")
    cfg = SyntheticTrafficConfig(
        day=DAY,
        n_rows=1500,
        seed=11,
        n_files=2,
        malformed_rate=0.01,
        pii=PiiRates(
            email=0.05,
            phone_us=0.05,
            phone_intl=0.05,
            card=0.05,
            ipv4=0.05,
            ipv6=0.05,
            card_luhn_invalid=0.05,
            echo_in_output=0.5,
        ),
    )
    written = write_synthetic_day(logs, cfg)
    frame, errors = read_traffic_day(str(logs), DAY)
    return written, frame, errors


def _write_everything(out_dir, sample: pd.DataFrame, errors: list) -> list:
    """Write the stored sample and its by-products the way the assets do (uncompressed so a leak is greppable)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    sample.to_parquet(out_dir / "sample.parquet", compression=None)
    sample.to_json(out_dir / "sample.jsonl", orient="records", lines=True, date_format="iso")
    sample.to_csv(out_dir / "sample.csv", index=False)
    prof = profile_sample(sample)
    prof["by_template"].to_csv(out_dir / "latency_by_template.csv", index=False)
    (out_dir / "malformed.json").write_text(json.dumps(errors))
    return sorted(p for p in out_dir.rglob("*") if p.is_file())


def test_no_seeded_pii_of_any_kind_reaches_written_files(pii_day, tmp_path):
    written, frame, errors = pii_day
    kinds = {s["kind"] for s in written.seeded_pii}
    assert kinds == set(PII_KINDS), f"every kind must be seeded, got {kinds}"
    in_frame = set(frame["request_id"])
    seeded = [s for s in written.seeded_pii if s["request_id"] in in_frame]
    sample = build_stored_sample(frame, rate=1.0, salt="t")
    assert list(sample.columns) == SAMPLE_COLUMNS
    assert "input" not in sample.columns and "session_id" not in sample.columns
    files = _write_everything(tmp_path / "out", sample, errors)
    blobs = {p: p.read_bytes() for p in files}
    leaks = [
        (s["kind"], s["value"], p.name) for s in seeded for p, b in blobs.items() if s["value"].encode() in b
    ]
    assert leaks == []
    # Control: the same writer on the raw frame does leak, so the grep can see a leak.
    raw_files = _write_everything(tmp_path / "raw", frame.drop(columns=["timestamp"]), [])
    raw_blob = b"".join(p.read_bytes() for p in raw_files)
    for kind in PII_KINDS:
        vals = [s["value"] for s in seeded if s["kind"] == kind]
        assert any(v.encode() in raw_blob for v in vals), kind
    # Every redaction token shows up, and the counts are recorded per row.
    text = "\n".join(sample["input_redacted"])
    for token in ("[EMAIL]", "[PHONE]", "[CARD]", "[IP]"):
        assert token in text
    assert sample["pii_redactions"].sum() >= len(seeded)


def test_luhn_invalid_decoys_survive_redaction(pii_day):
    written, frame, _ = pii_day
    sample = build_stored_sample(frame, rate=1.0)
    text = "\n".join(sample["input_redacted"])
    present = [d for d in written.decoys if d in "\n".join(frame["input"])]
    assert len(present) > 10
    assert all(d in text for d in present)


@pytest.mark.parametrize(
    "text,expected",
    [
        ("pay with 4111 1111 1111 1111 today", "pay with [CARD] today"),
        ("pay with 4111-1111-1111-1111 today", "pay with [CARD] today"),
        ("pay with 4111111111111111", "pay with [CARD]"),
        ("amex 378282246310005.", "amex [CARD]."),
        ("ref 4111 1111 1111 1112 today", "ref 4111 1111 1111 1112 today"),  # Luhn-invalid
        ("ref 4111-1111-1111-1112", "ref 4111-1111-1111-1112"),
        ("ref 1234567812345678", "ref 1234567812345678"),  # Luhn-invalid
        ("id 424242424242", "id 424242424242"),  # Luhn-valid but 12 digits: not a card
        ("id 41111111111111111111", "id 41111111111111111111"),  # 20 digits: not a card
    ],
)
def test_card_redaction_requires_luhn_and_length(text, expected):
    assert Redactor().redact_text(text) == expected


def test_luhn_helper():
    assert luhn_valid("4111111111111111") and luhn_valid("378282246310005")
    assert not luhn_valid("4111111111111112") and not luhn_valid("")


@pytest.mark.parametrize(
    "text,expected",
    [
        ("mail Jane.Doe+x@mail.example.co.uk now", "mail [EMAIL] now"),
        ("call (555) 123-4567", "call [PHONE]"),
        ("call 555-123-4567 or 555.123.4567", "call [PHONE] or [PHONE]"),
        ("call 1-800-555-0199", "call [PHONE]"),
        ("call +44 20 7946 0958", "call [PHONE]"),
        ("call +33 1 23 45 67 89", "call [PHONE]"),
        ("from 192.168.10.200 ok", "from [IP] ok"),
        ("v6 2001:db8:85a3::8a2e:370:7334 and ::1", "v6 [IP] and [IP]"),
        ("full 2001:0db8:85a3:0000:0000:8a2e:0370:7334", "full [IP]"),
        (
            "version 1.2.3 at 10:30 on 2024-05-01, 300.1.1.1",
            "version 1.2.3 at 10:30 on 2024-05-01, 300.1.1.1",
        ),
        ("order 12345 costs $19.99", "order 12345 costs $19.99"),
    ],
)
def test_builtin_kinds(text, expected):
    assert Redactor().redact_text(text) == expected


def test_extra_patterns_and_config_errors():
    r = Redactor({"extra_patterns": [{"name": "account", "regex": r"ACCT-\d{6}", "token": "[ACCOUNT]"}]})
    out, counts = r.redact_array(["my ACCT-123456 and a@b.io", "none", None])
    assert out.to_pylist() == ["my [ACCOUNT] and [EMAIL]", "none", ""]
    assert counts.tolist() == [2, 0, 0]
    with pytest.raises(ValueError, match=r"extra_patterns\[0\].*RE2"):
        RedactionConfig(extra_patterns=[{"name": "bad", "regex": r"(?<=x)y", "token": "[X]"}])
    with pytest.raises(ValueError, match=r"entities\[0\]"):
        RedactionConfig(entities=["social"])
    with pytest.raises(ValueError, match=r"locales\[0\]"):
        RedactionConfig(locales=["XX"])
    with pytest.raises(ValueError, match="extra"):
        RedactionConfig(extra_pattern=[])


def test_sampling_is_deterministic_across_runs_and_chunkings():
    ids = [f"req-{i}" for i in range(20000)]
    m1 = sample_mask(ids, 0.1, salt="s")
    m2 = sample_mask(list(reversed(ids)), 0.1, salt="s")[::-1]
    chunks = np.concatenate([sample_mask(ids[a : a + 777], 0.1, salt="s") for a in range(0, len(ids), 777)])
    assert (m1 == m2).all() and (m1 == chunks).all()
    assert 0.09 < m1.mean() < 0.11
    # nested: a higher rate keeps everything a lower rate kept
    assert (sample_mask(ids, 0.3, salt="s") | ~m1).all()
    # the salt changes the draw; the definition equals hashing.unit_interval
    assert (sample_mask(ids, 0.1, salt="other") != m1).any()
    assert unit_hashes(ids[:5], "s").tolist() == [unit_interval(f"s:{i}") for i in ids[:5]]
    with pytest.raises(ValueError, match="within"):
        sample_mask(ids, 1.5)


def test_same_requests_sampled_whatever_the_file_layout(tmp_path):
    cfg = SyntheticTrafficConfig(day=DAY, n_rows=600, seed=3)
    write_synthetic_day(tmp_path / "a", cfg.model_copy(update={"n_files": 1}))
    write_synthetic_day(tmp_path / "b", cfg.model_copy(update={"n_files": 4}))
    sa = build_stored_sample(read_traffic_day(str(tmp_path / "a"), DAY)[0], rate=0.25, salt="x")
    sb = build_stored_sample(read_traffic_day(str(tmp_path / "b"), DAY)[0], rate=0.25, salt="x")
    sc = build_stored_sample(generate_frame(cfg)[0], rate=0.25, salt="x")
    assert 100 < len(sa) < 200
    assert set(sa["request_id"]) == set(sb["request_id"]) == set(sc["request_id"])
    pd.testing.assert_series_equal(sa["input_hash"], sc["input_hash"])


def test_parallel_builder_equals_single_process_and_salts_change_hashes():
    frame, _, _ = generate_frame(SyntheticTrafficConfig(n_rows=24000, seed=12, pii=PiiRates(email=0.02)))
    one = build_stored_sample(frame, rate=0.3, salt="p")
    two = build_stored_sample(frame, rate=0.3, salt="p", workers=2)
    pd.testing.assert_frame_equal(one, two)
    salted = build_stored_sample(frame.head(50), rate=1.0, input_salt="secret", session_salt="k")
    plain = build_stored_sample(frame.head(50), rate=1.0)
    assert (salted["input_hash"] != plain["input_hash"]).all()
    assert (salted["session_hash"] != plain["session_hash"]).all()
