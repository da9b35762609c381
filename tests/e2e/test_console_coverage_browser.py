"""The coverage page in a real browser: a supervisor reads a day (tests/coverage_day.py), sees
the summary and the exceptions, shows every leg, moves to the day before; a screenshot lands in
`test-artifacts/console-coverage.png`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from coverage_day import LEGS, build_day
from fastapi import FastAPI
from testkit import unavailable

from flexrec.accounts.users import create_user
from flexrec.archive.signed_urls import MediaLinkSigner
from flexrec.console.router import ConsoleDeps, create_console_router
from flexrec.coverage.service import CoverageReports
from flexsim import serve_app

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]
SECRET = "coverage-browser-secret-0123456789"

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    day = build_day(f"sqlite:///{tmp_path / 'flexrec.db'}")
    with day.sessions() as session:
        create_user(session, "sam", "sam-password-1", "supervisor")
        session.commit()
    app = FastAPI()
    deps = ConsoleDeps(
        sessions=day.sessions,
        secret=SECRET,
        media_links=MediaLinkSigner(SECRET),
        coverage=CoverageReports(day.call_log, day.sessions),
    )
    app.include_router(create_console_router(deps))
    try:
        with serve_app(app) as base_url:
            yield base_url
    finally:
        day.close()


def test_a_supervisor_reads_a_days_coverage(served: str) -> None:
    if not CHROMIUM.exists():
        unavailable("/usr/bin/chromium is not installed (make system-deps)")
    from playwright.sync_api import expect, sync_playwright

    base = served
    errors: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(f"{base}/console/coverage?day=2026-03-03")
            page.fill("#username", "sam")
            page.fill("#password", "sam-password-1")
            page.click("button[type=submit].primary")
            page.wait_for_selector("#coverage tbody tr[data-call-sid]")
            rows = page.locator("#coverage tbody tr[data-call-sid]")
            exceptions = [LEGS[n] for n in ("E", "F", "G", "H")]
            assert [rows.nth(i).get_attribute("data-call-sid") for i in range(4)] == exceptions
            assert rows.count() == 4
            cards = page.locator("#coverage-summary").inner_text()
            assert "2 / 4" in cards and "eligible calls recorded" in cards
            verdict = page.locator("#coverage-verdict").inner_text()
            assert verdict == "Every eligible call of 2026-03-03 was recorded, except the 4 below."
            stopped = page.locator(f"tr[data-call-sid='{LEGS['H']}'] td.detail").inner_text()
            assert "stopped" in stopped and "60 s" in stopped
            page.select_option("#show", "all")
            expect(page.locator("#coverage tbody tr")).to_have_count(10)
            assert "show=all" in page.url
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "console-coverage.png"), full_page=True)
            page.click("#prev-day")
            # The status names the day while it is still asking Twilio ("Asking Twilio for the
            # call legs of 2026-03-02…"): wait for the answer, which the rows come with. (A
            # wait_for_function that must poll is refused by the console's CSP, no eval; a
            # locator assertion polls without it.)
            expect(page.locator("#coverage-status")).to_contain_text("on Twilio for 2026-03-02")
            assert page.locator("#coverage tbody tr[data-call-sid]").count() == 1
            assert page.locator("#coverage-verdict").inner_text().endswith("except the 1 below.")
        finally:
            browser.close()
    assert errors == []
