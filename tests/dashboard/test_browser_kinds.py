"""Multi-label and regression review in a real browser (Debian's chromium driven by Playwright): the tag queue's
keys pressed on the keyboard (a digit toggles a tag, S saves the set), and a value typed and set on a regression run,
with screenshots of the chips and of the given-vs-predicted scatter. Runs hand-built from the digits run
(tests/kind_runs.py). Skipped when chromium or playwright is missing, as tests/dashboard/test_browser.py."""

from __future__ import annotations

import json
import os
import sqlite3
import time
from pathlib import Path

import pandas as pd
import pytest

from core.run import reviews, schema
from tests.dashboard.browser import CHROMIUM, browser_page, running_dashboard, settle
from tests.kind_runs import multilabel_run, regression_run

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} is not installed "
                                                                                     "(apt-get install chromium)")]
pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")


def _rows(run_path: Path, count: int, timeout: float = 30) -> list[tuple]:
    deadline = time.time() + timeout
    rows: list[tuple] = []
    while time.time() < deadline:
        if (run_path / reviews.REVIEWS).exists():
            with sqlite3.connect(run_path / reviews.REVIEWS) as connection:
                rows = connection.execute("SELECT sample_id, action, new_label FROM reviews ORDER BY review_id"
                                          ).fetchall()
            if len(rows) >= count:
                break
        time.sleep(0.2)
    return rows


def _open_queue(page, url: str, reviewer: str) -> None:
    page.goto(f"{url}/")
    settle(page, "Runs / overview")
    page.goto(f"{url}/flagged_review")
    settle(page, "Flagged review", "stImage", 4)
    name = page.get_by_role("textbox", name="Reviewer name")
    name.fill(reviewer)
    name.press("Enter")
    settle(page, "Flagged review")


def _current(page) -> int:
    return int(page.locator("h4").filter(has_text="score").first.inner_text().split()[0].lstrip("#"))


@pytest.fixture
def screenshots(tmp_path) -> Path:
    folder = Path(os.environ.get("GRADSIFT_SCREENSHOTS") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def test_tag_keys_and_set_value_in_a_real_browser(digits_run, tmp_path, screenshots):
    tags_root, values_root = tmp_path / "tag_runs", tmp_path / "value_runs"
    tags_root.mkdir()
    values_root.mkdir()
    tags = multilabel_run(digits_run, tags_root / "tags").path
    values = regression_run(digits_run, values_root / "values").path
    errors: list[str] = []

    with running_dashboard(tags_root, tmp_path / "tags.log") as url, browser_page(errors) as page:
        _open_queue(page, url, "keys")
        page.screenshot(path=str(screenshots / "tags_grid.png"))
        assert page.get_by_text("Edit tags").count() >= 4
        page.get_by_text("queue (keyboard)", exact=True).click()
        settle(page, "Flagged review", "stImage")
        sample_id = _current(page)
        given = {int(t) for t in pd.read_parquet(tags / schema.SAMPLES)[schema.GIVEN_TAGS].iloc[sample_id]}
        page.locator("h1").click()  # the focus off every text field: shortcuts reach the buttons
        page.keyboard.press("1")  # toggles tag 0 of the draft
        settle(page, "Flagged review")
        page.screenshot(path=str(screenshots / "tags_queue_draft.png"))
        page.locator("h1").click()
        page.keyboard.press("s")
        rows = _rows(tags, 1)
        expected = sorted(given ^ {0})
        assert rows == [(sample_id, reviews.RELABEL if expected != sorted(given) else reviews.KEEP,
                         json.dumps(expected))]
        settle(page, "Flagged review")
        assert _current(page) != sample_id  # the queue advanced

    with running_dashboard(values_root, tmp_path / "values.log") as url, browser_page(errors) as page:
        _open_queue(page, url, "values")
        assert page.locator('[data-testid="stPlotlyChart"]').count() >= 1  # the given-vs-predicted scatter
        page.screenshot(path=str(screenshots / "values_grid.png"))
        page.get_by_text("queue (keyboard)", exact=True).click()
        settle(page, "Flagged review", "stImage")
        sample_id = _current(page)
        field = page.get_by_label("Value")
        field.fill("42.5")
        field.press("Enter")
        settle(page, "Flagged review")
        page.get_by_role("button", name="Set value").click()
        assert _rows(values, 1) == [(sample_id, reviews.RELABEL, 42.5)]
        settle(page, "Flagged review")
        page.screenshot(path=str(screenshots / "values_queue_after.png"))
    assert not errors, errors
