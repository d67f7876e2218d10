"""Driving the dashboard in Debian's chromium with Playwright: shared by the browser test and
assets/make_screenshots.py (never `playwright install`: the Debian browser is used as is)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def running_dashboard(runs_dir: Path, log_path: Path, startup_seconds: float = 60,
                      args: Sequence[str] = ()) -> Iterator[str]:
    """`gradsift dashboard RUNS_DIR [ARGS]` (this checkout's) on a free loopback port until the block ends;
    yields its URL.

    The command runs in its own process group (it starts Streamlit as a child), and the whole
    group is stopped with SIGTERM (SIGKILL after 10 s) at the end.
    """
    port = free_port()
    # This checkout's code, not whichever gradsift is installed: `python -m` from the repository root.
    command = [sys.executable, "-m", "core.cli.main"]
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]))
    with open(log_path, "wb") as log:
        process = subprocess.Popen([*command, "dashboard", str(runs_dir), "--port", str(port), *args], stdout=log,
                                   stderr=subprocess.STDOUT, env=env, cwd=REPO, start_new_session=True)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.time() + startup_seconds
            while True:
                try:
                    with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                        if response.status == 200:
                            break
                except OSError:
                    if process.poll() is not None or time.time() > deadline:
                        raise RuntimeError(Path(log_path).read_text()) from None
                    time.sleep(0.3)
            yield url
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)


@contextmanager
def browser_page(errors: list[str], width: int = 1400, height: int = 1800) -> Iterator:
    """A Playwright page of headless Chromium (CHROMIUM, CHROMIUM_ARGS); every uncaught page error is appended
    to `errors`; the browser is closed after the block, whatever happens in it."""
    from playwright import sync_api

    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            yield page
        finally:
            browser.close()


def settle(page, title: str, ready: str | None = None, count: int = 1, timeout: float = 60_000) -> None:
    """Wait until the page shows `title` (and at least `count` elements with data-testid
    `ready`) and Streamlit has finished running the script."""
    page.get_by_role("heading", name=title, level=1).wait_for(timeout=timeout)
    if ready:
        page.locator(f'[data-testid="{ready}"]').nth(count - 1).wait_for(timeout=timeout)
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"] [data-testid=\"stStatusWidgetRunningIcon\"]')"
        " && !document.querySelector('[data-testid=\"stStatusWidgetRunningManIcon\"]')", timeout=timeout)
    page.wait_for_timeout(1000)  # canvases (data grids, WebGL plots) paint after the script ends
