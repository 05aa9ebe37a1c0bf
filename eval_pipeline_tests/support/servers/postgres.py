"""A real PostgreSQL server for tests: Debian's ``postgresql`` binaries, a throw-away cluster on 127.0.0.1.

``initdb`` + ``pg_ctl`` (found under ``/usr/lib/postgresql/*/bin``) in a temporary folder, trust
authentication, a free port, the unix socket in the same folder, fsync off (a test cluster).
PostgreSQL refuses to run as root: as root, the folder is given to the ``postgres`` system user
(created by the Debian package) and the binaries run through ``runuser``. Use::

    with PostgresServer() as pg:
        pg.create_database("dagster")      # then pg.env("dagster") for deploy/dagster.yaml.template
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from eval_pipeline_tests.support.servers.seaweed import free_ports


def find_bin(name: str) -> str:
    """``/usr/lib/postgresql/<version>/bin/<name>`` of the newest installed version."""
    found = sorted(
        glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0,
    )
    if not found:
        raise RuntimeError(
            f"PostgreSQL's {name} not found under /usr/lib/postgresql/*/bin: `make postgresql` "
            "(Debian: apt-get install postgresql)"
        )
    return found[-1]


class PostgresServer:
    """One PostgreSQL cluster on 127.0.0.1:<free port>; user ``postgres``, no password (trust)."""

    def __init__(self, user: str = "postgres"):
        self.user = user
        self.port = free_ports(1)[0]
        self.workdir: Path | None = None
        self._as: list[str] = []

    def _run(self, *cmd: str) -> None:
        subprocess.run([*self._as, *cmd], check=True, capture_output=True, timeout=120)

    def start(self) -> PostgresServer:
        self.workdir = Path(tempfile.mkdtemp(prefix="pg-test-"))
        data = self.workdir / "data"
        if os.geteuid() == 0:  # postgres will not run as root
            pw = pwd.getpwnam("postgres")
            os.chown(self.workdir, pw.pw_uid, pw.pw_gid)
            self._as = ["runuser", "-u", "postgres", "--"]
        self._run(
            find_bin("initdb"), "-D", str(data), "-U", self.user, "-A", "trust", "--no-sync", "-E", "UTF8"
        )
        opts = (
            f"-h 127.0.0.1 -p {self.port} -k {self.workdir} -F -c max_connections=200 -c shared_buffers=32MB"
        )
        self._run(
            find_bin("pg_ctl"),
            "-D",
            str(data),
            "-o",
            opts,
            "-l",
            str(self.workdir / "pg.log"),
            "-w",
            "-t",
            "60",
            "start",
        )
        return self

    def stop(self) -> None:
        if self.workdir is None:
            return
        with contextlib.suppress(subprocess.CalledProcessError):
            self._run(find_bin("pg_ctl"), "-D", str(self.workdir / "data"), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.workdir, ignore_errors=True)
        self.workdir = None

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def create_database(self, name: str) -> None:
        import psycopg2

        con = psycopg2.connect(host="127.0.0.1", port=self.port, user=self.user, dbname="postgres")
        con.autocommit = True
        with con.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}"')
        con.close()

    def env(self, db: str) -> dict[str, str]:
        """The variables deploy/dagster.yaml.template reads."""
        return {
            "DAGSTER_PG_HOST": "127.0.0.1",
            "DAGSTER_PG_PORT": str(self.port),
            "DAGSTER_PG_USERNAME": self.user,
            "DAGSTER_PG_PASSWORD": "",
            "DAGSTER_PG_DB": db,
        }

    def log_tail(self, n: int = 30) -> str:
        p = (self.workdir or Path("/nonexistent")) / "pg.log"
        return "\n".join(p.read_text().splitlines()[-n:]) if p.exists() else ""


def wait_for(pred, timeout: float, every: float = 0.5, what=None):
    """Poll ``pred()`` until truthy (returned) or raise TimeoutError after ``timeout`` s (``what``: a text, or a
    callable giving it, e.g. a log tail read at the time of the failure)."""
    end = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > end:
            raise TimeoutError(
                f"timed out after {timeout:.0f} s waiting for {what() if callable(what) else what}"
            )
        time.sleep(every)
