"""Helpers shared by flexrec's tests (importable as `testkit`: pytest puts tests/ on the path).

One helper per need: the product's promises as named checks, and hooks that make a race happen
for certain instead of hoping a sleep lines the threads up.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator, Mapping
from typing import Any, NoReturn

import pytest
from sim_twilio import SimTwilio

# Under CI a missing server or browser is a failure, not a skip: a skipped test proves nothing.
IN_CI = bool(os.environ.get("FLEXREC_CI") or os.environ.get("CI"))


def unavailable(reason: str) -> NoReturn:
    """A test's real server or browser is missing: fail under CI, skip on a developer's machine."""
    if IN_CI:
        pytest.fail(f"required under CI: {reason}")
    pytest.skip(reason)


# Debian's Chromium, driven headless by Playwright (`make system-deps` installs it).
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)


@contextlib.contextmanager
def chromium() -> Iterator[Any]:
    """A headless Chromium (a Playwright `Browser`), closed afterwards; missing: `unavailable`."""
    if not os.path.exists(CHROMIUM):
        unavailable(f"{CHROMIUM} is not installed (make system-deps)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=list(CHROMIUM_ARGS)
        )
        try:
            yield browser
        finally:
            browser.close()


# -- the promises ------------------------------------------------------------------------------
def assert_recorded_exactly_once(twilio: SimTwilio, call_sid: str) -> None:
    """Twilio holds exactly one recording of the leg `call_sid` (never none, never a second)."""
    found = [r.sid for r in twilio.recordings_on(call_sid)]
    assert len(found) == 1, f"{call_sid} has {len(found)} recordings, expected exactly one: {found}"


def assert_not_recorded(twilio: SimTwilio, call_sid: str) -> None:
    """Twilio holds no recording of the leg `call_sid` (an agent's leg, an ineligible call)."""
    found = [r.sid for r in twilio.recordings_on(call_sid)]
    assert found == [], f"{call_sid} must not be recorded, has {found}"


def voice_recordings(attributes: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The `VoiceRecording` entries of a task's `conversations.media`."""
    media = (attributes.get("conversations") or {}).get("media") or []
    return [m for m in media if m.get("type") == "VoiceRecording"]


def assert_one_voice_recording(attributes: Mapping[str, Any]) -> dict[str, Any]:
    """The task's attributes name exactly one `VoiceRecording` (what Insights plays); returns it."""
    media = (attributes.get("conversations") or {}).get("media") or []
    entries = voice_recordings(attributes)
    assert len(entries) == 1 and len(media) == 1, (
        f"conversations.media must hold exactly one VoiceRecording, holds {media}"
    )
    return entries[0]


# -- making races happen -----------------------------------------------------------------------
class ContendedLock:
    """A re-entrant lock that records when a thread had to wait for it.

    Put it where the code under test takes its lock; `contended` is set once some thread found
    it held and began to wait, so a test can hold the lock until the race has really happened.
    """

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self.contended = threading.Event()

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        """Take the lock, noting first whether it was held by another thread."""
        if self._lock.acquire(blocking=False):
            return True
        self.contended.set()
        return self._lock.acquire(blocking, timeout)

    def release(self) -> None:
        """Release the lock."""
        self._lock.release()

    def __enter__(self) -> ContendedLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def version_1_waveform(stats: Any) -> bytes:
    """A waveform as flexrec stored it before version 2 (`flexrec.archive.waveform`): int8
    max/min pairs per bucket scaled to the loudest sample, a maximum rounded up and a minimum
    down, from a `FrameStats`. Recordings analysed before keep these."""
    import struct
    import zlib

    import numpy as np

    low, high = stats.low.astype(np.int32), stats.high.astype(np.int32)
    full_scale = min(max(int(-low.min(initial=0)), int(high.max(initial=0)), 1), 32768)
    pairs = np.empty((stats.channels, low.shape[1], 2), np.int8)
    pairs[:, :, 0] = np.clip(-((-high * 127) // full_scale), -127, 127)
    pairs[:, :, 1] = np.clip((low * 127) // full_scale, -127, 127)
    header = struct.pack(
        "<4sBBHIIIH", b"FXWF", 1, stats.channels, stats.frame_samples, stats.sample_rate_hz,
        low.shape[1], stats.duration_ms, full_scale,
    )  # fmt: skip
    return zlib.compress(header + pairs.tobytes(), 3)
