"""`gradsift dashboard` stopped by SIGTERM or Ctrl+C leaves nothing running and frees its port."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import psutil
import pytest

from tests.dashboard.browser import REPO, free_port

pytestmark = pytest.mark.slow


def _wait_healthy(url: str, process: subprocess.Popen, seconds: float = 60) -> None:
    deadline = time.time() + seconds
    while True:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            if process.poll() is not None or time.time() > deadline:
                raise AssertionError(f"dashboard did not start (exit {process.poll()})") from None
            time.sleep(0.3)


def _port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_stopping_the_command_stops_the_server(tmp_path, stop):
    port = free_port()
    gradsift = shutil.which("gradsift")
    command = [gradsift] if gradsift else [sys.executable, "-m", "core.cli.main"]
    process = subprocess.Popen([*command, "dashboard", str(tmp_path), "--port", str(port)], cwd=REPO,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_healthy(f"http://127.0.0.1:{port}", process)
        serving = {p.pid for p in psutil.Process(process.pid).children(recursive=True)} | {process.pid}
        os.kill(process.pid, stop)
        process.wait(20)
        deadline = time.time() + 10
        while time.time() < deadline and (not _port_is_free(port) or any(psutil.pid_exists(p) and
                                                                         psutil.Process(p).status() != "zombie"
                                                                         for p in serving)):
            time.sleep(0.2)
        assert _port_is_free(port), "the port is still taken"
        assert not [p for p in serving if psutil.pid_exists(p) and psutil.Process(p).status() != "zombie"]
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
