"""TaskRouter events in: each one's effect worked out from the task's memo, one short write.

The full path (a task seen for the first time here, or a memo that does not hold) locks and
merges the task and reservation rows and plans the task, as every event once did. With a memo
(flexrec.recording.task_memo), the event's effect is computed in memory by the same merge
rules; only the columns that change are written, each write conditional on the row still being
what the memo says; and the planner runs only when something it reads changed: the task's
legs, direction, channel, queue or workflow, the policy's decision, whether it is answered, a
reservation opening or closing, a plan with work left, or attributes that may have lost a link.
An event that changes nothing, or only the task's clock (held in the memo until the next
real change: task_memo's docstring), is answered without touching the database. Either way
the plan's Twilio calls run after the answer (`Planner.execute`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import structlog
from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from flexrec.db.models import AttributeWrite, ReservationRecord, TaskRecord
from flexrec.db.prepared import Prepared
from flexrec.recording import metrics
from flexrec.recording.attributes import attribute_facts, media_recording_sids
from flexrec.recording.context import JOB_TASKROUTER_EVENT, Jobs, ServiceContext
from flexrec.recording.dedup import event_key, mark_seen, retry_contention, was_seen
from flexrec.recording.memo_writes import (
    MemoDidNotHold,
    complete_wrapping_reservations,
    write_reservation,
    write_task,
)
from flexrec.recording.planner import Plan, Planner, Seen
from flexrec.recording.policy import TaskFacts
from flexrec.recording.rows import (
    ReservationState,
    TaskFields,
    TaskState,
    merge_reservation,
    merge_task,
    task_for_update,
    upsert_reservation,
    upsert_task,
)
from flexrec.recording.states import (
    ACTIVE_RESERVATION_STATUSES,
    ANSWERED_TASK_STATUSES,
    TERMINAL_TASK_STATUSES,
)
from flexrec.recording.store import (
    read_connection,
    write_connection,
    write_session,
)
from flexrec.recording.system_pauses import SystemPauses
from flexrec.recording.task_memo import (
    RowClock,
    TaskMemo,
    TaskMemos,
    WrittenMedia,
    attributes_digest,
    held_over,
)
from flexrec.webhooks.events import TaskRouterEvent

log = structlog.get_logger(__name__)

# Events that end the work on a task: a pause still in force is undone (auto-resume).
AUTO_RESUME_EVENTS = frozenset(
    {"reservation.wrapup", "reservation.completed", "task.wrapup", "task.completed",
     "task.canceled"}
)  # fmt: skip
_FORCED_STATUS = {"task.canceled": "canceled", "task.deleted": "deleted"}
# What the planner reads of a task row: a change of any of these plans the task again.
_PLANNED_FROM = (
    "direction", "customer_call_sid", "conference_sid", "channel", "queue_sid", "queue_name",
    "workflow_sid", "workflow_name",
)  # fmt: skip
_PLANNED_ONCE_LEG_KNOWN = tuple(n for n in _PLANNED_FROM if n != "conference_sid")
_TASK_RESERVATIONS = Prepared(
    select(
        ReservationRecord.sid,
        ReservationRecord.status,
        ReservationRecord.worker_sid,
        ReservationRecord.worker_name,
        ReservationRecord.accepted_ms,
        ReservationRecord.last_event_ms,
        ReservationRecord.ended_ms,
    ).where(ReservationRecord.task_sid == bindparam("task"))
)
_DONE_LINK = Prepared(
    select(AttributeWrite.id)
    .where(AttributeWrite.task_sid == bindparam("task"), AttributeWrite.status == "done")
    .limit(1)
)


@dataclass(frozen=True)
class _Effect:
    """What an event does to a task as its memo holds it (TaskEvents._effect)."""

    state: TaskState
    take: bool  # the event's attributes are taken (it is the newest)
    digest: str | None  # of the attributes the task has after it
    new_reservation: ReservationState | None
    stored: ReservationState | None  # the reservation as its row holds it (None: no row)
    task_changed: bool  # a column of the task row changes (the clock alone does not count)
    reservation_changed: bool  # the reservation's row is written
    unwritten: frozenset[str]  # TaskMemo.unwritten after it
    replan: bool  # something the planner reads changed
    link_check: bool  # its attributes must be checked against the database for a lost link

    @property
    def needs_io(self) -> bool:
        """Whether the event needs the database (else the memo alone takes it)."""
        return self.task_changed or self.reservation_changed or self.replan or self.link_check


def _fields(event: TaskRouterEvent) -> TaskFields:
    return TaskFields(
        attributes=event.task_attributes,
        status=event.task_assignment_status,
        queue_sid=event.task_queue_sid,
        queue_name=event.task_queue_name,
        workflow_sid=event.workflow_sid,
        workflow_name=event.workflow_name,
        channel=event.task_channel,
    )


class TaskEvents:
    """Applies TaskRouter events (see the module docstring)."""

    def __init__(self, ctx: ServiceContext, planner: Planner, pauses: SystemPauses) -> None:
        self.ctx = ctx
        self.planner = planner
        self.pauses = pauses
        self.memos: TaskMemos = ctx.memos

    @retry_contention
    def handle(self, event: TaskRouterEvent) -> None:
        """Apply a TaskRouter event; the plan it leaves runs right after (after the answer)."""
        task_sid = event.task_sid
        if task_sid is None:
            return
        self.ctx.revisions.note_event(event)
        fields = _fields(event)
        with self.memos.lock(task_sid):
            memo = self.memos.get(task_sid)
            held_clock = memo.held_clock if memo is not None else None
            plan: Plan | None = None
            if memo is not None and event.event_type in AUTO_RESUME_EVENTS:
                with read_connection(self.ctx.sessions) as connection:
                    if self.pauses.has_work_at_wrapup(connection, task_sid):
                        memo = None  # a pause to undo: the full path, which resumes it
            if memo is not None:
                try:
                    plan = self._by_memo(event, fields, memo)
                except MemoDidNotHold:
                    self.memos.forget(task_sid)
                    log.debug("task memo did not hold; full path", task_sid=task_sid)
            if plan is None:
                metrics.TASKROUTER_EVENT_PATHS.labels(path="full").inc()
                plan = self._full(event, fields, held_clock)
            after = self.memos.get(task_sid)
            if after is not None and after.state.status in TERMINAL_TASK_STATUSES:
                # Reconcile asks this of live tasks only (their memo goes later: TaskMemos).
                self.ctx.attributes_seen.forget(task_sid)
        if plan is not None:
            self.planner.execute(plan)

    # -- the full path ----------------------------------------------------------------------------
    def _full(
        self, event: TaskRouterEvent, fields: TaskFields, held_clock: int | None = None
    ) -> Plan | None:
        task_sid = event.task_sid or ""
        key = event_key("tr", event.event_sid, event)
        auto_resume = event.event_type in AUTO_RESUME_EVENTS
        now = self.ctx.now()
        with write_session(self.ctx.sessions) as session:
            # A wrap-up with no pause to undo is an ordinary event; with one, it is marked seen
            # only after the resume ran, so a delivery that failed before it is handled again.
            # Any other event needs no mark: every row it writes takes new facts idempotently
            # (flexrec.recording.rows), so a redelivery changes nothing.
            if auto_resume and not self.pauses.has_work_at_wrapup(session, task_sid):
                auto_resume = False
            if auto_resume and was_seen(session, key):
                return None
            task = upsert_task(
                session,
                task_sid,
                fields,
                now=now,
                event_ms=event.timestamp_ms,
                forced_status=_FORCED_STATUS.get(event.event_type),
                held_clock=held_clock,
                likely_new=event.event_type == "task.created" and held_clock is None,
            )
            if event.reservation_sid:
                upsert_reservation(session, event, now)
            if task.status == "completed":
                # Also after a restart lost a reservation.completed held back (`_by_memo`).
                complete_wrapping_reservations(session, task_sid, now)
            # Committed with the rows: the plan's work is durable (pending or claimed targets
            # and pending links), so reconcile finishes it if the process dies after the answer.
            plan = self.planner.plan(session, task, now, event.timestamp_ms, seen=_seen(event))
            memo = self._memo_of(session, task, plan, self.memos.get(task_sid))
        self.memos.put(task_sid, memo)
        if auto_resume:
            self.planner.execute(plan)
            worker = event.worker_sid if event.event_type.startswith("reservation.") else None
            self.pauses.auto_resume(task_sid, worker)
            # Only after the resume ran, so a delivery that failed before it is handled again.
            mark_seen(self.ctx.sessions, key, "taskrouter", self.ctx.now())
            return None
        return plan

    def _memo_of(
        self, session: Session, task: TaskRecord, plan: Plan, before: TaskMemo | None
    ) -> TaskMemo:
        reservations = {
            row.sid: ReservationState(*row[1:])
            for row in _TASK_RESERVATIONS.execute(session, {"task": task.sid})
        }
        links_done = plan.links_done or (
            _DONE_LINK.execute(session, {"task": task.sid}).first() is not None
        )
        return TaskMemo(
            state=TaskState.of(task),
            updated_at=task.updated_at,
            attributes_digest=attributes_digest(task.attributes),
            policy_decision=task.policy_decision,
            reservations=reservations,
            settled=plan.settled,
            media=_media_after(before.media if before else None, plan),
            has_done_links=links_done,
        )

    # -- with a memo ----------------------------------------------------------------------------
    def answer_from_memory(self, event: TaskRouterEvent) -> bool:
        """Apply `event` if it changes nothing the database keeps (the memo path's "memory"
        case), without I/O and without waiting: True when done, False when it needs `handle`
        (on a thread: a write, the planner, no memo here, or a handler of the task running).

        The web layer calls this on its event loop, so the usual event (Flex repeating what a
        task already is) is answered without the handoff to a webhook thread. Taking the task's
        lock only if it is free keeps the memo's rule (its handlers use it in turn): a busy lock
        is a handler that will see this event's task as it leaves it, as a thread would.
        """
        task_sid = event.task_sid
        if task_sid is None:
            return True  # `handle` has nothing to do with it either
        if event.event_type in AUTO_RESUME_EVENTS:
            return False  # a pause to undo is read from the database first
        self.ctx.revisions.note_event(event)
        lock = self.memos.lock(task_sid)
        if not lock.acquire(blocking=False):
            return False
        try:
            memo = self.memos.get(task_sid)
            if memo is None:
                return False
            effect = self._effect(event, _fields(event), memo)
            if effect.needs_io:
                return False
            self._hold(task_sid, memo, effect, event.reservation_sid)
            return True
        finally:
            lock.release()

    def _effect(self, event: TaskRouterEvent, fields: TaskFields, memo: TaskMemo) -> _Effect:
        """What `event` does to the task as its memo holds it (no I/O)."""
        state, take = merge_task(
            memo.state, fields, event.timestamp_ms, _FORCED_STATUS.get(event.event_type)
        )
        digest = attributes_digest(event.task_attributes) if take else memo.attributes_digest
        reservation_sid = event.reservation_sid
        old_reservation = memo.reservations.get(reservation_sid) if reservation_sid else None
        new_reservation = merge_reservation(old_reservation, event) if reservation_sid else None
        # Only the clock moved (Flex repeating what the task already is): the memo holds the
        # newer clock and the next real change writes it (task_memo's docstring says what a
        # lost clock costs).
        task_changed = (
            replace(state, last_event_ms=memo.state.last_event_ms) != memo.state
            or digest != memo.attributes_digest
        )
        reservation_changed = new_reservation is not None and new_reservation != old_reservation
        unwritten = set(memo.unwritten)
        stored = None  # the reservation as its row holds it (None: no row)
        if reservation_sid and reservation_sid not in unwritten:
            stored = old_reservation
        if reservation_changed and new_reservation is not None and reservation_sid:
            if stored is None and not _taken(new_reservation):
                unwritten.add(reservation_sid)  # offered, not taken: held here only
                reservation_changed = False
            else:
                unwritten.discard(reservation_sid)
        if (
            reservation_changed
            and stored is not None
            and self._completes_with_task(memo, state, old_reservation, new_reservation)
        ):
            # Written by task.completed's own transaction, which TaskRouter sends next.
            reservation_changed, new_reservation = False, old_reservation
        return _Effect(
            state=state,
            take=take,
            digest=digest,
            new_reservation=new_reservation,
            stored=stored,
            task_changed=task_changed,
            reservation_changed=reservation_changed,
            unwritten=frozenset(unwritten),
            replan=self._replan(memo, state, take, event, old_reservation, new_reservation),
            link_check=self._link_check(memo, event),
        )

    def _hold(
        self, task_sid: str, memo: TaskMemo, effect: _Effect, reservation_sid: str | None
    ) -> None:
        """The memo takes an effect that needs no I/O (nothing this event says is new)."""
        metrics.TASKROUTER_EVENT_PATHS.labels(path="memory").inc()
        reservations = dict(memo.reservations)
        if effect.new_reservation is not None and reservation_sid:
            reservations[reservation_sid] = effect.new_reservation
        self.memos.put(task_sid, replace(
            memo, state=effect.state, row_clock=_row_clock(memo, effect.state),
            reservations=reservations, unwritten=effect.unwritten,
        ))  # fmt: skip

    def _by_memo(self, event: TaskRouterEvent, fields: TaskFields, memo: TaskMemo) -> Plan:
        task_sid = event.task_sid or ""
        reservation_sid = event.reservation_sid
        effect = self._effect(event, fields, memo)
        if not effect.needs_io:
            self._hold(task_sid, memo, effect, reservation_sid)
            return Plan()  # nothing this event says is new: no database at all
        state, take, stored = effect.state, effect.take, effect.stored
        task_changed, reservation_changed = effect.task_changed, effect.reservation_changed
        new_reservation = effect.new_reservation
        replan, link_check = effect.replan, effect.link_check
        completing = state.status == "completed" and memo.state.status != "completed"
        metrics.TASKROUTER_EVENT_PATHS.labels(
            path="plan" if replan or link_check else "write"
        ).inc()
        now = self.ctx.now()
        plan = Plan()
        task: TaskRecord | None = None
        if not (replan or link_check):
            # The usual event: a status moved on. Plain statements on a bare connection, the
            # first of them a write.
            with write_connection(self.ctx.sessions, writes_first=True) as connection:
                if task_changed:
                    write_task(connection, task_sid, memo, state, fields, take, now)
                if reservation_changed and new_reservation is not None and reservation_sid:
                    write_reservation(
                        connection, task_sid, reservation_sid, stored, new_reservation, now
                    )
                if completing:
                    complete_wrapping_reservations(connection, task_sid, now)
        else:
            with write_session(self.ctx.sessions) as session:
                if task_changed:
                    write_task(session, task_sid, memo, state, fields, take, now)
                if reservation_changed and new_reservation is not None and reservation_sid:
                    write_reservation(
                        session, task_sid, reservation_sid, stored, new_reservation, now
                    )
                if completing:
                    complete_wrapping_reservations(session, task_sid, now)
                task = task_for_update(session, task_sid)
                if task is None:  # pragma: no cover - the memo came from this row
                    raise MemoDidNotHold(task_sid)
                plan = self.planner.plan(session, task, now, event.timestamp_ms, seen=_seen(event))
        reservations = dict(memo.reservations)
        if new_reservation is not None and reservation_sid:
            reservations[reservation_sid] = new_reservation
        if completing:
            reservations = {
                sid: replace(r, status="completed") if r.status == "wrapping" else r
                for sid, r in reservations.items()
            }
        held = effect.unwritten
        if task is not None:
            row_state, row_clock = held_over(TaskState.of(task), state.last_event_ms)
            self.memos.put(task_sid, replace(
                memo, state=row_state, updated_at=task.updated_at,
                attributes_digest=attributes_digest(task.attributes),
                policy_decision=task.policy_decision, reservations=reservations,
                settled=plan.settled,
                has_done_links=memo.has_done_links or plan.links_done,
                media=_media_after(memo.media, plan), unwritten=held, row_clock=row_clock,
            ))  # fmt: skip
        else:
            self.memos.put(task_sid, replace(
                memo, state=state, updated_at=now if task_changed else memo.updated_at,
                attributes_digest=effect.digest, reservations=reservations, unwritten=held,
                row_clock=None if task_changed else _row_clock(memo, state),
            ))  # fmt: skip
        return plan

    def _completes_with_task(
        self,
        memo: TaskMemo,
        state: TaskState,
        old: ReservationState | None,
        new: ReservationState | None,
    ) -> bool:
        """Whether a reservation's move from wrap-up to completed is left to the task's
        completion, which completes it in its own transaction (`complete_wrapping_reservations`):
        the task is in wrap-up too, so task.completed comes next, and no reader tells a
        reservation in wrap-up from a completed one while its task's work is over (the worker
        leg's planning would: that policy writes every move). Its row is stored; the clock is
        the only other change. Lost with the process (a kill -9 before task.completed): the
        task's completion completes it all the same."""
        if old is None or new is None or self.ctx.policy.leg == "worker":
            return False
        return (
            old.status == "wrapping"
            and new.status == "completed"
            and memo.state.status == "wrapping"
            and state.status == "wrapping"
            and replace(new, status=old.status, last_event_ms=old.last_event_ms) == old
        )

    def _replan(
        self,
        memo: TaskMemo,
        state: TaskState,
        take: bool,
        event: TaskRouterEvent,
        old: ReservationState | None,
        new: ReservationState | None,
    ) -> bool:
        """Whether the event changes anything the planner reads."""
        if not memo.settled or self.ctx.policy.leg == "worker":
            return True  # the worker-leg policy reads every reservation: it plans each event
        # The conference only helps find a customer leg not known yet.
        read = _PLANNED_FROM if state.customer_call_sid is None else _PLANNED_ONCE_LEG_KNOWN
        if any(getattr(state, n) != getattr(memo.state, n) for n in read):
            return True
        answered = (state.status in ANSWERED_TASK_STATUSES) != (
            memo.state.status in ANSWERED_TASK_STATUSES
        )
        if answered:
            return True
        if new is not None and (old is not None and _taken(old)) != _taken(new):
            return True  # a worker took the task (or the only taker let it go)
        if take and event.task_attributes is not None:
            # New attributes: the planner reads the policy's decision on them and whether the
            # call is internal.
            if attribute_facts(event.task_attributes).client_call:
                return True
            return self._decision(state, event.task_attributes) != memo.policy_decision
        return False

    def _decision(self, state: TaskState, attributes: Mapping[str, Any]) -> str:
        facts = TaskFacts(
            direction=state.direction,
            queue_sid=state.queue_sid,
            queue_name=state.queue_name,
            workflow_sid=state.workflow_sid,
            workflow_name=state.workflow_name,
            attributes=attributes,
        )
        return self.ctx.policy.decide(facts).reason

    def _link_check(self, memo: TaskMemo, event: TaskRouterEvent) -> bool:
        """Whether the event's attributes must be checked against the database for a lost
        link (they may lack what a link wrote, and the memo cannot tell)."""
        attributes = event.task_attributes
        if attributes is None or not memo.has_done_links:
            return False
        self.ctx.attributes_seen.note(event.task_sid or "")
        if memo.media is None:
            return True
        return not all(
            written.holds(media_recording_sids(attributes, holder), event.timestamp_ms)
            for holder, written in memo.media.items()
        )

    def jobs(self) -> Jobs:
        """This room's queue jobs by name: an Event Streams event, its fields as the argument."""
        return {JOB_TASKROUTER_EVENT: lambda fields: self.handle(TaskRouterEvent(**fields))}


def _row_clock(memo: TaskMemo, state: TaskState) -> RowClock | None:
    """The memo's `row_clock` once `state` is held without a write of the task row."""
    if state.last_event_ms == memo.written_clock:
        return None
    return memo.row_clock or RowClock(memo.state.last_event_ms)


def _taken(reservation: ReservationState) -> bool:
    return reservation.status in ACTIVE_RESERVATION_STATUSES


def _media_after(
    media: Mapping[str | None, WrittenMedia] | None, plan: Plan
) -> Mapping[str | None, WrittenMedia] | None:
    """What a memo knows of its task's links after a plan: nothing if the plan has links to
    write; else what it knew, plus what the plan's check of seen attributes found holding."""
    if plan.link:
        return None
    if not plan.checked:
        return media
    known = dict(media or {})
    at_ms = plan.seen.at_ms if plan.seen is not None else 0
    for holder, wanted in plan.checked.items():
        known[holder] = WrittenMedia(wanted.sids, wanted.without_media, at_ms)
    return known


def _seen(event: TaskRouterEvent) -> Seen | None:
    if event.task_attributes is None:
        return None
    return Seen(event.task_attributes, event.timestamp_ms, "webhook")
