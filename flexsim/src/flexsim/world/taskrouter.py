"""TaskRouter transitions: the workspace's topology, tasks, reservations and workers.

Task assignment status:     pending → reserved → assigned → wrapping → completed
                                   ↘ canceled
"""

from __future__ import annotations

import hashlib
from typing import Any

from flexsim.world.core import WorldState
from flexsim.world.resources import Queue, Reservation, Task, Worker, Workflow


class TaskRouterWorld(WorldState):
    """What TaskRouter does to tasks, reservations and workers."""

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
