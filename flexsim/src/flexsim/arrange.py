"""Arranging a world by hand: the control API for tests (`SimRunner.arrange`, `POST /_sim/...`).

A test that wants one precise situation (an answered call in a conference, a task in wrapping
with given attributes, a recording already running) builds it here instead of waiting for the
engine's traffic to produce it. Every step goes through the world's own transitions, so Twilio's
events and callbacks follow as they would (`task.created`, a reservation's `accepted`, a call's
status callback), and the REST API then shows exactly what was arranged. Each method returns a
frozen snapshot (flexsim.views); a bad request raises `ArrangeError` (400 over HTTP).
"""

from __future__ import annotations

import copy
from typing import Any, Literal

from flexsim.callees import CALL_EVENTS
from flexsim.views import CallInfo, ConferenceInfo, RecordingInfo, TaskInfo
from flexsim.world import Call, Callee, Conference, Recording, Task, World

# How a leg reaches each status (every step announced as Twilio would announce it).
CALL_PATHS: dict[str, tuple[str, ...]] = {
    "queued": (),
    "ringing": ("ringing",),
    "in-progress": ("ringing", "in-progress"),
    "completed": ("ringing", "in-progress", "completed"),
    "busy": ("ringing", "busy"),
    "no-answer": ("ringing", "no-answer"),
    "canceled": ("ringing", "canceled"),
    "failed": ("failed",),
}
CALL_STATUSES = tuple(CALL_PATHS)
TASK_STATUSES = ("pending", "reserved", "assigned", "wrapping", "completed", "canceled")
ListShape = Literal["null", "attributes"]


class ArrangeError(ValueError):
    """The world cannot be arranged that way (an unknown SID, a status it cannot reach)."""


def call_info(call: Call) -> CallInfo:
    """A call leg's snapshot."""
    return CallInfo(
        call.sid, call.from_, call.to, call.direction, call.status, call.party, call.conference_sid
    )


def task_info(task: Task) -> TaskInfo:
    """A task's snapshot."""
    return TaskInfo(
        task.sid,
        task.assignment_status,
        copy.deepcopy(task.attributes),
        task.revision,
        task.queue_sid,
        task.workflow_sid,
        tuple(task.reservations),
    )


def conference_info(conference: Conference) -> ConferenceInfo:
    """A conference's snapshot."""
    return ConferenceInfo(
        conference.sid,
        conference.friendly_name,
        conference.status,
        {sid: p.label for sid, p in conference.participants.items()},
        conference.recording_sid,
    )


def recording_info(world: World, recording: Recording) -> RecordingInfo:
    """A recording's snapshot."""
    call = world.calls.get(recording.call_sid)
    return RecordingInfo(
        sid=recording.sid,
        call_sid=recording.call_sid,
        party=call.party if call else "",
        status=recording.status,
        source=recording.source,
        created_wall=recording.created_wall,
        pauses=len(recording.pauses),
        channels=recording.channels,
        conference_sid=recording.conference_sid,
    )


