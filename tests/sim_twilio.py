"""Twilio for flexrec's unit tests, played by flexsim in process (importable as `sim_twilio`).

The service under test talks to the real gateway (`SdkGateway`, the official SDK) and the SDK
talks to flexsim's app in this process (flexsim.testing, no socket), so every answer, list page,
ETag and error body is flexsim's, and every error goes through the gateway's own translation.
What a test arranges, it arranges in flexsim's world, under the SIDs the test chose; what it
counts and injects is what the service asked of the gateway:

- `count(op)` / `requests`: gateway operations, as the service called them (failed ones too);
  `http_requests`: every HTTP request flexsim received (a coverage listing's pages, too);
- `log_call` / `log_recording`: what Twilio's call log and recording list say of a leg or a
  recording (its times, numbers, status), for the coverage report to list;
- `fail_next(op, *errors)`: the next calls of `op` fail. An error with an HTTP status is served
  by flexsim's fault plan (Twilio's error body for that status); one without (a timeout) is the
  transport giving up before the request reached Twilio;
- `lose_response_next(op)`: flexsim does the work, then the answer is lost (a read timeout),
  which is what a crash between Twilio's create and our commit looks like to the caller;
- `before_task_update`: runs before each task attribute update (another writer racing us).
"""

from __future__ import annotations

import copy
import threading
from collections import defaultdict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import httpx
from twilio.rest import Client

from flexrec.twilio.gateway import (
    CALL_NOT_RECORDABLE,
    CallInfo,
    ConferenceInfo,
    CreateRecordingRequest,
    GatewayError,
    ParticipantInfo,
    RecordingInfo,
    ReservationInfo,
    SdkGateway,
    TaskSnapshot,
)
from flexsim import ApiFault, FaultPlan, World, create_sim_app, defaults
from flexsim.testing import AppTransport, RequestLog, SimHttpClient

ENDED_CALL_STATUSES = ("completed", "busy", "failed", "no-answer", "canceled")


def fake_sid(prefix: str, number: int) -> str:
    """A well-formed SID with `number` in its hex part (the SIDs a test chooses)."""
    return f"{prefix}{number:032x}"


def timeout_error() -> GatewayError:
    """A read timeout: no answer at all (for `fail_next`)."""
    return GatewayError("ReadTimeout: timed out", status=None)


def rate_limited() -> GatewayError:
    """HTTP 429 Too Many Requests (for `fail_next`)."""
    return GatewayError("Twilio 429 20429: Too Many Requests", status=429, code=20429)


def unavailable() -> GatewayError:
    """HTTP 503 Service Unavailable (for `fail_next`)."""
    return GatewayError("Twilio 503: Service Unavailable", status=503)


def not_recordable() -> GatewayError:
    """Twilio's 21220, the call is not in a state that can be recorded (for `fail_next`)."""
    return GatewayError(
        "Twilio 400 21220: Invalid call state", status=400, code=CALL_NOT_RECORDABLE
    )


class _TestClock:
    """flexsim's clock for a test: held still, moved only when the test sets `now_ms`."""

    def __init__(self, now_ms: int) -> None:
        self.scale = 0.0
        self.now_s = now_ms / 1000

    def now(self) -> float:
        return self.now_s

    def advance(self, seconds: float) -> None:
        self.now_s += seconds

    def real_seconds(self, sim_seconds: float) -> float:
        return 0.0


class _Wire(httpx.BaseTransport):
    """The SDK's transport into flexsim's app, which can give up on a request (a timeout)
    before sending it or after flexsim answered it."""

    def __init__(self, inner: AppTransport) -> None:
        self.inner = inner
        self.next: deque[str] = deque()  # "timeout" | "lose", for the next requests in order
        self.lock = threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        with self.lock:
            fate = self.next.popleft() if self.next else None
        if fate == "timeout":
            raise TimeoutError("timed out")  # what the service's transport raises (a socket's)
        answer = self.inner.handle_request(request)
        if fate == "lose":
            raise TimeoutError("timed out")  # what the service's transport raises (a socket's)
        return answer


