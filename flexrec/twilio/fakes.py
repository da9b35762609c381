"""An in-memory Twilio for unit tests: call legs, recordings, tasks with revisions and faults.

Faults are queued per operation (`fail_next("create_recording", GatewayError(...))`);
`lose_response_next("create_recording")` performs the operation and then raises a timeout,
which is what a crash between Twilio's create and our commit looks like to the caller.
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
import threading
from collections import defaultdict, deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from flexrec.twilio.gateway import (
    CALL_NOT_RECORDABLE,
    CallInfo,
    ConferenceInfo,
    CreateRecordingRequest,
    GatewayError,
    ParticipantInfo,
    PreconditionFailed,
    RecordingInfo,
    ReservationInfo,
    TaskSnapshot,
)

FAKE_ACCOUNT_SID = "AC" + "0" * 31 + "1"


def fake_sid(prefix: str, number: int) -> str:
    """A well-formed SID with `number` in its hex part."""
    return f"{prefix}{number:032x}"


def timeout_error() -> GatewayError:
    """What a read timeout looks like after translation."""
    return GatewayError("ReadTimeout: timed out", status=None)


def rate_limited() -> GatewayError:
    """HTTP 429 Too Many Requests."""
    return GatewayError("Twilio 429 20429: Too Many Requests", status=429, code=20429)


def unavailable() -> GatewayError:
    """HTTP 503 Service Unavailable."""
    return GatewayError("Twilio 503: Service Unavailable", status=503)


def not_recordable() -> GatewayError:
    """Twilio's 21220: the call is not in a state that can be recorded."""
    return GatewayError(
        "Twilio 400 21220: Invalid call state", status=400, code=CALL_NOT_RECORDABLE
    )


@dataclass
class FakeRecording:
    """A recording held by the fake."""

    sid: str
    call_sid: str
    status: str
    start_time_ms: int
    channels: int
    source: str = "StartCallRecordingAPI"
    track: str = "both"
    conference_sid: str | None = None
    request: CreateRecordingRequest | None = None
    history: list[tuple[str, str | None]] = field(default_factory=list)

    def info(self) -> RecordingInfo:
        """The public view."""
        return RecordingInfo(
            sid=self.sid,
            call_sid=self.call_sid,
            status=self.status,
            start_time_ms=self.start_time_ms,
            channels=self.channels,
            source=self.source,
            track=self.track,
            conference_sid=self.conference_sid,
        )


@dataclass
class FakeTask:
    """A task held by the fake; `revision` is its ETag."""

    sid: str
    attributes: dict[str, Any]
    revision: int = 1
    assignment_status: str = "pending"
    queue_sid: str | None = None
    queue_name: str | None = None
    workflow_sid: str | None = None
    workflow_name: str | None = None
    channel: str = "voice"
    reservations: list[ReservationInfo] = field(default_factory=list)

    def snapshot(self) -> TaskSnapshot:
        """The public view (attributes deep-copied, as a JSON round trip would)."""
        return TaskSnapshot(
            sid=self.sid,
            attributes=copy.deepcopy(self.attributes),
            etag=f'"{self.revision}"',
            assignment_status=self.assignment_status,
            queue_sid=self.queue_sid,
            queue_name=self.queue_name,
            workflow_sid=self.workflow_sid,
            workflow_name=self.workflow_name,
            channel=self.channel,
        )


