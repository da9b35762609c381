"""Deciding which legs of a task must be recorded, and running that plan once committed.

`Planner.plan` runs inside the event's write transaction, with the task row locked: it asks the
policy, ensures each leg's `recording_targets` row (unique per leg) and the (task, target)
attribute link, and claims due targets, so the plan's work is durable before the webhook
answers. `Planner.execute` then tries the starts and link writes right away (the fast path);
whatever fails stays due for the queue or `reconcile`. A start (`Planner.start`, also the queue's
start job) runs what the attempt leaves to its caller: the pause an agent asked for before the
recording began, the task links, and the status callbacks parked while it ran.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import structlog
from sqlalchemy import bindparam, or_, select
from sqlalchemy.orm import Session

from flexrec.db.models import ConferenceParticipantRecord, ReservationRecord, TaskRecord
from flexrec.db.prepared import Prepared, one_of
from flexrec.recording.attributes import attribute_facts, media_recording_sids
from flexrec.recording.context import JOB_START, Jobs, ServiceContext
from flexrec.recording.dedup import retry_contention
from flexrec.recording.links import LinkWriter, Wanted, check_seen
from flexrec.recording.policy import TaskFacts
from flexrec.recording.recording_status import RecordingStatuses
from flexrec.recording.rows import assign_worker_call
from flexrec.recording.search import LegSearch
from flexrec.recording.starter import Claim, RecordingStarter, StartOutcome
from flexrec.recording.states import (
    ACTIVE_RESERVATION_STATUSES,
    ANSWERED_TASK_STATUSES,
    OPEN_RESERVATION_STATUSES,
    WORK_OVER_TASK_STATUSES,
)
from flexrec.recording.store import ensure_link
from flexrec.recording.system_pauses import SystemPauses
from flexrec.recording.transitions import TargetRow, ensure_target, target_row
from flexrec.webhooks.events import RecordingStatusEvent

log = structlog.get_logger(__name__)


class Participant(Protocol):
    """A conference leg as planning reads it (a row of conference_participants)."""

    call_sid: str
    label: str | None
    joined: bool


_Participants = Callable[[], list[Participant]]  # read once, when first asked


@dataclass(frozen=True)
class Seen:
    """Task attributes the service just saw: where, and as of when (epoch ms)."""

    attributes: Mapping[str, Any]
    at_ms: int
    source: str  # webhook | fetch


@dataclass
class Plan:
    """Work to try right after the transaction commits."""

    start: list[int] = field(default_factory=list)
    link: list[int] = field(default_factory=list)
    # Targets claimed inside the planning transaction, for a start attempt right after it.
    claims: dict[int, Claim] = field(default_factory=dict)
    claim: bool = True  # False when the plan's starts go to the queue instead
    seen: Seen | None = None  # attributes just seen, to check the task's links against
    # The task's media already names a recording (Studio's Send To Flex writes one): list the
    # leg's recordings before creating (a start is otherwise one round trip: the create).
    other_recorder: bool = False
    # Nothing is left to do for the task (not recorded by policy, or its customer leg's
    # recording runs and is linked): an event that changes nothing planning reads need not
    # plan it again (flexrec.recording.task_memo).
    settled: bool = False
    links_done: bool = False  # a link of the task is written (its media can be lost)
    # Links the seen attributes were checked against and hold: what each wants, by media list.
    checked: dict[str | None, Wanted] = field(default_factory=dict)
    # Tasks whose customer leg must be looked for (task SID, urgent), after the commit.
    search: list[tuple[str, bool]] = field(default_factory=list)

    def extend(self, other: Plan) -> None:
        """Add another plan's work."""
        self.start.extend(other.start)
        self.link.extend(other.link)
        self.claims.update(other.claims)
        self.search.extend(other.search)


