"""Twilio's Recordings API for the archive's tests, played by flexsim in process
(importable as `sim_recordings`).

The archive talks to Twilio through the official SDK (fetch, media download, delete, list), and
the SDK's HTTP goes to flexsim's app in this process (`flexsim.testing.InProcessSim`), so every
resource, media file, error body and 404 is flexsim's. This adapter only keeps the archive
tests' own vocabulary over flexsim's public control API:

- `add(sid, call_sid, wav, ...)`: a completed recording with that media
  (`arrange.completed_recording`), on a completed leg with that SID (`arrange.next_sids`), or
  one Twilio has not completed (`arrange.recording`, `arrange.end_recording`);
- `fail_next(op, status, times)`: flexsim's scripted faults (`arrange.fault_next`) for one
  archive operation: `media` (GET .wav), `fetch`, `delete`, `list`;
- `vanish(sid)`: someone deleted the recording in the console (`arrange.delete_recording`);
- `count(method, suffix)` / `requests`: what flexsim's request log says it answered.
"""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
from twilio.rest import Client

from flexsim.testing import InProcessSim, LoggedRequest, make_wav

# When an added recording started unless a test says (the archive's retention counts from it).
RECORDING_START = datetime(2026, 3, 4, 10, 0, tzinfo=UTC)
# Each archive operation as the method and path glob of its Twilio request.
OPERATIONS = {
    "media": ("GET", "*/Recordings/RE*.wav"),
    "fetch": ("GET", "*/Recordings/RE*.json"),
    "delete": ("DELETE", "*/Recordings/RE*.json"),
    "list": ("GET", "*/Recordings.json"),
}


class SimRecordings:
    """flexsim in process, arranged and inspected the way the archive tests need."""

    def __init__(self, account_sid: str | None = None) -> None:
        self.sim = InProcessSim(account_sid=account_sid) if account_sid else InProcessSim()
        self.account_sid = self.sim.account_sid
        self.auth_token = self.sim.auth_token

    def add(
        self,
        sid: str,
        call_sid: str,
        wav: bytes | None = None,
        duration_s: int | None = None,
        *,
        status: str = "completed",
        channels: int | None = None,
        start_time: datetime = RECORDING_START,
    ) -> None:
        """A recording `sid` of leg `call_sid`: completed with `wav` (a 2 s stereo WAV unless
        given) that Twilio says has `channels` (2 unless given, whatever the file holds), or
        in another `status` (in-progress, processing, absent, failed) on a live leg."""
        arrange = self.sim.arrange
        completed = status == "completed"
        if call_sid not in self.sim.world.calls:
            arrange.next_sids(call_sid)
            arrange.call(
                from_="+15005550006",
                to="+15005550001",
                status="completed" if completed else "in-progress",
            )
        arrange.next_sids(sid)
        if completed:
            arrange.completed_recording(
                wav if wav is not None else make_wav(),
                call_sid=call_sid,
                duration_s=duration_s,
                channels=channels or 2,
                start_time=start_time,
            )
            return
        arrange.recording(call_sid, channels=channels or 2, origin="api")
        if status != "in-progress":
            arrange.end_recording(sid, status)

    def fail_next(self, op: str, status: int, times: int = 1) -> None:
        """Answer the next `times` requests of `op` (media, fetch, delete, list) with `status`."""
        method, path = OPERATIONS[op]
        self.sim.arrange.fault_next(method, path, status=status, times=times)

    def vanish(self, sid: str) -> None:
        """The recording is deleted behind the archive's back (the console, another tool)."""
        self.sim.arrange.delete_recording(sid)

    def deleted(self, sid: str) -> bool:
        """Whether Twilio no longer holds the recording."""
        return bool(self.sim.world.recordings[sid].deleted)

    @property
    def requests(self) -> list[LoggedRequest]:
        """Every request flexsim answered, in order."""
        return self.sim.request_log.entries()

    def count(self, method: str, suffix: str = "") -> int:
        """How many `method` requests flexsim answered whose path ends with `suffix`."""
        return self.sim.request_log.count(method, "*" + suffix)

    def handle(self, request: httpx.Request) -> httpx.Response:
        """Answer one request as flexsim (for a test's own transport that watches or breaks
        requests on their way)."""
        return self.sim.transport.handle_request(request)

    def sdk_client(self, transport: httpx.BaseTransport | None = None) -> Client:
        """The official SDK client, answered by flexsim (or by `transport`)."""
        return self.sim.client(transport)
