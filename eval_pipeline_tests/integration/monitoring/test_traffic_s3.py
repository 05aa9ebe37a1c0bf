"""Monitoring: reading a day of traffic logs from S3 (SeaweedFS on 127.0.0.1) through the warehouse."""

from __future__ import annotations

import uuid

from eval_pipeline.demo.synthetic_traffic import PiiRates, SyntheticTrafficConfig
from eval_pipeline.demo.traffic_days import write_synthetic_day
from eval_pipeline.monitoring.sampling import build_stored_sample
from eval_pipeline.monitoring.traffic import read_traffic_day
from eval_pipeline.storage import Warehouse
from eval_pipeline_tests.support.servers.seaweed import seaweed_fixture

seaweed_s3 = seaweed_fixture()

DAY = "2025-06-01"


def test_day_from_s3_with_malformed_lines_and_redacted_sample_written_back(seaweed_s3, monkeypatch, tmp_path):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", seaweed_s3.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", seaweed_s3.secret_key)
    monkeypatch.setenv("AWS_REGION", seaweed_s3.region)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    wh = Warehouse.from_url(
        f"s3://{seaweed_s3.bucket}/m-{uuid.uuid4().hex[:8]}", endpoint_url=seaweed_s3.endpoint_url
    )
    cfg = SyntheticTrafficConfig(
        day=DAY,
        n_rows=300,
        seed=4,
        n_files=2,
        malformed_rate=0.03,
        pii=PiiRates(email=0.2, card=0.2, phone_us=0.2),
    )
    written = write_synthetic_day(tmp_path / "logs", cfg)
    for f in written.files:
        wh.write_bytes(f"raw_traffic/date={DAY}/{f.rsplit('/', 1)[-1]}", open(f, "rb").read())  # noqa: SIM115
    frame, errors = read_traffic_day("raw_traffic", DAY, warehouse=wh)
    assert len(frame) == written.n_rows and len(errors) == len(written.malformed) > 0
    assert all(e["file"].startswith(f"s3://{seaweed_s3.bucket}/") for e in errors)
    sample = build_stored_sample(frame, rate=1.0)
    wh.write_table("traffic_sample", sample, {"date": DAY})
    stored = wh.read_bytes(f"traffic_sample/date={DAY}/data.parquet")
    back = wh.read_table("traffic_sample", {"date": DAY})
    assert len(back) == len(sample)
    text = "\n".join(back["input_redacted"]) + "\n".join(back["output_redacted"])
    assert not [s for s in written.seeded_pii if s["value"] in text]
    assert b"@example" not in stored
