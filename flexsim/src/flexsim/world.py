"""The simulated Twilio account: every resource the simulator serves, and the events it emits.

The world is plain data (flexsim.resources, re-exported here) plus the state transitions
Twilio performs. It knows nothing of HTTP:
the REST layer (`flexsim.api`) reads and updates it, the engine (`flexsim.engine`)
drives calls through it, and every change that Twilio would report by webhook is published as
an event to the subscribers (`flexsim.webhooks` turns them into signed requests).

Call status machine (Voice):   queued → ringing → in-progress → completed
                                          ↘ busy | no-answer | failed | canceled
Recording status machine:       in-progress ⇄ paused → stopped → completed | absent | failed
Task assignment status:         pending → reserved → assigned → wrapping → completed
                                       ↘ canceled
"""

from __future__ import annotations

import hashlib
import itertools
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

from flexsim import defaults
from flexsim.resources import (
    DEFAULT_ACTIVITIES,
    EARLY_END_REASONS,
    NO_MEDIA_STATUSES,
    TERMINAL_CALL_STATUSES,
    Call,
    Conference,
    EndReason,
    Participant,
    Party,
    PauseSpan,
    Queue,
    Recording,
    Reservation,
    Scheduler,
    SidFactory,
    SimClock,
    Task,
    Worker,
    Workflow,
    WorldEvent,
)
from flexsim.timeline import Timeline

if TYPE_CHECKING:
    from flexsim.callees import Callee

__all__ = [
    "DEFAULT_ACTIVITIES",
    "EARLY_END_REASONS",
    "NO_MEDIA_STATUSES",
    "TERMINAL_CALL_STATUSES",
    "Call",
    "Conference",
    "EndReason",
    "Participant",
    "Party",
    "PauseSpan",
    "Queue",
    "Recording",
    "Reservation",
    "Scheduler",
    "SidFactory",
    "SimClock",
    "Task",
    "Worker",
    "Workflow",
    "World",
    "WorldEvent",
]


