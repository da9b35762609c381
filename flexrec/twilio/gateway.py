"""The Twilio calls the recording service makes: small protocols and their SDK implementation.

Errors are normalised into `GatewayError` so callers decide retry/fail without importing the SDK:
`retryable` covers 429, 5xx, timeouts and connection errors; `code` carries Twilio's error code
(21220 = the call is not in a state that can be recorded).

The task ETag: the SDK's `TaskInstance` has no revision field, but `fetch_with_http_info()`
returns an `ApiResponse` whose `headers` hold the `ETag` of the fetched revision; `update(...,
if_match=etag)` sends it back as `If-Match`, and TaskRouter answers 412 when it moved on.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import requests
import structlog
import urllib3
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.rest import Client

from flexrec.safejson import UnsafeJson, loads_bounded

log = structlog.get_logger(__name__)

TERMINAL_CALL_STATUSES = frozenset({"completed", "busy", "failed", "no-answer", "canceled"})
CALL_NOT_RECORDABLE = 21220


class GatewayError(Exception):
    """A Twilio call that failed; `status` is the HTTP status (None: no response)."""

    def __init__(self, message: str, *, status: int | None = None, code: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code

    @property
    def retryable(self) -> bool:
        """True for rate limits, server errors, timeouts and lost connections."""
        return self.status is None or self.status == 429 or self.status >= 500


class PreconditionFailed(GatewayError):
    """The task changed since it was read (HTTP 412 on If-Match)."""


class UnreadableTask(GatewayError):
    """A task whose attributes cannot be read safely (nested past any real use): asking again
    gives the same answer, and writing back what we could read would lose what we could not."""

    @property
    def retryable(self) -> bool:
        """Never: the same task reads the same way next time."""
        return False


@dataclass(frozen=True)
class RecordingInfo:
    """A call recording as Twilio reports it."""

    sid: str
    call_sid: str
    status: str
    start_time_ms: int | None
    channels: int | None
    duration_s: int | None = None
    source: str | None = None
    track: str | None = None
    error_code: int | None = None
    conference_sid: str | None = None  # set on a conference recording (Flex's own)


@dataclass(frozen=True)
class CallInfo:
    """A call leg as Twilio reports it (fetch)."""

    sid: str
    status: str
    direction: str | None = None
    from_: str | None = None
    to: str | None = None
    parent_call_sid: str | None = None

    @property
    def ended(self) -> bool:
        """True when the leg can no longer be recorded."""
        return self.status in TERMINAL_CALL_STATUSES


@dataclass(frozen=True)
class TaskSnapshot:
    """One revision of a TaskRouter task."""

    sid: str
    attributes: dict[str, Any]
    etag: str | None
    assignment_status: str | None = None
    queue_sid: str | None = None
    queue_name: str | None = None
    workflow_sid: str | None = None
    workflow_name: str | None = None
    channel: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ReservationInfo:
    """A task's reservation as TaskRouter reports it."""

    sid: str
    worker_sid: str | None
    status: str  # pending|accepted|rejected|timeout|canceled|rescinded|wrapping|completed
    worker_name: str | None = None


@dataclass(frozen=True)
class ConferenceInfo:
    """A conference (Flex names the conference of a task after the task SID)."""

    sid: str
    friendly_name: str | None
    status: str | None  # init | in-progress | completed


@dataclass(frozen=True)
class ParticipantInfo:
    """A call leg in a conference; `label` is whatever the participant's creator set."""

    call_sid: str
    conference_sid: str
    label: str | None
    status: str | None
    hold: bool | None = None
    muted: bool | None = None


@dataclass(frozen=True)
class CreateRecordingRequest:
    """The parameters of a dual-channel call recording we start."""

    call_sid: str
    status_callback: str
    channels: str = "dual"
    track: str = "both"
    events: tuple[str, ...] = ("in-progress", "completed", "absent")
    trim: str = "do-not-trim"


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
        """The task's current revision, with its ETag."""
        ...

    def update_task_attributes(
        self, task_sid: str, attributes: dict[str, Any], etag: str | None
    ) -> TaskSnapshot:
        """Replace the attributes if the task is still at `etag` (else `PreconditionFailed`)."""
        ...

    def list_tasks(self, assignment_statuses: Sequence[str]) -> list[TaskSnapshot]:
        """Live tasks in the given assignment statuses."""
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


def recording_media_url(account_sid: str, recording_sid: str) -> str:
    """The api.twilio.com URL Flex Insights expects in a VoiceRecording entry."""
    return f"https://api.twilio.com/2010-04-01/Accounts/{account_sid}/Recordings/{recording_sid}"


