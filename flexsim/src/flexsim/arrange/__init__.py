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
from typing import Any

from flexsim.arrange.base import (
    CALL_PATHS,
    CALL_STATUSES,
    TASK_STATUSES,
    ArrangeBase,
    ArrangeError,
    ListShape,
    call_info,
    conference_info,
    recording_info,
    task_info,
)
from flexsim.arrange.recordings import RecordingArrange
from flexsim.callees import CALL_EVENTS
from flexsim.faults import FaultPlan, FaultPlanError
from flexsim.views import CallInfo, TaskInfo
from flexsim.world import Call, Callee, Task, World

__all__ = [
    "CALL_PATHS",
    "CALL_STATUSES",
    "TASK_STATUSES",
    "Arrange",
    "ArrangeError",
    "ListShape",
    "call_info",
    "conference_info",
    "recording_info",
    "task_info",
]


class Arrange(RecordingArrange, ArrangeBase):
    """Builds resources in one world (call only from the thread that owns it; `SimRunner.
    arrange` does that for you); `faults` is the plan `fault_next` scripts."""

    def __init__(self, world: World, faults: FaultPlan | None = None) -> None:
        super().__init__(world)
        self.faults = faults

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

    # -- identities and faults ----------------------------------------------------------------
    def next_sids(self, *sids: str) -> None:
        """The next resources of each SID's prefix get these SIDs, in order (for tests that
        name their fixtures: `next_sids("CA…", "RE…")` before arranging the call and its
        recording); every other SID stays the seed's."""
        world = self.world
        with world.lock:
            in_use = {
                *world.calls,
                *world.recordings,
                *world.conferences,
                *world.tasks,
                *world.workers,
                *world.reservations,
            }
            for sid in sids:
                if not _well_formed(sid):
                    raise ArrangeError(f"{sid!r} is not a SID (two capitals and 32 hex digits)")
                if sid in in_use:
                    raise ArrangeError(f"{sid} is already in use")
            for sid in sids:
                world.sids.choose(sid)

    def fault_next(
        self,
        method: str,
        path: str,
        *,
        status: int | None = None,
        code: int | None = None,
        delay_s: float = 0.0,
        times: int = 1,
    ) -> None:
        """The next `times` REST requests of `method` whose path matches the glob `path`
        (`*/Recordings/*.wav`: media downloads) answer `status` with Twilio's error body
        (`code`, default 20000 + status), after `delay_s`; a delay alone is latency."""
        if self.faults is None:
            raise ArrangeError("this simulator has no fault plan")
        try:
            self.faults.fault_next(
                method, path, status=status, code=code, delay_s=delay_s, times=times
            )
        except FaultPlanError as exc:
            raise ArrangeError(str(exc)) from exc


def _well_formed(sid: str) -> bool:
    hex_part = sid[2:]
    return (
        len(sid) == 34
        and sid[:2].isalpha()
        and sid[:2].isupper()
        and all(c in "0123456789abcdef" for c in hex_part)
    )
