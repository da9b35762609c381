"""The console in a real browser: sign in, search, open a call, play, solo, jump, screenshot.

Serves the sample-data sandbox with uvicorn on loopback and drives Debian's Chromium headless
through Playwright. The screenshot lands in `test-artifacts/console-player.png`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from testkit import chromium, unavailable

from flexrec.app.sandbox import SUPERVISOR, Sandbox, create_sandbox
from flexrec.archive.audit_chain import AuditLog
from flexsim import serve_app

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Sandbox]]:
    """The sandbox app served by uvicorn in a thread; yields its base URL."""
    sandbox = create_sandbox(tmp_path / "sandbox")
    try:
        with serve_app(sandbox.app) as base_url:
            yield base_url, sandbox
    finally:
        sandbox.close()


def test_supervisor_finds_plays_solos_and_jumps(served: tuple[str, Sandbox]) -> None:
    if not CHROMIUM.exists():
        unavailable("/usr/bin/chromium is not installed (make system-deps)")
    from playwright.sync_api import sync_playwright

    base, sandbox = served
    call = sandbox.calls[0]  # alice's inbound call with a pause from 9 s to 13 s
    errors: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1200})
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on(
                "console",
                lambda msg: errors.append(msg.text) if msg.type == "error" else None,
            )
            waveforms: list[dict[str, str]] = []
            page.on(
                "response",
                lambda r: (
                    waveforms.append(r.all_headers()) if r.url.endswith("/waveform") else None
                ),
            )

            # Signing in from the list page returns to it.
            page.goto(f"{base}/console/")
            assert "/console/login" in page.url
            page.fill("#username", SUPERVISOR[0])
            page.fill("#password", SUPERVISOR[1])
            page.click("button[type=submit].primary")
            page.wait_for_url(f"{base}/console/?*")
            page.wait_for_selector("#recordings tbody tr[data-recording-sid]")
            assert page.locator("#recordings tbody tr[data-recording-sid]").count() == len(
                sandbox.calls
            )

            # The search filter narrows the list to the one call.
            page.fill("#q", call.call_sid[-8:])
            page.click("#apply-filters")
            page.wait_for_function(
                "() => document.querySelectorAll('#recordings tbody tr[data-recording-sid]')"
                ".length === 1"
            )
            row = page.locator("#recordings tbody tr[data-recording-sid]")
            assert row.get_attribute("data-recording-sid") == call.recording_sid
            row.locator("a.open-recording").click()
            page.wait_for_url(f"**/console/recordings/{call.recording_sid}")
            page.wait_for_selector("#player[data-ready='true'][data-waveform-ready='true']")

            # The timeline shows both speakers and the pause gap, and the waveform has 2 lanes.
            assert page.locator("#timeline .seg-agent").count() >= 2
            assert page.locator("#timeline .seg-customer").count() >= 2
            gap = page.locator("#timeline .seg-pause")
            assert gap.count() == 1
            assert gap.get_attribute("data-start-ms") == "9000"
            assert (
                page.evaluate("window.flexrecPlayer.wavesurfer.getDecodedData().numberOfChannels")
                == 2
            )
            # Drawn from the stored binary waveform, sent compressed as it is stored.
            assert len(waveforms) == 1
            assert waveforms[0]["content-type"] == "application/vnd.flexrec.waveform"
            assert waveforms[0]["content-encoding"] == "deflate"

            # Play: the audio clock advances.
            page.click("#play")
            page.wait_for_function(
                "() => document.getElementById('audio').currentTime > 1.0", timeout=15_000
            )
            assert page.get_attribute("#play", "aria-pressed") == "true"

            # Solo the agent: its channel (2 on a customer-leg recording) alone is audible.
            page.click("#solo-agent")
            assert page.get_attribute("#player", "data-solo") == "agent"
            assert page.get_attribute("#solo-agent", "aria-pressed") == "true"
            assert page.get_attribute("#solo-both", "aria-pressed") == "false"
            assert page.evaluate("window.flexrecPlayer.gains()") == [0, 1]
            page.click("#solo-customer")
            assert page.evaluate("window.flexrecPlayer.gains()") == [1, 0]
            page.click("#solo-both")
            assert page.evaluate("window.flexrecPlayer.gains()") == [1, 1]

            # Jump to a moment by typing it, and by clicking the timeline.
            page.fill("#jump-to", "0:15")
            page.click("#jump button[type=submit]")
            page.wait_for_function(
                "() => Math.abs(document.getElementById('audio').currentTime - 15) < 1.5"
            )
            assert page.url.endswith("#t=15")
            track = page.locator("#timeline .lane[data-lane='agent'] .lane-track")
            box = track.bounding_box()
            assert box is not None
            page.mouse.click(box["x"] + box["width"] * 0.25, box["y"] + box["height"] / 2)
            page.wait_for_function(
                "() => Math.abs(document.getElementById('audio').currentTime - 6) < 1.5"
            )
            page.click("#play")  # pause for a steady screenshot
            page.wait_for_function("() => document.getElementById('audio').paused")
            page.click("#solo-agent")
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "console-player.png"), full_page=True)

            # A shared link to a moment (#t=SECONDS) opens there in a fresh page.
            page.goto("about:blank")
            page.goto(f"{base}/console/recordings/{call.recording_sid}#t=20")
            page.wait_for_selector("#player[data-ready='true']")
            page.wait_for_function(
                "() => Math.abs(Number(document.getElementById('player').dataset.currentTime)"
                " - 20) < 0.5"
            )
            # ...and playback starts from there once the media arrives.
            page.click("#play")
            page.wait_for_function(
                "() => document.getElementById('audio').currentTime > 20.2", timeout=15_000
            )
            page.click("#play")

            # Download goes through a fresh, audited link and saves the WAV.
            with page.expect_download() as download_info:
                page.click("#download")
            assert download_info.value.suggested_filename == f"{call.recording_sid}.wav"
        finally:
            browser.close()

    assert not errors, errors
    with sandbox.sessions() as session:
        rows = session.scalars(
            select(AuditLog).where(
                AuditLog.recording_sid == call.recording_sid, AuditLog.actor == SUPERVISOR[0]
            )
        ).all()
    # The console logs each link it issues (one per page load, one per download) as url_issued;
    # play and download rows come from the media route, for the streams it actually served.
    issued = sorted(r.detail["purpose"] for r in rows if r.action == "url_issued")
    assert issued == ["download", "play", "play"]
    assert all(r.detail.get("via") == "console" for r in rows if r.action == "url_issued")
    assert {r.action for r in rows if r.action != "url_issued"} == {"download", "play"}


def test_agent_signs_in_with_a_flex_token_and_sees_only_own_calls(
    served: tuple[str, Sandbox],
) -> None:
    if not CHROMIUM.exists():
        unavailable("/usr/bin/chromium is not installed (make system-deps)")
    from playwright.sync_api import sync_playwright

    base, sandbox = served
    alice = sandbox.tokens.validate("flex-alice-token").worker_sid
    own = [c for c in sandbox.calls if c.worker_sid == alice]
    other = next(c for c in sandbox.calls if c.worker_sid != alice)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            page = browser.new_page()
            page.goto(f"{base}/console/login")
            page.click("summary")
            page.fill("#flex-token", "not-a-token")
            page.click("#flex-login button[type=submit]")
            page.wait_for_function(
                "() => document.getElementById('login-error').textContent.length > 0"
            )
            assert "/console/login" in page.url
            page.fill("#flex-token", "flex-alice-token")
            page.click("#flex-login button[type=submit]")
            page.wait_for_selector("#recordings tbody tr[data-recording-sid]")
            shown = page.eval_on_selector_all(
                "#recordings tbody tr[data-recording-sid]",
                "rows => rows.map(r => r.dataset.recordingSid)",
            )
            assert sorted(shown) == sorted(c.recording_sid for c in own)
            response = page.goto(f"{base}/console/recordings/{other.recording_sid}")
            assert response is not None and response.status == 403
            assert "another agent" in page.text_content("main")
        finally:
            browser.close()


def test_a_transferred_call_names_each_agent_and_marks_the_hold_and_the_transfer(
    served: tuple[str, Sandbox],
) -> None:
    base, sandbox = served
    call = next(c for c in sandbox.calls if len(c.agents_ms) > 1)  # alice → carol, cold
    errors: list[str] = []
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 1200})
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(f"{base}/console/login")
        page.fill("#username", SUPERVISOR[0])
        page.fill("#password", SUPERVISOR[1])
        page.click("button[type=submit].primary")
        page.wait_for_url(f"{base}/console/?*")
        page.goto(f"{base}/console/recordings/{call.recording_sid}")
        page.wait_for_selector("#player[data-ready='true'][data-waveform-ready='true']")

        # Each agent in a lane of their own, named, with their time on the call.
        lanes = page.locator("#timeline .lane-agent")
        assert lanes.count() == 2
        assert lanes.locator(".lane-name").all_inner_texts() == ["alice", "carol"]
        presence = [
            (p.get_attribute("data-start-ms"), p.get_attribute("data-end-ms"))
            for p in page.locator("#timeline .lane-agent .seg-presence").all()
        ]
        assert presence == [("0", "31000"), ("41000", str(call.duration_ms))]
        assert lanes.nth(1).locator(".seg-agent").count() >= 1  # carol's own speech
        assert "alice 0:00\u20130:31 → carol 0:41\u2013end" in page.inner_text("#call-meta")
        assert page.inner_text("#player-title").endswith("with alice → carol")
        # The hold and the transfer are on the timeline.
        hold = page.locator("#timeline .lane[data-lane='hold'] .seg-hold")
        assert hold.count() == 1 and hold.get_attribute("data-start-ms") == "30000"
        marker = page.locator("#timeline .transfer")
        assert marker.count() == 1 and marker.inner_text() == "→ carol"
        assert "cold transfer, customer waited 0:10" in (marker.get_attribute("title") or "")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "console-transfer.png"), full_page=True)
    assert not errors, errors
