"""`eval-pipeline review` from the command line: a non-loopback bind generates a token, prints it once
(the token line and the link) and the app it serves refuses requests without it. uvicorn.run is replaced
by a function that keeps the app, which is then driven through Starlette's TestClient; the real server
runs in e2e/test_review_browser.py."""

from __future__ import annotations

from starlette.testclient import TestClient

from eval_pipeline_tests.support.review_fixtures import item, write_queue


def test_cli_prints_token_once_for_a_non_loopback_bind(monkeypatch, tmp_path, capsys):
    import uvicorn

    from eval_pipeline.cli import main

    write_queue(tmp_path / "wh", [item(1)])
    monkeypatch.setenv("EVAL_WAREHOUSE_URL", str(tmp_path / "wh"))
    seen = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: seen.update(app=app, **kw))
    # A documentation address (TEST-NET-1): uvicorn.run is replaced, and were it not, nothing could bind there.
    assert main(["review", "--host", "192.0.2.10", "--port", "9", "--data-dir", str(tmp_path / "d")]) == 0
    out = capsys.readouterr().out
    token = out.split("access token (shown once): ")[1].split()[0]
    assert out.count(token) == 2 and len(token) >= 40  # the token line and the link, nowhere else
    assert seen["host"] == "192.0.2.10" and seen["access_log"] is False
    client = TestClient(seen["app"], base_url="http://192.0.2.10")
    assert client.get("/api/queue").status_code == 401
    assert client.get("/api/queue", headers={"X-Review-Token": token}).json()["total"] == 1
