"""Warehouse on S3, against a real SeaweedFS S3 server on 127.0.0.1 (one start per session)."""

from __future__ import annotations

import os
import uuid

import botocore.exceptions
import pandas as pd
import pytest

from eval_pipeline.storage import Warehouse, WarehouseError
from eval_pipeline_tests.support.servers.seaweed import seaweed_fixture

seaweed_s3 = seaweed_fixture()  # session-scoped fixture "seaweed_s3"

DAY = {"date": "2025-01-01", "model_version": "haiku-v1"}


@pytest.fixture
def aws_env(seaweed_s3, monkeypatch, tmp_path):
    """Credentials through the standard AWS chain (env vars), isolated from ~/.aws."""
    for var in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", seaweed_s3.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", seaweed_s3.secret_key)
    monkeypatch.setenv("AWS_REGION", seaweed_s3.region)
    return monkeypatch


@pytest.fixture
def prefix() -> str:
    return f"t-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def wh(seaweed_s3, aws_env, prefix) -> Warehouse:
    return Warehouse.from_url(f"s3://{seaweed_s3.bucket}/{prefix}", endpoint_url=seaweed_s3.endpoint_url)


def _object_keys(seaweed_s3, prefix: str) -> list[str]:
    resp = seaweed_s3.client().list_objects_v2(Bucket=seaweed_s3.bucket, Prefix=prefix)
    return sorted(o["Key"] for o in resp.get("Contents", []))


def _scores(value: float, n: int = 3) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "sample_id": [f"s{i}" for i in range(n)],
            "metric": ["cosine"] * n,
            "value": [value + i for i in range(n)],
            "passed": [True, False, None][:n],
        }
    )


def test_server_refuses_wrong_credentials(seaweed_s3):
    seaweed_s3.client().head_bucket(Bucket=seaweed_s3.bucket)
    with pytest.raises(botocore.exceptions.ClientError) as info:
        seaweed_s3.client(secret_key="not-the-secret").list_objects_v2(Bucket=seaweed_s3.bucket)
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_parquet_round_trip_through_duckdb_httpfs(seaweed_s3, wh, prefix):
    uri = wh.write_table("scores", _scores(0.5), {"family": "similarity", **DAY})
    wh.write_table("scores", _scores(1.5), {"family": "judge", **DAY})
    wh.write_table("responses", pd.DataFrame({"sample_id": ["s0", "s1", "s2"], "text": ["a", "b", "c"]}), DAY)

    key = f"{prefix}/scores/family=similarity/date=2025-01-01/model_version=haiku-v1/data.parquet"
    assert uri == f"s3://{seaweed_s3.bucket}/{key}"
    assert key in _object_keys(seaweed_s3, prefix)

    back = wh.read_table("scores", {"family": "similarity"})
    assert list(back["value"]) == [0.5, 1.5, 2.5]
    assert list(back["passed"]) == [True, False, None]

    con = wh.connect_duckdb()
    try:
        secret = con.execute("select secret_string from duckdb_secrets()").fetchone()[0]
        rows = con.execute(
            f"select family, count(*), sum(value) from read_parquet('{wh.table_glob('scores')}', "
            "hive_partitioning=true) group by family order by family"
        ).fetchall()
    finally:
        con.close()
    assert rows == [("judge", 3, 7.5), ("similarity", 3, 4.5)]
    endpoint = seaweed_s3.endpoint_url.removeprefix("http://")
    assert f"endpoint={endpoint};" in secret
    assert "url_style=path" in secret and "use_ssl=false" in secret
    assert seaweed_s3.secret_key not in secret  # DuckDB redacts it

    joined = wh.query(
        "select r.text, s.value from responses r join scores s using (sample_id, date, model_version) "
        "where s.family = 'judge' order by r.text"
    )
    assert joined.to_dict("records") == [
        {"text": "a", "value": 1.5},
        {"text": "b", "value": 2.5},
        {"text": "c", "value": 3.5},
    ]


def test_rewrite_leaves_exactly_one_object(seaweed_s3, wh, prefix):
    part = {"family": "judge", **DAY}
    wh.write_table("scores", _scores(0.0, 3), part)
    wh.write_table("scores", _scores(9.0, 2), part)
    wh.write_table("scores", _scores(7.0, 1), part)
    keys = _object_keys(seaweed_s3, f"{prefix}/scores/")
    assert keys == [f"{prefix}/scores/family=judge/date=2025-01-01/model_version=haiku-v1/data.parquet"]
    assert list(wh.read_table("scores")["value"]) == [7.0]
    assert wh.query("select count(*) as n from scores")["n"].tolist() == [1]


def test_wrong_credentials_give_clear_error(seaweed_s3, aws_env, prefix):
    aws_env.setenv("AWS_SECRET_ACCESS_KEY", "wrong-secret-value")
    bad = Warehouse.from_url(f"s3://{seaweed_s3.bucket}/{prefix}", endpoint_url=seaweed_s3.endpoint_url)
    with pytest.raises(WarehouseError) as info:
        bad.write_table("scores", _scores(1.0), {"family": "judge", **DAY})
    msg = str(info.value)
    assert f"bucket '{seaweed_s3.bucket}'" in msg and seaweed_s3.endpoint_url in msg
    assert "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY" in msg and "credentials came from: env" in msg
    assert "wrong-secret-value" not in msg and seaweed_s3.secret_key not in msg
    assert _object_keys(seaweed_s3, prefix) == []


