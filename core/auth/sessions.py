"""Signed sessions and slowed-down guessing: what a sign-in produces and what every rerun checks.

A session token is `<payload>.<signature>`: the payload (URL-safe base64 of JSON: user name,
role, issue and expiry times, a random nonce) signed with HMAC-SHA256 under the server's
secret. Checking one refuses a changed payload or signature, an expired token, and (in the
dashboard) a token whose user was since removed or given another role.

The secret comes from configuration (`[gradsift] session_secret` in the secrets file, or env
GRADSIFT_SESSION_SECRET) or is generated once and kept 0600 in `.gradsift-secret` beside users.toml.

Wrong passwords slow down per user name: after `free_attempts` failures each further one locks
that name for twice as long as the previous (1 s, 2 s, 4 s, ... up to 15 min), in memory of the
serving process; a correct password clears the count. Unknown names are verified against a
dummy hash and counted the same, so the answers do not reveal which names exist.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from core.auth.roles import Actor
from core.auth.users import FILE_MODE, User, dummy_hash, verify_password
from core.errors import GradsiftError

SECRET_FILE = ".gradsift-secret"
"""Generated signing secret, beside the users file."""
DEFAULT_SESSION_HOURS = 8.0


class InvalidSession(GradsiftError):
    """A session token that was altered, signed with another secret, or has expired: sign in again."""


class SignInRefused(GradsiftError):
    """Wrong name or password, or too many recent failures for that name."""


def load_or_create_secret(path: Path, configured: str | None = None) -> bytes:
    """The signing secret: `configured` when given, else the content of `path`, generated there
    (32 random bytes, hex, mode 0600, written atomically) when the file does not exist yet."""
    if configured:
        return configured.encode("utf-8")
    path = Path(path)
    if path.is_file():
        text = path.read_text(encoding="utf-8").strip()
        if len(text) < 32:
            raise GradsiftError(f"{path} holds no usable session secret (under 32 characters); delete it to "
                                "have a new one generated")
        return text.encode("utf-8")
    from core.run.io import atomic_write

    text = secrets.token_hex(32)

    def write(handle) -> None:
        os.fchmod(handle.fileno(), FILE_MODE)
        handle.write(text.encode("utf-8"))

    atomic_write(path, write)
    return text.encode("utf-8")


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(payload: str, secret: bytes) -> str:
    return _b64(hmac.new(secret, payload.encode("ascii"), hashlib.sha256).digest())


def issue_token(actor: Actor, secret: bytes, hours: float = DEFAULT_SESSION_HOURS,
                now: Callable[[], float] = time.time) -> str:
    """A token for `actor` valid `hours` from now (the clock is injectable for tests)."""
    if hours <= 0:
        raise GradsiftError(f"session hours must be positive, got {hours}")
    issued = now()
    payload = _b64(json.dumps({"user": actor.name, "role": actor.role, "iat": int(issued),
                               "exp": issued + hours * 3600, "nonce": secrets.token_hex(8)}).encode())
    return f"{payload}.{_sign(payload, secret)}"


def read_token(token: str, secret: bytes, now: Callable[[], float] = time.time) -> Actor:
    """The actor a valid token was issued to; InvalidSession when altered, foreign or expired."""
    payload, _, signature = (token or "").partition(".")
    if not payload or not signature or not hmac.compare_digest(signature, _sign(payload, secret)):
        raise InvalidSession("the session is not valid (altered or signed by another server); sign in again")
    try:
        claims = json.loads(_unb64(payload))
        actor, expires = Actor(str(claims["user"]), str(claims["role"])), float(claims["exp"])
    except (ValueError, KeyError, TypeError, GradsiftError):
        raise InvalidSession("the session is not valid (unreadable); sign in again") from None
    if now() >= expires:
        raise InvalidSession("the session has expired; sign in again")
    return actor


@dataclass
class SignInThrottle:
    """Per-name failure counts and lock windows (exponential), shared by every session of one server."""

    free_attempts: int = 3
    base_delay: float = 1.0
    max_delay: float = 900.0
    clock: Callable[[], float] = time.monotonic
    _failures: dict[str, int] = field(default_factory=dict)
    _locked_until: dict[str, float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def wait_left(self, name: str) -> float:
        """Seconds before `name` may try again (0 when it may now)."""
        with self._lock:
            return max(0.0, self._locked_until.get(name.lower(), 0.0) - self.clock())

    def failed(self, name: str) -> float:
        """Count a failure; returns the lock (seconds) it starts, 0 while within the free attempts."""
        key = name.lower()
        with self._lock:
            count = self._failures.get(key, 0) + 1
            self._failures[key] = count
            if count <= self.free_attempts:
                return 0.0
            delay = min(self.max_delay, self.base_delay * 2 ** (count - self.free_attempts - 1))
            self._locked_until[key] = self.clock() + delay
            return delay

    def succeeded(self, name: str) -> None:
        with self._lock:
            self._failures.pop(name.lower(), None)
            self._locked_until.pop(name.lower(), None)


def authenticate(users: dict[str, User], name: str, password: str, throttle: SignInThrottle) -> Actor:
    """The actor of a correct name and password; SignInRefused (one line) otherwise.

    A locked name is refused before any password is checked, so guessing cannot go faster
    than the lock allows; the message says how long to wait.
    """
    name = (name or "").strip()
    wait = throttle.wait_left(name)
    if wait > 0:
        raise SignInRefused(f"too many failed sign-ins for {name!r}; try again in {wait:.0f} s")
    user = users.get(name)
    if user is None:
        verify_password(dummy_hash(), password or "")
    elif verify_password(user.password_hash, password or ""):
        throttle.succeeded(name)
        return user.actor
    delay = throttle.failed(name)
    extra = f"; next try in {delay:.0f} s" if delay else ""
    raise SignInRefused(f"wrong user name or password{extra}")
