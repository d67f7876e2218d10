"""Regenerate the README's screenshots: analyze the demo data, open every dashboard page in the real
browser (as tests/dashboard/test_browser.py does), and save one PNG per page under assets/screenshots/.

Run by hand from the repository root after a change that alters what the pages show:

    python assets/make_screenshots.py            # needs /usr/bin/chromium and playwright (pip)

It analyzes the default demo (digits, every default) into a temporary runs directory, so the
pictures show exactly what `gradsift demo` shows.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.dashboard.browser import CHROMIUM, CHROMIUM_ARGS, running_dashboard, settle  # noqa: E402

SHOTS = {  # file name: (url path, page title, an element the finished page shows, how many at least)
    "overview": ("", "Runs / overview", "stDataFrame", 1),
    "gradient_space": ("gradient_space", "Gradient space", "stPlotlyChart", 1),
    "outlier_vs_influence": ("outlier_vs_influence", "Outlier vs influence", "stPlotlyChart", 3),
    "flagged_review": ("flagged_review", "Flagged review", "stImage", 24),
    "budget_retrain": ("budget_retrain", "Budget & retrain", "stPlotlyChart", 1),
    "sample_detail": ("sample_detail", "Sample detail", "stDataFrame", 2),
    "test_explorer": ("test_explorer", "Test-sample explorer", "stDataFrame", 6),
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "assets" / "screenshots", help="where the PNGs go")
    parser.add_argument("--width", type=int, default=1400)
    parser.add_argument("--height", type=int, default=1000)
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    from core.config import RunConfig
    from core.pipeline.runner import analyze

    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="gradsift-screenshots-") as tmp:
        runs = Path(tmp) / "runs"
        analyze(RunConfig(), runs / "digits")
        with running_dashboard(runs, Path(tmp) / "dashboard.log") as url, sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": args.width, "height": args.height})
            try:
                for name, (path, title, ready, count) in SHOTS.items():
                    page.goto(f"{url}/{path}")
                    settle(page, title, ready, count)
                    page.screenshot(path=str(args.out / f"{name}.png"))
                    print(f"wrote {args.out / f'{name}.png'}")
            finally:
                browser.close()


if __name__ == "__main__":
    main()
