"""``eval-pipeline review``: label the human review queue in a browser (Starlette app + uvicorn).

In: the review queues the ``review_queue`` asset writes to the warehouse
(``review/date=<d>/model_version=<mv>/review.jsonl``, :func:`eval_pipeline.storage.keys.review_file`,
items in :data:`eval_pipeline.noise.review.REVIEW_FIELDS`) and the labels already in
``<data_dir>/reviews/``. Out: one labelled file per queue, ``<data_dir>/reviews/<date>_<mv>.jsonl``, in the
exported review schema with ``human_label`` filled - the files :func:`eval_pipeline.evaluators.review_calibration`
(``judge_calibration``) and :func:`eval_pipeline.ingestion.reviews.ingest_review` read. A label rewrites its file
atomically (read, replace or add the item's line, temp file + ``os.replace``) under a file lock, so a reader
never sees half a line and labelling an item twice keeps one line (``ingest_review`` rejects duplicates).

Access: bound to 127.0.0.1 by default (the Host header must be a loopback name: no DNS rebinding; a label
must be ``application/json``, so a cross-site form cannot post one). Any other address needs an access token
(:func:`new_token`, printed once), checked on every request with :func:`secrets.compare_digest`; a request
without it gets 401 and writes nothing. Model text reaches the page only as JSON and is set with
``textContent`` (never HTML); the Content-Security-Policy allows scripts from this server only.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import secrets
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from filelock import FileLock
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from eval_pipeline.ingestion.reviews import parse_label
from eval_pipeline.noise.review import REVIEW_FIELDS
from eval_pipeline.storage import keys

PAGE_DIR = Path(__file__).with_name("review_page")
TOKEN_HEADER = "x-review-token"
COOKIE = "review_token"
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
# keys.review_file's layout, as a pattern (the path is spelled out only in storage/keys.py)
_QUEUE_KEY = re.compile(
    re.escape(keys.review_file("DATE", "MV"))
    .replace("DATE", "(?P<date>[^/]+)")
    .replace("MV", "(?P<mv>[^/]+)")
    .join("^$")
)
_QUEUE_PREFIX = keys.review_file("DATE", "MV").split("/", 1)[0] + "/"


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def new_token() -> str:
    """A fresh access token (``secrets.token_urlsafe``, 256 bits)."""
    return secrets.token_urlsafe(32)


def check_bind(host: str, token: str | None) -> None:
    """Refuse a non-loopback bind without a token (raises ``ValueError`` naming the fix)."""
    if not is_loopback(host) and not token:
        raise ValueError(
            f"review server: binding {host!r} (not loopback) needs an access token; "
            "run without --host (127.0.0.1) or let `eval-pipeline review --host ...` generate one"
        )


# ------------------------------------------------------------------------------------------- the store
class ReviewStoreError(RuntimeError):
    """A labelled file the server cannot read (named with its line); nothing is written over it."""


@dataclass(frozen=True)
class Queue:
    """One run's review queue: its warehouse key and the labelled file it feeds."""

    name: str  # "<date>_<mv_key>", also the labelled file's stem
    key: str


