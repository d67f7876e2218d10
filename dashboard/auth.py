"""The dashboard's sign-in gate and the one place pages learn who is acting (`current_actor`).

`gate()` runs first on every rerun (dashboard/app.py, before navigation). Which sign-in applies
is decided by core.auth.serving.sign_in_mode from what `gradsift dashboard` handed over (env:
users file, session secret file, read-only flag, session hours) and the secrets file:

- read-only: no sign-in; every visitor is core.auth.roles.VISITOR (a viewer).
- oidc: an `[auth]` section in the secrets: Streamlit's st.login / st.user, the e-mail mapped to a
  role by `[gradsift.roles]`; an address not on that list is refused.
- local: users in the users file: a name/password form; a signed session token (core.auth.sessions)
  in st.session_state, checked on every rerun against its signature, expiry and the users file.
- none: the single local user on loopback, every right (as before sign-in existed).

Pages pass `current_actor()` to core, which checks the action (core.auth.roles.require).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import streamlit as st

from core.auth import serving
from core.auth.roles import ADMIN, LOCAL_OPERATOR, VISITOR, Actor, PermissionDenied, allowed, roles_for
from core.auth.sessions import (
    DEFAULT_SESSION_HOURS,
    SECRET_FILE,
    InvalidSession,
    SignInRefused,
    SignInThrottle,
    authenticate,
    issue_token,
    load_or_create_secret,
    read_token,
)
from core.auth.users import load_users, users_file
from core.errors import GradsiftError
from dashboard import paths
from dashboard.state import PAGES, REVIEWER_KEY

TOKEN_KEY = "auth_token"
"""session_state key of the signed session token (local and OIDC sign-ins)."""
ACTOR_KEY = "auth_actor"
"""session_state key of the actor the token was last checked to belong to (set by `gate` each rerun)."""
REFUSED_KEY = "auth_refused"
"""session_state key of why the last sign-in attempt was refused (shown once under the form)."""
NOTICE_KEY = "auth_notice"
"""session_state key of why the last session ended (expired, role changed), shown on the sign-in form."""


@st.cache_resource(show_spinner=False)
def _throttle() -> SignInThrottle:
    """One failure count per user name for the whole server process (every browser session)."""
    return SignInThrottle()


def _secrets() -> dict[str, Any]:
    from streamlit.errors import StreamlitSecretNotFoundError

    try:
        return st.secrets.to_dict()
    except StreamlitSecretNotFoundError:
        return {}


def _users_path() -> Path:
    configured = os.environ.get(serving.USERS_ENV)
    return Path(configured) if configured else users_file(paths.runs_dir())


def _session_hours() -> float:
    try:
        return float(os.environ.get(serving.SESSION_HOURS_ENV, DEFAULT_SESSION_HOURS))
    except ValueError:
        return DEFAULT_SESSION_HOURS


def mode() -> str:
    """The sign-in that applies now (core.auth.serving.MODES)."""
    read_only = os.environ.get(serving.READ_ONLY_ENV, "0") == "1"
    return serving.sign_in_mode(len(load_users(_users_path())), serving.has_oidc(_secrets()), read_only)


def _secret() -> bytes:
    configured = os.environ.get(serving.SECRET_ENV) or (_secrets().get("gradsift") or {}).get("session_secret")
    path = os.environ.get(serving.SECRET_FILE_ENV) or _users_path().parent / SECRET_FILE
    return load_or_create_secret(Path(path), configured)


def current_actor() -> Actor | None:
    """Who is acting in this session: what pages pass to core with every write, launch and export.

    None only while nobody is signed in (the gate then shows the sign-in form instead of pages).
    Without sign-in on loopback it is the local user with every right, named after the reviewer
    name typed in the sidebar (LOCAL_OPERATOR until one is typed).
    """
    current = mode()
    if current == serving.READ_ONLY:
        return VISITOR
    if current == serving.NONE:
        typed = str(st.session_state.get(REVIEWER_KEY, "")).strip()
        return Actor(typed, ADMIN) if typed else LOCAL_OPERATOR
    token = st.session_state.get(TOKEN_KEY)
    if not token:
        return None
    try:  # the signature and expiry again: an action taken in a fragment rerun skips the gate
        actor = read_token(token, _secret())
    except InvalidSession:
        return None
    return actor if actor == st.session_state.get(ACTOR_KEY) else None


def signs_in() -> bool:
    """True when the reviewer's name comes from sign-in (no name field to type in the sidebar)."""
    return mode() in (serving.LOCAL, serving.OIDC)


def permitted_ui(action: str) -> bool:
    """True when the current actor may take `action`; otherwise one caption saying who may."""
    actor = current_actor()
    if actor is not None and allowed(actor, action):
        return True
    who = f"{actor.name} ({actor.role})" if actor else "nobody signed in"
    st.caption(f"Needs the {' or '.join(roles_for(action))} role; you are {who}.")
    return False


def _end_session(notice: str | None = None) -> None:
    st.session_state.pop(TOKEN_KEY, None)
    st.session_state.pop(ACTOR_KEY, None)
    if notice:
        st.session_state[NOTICE_KEY] = notice


def _session_actor(expected: Actor | None) -> Actor | None:
    """The actor of this session's token when it is valid and still matches `expected` (the users
    file's or the allow-list's current view of that person); otherwise the session ends."""
    token = st.session_state.get(TOKEN_KEY)
    if not token:
        return None
    try:
        actor = read_token(token, _secret())
    except InvalidSession as exc:
        _end_session(str(exc))
        return None
    if expected is None or actor != expected:
        _end_session("your account or role changed; sign in again")
        return None
    return actor


