"""Local accounts: users.toml (name → role and argon2id password hash), written atomically with mode 0600.

The file lives in the runs directory unless `--users FILE` names another. Passwords are hashed
with argon2-cffi (argon2id, its default parameters, salted per user) and never stored, printed
or logged; the file holds only the hash:

    # gradsift users: written by `gradsift users`; password_hash is argon2id, never the password
    [users."alice"]
    role = "lead"
    password_hash = "$argon2id$v=19$m=65536,t=3,p=4$..."
    created = "2026-12-07T11:00:00+00:00"
"""

from __future__ import annotations

import functools
import json
import os
import re
import secrets
import stat
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import tomllib

from core.auth.roles import Actor, check_role
from core.errors import GradsiftError

USERS_FILE = "users.toml"
"""Default name of the users file inside the runs directory."""
USER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}$")
MIN_PASSWORD_CHARS = 8
FILE_MODE = 0o600


@dataclass(frozen=True)
class User:
    """One local account; `password_hash` is an argon2id hash string (salt and parameters included)."""

    name: str
    role: str
    password_hash: str
    created: str

    @property
    def actor(self) -> Actor:
        return Actor(self.name, self.role)


def users_file(runs_dir: Path | None = None, users: Path | None = None) -> Path:
    """The users file: `users` when given, else `<runs_dir>/users.toml` (runs_dir defaults to `runs`)."""
    if users is not None:
        return Path(users)
    return Path("runs" if runs_dir is None else runs_dir) / USERS_FILE


def check_name(name: str) -> str:
    if not USER_NAME.match(name or ""):
        raise GradsiftError(f"user name {name!r} is not valid: 1-64 letters, digits, '.', '_', '@', '+' or '-', "
                            "starting with a letter or digit")
    return name


def check_password(password: str) -> str:
    if len(password or "") < MIN_PASSWORD_CHARS:
        raise GradsiftError(f"a password needs at least {MIN_PASSWORD_CHARS} characters")
    return password


def _hasher():
    from argon2 import PasswordHasher

    return PasswordHasher()


def hash_password(password: str) -> str:
    """An argon2id hash of `password` (random salt): what users.toml stores instead of the password."""
    return _hasher().hash(check_password(password))


def verify_password(password_hash: str, password: str) -> bool:
    """True when `password` matches `password_hash`; any malformed hash is a plain no."""
    from argon2.exceptions import Argon2Error, InvalidHashError

    try:
        return _hasher().verify(password_hash, password)
    except (Argon2Error, InvalidHashError):
        return False


@functools.lru_cache(maxsize=1)
def dummy_hash() -> str:
    """A real hash of a random password, verified against when the user does not exist: a wrong
    name then costs as long as a wrong password and does not reveal which names exist."""
    return _hasher().hash(secrets.token_urlsafe(16))


def load_users(path: Path) -> dict[str, User]:
    """The users in `path` by name; an absent file holds none. A malformed file is a one-line error."""
    path = Path(path)
    if not path.is_file():
        return {}
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise GradsiftError(f"{path} is not a valid users file: {exc}") from None
    users = {}
    for name, fields in (document.get("users") or {}).items():
        if not isinstance(fields, dict) or not {"role", "password_hash"} <= fields.keys():
            raise GradsiftError(f"{path}: user {name!r} needs a role and a password_hash")
        try:
            users[name] = User(check_name(name), check_role(fields["role"]), str(fields["password_hash"]),
                               str(fields.get("created", "")))
        except GradsiftError as exc:
            raise GradsiftError(f"{path}: {exc}") from None
    return users


def loose_permissions(path: Path) -> bool:
    """True when group or others may read or write `path` (the file should be 0600)."""
    return bool(Path(path).stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO))


def save_users(path: Path, users: dict[str, User]) -> None:
    """Write every user to `path` atomically (temp file + fsync + rename), mode 0600."""
    from core.run.io import atomic_write

    lines = ["# gradsift users: written by `gradsift users`; password_hash is argon2id, never the password", ""]
    for user in sorted(users.values(), key=lambda u: u.name):
        # json.dumps of an ASCII-safe str is a valid TOML basic string.
        lines += [f"[users.{json.dumps(user.name)}]", f"role = {json.dumps(user.role)}",
                  f"password_hash = {json.dumps(user.password_hash)}", f"created = {json.dumps(user.created)}", ""]
    payload = "\n".join(lines).encode("utf-8")

    def write(handle) -> None:
        os.fchmod(handle.fileno(), FILE_MODE)  # before the rename: never readable by others, not even briefly
        handle.write(payload)

    atomic_write(Path(path), write)


def add_user(path: Path, name: str, role: str, password: str) -> User:
    """Add a new user (refusing an existing name) and save the file."""
    users = load_users(path)
    check_name(name)
    if name in users:
        raise GradsiftError(f"user {name!r} already exists in {path}; use `gradsift users set-role` or remove it first")
    user = User(name, check_role(role), hash_password(password),
                datetime.now(timezone.utc).isoformat(timespec="seconds"))
    save_users(path, {**users, name: user})
    return user


def _existing(path: Path, name: str) -> dict[str, User]:
    users = load_users(path)
    if name not in users:
        known = ", ".join(sorted(users)) or "none yet"
        raise GradsiftError(f"no user {name!r} in {path} (users: {known})")
    return users


def remove_user(path: Path, name: str) -> None:
    users = _existing(path, name)
    del users[name]
    save_users(path, users)


def set_role(path: Path, name: str, role: str) -> User:
    users = _existing(path, name)
    user = User(name, check_role(role), users[name].password_hash, users[name].created)
    save_users(path, {**users, name: user})
    return user