class Planner:
    """Plans a task's recordings inside its transaction and executes the plan after commit."""

    def __init__(
        self,
        ctx: ServiceContext,
        starter: RecordingStarter,
        links: LinkWriter,
        statuses: RecordingStatuses,
        pauses: SystemPauses,
    ) -> None:
        self.ctx = ctx
        self.starter = starter
        self.links = links
        self.statuses = statuses
        self.pauses = pauses
        # Queued searches for legs nothing named (search.py): a leg found is stored and its
        # task planned and executed here, as if Flex had named it.
        self.search: LegSearch[Plan] = LegSearch(
            ctx, lambda session, task, now: self.plan(session, task, now, None), self.execute
        )

    def plan(
        self,
        session: Session,
        task: TaskRecord,
        now: datetime,
        event_ms: int | None,
        *,
        claim: bool = True,
        seen: Seen | None = None,
    ) -> Plan:
        """The task's targets and links ensured (in `session`), and what to try after commit.

        `seen`: attributes the service just saw (an event's, a fetch's): a link they lack is
        written back (flexrec.recording.links)."""
        plan = Plan(claim=claim, seen=seen)
        plan.other_recorder = bool(media_recording_sids(task.attributes))
        if seen is not None:
            self.ctx.attributes_seen.note(task.sid)
        attrs = task.attributes or {}
        if task.channel not in (None, "voice"):
            plan.settled = True
            return plan
        if attrs.get("client_call") is True:
            task.policy_decision = "internal call: no customer leg"
            plan.settled = True
            return plan
        # Read only when needed: an inbound task with its leg in the attributes never needs it.
        participants: _Participants = functools.cache(
            functools.partial(_participants, session, task)
        )
        if task.customer_call_sid is None and task.direction is not None:
            for p in participants():
                if p.label == "customer":
                    task.customer_call_sid = p.call_sid
                    break
        if task.customer_call_sid is None and not attrs and not participants():
            plan.settled = self.ctx.policy.leg == "customer"  # what comes next says more
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
            plan.settled = True
            return plan
        if self.ctx.policy.leg == "customer":
            self._plan_customer(session, task, participants, now, event_ms, plan)
            # Planning again helps only once something it reads changes: the link writes and
            # searches it set off run on their own schedules (and reconcile's), and every input
            # of a plan is watched (task_events.TaskEvents._replan; conference callbacks plan
            # themselves). A target still waiting to start is the exception: any event of its
            # task may start it when due, besides its retry. The worker-leg policy plans every
            # event.
            plan.settled = not plan.start
        else:
            self._plan_worker(session, task, participants, now, event_ms, plan)
        return plan

    def execute(self, plan: Plan) -> None:
        """Run the plan's starts and link writes right after the webhook is answered.

        The plan's intents are committed (a claimed or pending target, a pending link), so the
        answer need not wait for Twilio: a process killed between the answer and the create is
        reaped at its restart and the start runs again (listing first, as its claim was taken).
        """
        for target_id in dict.fromkeys(plan.start):
            claim = plan.claims.get(target_id)
            if claim is not None:
                # Callbacks of the recording may overtake the start: park them from now on.
                self.starter.in_flight.begin(claim.call_sid)
            self.ctx.after(functools.partial(self._start, target_id, claim), first=True)
        for write_id in dict.fromkeys(plan.link):
            self.ctx.after(functools.partial(self.links.link_or_queue, write_id))
        for task_sid, urgent in dict.fromkeys(plan.search):
            self.search.request(task_sid, urgent=urgent)

    def start(self, target_id: int, claim: Claim | None = None) -> StartOutcome:
        """One start attempt on the target (no-op unless the claim is won) and what it sets off:
        a pause asked for before the recording began, its task links, and the callbacks parked
        while it ran that it did not account for. `claim`: one the caller already won."""
        starter = self.starter
        if claim is None:
            claim = starter.claim(target_id)
            if claim is None:
                return StartOutcome("not-claimed")
        starter.in_flight.begin(claim.call_sid)
        outcome = StartOutcome("failed")
        try:
            outcome = starter.attempt(target_id, claim)
            if outcome.pause_wanted:
                self.pauses.apply_pending_pause(target_id)
            if outcome.outcome == "recording":
                # The recording is safe; linking it (two TaskRouter round trips) need not hold
                # the webhook: the pending rows are committed, so the queue or reconcile finish
                # them anyway.
                self.links.after_commit(target_id)
            return outcome
        finally:
            for event in starter.in_flight.end(claim.call_sid):
                if event.recording_sid == outcome.recording_sid:
                    continue
                try:
                    self._handle_parked(event)
                except Exception:
                    log.exception("parked callback failed", call_sid=claim.call_sid)

    @retry_contention
    def _handle_parked(self, event: RecordingStatusEvent) -> None:
        """A parked callback the attempt did not store, handled as it came. Only `in-progress`
        callbacks are parked, and they end nothing: there is nothing to settle or archive."""
        self.statuses.handle(event)

    def _start(self, target_id: int, claim: Claim | None) -> None:
        try:
            self.start(target_id, claim)
        except Exception:
            # The row stays due: the retry (now) or reconcile (later) tries again.
            log.exception("fast-path start failed", target_id=target_id)
            self.ctx.schedule(JOB_START, target_id, delay_s=self.ctx.base_backoff_s)

    def _plan_customer(
        self,
        session: Session,
        task: TaskRecord,
        participants: _Participants,
        now: datetime,
        event_ms: int | None,
        plan: Plan,
    ) -> None:
        call_sid = task.customer_call_sid
        if call_sid is None:
            if task.status not in WORK_OVER_TASK_STATUSES and _answered(
                session, task, participants
            ):
                # Answered, and nothing named the customer's leg: look for it (search.py).
                plan.search.append((task.sid, False))
            return
        # The customer leg's one target, whether adopted or started by us. A VoiceRecording
        # already in the attributes (Studio's, a copied one, another plugin's) proves nothing:
        # the start lists the leg's recordings and adopts only its own dual-channel one.
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
        if (self.ctx.policy.start_on == "task" and task.direction != "outbound") or _answered(
            session, task, participants
        ):
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
        plan: Plan,
    ) -> None:
        worker_calls = [p.call_sid for p in participants() if p.label == "worker" and p.joined]
        facts = attribute_facts(task.attributes)
        if facts.worker_call_sid:
            worker_calls.insert(0, facts.worker_call_sid)
        for call_sid in worker_calls:
            assign_worker_call(session, task.sid, call_sid)
        reservations = session.scalars(
            select(ReservationRecord).where(
                ReservationRecord.task_sid == task.sid,
                ReservationRecord.status.in_(OPEN_RESERVATION_STATUSES),
            )
        ).all()
        if any(r.worker_call_sid is None for r in reservations) and (
            task.status not in WORK_OVER_TASK_STATUSES
        ):
            # An accepted reservation whose agent leg nothing named: look for it (search.py).
            plan.search.append((task.sid, False))
        for reservation in reservations:
            worker_call = reservation.worker_call_sid
            if worker_call is None:
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
        plan: Plan,
    ) -> None:
        link = ensure_link(
            session,
            task_sid=task_sid,
            target_id=target.id,
            reservation_sid=reservation_sid,
            now=now,
        )
        plan.links_done = plan.links_done or link.status == "done"
        if target.state == "pending":
            plan.start.append(target.id)
            if plan.claim and target.id not in plan.claims:
                claim = self.starter.claim_in(
                    session, target, now, other_recorder=plan.other_recorder
                )
                if claim is not None:
                    plan.claims[target.id] = claim
        elif link.status == "pending" and target.recording_sid:
            plan.link.append(link.id)
        elif link.status == "done" and plan.seen is not None:
            if check_seen(
                session,
                write_id=link.id,
                written_at=link.written_at,
                target_id=target.id,
                reservation_sid=reservation_sid,
                seen=plan.seen.attributes,
                seen_ms=plan.seen.at_ms,
                seen_in=plan.seen.source,
                checked=plan.checked,
            ):
                plan.link.append(link.id)

    def jobs(self) -> Jobs:
        """This room's queue jobs by name (their arguments are row ids and SIDs)."""
        return {JOB_START: lambda target_id: self.start(int(target_id)).outcome}


