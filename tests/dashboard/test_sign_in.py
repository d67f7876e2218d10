"""The dashboard's sign-in gate in AppTest: local accounts (wrong and right passwords, expiry, role
changes, sign-out), OIDC through an injected st.user mapped by the allow-list, read-only visitors."""

from __future__ import annotations

import time

import pytest

from core.auth import users
from core.auth.roles import Actor, PermissionDenied
from core.auth.sessions import issue_token
from tests.dashboard.conftest import APP

PASSWORD = "correct-horse-battery"
SIGN_IN = "Sign in to gradsift"
OIDC_SECRETS = {"auth": {"redirect_uri": "http://localhost:8501/oauth2callback", "cookie_secret": "c" * 32,
                         "client_id": "id", "client_secret": "s",
                         "server_metadata_url": "https://idp.example.org/.well-known/openid-configuration"},
                "gradsift": {"roles": {"ada@example.org": "lead", "bob@example.org": "viewer"}}}


@pytest.fixture
def empty_runs(tmp_path, monkeypatch):
    """An empty runs directory (the overview page then needs no run) and a fresh sign-in throttle."""
    from dashboard import auth

    for name in ("GRADSIFT_USERS_FILE", "GRADSIFT_SESSION_SECRET_FILE", "GRADSIFT_SESSION_SECRET",
                 "GRADSIFT_READ_ONLY", "GRADSIFT_SESSION_HOURS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GRADSIFT_RUNS_DIR", str(tmp_path))
    auth._throttle.clear()
    return tmp_path


def new_app(secrets: dict | None = None, user: dict | None = None):
    from streamlit.testing.v1 import AppTest

    app = AppTest.from_file(str(APP), default_timeout=60)
    if secrets:
        app.secrets = secrets
    if user is not None:
        app.user = user
    return app.run()


def titles(app) -> list[str]:
    return [title.value for title in app.title]


def sign_in(app, name: str, password: str):
    app.text_input(key="sign_in_name").input(name)
    app.text_input(key="sign_in_password").input(password)
    app.button(key="FormSubmitter:sign_in-Sign in").click()
    return app.run()


@pytest.fixture
def local(empty_runs):
    users.add_user(empty_runs / "users.toml", "ada", "lead", PASSWORD)
    return empty_runs


def test_without_users_the_local_user_works_as_before(empty_runs):
    app = new_app()
    assert titles(app) == ["Runs / overview"] and not app.exception
    assert "Reviewer name" in [field.label for field in app.sidebar.text_input]


def test_a_wrong_password_is_refused_and_the_right_one_shows_the_pages(local):
    app = new_app()
    assert titles(app) == [SIGN_IN]
    assert "Reviewer name" not in [field.label for field in app.text_input]
    sign_in(app, "ada", "wrong-password")
    assert titles(app) == [SIGN_IN] and [error.value for error in app.error] == ["wrong user name or password"]
    assert app.text_input(key="sign_in_password").value == "" and app.text_input(key="sign_in_name").value == "ada"
    sign_in(app, "nobody", PASSWORD)
    assert titles(app) == [SIGN_IN] and [error.value for error in app.error] == ["wrong user name or password"]
    sign_in(app, "ada", PASSWORD)
    assert titles(app) == ["Runs / overview"] and not app.exception and not app.error
    assert "signed in as **ada** (lead)" in [caption.value for caption in app.sidebar.caption]
    assert app.session_state["auth_actor"] == Actor("ada", "lead")
    assert not [key for key in app.session_state if PASSWORD in str(app.session_state[key])]


def test_repeated_wrong_passwords_lock_the_name(local, monkeypatch):
    from core.auth.sessions import SignInThrottle
    from dashboard import auth

    throttle = SignInThrottle(free_attempts=3, base_delay=600.0)  # long enough for a slow machine
    monkeypatch.setattr(auth, "_throttle", lambda: throttle)
    app = new_app()
    for _ in range(4):
        sign_in(app, "ada", "wrong-password")
    sign_in(app, "ada", PASSWORD)
    assert titles(app) == [SIGN_IN]
    assert "too many failed sign-ins for 'ada'" in app.error[0].value


