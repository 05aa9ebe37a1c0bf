"""``eval-pipeline review``: serve the human review queue for labelling in a browser (plain Python).

In: the warehouse of ``EVAL_WAREHOUSE_URL`` (the ``review_queue`` asset's files) and the data folder
(``EVAL_DATA_DIR``). Out: labels in ``<data>/reviews/<date>_<mv>.jsonl``, read by ``judge_calibration``.
The server is :mod:`eval_pipeline.noise.review_server`; this module parses arguments and runs uvicorn.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--host", default="127.0.0.1", help="bind address (default 127.0.0.1; others need a token)"
    )
    p.add_argument("--port", type=int, default=8765, help="port (default 8765)")
    p.add_argument(
        "--data-dir", help="data folder whose reviews/ gets the labels (default: EVAL_DATA_DIR or ./data)"
    )


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from eval_pipeline.noise import review_server as rs
    from eval_pipeline.project.paths import data_dir, default_warehouse_url
    from eval_pipeline.storage.warehouse import Warehouse

    loopback = rs.is_loopback(args.host)
    token = None if loopback else rs.new_token()
    rs.check_bind(args.host, token)
    reviews = Path(args.data_dir).resolve() / "reviews" if args.data_dir else data_dir() / "reviews"
    store = rs.ReviewStore(Warehouse.from_url(default_warehouse_url()), reviews)
    app = rs.create_app(store, token=token, loopback=loopback)
    state = store.state()
    print(f"review queue: {len(state['items'])} open of {state['total']}; labels go to {reviews}")
    url = f"http://{args.host}:{args.port}/"
    if token:  # printed once, never logged (uvicorn's access log is off: it would print the query string)
        print(f"access token (shown once): {token}\nopen {url}?token={token}", flush=True)
    else:
        print(f"open {url} (Ctrl-C stops)", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, access_log=False, log_level="warning")
    return 0