def _ms(value: Any) -> int | None:
    if isinstance(value, datetime):
        return int(value.timestamp() * 1000)
    return None


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _non_negative(value: int | None) -> int | None:
    return value if value is not None and value >= 0 else None


def _translate(exc: Exception) -> GatewayError:
    if isinstance(exc, TwilioRestException):
        cls = PreconditionFailed if exc.status == 412 else GatewayError
        return cls(f"Twilio {exc.status} {exc.code}: {exc.msg}", status=exc.status, code=exc.code)
    response = exc.args[1] if isinstance(exc, TwilioException) and len(exc.args) > 1 else None
    status = getattr(response, "status_code", None)
    if isinstance(status, int):
        # List pages fail with TwilioException("Unable to fetch page", response).
        code: int | None = None
        try:
            body = json.loads(getattr(response, "text", "") or "{}")
            code = int(body["code"]) if isinstance(body, dict) and "code" in body else None
        except (ValueError, TypeError):
            code = None
        cls = PreconditionFailed if status == 412 else GatewayError
        return cls(f"Twilio {status} {code}: {exc.args[0]}", status=status, code=code)
    # Timeouts and lost connections have no response: they may or may not have taken effect.
    return GatewayError(f"{type(exc).__name__}: {exc}", status=None)


_TRANSLATED = (TwilioException, urllib3.exceptions.HTTPError, requests.RequestException, OSError)

# Public names of the one translation, for every consumer of Twilio outside this module.
TRANSLATED_ERRORS = _TRANSLATED
"""What a call through the SDK may raise; `translate_error` turns each into a `GatewayError`."""


def translate_error(exc: Exception) -> GatewayError:
    """The `GatewayError` for anything the SDK or its transport raised."""
    return exc if isinstance(exc, GatewayError) else _translate(exc)