class World:
    """All simulated resources of one account, guarded by one lock for the REST threads."""

    def __init__(
        self,
        clock: SimClock | None = None,
        seed: int = 0,
        account_sid: str = defaults.ACCOUNT_SID,
        workspace_sid: str = defaults.WORKSPACE_SID,
        sid_salt: int = 0,
    ) -> None:
        self.clock = clock or SimClock()
        self.seed = seed
        # 0: the same SIDs for the same seed (tests building a world); SimRunner salts per run
        self.sid_salt = sid_salt
        self.sids = SidFactory(seed, sid_salt)
        self.account_sid = account_sid
        self.workspace_sid = workspace_sid
        self.workspace_name = "Flex Task Assignment"
        self.event_callback_url: str | None = None
        self.events_filter: str | None = None  # workspace EventsFilter (comma-separated types)
        # Event Streams: sinks {"sid", "destination", "sink_type", ...} and subscriptions
        # {"sid", "sink_sid", "types": [{"type", "schema_version"}], ...} made over REST.
        self.event_stream_sinks: list[dict[str, Any]] = []
        self.event_subscriptions: list[dict[str, Any]] = []
        self.lock = threading.RLock()
        self.calls: dict[str, Call] = {}
        self.recordings: dict[str, Recording] = {}
        self.conferences: dict[str, Conference] = {}
        self.tasks: dict[str, Task] = {}
        self.workers: dict[str, Worker] = {}
        self.reservations: dict[str, Reservation] = {}
        self.queues: dict[str, Queue] = {}
        self.workflows: dict[str, Workflow] = {}
        # Activities by name -> whether a worker in it is available (a Flex workspace's four)
        self.activities: dict[str, bool] = dict(DEFAULT_ACTIVITIES)
        self.flex_configuration: dict[str, Any] = {"call_recording_enabled": False}
        # What a second recording start on an already-recorded call does: "create" a second
        # recording (the strict default: duplicates stay visible) or "reuse" the running one.
        self.second_recording: str = "create"
        # What List Tasks shows as `attributes`: "null" as the spec says, or "attributes"
        self.list_task_attributes: str = "null"
        # Runs lifecycles that take time (a REST-made call ringing); None leaves them still.
        self.scheduler: Scheduler | None = None
        # What the far end of a REST-made call does, by number (flexsim.callees)
        self.callees: dict[str, Callee] = {}
        # Conversation timelines by interaction id (see flexsim.timeline); written by the
        # engine, read by the audio renderer and the ground-truth endpoints.
        self.timelines: dict[str, Timeline] = {}
        self._subscribers: list[Callable[[WorldEvent], None]] = []
        self._seq = itertools.count(1)

    # -- events ---------------------------------------------------------------------------
    def subscribe(self, callback: Callable[[WorldEvent], None]) -> None:
        """Register a callback for every event (called with the world lock held: keep it quick)."""
        self._subscribers.append(callback)

    def emit(self, kind: str, name: str, **data: Any) -> None:
        """Publish an event to every subscriber."""
        event = WorldEvent(kind=kind, name=name, at=self.clock.now(), data=data)
        for callback in self._subscribers:
            callback(event)

    # -- topology ---------------------------------------------------------------------------
    def activity_sid(self, name: str) -> str:
        """The SID of the activity called `name` (derived from the workspace and the name)."""
        digest = hashlib.md5(f"{self.workspace_sid}/{name}".encode(), usedforsecurity=False)
        return "WA" + digest.hexdigest()

    def add_queue(self, name: str, **settings: Any) -> Queue:
        """Create a TaskQueue (`settings`: Queue fields such as `target_workers`)."""
        queue = Queue(self.sids.new("WQ"), name, date_created=self.clock.now(), **settings)
        self.queues[queue.sid] = queue
        return queue

    def add_workflow(self, name: str, **settings: Any) -> Workflow:
        """Create a Workflow (`settings`: Workflow fields such as `configuration`)."""
        workflow = Workflow(self.sids.new("WW"), name, date_created=self.clock.now(), **settings)
        self.workflows[workflow.sid] = workflow
        return workflow

    def add_worker(
        self, name: str, attributes: dict[str, Any], roles: tuple[str, ...] = ("agent",)
    ) -> Worker:
        """Create an agent."""
        now = self.clock.now()
        worker = Worker(
            self.sids.new("WK"),
            name,
            attributes,
            activity_sid=self.activity_sid("Available"),
            date_created=now,
            date_updated=now,
            roles=roles,
        )
        self.workers[worker.sid] = worker
        return worker

    # -- calls ------------------------------------------------------------------------------
    def create_call(
        self,
        *,
        from_: str,
        to: str,
        direction: str,
        party: Party,
        interaction_id: str | None = None,
        parent_call_sid: str | None = None,
        worker_sid: str | None = None,
        status_callback: str | None = None,
        status_callback_method: str = "POST",
        status_callback_statuses: frozenset[str] | None = None,
    ) -> Call:
        """Create a call leg in status `queued`."""
        with self.lock:
            now = self.clock.now()
            call = Call(
                sid=self.sids.new("CA"),
                from_=from_,
                to=to,
                direction=direction,
                party=party,
                interaction_id=interaction_id,
                parent_call_sid=parent_call_sid,
                worker_sid=worker_sid,
                status_callback=status_callback,
                status_callback_method=status_callback_method,
                status_callback_statuses=status_callback_statuses,
                date_created=now,
                date_updated=now,
                ordinal=len(self.calls),
            )
            self.calls[call.sid] = call
            return call

    def set_call_status(self, call: Call, status: str) -> None:
        """Move a leg to `status`; ending a leg ends its recordings and leaves its conference."""
        with self.lock:
            if call.status in TERMINAL_CALL_STATUSES or call.status == status:
                return
            now = self.clock.now()
            call.status = status
            call.date_updated = now
            if status == "in-progress":
                call.start_time = now
            if status in TERMINAL_CALL_STATUSES:
                call.end_time = now
                for rec_sid in call.recordings:
                    recording = self.recordings[rec_sid]
                    # a conference recording lasts as long as its conference, not the leg
                    if recording.status in ("in-progress", "paused") and not (
                        recording.conference_sid
                    ):
                        self.finish_recording(recording, "call-ended")
                if call.conference_sid:
                    self.leave_conference(
                        self.conferences[call.conference_sid], call, "participant_hung_up"
                    )
            self.emit("call-status", status, call=call)

    # -- recordings -------------------------------------------------------------------------
    def start_recording(
        self,
        call: Call,
        *,
        channels: int = 1,
        track: str = "both",
        source: str = "StartCallRecordingAPI",
        trim: str = "do-not-trim",
        status_callback: str | None = None,
        status_callback_method: str = "POST",
        status_callback_events: tuple[str, ...] = ("completed",),
        origin: Literal["api", "account"] = "account",
    ) -> Recording:
        """Start a recording on an in-progress leg (callers check the status: 21220); `origin`
        "api" for one a client asked for over REST."""
        with self.lock:
            now = self.clock.now()
            recording = Recording(
                sid=self.sids.new("RE"),
                call_sid=call.sid,
                channels=channels,
                track=track,
                source=source,
                start_time=now,
                trim=trim,
                status_callback=status_callback,
                status_callback_method=status_callback_method,
                status_callback_events=status_callback_events,
                date_created=now,
                date_updated=now,
                origin=origin,
            )
            self.recordings[recording.sid] = recording
            call.recordings.append(recording.sid)
            self.emit("recording-status", "in-progress", recording=recording, call=call)
            return recording

    def pause_recording(self, recording: Recording, behavior: Literal["skip", "silence"]) -> None:
        """Pause an in-progress recording (a no-op when already paused)."""
        with self.lock:
            if recording.status != "in-progress":
                return
            now = self.clock.now()
            recording.status = "paused"
            recording.pauses.append(PauseSpan(now, None, behavior))
            recording.date_updated = now

    def resume_recording(self, recording: Recording) -> None:
        """Resume a paused recording (a no-op when not paused)."""
        with self.lock:
            if recording.status != "paused":
                return
            now = self.clock.now()
            recording.status = "in-progress"
            recording.pauses[-1].end = now
            recording.date_updated = now

    def finish_recording(
        self,
        recording: Recording,
        reason: EndReason = "stopped",
        *,
        no_media: tuple[Literal["absent", "failed"], int] | None = None,
    ) -> None:
        """Stop a recording and complete it (or mark it absent when it holds no audio);
        `no_media` forces an outcome without media: (status, error code)."""
        with self.lock:
            if recording.status not in ("in-progress", "paused"):
                return
            now = self.clock.now()
            if recording.pauses and recording.pauses[-1].end is None:
                recording.pauses[-1].end = now
            recording.end_time = now
            recording.date_updated = now
            recording.end_reason = reason
            if no_media is not None:
                recording.status, recording.error_code = no_media
            elif (recording.duration_s or 0) < 1:
                recording.status = "absent"
                recording.error_code = 16101  # too short
            else:
                recording.status = "completed"
            call = self.calls[recording.call_sid]
            self.emit("recording-status", recording.status, recording=recording, call=call)

    def delete_recording(self, recording: Recording) -> None:
        """Delete a recording (stopping it first when it is still running)."""
        with self.lock:
            self.finish_recording(recording, "deleted")
            recording.deleted = True
            recording.date_updated = self.clock.now()

    # -- conferences ------------------------------------------------------------------------
    def create_conference(
        self, task: Task, status_callback: str | None, record_channels: int = 0
    ) -> Conference:
        """Create the Flex conference of a task (FriendlyName = the task SID, as Flex names it:
        flex-project-template `common/twilio-wrappers/conference-participant.private.js`
        `fetchByTask` lists a task's conferences by `friendlyName: taskSid`)."""
        with self.lock:
            now = self.clock.now()
            conference = Conference(
                self.sids.new("CF"),
                friendly_name=task.sid,
                status_callback=status_callback,
                date_created=now,
                date_updated=now,
                record_channels=record_channels,
            )
            self.conferences[conference.sid] = conference
            return conference

    def join_conference(self, conference: Conference, call: Call, label: str | None) -> Participant:
        """Add a connected leg to a conference (starting the conference on the first join)."""
        with self.lock:
            now = self.clock.now()
            participant = Participant(call.sid, label, date_created=now, date_updated=now)
            conference.participants[call.sid] = participant
            call.conference_sid = conference.sid
            if conference.status == "init":
                conference.status = "in-progress"
                conference.date_updated = now
                self.emit("conference", "conference-start", conference=conference)
                if conference.record_channels:
                    self._start_conference_recording(conference, call)
            self.emit(
                "conference", "participant-join", conference=conference, participant=participant
            )
            return participant

    def _start_conference_recording(self, conference: Conference, first: Call) -> None:
        """Flex's "Call Recording": the conference is recorded from its start (conference
        options `conferenceRecord`, flex-project-template conditional-recording); channel 1 is
        the first participant to join (Twilio changelog 2025-09-15). Its status callbacks go to
        Flex, never to a client's URL."""
        now = self.clock.now()
        recording = Recording(
            sid=self.sids.new("RE"),
            call_sid=first.sid,
            channels=conference.record_channels,
            track="both",
            source="Conference",
            start_time=now,
            conference_sid=conference.sid,
            date_created=now,
            date_updated=now,
        )
        self.recordings[recording.sid] = recording
        first.recordings.append(recording.sid)
        conference.recording_sid = recording.sid

    def _end_conference_recording(self, conference: Conference) -> None:
        recording = self.recordings.get(conference.recording_sid or "")
        if recording is not None:
            self.finish_recording(recording, "conference-ended")

    def leave_conference(self, conference: Conference, call: Call, reason: str) -> None:
        """Remove a leg; the conference ends when nobody is left."""
        with self.lock:
            participant = conference.participants.get(call.sid)
            if participant is None or participant.status != "connected":
                return
            now = self.clock.now()
            participant.status = "completed"
            participant.date_updated = now
            self.emit(
                "conference",
                "participant-leave",
                conference=conference,
                participant=participant,
                reason=reason,
                call_status=call.status,
            )
            if not any(p.status == "connected" for p in conference.participants.values()):
                conference.status = "completed"
                conference.date_updated = now
                conference.reason_ended = "last-participant-left"
                conference.call_sid_ending = call.sid
                self._end_conference_recording(conference)
                self.emit("conference", "conference-end", conference=conference)

    def set_hold(self, conference: Conference, call_sid: str, hold: bool) -> None:
        """Hold or unhold a participant."""
        self._set_participant_flag(conference, call_sid, "hold", hold, "participant-hold",
                                   "participant-unhold")  # fmt: skip

    def set_muted(self, conference: Conference, call_sid: str, muted: bool) -> None:
        """Mute or unmute a participant."""
        self._set_participant_flag(conference, call_sid, "muted", muted, "participant-mute",
                                   "participant-unmute")  # fmt: skip

    def _set_participant_flag(
        self,
        conference: Conference,
        call_sid: str,
        flag: Literal["hold", "muted"],
        value: bool,
        on_event: str,
        off_event: str,
    ) -> None:
        with self.lock:
            participant = conference.participants[call_sid]
            if getattr(participant, flag) == value:
                return
            setattr(participant, flag, value)
            participant.date_updated = self.clock.now()
            self.emit(
                "conference",
                on_event if value else off_event,
                conference=conference,
                participant=participant,
            )

    def end_conference(self, conference: Conference) -> None:
        """End a conference over the API: everyone leaves, then every leg hangs up."""
        with self.lock:
            if conference.status == "completed":
                return
            now = self.clock.now()
            connected = [p for p in conference.participants.values() if p.status == "connected"]
            for participant in connected:
                participant.status = "completed"
                participant.date_updated = now
                self.emit(
                    "conference",
                    "participant-leave",
                    conference=conference,
                    participant=participant,
                    reason="conference_ended_via_api",
                    call_status=self.calls[participant.call_sid].status,
                )
            conference.status = "completed"
            conference.date_updated = now
            conference.reason_ended = "conference-ended-via-api"
            self._end_conference_recording(conference)
            self.emit("conference", "conference-end", conference=conference)
            for participant in connected:
                self.set_call_status(self.calls[participant.call_sid], "completed")

    # -- tasks ------------------------------------------------------------------------------
    def create_task(
        self, attributes: dict[str, Any], queue: Queue, workflow: Workflow, channel: str = "voice"
    ) -> Task:
        """Create a pending task and announce it."""
        with self.lock:
            now = self.clock.now()
            task = Task(
                self.sids.new("WT"),
                attributes=attributes,
                queue_sid=queue.sid,
                workflow_sid=workflow.sid,
                channel=channel,
                date_created=now,
                date_updated=now,
                ordinal=len(self.tasks),
            )
            self.tasks[task.sid] = task
            self.emit("taskrouter", "task.created", task=task)
            self.emit("taskrouter", "task-queue.entered", task=task)
            return task

    def update_task_attributes(self, task: Task, attributes: dict[str, Any]) -> None:
        """Replace a task's attributes (a new revision) and announce `task.updated` (the
        event carries the attributes it replaced, for subscribers that compare)."""
        with self.lock:
            previous = task.attributes
            task.attributes = attributes
            task.revision += 1
            task.date_updated = self.clock.now()
            self.emit("taskrouter", "task.updated", task=task, previous_attributes=previous)

    def set_task_status(self, task: Task, status: str, reason: str | None = None) -> None:
        """Move a task's assignment status and announce the matching event."""
        with self.lock:
            if task.assignment_status == status:
                return
            task.assignment_status = status
            task.reason = reason or task.reason
            task.revision += 1
            task.date_updated = self.clock.now()
            event = {"wrapping": "task.wrapup"}.get(status, f"task.{status}")
            if status in ("wrapping", "completed", "canceled"):
                self.emit("taskrouter", event, task=task)

    def create_reservation(self, task: Task, worker: Worker) -> Reservation:
        """Reserve a task for a worker."""
        with self.lock:
            now = self.clock.now()
            reservation = Reservation(
                self.sids.new("WR"), task.sid, worker.sid, date_created=now, date_updated=now
            )
            self.reservations[reservation.sid] = reservation
            task.reservations.append(reservation.sid)
            if task.assignment_status == "pending":
                task.assignment_status = "reserved"
                task.revision += 1
            self.emit(
                "taskrouter",
                "reservation.created",
                task=task,
                reservation=reservation,
                worker=worker,
            )
            return reservation

    def set_worker_activity(self, worker: Worker, activity_name: str) -> None:
        """Change an agent's activity and announce `worker.activity.update` (TaskRouter Events
        reference, Worker: sent with the previous activity and the time spent in it)."""
        with self.lock:
            if worker.activity_name == activity_name:
                return
            now = self.clock.now()
            previous = {
                "sid": worker.activity_sid,
                "name": worker.activity_name,
                "seconds": max(0.0, now - worker.date_updated),
            }
            worker.activity_name = activity_name
            worker.activity_sid = self.activity_sid(activity_name)
            worker.version += 1
            worker.date_updated = now
            self.emit("taskrouter", "worker.activity.update", worker=worker, previous=previous)

    def update_worker_attributes(self, worker: Worker, attributes: dict[str, Any]) -> None:
        """Replace a worker's attributes and announce `worker.attributes.update`."""
        with self.lock:
            worker.attributes = attributes
            worker.version += 1
            worker.date_updated = self.clock.now()
            self.emit("taskrouter", "worker.attributes.update", worker=worker)

    def set_reservation_status(self, reservation: Reservation, status: str) -> None:
        """Move a reservation (`accepted`, `wrapup`, `completed`, `canceled`, ...)."""
        with self.lock:
            if reservation.status == status:
                return
            reservation.status = status
            reservation.date_updated = self.clock.now()
            task = self.tasks[reservation.task_sid]
            worker = self.workers[reservation.worker_sid]
            if status == "accepted" and task.assignment_status in ("pending", "reserved"):
                task.assignment_status = "assigned"
                task.revision += 1
            self.emit(
                "taskrouter",
                f"reservation.{status}",
                task=task,
                reservation=reservation,
                worker=worker,
            )
            if status in ("accepted", "completed"):
                # The voice channel's capacity is taken on accept and given back on completion:
                # `worker.channel.availability.update` (TaskRouter Events reference, Worker).
                busy = status == "accepted"
                channel = {"task_channel": task.channel, "available": not busy, "tasks": int(busy)}
                self.emit(
                    "taskrouter",
                    "worker.channel.availability.update",
                    worker=worker,
                    channel=channel,
                )
