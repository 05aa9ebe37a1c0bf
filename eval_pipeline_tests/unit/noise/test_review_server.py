"""The review server's store and access rules (eval_pipeline.noise.review_server), through Starlette's
TestClient (the real app in process): a non-loopback bind needs a token, a wrong or missing token gets 401
and writes nothing, labels are validated, written atomically as one line per item that
``ingest_review`` reads, and labelled items leave the queue."""

from __future__ import annotations

import json

import pytest
from starlette.testclient import TestClient

from eval_pipeline.ingestion.reviews import ingest_review
from eval_pipeline.noise import review_server as rs
from eval_pipeline.storage.warehouse import Warehouse
from eval_pipeline_tests.support.review_fixtures import DATE, HOSTILE, MV, item, write_queue

QUEUE = f"{DATE}_{MV}"


@pytest.fixture
def store(tmp_path):
    write_queue(tmp_path / "wh", [item(1), item(2, HOSTILE), item(3)])
    return rs.ReviewStore(Warehouse.from_url(str(tmp_path / "wh")), tmp_path / "data" / "reviews")


def _label(rid="customer_support/faq_answer_quality/s1/r0", **dims):
    return {"queue": QUEUE, "review_id": rid, "human_label": dims or {"accuracy": 4, "tone": 5}}


def test_non_loopback_bind_without_token_is_refused(store):
    for host in ("0.0.0.0", "192.168.1.10", "::"):
        with pytest.raises(ValueError, match="needs an access token"):
            rs.check_bind(host, None)
    with pytest.raises(ValueError, match="needs an access token"):
        rs.create_app(store, token=None, loopback=False)
    rs.check_bind("127.0.0.1", None)
    rs.check_bind("0.0.0.0", rs.new_token())
    assert rs.is_loopback("127.0.0.2") and rs.is_loopback("::1") and not rs.is_loopback("10.0.0.1")


@pytest.mark.parametrize("given", [None, "", "wrong-token", "x" * 43])
def test_wrong_or_missing_token_gets_401_and_writes_nothing(store, given):
    token = rs.new_token()
    client = TestClient(rs.create_app(store, token=token, loopback=False), base_url="http://10.0.0.5")
    headers = {} if given is None else {"X-Review-Token": given}
    for path in ("/", "/review.js", "/api/queue"):
        assert client.get(path, headers=headers).status_code == 401
    r = client.post("/api/label", json=_label(), headers=headers)
    assert r.status_code == 401
    # a token in the query string or cookie opens the page, but never authorizes a label
    r = client.post(f"/api/label?token={token}", json=_label(), cookies={rs.COOKIE: token})
    assert r.status_code == 401
    assert not store.reviews_dir.exists()
    ok = client.post("/api/label", json=_label(), headers={"X-Review-Token": token})
    assert ok.status_code == 200, ok.text
    assert len(store.labelled_path(store.queues()[0]).read_text().splitlines()) == 1


def test_page_link_with_token_sets_a_strict_cookie_for_the_assets(store):
    token = rs.new_token()
    client = TestClient(rs.create_app(store, token=token, loopback=False), base_url="http://10.0.0.5")
    r = client.get(f"/?token={token}")
    assert r.status_code == 200 and "samesite=strict" in r.headers["set-cookie"].lower()
    assert client.get("/review.js").status_code == 200  # the cookie now rides along
    assert "script-src 'self'" in r.headers["content-security-policy"]


def test_loopback_mode_refuses_foreign_host_and_non_json(store):
    client = TestClient(rs.create_app(store), base_url="http://127.0.0.1:8765")
    assert client.get("/api/queue").status_code == 200
    assert client.get("/api/queue", headers={"Host": "evil.example:8765"}).status_code == 400
    r = client.post("/api/label", content=json.dumps(_label()), headers={"Content-Type": "text/plain"})
    assert r.status_code == 415
    assert not store.reviews_dir.exists()


def test_label_is_validated_stored_once_and_leaves_the_queue(store):
    client = TestClient(rs.create_app(store), base_url="http://127.0.0.1")
    q = client.get("/api/queue").json()
    assert (q["total"], q["done"], len(q["items"])) == (3, 0, 3)
    assert q["items"][1]["response_text"] == HOSTILE  # served as JSON data; the page sets it as text
    assert client.post("/api/label", json=_label(accuracy=9)).status_code == 422
    assert client.post("/api/label", json=_label(speed=3)).status_code == 422
    assert client.post("/api/label", json=_label(rid="nope")).status_code == 404
    assert not store.reviews_dir.exists()
    assert client.post("/api/label", json=_label(accuracy=2)).status_code == 200
    assert client.post("/api/label", json=_label(accuracy=4, tone=5)).status_code == 200  # relabel: replaces
    q = client.get("/api/queue").json()
    assert (q["total"], q["done"]) == (3, 1)
    assert "customer_support/faq_answer_quality/s1/r0" not in {i["review_id"] for i in q["items"]}
    path = store.labelled_path(store.queues()[0])
    assert len(path.read_text().splitlines()) == 1
    assert [p.name for p in path.parent.iterdir() if p.suffix == ".tmp"] == []
    got = ingest_review(path)
    assert sorted(zip(got.ratings["dimension"], got.ratings["human"])) == [("accuracy", 4.0), ("tone", 5.0)]


def test_a_broken_labelled_file_is_named_and_never_overwritten(store):
    client = TestClient(rs.create_app(store), base_url="http://127.0.0.1")
    path = store.labelled_path(store.queues()[0])
    path.parent.mkdir(parents=True)
    path.write_text('{"review_id": "a", "human_label": {}}\n{"review_id": "half a li\n')
    before = path.read_bytes()
    r = client.get("/api/queue")
    assert r.status_code == 500 and f"{path}:2: not a review record" in r.json()["error"]
    assert client.post("/api/label", json=_label()).status_code == 500
    assert path.read_bytes() == before


def test_a_whole_item_verdict_alone_is_a_label_and_is_read_back_against_the_judge(store):
    client = TestClient(rs.create_app(store), base_url="http://127.0.0.1")
    bad = dict(_label(), human_label={}, human_verdict="maybe")
    assert client.post("/api/label", json=bad).status_code == 422 and not store.reviews_dir.exists()
    empty = dict(_label(), human_label={}, human_verdict=None)
    assert "pass / fail verdict" in client.post("/api/label", json=empty).json()["error"]
    assert (
        client.post("/api/label", json=dict(_label(), human_label={}, human_verdict="fail")).status_code
        == 200
    )
    got = ingest_review(store.reviews_dir / f"{QUEUE}.jsonl")
    assert got.n_labelled == 1 and list(got.ratings["dimension"]) == ["pass_fail"]
    # item 1's judge scores 4 >= 3.5 on every dimension: the judge passed it, the human fails it
    assert got.ratings[["human", "judge", "scale_lo", "scale_hi"]].values.tolist() == [[0.0, 1.0, 0, 1]]
    assert client.get("/api/queue").json()["done"] == 1