def _participants(session: Session, task: TaskRecord) -> list[Participant]:
    if task.conference_sid:
        found = _PARTICIPANTS_OF_TASK_OR_CONFERENCE.execute(
            session, {"task": task.sid, "conference": task.conference_sid}
        )
    else:
        found = _PARTICIPANTS_OF_TASK.execute(session, {"task": task.sid})
    return list(found)


def _answered(session: Session, task: TaskRecord, participants: _Participants) -> bool:
    """A worker took the task: its status says so, a worker leg joined, or a reservation was
    accepted."""
    if task.status in ANSWERED_TASK_STATUSES:
        return True
    if any(p.label == "worker" for p in participants()):
        return True
    return _ANSWERED_RESERVATION.execute(session, {"task": task.sid}).first() is not None


# The statements planning runs on most events, prepared (flexrec.db.prepared): rows, not objects.
_PARTICIPANT = select(
    ConferenceParticipantRecord.call_sid,
    ConferenceParticipantRecord.label,
    ConferenceParticipantRecord.joined,
).order_by(ConferenceParticipantRecord.id)
_PARTICIPANTS_OF_TASK = Prepared(
    _PARTICIPANT.where(ConferenceParticipantRecord.friendly_name == bindparam("task"))
)
_PARTICIPANTS_OF_TASK_OR_CONFERENCE = Prepared(
    _PARTICIPANT.where(
        or_(
            ConferenceParticipantRecord.friendly_name == bindparam("task"),
            ConferenceParticipantRecord.conference_sid == bindparam("conference"),
        )
    )
)
_ANSWERED_RESERVATION = Prepared(
    select(ReservationRecord.sid)
    .where(
        ReservationRecord.task_sid == bindparam("task"),
        one_of(ReservationRecord.status, ACTIVE_RESERVATION_STATUSES),
    )
    .limit(1)
)