def resumed(app, **changes):
    """A new AppTest run of the whole script (gate included) on the session of `app`, with `changes`.

    AppTest re-runs only the page script once a page has been shown, whereas a real server runs
    dashboard/app.py (and so the gate) on every rerun; a new AppTest holding the same session
    state is that next rerun.
    """
    from streamlit.testing.v1 import AppTest

    following = AppTest.from_file(str(APP), default_timeout=60)
    for key in ("auth_token", "auth_actor"):
        if key in app.session_state:
            following.session_state[key] = app.session_state[key]
    for key, value in changes.items():
        following.session_state[key] = value
    return following.run()


def test_a_valid_session_stays_signed_in_on_the_next_rerun(local):
    app = resumed(sign_in(new_app(), "ada", PASSWORD))
    assert titles(app) == ["Runs / overview"]
    assert "signed in as **ada** (lead)" in [caption.value for caption in app.sidebar.caption]


def test_an_expired_session_signs_out(local):
    app = sign_in(new_app(), "ada", PASSWORD)
    secret = (local / ".gradsift-secret").read_bytes().strip()
    expired = issue_token(Actor("ada", "lead"), secret, hours=8, now=lambda: time.time() - 8 * 3600 - 1)
    app = resumed(app, auth_token=expired)
    assert titles(app) == [SIGN_IN] and "expired" in app.info[0].value
    assert "auth_token" not in app.session_state


def test_a_forged_token_signs_out(local):
    app = resumed(sign_in(new_app(), "ada", PASSWORD), auth_token=issue_token(Actor("ada", "lead"), b"other" * 8))
    assert titles(app) == [SIGN_IN] and "not valid" in app.info[0].value


def test_a_role_change_or_removal_ends_the_session(local):
    app = sign_in(new_app(), "ada", PASSWORD)
    users.set_role(local / "users.toml", "ada", "viewer")
    app = resumed(app)
    assert titles(app) == [SIGN_IN] and "changed" in app.info[0].value
    sign_in(app, "ada", PASSWORD)
    assert app.session_state["auth_actor"] == Actor("ada", "viewer")
    users.add_user(local / "users.toml", "bob", "lead", PASSWORD)
    users.remove_user(local / "users.toml", "ada")
    assert titles(resumed(app)) == [SIGN_IN]


def test_sign_out(local):
    app = sign_in(new_app(), "ada", PASSWORD)
    app.button(key="sign_out").click().run()
    assert "auth_token" not in app.session_state and "auth_actor" not in app.session_state
    assert titles(resumed(app)) == [SIGN_IN]


def test_an_oidc_user_gets_the_role_of_the_allow_list(empty_runs):
    app = new_app(OIDC_SECRETS, {"is_logged_in": True, "email": "ada@example.org", "name": "Ada"})
    assert titles(app) == ["Runs / overview"] and not app.exception
    assert app.session_state["auth_actor"] == Actor("ada@example.org", "lead")
    assert "signed in as **ada@example.org** (lead)" in [caption.value for caption in app.sidebar.caption]
    viewer = new_app(OIDC_SECRETS, {"is_logged_in": True, "email": "Bob@Example.org"})
    assert viewer.session_state["auth_actor"] == Actor("bob@example.org", "viewer")


def test_an_oidc_user_off_the_allow_list_sees_nothing(empty_runs):
    app = new_app(OIDC_SECRETS, {"is_logged_in": True, "email": "mallory@example.org"})
    assert titles(app) == [] and "not on this dashboard's allow-list" in app.error[0].value
    assert [button.label for button in app.button] == ["Sign out"]


def test_oidc_without_a_login_offers_the_provider(empty_runs):
    app = new_app(OIDC_SECRETS, {"is_logged_in": False})
    assert titles(app) == [SIGN_IN]
    assert [button.label for button in app.button] == ["Sign in with your organisation account"]


