"""The one gateway to Twilio: small protocols and their SDK implementation.

Every consumer of Twilio (recording control, reconciliation, the archive, `flexrec setup`)
calls it; every call runs inside `twilio_call()` (flexrec/twilio/errors.py), so whatever fails
below (SDK, urllib3, OS, timeouts) leaves as a `GatewayError` callers can retry or fail on
without importing the SDK: `retryable` covers 429, 5xx, timeouts and connection errors; `code`
carries Twilio's error code (21220 = the call is not in a state that can be recorded).

The task ETag: the SDK's `TaskInstance` has no revision field, but `fetch_with_http_info()`
returns an `ApiResponse` whose `headers` hold the `ETag` of the fetched revision; `update(...,
if_match=etag)` sends it back as `If-Match`, and TaskRouter answers 412 when it moved on.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Any, Protocol, cast, runtime_checkable

import structlog
from twilio.rest import Client

from flexrec.twilio.call_log import (
    CallLogCalls,
    CallLogGateway,
    call_info,
    recording_info,
    text_or_none,
)
from flexrec.twilio.errors import (
    TRANSLATED,
    GatewayError,
    PreconditionFailed,
    UnreadableTask,
    translate,
    twilio_call,
)
from flexrec.twilio.resources import (
    CALL_NOT_RECORDABLE,
    TERMINAL_CALL_STATUSES,
    CallInfo,
    ConferenceInfo,
    CreateRecordingRequest,
    ParticipantInfo,
    RecordingInfo,
    ReservationInfo,
    TaskSnapshot,
    WorkspaceInfo,
)
from flexrec.twilio.setup_calls import SetupCalls

__all__ = [
    "CALL_NOT_RECORDABLE",
    "TERMINAL_CALL_STATUSES",
    "TRANSLATED_ERRORS",
    "ArchiveGateway",
    "CallInfo",
    "CallLogGateway",
    "ConferenceInfo",
    "CreateRecordingRequest",
    "GatewayError",
    "LookupGateway",
    "MediaSink",
    "ParticipantInfo",
    "PreconditionFailed",
    "RecordingGateway",
    "RecordingInfo",
    "ReservationInfo",
    "SdkGateway",
    "TaskGateway",
    "TaskSnapshot",
    "UnreadableTask",
    "WorkspaceInfo",
    "recording_media_url",
    "translate_error",
]

from flexrec.safejson import UnsafeJson, loads_bounded

log = structlog.get_logger(__name__)


_SLICE_BYTES = 1 << 18  # what a transport that cannot stream hands over at a time


@runtime_checkable
class MediaTransport(Protocol):
    """The transport's raw download (PooledHttpClient.download; flexsim's SimHttpClient too)."""

    def download(
        self, url: str, params: dict[str, str], auth: tuple[str, str]
    ) -> tuple[int, bytes]:
        """GET bytes, following redirects; (status, body)."""
        ...


MediaSink = Callable[[memoryview], None]
"""Takes a recording's media a slice at a time as it arrives (the slice is valid during the
call only)."""


@runtime_checkable
class StreamingMediaTransport(Protocol):
    """A transport that streams a download (PooledHttpClient.download_into)."""

    def download_into(
        self, url: str, params: dict[str, str], auth: tuple[str, str], sink: MediaSink
    ) -> tuple[int, bytes]:
        """GET following redirects; a 200 answer's body goes to `sink`; (status, other body)."""
        ...


class RecordingGateway(Protocol):
    """Voice API calls for call recordings."""

    account_sid: str

    def create_recording(self, request: CreateRecordingRequest) -> RecordingInfo:
        """Start a recording on a call leg."""
        ...

    def list_recordings(self, call_sid: str) -> list[RecordingInfo]:
        """Every recording of a call leg."""
        ...

    def update_recording(
        self, call_sid: str, recording_sid: str, status: str, pause_behavior: str | None = None
    ) -> RecordingInfo:
        """Pause (`paused`), resume (`in-progress`) or stop (`stopped`) a recording."""
        ...

    def fetch_call(self, call_sid: str) -> CallInfo:
        """The current status of a call leg."""
        ...


