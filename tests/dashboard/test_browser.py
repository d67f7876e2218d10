"""The dashboard in a real browser: Debian's chromium driven by Playwright.

Starts `gradsift dashboard RUNS --port <free port>` on 127.0.0.1, opens every page, lassoes
points on the gradient map (the browser's own selection event, customdata included),
records a review, moves the budget slider, presses Retrain, waits for the result, and
saves a screenshot of each step to $GRADSIFT_SCREENSHOTS (default: the test's tmp dir).

Skipped only when /usr/bin/chromium or the playwright package is missing. Install with
`apt-get install chromium` and `pip install playwright` (never `playwright install`:
the Debian browser is used as is).
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import time
from pathlib import Path

import pytest

from core.run import reviews, schema
from core.run.results import read_results
from core.run.rundir import RunDir
from tests.dashboard.browser import CHROMIUM, browser_page, running_dashboard, settle

PAGES = {  # url path: (title, an element the finished page shows, how many of them at least)
    "": ("Runs / overview", "stDataFrame", 1),
    "gradient_space": ("Gradient space", "stPlotlyChart", 1),
    "outlier_vs_influence": ("Outlier vs influence", "stPlotlyChart", 3),
    "flagged_review": ("Flagged review", "stImage", 24),
    "budget_retrain": ("Budget & retrain", "stPlotlyChart", 1),
    "sample_detail": ("Sample detail", "stDataFrame", 2),
    "test_explorer": ("Test-sample explorer", "stDataFrame", 6),
}

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} is not installed "
                                                                                     "(apt-get install chromium)")]
pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")


@pytest.fixture
def server(runs_dir, tmp_path):
    """`gradsift dashboard` on a copy of the session runs; yields (base url, runs dir)."""
    root = tmp_path / "runs"
    for name in ("digits", "moons"):
        shutil.copytree(runs_dir / name, root / name)
    with running_dashboard(root, tmp_path / "dashboard.log") as url:
        yield url, root


@pytest.fixture
def screenshots(tmp_path) -> Path:
    folder = Path(os.environ.get("GRADSIFT_SCREENSHOTS") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def test_every_page_in_a_real_browser(server, screenshots):
    url, root = server
    errors: list[str] = []
    with browser_page(errors) as page:
        for path, (title, ready, count) in PAGES.items():
            page.goto(f"{url}/{path}")
            settle(page, title, ready, count)
            page.screenshot(path=str(screenshots / f"{path or 'overview'}.png"))
            assert page.locator('[data-testid="stException"]').count() == 0, path
            assert page.locator('[data-testid="stSidebar"]').get_by_text("Reviewer name").count() == 1, path
            if path == "":  # the detection table is drawn: a data grid with rows, not an empty box
                assert page.locator('[data-testid="stDataFrame"]').first.bounding_box()["height"] > 100

        # Gradient space: lasso a region of the map; the selected samples appear as images.
        page.goto(f"{url}/gradient_space")
        settle(page, "Gradient space", "stPlotlyChart")
        plot = page.locator('[data-testid="stPlotlyChart"] .nsewdrag').first
        box = plot.bounding_box()
        cx, cy, w, h = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2, box["width"], box["height"]
        page.mouse.move(cx, cy - 0.45 * h)  # the right half of the plot area
        page.mouse.down()
        for fx, fy in ((0.45, -0.45), (0.45, 0.45), (0.0, 0.45), (0.0, -0.44)):
            page.mouse.move(cx + fx * w, cy + fy * h, steps=8)
        page.mouse.up()
        settle(page, "Gradient space", "stImage")  # the selection's thumbnails
        selected = int(page.get_by_text("selected sample(s)").inner_text().split()[0].replace(",", ""))
        assert 0 < selected < len(RunDir(root / "digits").read_samples())
        assert page.locator('[data-testid="stImage"]').count() > 0
        page.screenshot(path=str(screenshots / "gradient_space_selection.png"))

        # Flagged review: name the reviewer, confirm the first card as mislabeled.
        page.goto(f"{url}/flagged_review")
        settle(page, "Flagged review", "stImage", 24)
        name = page.get_by_role("textbox", name="Reviewer name")
        name.fill("browser")
        name.press("Enter")
        settle(page, "Flagged review")
        page.locator('[data-testid="stMenuButton"] button').first.click()
        page.get_by_text("Confirm mislabeled", exact=True).first.click()
        deadline = time.time() + 30
        while time.time() < deadline and not (root / "digits" / reviews.REVIEWS).exists():
            time.sleep(0.2)
        settle(page, "Flagged review")
        with sqlite3.connect(root / "digits" / reviews.REVIEWS) as connection:
            rows = connection.execute("SELECT action, reviewer FROM reviews").fetchall()
        assert rows == [("mislabeled", "browser")]
        page.screenshot(path=str(screenshots / "flagged_review_after_action.png"))

        # Budget & retrain: move the slider, press Retrain, wait for the result.
        before = len(read_results(RunDir(root / "digits")))
        page.goto(f"{url}/budget_retrain")
        settle(page, "Budget & retrain", "stPlotlyChart")
        thumb = page.get_by_role("slider")
        thumb.focus()
        for _ in range(3):
            thumb.press("ArrowRight")  # 5.0% -> 6.5%
        page.wait_for_timeout(500)
        assert len(read_results(RunDir(root / "digits"))) == before  # the slider alone trains nothing
        page.get_by_role("button", name="Retrain", exact=True).click()
        page.get_by_text("finished in").wait_for(timeout=120_000)
        settle(page, "Budget & retrain")
        results = read_results(RunDir(root / "digits"))
        assert 0.065 in set(results.loc[results["mode"] == "probe", "budget"].round(4))
        page.screenshot(path=str(screenshots / "budget_retrain_after.png"))
    assert not errors, errors


def _reviews(run_path: Path) -> list[tuple]:
    if not (run_path / reviews.REVIEWS).exists():
        return []
    with sqlite3.connect(run_path / reviews.REVIEWS) as connection:
        return connection.execute(
            "SELECT sample_id, action, new_label, undoes FROM reviews ORDER BY review_id"
        ).fetchall()


def _wait_for_reviews(run_path: Path, count: int, timeout: float = 30) -> list[tuple]:
    deadline = time.time() + timeout
    while time.time() < deadline and len(_reviews(run_path)) < count:
        time.sleep(0.2)
    return _reviews(run_path)


def test_keyboard_review_and_the_heat_map_in_a_real_browser(server, screenshots):
    """The queue's keys pressed on the keyboard (M, a class key, U, N), and a click on a heat-map cell."""
    url, root = server
    run_path = root / "digits"
    errors: list[str] = []
    with browser_page(errors) as page:
        page.goto(f"{url}/")  # the first session registers the app's navigation
        settle(page, "Runs / overview")
        page.goto(f"{url}/flagged_review")
        settle(page, "Flagged review", "stImage", 24)
        name = page.get_by_role("textbox", name="Reviewer name")
        name.fill("keys")
        name.press("Enter")
        settle(page, "Flagged review")
        page.get_by_text("queue (keyboard)", exact=True).click()
        settle(page, "Flagged review", "stImage")

        def current() -> int:
            return int(page.locator("h4").filter(has_text="score").first.inner_text().split()[0].lstrip("#"))

        first = current()
        page.locator("h1").click()  # the focus off every text field: shortcuts reach the buttons
        page.keyboard.press("m")
        assert _wait_for_reviews(run_path, 1) == [(first, "mislabeled", None, None)]
        settle(page, "Flagged review")
        second = current()
        assert second != first
        page.keyboard.press("3")  # the third class: index 2
        assert _wait_for_reviews(run_path, 2)[1] == (second, "relabel", 2, None)
        settle(page, "Flagged review")
        page.keyboard.press("u")
        rows = _wait_for_reviews(run_path, 3)
        assert rows[2][0] == second and rows[2][1] == "clear" and rows[2][3] is not None  # undo kept history
        settle(page, "Flagged review")
        assert current() == second  # back to the undone sample
        page.keyboard.press("n")
        page.wait_for_timeout(1500)
        settle(page, "Flagged review")
        assert current() != second and len(_reviews(run_path)) == 3  # skipping records nothing
        page.screenshot(path=str(screenshots / "flagged_review_queue.png"))

        # Back to the grid; click the heat map's busiest off-diagonal cell: the grid shows that pair only.
        page.get_by_text("grid", exact=True).click()
        settle(page, "Flagged review", "stImage")
        samples = RunDir(run_path).read_samples()
        flagged = samples[samples[schema.IS_FLAGGED]]
        pairs = flagged.groupby([schema.GIVEN_LABEL, schema.SUGGESTED_LABEL]).size()
        pairs = pairs[[g != s for g, s in pairs.index]].sort_values(ascending=False)
        (given, suggested), count = pairs.index[0], int(pairs.iloc[0])
        names = RunDir(run_path).read_manifest()["dataset"]["class_names"]
        cell = page.evaluate(
            """([row, column]) => { const gd = document.querySelector('.js-plotly-plot');
            const L = gd._fullLayout, box = gd.getBoundingClientRect();
            return {x: box.x + L._size.l + L.xaxis.l2p(L.xaxis._categories.indexOf(column)),
                    y: box.y + L._size.t + L.yaxis.l2p(L.yaxis._categories.indexOf(row))}; }""",
            [str(names[given]), str(names[suggested])])
        page.mouse.click(cell["x"], cell["y"])
        page.get_by_text("Showing the flagged samples given").wait_for(timeout=30_000)
        settle(page, "Flagged review", "stImage")
        assert f": {count}." in page.get_by_text("Showing the flagged samples given").inner_text()
        assert page.locator('[data-testid="stImage"]').count() == min(count, 24)
        page.screenshot(path=str(screenshots / "flagged_review_pair.png"))
    assert not errors, errors