class Arrange:
    """Builds resources in one world (call only from the thread that owns it; `SimRunner.
    arrange` does that for you)."""

    def __init__(self, world: World) -> None:
        self.world = world

    # -- lookups ----------------------------------------------------------------------------
    def _get(self, table: dict[str, Any], sid: str, what: str) -> Any:
        found = table.get(sid)
        if found is None:
            raise ArrangeError(f"no {what} {sid}")
        return found

    # -- people and routing -----------------------------------------------------------------
    def worker(
        self, name: str, attributes: dict[str, Any] | None = None, activity: str = "Available"
    ) -> str:
        """Add an agent (`contact_uri` `client:<name>` unless given); returns its WK SID."""
        world = self.world
        if activity not in world.activities:
            raise ArrangeError(f"no activity {activity!r}; choose from {list(world.activities)}")
        with world.lock:
            worker = world.add_worker(name, {"contact_uri": f"client:{name}", **(attributes or {})})
            world.set_worker_activity(worker, activity)
            return worker.sid

    def queue(self, name: str, target_workers: str = "1==1") -> str:
        """Add a TaskQueue; returns its WQ SID."""
        with self.world.lock:
            return self.world.add_queue(name, target_workers=target_workers).sid

    def workflow(self, name: str) -> str:
        """Add a Workflow; returns its WW SID."""
        with self.world.lock:
            return self.world.add_workflow(name).sid

    # -- calls ------------------------------------------------------------------------------
    def call(
        self,
        *,
        from_: str,
        to: str,
        direction: str = "inbound",
        party: str | None = None,
        status: str = "in-progress",
        status_callback: str | None = None,
        status_callback_events: list[str] | None = None,
        worker_sid: str | None = None,
    ) -> CallInfo:
        """A call leg, moved to `status` through ringing (and in-progress for an ended one);
        `status_callback_events` as calls.create takes them (default: completed)."""
        if status not in CALL_STATUSES:
            raise ArrangeError(f"status must be one of {CALL_STATUSES}")
        events = status_callback_events or ["completed"]
        if any(e not in CALL_EVENTS for e in events):
            raise ArrangeError(f"status_callback_events are among {list(CALL_EVENTS)}")
        who = party or ("worker" if to.startswith("client:") or worker_sid else "customer")
        if who not in ("customer", "worker", "third"):
            raise ArrangeError("party must be customer, worker or third")
        world = self.world
        with world.lock:
            call = world.create_call(
                from_=from_,
                to=to,
                direction=direction,
                party=who,  # type: ignore[arg-type]
                worker_sid=worker_sid,
                status_callback=status_callback,
                status_callback_statuses=frozenset().union(*(CALL_EVENTS[e] for e in events)),
            )
            for step in CALL_PATHS[status]:
                world.set_call_status(call, step)
            return call_info(call)

    def set_call_status(self, call_sid: str, status: str) -> CallInfo:
        """Move a leg on (ringing, in-progress, or an end: completed, busy, no-answer...)."""
        if status not in CALL_STATUSES:
            raise ArrangeError(f"status must be one of {CALL_STATUSES}")
        with self.world.lock:
            call: Call = self._get(self.world.calls, call_sid, "call")
            self.world.set_call_status(call, status)
            return call_info(call)

    def callee(
        self, number: str, outcome: str = "answer", ring_s: float = 4.0, talk_s: float | None = 60
    ) -> None:
        """How the far end of a REST-made call to `number` behaves (flexsim.callees)."""
        if outcome not in ("answer", "busy", "no-answer", "failed"):
            raise ArrangeError("outcome must be answer, busy, no-answer or failed")
        self.world.callees[number] = Callee(outcome, float(ring_s), talk_s)  # type: ignore[arg-type]

    # -- tasks ------------------------------------------------------------------------------
    def task(
        self,
        attributes: dict[str, Any],
        *,
        status: str = "pending",
        worker_sid: str | None = None,
        queue_sid: str | None = None,
        workflow_sid: str | None = None,
        channel: str = "voice",
        reason: str | None = None,
    ) -> TaskInfo:
        """A task with these attributes, moved to `status` as TaskRouter would move it
        (reserved/assigned/wrapping need `worker_sid`: its reservation is made and accepted)."""
        world = self.world
        with world.lock:
            queue = self._get(world.queues, queue_sid, "queue") if queue_sid else None
            flow = self._get(world.workflows, workflow_sid, "workflow") if workflow_sid else None
            queue = queue or next(iter(world.queues.values()), None) or world.add_queue("Everyone")
            flow = (
                flow
                or next(iter(world.workflows.values()), None)
                or world.add_workflow("Assign to Anyone")
            )
            task = world.create_task(copy.deepcopy(attributes), queue, flow, channel=channel)
        return self.set_task_status(task.sid, status, worker_sid=worker_sid, reason=reason)

    def set_task_status(
        self,
        task_sid: str,
        status: str,
        *,
        worker_sid: str | None = None,
        reason: str | None = None,
    ) -> TaskInfo:
        """Move a task forward to `status` (pending → reserved → assigned → wrapping →
        completed, or canceled before assignment), with its reservation's events on the way."""
        if status not in TASK_STATUSES:
            raise ArrangeError(f"status must be one of {TASK_STATUSES}")
        world = self.world
        with world.lock:
            task: Task = self._get(world.tasks, task_sid, "task")
            order = TASK_STATUSES[:5]
            now, goal = task.assignment_status, status
            if goal == "canceled":
                if now not in ("pending", "reserved"):
                    raise ArrangeError(f"a task {now} cannot be canceled")
                world.set_task_status(task, "canceled", reason or "canceled")
                return task_info(task)
            if now not in order or order.index(goal) < order.index(now):
                raise ArrangeError(f"a task {now} cannot move back to {goal}")
            reservation = next((world.reservations[r] for r in reversed(task.reservations)), None)
            if order.index(goal) >= order.index("reserved") and reservation is None:
                if worker_sid is None:
                    raise ArrangeError(f"a task {goal} needs worker_sid (who holds it)")
                worker = self._get(world.workers, worker_sid, "worker")
                reservation = world.create_reservation(task, worker)
            if reservation is None:
                return task_info(task)
            if order.index(goal) >= order.index("assigned"):
                world.set_reservation_status(reservation, "accepted")
            if order.index(goal) >= order.index("wrapping"):
                world.set_reservation_status(reservation, "wrapup")
                world.set_task_status(task, "wrapping")
            if goal == "completed":
                world.set_reservation_status(reservation, "completed")
                world.set_task_status(task, "completed", reason or "completed")
            return task_info(task)

    def update_task_attributes(self, task_sid: str, attributes: dict[str, Any]) -> TaskInfo:
        """Replace a task's attributes (a new revision and `task.updated`, as Flex writes)."""
        with self.world.lock:
            task: Task = self._get(self.world.tasks, task_sid, "task")
            self.world.update_task_attributes(task, copy.deepcopy(attributes))
            return task_info(task)

    def list_tasks_shape(self, shape: ListShape) -> None:
        """What List Tasks shows as `attributes`: "null" (the spec, the default) or the
        attributes themselves (for clients that must not rely on either)."""
        if shape not in ("null", "attributes"):
            raise ArrangeError('shape must be "null" or "attributes"')
        self.world.list_task_attributes = shape

    # -- conferences and recordings ---------------------------------------------------------
    def conference(
        self,
        task_sid: str,
        participants: dict[str, str | None],
        *,
        status_callback: str | None = None,
        record_channels: int = 0,
    ) -> ConferenceInfo:
        """The task's conference (FriendlyName = the task SID, as Flex names it) with these
        in-progress legs joined in order (call SID -> label or None); `record_channels` 1 or 2
        records it from the start as Flex's Call Recording does."""
        if record_channels not in (0, 1, 2):
            raise ArrangeError("record_channels is 0 (off), 1 or 2")
        world = self.world
        with world.lock:
            task: Task = self._get(world.tasks, task_sid, "task")
            calls = [self._get(world.calls, sid, "call") for sid in participants]
            if any(c.status != "in-progress" for c in calls):
                raise ArrangeError("participants must be in-progress calls")
            conference = world.create_conference(task, status_callback, record_channels)
            for call in calls:
                world.join_conference(conference, call, participants[call.sid])
            return conference_info(conference)

    def recording(
        self,
        call_sid: str,
        *,
        channels: int = 2,
        source: str = "StartCallRecordingAPI",
        status_callback: str | None = None,
        status_callback_events: list[str] | None = None,
        origin: Literal["api", "account"] = "account",
    ) -> RecordingInfo:
        """A recording running on an in-progress call (as a Studio flow or another tool made
        it: origin "account"; "api" to have interference treat it as a client's)."""
        if channels not in (1, 2):
            raise ArrangeError("channels is 1 or 2")
        world = self.world
        with world.lock:
            call: Call = self._get(world.calls, call_sid, "call")
            if call.status != "in-progress":
                raise ArrangeError(f"call {call_sid} is {call.status}, not in-progress")
            recording = world.start_recording(
                call,
                channels=channels,
                source=source,
                status_callback=status_callback,
                status_callback_events=tuple(status_callback_events or ["completed"]),
                origin=origin,
            )
            return recording_info(world, recording)