class TaskGateway(Protocol):
    """TaskRouter calls for tasks."""

    def fetch_task(self, task_sid: str) -> TaskSnapshot:
        """The task's current revision, with its ETag and attributes."""
        ...

    def update_task_attributes(
        self, task_sid: str, attributes: dict[str, Any], etag: str | None
    ) -> TaskSnapshot:
        """Replace the attributes if the task is still at `etag` (else `PreconditionFailed`)."""
        ...

    def list_tasks(self, assignment_statuses: Sequence[str]) -> list[TaskSnapshot]:
        """Live tasks in the given assignment statuses (attributes None: fetch each task)."""
        ...

    def list_reservations(self, task_sid: str) -> list[ReservationInfo]:
        """The task's reservations (who holds or held it)."""
        ...


class LookupGateway(Protocol):
    """What a client of Twilio uses to find a task's legs: its conference and their calls."""

    def list_conferences(
        self, friendly_name: str, status: str | None = None
    ) -> list[ConferenceInfo]:
        """Conferences with this FriendlyName (Flex: the task SID), optionally by status."""
        ...

    def list_participants(self, conference_sid: str) -> list[ParticipantInfo]:
        """The call legs still in a conference."""
        ...

    def fetch_call(self, call_sid: str) -> CallInfo:
        """A call leg (status, direction, from, to, parent)."""
        ...


class ArchiveGateway(Protocol):
    """What the archive job asks of Twilio: a recording's metadata, its media, its deletion."""

    account_sid: str

    def fetch_recording(self, recording_sid: str) -> RecordingInfo:
        """The recording resource (status, duration, channels, call, URI)."""
        ...

    def download_media(self, media_url: str, channels: int = 2) -> bytes:
        """The recording's WAV (`{media_url}.wav?RequestedChannels=N`)."""
        ...

    def download_media_into(self, media_url: str, channels: int, sink: MediaSink) -> int:
        """`download_media`, handed to `sink` a slice at a time; returns the bytes given."""
        ...

    def delete_recording(self, recording_sid: str) -> None:
        """Delete the recording from Twilio (404 raises `GatewayError` with `not_found`)."""
        ...

    def iter_recordings(
        self, since: datetime | None = None, limit: int | None = None
    ) -> Iterator[RecordingInfo]:
        """The account's recordings, newest first, page by page (for backfills)."""
        ...


def recording_media_url(account_sid: str, recording_sid: str) -> str:
    """The api.twilio.com URL Flex Insights expects in a VoiceRecording entry."""
    return f"https://api.twilio.com/2010-04-01/Accounts/{account_sid}/Recordings/{recording_sid}"


# Public names of the one translation (flexrec/twilio/errors.py), for consumers of Twilio
# outside the gateway (the CLI's error display, setup).
TRANSLATED_ERRORS = TRANSLATED
"""What a call through the SDK may raise; `translate_error` turns each into a `GatewayError`."""


def translate_error(exc: BaseException) -> GatewayError:
    """The `GatewayError` for anything the SDK or its transport raised."""
    return translate(exc)