def _start_session(actor: Actor) -> None:
    st.session_state[TOKEN_KEY] = issue_token(actor, _secret(), _session_hours())
    st.session_state[ACTOR_KEY] = actor
    st.session_state.pop(NOTICE_KEY, None)


def _submit_sign_in() -> None:
    """The form's callback (before the rerun it causes): check the password, then forget it; a correct
    one starts the session, so that very rerun already passes the gate."""
    name = str(st.session_state.get("sign_in_name", ""))
    password = str(st.session_state.get("sign_in_password", ""))
    st.session_state["sign_in_password"] = ""
    try:
        actor = authenticate(load_users(_users_path()), name, password, _throttle())
    except SignInRefused as exc:
        st.session_state[REFUSED_KEY] = str(exc)
        return
    _start_session(actor)


def _local_sign_in_page() -> None:
    st.title("Sign in to gradsift")
    if st.session_state.get(NOTICE_KEY):
        st.info(st.session_state[NOTICE_KEY])
    with st.form("sign_in"):
        st.text_input("User name", key="sign_in_name")
        st.text_input("Password", type="password", key="sign_in_password")
        st.form_submit_button("Sign in", type="primary", on_click=_submit_sign_in)
    if REFUSED_KEY in st.session_state:
        st.error(st.session_state.pop(REFUSED_KEY))


def _oidc_providers(auth: Mapping[str, Any]) -> list[str | None]:
    """The providers to offer: named sub-tables of [auth], or the single unnamed one."""
    named = [name for name, value in auth.items() if isinstance(value, Mapping)]
    return named or [None]


def _oidc_sign_in_page() -> None:
    st.title("Sign in to gradsift")
    if st.session_state.get(NOTICE_KEY):
        st.info(st.session_state[NOTICE_KEY])
    for provider in _oidc_providers(_secrets()["auth"]):
        label = f"Sign in with {provider}" if provider else "Sign in with your organisation account"
        if st.button(label, key=f"oidc_{provider or 'default'}", type="primary"):
            if provider:
                st.login(provider)
            else:
                st.login()


def _oidc_actor() -> Actor | None:
    """The signed-in OIDC user's actor (allow-listed e-mail → role); None when nobody is signed in.
    A user not on the allow-list sees one line and a sign-out button, and nothing else."""
    if not st.user.get("is_logged_in", False):
        _end_session()
        return None
    try:
        expected = serving.oidc_actor(st.user.get("email"), serving.oidc_roles(_secrets()))
    except PermissionDenied as exc:
        st.error(str(exc))
        if st.button("Sign out"):
            st.logout()
        st.stop()
    if TOKEN_KEY not in st.session_state:
        _start_session(expected)  # first rerun after st.login: the session clock starts now
        return expected
    actor = _session_actor(expected)
    if actor is None:  # expired or changed: the provider's cookie ends too, so the next sign-in is fresh
        st.logout()
    return actor


def _sign_out() -> None:
    was_oidc = mode() == serving.OIDC
    _end_session()
    if was_oidc:
        st.logout()


def signed_in_ui(actor: Actor, current: str) -> None:
    """The sidebar line: who is acting, in which role, and (when signed in) a way out."""
    if current == serving.READ_ONLY:
        st.sidebar.caption("Read-only demo: viewing as a visitor; nothing can be changed.")
        return
    if current == serving.NONE:
        return
    left, right = st.sidebar.columns([3, 1], vertical_alignment="center")
    left.caption(f"signed in as **{actor.name}** ({actor.role})")
    right.button("Sign out", key="sign_out", type="tertiary", on_click=_sign_out)


def gate() -> Actor:
    """Let this rerun through only for someone allowed in; otherwise draw the sign-in page and stop.

    Called once per rerun before navigation, so no page runs for a visitor who has not signed in.
    """
    try:
        current = mode()
    except GradsiftError as exc:  # a malformed users or secrets file: nobody gets in until it is fixed
        st.error(str(exc))
        st.stop()
    if current == serving.NONE:
        address = st.get_option("server.address")
        if address and not serving.is_loopback(str(address)):
            st.error(f"This dashboard listens on {address} without sign-in; restart it with `gradsift dashboard` "
                     "(it refuses this) after adding a user or an [auth] section, or with --read-only.")
            st.stop()
    if current == serving.LOCAL:
        users = load_users(_users_path())
        token_actor = st.session_state.get(ACTOR_KEY)
        expected = users[token_actor.name].actor if token_actor and token_actor.name in users else None
        actor = _session_actor(expected)
        page = _local_sign_in_page
    elif current == serving.OIDC:
        actor = _oidc_actor()
        page = _oidc_sign_in_page
    else:
        actor = current_actor()
    if actor is None:
        # Every page's URL leads to the sign-in form (a deep link then shows no "page not found"),
        # and once signed in the same URL shows the page that was asked for.
        others = [st.Page(page, title="Sign in", url_path=Path(script).stem) for script in PAGES.values()]
        st.navigation([st.Page(page, title="Sign in", icon=":material/login:", default=True), *others],
                      position="hidden").run()
        st.stop()
    signed_in_ui(actor, current)
    return actor
