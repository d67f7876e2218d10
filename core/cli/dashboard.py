"""`gradsift dashboard`: the Streamlit data-inspection dashboard on a directory of runs.

Before Streamlit starts, the serving rules of core.auth.serving are applied: beyond loopback a
dashboard needs sign-in (local accounts in the users file, or an `[auth]` section in the
secrets file) unless it is `--read-only`, and local accounts need TLS or `--allow-http`. A
refused setup prints one line and exits with status 2 before anything listens (docs/team.md).
"""

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
from core.errors import GradsiftError


def _sign_in_env(runs_dir: Path, address: str, users: Path | None, secrets: Path | None, read_only: bool,
                 ssl: tuple[Path | None, Path | None], allow_http: bool, session_hours: float) -> tuple[dict, Path]:
    """The environment the dashboard reads its sign-in setup from, and the secrets file to pass to
    Streamlit; raises a one-line GradsiftError for a setup the serving rules refuse."""
    from core.auth import serving
    from core.auth.sessions import SECRET_FILE, load_or_create_secret
    from core.auth.users import load_users, users_file

    users_path = users_file(runs_dir, users).resolve()
    secrets_path = (secrets or serving.default_secrets_file(runs_dir)).resolve()
    if secrets is not None and not secrets_path.is_file():
        raise GradsiftError(f"--secrets {secrets} does not exist")
    if (ssl[0] is None) != (ssl[1] is None):
        raise GradsiftError("--ssl-cert and --ssl-key go together: pass both or neither")
    for option, path in zip(("--ssl-cert", "--ssl-key"), ssl):
        if path is not None and not path.is_file():
            raise GradsiftError(f"{option} {path} does not exist")
    if session_hours <= 0:
        raise GradsiftError(f"--session-hours must be positive, got {session_hours}")
    secrets_doc = serving.read_secrets(secrets_path)
    mode = serving.sign_in_mode(len(load_users(users_path)), serving.has_oidc(secrets_doc), read_only)
    for warning in serving.check_serving(address, mode, tls=ssl[0] is not None, allow_http=allow_http,
                                         users_path=users_path, secrets_path=secrets_path):
        console.print(warning, highlight=False, markup=False)
    if mode == serving.OIDC:
        serving.oidc_roles(secrets_doc)  # a bad role is refused now, not at the first sign-in
        try:
            import authlib  # noqa: F401  (st.login needs it)
        except ImportError:
            raise GradsiftError("sign-in through [auth] (st.login) needs Authlib: "
                                "pip install 'Authlib>=1.3.2'") from None
    secret_path = users_path.parent / SECRET_FILE
    if mode == serving.LOCAL and not os.environ.get(serving.SECRET_ENV):
        configured = (secrets_doc.get("gradsift") or {}).get("session_secret")
        load_or_create_secret(secret_path, configured)  # created 0600 now, before anyone can sign in
    env = {serving.USERS_ENV: str(users_path), serving.SECRET_FILE_ENV: str(secret_path),
           serving.READ_ONLY_ENV: "1" if read_only else "0", serving.SESSION_HOURS_ENV: str(session_hours)}
    console.print(f"sign-in: {serving.MODES[mode]}", highlight=False, markup=False)
    return env, secrets_path


def launch_dashboard(runs_dir: Path, address: str, port: int, *, users: Path | None = None,
                     secrets: Path | None = None, read_only: bool = False,
                     ssl: tuple[Path | None, Path | None] = (None, None), allow_http: bool = False,
                     session_hours: float = 8.0) -> None:
    app_path = Path(__file__).resolve().parents[2] / "dashboard" / "app.py"
    sign_in, secrets_path = _sign_in_env(runs_dir, address, users, secrets, read_only, ssl, allow_http,
                                         session_hours)
    env = dict(os.environ, GRADSIFT_RUNS_DIR=str(runs_dir.resolve()), **sign_in)
    env.setdefault("GRADSIFT_DATA_ROOTS", os.getcwd())
    command = [sys.executable, "-m", "streamlit", "run", str(app_path), "--server.address", address,
               "--server.port", str(port), "--server.headless", "true", "--browser.gatherUsageStats", "false",
               "--server.enableXsrfProtection", "true", "--secrets.files", str(secrets_path)]
    if ssl[0] is not None:
        command += ["--server.sslCertFile", str(ssl[0].resolve()), "--server.sslKeyFile", str(ssl[1].resolve())]
    scheme = "https" if ssl[0] is not None else "http"
    console.print(f"dashboard on {scheme}://{address}:{port} (runs from {runs_dir}); Ctrl+C stops it")
    # Streamlit reads .streamlit/config.toml (theme, loopback, XSRF) from its working directory. The
    # command *becomes* the Streamlit server (exec, no child process), so SIGTERM or Ctrl+C stops the
    # server itself and frees the port: nothing is left running behind a stopped `gradsift dashboard`.
    # Paths handed over above are absolute, so the change of directory does not move them.
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
    users: Annotated[Path | None, typer.Option("--users", help="Users file (default: RUNS_DIR/users.toml); with "
                                                                "users in it, everyone signs in.")] = None,
    secrets: Annotated[Path | None, typer.Option(
        "--secrets", help="Secrets file (\\[auth] for OIDC sign-in, \\[gradsift.roles]); default RUNS_DIR/secrets.toml "
                          "if present, else .streamlit/secrets.toml.")] = None,
    read_only: Annotated[bool, typer.Option("--read-only", help="Public demo: no sign-in, every visitor is a viewer; "
                                                                "nothing is written, launched or exported.")] = False,
    ssl_cert: Annotated[Path | None, typer.Option("--ssl-cert", help="TLS certificate (PEM) to serve HTTPS.")] = None,
    ssl_key: Annotated[Path | None, typer.Option("--ssl-key", help="TLS private key (PEM) of --ssl-cert.")] = None,
    allow_http: Annotated[bool, typer.Option("--allow-http", help="Allow local-account sign-in beyond loopback "
                                                                  "without TLS (prints a warning).")] = False,
    session_hours: Annotated[float, typer.Option("--session-hours", help="Hours a sign-in lasts.")] = 8.0,
) -> None:
    """Start the data-inspection dashboard on the runs in RUNS_DIR (sign-in and roles: docs/team.md)."""
    launch_dashboard(runs_dir, address, port, users=users, secrets=secrets, read_only=read_only,
                     ssl=(ssl_cert, ssl_key), allow_http=allow_http, session_hours=session_hours)
