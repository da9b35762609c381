"""`RecordingService`: turns webhook events into exactly one recording per call leg.

Flow: every event updates what we know (tasks, reservations, conference participants) in one
write transaction, then `_plan` decides which legs must be recorded and ensures their
`recording_targets` row (unique per leg) and the (task, target) attribute links. After commit,
the fast path tries the recording API call and the attribute write right away, inside the
webhook; anything that fails is retried from the queue, and `reconcile()` finds what the queue
lost. Events may come twice, late or out of order: rows are only ever moved forward.
"""

from __future__ import annotations

import functools
import hashlib
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

import structlog
from sqlalchemy import Row, bindparam, delete, or_, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from flexrec.db.models import (
    AttributeWrite,
    ConferenceParticipantRecord,
    ProcessedEvent,
    RecordingRecord,
    RecordingTarget,
    ReservationRecord,
    TaskRecord,
)
from flexrec.recording.attributes import existing_voice_recording
from flexrec.recording.background import Background
from flexrec.recording.context import (
    JOB_LINK,
    JOB_REFRESH,
    JOB_START,
    JobSink,
    ServiceContext,
    utc_now,
)
from flexrec.recording.pause import Actor, PauseController, RecordingState
from flexrec.recording.policy import RecordingPolicy, TaskFacts, lookup
from flexrec.recording.settled import SettledTasks, event_facts
from flexrec.recording.starter import Claim, RecordingStarter
from flexrec.recording.store import (
    FINAL_STATES,
    LIVE_STATES,
    TargetRow,
    ensure_link,
    ensure_target,
    insert_ignore,
    insert_new,
    target_row,
    upsert_participant,
    write_connection,
    write_session,
)
from flexrec.recording.views import (
    RecordingView,
    TaskView,
    list_recordings,
    list_tasks,
    recording_view,
)
from flexrec.twilio.gateway import (
    TERMINAL_CALL_STATUSES,
    GatewayError,
    RecordingGateway,
    TaskGateway,
    TaskSnapshot,
    recording_media_url,
)
from flexrec.webhooks.events import (
    CallStatusEvent,
    ConferenceEvent,
    RecordingStatusEvent,
    TaskRouterEvent,
    parse_time_ms,
)

__all__ = ["Actor", "RecordingService", "RecordingState"]

log = structlog.get_logger(__name__)

_CALL_SID = re.compile(r"^CA[0-9a-fA-F]{32}$")
_TASK_SID = re.compile(r"^WT[0-9a-fA-F]{32}$")
TERMINAL_TASK_STATUSES = frozenset({"completed", "canceled", "deleted"})
ANSWERED_TASK_STATUSES = frozenset({"assigned", "wrapping", "completed"})
LIVE_TASK_STATUSES = ("reserved", "assigned", "wrapping")
RESERVATION_STATUS = {
    "reservation.created": "pending",
    "reservation.accepted": "accepted",
    "reservation.wrapup": "wrapping",
    "reservation.completed": "completed",
    "reservation.rejected": "rejected",
    "reservation.timeout": "timeout",
    "reservation.canceled": "canceled",
    "reservation.rescinded": "rescinded",
    "reservation.failed": "failed",
}
_RESERVATION_RANK = {"pending": 0, "accepted": 1, "wrapping": 2}  # everything else: final (3)
ACTIVE_RESERVATION_STATUSES = ("accepted", "wrapping", "completed")
AUTO_RESUME_EVENTS = frozenset(
    {"reservation.wrapup", "reservation.completed", "task.wrapup", "task.completed",
     "task.canceled"}
)  # fmt: skip
_LIVE_TARGETS_OF_CALL = select(RecordingTarget.id).where(
    RecordingTarget.call_sid == bindparam("call_sid"), RecordingTarget.state.in_(LIVE_STATES)
)
HOLD_EVENTS = {"participant-hold": True, "participant-unhold": False}
RECORDING_FINAL = {"completed": "completed", "absent": "absent", "failed": "failed"}
REFRESH_DELAY_S = 30.0
DEDUP_RETENTION = timedelta(days=2)  # Twilio stops redelivering long before this
REFRESH_ATTEMPTS = 10

CompletedCallback = Callable[[RecordingView], None]
_Participants = Callable[[], list[ConferenceParticipantRecord]]  # read once, when first asked
_T = TypeVar("_T")
_CONTENTION_CODES = ("40P01", "40001")  # PostgreSQL deadlock_detected, serialization_failure
_HANDLER_ATTEMPTS = 3

# Statements built once with bound parameters: per-call statement building dominated a webhook.
_TASK_FOR_UPDATE = select(TaskRecord).where(TaskRecord.sid == bindparam("sid")).with_for_update()
_RESERVATION_FOR_UPDATE = (
    select(ReservationRecord).where(ReservationRecord.sid == bindparam("sid")).with_for_update()
)
_TASK_AND_LINKS = (
    select(
        TaskRecord.attributes,
        TaskRecord.status,
        TaskRecord.queue_sid,
        TaskRecord.queue_name,
        TaskRecord.workflow_sid,
        TaskRecord.workflow_name,
        TaskRecord.channel,
        TaskRecord.last_event_ms,
        AttributeWrite.status.label("link_status"),
        RecordingTarget.state.label("target_state"),
        RecordingTarget.recording_sid,
    )
    .select_from(TaskRecord)
    .outerjoin(AttributeWrite, AttributeWrite.task_sid == TaskRecord.sid)
    .outerjoin(RecordingTarget, RecordingTarget.id == AttributeWrite.target_id)
    .where(TaskRecord.sid == bindparam("sid"))
)
_ADVANCE_TASK_EVENT = (
    update(TaskRecord)
    .where(TaskRecord.sid == bindparam("task"))
    .where(
        or_(TaskRecord.last_event_ms.is_(None), TaskRecord.last_event_ms < bindparam("event_ms"))
    )
    .values(last_event_ms=bindparam("event_ms"))
    .execution_options(synchronize_session=False)
)


