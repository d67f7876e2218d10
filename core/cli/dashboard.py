"""`gradsift dashboard`: the Streamlit data-inspection dashboard on a directory of runs."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from core.cli.app import (
    DEFAULT_RUNS_DIR,
    AddressOption,
    PortOption,
    app,
    console,
    friendly,
)


def launch_dashboard(runs_dir: Path, address: str, port: int) -> None:
    app_path = Path(__file__).resolve().parents[2] / "dashboard" / "app.py"
    env = dict(os.environ, GRADSIFT_RUNS_DIR=str(runs_dir.resolve()))
    env.setdefault("GRADSIFT_DATA_ROOTS", os.getcwd())
    command = [sys.executable, "-m", "streamlit", "run", str(app_path), "--server.address", address,
               "--server.port", str(port), "--server.headless", "true", "--browser.gatherUsageStats", "false",
               "--server.enableXsrfProtection", "true"]
    console.print(f"dashboard on http://{address}:{port} (runs from {runs_dir}); Ctrl+C stops it")
    # Streamlit reads .streamlit/config.toml (theme, loopback, XSRF) from its working directory. The
    # command *becomes* the Streamlit server (exec, no child process), so SIGTERM or Ctrl+C stops the
    # server itself and frees the port: nothing is left running behind a stopped `gradsift dashboard`.
    os.chdir(app_path.parent.parent)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, command, env)


@app.command()
@friendly
def dashboard(
    runs_dir: Annotated[Path, typer.Argument(help="Directory holding run directories.")] = DEFAULT_RUNS_DIR,
    address: AddressOption = "127.0.0.1",
    port: PortOption = 8501,
) -> None:
    """Start the data-inspection dashboard on the runs in RUNS_DIR."""
    launch_dashboard(runs_dir, address, port)