@dataclass
class SimRecording:
    """A test's view of one recording in flexsim's world (read live)."""

    twilio: SimTwilio
    sid: str
    request: CreateRecordingRequest | None = None
    # Each update flexrec made and Twilio accepted: (status, pause behaviour).
    history: list[tuple[str, str | None]] = field(default_factory=list)

    @property
    def _world_recording(self) -> Any:
        return self.twilio.world.recordings[self.sid]

    @property
    def status(self) -> str:
        """The status Twilio's REST resource shows."""
        status = str(self._world_recording.status)
        return "absent" if status == "failed" else status

    @status.setter
    def status(self, value: str) -> None:
        """Twilio ends (or changes) the recording by itself."""
        recording = self._world_recording
        if value in ("absent", "failed") and recording.status in ("in-progress", "paused"):
            code = 16102 if value == "absent" else 16105
            self.twilio.world.finish_recording(recording, "stopped", no_media=(value, code))
        elif value == "completed" and recording.status in ("in-progress", "paused"):
            self.twilio.world.clock.advance(1)  # a second of media at least: Twilio keeps it
            self.twilio.world.finish_recording(recording, "stopped")
        else:
            recording.status = value

    @property
    def start_time_ms(self) -> int:
        return int(self._world_recording.start_time * 1000)

    @property
    def call_sid(self) -> str:
        return str(self._world_recording.call_sid)

    @property
    def channels(self) -> int:
        return int(self._world_recording.channels)

    @property
    def source(self) -> str:
        return str(self._world_recording.source)

    @property
    def conference_sid(self) -> str | None:
        return self._world_recording.conference_sid  # type: ignore[no-any-return]


@dataclass
class SimTask:
    """A test's view of one task in flexsim's world (read live)."""

    twilio: SimTwilio
    sid: str

    @property
    def attributes(self) -> dict[str, Any]:
        return self.twilio.world.tasks[self.sid].attributes  # type: ignore[no-any-return]

    @property
    def revision(self) -> int:
        return int(self.twilio.world.tasks[self.sid].revision)

    @property
    def assignment_status(self) -> str:
        return str(self.twilio.world.tasks[self.sid].assignment_status)

    @assignment_status.setter
    def assignment_status(self, value: str) -> None:
        task = self.twilio.world.tasks[self.sid]
        with self.twilio.world.lock:
            task.assignment_status = value
            task.revision += 1


