"""How a dashboard may be served, and what the `gradsift dashboard` command hands to Streamlit.

Sign-in is configured in one of two ways: local accounts (a users file with at least one user)
or an OpenID Connect provider (an `[auth]` section in the secrets file; Streamlit's st.login).
With neither, only loopback is served (the single local user), unless `--read-only` makes every
visitor a viewer. Local accounts send passwords, so beyond loopback they need TLS or an explicit
`--allow-http`. Both the command (before Streamlit starts) and the dashboard (on every rerun)
apply these rules from the same functions.

The allow-list of an OIDC setup maps e-mail addresses to roles in the secrets file:

    [auth]                       # Streamlit's own section (redirect_uri, cookie_secret, client_id, ...)
    [gradsift.roles]
    "ada@example.org" = "lead"
    "bob@example.org" = "annotator"
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import tomllib

from core.auth.roles import Actor, PermissionDenied, check_role
from core.errors import GradsiftError

USERS_ENV = "GRADSIFT_USERS_FILE"
"""Path of the users file the dashboard checks passwords against (default: <runs>/users.toml)."""
SECRET_FILE_ENV = "GRADSIFT_SESSION_SECRET_FILE"
"""Path of the generated session secret (default: .gradsift-secret beside the users file)."""
SECRET_ENV = "GRADSIFT_SESSION_SECRET"
"""A configured session secret (wins over the file)."""
READ_ONLY_ENV = "GRADSIFT_READ_ONLY"
"""'1': every visitor is a viewer; nothing is written, launched or exported."""
SESSION_HOURS_ENV = "GRADSIFT_SESSION_HOURS"
SECRETS_FILE = "secrets.toml"

READ_ONLY, OIDC, LOCAL, NONE = "read-only", "oidc", "local", "none"
MODES = {
    READ_ONLY: "no sign-in; every visitor is a viewer",
    OIDC: "sign in with the OpenID Connect provider of the [auth] section (st.login)",
    LOCAL: "sign in with a local account of the users file",
    NONE: "no sign-in; the single local user on loopback has every right",
}


def default_secrets_file(runs_dir: Path, cwd: Path | None = None) -> Path:
    """`<runs>/secrets.toml` when it exists, else `.streamlit/secrets.toml` of the working directory."""
    in_runs = Path(runs_dir) / SECRETS_FILE
    return in_runs if in_runs.is_file() else (Path.cwd() if cwd is None else cwd) / ".streamlit" / SECRETS_FILE


def read_secrets(path: Path | None) -> dict[str, Any]:
    """The secrets file as a dict ({} when absent); a malformed file is a one-line error."""
    if path is None or not Path(path).is_file():
        return {}
    try:
        return tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise GradsiftError(f"{path} is not a valid secrets file: {exc}") from None


def has_oidc(secrets: Mapping[str, Any]) -> bool:
    """True when the secrets hold Streamlit's `[auth]` section (st.login is configured)."""
    section = secrets.get("auth") if secrets else None
    return isinstance(section, Mapping) and len(section) > 0


def oidc_roles(secrets: Mapping[str, Any]) -> dict[str, str]:
    """The `[gradsift.roles]` allow-list: lower-cased e-mail → role (roles validated)."""
    table = (secrets.get("gradsift") or {}).get("roles") or {}
    if not isinstance(table, Mapping):
        raise GradsiftError("[gradsift.roles] must be a table of \"e-mail\" = \"role\" lines")
    return {str(email).strip().lower(): check_role(str(role)) for email, role in table.items()}


def oidc_actor(email: str | None, roles: Mapping[str, str]) -> Actor:
    """The actor of a signed-in OIDC user: their e-mail with its allow-listed role; refused when not listed."""
    address = (email or "").strip().lower()
    if not address:
        raise PermissionDenied("the identity provider sent no e-mail address; ask an admin to check the [auth] "
                               "scope (openid profile email)")
    if address not in roles:
        raise PermissionDenied(f"{address} is not on this dashboard's allow-list; ask an admin to add it to "
                               "[gradsift.roles] in the secrets file")
    return Actor(address, roles[address])


def sign_in_mode(users: int, oidc: bool, read_only: bool) -> str:
    """Which sign-in applies: read-only wins, then OIDC, then local accounts (`users` of them), else none."""
    if read_only:
        return READ_ONLY
    if oidc:
        return OIDC
    return LOCAL if users > 0 else NONE


def is_loopback(address: str) -> bool:
    """True for addresses only this machine reaches (127.0.0.0/8, ::1, localhost)."""
    if address.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(address.strip().strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to any interface


def check_serving(address: str, mode: str, *, tls: bool, allow_http: bool, users_path: Path,
                  secrets_path: Path) -> list[str]:
    """Refuse (one-line GradsiftError) a dashboard that would serve beyond loopback unprotected;
    returns the warnings to print for a setup that is allowed but weaker."""
    if is_loopback(address) or mode == READ_ONLY:
        return []
    if mode == NONE:
        raise GradsiftError(
            f"refusing to serve on {address} without sign-in: add a user (gradsift users add NAME --role lead "
            f"--users {users_path}) or an [auth] section in {secrets_path}, or pass --read-only for a public demo")
    if mode == LOCAL and not tls:
        if not allow_http:
            raise GradsiftError(f"local accounts on {address} need TLS: pass --ssl-cert and --ssl-key, or "
                                "--allow-http to send passwords unencrypted")
        return [f"warning: serving sign-in on {address} over plain HTTP (--allow-http): passwords and sessions "
                "cross the network unencrypted"]
    return []
