"""The browser tests' plumbing: headless Chromium (Debian's /usr/bin/chromium through Playwright; the browser is
never downloaded) and Dagster's web servers on 127.0.0.1.

In: a viewport, a Dagster web command (``dagster dev`` / ``dagster-webserver``) and its environment, a page file.
Out: a Playwright page (a full-page screenshot in ``test-artifacts/`` when the test fails, the browser closed
after), the URL of a served Dagster UI (its whole process group stopped after), the requests an offline page
tried to send elsewhere and its script errors.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from eval_pipeline.project.paths import PROJECT_ROOT

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = PROJECT_ROOT / "test-artifacts"


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float, proc: subprocess.Popen, log: Path) -> None:
    """Until ``url`` answers 200; fail with the end of ``log`` if ``proc`` exits or ``timeout`` passes first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"dagster dev exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"{url} not up after {timeout}s:\n{log.read_text()[-3000:]}")


def stop_group(proc: subprocess.Popen) -> None:
    """Stop ``proc`` and everything it started (its own process group, by id)."""
    os.killpg(proc.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=20)
    time.sleep(2)  # give the webserver, daemon and code servers a moment to exit on their own
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


@contextlib.contextmanager
def dagster_web(
    command: str, args: list[str], env: dict[str, str], log: Path, timeout: float
) -> Iterator[str]:
    """Run the venv's ``command`` (``dagster`` / ``dagster-webserver``) with ``args`` on a free loopback port, from
    the project root, its output in ``log``; yield its URL once ``/server_info`` answers; stop its group after."""
    port = free_port()
    exe = Path(sys.executable).parent / command
    with log.open("w") as out:
        proc = subprocess.Popen(
            [str(exe), *args, "-h", "127.0.0.1", "-p", str(port)],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_http(f"http://127.0.0.1:{port}/server_info", timeout, proc, log)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_group(proc)


@contextlib.contextmanager
def chromium_page(
    width: int = 1400, height: int = 900, timeout_ms: float | None = None, failure_shot: str | None = None
) -> Iterator[Any]:
    """A new page in headless Chromium (default timeout ``timeout_ms`` when given); on an exception, a full-page
    screenshot ``test-artifacts/<failure_shot>`` when named; the browser closed after."""
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), "install Debian's chromium: apt-get install -y chromium"
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": width, "height": height})
        if timeout_ms is not None:
            page.set_default_timeout(timeout_ms)
        try:
            yield page
        except Exception:
            if failure_shot:
                page.screenshot(path=ARTIFACTS / failure_shot, full_page=True)
            raise
        finally:
            browser.close()


def open_offline(page: Any, path: Path) -> tuple[list[str], list[str]]:
    """Open the page file ``path`` with every other request refused; return the lists that collect the refused
    URLs and the page's script errors (both must stay empty for a self-contained page)."""
    outside: list[str] = []
    errors: list[str] = []

    def route(r: Any) -> Any:
        if r.request.url.startswith("file://") and r.request.url.split("#")[0] == path.as_uri():
            return r.continue_()
        outside.append(r.request.url)
        return r.abort()

    page.route("**/*", route)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(path.as_uri())
    return outside, errors


def pick_partitions(page: Any, keys: list[str]) -> None:
    """In the open "Select a partition" dropdown of a Dagster launch dialog, check each of ``keys``.

    The dropdown is its own popover whose options are checkbox menu items. Scoped to it (a bare text
    locator can resolve to the same name elsewhere on the page, hidden behind the dialog, and the list
    re-renders while partition statuses load), each option is found through the popover's filter box,
    clicked, and confirmed checked before the next one."""
    from playwright.sync_api import expect

    popover = page.locator(".dagster-popover[data-state='open']").filter(
        has=page.get_by_placeholder("Filter partitions")
    )
    for _ in range(
        3
    ):  # the opening click can land while the dialog re-renders: open it again if it did not open
        try:
            expect(popover).to_be_visible(timeout=10_000)
            break
        except AssertionError:
            page.get_by_role("dialog").first.get_by_text("Select a partition or create one").click()
    for key in keys:
        popover.get_by_placeholder("Filter partitions").fill(key)
        option = popover.locator("[role=menuitem]:has(input[type=checkbox])").filter(
            has=page.get_by_text(key, exact=True)
        )
        expect(option).to_have_count(1)
        option.click()
        expect(option.locator("input[type=checkbox]")).to_be_checked()
    popover.get_by_placeholder("Filter partitions").fill("")