class ReviewStore:
    """The queues of a warehouse and the labelled files under ``reviews_dir``.

    ``warehouse`` is an :class:`eval_pipeline.storage.warehouse.Warehouse` (``list_keys``, ``read_bytes``).
    """

    def __init__(self, warehouse: Any, reviews_dir: str | Path):
        self.wh = warehouse
        self.reviews_dir = Path(reviews_dir)

    def queues(self) -> list[Queue]:
        out = []
        for key in sorted(self.wh.list_keys(_QUEUE_PREFIX)):
            m = _QUEUE_KEY.match(key)
            if m:
                name = re.sub(r"[^A-Za-z0-9._=-]+", "-", f"{m['date']}_{m['mv']}")
                out.append(Queue(name, key))
        return out

    def labelled_path(self, q: Queue) -> Path:
        return self.reviews_dir / f"{q.name}.jsonl"

    def _labelled(self, q: Queue) -> dict[str, dict[str, Any]]:
        path = self.labelled_path(q)
        if not path.exists():
            return {}
        out = {}
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
                out[str(rec["review_id"])] = rec
            except (json.JSONDecodeError, TypeError, KeyError) as e:
                raise ReviewStoreError(
                    f"{path}:{n}: not a review record ({e}); fix or remove the line, then reload"
                ) from e
        return out

    def _items(self, q: Queue) -> list[dict[str, Any]]:
        text = self.wh.read_bytes(q.key).decode("utf-8")
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    def state(self) -> dict[str, Any]:
        """The open items (each with its ``queue``), and progress counts over every queue."""
        open_items, total, done = [], 0, 0
        for q in self.queues():
            labelled = self._labelled(q)
            for it in self._items(q):
                total += 1
                if str(it["review_id"]) in labelled:
                    done += 1
                else:
                    open_items.append({**it, "queue": q.name})
        return {"items": open_items, "total": total, "done": done}

    def label(
        self,
        queue: str,
        review_id: str,
        labels: dict[str, Any] | None,
        notes: str = "",
        verdict: str | None = None,
        preference: str | None = None,
    ) -> dict[str, Any]:
        """Validate and store one label (scores per dimension and / or the whole item's ``verdict``, "pass" /
        "fail"); returns the stored record. ``LookupError`` / ``ValueError`` on bad input."""
        q = next((q for q in self.queues() if q.name == queue), None)
        if q is None:
            raise LookupError(f"no review queue {queue!r}")
        item = next((it for it in self._items(q) if str(it["review_id"]) == review_id), None)
        if item is None:
            raise LookupError(f"no item {review_id!r} in queue {queue!r}")
        scales = {k: (int(v[0]), int(v[1])) for k, v in (item.get("scales") or {}).items()}
        if verdict not in (None, "pass", "fail"):
            raise ValueError(f"human_verdict: {verdict!r}; use 'pass', 'fail' or leave it out")
        if labels is not None and not isinstance(labels, dict):
            raise ValueError("human_label: an object {dimension: score}")
        parsed = {}
        for dim, value in (labels or {}).items():
            if dim not in scales:
                raise ValueError(f"human_label.{dim}: unknown dimension; known: {sorted(scales)}")
            if value is not None:
                parsed[dim] = parse_label(value, scales[dim])
        if preference is not None and (item.get("kind") != "pairwise" or preference not in ("A", "B", "tie")):
            raise ValueError(f"human_preference: {preference!r}; a pairwise item takes A, B or tie")
        if not parsed and verdict is None and preference is None:
            raise ValueError(
                "human_label: give a score for at least one dimension, a pass / fail verdict, "
                "or (pairwise) the preferred answer"
            )
        rec = {f: item.get(f) for f in REVIEW_FIELDS}
        rec["human_label"] = {d: parsed.get(d) for d in scales}
        rec["human_verdict"] = verdict
        rec["human_preference"] = preference
        rec["human_notes"] = str(notes or "")
        rec["labelled_at"] = datetime.now(UTC).isoformat(timespec="seconds")
        self._write(q, rec)
        return rec

    def _write(self, q: Queue, rec: dict[str, Any]) -> None:
        path = self.labelled_path(q)
        path.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(path) + ".lock"):
            recs = self._labelled(q)
            recs[str(rec["review_id"])] = rec
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as f:
                    for r in recs.values():
                        f.write(json.dumps(r, ensure_ascii=False, default=str) + "\n")
                    f.flush()
                    os.fsync(f.fileno())
                os.replace(tmp, path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise


# --------------------------------------------------------------------------------------------- the app
def create_app(store: ReviewStore, token: str | None = None, loopback: bool = True) -> Starlette:
    """The Starlette app: ``/`` (page), ``/review.js``, ``/review.css``, ``GET /api/queue``, ``POST /api/label``.

    With ``token``, every request needs it, else 401: a label (POST) in the ``X-Review-Token`` header only; a
    GET also as ``?token=`` (the printed link, which sets a SameSite=Strict cookie for the page's assets).
    With ``loopback``, the Host header must name a loopback address (else 400).
    """

    if not loopback:
        check_bind("0.0.0.0", token)

    def authorized(request: Request) -> bool:
        if token is None:
            return True
        given = request.headers.get(TOKEN_HEADER)
        if given is None and request.method == "GET":  # the page's first load; a label needs the header
            given = request.query_params.get("token") or request.cookies.get(COOKIE)
        return secrets.compare_digest((given or "").encode(), token.encode())

    async def guard(request: Request, call_next: RequestResponseEndpoint) -> Response:
        if not authorized(request):
            return JSONResponse({"error": "missing or wrong access token"}, status_code=401)
        response = await call_next(request)
        if token is not None and request.query_params.get("token"):
            response.set_cookie(COOKIE, token, httponly=True, samesite="strict")
        response.headers["Content-Security-Policy"] = CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["Cache-Control"] = "no-store"
        return response

    def static(name: str, media: str) -> Callable[[Request], Awaitable[Response]]:
        async def serve(request: Request) -> Response:
            return FileResponse(PAGE_DIR / name, media_type=media)

        return serve

    async def queue(request: Request) -> Response:
        try:
            return JSONResponse(store.state())
        except ReviewStoreError as e:
            return JSONResponse({"error": str(e)}, status_code=500)

    async def label(request: Request) -> Response:
        if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
            return JSONResponse({"error": "send the label as application/json"}, status_code=415)
        try:
            body = await request.json()
            rec = store.label(
                str(body["queue"]),
                str(body["review_id"]),
                body.get("human_label"),
                body.get("human_notes", ""),
                body.get("human_verdict"),
                body.get("human_preference"),
            )
        except (KeyError, TypeError, json.JSONDecodeError) as e:
            return JSONResponse({"error": f"bad request body: {e}"}, status_code=400)
        except ReviewStoreError as e:
            return JSONResponse({"error": str(e)}, status_code=500)
        except LookupError as e:
            return JSONResponse({"error": str(e)}, status_code=404)
        except ValueError as e:
            return JSONResponse({"error": str(e)}, status_code=422)
        return JSONResponse({"stored": rec["review_id"], "file": f"reviews/{body['queue']}.jsonl"})

    middleware = [Middleware(BaseHTTPMiddleware, dispatch=guard)]  # first = outermost: the token before all
    if loopback:  # the Host header must be loopback: a DNS-rebinding page cannot reach the server
        middleware.append(Middleware(TrustedHostMiddleware, allowed_hosts=["127.0.0.1", "localhost"]))
    app = Starlette(
        routes=[
            Route("/", static("index.html", "text/html; charset=utf-8")),
            Route("/review.js", static("review.js", "text/javascript; charset=utf-8")),
            Route("/review.css", static("review.css", "text/css; charset=utf-8")),
            Route("/api/queue", queue),
            Route("/api/label", label, methods=["POST"]),
        ],
        middleware=middleware,
    )
    return app
