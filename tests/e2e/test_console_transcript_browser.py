"""The transcript, transcript search and card-data marks in a real browser (the sandbox's sample
calls, Debian's Chromium): a click on a word plays from it, the word being said is highlighted
as the audio plays, the silenced card number is marked above the player and on its own lane
(not as a pause), search opens the call where the words are said, and the card-data list shows
a supervisor every call and an agent their own. Screenshots land in `test-artifacts/`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from testkit import chromium

from flexrec.app.sandbox import AGENTS, SUPERVISOR, Sandbox, create_sandbox
from flexsim import serve_app

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

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


def _sign_in(page: Any, base: str, username: str, password: str) -> None:
    page.goto(f"{base}/console/login")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("button[type=submit].primary")
    page.wait_for_url(f"{base}/console/?*")


def _current_word(page: Any) -> dict[str, Any] | None:
    return page.evaluate(
        "() => { const w = document.querySelector('#transcript .word.current');"
        " return w && {start: Number(w.dataset.startMs), end: Number(w.dataset.endMs),"
        " text: w.textContent, time: document.getElementById('audio').currentTime} }"
    )


def test_transcript_click_to_seek_highlight_search_and_card_marks(
    served: tuple[str, Sandbox],
) -> None:
    base, sandbox = served
    call = sandbox.calls[5]  # bob's: the customer reads a card number and code, 20-27 s
    errors: list[str] = []
    ARTIFACTS.mkdir(exist_ok=True)
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        _sign_in(page, base, *SUPERVISOR)
        page.goto(f"{base}/console/recordings/{call.recording_sid}")
        page.wait_for_selector("#player[data-ready='true'][data-waveform-ready='true']")
        page.wait_for_selector("#transcript[data-ready='true']")

        # The mark above the player, in the supervisor's words.
        mark = page.locator("#card-marks .card-mark")
        assert mark.count() == 1
        assert mark.locator(".mark-text").inner_text() == (
            "Card number spoken while recording, agent bob, 00:20\u201300:26, silenced."
        )
        assert "read by the customer" in mark.inner_text()
        # On the timeline: its own lane, not a pause (the analysis saw digital silence there).
        silenced = page.locator("#timeline .lane[data-lane='silenced'] .seg-silenced")
        assert silenced.count() == 1 and silenced.get_attribute("data-start-ms") == "20000"
        assert page.locator("#timeline .seg-pause").count() == 0
        # In the transcript: markers where the digits were, beside both sides' words.
        markers = page.locator("#transcript mark.silenced-word").all_inner_texts()
        assert markers == ["card number silenced", "security code silenced"]
        speakers = set(page.locator("#transcript .line .speaker").all_inner_texts())
        assert speakers == {"CUSTOMER", "AGENT"} or speakers == {"Customer", "Agent"}

        # Click a word: playback moves there (before any play: where play will start).
        word = page.locator("#transcript .line-agent .word").nth(8)
        start_ms = int(word.get_attribute("data-start-ms") or 0)
        word.click()
        page.wait_for_function(
            "ms => Math.abs(Number(document.getElementById('player').dataset.currentTime)"
            " * 1000 - ms) < 60",
            arg=start_ms,
        )
        assert _current_word(page) is not None
        assert page.locator("#transcript .word.current").first.inner_text() == word.inner_text()
        page.click("#play")
        page.wait_for_function(
            "ms => document.getElementById('audio').currentTime * 1000 > ms + 1500",
            arg=start_ms,
            timeout=15_000,
        )
        # While playing, the highlighted word is the one being said (or just said).
        for _ in range(3):
            now = _current_word(page)
            page.wait_for_timeout(250)
            if now is None:
                continue  # between two lines: nobody is speaking
            assert now["start"] > start_ms
            assert now["start"] - 100 <= now["time"] * 1000 <= now["end"] + 250 + 300, now
        page.click("#play")
        page.wait_for_function("() => document.getElementById('audio').paused")
        page.screenshot(path=str(ARTIFACTS / "console-transcript.png"), full_page=True)

        # Search what was said: the hit opens the call where the words are said.
        page.goto(f"{base}/console/search")
        page.fill("#q", "payment gone through")
        page.click("#search-button")
        page.wait_for_selector("body[data-searched='true']")
        hits = page.locator(".search-hit")
        assert hits.count() >= 1
        hit = page.locator(f".search-hit[data-recording-sid='{call.recording_sid}']")
        assert hit.locator("mark").all_inner_texts() == ["payment", "gone", "through"]
        at_ms = int(hit.get_attribute("data-at-ms") or 0)
        assert at_ms > 27_000  # the agent's thanks after the reading
        page.screenshot(path=str(ARTIFACTS / "console-search.png"), full_page=True)
        hit.locator("a.play-hit").click()
        page.wait_for_url(f"**/console/recordings/{call.recording_sid}#t=*")
        page.wait_for_selector("#player[data-ready='true']")
        # It opens a second or two before the first word searched for.
        page.wait_for_function(
            "ms => { const t = Number(document.getElementById('player').dataset.currentTime)"
            " * 1000; return t <= ms && ms - t < 2000 }",
            arg=at_ms,
        )

        # The card-data list: every call for the supervisor, with the agent on the call then.
        page.goto(f"{base}/console/card-data")
        page.wait_for_selector("body[data-loaded='true']")
        rows = page.locator("#card-data tbody tr[data-recording-sid]")
        assert rows.count() == 2
        assert "agent carol" in rows.nth(0).inner_text()  # the transfer: carol was on the call
        assert page.locator("#per-agent li").count() == 2
        page.screenshot(path=str(ARTIFACTS / "console-card-data.png"), full_page=True)
        page.close()

        # An agent sees the card data of their own calls only.
        agent = browser.new_page(viewport={"width": 1280, "height": 800})
        agent.on("pageerror", lambda exc: errors.append(str(exc)))
        _sign_in(agent, base, "bob", AGENTS["bob"][0])
        agent.goto(f"{base}/console/card-data")
        agent.wait_for_selector("body[data-loaded='true']")
        shown = agent.locator("#card-data tbody tr[data-recording-sid]")
        assert [shown.nth(i).get_attribute("data-recording-sid") for i in range(shown.count())] == [
            call.recording_sid
        ]
        assert agent.locator("#per-agent-section").is_hidden()
    assert not errors, errors