def _contended(exc: OperationalError) -> bool:
    """A lock conflict the database resolved by failing us: safe to run the handler again."""
    code = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    return code in _CONTENTION_CODES or "database is locked" in str(exc.orig)


def _retry_contention(handler: Callable[..., _T]) -> Callable[..., _T]:
    """Re-run an (idempotent) event handler when the database aborted it over lock contention."""

    @functools.wraps(handler)
    def wrapper(*args: Any, **kwargs: Any) -> _T:
        for attempt in range(1, _HANDLER_ATTEMPTS + 1):
            try:
                return handler(*args, **kwargs)
            except OperationalError as exc:
                if attempt == _HANDLER_ATTEMPTS or not _contended(exc):
                    raise
                log.info("database contention, handling again", attempt=attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    return wrapper


@dataclass
class _Plan:
    """Work to try right after the transaction commits."""

    start: list[int] = field(default_factory=list)
    link: list[int] = field(default_factory=list)
    # Targets claimed inside the planning transaction, for a start attempt right after it.
    claims: dict[int, Claim] = field(default_factory=dict)
    claim: bool = True  # False when the plan's starts go to the queue instead

    def extend(self, other: _Plan) -> None:
        """Add another plan's work."""
        self.start.extend(other.start)
        self.link.extend(other.link)
        self.claims.update(other.claims)


@dataclass(frozen=True)
class _AttributeFacts:
    direction: str | None
    customer_call_sid: str | None
    worker_call_sid: str | None
    conference_sid: str | None
    client_call: bool


def _call_sid(value: Any) -> str | None:
    return value if isinstance(value, str) and _CALL_SID.match(value) else None


def attribute_facts(attributes: Mapping[str, Any] | None) -> _AttributeFacts:
    """Direction, legs and conference read from Flex task attributes.

    `call_sid` is trusted as the customer leg only on inbound tasks: some plugins overwrite it
    with the recorded (worker) leg on outbound ones (template PR #648).
    """
    attrs = attributes or {}
    raw_direction = attrs.get("direction")
    direction = raw_direction if raw_direction in ("inbound", "outbound") else None
    client_call = attrs.get("client_call") is True
    participant_customer = _call_sid(lookup(attrs, "conference.participants.customer"))
    worker = _call_sid(lookup(attrs, "conference.participants.worker"))
    conference = lookup(attrs, "conference.sid")
    conference_sid = conference if isinstance(conference, str) and conference[:2] == "CF" else None
    if client_call:
        customer = None
    elif direction == "outbound":
        customer = participant_customer
    else:
        customer = _call_sid(attrs.get("call_sid")) or participant_customer
        if direction is None and customer is not None:
            direction = "inbound"
    return _AttributeFacts(direction, customer, worker, conference_sid, client_call)


class RecordingService:
    """Recording orchestration: events in, one recording per leg out, linked into tasks."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        recordings: RecordingGateway,
        tasks: TaskGateway,
        policy: RecordingPolicy,
        public_url: str,
        queue: JobSink | None = None,
        clock: Callable[[], datetime] = utc_now,
        visibility_timeout_s: float = 60.0,
        base_backoff_s: float = 1.0,
        max_backoff_s: float = 300.0,
        inline_attempts: int = 3,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.ctx = ServiceContext(
            sessions=sessions,
            recordings=recordings,
            tasks=tasks,
            policy=policy,
            public_url=public_url,
            queue=queue,
            clock=clock,
            visibility=timedelta(seconds=visibility_timeout_s),
            base_backoff_s=base_backoff_s,
            max_backoff_s=max_backoff_s,
            inline_attempts=inline_attempts,
            sleep=sleep,
        )
        self.starter = RecordingStarter(self.ctx)
        self.pauses = PauseController(self.ctx)
        self.pauses.catch_up = self.catch_up_task
        self.starter.on_started = self.pauses.apply_pending_pause
        self.starter.on_parked = self.handle_recording_status
        self._completed_callbacks: list[CompletedCallback] = []
        self.settled = SettledTasks()

    # -- wiring -------------------------------------------------------------------------------
    @property
    def policy(self) -> RecordingPolicy:
        """The policy in force."""
        return self.ctx.policy

    def set_queue(self, queue: JobSink | None) -> None:
        """Attach the job queue (built after the service, since its jobs call the service)."""
        self.ctx.queue = queue

    def set_background(self, background: Background | None) -> None:
        """Run follow-up work (attribute writes) on these threads instead of inline."""
        self.ctx.background = background

    def on_recording_completed(self, callback: CompletedCallback) -> None:
        """Register a callback run for every `completed` recording status callback.

        It runs inside the webhook, once per callback delivery (so possibly more than once per
        recording): it must be quick and idempotent, e.g. enqueue an archive job. If it raises,
        the webhook fails and Twilio redelivers the callback.
        """
        self._completed_callbacks.append(callback)

    # -- events in ----------------------------------------------------------------------------
    @_retry_contention
    def handle_taskrouter_event(self, event: TaskRouterEvent) -> None:
        """Apply a TaskRouter event; may start a recording before returning (fast path)."""
        if event.task_sid is None:
            return
        if self.is_settled_repeat(event) or self._changes_nothing(event):
            return
        key = _event_key("tr", event.event_sid, event)
        auto_resume = event.event_type in AUTO_RESUME_EVENTS
        now = self.ctx.now()
        with write_session(self.ctx.sessions) as session:
            # A wrap-up with no pause to undo is an ordinary event; with one, it is marked seen
            # only after the resume ran, so a delivery that failed before it is handled again.
            if auto_resume and not self.pauses.has_work_at_wrapup(session, event.task_sid):
                auto_resume = False
            # Marked first (one statement answers "seen?" and marks it): a failure below rolls
            # the mark back with everything else, so a redelivery is handled again.
            if not auto_resume and not self._insert_seen(session, key, "taskrouter", now):
                return
            if auto_resume and session.get(ProcessedEvent, key) is not None:
                return
            task = self._upsert_task(
                session,
                event.task_sid,
                now=now,
                event_ms=event.timestamp_ms,
                attributes=event.task_attributes,
                status=event.task_assignment_status,
                queue_sid=event.task_queue_sid,
                queue_name=event.task_queue_name,
                workflow_sid=event.workflow_sid,
                workflow_name=event.workflow_name,
                channel=event.task_channel,
            )
            if event.reservation_sid:
                self._upsert_reservation(session, event, now)
            if event.event_type == "task.canceled" or event.event_type == "task.deleted":
                task.status = "canceled" if event.event_type == "task.canceled" else "deleted"
            # Committed with the mark: the plan's work is durable (pending or claimed targets
            # and pending links), so the queue or reconcile finishes it if the fast path dies.
            plan = self._plan(session, task, now, event.timestamp_ms)
        self._execute(plan)
        if auto_resume:
            worker = event.worker_sid if event.event_type.startswith("reservation.") else None
            self.pauses.auto_resume(event.task_sid, worker)
            # Only after the resume ran, so a delivery that failed before it is handled again.
            self._mark_seen(key, "taskrouter")

    def is_settled_repeat(self, event: TaskRouterEvent) -> bool:
        """True when the event repeats facts already confirmed settled; answered from memory.

        No I/O, so the web layer may call it on its event loop before handing anything to a
        thread. The event's time is kept and written by `flush_settled`.
        """
        if event.task_sid is None or not _settle_candidate(event):
            return False
        return self.settled.repeat(event.task_sid, event_facts(event), event.timestamp_ms)

    def flush_settled(self) -> int:
        """Write the event times of repeats answered from memory (one transaction)."""

        def write(advances: dict[str, int]) -> None:
            rows = [{"task": sid, "event_ms": ms} for sid, ms in advances.items()]
            with write_connection(self.ctx.sessions) as connection:
                connection.execute(_ADVANCE_TASK_EVENT, rows)

        return self.settled.flush(write)

    def _changes_nothing(self, event: TaskRouterEvent) -> bool:
        """True when the event repeats what we hold and the task's recordings are all settled.

        The common case (a `task.updated` of a task already recorded and linked) then costs one
        read and at most a one-column update in one short transaction, instead of the planner;
        a newer timestamp is still recorded, so a late older event cannot overwrite what this
        one confirmed.
        """
        if event.task_sid is None or not _settle_candidate(event):
            return False
        # Plain columns on a bare connection (the ORM session adds nothing here but CPU), read
        # without the write lock; the newer event time is written later, batched (flush_settled).
        facts = event_facts(event)
        with self.ctx.sessions() as session:
            rows = session.connection().execute(_TASK_AND_LINKS, {"sid": event.task_sid}).all()
        if not _settled(event, rows):
            return False
        # If a planner of this task commits new work between the read and this, the memory is
        # briefly stale: harmless, since that planner runs (or queues) its own work and a
        # repeat of these facts had nothing to add to it.
        self.settled.remember(event.task_sid, facts, event.timestamp_ms)
        return True

    @_retry_contention
    def handle_conference_event(self, event: ConferenceEvent) -> None:
        """Apply a conference callback: participant labels reveal the customer and worker legs."""
        key = _event_key("cf", None, event)
        now = self.ctx.now()
        name = event.friendly_name if event.friendly_name else None
        task_sid = name if name and _TASK_SID.match(name) else None
        fetch_task = False
        plan = _Plan()
        with write_session(self.ctx.sessions) as session:
            # Marked first, as TaskRouter events are: one statement answers "seen?" and marks
            # it, and a failure below rolls the mark back with everything else.
            if not self._insert_seen(session, key, "conference", now):
                return
            # Lock the task row before writing anything else: every planner takes the task lock
            # first, so two webhooks about one task serialise instead of deadlocking.
            lookup_task = select(TaskRecord).with_for_update()
            if task_sid:
                task = session.scalars(lookup_task.where(TaskRecord.sid == task_sid)).first()
            else:
                task = session.scalars(
                    lookup_task.where(TaskRecord.conference_sid == event.conference_sid)
                ).first()
            if event.call_sid:
                self._upsert_participant(session, event, now)
            if task is not None:
                if task.conference_sid is None:
                    task.conference_sid = event.conference_sid
                plan = self._plan(session, task, now, event.timestamp)
            else:
                fetch_task = task_sid is not None and event.event == "participant-join"
            # The mark commits with these changes: what they leave to do is durable, and
            # reconcile finds live tasks and quiet recordings if the steps below are cut short.
            leaving = (
                _live_target_ids(session, event.call_sid)
                if event.event == "participant-leave" and event.call_sid
                else []
            )
        self._schedule_refresh(leaving)
        if fetch_task and task_sid is not None:
            # The conference told us first (events raced): ask TaskRouter about the task.
            plan.extend(self._refresh_task(task_sid))
        self._execute(plan)

    @_retry_contention
    def handle_call_status(self, event: CallStatusEvent) -> None:
        """A leg that ended before its recording started will never be recorded: say so."""
        if event.call_status not in TERMINAL_CALL_STATUSES:
            return
        now = self.ctx.now()
        with write_session(self.ctx.sessions) as session:
            ended = _live_target_ids(session, event.call_sid)
            session.execute(
                update(RecordingTarget)
                .where(RecordingTarget.call_sid == event.call_sid)
                .where(RecordingTarget.state == "pending")
                .values(
                    state="ended",
                    last_error=f"call {event.call_status} before the recording started",
                    updated_at=now,
                )
                .execution_options(synchronize_session=False)
            )
        self._schedule_refresh(ended)

    def is_known_progress(self, event: RecordingStatusEvent) -> bool:
        """True for the `in-progress` callback of a recording this process stores itself: one
        already stored as running (the callback would change nothing), or one on a leg whose
        start attempt is in flight here (parked: the attempt stores the same facts from
        Twilio's answer; if it does not, the callback is handled when the attempt ends).
        No I/O."""
        if event.status != "in-progress":
            return False
        starter = self.starter
        return event.recording_sid in starter.known_live or (
            event.call_sid is not None and starter.in_flight.park(event.call_sid, event)
        )

    @_retry_contention
    def handle_recording_status(self, event: RecordingStatusEvent) -> None:
        """Track a recording's lifecycle; completed recordings go to the registered callbacks."""
        if self.is_known_progress(event):
            return
        now = self.ctx.now()
        newly_known: int | None = None
        with write_session(self.ctx.sessions) as session:
            target = session.scalars(
                select(RecordingTarget).where(RecordingTarget.recording_sid == event.recording_sid)
            ).first()
            if target is None and event.call_sid:
                # Our create's response may still be in flight (or was lost): adopt by leg.
                target = session.scalars(
                    select(RecordingTarget)
                    .where(RecordingTarget.call_sid == event.call_sid)
                    .where(RecordingTarget.recording_sid.is_(None))
                    .order_by(RecordingTarget.id)
                ).first()
                if target is not None:
                    target.recording_sid = event.recording_sid
                    target.source = target.source or "created"
                    target.start_time_ms = target.start_time_ms or event.start_time_ms
                    newly_known = target.id
            if target is not None:
                _advance_target(target, event, now)
            self._upsert_recording(session, event, target, now)
        if newly_known is not None:
            self.pauses.apply_pending_pause(newly_known)
            self.ctx.after(functools.partial(self.starter.link_pending, newly_known))
        if event.status == "completed" and self._completed_callbacks:
            with self.ctx.sessions() as session:
                view = recording_view(session, event.recording_sid)
            if view is not None:
                for callback in self._completed_callbacks:
                    callback(view)

    # -- agent actions ------------------------------------------------------------------------
    def pause(self, task_sid: str, actor: Actor) -> RecordingState:
        """Pause the task's recording (own active task, or supervisor/admin)."""
        return self.pauses.pause(task_sid, actor)

    def resume(self, task_sid: str, actor: Actor) -> RecordingState:
        """Resume the task's recording."""
        return self.pauses.resume(task_sid, actor)

    def state(self, task_sid: str, actor: Actor, *, catch_up: bool = True) -> RecordingState:
        """The task's recording state as the actor may see it (`catch_up=False`: never asks
        TaskRouter, for a long poll's repeated reads)."""
        return self.pauses.state(task_sid, actor, catch_up=catch_up)

    # -- jobs ---------------------------------------------------------------------------------
    def start_target(self, target_id: int) -> str:
        """Queue job: one start attempt for a target."""
        return self.starter.start_target(target_id).outcome

    def link_attributes(self, write_id: int) -> str:
        """Queue job: write one (task, recording) link into the task's attributes."""
        return self.starter.link(write_id)

    def apply_pending_pause(self, target_id: int) -> str:
        """Queue job: apply a pause the agent asked for before the recording started."""
        return self.pauses.apply_pending_pause(target_id)

    def auto_resume(self, task_sid: str, worker_sid: str | None = None) -> int:
        """Queue job: resume recordings still paused when the work on a task ends."""
        return self.pauses.auto_resume(task_sid, worker_sid)

    def refresh_target(self, target_id: int, attempt: int = 1) -> str:
        """Queue job: ask Twilio how a live recording ended, for recordings whose status
        callbacks do not come to us (Studio's) or got lost. Returns the target's state."""
        with self.ctx.sessions() as session:
            target = session.get(RecordingTarget, target_id)
            if target is None or target.state not in LIVE_STATES or not target.recording_sid:
                return target.state if target is not None else "missing"
            call_sid, recording_sid = target.call_sid, target.recording_sid
        try:
            infos = self.ctx.recordings.list_recordings(call_sid)
        except GatewayError as exc:
            log.info("recording refresh failed", call_sid=call_sid, error=str(exc))
            infos = []
        info = next((i for i in infos if i.sid == recording_sid), None)
        if info is not None and info.status in RECORDING_FINAL:
            self.handle_recording_status(
                RecordingStatusEvent(
                    recording_sid=info.sid,
                    call_sid=info.call_sid,
                    status=info.status,
                    url=None,
                    channels=info.channels,
                    start_time_ms=info.start_time_ms,
                    duration_s=info.duration_s,
                    error_code=info.error_code,
                    track=info.track,
                    source=info.source,
                )
            )
            return RECORDING_FINAL[info.status]
        with write_session(self.ctx.sessions) as session:
            # Touched, so reconcile() looks at this one again only after a quiet period.
            session.execute(
                update(RecordingTarget)
                .where(RecordingTarget.id == target_id)
                .values(updated_at=self.ctx.now())
                .execution_options(synchronize_session=False)
            )
        if attempt < REFRESH_ATTEMPTS:  # still in progress or processing: look again later
            self.ctx.schedule(JOB_REFRESH, target_id, attempt + 1, delay_s=REFRESH_DELAY_S)
        return "recording"

    def _schedule_refresh(self, target_ids: Sequence[int]) -> None:
        for target_id in target_ids:
            self.ctx.schedule(JOB_REFRESH, target_id, 1, delay_s=REFRESH_DELAY_S)

    def reconcile(self) -> int:
        """Safety net: re-enqueue due/stale targets and links, and find live tasks with no target.

        Returns how many targets were re-enqueued or created.
        """
        ctx = self.ctx
        now = ctx.now()
        with ctx.sessions() as session:
            target_ids = session.scalars(
                select(RecordingTarget.id).where(
                    or_(
                        (RecordingTarget.state == "pending")
                        & (
                            RecordingTarget.next_attempt_at.is_(None)
                            | (RecordingTarget.next_attempt_at <= now)
                        ),
                        (RecordingTarget.state == "starting")
                        & (RecordingTarget.claimed_at < now - ctx.visibility),
                    )
                )
            ).all()
            link_ids = session.scalars(
                select(AttributeWrite.id)
                .join(RecordingTarget, RecordingTarget.id == AttributeWrite.target_id)
                .where(AttributeWrite.status == "pending")
                .where(RecordingTarget.recording_sid.is_not(None))
            ).all()
            paused_tasks = session.scalars(
                select(AttributeWrite.task_sid)
                .join(RecordingTarget, RecordingTarget.id == AttributeWrite.target_id)
                .join(TaskRecord, TaskRecord.sid == AttributeWrite.task_sid)
                .where(RecordingTarget.state == "paused")
                .where(TaskRecord.status.in_(("wrapping", *TERMINAL_TASK_STATUSES)))
            ).all()
            quiet_live = session.scalars(
                select(RecordingTarget.id)
                .join(AttributeWrite, AttributeWrite.target_id == RecordingTarget.id)
                .join(TaskRecord, TaskRecord.sid == AttributeWrite.task_sid)
                .where(RecordingTarget.state.in_(LIVE_STATES))
                .where(RecordingTarget.updated_at < now - timedelta(seconds=REFRESH_DELAY_S * 4))
                .where(TaskRecord.status.in_(("wrapping", *TERMINAL_TASK_STATUSES)))
            ).all()
            wishing = session.scalars(
                select(RecordingTarget.id)
                .where(RecordingTarget.desired_state == "paused")
                .where(RecordingTarget.state.in_(LIVE_STATES))
            ).all()
        for target_id in dict.fromkeys(quiet_live):
            self.refresh_target(target_id, REFRESH_ATTEMPTS)
        for target_id in wishing:
            self.pauses.apply_pending_pause(target_id)
        plan = _Plan(start=list(target_ids), link=list(link_ids))
        count = len(target_ids)
        try:
            live = ctx.tasks.list_tasks(LIVE_TASK_STATUSES)
        except GatewayError as exc:
            log.warning("reconcile could not list tasks", error=str(exc))
            live = []
        for snapshot in self._with_attributes(live):
            found = self._apply_snapshot(snapshot, claim=ctx.queue is None)
            new = [t for t in found.start if t not in plan.start]
            count += len(new)
            plan.start.extend(new)
            plan.link.extend(w for w in found.link if w not in plan.link)
        if ctx.queue is not None:
            for target_id in plan.start:
                ctx.schedule(JOB_START, target_id)
            for write_id in plan.link:
                ctx.schedule(JOB_LINK, write_id)
        else:
            self._execute(plan)
        for task_sid in set(paused_tasks):
            self.pauses.auto_resume(task_sid, None)
        with write_session(ctx.sessions) as session:
            session.execute(
                delete(ProcessedEvent).where(ProcessedEvent.received_at < now - DEDUP_RETENTION)
            )
        log.info("reconciled", targets=count, links=len(plan.link))
        return count

    # -- admin views --------------------------------------------------------------------------
    def list_recordings(self, **filters: Any) -> list[RecordingView]:
        """Recordings, newest first (filters: status, direction, queue, since, until,
        task_sid, call_sid, limit, offset)."""
        with self.ctx.sessions() as session:
            return list_recordings(session, **filters)

    def list_tasks(self, **filters: Any) -> list[TaskView]:
        """Tasks, newest first (same filters as `list_recordings`)."""
        with self.ctx.sessions() as session:
            return list_tasks(session, **filters)

    # -- internals ----------------------------------------------------------------------------
    def _execute(self, plan: _Plan) -> None:
        for target_id in dict.fromkeys(plan.start):
            try:
                self.starter.start_target(target_id, plan.claims.get(target_id))
            except Exception:
                # The row stays due: the queue (now) or reconcile (later) tries again.
                log.exception("fast-path start failed", target_id=target_id)
                self.ctx.schedule(JOB_START, target_id, delay_s=self.ctx.base_backoff_s)
        for write_id in dict.fromkeys(plan.link):
            self.ctx.after(functools.partial(self.starter.link_or_queue, write_id))

    def catch_up_task(self, task_sid: str) -> None:
        """Re-read a task and its reservations from TaskRouter and act on them (lost webhooks)."""
        self._sync_reservations(task_sid)
        self._execute(self._refresh_task(task_sid))

    def _sync_reservations(self, task_sid: str) -> None:
        try:
            infos = self.ctx.tasks.list_reservations(task_sid)
        except GatewayError as exc:
            log.warning("reservation list failed", task_sid=task_sid, error=str(exc))
            return
        now = self.ctx.now()
        now_ms = int(now.timestamp() * 1000)
        with write_session(self.ctx.sessions) as session:
            for info in infos:
                insert_ignore(
                    session,
                    ReservationRecord,
                    {
                        "sid": info.sid,
                        "task_sid": task_sid,
                        "worker_sid": info.worker_sid,
                        "worker_name": info.worker_name,
                        "status": info.status,
                        "updated_at": now,
                    },
                    ["sid"],
                )
                row = session.get(ReservationRecord, info.sid)
                if row is None:  # pragma: no cover - inserted above
                    continue
                row.worker_sid = row.worker_sid or info.worker_sid
                rank = _RESERVATION_RANK.get(row.status, 3)
                if rank < 3 and _RESERVATION_RANK.get(info.status, 3) >= rank:
                    row.status = info.status
                if row.status in ACTIVE_RESERVATION_STATUSES and row.accepted_ms is None:
                    row.accepted_ms = now_ms  # approximate: TaskRouter does not say when
                row.updated_at = now

    def _refresh_task(self, task_sid: str) -> _Plan:
        try:
            snapshot = self.ctx.tasks.fetch_task(task_sid)
        except GatewayError as exc:
            log.warning("task fetch failed", task_sid=task_sid, error=str(exc))
            return _Plan()
        return self._apply_snapshot(snapshot)

    def _with_attributes(self, listed: Sequence[TaskSnapshot]) -> list[TaskSnapshot]:
        """Live voice tasks with attributes to plan on. List Tasks answers `attributes: null`
        (spec: shown only on FETCH), so a task whose attributes we do not hold yet is fetched;
        one we hold keeps ours (a list never overwrites them)."""
        voice = [s for s in listed if s.channel in (None, "voice")]
        unknown = [s.sid for s in voice if s.attributes is None]
        held: set[str] = set()
        if unknown:
            with self.ctx.sessions() as session:
                held = set(
                    session.scalars(
                        select(TaskRecord.sid)
                        .where(TaskRecord.sid.in_(unknown))
                        .where(TaskRecord.attributes.is_not(None))
                    )
                )
        out: list[TaskSnapshot] = []
        for snapshot in voice:
            if snapshot.attributes is None and snapshot.sid not in held:
                try:
                    snapshot = self.ctx.tasks.fetch_task(snapshot.sid)
                except GatewayError as exc:
                    log.warning("reconcile could not fetch task", task_sid=snapshot.sid,
                                error=str(exc))  # fmt: skip
                    continue
            out.append(snapshot)
        return out

    def _apply_snapshot(self, snapshot: TaskSnapshot, *, claim: bool = True) -> _Plan:
        now = self.ctx.now()
        # A view without attributes (a list) is partial: it must not count as newer than an
        # event whose attributes we have not applied yet, or that event would be dropped as
        # stale. A fetch is the whole current task.
        event_ms = int(now.timestamp() * 1000) if snapshot.attributes is not None else 0
        with write_session(self.ctx.sessions) as session:
            task = self._upsert_task(
                session,
                snapshot.sid,
                now=now,
                event_ms=event_ms,
                attributes=snapshot.attributes,
                status=snapshot.assignment_status,
                queue_sid=snapshot.queue_sid,
                queue_name=snapshot.queue_name,
                workflow_sid=snapshot.workflow_sid,
                workflow_name=snapshot.workflow_name,
                channel=snapshot.channel,
            )
            return self._plan(session, task, now, None, claim=claim)

    def _upsert_task(
        self,
        session: Session,
        task_sid: str,
        *,
        now: datetime,
        event_ms: int,
        attributes: dict[str, Any] | None,
        status: str | None,
        queue_sid: str | None,
        queue_name: str | None,
        workflow_sid: str | None,
        workflow_name: str | None,
        channel: str | None,
    ) -> TaskRecord:
        task = session.scalars(_TASK_FOR_UPDATE, {"sid": task_sid}).first()
        if task is None:
            fresh = {"sid": task_sid, "created_at": now, "updated_at": now}
            task = (
                insert_new(session, TaskRecord, fresh, ["sid"])
                or session.scalars(_TASK_FOR_UPDATE, {"sid": task_sid}).one()
            )
        newer = task.last_event_ms is None or event_ms >= task.last_event_ms
        if attributes is not None and (newer or task.attributes is None):
            task.attributes = attributes
        if status:
            if status in TERMINAL_TASK_STATUSES or (
                task.status not in TERMINAL_TASK_STATUSES and (newer or task.status is None)
            ):
                task.status = status
        for name, value in (
            ("queue_sid", queue_sid),
            ("queue_name", queue_name),
            ("workflow_sid", workflow_sid),
            ("workflow_name", workflow_name),
            ("channel", channel),
        ):
            if value and (newer or getattr(task, name) is None):
                setattr(task, name, value)
        if newer:
            task.last_event_ms = event_ms
        # Legs never change once known, so even an older event may teach them.
        facts = attribute_facts(attributes)
        task.direction = task.direction or facts.direction
        task.conference_sid = task.conference_sid or facts.conference_sid
        task.customer_call_sid = task.customer_call_sid or facts.customer_call_sid
        task.updated_at = now
        return task

    def _upsert_reservation(self, session: Session, event: TaskRouterEvent, now: datetime) -> None:
        reservation_sid = event.reservation_sid
        if reservation_sid is None or event.task_sid is None:
            return
        status = RESERVATION_STATUS.get(event.event_type)
        row = session.scalars(_RESERVATION_FOR_UPDATE, {"sid": reservation_sid}).first()
        if row is None:
            fresh = {
                "sid": reservation_sid,
                "task_sid": event.task_sid,
                "worker_sid": event.worker_sid,
                "worker_name": event.worker_name,
                "status": status or "pending",
                "updated_at": now,
            }
            row = (
                insert_new(session, ReservationRecord, fresh, ["sid"])
                or session.scalars(_RESERVATION_FOR_UPDATE, {"sid": reservation_sid}).one()
            )
        row.worker_sid = row.worker_sid or event.worker_sid
        row.worker_name = row.worker_name or event.worker_name
        current_rank = _RESERVATION_RANK.get(row.status, 3)
        if (
            status is not None
            and current_rank < 3
            and _RESERVATION_RANK.get(status, 3) >= current_rank
        ):
            row.status = status  # forward only: a late `accepted` never reopens a completed one
        if status == "accepted" and row.accepted_ms is None:
            row.accepted_ms = event.timestamp_ms
        row.last_event_ms = max(row.last_event_ms or 0, event.timestamp_ms)
        row.updated_at = now

    def _upsert_participant(self, session: Session, event: ConferenceEvent, now: datetime) -> None:
        if event.call_sid is None:
            return
        upsert_participant(
            session,
            event.event,
            {
                "conference_sid": event.conference_sid,
                "friendly_name": event.friendly_name,
                "call_sid": event.call_sid,
                "label": event.participant_label,
                "joined": event.event != "participant-leave",
                "hold": HOLD_EVENTS.get(event.event, bool(event.hold)),
                "updated_at": now,
            },
        )

    def _participants(
        self, session: Session, task: TaskRecord
    ) -> list[ConferenceParticipantRecord]:
        clauses = [ConferenceParticipantRecord.friendly_name == task.sid]
        if task.conference_sid:
            clauses.append(ConferenceParticipantRecord.conference_sid == task.conference_sid)
        return list(
            session.scalars(
                select(ConferenceParticipantRecord)
                .where(or_(*clauses))
                .order_by(ConferenceParticipantRecord.id)
            ).all()
        )

    def _answered(self, session: Session, task: TaskRecord, participants: _Participants) -> bool:
        if task.status in ANSWERED_TASK_STATUSES:
            return True
        if any(p.label == "worker" for p in participants()):
            return True
        accepted = session.scalars(
            select(ReservationRecord.sid).where(
                ReservationRecord.task_sid == task.sid,
                ReservationRecord.status.in_(ACTIVE_RESERVATION_STATUSES),
            )
        ).first()
        return accepted is not None

    def _plan(
        self,
        session: Session,
        task: TaskRecord,
        now: datetime,
        event_ms: int | None,
        *,
        claim: bool = True,
    ) -> _Plan:
        plan = _Plan(claim=claim)
        # Whatever planning finds, the next repeat of this task is checked against the database.
        self.settled.forget(task.sid)
        attrs = task.attributes or {}
        if task.channel not in (None, "voice"):
            return plan
        if attrs.get("client_call") is True:
            task.policy_decision = "internal call: no customer leg"
            return plan
        # Read only when needed: an inbound task with its leg in the attributes never needs it.
        participants: _Participants = functools.cache(
            functools.partial(self._participants, session, task)
        )
        if task.customer_call_sid is None and task.direction is not None:
            for p in participants():
                if p.label == "customer":
                    task.customer_call_sid = p.call_sid
                    break
        if task.customer_call_sid is None and not attrs and not participants():
            return plan  # nothing known about this task yet
        decision = self.ctx.policy.decide(
            TaskFacts(
                direction=task.direction,
                queue_sid=task.queue_sid,
                queue_name=task.queue_name,
                workflow_sid=task.workflow_sid,
                workflow_name=task.workflow_name,
                attributes=attrs,
            )
        )
        task.policy_decision = decision.reason
        if not decision.record:
            return plan
        if self.ctx.policy.leg == "customer":
            self._plan_customer(session, task, participants, now, event_ms, plan)
        else:
            self._plan_worker(session, task, participants, now, event_ms, plan)
        return plan

    def _plan_customer(
        self,
        session: Session,
        task: TaskRecord,
        participants: _Participants,
        now: datetime,
        event_ms: int | None,
        plan: _Plan,
    ) -> None:
        call_sid = task.customer_call_sid
        if call_sid is None:
            return
        attrs = task.attributes or {}
        studio_sid = existing_voice_recording(attrs)
        # The customer leg's one target, whether adopted or started by us.
        customer_leg = functools.partial(
            ensure_target,
            session,
            leg_key=call_sid,
            call_sid=call_sid,
            leg="customer",
            task_sid=task.sid,
            reservation_sid=None,
            now=now,
            event_ms=event_ms,
        )
        target: TargetRow | None
        if studio_sid:
            # Studio (or an earlier flexrec) already records this leg: adopt, never add a second.
            target, _ = customer_leg(
                state="recording",
                recording_sid=studio_sid,
                source="studio",
                start_time_ms=_studio_start_ms(attrs),
            )
        elif (
            self.ctx.policy.start_on == "task" and task.direction != "outbound"
        ) or self._answered(session, task, participants):
            target, _ = customer_leg()
        else:
            # Not time to start yet, but another task (a transfer) may already record the leg.
            target = target_row(session, call_sid)
            if target is None:
                return
        self._add_link(session, task.sid, target, None, now, plan)

    def _plan_worker(
        self,
        session: Session,
        task: TaskRecord,
        participants: _Participants,
        now: datetime,
        event_ms: int | None,
        plan: _Plan,
    ) -> None:
        worker_calls = [p.call_sid for p in participants() if p.label == "worker" and p.joined]
        facts = attribute_facts(task.attributes)
        if facts.worker_call_sid:
            worker_calls.insert(0, facts.worker_call_sid)
        for call_sid in worker_calls:
            _assign_worker_call(session, task.sid, call_sid)
        reservations = session.scalars(
            select(ReservationRecord).where(
                ReservationRecord.task_sid == task.sid,
                ReservationRecord.status.in_(("accepted", "wrapping")),
                ReservationRecord.worker_call_sid.is_not(None),
            )
        ).all()
        for reservation in reservations:
            worker_call = reservation.worker_call_sid
            if worker_call is None:  # pragma: no cover - filtered above
                continue
            target, _ = ensure_target(
                session,
                leg_key=f"{reservation.sid}:{worker_call}",
                call_sid=worker_call,
                leg="worker",
                task_sid=task.sid,
                reservation_sid=reservation.sid,
                now=now,
                event_ms=event_ms,
            )
            self._add_link(session, task.sid, target, reservation.sid, now, plan)

    def _add_link(
        self,
        session: Session,
        task_sid: str,
        target: TargetRow,
        reservation_sid: str | None,
        now: datetime,
        plan: _Plan,
    ) -> None:
        link = ensure_link(
            session,
            task_sid=task_sid,
            target_id=target.id,
            reservation_sid=reservation_sid,
            now=now,
        )
        if target.state == "pending":
            plan.start.append(target.id)
            if plan.claim and target.id not in plan.claims:
                claim = self.starter.claim_in(session, target, now)
                if claim is not None:
                    plan.claims[target.id] = claim
        elif link.status == "pending" and target.recording_sid:
            plan.link.append(link.id)

    def _upsert_recording(
        self,
        session: Session,
        event: RecordingStatusEvent,
        target: RecordingTarget | None,
        now: datetime,
    ) -> None:
        row = session.get(RecordingRecord, event.recording_sid)
        if row is None:
            row = RecordingRecord(
                sid=event.recording_sid, status=event.status, created_at=now, updated_at=now
            )
            session.add(row)
        elif row.status not in RECORDING_FINAL or event.status in RECORDING_FINAL:
            row.status = event.status
        row.call_sid = row.call_sid or event.call_sid
        row.target_id = row.target_id or (target.id if target else None)
        row.start_time_ms = row.start_time_ms or event.start_time_ms
        row.duration_s = event.duration_s if event.duration_s is not None else row.duration_s
        row.channels = event.channels or row.channels
        row.track = event.track or row.track
        row.source = event.source or row.source
        if event.url:
            row.media_url = event.url
        elif row.media_url is None:
            row.media_url = recording_media_url(self.ctx.recordings.account_sid, row.sid)
        row.error_code = event.error_code or row.error_code
        if event.status in RECORDING_FINAL and row.completed_at is None:
            row.completed_at = now
        row.updated_at = now

    @staticmethod
    def _insert_seen(session: Session, key: str, kind: str, now: datetime) -> bool:
        """Mark the event handled; False when it already was."""
        return insert_ignore(
            session, ProcessedEvent, {"key": key, "kind": kind, "received_at": now}, ["key"]
        )

    def _mark_seen(self, key: str, kind: str) -> None:
        with write_session(self.ctx.sessions) as session:
            self._insert_seen(session, key, kind, self.ctx.now())


def _live_target_ids(session: Session, call_sid: str) -> Sequence[int]:
    """Targets on the leg whose recording may still be running (to ask Twilio later)."""
    return session.scalars(_LIVE_TARGETS_OF_CALL, {"call_sid": call_sid}).all()


def _settle_candidate(event: TaskRouterEvent) -> bool:
    """Events that may be settled repeats: not reservation events, wrap-ups or removals, nor
    `task.created` (a new task has nothing settled yet; a redelivery is caught as seen)."""
    return not (
        event.reservation_sid
        or event.event_type in AUTO_RESUME_EVENTS
        or event.event_type in ("task.created", "task.canceled", "task.deleted")
    )


def _settled(event: TaskRouterEvent, rows: Sequence[Row[*tuple[Any, ...]]]) -> bool:
    """The task (rows of _TASK_AND_LINKS) already holds the event's facts, and every recording
    link of it is done or waiting on nothing the planner could do."""
    if not rows:
        return False
    first = rows[0]
    if event.task_attributes is not None and event.task_attributes != first.attributes:
        return False
    for value, stored in (
        (event.task_assignment_status, first.status),
        (event.task_queue_sid, first.queue_sid),
        (event.task_queue_name, first.queue_name),
        (event.workflow_sid, first.workflow_sid),
        (event.workflow_name, first.workflow_name),
        (event.task_channel, first.channel),
    ):
        if value and value != stored:
            return False
    for row in rows:
        # Mirrors _add_link: no link yet, a target due to start or a link due to be written
        # means the planner has work, so the event takes the full path.
        if row.link_status is None or row.target_state in (None, "pending"):
            return False
        if row.link_status == "pending" and row.recording_sid:
            return False
    return True


def _advance_target(target: RecordingTarget, event: RecordingStatusEvent, now: datetime) -> None:
    """Move a target forward from a status callback of its recording; never backwards."""
    if target.recording_sid != event.recording_sid:
        return
    if event.status in RECORDING_FINAL:
        if target.state not in ("completed", "absent", "failed"):
            target.state = RECORDING_FINAL[event.status]
            target.claim_token = None
            target.claimed_at = None
    elif event.status == "in-progress" and target.state in ("pending", "starting"):
        target.state = "recording"
        target.claim_token = None
        target.claimed_at = None
    if event.start_time_ms and not target.start_time_ms:
        target.start_time_ms = event.start_time_ms
    if event.error_code and target.state in FINAL_STATES:
        target.last_error = f"recording {event.status}, error {event.error_code}"
    target.updated_at = now


def _assign_worker_call(session: Session, task_sid: str, call_sid: str) -> None:
    """Give a worker leg to the newest accepted reservation of the task that has none."""
    reservations = session.scalars(
        select(ReservationRecord)
        .where(ReservationRecord.task_sid == task_sid)
        .order_by(ReservationRecord.accepted_ms.desc().nulls_last())
    ).all()
    if any(r.worker_call_sid == call_sid for r in reservations):
        return
    for reservation in reservations:
        if reservation.status in ("accepted", "wrapping") and reservation.worker_call_sid is None:
            reservation.worker_call_sid = call_sid
            return


def _studio_start_ms(attrs: Mapping[str, Any]) -> int | None:
    media = lookup(attrs, "conversations.media")
    if not isinstance(media, list):
        return None
    for entry in media:
        if isinstance(entry, dict) and entry.get("type") == "VoiceRecording":
            try:
                return parse_time_ms(entry.get("start_time"))
            except ValueError:
                return None
    return None


def _event_key(prefix: str, event_id: str | None, event: object) -> str:
    """Event Streams ids are unique; otherwise the event's content is its identity."""
    if event_id:
        return f"{prefix}:{event_id}"[:128]
    digest = hashlib.sha256(repr(event).encode()).hexdigest()
    return f"{prefix}:{digest}"
