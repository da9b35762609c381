"""An in-memory Twilio Recordings API (JSON resources and WAV media) for archive tests.

It is an httpx handler, so the same fake serves the media download (`httpx.Client` with
`transport()`) and the official SDK (`sdk_client()`, a real `twilio.rest.Client` whose HTTP
client goes through the handler). Media requests are answered like Twilio does: a redirect to a
media host that must be reached without the account's credentials.
"""

from __future__ import annotations

import base64
import io
import re
import threading
from collections import defaultdict, deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

import httpx
import numpy as np
import soundfile as sf
from twilio.rest import Client

FAKE_ACCOUNT_SID = "AC" + "a" * 32
FAKE_AUTH_TOKEN = "fake-archive-auth-token"  # noqa: S105 - a test double's credential
MEDIA_HOST = "media.fake-twilio.test"
_RESOURCE = re.compile(
    r"^/2010-04-01/Accounts/(AC[0-9a-f]{32})/Recordings/(RE[0-9a-f]{32})(\.\w+)$"
)
_LIST = re.compile(r"^/2010-04-01/Accounts/(AC[0-9a-f]{32})/Recordings\.json$")


def make_wav(
    duration_s: float = 2.0,
    sample_rate_hz: int = 8000,
    channels: int = 2,
    seed: int = 1,
) -> bytes:
    """A PCM-16 WAV: faint line noise, and one speech-like burst per channel at its own time.

    Bursts are noise shaped by a ~4 Hz syllable envelope, which voice activity detection
    takes for speech (steady noise or a pure tone it would not). Deterministic for a seed.
    """
    rng = np.random.default_rng(seed)
    frames = int(duration_s * sample_rate_hz)
    audio = rng.normal(0.0, 0.002, (frames, channels)).astype(np.float32)
    burst = frames // 3
    t = np.arange(burst) / sample_rate_hz
    envelope = np.clip(np.sin(2 * np.pi * 4.0 * t), 0.2, 1.0)
    for index in range(channels):
        start = (index * frames) // (2 * channels)
        audio[start : start + burst, index] += (rng.uniform(-0.5, 0.5, burst) * envelope).astype(
            np.float32
        )
    buffer = io.BytesIO()
    sf.write(buffer, audio, sample_rate_hz, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


@dataclass
class FakeRecordingResource:
    """One recording the fake Twilio holds."""

    sid: str
    call_sid: str
    wav: bytes
    duration_s: int
    status: str = "completed"
    channels: int = 2
    start_time: datetime = field(default_factory=lambda: datetime(2026, 3, 4, 10, 0, tzinfo=UTC))
    deleted: bool = False


class FakeTwilioRecordings:
    """The fake: add recordings, queue faults per operation, inspect what was requested."""

    def __init__(
        self, account_sid: str = FAKE_ACCOUNT_SID, auth_token: str = FAKE_AUTH_TOKEN
    ) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.recordings: dict[str, FakeRecordingResource] = {}
        self.requests: list[tuple[str, str]] = []
        # op ("fetch", "media", "delete", "list") -> queued status codes to answer instead
        self.faults: dict[str, deque[int]] = defaultdict(deque)
        self._lock = threading.Lock()

    def add(
        self,
        sid: str,
        call_sid: str,
        wav: bytes | None = None,
        duration_s: int | None = None,
        **kwargs: Any,
    ) -> FakeRecordingResource:
        """Create a completed recording (a 2 s stereo WAV unless given)."""
        wav = wav if wav is not None else make_wav()
        if duration_s is None:
            info = sf.info(io.BytesIO(wav))
            duration_s = round(info.frames / info.samplerate)
        resource = FakeRecordingResource(sid, call_sid, wav, duration_s, **kwargs)
        self.recordings[sid] = resource
        return resource

    def fail_next(self, op: str, status: int, times: int = 1) -> None:
        """Answer the next `times` requests of `op` with HTTP `status`."""
        self.faults[op].extend([status] * times)

    def count(self, method: str, suffix: str = "") -> int:
        """How many requests with `method` whose path ends with `suffix` were made."""
        return sum(1 for m, path in self.requests if m == method and path.endswith(suffix))

    # ---------------------------------------------------------------- HTTP

    def transport(self) -> httpx.MockTransport:
        """An httpx transport answering like Twilio's REST and media hosts."""
        return httpx.MockTransport(self.handle)

    def sdk_client(self, transport: httpx.BaseTransport | None = None) -> Client:
        """A real SDK client whose requests (media too) reach this fake, or `transport`."""
        # flexsim's SDK adapter (tests only: flexrec[sim]); Twilio's hosts are kept as they are
        from flexsim.testing.http import SimHttpClient

        http = SimHttpClient(None, transport=transport or self.transport())
        return Client(self.account_sid, self.auth_token, http_client=http)

    def _authorised(self, request: httpx.Request) -> bool:
        expected = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        return bool(request.headers.get("authorization") == f"Basic {expected}")

    def _fault(self, op: str) -> httpx.Response | None:
        with self._lock:
            queue = self.faults.get(op)
            if queue:
                status = queue.popleft()
                return httpx.Response(status, json={"code": 20500, "status": status})
        return None

    def handle(self, request: httpx.Request) -> httpx.Response:
        """Route one request."""
        path = request.url.path
        with self._lock:
            self.requests.append((request.method, path))
        if request.url.host == MEDIA_HOST:
            # The media store accepts only its own signed query, never account credentials.
            if "authorization" in request.headers:
                return httpx.Response(400, text="credentials must not reach the media host")
            sid = path.rsplit("/", 1)[-1].split(".")[0]
            resource = self.recordings.get(sid)
            if resource is None or resource.deleted:
                return httpx.Response(404)
            return httpx.Response(
                200, content=resource.wav, headers={"Content-Type": "audio/x-wav"}
            )
        if not self._authorised(request):
            return httpx.Response(401, json={"code": 20003, "message": "Authenticate"})
        listing = _LIST.match(path)
        if listing and request.method == "GET":
            return self._fault("list") or self._list(request)
        match = _RESOURCE.match(path)
        if not match:
            return httpx.Response(404, json={"code": 20404, "message": "not found"})
        sid, extension = match.group(2), match.group(3)
        resource = self.recordings.get(sid)
        if extension in {".wav", ".mp3"}:
            fault = self._fault("media")
            if fault is not None:
                return fault
            if resource is None or resource.deleted:
                return httpx.Response(404, json={"code": 20404, "message": "not found"})
            target = f"https://{MEDIA_HOST}/{sid}.wav?sig=fake"
            return httpx.Response(302, headers={"Location": target})
        if request.method == "DELETE":
            fault = self._fault("delete")
            if fault is not None:
                return fault
            if resource is None or resource.deleted:
                return httpx.Response(404, json={"code": 20404, "message": "not found"})
            resource.deleted = True
            return httpx.Response(204)
        fault = self._fault("fetch")
        if fault is not None:
            return fault
        if resource is None or resource.deleted:
            return httpx.Response(404, json={"code": 20404, "message": "not found"})
        return httpx.Response(200, json=self._json(resource))

    def _json(self, resource: FakeRecordingResource) -> dict[str, Any]:
        uri = f"/2010-04-01/Accounts/{self.account_sid}/Recordings/{resource.sid}.json"
        stamp = format_datetime(resource.start_time, usegmt=True)
        return {
            "account_sid": self.account_sid,
            "api_version": "2010-04-01",
            "call_sid": resource.call_sid,
            "conference_sid": None,
            "date_created": stamp,
            "date_updated": stamp,
            "start_time": stamp,
            "duration": str(resource.duration_s),
            "sid": resource.sid,
            "price": None,
            "price_unit": "USD",
            "status": resource.status,
            "channels": resource.channels,
            "source": "StartCallRecordingAPI",
            "error_code": None,
            "uri": uri,
            "encryption_details": None,
            "subresource_uris": {},
            "media_url": f"https://api.twilio.com{uri[:-5]}",
        }

    def _list(self, request: httpx.Request) -> httpx.Response:
        after = request.url.params.get("DateCreated>")
        items = [r for r in self.recordings.values() if not r.deleted]
        if after:
            threshold = datetime.fromisoformat(after.replace("Z", "+00:00"))
            if threshold.tzinfo is None:
                threshold = threshold.replace(tzinfo=UTC)
            items = [r for r in items if r.start_time >= threshold]
        uri = f"/2010-04-01/Accounts/{self.account_sid}/Recordings.json"
        return httpx.Response(
            200,
            json={
                "recordings": [self._json(r) for r in items],
                "first_page_uri": uri,
                "next_page_uri": None,
                "previous_page_uri": None,
                "page": 0,
                "page_size": len(items),
                "start": 0,
                "end": max(0, len(items) - 1),
                "uri": uri,
            },
        )
