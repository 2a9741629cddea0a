"""The report in a real headless Chromium: every image loads, nothing leaves the machine.

Saves full-page screenshots to test-artifacts/ (gitignored) for a person to look at.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from portraitkit.params import Params
from portraitkit.reports.stage import build_report
from tests.test_report import inputs_of

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium (/usr/bin/chromium) is not installed"),
]


def _open(html: Path, shot: Path, width: int = 1280) -> dict:
    from playwright.sync_api import sync_playwright

    seen: list[str] = []
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": 900})
            page.on("request", lambda r: seen.append(r.url))
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(html.resolve().as_uri(), wait_until="load")
            images = page.evaluate(
                "Array.from(document.images).map(i => ({alt: i.alt, ok: i.complete && i.naturalWidth > 0,"
                " w: i.naturalWidth}))"
            )
            overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
            nav = page.evaluate("getComputedStyle(document.querySelector('nav.top')).position")
            # the zoom dialog opens on a gallery tile and shows a loaded image
            page.locator(".tile img").first.click()
            zoom_ok = page.evaluate(
                "(() => { const d = document.getElementById('zoom'); const i = d.querySelector('img');"
                " return d.open && !!i && i.complete && i.naturalWidth > 0; })()"
            )
            page.keyboard.press("Escape")
            page.evaluate("window.scrollTo(0, 0)")  # the sticky nav belongs at the top of the shot
            shot.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    return {"requests": seen, "errors": errors, "images": images, "overflow": overflow, "nav": nav, "zoom": zoom_ok}


def test_report_renders_in_chromium(stage_outputs, tmp_path):
    inputs = inputs_of(stage_outputs)
    result = build_report(inputs, Params(), tmp_path / "site")
    page = _open(result.html, ARTIFACTS / "report.png")
    assert len(page["images"]) >= 30
    broken = [i["alt"] for i in page["images"] if not i["ok"]]
    assert not broken, f"broken images: {broken}"
    outside = [u for u in page["requests"] if not u.startswith(("file:", "data:"))]
    assert not outside, f"requests leaving the page: {outside}"
    assert not page["errors"], page["errors"]
    assert page["nav"] == "sticky"
    assert page["overflow"] <= 0, "the page scrolls sideways"
    assert page["zoom"]
    assert (ARTIFACTS / "report.png").stat().st_size > 50_000


def test_partial_report_renders_on_a_phone(stage_outputs, tmp_path):
    inputs = inputs_of(stage_outputs, stages=("curated",))
    result = build_report(inputs, Params(), tmp_path / "site")
    page = _open(result.html, ARTIFACTS / "report-partial-narrow.png", width=420)
    assert page["images"] and all(i["ok"] for i in page["images"])
    assert not [u for u in page["requests"] if not u.startswith(("file:", "data:"))]
    assert not page["errors"], page["errors"]
    assert page["overflow"] <= 0, "the page scrolls sideways on a narrow screen"
