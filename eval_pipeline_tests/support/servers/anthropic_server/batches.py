"""Message Batches over the scripted model: create, retrieve, results (JSONL), cancel.

In: ``POST /v1/messages/batches`` (requests with unique ``custom_id``s), ``GET .../{id}``, ``GET .../{id}/results``,
``POST .../{id}/cancel``; a wrong key gets 401 on each.
Out: the batch object; a batch ends ``batch_delay_s`` after creation; each request's outcome is scripted by
``batch_outcome_by_match`` (``errored`` / ``errored_invalid`` / ``expired`` / ``canceled`` / None = succeeded).
Counted in ``stats()``: ``batches_created``, ``batch_requests``, and every call (rejected too) in ``batch_calls``.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from typing import Any

from aiohttp import web

from eval_pipeline_tests.support.servers.anthropic_server.answers import user_text
from eval_pipeline_tests.support.servers.anthropic_server.messages import MessagesAPI


class BatchesAPI(MessagesAPI):
    """``/v1/messages/batches`` beside ``/v1/messages``."""

    def _app(self) -> web.Application:
        app = super()._app()
        app.router.add_post("/v1/messages/batches", self.handle_batch_create)
        app.router.add_get("/v1/messages/batches/{batch_id}", self.handle_batch_retrieve)
        app.router.add_get("/v1/messages/batches/{batch_id}/results", self.handle_batch_results)
        app.router.add_post("/v1/messages/batches/{batch_id}/cancel", self.handle_batch_cancel)
        return app

    def _batch_json(self, batch: dict[str, Any]) -> dict[str, Any]:
        now = time.time()
        status = batch["status"]
        if status == "in_progress" and now >= batch["ends_at"]:
            status = batch["status"] = "ended"
        n = len(batch["requests"])
        counts = {"processing": n, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0}
        if status == "ended":
            counts["processing"] = 0
            for item in batch["results"]:
                kind = item["result"]["type"]
                counts[kind] += 1
        iso = lambda t: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))  # noqa: E731
        return {
            "id": batch["id"],
            "type": "message_batch",
            "processing_status": status,
            "request_counts": counts,
            "created_at": iso(batch["created_at"]),
            "expires_at": iso(batch["created_at"] + 86400),
            "ended_at": iso(batch["ends_at"]) if status == "ended" else None,
            "archived_at": None,
            "cancel_initiated_at": iso(batch["canceled_at"]) if batch.get("canceled_at") else None,
            "results_url": f"{self.base_url}/v1/messages/batches/{batch['id']}/results"
            if status == "ended"
            else None,
        }

    def _batch_outcome(self, text: str) -> str | None:
        for needle, script in self.config.batch_outcome_by_match.items():
            if needle in text:
                i = self._batch_match_attempts[needle]
                self._batch_match_attempts[needle] += 1
                return script[i] if i < len(script) else None
        return None

    def _batch_result(self, custom_id: str, params: dict[str, Any]) -> dict[str, Any]:
        outcome = self._batch_outcome(user_text(params))
        if outcome in ("errored", "errored_invalid"):
            etype = "invalid_request_error" if outcome == "errored_invalid" else "api_error"
            return {
                "custom_id": custom_id,
                "result": {
                    "type": "errored",
                    "error": {"type": "error", "error": {"type": etype, "message": "scripted batch error"}},
                },
            }
        if outcome in ("expired", "canceled"):
            return {"custom_id": custom_id, "result": {"type": outcome}}
        self.by_model[params.get("model", "")] += 1
        answer = self._answer(params, None)
        message = self._message(params, answer, "req_" + uuid.uuid4().hex[:24])
        return {"custom_id": custom_id, "result": {"type": "succeeded", "message": message}}

    async def handle_batch_create(self, request: web.Request) -> web.Response:
        request_id = "req_" + uuid.uuid4().hex[:24]
        self.batch_calls["create"] += 1
        if not self._auth_ok(request):
            return self._error(401, "authentication_error", "invalid x-api-key / authorization", request_id)
        body = json.loads(await request.read())
        reqs = body.get("requests") or []
        ids = [r.get("custom_id") for r in reqs]
        if (
            not reqs
            or len(set(ids)) != len(ids)
            or any(not isinstance(i, str) or not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", i) for i in ids)
        ):
            return self._error(
                400,
                "invalid_request_error",
                "requests: custom_id must be unique and match ^[a-zA-Z0-9_-]{1,64}$",
                request_id,
            )
        batch_id = "msgbatch_" + uuid.uuid4().hex[:24]
        now = time.time()
        batch = {
            "id": batch_id,
            "requests": reqs,
            "created_at": now,
            "ends_at": now + self.config.batch_delay_s,
            "status": "in_progress",
            "results": [self._batch_result(r["custom_id"], r["params"]) for r in reqs],
        }
        self.batches[batch_id] = batch
        self.batches_created += 1
        self.batch_requests += len(reqs)
        return web.json_response(self._batch_json(batch), headers={"request-id": request_id})

    def _get_batch(self, request: web.Request) -> dict[str, Any] | None:
        return self.batches.get(request.match_info["batch_id"])

    def _batch_auth_error(self, request: web.Request, call: str) -> web.Response | None:
        """Count a retrieve / results / cancel call; 401 (as the API does) when the key is wrong."""
        self.batch_calls[call] += 1
        if self._auth_ok(request):
            return None
        return self._error(401, "authentication_error", "invalid x-api-key / authorization", "req_none")

    async def handle_batch_retrieve(self, request: web.Request) -> web.Response:
        if (denied := self._batch_auth_error(request, "retrieve")) is not None:
            return denied
        batch = self._get_batch(request)
        if batch is None:
            return self._error(404, "not_found_error", "batch not found", "req_none")
        return web.json_response(self._batch_json(batch))

    async def handle_batch_results(self, request: web.Request) -> web.Response:
        if (denied := self._batch_auth_error(request, "results")) is not None:
            return denied
        batch = self._get_batch(request)
        if batch is None or self._batch_json(batch)["processing_status"] != "ended":
            return self._error(404, "not_found_error", "batch not found or not ended", "req_none")
        lines = "\n".join(json.dumps(item) for item in batch["results"]) + "\n"
        return web.Response(body=lines.encode(), content_type="application/binary")

    async def handle_batch_cancel(self, request: web.Request) -> web.Response:
        if (denied := self._batch_auth_error(request, "cancel")) is not None:
            return denied
        batch = self._get_batch(request)
        if batch is None:
            return self._error(404, "not_found_error", "batch not found", "req_none")
        if self._batch_json(batch)["processing_status"] != "ended":
            batch["canceled_at"] = batch["ends_at"] = time.time()
            batch["status"] = "ended"
            batch["results"] = [
                {"custom_id": r["custom_id"], "result": {"type": "canceled"}} for r in batch["requests"]
            ]
        return web.json_response(self._batch_json(batch))
