"""``eval-pipeline view --serve``: the reports of a local warehouse on 127.0.0.1, with any pair's diff on request.

In: a local :class:`~eval_pipeline.storage.warehouse.Warehouse`. Out: a Starlette app (run by uvicorn) that serves

* ``/<key under reports/>`` - the history report (``/history/latest.html``), the regression reports' diff pages
  and ``eval-pipeline diff``'s pages as files, so the report's relative links to them work;
* ``/api/view`` - ``{"diff_on_request": true}``: how the pickers (``pair_picker.js``) know a diff of any pair
  can be built here;
* ``/diff?candidate=VERSION@DATE&baseline=VERSION@DATE`` - builds that pair's per-sample diff exactly as
  ``eval-pipeline diff`` does (same resolution of names and dates, same page, written to the same key under
  ``reports/diff/``, so a rerun or the next report links it), then redirects to it. A pair without scores
  answers 404 with the reason.

Loopback only: the Host header must be a loopback name (no DNS rebinding); nothing is served outside
``reports/``; another site's page cannot make a browser build diffs here (``Sec-Fetch-Site`` must be
same-origin or none).
"""

from __future__ import annotations

import posixpath
from urllib.parse import quote

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from eval_pipeline.commands.diff import resolve
from eval_pipeline.history.diff_data import load_run_pair
from eval_pipeline.history.diff_page import build_diff_html
from eval_pipeline.history.pair_index import picker_data
from eval_pipeline.storage import keys
from eval_pipeline.storage.location import Location
from eval_pipeline.storage.warehouse import Warehouse

REPORTS = keys.history_report().split("/", 1)[0]  # "reports": every page the server shows lives under it


def _key_url(key: str) -> str:
    """The URL path of a warehouse key under ``reports/``."""
    return "/" + quote(posixpath.relpath(key, REPORTS), safe="/=@")


def build_pair(warehouse: Warehouse, candidate: str, baseline: str) -> str:
    """Write the diff page of ``candidate`` against ``baseline`` (``VERSION[@DATE]`` each); returns its key.
    ``LookupError`` naming what is missing."""

    cand, base = resolve(warehouse, candidate, baseline, None)
    key = keys.diff_page(*cand, against=base)
    page = build_diff_html(
        load_run_pair(warehouse, cand, base), pairs=picker_data(warehouse, key, here_pair=(cand, base))
    )
    warehouse.write_bytes(key, page.encode("utf-8"), "text/html; charset=utf-8")
    return key


def create_app(warehouse: Warehouse) -> Starlette:
    """The app over a local warehouse (see the module docstring)."""

    root = Location.parse(warehouse.root).path / REPORTS
    root.mkdir(parents=True, exist_ok=True)

    async def view(request: Request) -> Response:
        return JSONResponse({"diff_on_request": True})

    async def diff(request: Request) -> Response:
        if request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
            return PlainTextResponse("a diff is built only from this server's own pages", status_code=403)
        c, b = request.query_params.get("candidate"), request.query_params.get("baseline")
        if not c or not b:
            return PlainTextResponse("give ?candidate=VERSION@DATE&baseline=VERSION@DATE", status_code=400)
        try:
            key = build_pair(warehouse, c, b)
        except LookupError as e:
            return PlainTextResponse(f"no diff of {c} against {b}: {e}", status_code=404)
        return RedirectResponse(_key_url(key), status_code=303)

    async def home(request: Request) -> Response:
        return RedirectResponse(_key_url(keys.history_report()), status_code=307)

    return Starlette(
        routes=[
            Route("/", home),
            Route("/api/view", view),
            Route("/diff", diff),
            Mount("/", app=StaticFiles(directory=str(root), html=False)),
        ],
        middleware=[Middleware(TrustedHostMiddleware, allowed_hosts=["127.0.0.1", "localhost"])],
    )
