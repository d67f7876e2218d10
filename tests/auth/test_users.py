"""Local accounts: argon2id hashes only, mode 0600, atomic rewrites, one-line errors."""

from __future__ import annotations

import os
import stat

import pytest

from core.auth import users
from core.errors import GradsiftError

PASSWORD = "correct-horse-battery"


def test_the_password_is_nowhere_in_the_file_and_the_file_is_private(tmp_path):
    path = tmp_path / "users.toml"
    users.add_user(path, "ada", "lead", PASSWORD)
    raw = path.read_bytes()
    assert PASSWORD.encode() not in raw
    assert PASSWORD.encode("utf-16-le") not in raw and PASSWORD[::-1].encode() not in raw
    assert b"$argon2id$" in raw
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert not [p for p in tmp_path.iterdir() if p.name != "users.toml"]  # no temp file left behind


def test_the_stored_hash_verifies_only_the_right_password(tmp_path):
    path = tmp_path / "users.toml"
    users.add_user(path, "ada", "lead", PASSWORD)
    stored = users.load_users(path)["ada"]
    assert stored.role == "lead" and stored.actor.name == "ada"
    assert users.verify_password(stored.password_hash, PASSWORD)
    assert not users.verify_password(stored.password_hash, PASSWORD + "x")
    assert not users.verify_password("not a hash", PASSWORD)


def test_same_password_different_salt(tmp_path):
    assert users.hash_password(PASSWORD) != users.hash_password(PASSWORD)


def test_set_role_and_remove_keep_the_others_and_the_mode(tmp_path):
    path = tmp_path / "users.toml"
    users.add_user(path, "ada", "lead", PASSWORD)
    users.add_user(path, "bob", "annotator", "another-password")
    before = users.load_users(path)["bob"].password_hash
    users.set_role(path, "bob", "viewer")
    assert users.load_users(path)["bob"].role == "viewer"
    assert users.load_users(path)["bob"].password_hash == before
    users.remove_user(path, "ada")
    assert list(users.load_users(path)) == ["bob"]
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


@pytest.mark.parametrize("call, message", [
    (lambda p: users.add_user(p, "ada", "lead", "short"), "at least 8 characters"),
    (lambda p: users.add_user(p, "../ada", "lead", PASSWORD), "not valid"),
    (lambda p: users.add_user(p, "ada", "boss", PASSWORD), "unknown role 'boss'"),
    (lambda p: users.remove_user(p, "nobody"), "no user 'nobody'"),
    (lambda p: users.set_role(p, "nobody", "lead"), "no user 'nobody'"),
])
def test_bad_input_is_one_line(tmp_path, call, message):
    with pytest.raises(GradsiftError, match=message) as error:
        call(tmp_path / "users.toml")
    assert "\n" not in str(error.value)


def test_a_name_is_added_once(tmp_path):
    path = tmp_path / "users.toml"
    users.add_user(path, "ada", "lead", PASSWORD)
    with pytest.raises(GradsiftError, match="already exists"):
        users.add_user(path, "ada", "admin", PASSWORD)


def test_a_malformed_file_is_a_one_line_error(tmp_path):
    path = tmp_path / "users.toml"
    path.write_text("[users.ada\nrole = ")
    with pytest.raises(GradsiftError, match="not a valid users file"):
        users.load_users(path)
    path.write_text('[users.ada]\nrole = "lead"\n')
    with pytest.raises(GradsiftError, match="needs a role and a password_hash"):
        users.load_users(path)
    assert users.load_users(tmp_path / "absent.toml") == {}


def test_loose_permissions_are_noticed(tmp_path):
    path = tmp_path / "users.toml"
    users.add_user(path, "ada", "lead", PASSWORD)
    assert not users.loose_permissions(path)
    path.chmod(0o644)
    assert users.loose_permissions(path)