def test_read_only_visitors_read_but_launch_nothing(empty_runs, monkeypatch):
    users.add_user(empty_runs / "users.toml", "ada", "lead", PASSWORD)  # read-only wins over sign-in
    monkeypatch.setenv("GRADSIFT_READ_ONLY", "1")
    app = new_app()
    assert titles(app) == ["Runs / overview"] and not app.exception
    assert "Reviewer name" not in [field.label for field in app.text_input]
    assert any("Read-only" in caption.value for caption in app.sidebar.caption)
    app.text_input(key="launch_name").input("demo")
    app.button(key="FormSubmitter:launch-Analyze").click().run()
    assert any("visitor (viewer) may not start a new analysis" in error.value for error in app.error)
    assert not (empty_runs / "demo").exists()


def test_job_launchers_check_the_actor_before_any_work():
    from dashboard import jobs

    ran = []
    with pytest.raises(PermissionDenied, match="bob \\(annotator\\) may not retrain"):
        jobs.start_job("retrain", "retrain", "run", ran.append, actor=Actor("bob", "annotator"))
    with pytest.raises(PermissionDenied, match="needs a signed-in user"):
        jobs.start_job("analysis", "analysis", "run", ran.append, actor=None)
    assert ran == []


def _export_gate() -> None:
    import streamlit as st

    from dashboard import auth

    st.text(f"allowed: {auth.permitted_ui('export')}")


@pytest.mark.parametrize("read_only, shown", [("1", "allowed: False"), ("0", "allowed: True")])
def test_exports_are_offered_only_to_roles_that_may_export(empty_runs, monkeypatch, read_only, shown):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("GRADSIFT_READ_ONLY", read_only)
    app = AppTest.from_function(_export_gate, default_timeout=30).run()
    assert [text.value for text in app.text] == [shown]
    captions = [caption.value for caption in app.caption]
    assert captions == (["Needs the lead or admin role; you are visitor (viewer)."] if read_only == "1" else [])


def _review_as_visitor() -> None:
    import streamlit as st

    from dashboard import widgets

    st.text(f"recorded: {widgets.record_review('no-such-run', [0], 'keep', None, 'someone')}")


def test_a_viewer_cannot_record_a_decision(empty_runs, monkeypatch, tmp_path):
    """The page passes the visitor to the store, which refuses before writing (core.auth.roles)."""
    from streamlit.testing.v1 import AppTest

    from core.run.reviews import ReviewStore
    from dashboard import data

    monkeypatch.setenv("GRADSIFT_READ_ONLY", "1")
    monkeypatch.setattr(data, "review_store", lambda run_path, split="train": ReviewStore(tmp_path))
    app = AppTest.from_function(_review_as_visitor, default_timeout=30).run()
    assert [text.value for text in app.text] == ["recorded: False"]
    assert [error.value for error in app.error] == [
        "visitor (viewer) may not confirm, relabel, keep or clear a decision on a sample; allowed roles: "
        "annotator, lead, admin"]
    assert ReviewStore(tmp_path).count() == 0


def _who() -> None:
    import streamlit as st

    from dashboard import auth

    st.text(f"actor: {auth.current_actor()}")


def test_current_actor_checks_the_token_itself(local):
    """An action in a fragment rerun (which skips the gate) still needs a valid, unexpired token."""
    from streamlit.testing.v1 import AppTest

    signed = sign_in(new_app(), "ada", PASSWORD)
    secret = (local / ".gradsift-secret").read_bytes().strip()
    cases = {signed.session_state["auth_token"]: "actor: ada (lead)",
             issue_token(Actor("ada", "lead"), secret, now=lambda: time.time() - 9 * 3600): "actor: None",
             issue_token(Actor("ada", "admin"), secret): "actor: None"}  # not the actor the gate let in
    for token, shown in cases.items():
        app = AppTest.from_function(_who, default_timeout=30)
        app.session_state["auth_token"] = token
        app.session_state["auth_actor"] = Actor("ada", "lead")
        assert [text.value for text in app.run().text] == [shown]


def test_the_session_lasts_the_configured_hours(local, monkeypatch):
    import base64
    import json

    monkeypatch.setenv("GRADSIFT_SESSION_HOURS", "0.5")
    payload = sign_in(new_app(), "ada", PASSWORD).session_state["auth_token"].split(".")[0]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert claims["exp"] - claims["iat"] == pytest.approx(1800, abs=1)