class FakeTwilio:
    """Implements `RecordingGateway` and `TaskGateway` in memory, thread-safe."""

    def __init__(self, account_sid: str = FAKE_ACCOUNT_SID, now_ms: int = 1_790_000_000_000):
        self.account_sid = account_sid
        self.now_ms = now_ms
        self.calls: dict[str, str] = {}
        self.recordings: dict[str, FakeRecording] = {}
        self.tasks: dict[str, FakeTask] = {}
        self.call_parties: dict[str, tuple[str | None, str | None]] = {}  # sid -> (from, to)
        self.conferences: dict[str, ConferenceInfo] = {}
        self.participants: dict[str, list[ParticipantInfo]] = {}
        self.requests: list[tuple[str, tuple[Any, ...]]] = []
        self._faults: dict[str, deque[GatewayError]] = defaultdict(deque)
        self._lose: dict[str, int] = defaultdict(int)
        self._ids = itertools.count(1)
        self._lock = threading.RLock()
        # Called with the task SID before each attribute update: simulates concurrent writers.
        self.before_task_update: Callable[[str], None] | None = None

    # -- test setup ---------------------------------------------------------------------------
    def add_call(self, call_sid: str, status: str = "in-progress") -> None:
        """Create or change a call leg."""
        with self._lock:
            self.calls[call_sid] = status
            if status in ("completed", "busy", "failed", "no-answer", "canceled"):
                for rec in self.recordings.values():
                    if rec.call_sid == call_sid and rec.status in ("in-progress", "paused"):
                        rec.status = "completed"

    def add_party(
        self, call_sid: str, from_: str | None, to: str | None, status: str = "in-progress"
    ) -> None:
        """Create a call leg with its numbers (a Flex agent leg goes `to` "client:...")."""
        with self._lock:
            self.call_parties[call_sid] = (from_, to)
        self.add_call(call_sid, status)

    def add_conference(
        self, conference_sid: str, friendly_name: str, status: str = "in-progress"
    ) -> None:
        """Create or change a conference."""
        with self._lock:
            self.conferences[conference_sid] = ConferenceInfo(conference_sid, friendly_name, status)
            self.participants.setdefault(conference_sid, [])

    def join(self, conference_sid: str, call_sid: str, label: str | None = None) -> None:
        """A leg joins a conference (with the label its creator gave, if any)."""
        with self._lock:
            self.participants[conference_sid].append(
                ParticipantInfo(call_sid, conference_sid, label, "connected")
            )

    def add_task(self, task_sid: str, attributes: dict[str, Any], **kwargs: Any) -> FakeTask:
        """Create a task."""
        with self._lock:
            task = FakeTask(task_sid, copy.deepcopy(attributes), **kwargs)
            self.tasks[task_sid] = task
            return task

    def add_reservation(self, task_sid: str, sid: str, worker_sid: str, status: str) -> None:
        """Record a reservation of a task (replacing one with the same SID)."""
        with self._lock:
            task = self.tasks[task_sid]
            task.reservations = [r for r in task.reservations if r.sid != sid]
            task.reservations.append(ReservationInfo(sid, worker_sid, status))

    def set_attributes(self, task_sid: str, attributes: dict[str, Any]) -> None:
        """Another writer (Flex, a plugin) replaces the attributes; the revision moves on."""
        with self._lock:
            task = self.tasks[task_sid]
            task.attributes = copy.deepcopy(attributes)
            task.revision += 1

    def start_external_recording(
        self,
        call_sid: str,
        source: str = "StudioRecording",
        channels: int = 2,
        conference_sid: str | None = None,
    ) -> str:
        """A recording started by someone else (Studio, a crashed earlier attempt, Flex's own
        conference recording when `conference_sid` is given)."""
        with self._lock:
            sid = fake_sid("RE", 0xE0000 + next(self._ids))
            self.recordings[sid] = FakeRecording(
                sid,
                call_sid,
                "in-progress",
                self.now_ms,
                channels,
                source,
                conference_sid=conference_sid,
            )
            return sid

    def fail_next(self, operation: str, *errors: GatewayError) -> None:
        """Make the next calls of `operation` raise these errors, in order."""
        with self._lock:
            self._faults[operation].extend(errors)

    def lose_response_next(self, operation: str) -> None:
        """Make the next `operation` take effect and then raise a timeout."""
        with self._lock:
            self._lose[operation] += 1

    def recordings_on(self, call_sid: str) -> list[FakeRecording]:
        """Every recording of a leg."""
        return [r for r in self.recordings.values() if r.call_sid == call_sid]

    def count(self, operation: str) -> int:
        """How many times an operation was called (including failed calls)."""
        return sum(1 for op, _ in self.requests if op == operation)

    # -- internals ----------------------------------------------------------------------------
    def _enter(self, operation: str, *args: Any) -> None:
        self.requests.append((operation, args))
        if self._faults[operation]:
            raise self._faults[operation].popleft()

    def _leave(self, operation: str) -> None:
        if self._lose[operation]:
            self._lose[operation] -= 1
            raise timeout_error()

    # -- RecordingGateway ---------------------------------------------------------------------
    def create_recording(self, request: CreateRecordingRequest) -> RecordingInfo:
        """Start a recording if the leg is in progress (else 21220, as Twilio does)."""
        with self._lock:
            self._enter("create_recording", request.call_sid)
            status = self.calls.get(request.call_sid)
            if status is None:
                raise GatewayError("Twilio 404 20404: not found", status=404, code=20404)
            if status != "in-progress":
                raise not_recordable()
            sid = fake_sid("RE", next(self._ids))
            rec = FakeRecording(
                sid,
                request.call_sid,
                "in-progress",
                self.now_ms,
                2 if request.channels == "dual" else 1,
                request=request,
            )
            self.recordings[sid] = rec
            self._leave("create_recording")
            return rec.info()

    def list_recordings(self, call_sid: str) -> list[RecordingInfo]:
        """Every recording of a leg."""
        with self._lock:
            self._enter("list_recordings", call_sid)
            return [r.info() for r in self.recordings_on(call_sid)]

    def update_recording(
        self, call_sid: str, recording_sid: str, status: str, pause_behavior: str | None = None
    ) -> RecordingInfo:
        """Pause/resume/stop; 21220 once the call is over."""
        with self._lock:
            self._enter("update_recording", call_sid, recording_sid, status, pause_behavior)
            rec = self.recordings.get(recording_sid)
            if rec is None or rec.call_sid != call_sid:
                raise GatewayError("Twilio 404 20404: not found", status=404, code=20404)
            if rec.status not in ("in-progress", "paused"):
                raise not_recordable()
            rec.status = status if status != "stopped" else "completed"
            rec.history.append((status, pause_behavior))
            self._leave("update_recording")
            return rec.info()

    def fetch_call(self, call_sid: str) -> CallInfo:
        """A leg's status."""
        with self._lock:
            self._enter("fetch_call", call_sid)
            status = self.calls.get(call_sid)
            if status is None:
                raise GatewayError("Twilio 404 20404: not found", status=404, code=20404)
            from_, to = self.call_parties.get(call_sid, (None, None))
            return CallInfo(call_sid, status, from_=from_, to=to)

    # -- LookupGateway ------------------------------------------------------------------------
    def list_conferences(
        self, friendly_name: str, status: str | None = None
    ) -> list[ConferenceInfo]:
        """Conferences by name (and status)."""
        with self._lock:
            self._enter("list_conferences", friendly_name, status)
            return [
                c
                for c in self.conferences.values()
                if c.friendly_name == friendly_name and (status is None or c.status == status)
            ]

    def list_participants(self, conference_sid: str) -> list[ParticipantInfo]:
        """A conference's participants."""
        with self._lock:
            self._enter("list_participants", conference_sid)
            return list(self.participants.get(conference_sid, []))

    # -- TaskGateway --------------------------------------------------------------------------
    def fetch_task(self, task_sid: str) -> TaskSnapshot:
        """The task's current revision."""
        with self._lock:
            self._enter("fetch_task", task_sid)
            task = self.tasks.get(task_sid)
            if task is None:
                raise GatewayError("Twilio 404 20404: not found", status=404, code=20404)
            return task.snapshot()

    def update_task_attributes(
        self, task_sid: str, attributes: dict[str, Any], etag: str | None
    ) -> TaskSnapshot:
        """Replace attributes if `etag` is current, else 412."""
        hook = self.before_task_update
        if hook is not None:
            hook(task_sid)
        with self._lock:
            self._enter("update_task_attributes", task_sid, etag)
            task = self.tasks.get(task_sid)
            if task is None:
                raise GatewayError("Twilio 404 20404: not found", status=404, code=20404)
            if etag is not None and etag != f'"{task.revision}"':
                raise PreconditionFailed("Twilio 412: revision mismatch", status=412)
            task.attributes = copy.deepcopy(attributes)
            task.revision += 1
            self._leave("update_task_attributes")
            return task.snapshot()

    def list_tasks(self, assignment_statuses: Sequence[str]) -> list[TaskSnapshot]:
        """Tasks in the given assignment statuses, with `attributes` None and no ETag, as
        Twilio's List Tasks answers (attributes are shown only on FETCH)."""
        with self._lock:
            self._enter("list_tasks", tuple(assignment_statuses))
            return [
                dataclasses.replace(t.snapshot(), attributes=None, etag=None)
                for t in self.tasks.values()
                if t.assignment_status in assignment_statuses
            ]

    def list_reservations(self, task_sid: str) -> list[ReservationInfo]:
        """A task's reservations."""
        with self._lock:
            self._enter("list_reservations", task_sid)
            task = self.tasks.get(task_sid)
            if task is None:
                raise GatewayError("Twilio 404 20404: not found", status=404, code=20404)
            return list(task.reservations)