def test_missing_bucket_and_unreachable_endpoint(seaweed_s3, aws_env):
    missing = Warehouse.from_url("s3://no-such-bucket/p", endpoint_url=seaweed_s3.endpoint_url)
    with pytest.raises(
        WarehouseError, match="'no-such-bucket' .* does not exist: create it .* or fix the bucket name"
    ):
        missing.read_table("scores")
    dead_url = "http://127.0.0.1:9"  # discard port: nothing listens there
    dead = Warehouse.from_url("s3://bucket/p", endpoint_url=dead_url)
    with pytest.raises(WarehouseError, match=f"cannot reach the S3 endpoint {dead_url}"):
        dead.check()


def test_endpoint_from_aws_env(seaweed_s3, aws_env, prefix):
    aws_env.setenv("AWS_ENDPOINT_URL_S3", seaweed_s3.endpoint_url)
    env_wh = Warehouse.from_env({**os.environ, "EVAL_WAREHOUSE_URL": f"s3://{seaweed_s3.bucket}/{prefix}"})
    env_wh.write_bytes("reports/r.html", b"<p>hi</p>", "text/html")
    head = seaweed_s3.client().head_object(Bucket=seaweed_s3.bucket, Key=f"{prefix}/reports/r.html")
    assert head["ContentType"] == "text/html"


def test_bad_partition_rejected_before_any_upload(seaweed_s3, wh, prefix):
    for bad, fragment in (("a/b", "contains '/'"), ("k=v", "contains '='"), ("", "is empty")):
        with pytest.raises(WarehouseError, match=f"partition key 'model_version': value .* {fragment}"):
            wh.write_table(
                "responses", pd.DataFrame({"x": [1]}), {"date": "2025-01-01", "model_version": bad}
            )
    assert _object_keys(seaweed_s3, prefix) == []


def test_bytes_objects_on_s3(seaweed_s3, wh, prefix):
    uri = wh.write_bytes("reports/2025-01-01/report.html", b"v1", "text/html")
    assert uri == f"s3://{seaweed_s3.bucket}/{prefix}/reports/2025-01-01/report.html"
    wh.write_bytes("reports/2025-01-01/report.html", b"v2")
    assert wh.read_bytes("reports/2025-01-01/report.html") == b"v2"
    assert wh.exists("reports/2025-01-01/report.html") and not wh.exists("reports/nope.html")
    assert wh.list_keys("reports/") == ["reports/2025-01-01/report.html"]
    with pytest.raises(WarehouseError, match="no such warehouse object: s3://"):
        wh.read_bytes("reports/nope.html")
    assert wh.delete_partition("responses", DAY) is False
    wh.write_table("responses", pd.DataFrame({"x": [1]}), DAY)
    assert wh.list_tables() == ["responses"]  # "reports" holds no partitions
    assert wh.delete_partition("responses", DAY) is True
    assert wh.read_table("responses").empty


# -- a write the client reports failed ("S3 write reported failed", issue 24) -------------------------
PART = {"family": "judge", **DAY}


def _inject(wh, event: str, times: int | None) -> dict:
    """Raise a ReadTimeoutError from a botocore event of PutObject on the warehouse's own client:
    ``after-call`` = the PUT reached the server and was stored, then the client reports failure;
    ``before-call`` = it never left. ``times`` None = every time. Counts the PUTs actually sent."""
    seen = {"raised": 0, "sent": 0}

    def fail(**kwargs):
        if times is None or seen["raised"] < times:
            seen["raised"] += 1
            raise botocore.exceptions.ReadTimeoutError(endpoint_url=wh.backend.endpoint_url)

    def sent(**kwargs):
        seen["sent"] += 1

    events = wh.backend.client.meta.events
    events.register(f"{event}.s3.PutObject", fail)
    events.register("before-send.s3.PutObject", sent)
    return seen


def test_write_reported_failed_that_landed_counts_as_written(seaweed_s3, wh, prefix):
    seen = _inject(wh, "after-call", times=1)
    wh.write_table("scores", _scores(1.0), PART)  # the client said ReadTimeout; the object is there
    assert seen == {"raised": 1, "sent": 1}, "the landed write was sent again"
    assert list(wh.read_table("scores")["value"]) == [1.0, 2.0, 3.0]
    assert len(_object_keys(seaweed_s3, f"{prefix}/scores/")) == 1


def test_write_that_did_not_land_is_sent_again_not_mistaken_for_the_earlier_object(seaweed_s3, wh, prefix):
    wh.write_table("scores", _scores(1.0), PART)  # yesterday's run: the key already holds other bytes
    seen = _inject(wh, "before-call", times=1)
    wh.write_table("scores", _scores(5.0, 2), PART)
    assert seen == {"raised": 1, "sent": 1}
    assert list(wh.read_table("scores")["value"]) == [5.0, 6.0]


def test_write_that_keeps_failing_says_it_did_not_land_and_loses_nothing(seaweed_s3, wh, prefix):
    wh.write_table("scores", _scores(1.0), PART)
    _inject(wh, "before-call", times=None)
    with pytest.raises(WarehouseError) as e:
        wh.write_table("scores", _scores(5.0, 2), PART)
    msg = str(e.value)
    assert f"s3://{seaweed_s3.bucket}/{prefix}/scores/family=judge" in msg
    assert "did not land" in msg and "A rerun writes it again" in msg
    assert list(wh.read_table("scores")["value"]) == [1.0, 2.0, 3.0]  # the earlier object is intact
