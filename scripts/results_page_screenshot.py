"""The README's and docs/index.md's picture of the results page: results/index.html opened in Debian's Chromium,
the tweets tab, model vs model, written to docs/assets/results-page.png.

    python scripts/results_page_screenshot.py [--page results/index.html] [--out docs/assets/results-page.png]
"""

import argparse
import shutil
from pathlib import Path

from playwright.sync_api import sync_playwright

REPO = Path(__file__).resolve().parents[1]
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]


def screenshot(page_path: Path, out: Path, task: str = "tweets") -> None:
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=FLAGS, headless=True)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(page_path.resolve().as_uri())
        page.wait_for_selector("table.results")
        page.click(f"nav button[data-task='{task}']")
        page.click("button[data-view=versus]")
        out.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(out), full_page=False)
        browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--page", type=Path, default=REPO / "results" / "index.html")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "assets" / "results-page.png")
    parser.add_argument("--task", default="tweets")
    args = parser.parse_args()
    screenshot(args.page, args.out, args.task)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
