"""Signed session tokens (tampering, foreign secrets, expiry with an injected clock) and the
slow-down of repeated wrong passwords."""

from __future__ import annotations

import base64
import json
import os
import stat

import pytest

from core.auth import users
from core.auth.roles import Actor
from core.auth.sessions import (
    InvalidSession,
    SignInRefused,
    SignInThrottle,
    authenticate,
    issue_token,
    load_or_create_secret,
    read_token,
)
from core.errors import GradsiftError

SECRET = b"k" * 32
ADA = Actor("ada", "annotator")


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_a_token_reads_back_as_its_actor():
    assert read_token(issue_token(ADA, SECRET), SECRET) == ADA


def test_a_token_whose_role_was_changed_is_refused():
    payload, signature = issue_token(ADA, SECRET).split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert claims["role"] == "annotator"
    claims["role"] = "admin"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    with pytest.raises(InvalidSession, match="not valid"):
        read_token(f"{forged}.{signature}", SECRET)


@pytest.mark.parametrize("mangle", [lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),
                                    lambda t: t.split(".")[0], lambda t: "", lambda t: "a.b.c"])
def test_a_mangled_token_is_refused(mangle):
    with pytest.raises(InvalidSession):
        read_token(mangle(issue_token(ADA, SECRET)), SECRET)


def test_a_token_signed_with_another_secret_is_refused():
    with pytest.raises(InvalidSession):
        read_token(issue_token(ADA, b"x" * 32), SECRET)


def test_a_token_expires_after_its_hours():
    clock = Clock()
    token = issue_token(ADA, SECRET, hours=8, now=clock)
    clock.now += 8 * 3600 - 1
    assert read_token(token, SECRET, now=clock) == ADA
    clock.now += 2
    with pytest.raises(InvalidSession, match="expired"):
        read_token(token, SECRET, now=clock)
    with pytest.raises(GradsiftError, match="positive"):
        issue_token(ADA, SECRET, hours=0)


def test_the_secret_is_generated_once_private_and_a_configured_one_wins(tmp_path):
    path = tmp_path / ".gradsift-secret"
    first = load_or_create_secret(path)
    assert len(first) >= 32 and stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert load_or_create_secret(path) == first
    assert load_or_create_secret(path, "configured-secret") == b"configured-secret"
    path.write_text("short")
    with pytest.raises(GradsiftError, match="no usable session secret"):
        load_or_create_secret(path)


def test_the_throttle_doubles_the_wait_after_the_free_attempts():
    clock = Clock()
    throttle = SignInThrottle(free_attempts=3, base_delay=1.0, max_delay=10.0, clock=clock)
    assert [throttle.failed("ada") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert throttle.wait_left("ada") == 0.0
    assert [throttle.failed("ada") for _ in range(5)] == [1.0, 2.0, 4.0, 8.0, 10.0]
    assert throttle.wait_left("ADA") == 10.0 and throttle.wait_left("bob") == 0.0
    clock.now += 10
    assert throttle.wait_left("ada") == 0.0
    throttle.succeeded("ada")
    assert throttle.failed("ada") == 0.0


@pytest.fixture
def accounts(tmp_path):
    path = tmp_path / "users.toml"
    users.add_user(path, "ada", "lead", "right-password")
    return users.load_users(path)


def test_wrong_passwords_lock_the_name_even_for_the_right_password(accounts):
    clock = Clock()
    throttle = SignInThrottle(free_attempts=2, base_delay=30.0, clock=clock)
    for _ in range(2):
        with pytest.raises(SignInRefused, match="^wrong user name or password$"):
            authenticate(accounts, "ada", "guess", throttle)
    with pytest.raises(SignInRefused, match="next try in 30 s"):
        authenticate(accounts, "ada", "guess", throttle)
    with pytest.raises(SignInRefused, match="too many failed sign-ins for 'ada'; try again in 30 s"):
        authenticate(accounts, "ada", "right-password", throttle)
    clock.now += 30
    assert authenticate(accounts, "ada", "right-password", throttle) == Actor("ada", "lead")
    with pytest.raises(SignInRefused, match="^wrong user name or password$"):  # the count started over
        authenticate(accounts, "ada", "guess", throttle)


def test_an_unknown_name_gets_the_same_answer_and_is_counted(accounts):
    throttle = SignInThrottle(free_attempts=0, base_delay=5.0, clock=Clock())
    with pytest.raises(SignInRefused, match="^wrong user name or password; next try in 5 s$"):
        authenticate(accounts, "mallory", "right-password", throttle)
    assert throttle.wait_left("mallory") == 5.0