def test_texts_render_as_plain_text_in_a_real_browser(runs_dir, tmp_path, screenshots):
    """A text run: the text that would inject Markdown and HTML shows literally on the sample detail page and its
    neighbours' cards; no script runs, no element is made from it."""
    from tests.conftest import INJECTION_TEXT

    root = tmp_path / "runs"
    shutil.copytree(runs_dir / "text", root / "text")
    frame = RunDir(root / "text").read_samples()
    sample_id = int(frame.index[frame["text"] == INJECTION_TEXT][0])
    errors, dialogs = [], []
    with running_dashboard(root, tmp_path / "dashboard.log") as url, browser_page(errors) as page:
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        page.goto(f"{url}/flagged_review")
        settle(page, "Flagged review", "stText")
        assert page.locator('[data-testid="stText"]').count() >= 3  # one text per flagged card
        page.screenshot(path=str(screenshots / "text_flagged_review.png"))
        page.goto(f"{url}/sample_detail")
        settle(page, "Sample detail", "stDataFrame")
        field = page.get_by_label("Sample id", exact=False)
        field.fill(str(sample_id))
        field.press("Enter")
        settle(page, "Sample detail", "stDataFrame")
        shown = page.locator('[data-testid="stText"]').first.inner_text()
        assert shown.startswith("**bold** <script>alert('x')</script> [click](http://example.com) :red[red]")
        main = page.locator('[data-testid="stMain"]')
        assert main.locator("strong", has_text="bold").count() == 0
        assert main.locator('a[href="http://example.com"]').count() == 0
        assert page.evaluate("() => [...document.scripts].some(s => s.textContent.includes(\"alert('x')\"))") is False
        page.screenshot(path=str(screenshots / "text_sample_detail.png"))
    assert not errors and not dialogs, (errors, dialogs)