class SdkGateway(SetupCalls, CallLogCalls):
    """Every gateway protocol over the official SDK client (SDK retries off)."""

    def __init__(self, client: Client, account_sid: str, workspace_sid: str) -> None:
        self._client = client
        self.account_sid = account_sid
        self._workspace_sid = workspace_sid
        self._task_list: Any = None

    # -- recordings ---------------------------------------------------------------------------
    def create_recording(self, request: CreateRecordingRequest) -> RecordingInfo:
        """Start a dual-channel recording with our status callback."""
        with twilio_call():
            rec = self._client.calls(request.call_sid).recordings.create(
                recording_channels=request.channels,
                recording_track=request.track,
                recording_status_callback=request.status_callback,
                recording_status_callback_event=list(request.events),
                recording_status_callback_method="POST",
                trim=request.trim,
            )
        return recording_info(rec)

    def list_recordings(self, call_sid: str) -> list[RecordingInfo]:
        """Every recording of the leg (a leg has few, so one page suffices)."""
        with twilio_call():
            recs = self._client.calls(call_sid).recordings.list(limit=50)
        return [recording_info(r) for r in recs]

    def update_recording(
        self, call_sid: str, recording_sid: str, status: str, pause_behavior: str | None = None
    ) -> RecordingInfo:
        """Change a recording's status (pause behaviour only applies to `paused`)."""
        kwargs: dict[str, Any] = {"status": status}
        if status == "paused" and pause_behavior:
            kwargs["pause_behavior"] = pause_behavior
        with twilio_call():
            rec = self._client.calls(call_sid).recordings(recording_sid).update(**kwargs)
        return recording_info(rec)

    def fetch_recording(self, recording_sid: str) -> RecordingInfo:
        """The account-level Recording resource."""
        with twilio_call():
            rec = self._client.recordings(recording_sid).fetch()
        return recording_info(rec)

    def delete_recording(self, recording_sid: str) -> None:
        """Delete a recording (its media and metadata) from Twilio."""
        with twilio_call():
            self._client.recordings(recording_sid).delete()

    def iter_recordings(
        self, since: datetime | None = None, limit: int | None = None
    ) -> Iterator[RecordingInfo]:
        """The account's recordings; each page is fetched (and translated) as it is reached."""
        filters: dict[str, Any] = {"page_size": 100}
        if since is not None:
            filters["date_created_after"] = since
        if limit is not None:
            filters["limit"] = limit
        with twilio_call():
            stream = iter(self._client.recordings.stream(**filters))
        while True:
            with twilio_call():
                rec = next(stream, None)
            if rec is None:
                return
            yield recording_info(rec)

    def download_media(self, media_url: str, channels: int = 2) -> bytes:
        """GET `{media_url}.wav` with the account's credentials over the pooled transport.

        Twilio may redirect to its media store; the transport drops the credentials when the
        redirect leaves the origin.
        """
        http = self._client.http_client
        if not isinstance(http, MediaTransport):
            raise GatewayError("the SDK's HTTP client cannot download media", status=None)
        url = media_wav_url(media_url)
        auth = (str(self._client.username), str(self._client.password))
        with twilio_call():
            status, body = http.download(url, {"RequestedChannels": str(channels)}, auth)
        if status != 200:
            raise GatewayError(f"media download answered HTTP {status}", status=status)
        if not body:
            raise GatewayError("media download returned an empty body", status=None)
        return body

    def download_media_into(self, media_url: str, channels: int, sink: MediaSink) -> int:
        """`download_media` streamed to `sink` over the same transport and credentials (a
        transport that cannot stream downloads the whole body, then hands it over in slices).
        What `sink` raises passes through as it is, unless it is a transport's kind of error.
        """
        http = self._client.http_client
        if not isinstance(http, StreamingMediaTransport):
            body = self.download_media(media_url, channels)
            view = memoryview(body)
            for at in range(0, len(body), _SLICE_BYTES):
                sink(view[at : at + _SLICE_BYTES])
            return len(body)
        given = 0

        def count(piece: memoryview) -> None:
            nonlocal given
            sink(piece)
            given += len(piece)

        url = media_wav_url(media_url)
        auth = (str(self._client.username), str(self._client.password))
        params = {"RequestedChannels": str(channels)}
        with twilio_call():
            status, _ = http.download_into(url, params, auth, count)
        if status != 200:
            raise GatewayError(f"media download answered HTTP {status}", status=status)
        if not given:
            raise GatewayError("media download returned an empty body", status=None)
        return given

    # -- calls and conferences ----------------------------------------------------------------
    def fetch_call(self, call_sid: str) -> CallInfo:
        """The leg's status, direction and parties."""
        with twilio_call():
            call = self._client.calls(call_sid).fetch()
        return call_info(call)

    def list_conferences(
        self, friendly_name: str, status: str | None = None
    ) -> list[ConferenceInfo]:
        """Conferences named `friendly_name` (newest first, as Twilio lists them)."""
        kwargs: dict[str, Any] = {"friendly_name": friendly_name, "limit": 20}
        if status:
            kwargs["status"] = status
        with twilio_call():
            rows = self._client.conferences.list(**kwargs)
        return [
            ConferenceInfo(
                sid=c.sid,
                friendly_name=text_or_none(c.friendly_name),
                status=text_or_none(c.status),
            )
            for c in rows
        ]

    def list_participants(self, conference_sid: str) -> list[ParticipantInfo]:
        """The legs in the conference now."""
        with twilio_call():
            rows = self._client.conferences(conference_sid).participants.list(limit=100)
        return [
            ParticipantInfo(
                call_sid=p.call_sid,
                conference_sid=conference_sid,
                label=text_or_none(p.label),
                status=text_or_none(p.status),
                hold=p.hold,
                muted=p.muted,
            )
            for p in rows
        ]

    # -- tasks --------------------------------------------------------------------------------
    def _task(self, task: Any, etag: str | None) -> TaskSnapshot:
        raw = task.attributes
        attributes: dict[str, Any] | None = None
        if raw is not None:  # null in a list: unknown, never "{}"
            try:
                parsed = loads_bounded(raw or "{}")
            except UnsafeJson as exc:
                if not isinstance(exc.__cause__, json.JSONDecodeError):
                    # Too deep or numbers no reader keeps: writing back what we could read
                    # would lose the rest, and asking again reads the same.
                    raise UnreadableTask(f"task {task.sid}: {exc}", status=None) from None
                parsed = {}
            attributes = parsed if isinstance(parsed, dict) else {}
        return TaskSnapshot(
            sid=task.sid,
            attributes=attributes,
            etag=etag,
            assignment_status=str(task.assignment_status) if task.assignment_status else None,
            queue_sid=task.task_queue_sid,
            queue_name=task.task_queue_friendly_name,
            workflow_sid=task.workflow_sid,
            workflow_name=task.workflow_friendly_name,
            channel=task.task_channel_unique_name,
        )

    def _tasks(self) -> Any:
        # The workspace's task list, made once (the SDK makes a workspace context per call).
        tasks = self._task_list
        if tasks is None:
            tasks = self._task_list = self._client.taskrouter.v1.workspaces(
                self._workspace_sid
            ).tasks
        return tasks

    def fetch_task(self, task_sid: str) -> TaskSnapshot:
        """Fetch the task and read its ETag from the response headers."""
        with twilio_call():
            response = self._tasks()(task_sid).fetch_with_http_info()
        headers = {k.lower(): v for k, v in (response.headers or {}).items()}
        return self._task(response.data, headers.get("etag"))

    def update_task_attributes(
        self, task_sid: str, attributes: dict[str, Any], etag: str | None
    ) -> TaskSnapshot:
        """POST the attributes with If-Match (412 becomes `PreconditionFailed`)."""
        kwargs: dict[str, Any] = {"attributes": json.dumps(attributes, separators=(",", ":"))}
        if etag:
            kwargs["if_match"] = etag
        with twilio_call():
            response = self._tasks()(task_sid).update_with_http_info(**kwargs)
        headers = {k.lower(): v for k, v in (response.headers or {}).items()}
        return self._task(response.data, headers.get("etag"))

    def list_tasks(self, assignment_statuses: Sequence[str]) -> list[TaskSnapshot]:
        """Live tasks (one list call per assignment status); attributes stay None."""
        out: list[TaskSnapshot] = []
        with twilio_call():
            for status in assignment_statuses:
                for task in self._tasks().list(assignment_status=[status], limit=1000):
                    try:
                        out.append(self._task(task, None))
                    except UnreadableTask as exc:
                        # One poisoned task must not hide every other live task from recovery.
                        log.warning("task skipped", task_sid=task.sid, reason=str(exc))
        return out

    def list_reservations(self, task_sid: str) -> list[ReservationInfo]:
        """The task's reservations, newest first as TaskRouter lists them."""
        with twilio_call():
            rows = self._tasks()(task_sid).reservations.list(limit=200)
        return [
            ReservationInfo(
                sid=r.sid,
                worker_sid=r.worker_sid,
                status=str(r.reservation_status),
                worker_name=r.worker_name,
            )
            for r in rows
        ]


def as_archive_gateway(client_or_gateway: Any) -> ArchiveGateway:
    """The gateway itself, or the gateway over an SDK client (the archive is built with one)."""
    if hasattr(client_or_gateway, "fetch_recording"):
        return cast(ArchiveGateway, client_or_gateway)
    account = str(getattr(client_or_gateway, "account_sid", "") or "")
    return SdkGateway(client_or_gateway, account, workspace_sid="")


def media_wav_url(media_url: str) -> str:
    """`{media_url}.wav` for a recording URL given with or without `.json`/`.wav`/`.mp3`."""
    base = media_url.split("?", 1)[0]
    for suffix in (".json", ".wav", ".mp3"):
        base = base.removesuffix(suffix)
    return base + ".wav"
