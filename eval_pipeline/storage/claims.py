"""Step claims: at most one process runs a paid step (model calls) of one partition at a time.

In: a warehouse backend (local folder or S3), a step name, a date and a model-version key. Out: the
context manager :func:`step_claim`; inside it this process holds the claim, and a second process that
asks for the same claim waits (polling, logging who holds it) until the holder ends - then its store
lookup finds every answer the first paid for, and it pays for nothing twice. Waiting longer than
``wait_s`` raises :class:`ClaimTimeout` (a WarehouseError naming the claim, its holder and the wait).

Why this is sound on both backends
----------------------------------
* **Local folder**: an exclusive ``flock`` on ``<warehouse>/claims/<step>/date=<d>/model_version=<mv>.lock``.
  The kernel releases it when the holder exits, however it dies (SIGKILL included), so a dead run never
  blocks the next one. (flock is per host: a local warehouse is one host's folder.)
* **S3** (AWS, SeaweedFS, MinIO, R2 - any store with conditional writes): a lease object
  ``claims/<step>/date=<d>/model_version=<mv>.json`` created with ``If-None-Match: *`` (exactly one
  creator wins), holding the owner and an expiry ``ttl_s`` ahead. The holder renews it every ``ttl_s/3``
  with ``If-Match: <etag>`` (compare-and-swap) and deletes it at the end. A waiter whose lease is expired
  (the holder died without deleting it) takes it over with ``If-Match`` on the expired version, so two
  waiters cannot both take it over. A holder stalled longer than ``ttl_s`` (no renewal) can lose its
  lease; it logs that it did. A killed holder delays the next run by at most ``ttl_s``.

Dagster's own partition concurrency was not used: it only acts for runs the daemon queues, not for
``eval-pipeline run`` (in process) or a second Dagster instance, and it needs pools configured.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

from eval_pipeline.storage import keys
from eval_pipeline.storage.errors import WarehouseError

__all__ = ["ClaimTimeout", "step_claim"]


class ClaimTimeout(WarehouseError):
    """Another process held the claim for longer than the caller would wait."""


def _owner() -> dict[str, Any]:
    return {"host": socket.gethostname(), "pid": os.getpid(), "token": uuid.uuid4().hex, "since": time.time()}


def _describe(owner: dict[str, Any] | None) -> str:
    if not owner:
        return "another process"
    age = time.time() - float(owner.get("since", time.time()))
    return f"process {owner.get('pid')} on {owner.get('host')} (for {age:.0f} s)"


@contextlib.contextmanager
def step_claim(
    backend: Any,
    step: str,
    date: str,
    model_version_key: str,
    *,
    wait_s: float = 3600.0,
    ttl_s: float = 120.0,
    poll_s: float = 1.0,
    log: Callable[[str], None] | None = None,
) -> Iterator[None]:
    """Hold the claim on ``step`` of (``date``, ``mv_key``) for the block (waiting up to ``wait_s``)."""
    key = keys.step_claim(step, date, model_version_key)
    what = f"{step} of {model_version_key} on {date}"
    if backend.kind == "s3":
        with _s3_claim(backend, key, what, wait_s, ttl_s, poll_s, log):
            yield
    else:
        with _local_claim(backend, key, what, wait_s, poll_s, log):
            yield


@contextlib.contextmanager
def _local_claim(backend: Any, key: str, what: str, wait_s: float, poll_s: float, log: Any) -> Iterator[None]:
    path = backend.path(key).with_suffix(".lock")
    path.parent.mkdir(parents=True, exist_ok=True)
    fh = open(path, "a+")  # noqa: SIM115  (held open for the whole claim)
    try:
        t0, told = time.monotonic(), False
        while True:
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                fh.seek(0)
                try:
                    owner = json.loads(fh.read() or "null")
                except ValueError:
                    owner = None
                waited = time.monotonic() - t0
                if waited > wait_s:
                    raise ClaimTimeout(
                        f"{what} is being run by {_describe(owner)}; waited {waited:.0f} s for it to finish "
                        f"(claim {path}). Run again when it is done."
                    ) from None
                if log is not None and not told:
                    log(f"waiting: {what} is being run by {_describe(owner)}; its answers will be reused")
                    told = True
                time.sleep(poll_s)
        fh.seek(0)
        fh.truncate()
        fh.write(json.dumps(_owner()))
        fh.flush()
        yield
    finally:
        fh.close()  # releases the flock


@contextlib.contextmanager
def _s3_claim(
    backend: Any, key: str, what: str, wait_s: float, ttl_s: float, poll_s: float, log: Any
) -> Iterator[None]:
    from botocore.exceptions import ClientError  # noqa: PLC0415 - keeps botocore out of `import eval_pipeline.definitions`

    client, bucket, obj = backend.client, backend.bucket, backend.object_key(key)
    me = _owner()

    def body() -> bytes:
        return json.dumps({**me, "expires": time.time() + ttl_s}).encode()

    def refused(exc: ClientError) -> bool:
        err = exc.response.get("Error", {})
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return err.get("Code") in ("PreconditionFailed", "ConditionalRequestConflict") or status in (409, 412)

    etag: list[str] = []
    t0, told = time.monotonic(), False
    backend._ensure_checked()
    while not etag:
        with backend._errors(f"claim {backend.uri(key)}"):
            try:
                etag.append(client.put_object(Bucket=bucket, Key=obj, Body=body(), IfNoneMatch="*")["ETag"])
                break
            except ClientError as exc:
                if not refused(exc):
                    raise
            try:
                cur = client.get_object(Bucket=bucket, Key=obj)
                owner, cur_etag = json.loads(cur["Body"].read()), cur["ETag"]
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                    continue  # released meanwhile: try to create it again
                raise
            if float(owner.get("expires", 0)) < time.time():  # the holder died: take the lease over
                try:
                    etag.append(
                        client.put_object(Bucket=bucket, Key=obj, Body=body(), IfMatch=cur_etag)["ETag"]
                    )
                    if log is not None:
                        log(f"took over the expired claim on {what} from {_describe(owner)}")
                    break
                except ClientError as exc:
                    if not refused(exc):
                        raise
                    continue
        waited = time.monotonic() - t0
        if waited > wait_s:
            raise ClaimTimeout(
                f"{what} is being run by {_describe(owner)}; waited {waited:.0f} s for it to finish "
                f"(claim {backend.uri(key)}). Run again when it is done."
            )
        if log is not None and not told:
            log(f"waiting: {what} is being run by {_describe(owner)}; its answers will be reused")
            told = True
        time.sleep(poll_s)

    stop = threading.Event()

    def renew() -> None:
        while not stop.wait(ttl_s / 3):
            try:
                etag[0] = client.put_object(Bucket=bucket, Key=obj, Body=body(), IfMatch=etag[0])["ETag"]
            except Exception as exc:  # lost the lease (stalled past ttl) or S3 unreachable
                if log is not None:
                    log(
                        f"could not renew the claim on {what}: {type(exc).__name__}; another run may start it"
                    )
                return

    th = threading.Thread(target=renew, name=f"claim-{key}", daemon=True)
    th.start()
    try:
        yield
    finally:
        stop.set()
        th.join(timeout=5)
        with contextlib.suppress(Exception):  # an expired claim is taken over anyway
            cur = client.get_object(Bucket=bucket, Key=obj)
            if json.loads(cur["Body"].read()).get("token") == me["token"]:
                client.delete_object(Bucket=bucket, Key=obj)