class SimTwilio:
    """`RecordingGateway`, `TaskGateway` and `LookupGateway` over flexsim in process, with the
    test-facing helpers the recording tests use (arrange, count, inject faults)."""

    def __init__(self, account_sid: str = defaults.ACCOUNT_SID, now_ms: int = 1_790_000_000_000):
        self.account_sid = account_sid
        self.world = World(account_sid=account_sid)
        self.world.clock = _TestClock(now_ms)  # type: ignore[assignment]
        self.plan = FaultPlan()
        self.plan.set_request_hook(self._fault_for)
        self.request_log = RequestLog()  # every request flexsim answered
        app = create_sim_app(self.world, faults=self.plan, request_log=self.request_log)
        self._wire = _Wire(AppTransport(app))
        http = SimHttpClient(None, transport=self._wire)  # the app answers Twilio's hosts
        client = Client(account_sid, defaults.AUTH_TOKEN, http_client=http)
        self.gateway = SdkGateway(client, account_sid, self.world.workspace_sid)
        self._queue = self.world.add_queue("Sales")
        self._workflow = self.world.add_workflow("Anyone")
        self.requests: list[tuple[str, tuple[Any, ...]]] = []
        self._faults: dict[str, deque[GatewayError]] = defaultdict(deque)
        self._served: deque[ApiFault] = deque()
        self._lose: dict[str, int] = defaultdict(int)
        self._created: dict[str, SimRecording] = {}
        self._lock = threading.RLock()
        self.before_task_update: Callable[[str], None] | None = None

    # -- the clock ----------------------------------------------------------------------------
    @property
    def now_ms(self) -> int:
        return int(self.world.clock.now() * 1000)

    @now_ms.setter
    def now_ms(self, value: int) -> None:
        self.world.clock.now_s = value / 1000  # type: ignore[attr-defined]

    # -- arranging the world ------------------------------------------------------------------
    def _chosen(self, prefix: str, sid: str) -> None:
        assert sid.startswith(prefix), sid
        self.world.sids.choose(sid)

    def add_call(self, call_sid: str, status: str = "in-progress") -> None:
        """Create a call leg, or move an existing one to `status` (ending it ends its
        recordings, as Twilio does)."""
        self.add_party(call_sid, None, None, status)

    def add_party(
        self, call_sid: str, from_: str | None, to: str | None, status: str = "in-progress"
    ) -> None:
        """Create a call leg with its numbers (a Flex agent leg goes `to` "client:...")."""
        world = self.world
        with world.lock:
            call = world.calls.get(call_sid)
            if call is None:
                self._chosen("CA", call_sid)
                party = "worker" if (to or "").startswith("client:") else "customer"
                call = world.create_call(
                    from_=from_ or "", to=to or "", direction="inbound", party=party
                )
            if status in ENDED_CALL_STATUSES:
                # A second passes before the hang-up, so what was recorded holds media and
                # Twilio completes it (a recording under a second ends `absent`).
                world.clock.advance(1)
                if call.status in ("queued", "initiated") and status == "completed":
                    world.set_call_status(call, "in-progress")
            world.set_call_status(call, status)

    def add_conference(
        self, conference_sid: str, friendly_name: str, status: str = "in-progress"
    ) -> None:
        """Create a conference."""
        with self.world.lock:
            self._chosen("CF", conference_sid)
            # Flex names a task's conference after the task (FriendlyName = task SID)
            conference = self.world.create_conference(SimpleNamespace(sid=friendly_name), None)  # type: ignore[arg-type]
            conference.status = status

    def join(self, conference_sid: str, call_sid: str, label: str | None = None) -> None:
        """A leg joins a conference (with the label its creator gave, if any)."""
        world = self.world
        with world.lock:
            world.join_conference(world.conferences[conference_sid], world.calls[call_sid], label)

    def add_task(
        self,
        task_sid: str,
        attributes: dict[str, Any],
        assignment_status: str = "pending",
        **kwargs: Any,
    ) -> SimTask:
        """Create a task (in the Sales queue) in the given assignment status."""
        world = self.world
        with world.lock:
            self._chosen("WT", task_sid)
            task = world.create_task(copy.deepcopy(attributes), self._queue, self._workflow)
            task.assignment_status = assignment_status
        return SimTask(self, task_sid)

    def add_reservation(self, task_sid: str, sid: str, worker_sid: str, status: str) -> None:
        """A reservation of the task by a worker, in `status`."""
        world = self.world
        with world.lock:
            worker = world.workers.get(worker_sid)
            if worker is None:
                self._chosen("WK", worker_sid)
                worker = world.add_worker(f"agent-{worker_sid[-2:]}", {})
            reservation = world.reservations.get(sid)
            if reservation is None:
                self._chosen("WR", sid)
                task = world.tasks[task_sid]
                before = task.assignment_status
                reservation = world.create_reservation(task, worker)
                task.assignment_status = before
            reservation.status = status

    def set_attributes(self, task_sid: str, attributes: dict[str, Any]) -> None:
        """Another writer (Flex, a plugin) replaces the attributes; the revision moves on."""
        world = self.world
        world.update_task_attributes(world.tasks[task_sid], copy.deepcopy(attributes))

    def start_external_recording(
        self,
        call_sid: str,
        source: str = "StudioRecording",
        channels: int = 2,
        conference_sid: str | None = None,
    ) -> str:
        """A recording started by someone else (Studio, a crashed earlier attempt, Flex's own
        conference recording when `conference_sid` is given)."""
        world = self.world
        with world.lock:
            recording = world.start_recording(
                world.calls[call_sid], channels=channels, source=source
            )
            recording.conference_sid = conference_sid
            return str(recording.sid)

    def log_call(
        self,
        call_sid: str,
        *,
        start_ms: int,
        end_ms: int | None,
        status: str = "completed",
        from_: str = "",
        to: str = "",
        direction: str = "inbound",
    ) -> None:
        """What Twilio's call log holds of a leg: its numbers, times and status (a leg the
        service never saw is created)."""
        world = self.world
        with world.lock:
            call = world.calls.get(call_sid)
            if call is None:
                self._chosen("CA", call_sid)
                party = "worker" if to.startswith("client:") else "customer"
                call = world.create_call(from_=from_, to=to, direction=direction, party=party)
            call.from_, call.to, call.direction, call.status = from_, to, direction, status
            call.start_time = call.date_created = start_ms / 1000
            call.end_time = None if end_ms is None else end_ms / 1000

    def log_recording(
        self,
        recording_sid: str,
        *,
        start_ms: int,
        duration_s: int,
        status: str = "completed",
        error_code: int | None = None,
    ) -> None:
        """What Twilio's recording list holds of a recording: its start, length (no skipped
        pause), status and error code."""
        with self.world.lock:
            recording = self.world.recordings[recording_sid]
            recording.start_time = recording.date_created = start_ms / 1000
            recording.end_time = (start_ms / 1000) + duration_s
            recording.pauses = []
            recording.status, recording.error_code = status, error_code

    @property
    def tasks(self) -> dict[str, SimTask]:
        """Tasks by SID (live views)."""
        return {sid: SimTask(self, sid) for sid in self.world.tasks}

    @property
    def recordings(self) -> dict[str, SimRecording]:
        """Every recording by SID (live views)."""
        return {sid: self._recording(sid) for sid in self.world.recordings}

    def _recording(self, sid: str) -> SimRecording:
        return self._created.get(sid) or SimRecording(self, sid)

    def recordings_on(self, call_sid: str) -> list[SimRecording]:
        """Every recording of a leg, oldest first."""
        call = self.world.calls.get(call_sid)
        return [self._recording(sid) for sid in call.recordings] if call else []

    # -- faults and counts --------------------------------------------------------------------
    def fail_next(self, operation: str, *errors: GatewayError) -> None:
        """Make the next calls of `operation` fail with these errors, in order."""
        with self._lock:
            self._faults[operation].extend(errors)

    def lose_response_next(self, operation: str) -> None:
        """Make the next `operation` take effect at flexsim, then lose its answer."""
        with self._lock:
            self._lose[operation] += 1

    @property
    def http_requests(self) -> list[tuple[str, str]]:
        """(method, path) of every HTTP request flexsim answered, in order (list pages too)."""
        return [(entry.method, entry.path) for entry in self.request_log.entries()]

    def count(self, operation: str) -> int:
        """How many times the service called an operation (failed calls included)."""
        return sum(1 for op, _ in self.requests if op == operation)

    def _fault_for(self, _method: str, _path: str) -> ApiFault | None:
        with self._lock:
            return self._served.popleft() if self._served else None

    def _call(self, operation: str, args: tuple[Any, ...], work: Callable[[], Any]) -> Any:
        with self._lock:
            self.requests.append((operation, args))
            error = self._faults[operation].popleft() if self._faults[operation] else None
            lose = self._lose[operation] > 0 and error is None
            if lose:
                self._lose[operation] -= 1
            if error is not None and error.status is None:
                self._wire.next.append("timeout")
            elif error is not None:
                self._served.append(ApiFault(error.status, 0.0, "error", error.code))
            elif lose:
                self._wire.next.append("lose")
        return work()

    # -- the gateway, as the service calls it --------------------------------------------------
    def create_recording(self, request: CreateRecordingRequest) -> RecordingInfo:
        """Start a recording (flexsim answers 21220 for a leg that is not in progress)."""
        before = set(self.world.recordings)
        try:
            info = self._call(
                "create_recording",
                (request.call_sid,),
                lambda: self.gateway.create_recording(request),
            )
        finally:
            for sid in set(self.world.recordings) - before:
                self._created[sid] = SimRecording(self, sid, request=request)
        return info  # type: ignore[no-any-return]

    def list_recordings(self, call_sid: str) -> list[RecordingInfo]:
        """Every recording of a leg."""
        return self._call(  # type: ignore[no-any-return]
            "list_recordings", (call_sid,), lambda: self.gateway.list_recordings(call_sid)
        )

    def update_recording(
        self, call_sid: str, recording_sid: str, status: str, pause_behavior: str | None = None
    ) -> RecordingInfo:
        """Pause, resume or stop a recording."""
        info = self._call(
            "update_recording",
            (call_sid, recording_sid, status, pause_behavior),
            lambda: self.gateway.update_recording(call_sid, recording_sid, status, pause_behavior),
        )
        recording = self._created.setdefault(recording_sid, SimRecording(self, recording_sid))
        recording.history.append((status, pause_behavior))
        return info  # type: ignore[no-any-return]

    def fetch_call(self, call_sid: str) -> CallInfo:
        """A leg's status."""
        return self._call(  # type: ignore[no-any-return]
            "fetch_call", (call_sid,), lambda: self.gateway.fetch_call(call_sid)
        )

    def list_conferences(
        self, friendly_name: str, status: str | None = None
    ) -> list[ConferenceInfo]:
        """Conferences by name (and status)."""
        return self._call(  # type: ignore[no-any-return]
            "list_conferences",
            (friendly_name, status),
            lambda: self.gateway.list_conferences(friendly_name, status),
        )

    def list_participants(self, conference_sid: str) -> list[ParticipantInfo]:
        """A conference's participants."""
        return self._call(  # type: ignore[no-any-return]
            "list_participants",
            (conference_sid,),
            lambda: self.gateway.list_participants(conference_sid),
        )

    def fetch_task(self, task_sid: str) -> TaskSnapshot:
        """The task's current revision."""
        return self._call(  # type: ignore[no-any-return]
            "fetch_task", (task_sid,), lambda: self.gateway.fetch_task(task_sid)
        )

    def update_task_attributes(
        self, task_sid: str, attributes: dict[str, Any], etag: str | None
    ) -> TaskSnapshot:
        """Replace attributes if `etag` is current (else flexsim answers 412)."""
        hook = self.before_task_update
        if hook is not None:
            hook(task_sid)
        return self._call(  # type: ignore[no-any-return]
            "update_task_attributes",
            (task_sid, etag),
            lambda: self.gateway.update_task_attributes(task_sid, attributes, etag),
        )

    def list_tasks(self, assignment_statuses: Sequence[str]) -> list[TaskSnapshot]:
        """Tasks in the given assignment statuses (attributes null, as Twilio lists them)."""
        return self._call(  # type: ignore[no-any-return]
            "list_tasks",
            (tuple(assignment_statuses),),
            lambda: self.gateway.list_tasks(assignment_statuses),
        )

    def list_reservations(self, task_sid: str) -> list[ReservationInfo]:
        """A task's reservations."""
        return self._call(  # type: ignore[no-any-return]
            "list_reservations", (task_sid,), lambda: self.gateway.list_reservations(task_sid)
        )
