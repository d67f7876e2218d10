"""Signing in with a local account in a real browser (Debian's chromium driven by Playwright):
`gradsift dashboard` on loopback with one user in the runs directory's users.toml."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.auth import users
from tests.dashboard.browser import CHROMIUM, browser_page, running_dashboard, settle

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} is not installed "
                                                                                     "(apt-get install chromium)")]
pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")

PASSWORD = "correct-horse-battery"


def test_sign_in_with_a_local_account_end_to_end(tmp_path):
    runs = tmp_path / "runs"
    users.add_user(runs / "users.toml", "ada", "lead", PASSWORD)
    errors: list[str] = []
    with running_dashboard(runs, tmp_path / "dashboard.log") as url, browser_page(errors) as page:
        page.goto(url)
        settle(page, "Sign in to gradsift")
        assert page.locator('[data-testid="stSidebarNav"]').count() == 0  # no page is reachable yet
        page.get_by_label("User name").fill("ada")
        page.get_by_label("Password", exact=True).fill("wrong-password")
        page.get_by_role("button", name="Sign in").click()
        page.get_by_text("wrong user name or password").wait_for(timeout=30_000)

        page.get_by_label("Password", exact=True).fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        settle(page, "Runs / overview")
        sidebar = page.locator('[data-testid="stSidebar"]')
        assert sidebar.get_by_text("signed in as").count() == 1 and sidebar.get_by_text("ada").count() >= 1
        assert sidebar.get_by_text("Reviewer name").count() == 0

        page.goto(f"{url}/budget_retrain")  # a new page load (a new session), by deep link: signed out again
        settle(page, "Sign in to gradsift")
        page.get_by_label("User name").fill("ada")
        page.get_by_label("Password", exact=True).fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        settle(page, "Budget & retrain")  # the page the link asked for
        sidebar.get_by_text("signed in as").wait_for(timeout=60_000)
        sidebar.get_by_role("button", name="Sign out").click()
        settle(page, "Sign in to gradsift")
        page.screenshot(path=str(tmp_path / "signed-out.png"))
    assert errors == []
    # The password (typed three times) is nowhere on disk: not in the runs directory, the users file, the
    # generated secret, nor the server's log.
    secret = PASSWORD.encode()
    written = [path for path in tmp_path.rglob("*") if path.is_file() and path.suffix != ".png"]
    assert (tmp_path / "dashboard.log") in written and (runs / "users.toml") in written
    assert [path for path in written if secret in path.read_bytes()] == []
