"""Team review in a real browser (Debian's chromium driven by Playwright): two annotators, a lead and a viewer signed
in at once, each in its own browser context (its own session), on one `gradsift dashboard` with local accounts.

The annotators each see only their own queue and decide one sample differently (overlap 2, set by the lead through
the store); the lead sees the disagreement with both votes and settles it; retraining with the reviews applied
uses that settlement; the viewer has no way to write. A screenshot of the annotator's view at 1366×768 is saved
(GRADSIFT_SCREENSHOTS, default /tmp/gradsift-team-screenshots) and its card and keys must fit without scrolling.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from core.auth import users
from core.auth.roles import Actor
from core.detect.flagging import Flagging
from core.pipeline.retrain import retrain
from core.run import schema
from core.run.reviews import ADJUDICATION, KEEP, MISLABELED, ReviewStore
from core.run.rundir import RunDir
from tests.dashboard.browser import CHROMIUM, CHROMIUM_ARGS, running_dashboard, settle

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} is not installed "
                                                                                     "(apt-get install chromium)")]
pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")

PASSWORD = "correct-horse-battery"
ROLES = {"ana": "annotator", "ben": "annotator", "lea": "lead", "vic": "viewer"}


def _sign_in(page, url: str, name: str) -> None:
    page.goto(url)  # a deep link needs the app's navigation registered by an earlier session: start at the root
    settle(page, "Sign in to gradsift")
    page.get_by_label("User name").fill(name)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    settle(page, "Runs / overview")
    page.locator('[data-testid="stSidebarNav"]').get_by_text("Flagged review").click()
    settle(page, "Flagged review")


def _card(page) -> int:
    """The sample id of the annotator's card (its '#id · … score' heading)."""
    return int(page.locator("h4").filter(has_text="score").first.inner_text().split()[0].lstrip("#"))


def _wait_for(condition, timeout: float = 30) -> None:
    deadline = time.time() + timeout
    while not condition():
        if time.time() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.2)


def test_a_team_reviews_in_separate_browser_sessions(runs_dir, tmp_path):
    from playwright import sync_api

    root = tmp_path / "runs"
    shutil.copytree(runs_dir / "digits", root / "digits")
    for name, role in ROLES.items():
        users.add_user(root / "users.toml", name, role, PASSWORD)
    run_path = root / "digits"
    store = ReviewStore(run_path)
    store.set_overlap(2, Actor("lea", "lead"))  # both annotators must decide each flagged sample
    shots = Path(os.environ.get("GRADSIFT_SCREENSHOTS") or "/tmp/gradsift-team-screenshots")
    shots.mkdir(parents=True, exist_ok=True)
    errors: list[str] = []
    with running_dashboard(root, tmp_path / "dashboard.log") as url, sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            pages = {}
            for name, size in (("ana", (1366, 768)), ("ben", (1366, 768)), ("lea", (1400, 1400)),
                               ("vic", (1400, 1400))):
                context = browser.new_context(viewport={"width": size[0], "height": size[1]})
                pages[name] = context.new_page()
                pages[name].on("pageerror", lambda exc: errors.append(str(exc)))
                _sign_in(pages[name], url, name)
            ana, ben, lea, vic = (pages[name] for name in ("ana", "ben", "lea", "vic"))

            # The annotator's view: progress line, card and keys first, fully inside a 1366×768 window.
            for page in (ana, ben):
                page.locator("h4").filter(has_text="score").first.wait_for(timeout=60_000)
                assert page.get_by_text("Your decisions: 0").count() == 1
                assert page.get_by_text("Review budget").count() == 0 and page.get_by_text("Re-rank").count() == 0
            ana.screenshot(path=str(shots / "annotator-1366x768.png"))
            for label in ("Confirm mislabeled", "Keep (false alarm)", "Next (skip)", "Undo"):
                box = ana.get_by_role("button", name=label).first.bounding_box()
                assert box is not None and box["y"] + box["height"] < 768, (label, box)
            sample = _card(ana)
            assert _card(ben) == sample  # overlap 2: the best-ranked sample goes to both
            assert sorted(store.leases()[sample]) == ["ana", "ben"]

            # They decide differently, with the keys.
            ana.locator("h1").click()
            ana.keyboard.press("m")
            _wait_for(lambda: len(store.resolution().votes) == 1)
            ben.locator("h1").click()
            ben.keyboard.press("k")
            _wait_for(lambda: len(store.resolution().votes) == 2)
            assert store.open_disagreements().tolist() == [sample]
            settle(ana, "Flagged review")
            ana.get_by_text("Your decisions: 1").wait_for(timeout=30_000)
            assert _card(ana) != sample and ana.get_by_text("ben").count() == 0  # blind: not the other's vote

            # The viewer reads, and has no way to write: no decision button, keys do nothing.
            settle(vic, "Flagged review")
            assert vic.get_by_text("Viewing as vic (viewer)").count() == 1
            for label in ("Apply", "Confirm mislabeled", "Review", "Undo"):
                assert vic.get_by_role("button", name=label, exact=True).count() == 0, label
            assert vic.get_by_text("adjudication (team)", exact=True).count() == 0
            vic.locator("h1").click()
            for key in ("m", "k", "u"):
                vic.keyboard.press(key)
            vic.wait_for_timeout(1500)
            assert store.count() == 2

            # The lead sees both votes and settles the sample: remove.
            lea.get_by_text("adjudication (team)", exact=True).click()
            settle(lea, "Flagged review")
            lea.get_by_text(f"#{sample} · votes disagree").first.wait_for(timeout=60_000)
            settle(lea, "Flagged review")
            assert lea.get_by_text("ana").count() >= 1 and lea.get_by_text("ben").count() >= 1
            assert lea.get_by_text("remove (mislabeled)").count() >= 1 and lea.get_by_text("keep").count() >= 1
            lea.screenshot(path=str(shots / "lead-adjudication.png"))
            lea.get_by_role("button", name="Remove", exact=True).first.click()
            _wait_for(lambda: store.open_disagreements().tolist() == [])
            last = store.history().iloc[-1]
            assert (last["reviewer"], last["action"], last["kind"]) == ("lea", MISLABELED, ADJUDICATION)
            settle(lea, "Flagged review")
            lea.get_by_text("Nothing to adjudicate").wait_for(timeout=30_000)
        finally:
            browser.close()
    assert errors == []

    # "Retrain with reviews applied" reads the lead's settlement (probe mode: seconds).
    edits = store.edits()
    assert edits.removed == {sample} and edits.relabelled == {}
    run = RunDir(run_path)
    detector = Flagging.from_dict(run.read_manifest()["flagging"]).detector
    row = retrain(run, detector, 0.0, mode="probe", reviews=edits)
    assert row["reviews_key"] == edits.key() != ""
    assert store.decisions().set_index(schema.SAMPLE_ID).loc[sample, "action"] == MISLABELED
    assert KEEP not in store.decisions()["action"].tolist()
