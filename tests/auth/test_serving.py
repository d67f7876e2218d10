"""Serving rules and the OIDC allow-list (pure functions shared by the command and the dashboard)."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.auth import serving
from core.auth.roles import Actor, PermissionDenied
from core.errors import GradsiftError

PATHS = {"users_path": Path("runs/users.toml"), "secrets_path": Path(".streamlit/secrets.toml")}


@pytest.mark.parametrize("address, expected", [("127.0.0.1", True), ("127.0.0.53", True), ("::1", True),
                                               ("localhost", True), ("0.0.0.0", False), ("::", False),
                                               ("192.168.1.4", False), ("example.org", False)])
def test_loopback(address, expected):
    assert serving.is_loopback(address) is expected


@pytest.mark.parametrize("users, oidc, read_only, mode", [(0, False, False, "none"), (2, False, False, "local"),
                                                          (2, True, False, "oidc"), (2, True, True, "read-only"),
                                                          (0, False, True, "read-only")])
def test_sign_in_mode(users, oidc, read_only, mode):
    assert serving.sign_in_mode(users, oidc, read_only) == mode


def test_serving_rules():
    check = serving.check_serving
    assert check("127.0.0.1", "none", tls=False, allow_http=False, **PATHS) == []
    assert check("0.0.0.0", "read-only", tls=False, allow_http=False, **PATHS) == []
    assert check("0.0.0.0", "oidc", tls=False, allow_http=False, **PATHS) == []
    assert check("0.0.0.0", "local", tls=True, allow_http=False, **PATHS) == []
    with pytest.raises(GradsiftError, match=r"gradsift users add .*\[auth\] section in \.streamlit/secrets\.toml"):
        check("0.0.0.0", "none", tls=True, allow_http=True, **PATHS)
    with pytest.raises(GradsiftError, match="need TLS"):
        check("10.0.0.2", "local", tls=False, allow_http=False, **PATHS)
    [warning] = check("10.0.0.2", "local", tls=False, allow_http=True, **PATHS)
    assert "plain HTTP" in warning


def test_the_allow_list_maps_e_mails_to_roles():
    secrets = {"auth": {"client_id": "x"},
               "gradsift": {"roles": {"Ada@Example.org": "lead", "bob@example.org": "viewer"}}}
    assert serving.has_oidc(secrets) and not serving.has_oidc({"auth": {}}) and not serving.has_oidc({})
    roles = serving.oidc_roles(secrets)
    assert serving.oidc_actor(" ada@EXAMPLE.org", roles) == Actor("ada@example.org", "lead")
    assert serving.oidc_actor("bob@example.org", roles).role == "viewer"
    with pytest.raises(PermissionDenied, match="not on this dashboard's allow-list"):
        serving.oidc_actor("mallory@example.org", roles)
    with pytest.raises(PermissionDenied, match="no e-mail"):
        serving.oidc_actor(None, roles)
    with pytest.raises(GradsiftError, match="unknown role 'owner'"):
        serving.oidc_roles({"gradsift": {"roles": {"a@b.c": "owner"}}})


def test_secrets_file_location_and_reading(tmp_path):
    runs = tmp_path / "runs"
    runs.mkdir()
    assert serving.default_secrets_file(runs, cwd=tmp_path) == tmp_path / ".streamlit" / "secrets.toml"
    (runs / "secrets.toml").write_text('[auth]\nclient_id = "x"\n')
    assert serving.default_secrets_file(runs, cwd=tmp_path) == runs / "secrets.toml"
    assert serving.read_secrets(runs / "secrets.toml") == {"auth": {"client_id": "x"}}
    assert serving.read_secrets(tmp_path / "absent.toml") == {}
    (runs / "bad.toml").write_text("[auth\n")
    with pytest.raises(GradsiftError, match="not a valid secrets file"):
        serving.read_secrets(runs / "bad.toml")