class FakeCallLog:
    """`CallLogGateway` in memory: an account's call legs and recordings, listed in pages.

    Filters by whole UTC days as Twilio does (the days asked for, plus the day after the last,
    since the gateway asks `StartTime<` for the day after); `requests` counts pages served.
    """

    def __init__(self, account_sid: str = FAKE_ACCOUNT_SID, page_size: int = 1000) -> None:
        self.account_sid = account_sid
        self.page_size = page_size
        self.calls: list[CallInfo] = []
        self.recordings: list[RecordingInfo] = []
        self.requests = 0

    @staticmethod
    def _on_days(epoch_ms: int | None, first_day: date, last_day: date) -> bool:
        if epoch_ms is None:
            return False
        day = datetime.fromtimestamp(epoch_ms / 1000, UTC).date()
        return first_day <= day <= last_day + timedelta(days=1)

    def _pages(self, items: list[Any]) -> Iterator[list[Any]]:
        for i in range(0, max(len(items), 1), self.page_size):
            self.requests += 1
            yield items[i : i + self.page_size]

    def call_pages(self, first_day: date, last_day: date) -> Iterator[list[CallInfo]]:
        """Legs that started on those days, newest first."""
        found = [c for c in self.calls if self._on_days(c.start_time_ms, first_day, last_day)]
        return self._pages(sorted(found, key=lambda c: -(c.start_time_ms or 0)))

    def recording_pages(self, first_day: date, last_day: date) -> Iterator[list[RecordingInfo]]:
        """Recordings created on those days, newest first."""
        found = [r for r in self.recordings if self._on_days(r.start_time_ms, first_day, last_day)]
        return self._pages(sorted(found, key=lambda r: -(r.start_time_ms or 0)))
