"""`gradsift users ...` and the serving rules of `gradsift dashboard` (no Streamlit is started here
except where the test says so: accepted setups stop at the exec, with the command it would run)."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from core.auth import users
from core.cli.main import app
from tests.dashboard.browser import REPO, free_port

runner = CliRunner()
PASSWORD = "correct-horse-battery"


def invoke(*args, stdin: str | None = None):
    return runner.invoke(app, [str(a) for a in args], input=stdin)


def test_users_add_list_set_role_remove(tmp_path):
    added = invoke("users", "add", "ada", "--role", "lead", "--password-stdin", "--runs", tmp_path,
                   stdin=PASSWORD + "\n")
    assert added.exit_code == 0, added.output
    path = tmp_path / "users.toml"
    assert PASSWORD.encode() not in path.read_bytes() and stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert PASSWORD not in added.output
    assert users.verify_password(users.load_users(path)["ada"].password_hash, PASSWORD)
    listed = invoke("users", "list", "--runs", tmp_path)
    assert listed.exit_code == 0 and "ada" in listed.output and "lead" in listed.output
    assert "argon2" not in listed.output
    assert invoke("users", "set-role", "ada", "admin", "--runs", tmp_path).exit_code == 0
    assert users.load_users(path)["ada"].role == "admin"
    assert invoke("users", "remove", "ada", "--runs", tmp_path).exit_code == 0
    assert users.load_users(path) == {}


def test_users_prompts_twice_with_hidden_input(tmp_path):
    target = tmp_path / "team.toml"
    result = invoke("users", "add", "bob", "--role", "annotator", "--users", target, stdin=f"{PASSWORD}\n{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert PASSWORD not in result.output  # hidden input is not echoed
    assert users.load_users(target)["bob"].role == "annotator"
    mismatch = invoke("users", "add", "eve", "--role", "viewer", "--users", target,
                      stdin=f"{PASSWORD}\nsomething-else\n{PASSWORD}\n{PASSWORD}\n")
    assert mismatch.exit_code == 0 and "do not match" in mismatch.output.lower()


@pytest.mark.parametrize("args, stdin, message", [
    (["users", "add", "ada", "--role", "boss", "--password-stdin"], PASSWORD + "\n", "unknown role 'boss'"),
    (["users", "add", "ada", "--role", "lead", "--password-stdin"], "short\n", "at least 8 characters"),
    (["users", "remove", "nobody"], None, "no user 'nobody'"),
    (["users", "set-role", "nobody", "lead"], None, "no user 'nobody'"),
])
def test_users_bad_input_is_one_line_and_status_2(tmp_path, args, stdin, message):
    result = invoke(*args, "--runs", tmp_path, stdin=stdin)
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0], result.output
    assert not (tmp_path / "users.toml").exists()


def test_dashboard_beyond_loopback_without_sign_in_is_refused_and_nothing_listens(tmp_path):
    port = free_port()
    done = subprocess.run([sys.executable, "-m", "core.cli.main", "dashboard", str(tmp_path), "--address", "0.0.0.0",
                           "--port", str(port)], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert "gradsift users add" in lines[0] and "[auth]" in lines[0] and "--read-only" in lines[0]
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", port)) != 0


@pytest.fixture
def launched(monkeypatch):
    """The command and environment `gradsift dashboard` would exec (nothing is started)."""
    calls: list[tuple[list[str], dict]] = []
    monkeypatch.setattr(os, "execve", lambda exe, command, env: calls.append((command, env)))
    monkeypatch.setattr(os, "chdir", lambda path: None)
    for name in ("GRADSIFT_SESSION_SECRET", "GRADSIFT_READ_ONLY"):
        monkeypatch.delenv(name, raising=False)
    return calls


def test_read_only_is_served_beyond_loopback_without_sign_in(tmp_path, launched):
    result = invoke("dashboard", tmp_path, "--address", "0.0.0.0", "--read-only")
    assert result.exit_code == 0, result.output
    command, env = launched[0]
    assert command[command.index("--server.address") + 1] == "0.0.0.0"
    assert env["GRADSIFT_READ_ONLY"] == "1"


def test_local_accounts_beyond_loopback_need_tls_or_allow_http(tmp_path, launched):
    users.add_user(tmp_path / "users.toml", "ada", "lead", PASSWORD)
    refused = invoke("dashboard", tmp_path, "--address", "0.0.0.0")
    assert refused.exit_code == 2 and "--ssl-cert" in refused.output and "--allow-http" in refused.output
    assert not launched
    plain = invoke("dashboard", tmp_path, "--address", "0.0.0.0", "--allow-http")
    assert plain.exit_code == 0 and "warning" in plain.output and "unencrypted" in plain.output
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.write_text("cert")
    key.write_text("key")
    tls = invoke("dashboard", tmp_path, "--address", "0.0.0.0", "--ssl-cert", cert, "--ssl-key", key)
    assert tls.exit_code == 0 and "warning" not in tls.output
    command, env = launched[-1]
    assert command[command.index("--server.sslCertFile") + 1] == str(cert.resolve())
    assert command[command.index("--server.sslKeyFile") + 1] == str(key.resolve())
    assert env["GRADSIFT_USERS_FILE"] == str((tmp_path / "users.toml").resolve())
    secret = tmp_path / ".gradsift-secret"
    assert env["GRADSIFT_SESSION_SECRET_FILE"] == str(secret.resolve())
    assert stat.S_IMODE(os.stat(secret).st_mode) == 0o600  # made before anyone can sign in
    half = invoke("dashboard", tmp_path, "--address", "0.0.0.0", "--ssl-cert", cert)
    assert half.exit_code == 2 and "go together" in half.output


def test_loopback_without_users_starts_as_before_and_the_secrets_file_is_passed(tmp_path, launched):
    secrets = tmp_path / "secrets.toml"
    secrets.write_text("[other]\nkey = 1\n")
    result = invoke("dashboard", tmp_path)
    assert result.exit_code == 0, result.output
    command, env = launched[0]
    assert command[command.index("--secrets.files") + 1] == str(secrets.resolve())  # <runs>/secrets.toml first
    assert env["GRADSIFT_READ_ONLY"] == "0"
    missing = invoke("dashboard", tmp_path, "--secrets", tmp_path / "absent.toml")
    assert missing.exit_code == 2 and "does not exist" in missing.output


def test_an_auth_section_counts_as_sign_in_and_its_roles_are_checked(tmp_path, launched):
    secrets = tmp_path / "secrets.toml"
    secrets.write_text('[auth]\nredirect_uri = "https://x/oauth2callback"\ncookie_secret = "s"\nclient_id = "c"\n'
                       'client_secret = "s"\nserver_metadata_url = "https://x/.well-known/openid-configuration"\n'
                       '[gradsift.roles]\n"ada@example.org" = "chief"\n')
    result = invoke("dashboard", tmp_path, "--address", "0.0.0.0")
    assert result.exit_code == 2 and "unknown role 'chief'" in result.output
    assert not launched


@pytest.mark.slow
def test_read_only_really_serves_beyond_loopback(tmp_path):
    import signal
    import time
    import urllib.request

    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "core.cli.main", "dashboard", str(tmp_path), "--address",
                                "0.0.0.0", "--port", str(port), "--read-only"], cwd=REPO, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.time() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as response:
                    assert response.status == 200
                    break
            except OSError:
                assert process.poll() is None and time.time() < deadline, f"not serving (exit {process.poll()})"
                time.sleep(0.3)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(20)
