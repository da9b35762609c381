"""Twilio answers slowly and sometimes not at all. Every consumer of Twilio
goes through one gateway with one error translation, so an unreachable Twilio is a retryable
error wherever it happens, never an exception that escapes its handler.

Sources:
- Recording status callback parameters (RecordingSid, RecordingUrl, RecordingStatus,
  RecordingDuration, RecordingChannels, RecordingStartTime, CallSid, AccountSid),
  https://www.twilio.com/docs/voice/api/recording#recordingstatuscallback
- Fetch a Recording / its media (`{RecordingUrl}.wav?RequestedChannels=2`) and Delete a
  Recording, https://www.twilio.com/docs/voice/api/recording
- What the transport the twilio SDK is given here raises when nobody answers
  (flexrec/twilio/client.py: http.client's refusals and timeouts, OSErrors; its cut-short
  answers, http.client.HTTPException, are not).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sim_recordings import SimRecordings
from sqlalchemy import select
from twilio.rest import Client

from flexrec.archive.errors import ArchiveRetryableError
from flexrec.archive.models import ArchivedRecording
from flexrec.archive.service import ArchiveService
from flexrec.archive.storage import MemoryStorage
from flexrec.db.base import make_engine, make_session_factory
from flexrec.db.migrate import upgrade
from flexrec.twilio.client import PooledHttpClient
from flexrec.twilio.errors import GatewayError
from flexrec.twilio.gateway import SdkGateway

AC = "AC" + "0" * 32
RE = "RE" + "1" * 32
CA = "CA" + "2" * 32
WT = "WT" + "3" * 32
UNREACHABLE = "http://127.0.0.1:9"  # discard port: nothing listens, connections are refused

# The recording status callback Twilio sends when the recording is done (form fields).
COMPLETED = {
    "AccountSid": AC,
    "CallSid": CA,
    "RecordingSid": RE,
    "RecordingUrl": f"https://api.twilio.com/2010-04-01/Accounts/{AC}/Recordings/{RE}",
    "RecordingStatus": "completed",
    "RecordingDuration": "2",
    "RecordingChannels": "2",
    "RecordingStartTime": "Fri, 20 Nov 2026 10:00:00 +0000",
    "RecordingSource": "StartCallRecordingAPI",
    "RecordingTrack": "both",
}


@pytest.fixture
def sessions(tmp_path: Path) -> Iterator[object]:
    url = f"sqlite:///{tmp_path / 'flexrec.db'}"
    upgrade(url)
    engine = make_engine(url)
    yield make_session_factory(engine)
    engine.dispose()


def _unreachable_client() -> Client:
    return Client(AC, "token", http_client=PooledHttpClient(UNREACHABLE, timeout=2))


def test_archiving_while_twilio_is_unreachable_is_retried_not_stuck(sessions: object) -> None:
    archive = ArchiveService(sessions, MemoryStorage(), _unreachable_client())  # type: ignore[arg-type]
    # No duration yet: the job fetches the Recording resource from Twilio first.
    archive.job.note_completed(
        RE, CA, COMPLETED["RecordingUrl"], int(COMPLETED["RecordingChannels"]), duration_s=None
    )
    with pytest.raises(ArchiveRetryableError):
        archive.job.archive_recording(RE)
    with sessions() as session:  # type: ignore[operator]
        row = session.scalars(select(ArchivedRecording)).one()
    # Recorded as a failed attempt with its cause, so the queue retries it with backoff.
    assert row.state == "downloading" and row.attempts == 1
    assert row.last_error and "Connection" in row.last_error

    # Twilio is back: the same job finishes (media fetched, stored, verified).
    twilio = SimRecordings(account_sid=AC)
    twilio.add(RE, CA)
    back = ArchiveService(sessions, MemoryStorage(), twilio.sdk_client())  # type: ignore[arg-type]
    assert back.job.archive_recording(RE).state == "verified"


@pytest.mark.parametrize(
    "call",
    [
        lambda g: g.fetch_task(WT),
        lambda g: g.list_tasks(["assigned"]),
        lambda g: g.list_recordings(CA),
        lambda g: g.fetch_call(CA),
        lambda g: g.list_conferences(WT),
        lambda g: g.fetch_recording(RE),
        lambda g: g.delete_recording(RE),
        lambda g: g.download_media(COMPLETED["RecordingUrl"]),
        lambda g: g.list_workspaces("Flex Task Assignment"),
        lambda g: list(g.iter_recordings()),
    ],
)
def test_every_gateway_call_translates_an_unreachable_twilio(call: object) -> None:
    gateway = SdkGateway(_unreachable_client(), AC, "WS" + "4" * 32)
    with pytest.raises(GatewayError) as caught:
        call(gateway)  # type: ignore[operator]
    assert caught.value.status is None and caught.value.retryable