class SdkGateway:
    """`RecordingGateway` and `TaskGateway` over the official SDK client (retries off)."""

    def __init__(self, client: Client, account_sid: str, workspace_sid: str) -> None:
        self._client = client
        self.account_sid = account_sid
        self._workspace_sid = workspace_sid

    def _recording(self, rec: Any) -> RecordingInfo:
        return RecordingInfo(
            sid=rec.sid,
            call_sid=rec.call_sid,
            status=str(rec.status),
            start_time_ms=_ms(rec.start_time),
            channels=_int_or_none(rec.channels),
            duration_s=_non_negative(_int_or_none(rec.duration)),  # -1 while recording
            source=str(rec.source) if rec.source else None,
            track=str(rec.track) if getattr(rec, "track", None) else None,
            error_code=_int_or_none(rec.error_code),
            conference_sid=getattr(rec, "conference_sid", None) or None,
        )

    def create_recording(self, request: CreateRecordingRequest) -> RecordingInfo:
        """Start a dual-channel recording with our status callback."""
        try:
            rec = self._client.calls(request.call_sid).recordings.create(
                recording_channels=request.channels,
                recording_track=request.track,
                recording_status_callback=request.status_callback,
                recording_status_callback_event=list(request.events),
                recording_status_callback_method="POST",
                trim=request.trim,
            )
        except _TRANSLATED as exc:
            raise _translate(exc) from exc
        return self._recording(rec)

    def list_recordings(self, call_sid: str) -> list[RecordingInfo]:
        """Every recording of the leg (a leg has few, so one page suffices)."""
        try:
            recs = self._client.calls(call_sid).recordings.list(limit=50)
        except _TRANSLATED as exc:
            raise _translate(exc) from exc
        return [self._recording(r) for r in recs]

    def update_recording(
        self, call_sid: str, recording_sid: str, status: str, pause_behavior: str | None = None
    ) -> RecordingInfo:
        """Change a recording's status (pause behaviour only applies to `paused`)."""
        kwargs: dict[str, Any] = {"status": status}
        if status == "paused" and pause_behavior:
            kwargs["pause_behavior"] = pause_behavior
        try:
            rec = self._client.calls(call_sid).recordings(recording_sid).update(**kwargs)
        except _TRANSLATED as exc:
            raise _translate(exc) from exc
        return self._recording(rec)

    def fetch_call(self, call_sid: str) -> CallInfo:
        """The leg's status."""
        try:
            call = self._client.calls(call_sid).fetch()
        except _TRANSLATED as exc:
            raise _translate(exc) from exc
        return CallInfo(
            sid=call_sid,
            status=str(call.status),
            direction=call.direction,
            from_=call._from,
            to=call.to,
            parent_call_sid=call.parent_call_sid,
        )

    def list_conferences(
        self, friendly_name: str, status: str | None = None
    ) -> list[ConferenceInfo]:
        """Conferences by FriendlyName (and Status), newest first as Twilio lists them."""
        kwargs: dict[str, Any] = {"friendly_name": friendly_name, "limit": 20}
        if status:
            kwargs["status"] = status
        try:
            rows = self._client.conferences.list(**kwargs)
        except _TRANSLATED as exc:
            raise _translate(exc) from exc
        return [
            ConferenceInfo(sid=c.sid, friendly_name=c.friendly_name, status=str(c.status))
            for c in rows
        ]

    def list_participants(self, conference_sid: str) -> list[ParticipantInfo]:
        """The conference's participants (a Flex conference has a handful: one page)."""
        try:
            rows = self._client.conferences(conference_sid).participants.list(limit=100)
        except _TRANSLATED as exc:
            raise _translate(exc) from exc
        return [
            ParticipantInfo(
                call_sid=p.call_sid,
                conference_sid=conference_sid,
                label=p.label or None,
                status=str(p.status) if p.status else None,
                hold=p.hold,
                muted=p.muted,
            )
            for p in rows
        ]

    def _task(self, task: Any, etag: str | None) -> TaskSnapshot:
        try:
            attributes = loads_bounded(task.attributes or "{}")
        except UnsafeJson as exc:
            if not isinstance(exc.__cause__, json.JSONDecodeError):
                # Too deep or numbers no reader keeps: writing back what we could read would
                # lose the rest, and asking again reads the same.
                raise UnreadableTask(f"task {task.sid}: {exc}", status=None) from None
            attributes = {}
        return TaskSnapshot(
            sid=task.sid,
            attributes=attributes if isinstance(attributes, dict) else {},
            etag=etag,
            assignment_status=str(task.assignment_status) if task.assignment_status else None,
            queue_sid=task.task_queue_sid,
            queue_name=task.task_queue_friendly_name,
            workflow_sid=task.workflow_sid,
            workflow_name=task.workflow_friendly_name,
            channel=task.task_channel_unique_name,
        )

    def _tasks(self) -> Any:
        return self._client.taskrouter.v1.workspaces(self._workspace_sid).tasks

    def fetch_task(self, task_sid: str) -> TaskSnapshot:
        """Fetch the task and read its ETag from the response headers."""
        try:
            response = self._tasks()(task_sid).fetch_with_http_info()
        except _TRANSLATED as exc:
            raise _translate(exc) from exc
        headers = {k.lower(): v for k, v in (response.headers or {}).items()}
        return self._task(response.data, headers.get("etag"))

    def update_task_attributes(
        self, task_sid: str, attributes: dict[str, Any], etag: str | None
    ) -> TaskSnapshot:
        """POST the attributes with If-Match (412 becomes `PreconditionFailed`)."""
        kwargs: dict[str, Any] = {"attributes": json.dumps(attributes, separators=(",", ":"))}
        if etag:
            kwargs["if_match"] = etag
        try:
            response = self._tasks()(task_sid).update_with_http_info(**kwargs)
        except _TRANSLATED as exc:
            raise _translate(exc) from exc
        headers = {k.lower(): v for k, v in (response.headers or {}).items()}
        return self._task(response.data, headers.get("etag"))

    def list_tasks(self, assignment_statuses: Sequence[str]) -> list[TaskSnapshot]:
        """Live tasks (one list call per assignment status)."""
        out: list[TaskSnapshot] = []
        try:
            for status in assignment_statuses:
                for task in self._tasks().list(assignment_status=[status], limit=1000):
                    try:
                        out.append(self._task(task, None))
                    except UnreadableTask as exc:
                        # One poisoned task must not hide every other live task from recovery.
                        log.warning("task skipped", task_sid=task.sid, reason=str(exc))
        except _TRANSLATED as exc:
            raise _translate(exc) from exc
        return out

    def list_reservations(self, task_sid: str) -> list[ReservationInfo]:
        """The task's reservations, newest first as TaskRouter lists them."""
        try:
            rows = self._tasks()(task_sid).reservations.list(limit=200)
        except _TRANSLATED as exc:
            raise _translate(exc) from exc
        return [
            ReservationInfo(
                sid=r.sid,
                worker_sid=r.worker_sid,
                status=str(r.reservation_status),
                worker_name=r.worker_name,
            )
            for r in rows
        ]
