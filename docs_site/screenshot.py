#!/usr/bin/env python
"""Screenshot an HTML page (a run's report.html) for the docs site, in headless Chromium (Playwright, offline).

    python docs_site/screenshot.py runs/<name>/report.html nbs/images/pipeline_report.png [--width 1100] [--height 1500]

The picture is of the top of the page (what a reader sees first), `--height` pixels tall.
"""
import argparse
from pathlib import Path

CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run']


def screenshot(page_path: Path, out: Path, width: int = 1100, height: int = 1500, chromium: str = '/usr/bin/chromium') -> Path:
    from playwright.sync_api import sync_playwright
    out.parent.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={'width': width, 'height': height})
        page.goto(page_path.resolve().as_uri())
        page.screenshot(path=str(out), full_page=False)
        browser.close()
    return out


if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('page', type=Path); ap.add_argument('out', type=Path)
    ap.add_argument('--width', type=int, default=1100); ap.add_argument('--height', type=int, default=1500)
    args = ap.parse_args()
    print(screenshot(args.page, args.out, args.width, args.height))
