"""Looking for a task's customer leg when no webhook will name it: poll the task's conference.

On accounts where Flex writes no `conference` into outbound task attributes, labels no
participant and no plugin set a conference status callback, nothing ever tells the service
which leg is the customer's. Once a task is answered (a reservation accepted) with its customer
leg unknown, the planner asks for a search: a queued job lists the task's conference (FriendlyName
= task SID), its participants and their calls (flexrec.recording.legs). Found: the leg is stored
on the task and the task is planned again, as if Flex had written it. Not found (the customer is
still ringing): the job runs again with backoff, through the durable queue, until the customer
answers, the task ends or `SEARCH_ATTEMPTS` ran out. Under the worker-leg policy the same search
finds the agents' legs (the `client:` ones) for open reservations that have none (a transfer's
new agent, where no label or attribute names it). A crash loses nothing: reconcile plans live
tasks again, and planning an answered task with no customer leg asks for a search again.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar, cast

import structlog
from sqlalchemy import ColumnElement, Connection, bindparam, or_, select
from sqlalchemy.orm import Session

from flexrec.db.models import ConferenceParticipantRecord, ReservationRecord, TaskRecord
from flexrec.db.prepared import Prepared, one_of
from flexrec.recording.context import JOB_FIND_LEGS, Jobs, ServiceContext
from flexrec.recording.legs import KnownLegs, LegLookup, find_legs
from flexrec.recording.rows import assign_worker_call
from flexrec.recording.states import OPEN_RESERVATION_STATUSES, WORK_OVER_TASK_STATUSES
from flexrec.recording.store import read_connection, write_session
from flexrec.twilio.gateway import GatewayError

log = structlog.get_logger(__name__)

SEARCH_FIRST_DELAY_S = 0.5
SEARCH_MAX_DELAY_S = 2.0  # a ringing customer answers within a minute or so: poll often
SEARCH_ATTEMPTS = 600  # ~20 minutes at the longest delay; the task's end stops it sooner
# Twilio failed a lookup (429, 5xx, timeout): ask again at once rather than after the growing
# poll delay. One search is several REST calls, so at a 20% error rate most attempts fail; on a
# backing-off schedule a short call could end before one attempt got through (a lost recording).
SEARCH_RETRY_AFTER_ERROR_S = 0.2
LOOK_NOW = 0  # the attempt number of an urgent search: one look now, beside a running one
# A search asked for again within this many seconds is already queued (per process).
REQUEST_WINDOW_S = 2.0
# A new search (attempt 1) for a task whose search ran here this recently is a duplicate: the
# running one goes on (reconcile re-plans live tasks every minute, each asking again).
CHAIN_IDLE_S = 3 * SEARCH_MAX_DELAY_S

# Searches a crash cut short are taken up again by reconcile for tasks touched this recently
# (about the span of a search's own SEARCH_ATTEMPTS), a batch at a time.
RESUME_WINDOW = timedelta(minutes=20)
RESUME_BATCH = 200
SEARCHED_TASK_STATUSES = ("reserved", "assigned")  # live, the work on it not over

# The planner's plan for a task, opaque here: the search hands it back to the planner to carry
# out (the planner holds the search, so the search never imports the planner).
PlanT = TypeVar("PlanT")


def search_delay_s(attempt: int) -> float:
    """Seconds before search attempt `attempt + 1`."""
    return float(min(SEARCH_MAX_DELAY_S, SEARCH_FIRST_DELAY_S * 1.5 ** max(0, attempt - 1)))


class LegSearch(Generic[PlanT]):
    """Queued searches for tasks' customer legs (see the module docstring)."""

    def __init__(
        self,
        ctx: ServiceContext,
        plan_task: Callable[[Session, TaskRecord, datetime], PlanT],
        execute: Callable[[PlanT], None],
    ) -> None:
        self.ctx = ctx
        self._plan_task = plan_task
        self._execute = execute
        self._asked: dict[str, float] = {}  # task SID -> monotonic time last queued here
        self._running: dict[str, float] = {}  # task SID -> monotonic time its search last ran
        # Task SID -> the conference an earlier poll found by name (the customer not in it yet):
        # the next polls list its participants directly, without listing conferences again.
        self._conferences: dict[str, str] = {}

    @property
    def lookup(self) -> LegLookup | None:
        """The gateway's conference lookups (None when the gateway offers none)."""
        gateway = self.ctx.recordings
        if not hasattr(gateway, "list_conferences"):
            return None
        return cast(LegLookup, gateway)

    def request(self, task_sid: str, *, urgent: bool = False) -> None:
        """Queue a search for the task (unless one was queued here just now); `urgent` (a leg
        just joined): look now, beside a search already waiting for its next poll."""
        now = time.monotonic()
        last = self._asked.get(task_sid)
        if not urgent and last is not None and now - last < REQUEST_WINDOW_S:
            return
        if len(self._asked) > 10_000:
            self._asked.clear()  # a bound, not a cache: a second search only costs a lookup
        self._asked[task_sid] = now
        self.ctx.schedule(JOB_FIND_LEGS, task_sid, LOOK_NOW if urgent else 1, delay_s=0.0)

    def run(self, task_sid: str, attempt: int = 1) -> str:
        """Queue job: one search: found | known | ended | gone | waiting | gave-up | duplicate.

        `attempt` LOOK_NOW: one look now; a search already polling goes on with its own
        schedule (a look that finds nothing queues no second one)."""
        now = time.monotonic()
        last = self._running.get(task_sid)
        if attempt <= 1 and last is not None and now - last < CHAIN_IDLE_S:
            if attempt == LOOK_NOW:
                # A leg joined while the search waits up to SEARCH_MAX_DELAY_S for its next
                # poll: that wait is talk left unrecorded, and the join's facts often answer
                # without asking Twilio anything (legs.KnownLegs).
                return self._attempt(task_sid, 1, chain=False)
            return "duplicate"
        attempt = max(attempt, 1)
        if len(self._running) > 10_000:
            self._running.clear()
        self._running[task_sid] = now
        outcome = self._attempt(task_sid, attempt)
        if outcome != "waiting":
            self._running.pop(task_sid, None)
            self._conferences.pop(task_sid, None)
        return outcome

    def _attempt(self, task_sid: str, attempt: int, *, chain: bool = True) -> str:
        worker_policy = self.ctx.policy.leg == "worker"
        # Plain reads of the columns a search looks at (prepared: no ORM objects, no session).
        with read_connection(self.ctx.sessions) as connection:
            task = _TASK.execute(connection, {"task": task_sid}).first()
            if task is None:
                return "gone"
            if task.status in WORK_OVER_TASK_STATUSES:
                return "ended"
            missing = (
                _RESERVATION_WITHOUT_LEG.execute(connection, {"task": task_sid}).first() is not None
                if worker_policy
                else task.customer_call_sid is None
            )
            if not missing:
                return "known"
            attributes = dict(task.attributes or {})
            task_conference = task.conference_sid
            known = self._known(connection, task_sid, task_conference)
        lookup = self.lookup
        if lookup is None or attributes.get("client_call") is True:
            return "gone"
        try:
            legs = find_legs(
                _QuickRetries(lookup, self.ctx),
                task_sid,
                attributes,
                known,
                want_workers=worker_policy,
                lists=chain,  # a look beside a polling search lists nothing: the poll does
            )
        except GatewayError as exc:
            log.info("leg search failed", task_sid=task_sid, error=str(exc))
            legs = None
        if legs is not None and legs.conference_sid and not task_conference:
            if len(self._conferences) > 10_000:
                self._conferences.clear()  # a bound: a poll without it lists by name again
            self._conferences[task_sid] = legs.conference_sid
        if legs is not None and worker_policy and legs.worker_call_sids:
            if self._found_workers(task_sid, legs.worker_call_sids):
                log.info("worker legs found", task_sid=task_sid)
                return "found"
        elif legs is not None and legs.customer_call_sid is not None:
            self._found(task_sid, legs.customer_call_sid, legs.conference_sid)
            log.info("customer leg found", task_sid=task_sid, call_sid=legs.customer_call_sid)
            return "found"
        if not chain:
            return "waiting"  # the running search polls again on its own schedule
        if attempt >= SEARCH_ATTEMPTS:
            log.warning("customer leg never found", task_sid=task_sid, attempts=attempt)
            return "gave-up"
        delay_s = SEARCH_RETRY_AFTER_ERROR_S if legs is None else search_delay_s(attempt)
        self.ctx.schedule(JOB_FIND_LEGS, task_sid, attempt + 1, delay_s=delay_s)
        return "waiting"

    def _known(
        self, connection: Connection, task_sid: str, task_conference: str | None
    ) -> KnownLegs:
        """What the database and this process already know of the task's legs."""
        if task_conference:
            params = {"task": task_sid, "conference": task_conference}
            rows = _JOINED_OF_TASK_OR_CONFERENCE.execute(connection, params).rows
        else:
            rows = _JOINED_OF_TASK.execute(connection, {"task": task_sid}).rows
        conference_sid = (
            task_conference
            or next((r.conference_sid for r in rows), None)
            or self._conferences.get(task_sid)
        )
        agents = _AGENT_LEGS.execute(connection, {"task": task_sid}).rows
        return KnownLegs(
            conference_sid=conference_sid,
            participants=tuple(r for r in rows if r.conference_sid == conference_sid),
            agents=frozenset(r.worker_call_sid for r in agents if r.worker_call_sid),
            calls=self.ctx.calls,
        )

    def _found_workers(self, task_sid: str, call_sids: tuple[str, ...]) -> bool:
        """Give the agents' legs to the task's open reservations that have none (in join order,
        as labelled joins would); True when none is left without a leg."""
        now = self.ctx.now()
        with write_session(self.ctx.sessions) as session:
            task = session.scalars(
                select(TaskRecord).where(TaskRecord.sid == task_sid).with_for_update()
            ).first()
            if task is None:
                return True
            for call_sid in call_sids:
                assign_worker_call(session, task_sid, call_sid)
            done = not _reservations_without_leg(session, task_sid)
            task.updated_at = now
            plan = self._plan_task(session, task, now)
        self.ctx.memos.forget(task_sid)
        self._execute(plan)
        return done

    def _found(self, task_sid: str, call_sid: str, conference_sid: str | None) -> None:
        now = self.ctx.now()
        with write_session(self.ctx.sessions) as session:
            task = session.scalars(
                select(TaskRecord).where(TaskRecord.sid == task_sid).with_for_update()
            ).first()
            if task is None:
                return
            task.customer_call_sid = task.customer_call_sid or call_sid
            task.conference_sid = task.conference_sid or conference_sid
            task.updated_at = now  # what a memo of this row knew no longer holds
            plan = self._plan_task(session, task, now)
        self.ctx.memos.forget(task_sid)
        self._execute(plan)

    def jobs(self) -> Jobs:
        """This room's queue jobs by name (their arguments are row ids and SIDs)."""
        return {JOB_FIND_LEGS: lambda task_sid, attempt=1: self.run(str(task_sid), int(attempt))}


def cut_short(session: Session, now: datetime, *, worker_policy: bool) -> list[str]:
    """Answered live tasks whose leg nothing has named yet, touched within the search's own
    span: a search whose next attempt died with its process (searches run in-process), to be
    taken up again from the database alone, since Twilio may refuse the task list just then."""
    open_reservation = select(ReservationRecord.task_sid).where(
        ReservationRecord.status.in_(OPEN_RESERVATION_STATUSES)
    )
    missing: ColumnElement[bool]
    if worker_policy:
        missing = TaskRecord.sid.in_(
            open_reservation.where(ReservationRecord.worker_call_sid.is_(None))
        )
    else:
        missing = TaskRecord.customer_call_sid.is_(None) & (
            (TaskRecord.status == "assigned") | TaskRecord.sid.in_(open_reservation)
        )
    return list(
        session.scalars(
            select(TaskRecord.sid)
            .where(TaskRecord.status.in_(SEARCHED_TASK_STATUSES))
            .where(TaskRecord.updated_at > now - RESUME_WINDOW)
            .where(missing)
            .order_by(TaskRecord.updated_at.desc())
            .limit(RESUME_BATCH)
        ).all()
    )


_T = TypeVar("_T")


class _QuickRetries:
    """A lookup whose REST calls are each tried again at once after a blip (429, 5xx,
    timeout), a few times: a search is several calls, and starting the whole search over after
    any one failed made most searches fail at a 20% error rate (each a few seconds of the call
    unrecorded). A call that keeps failing fails the search, which runs again later."""

    def __init__(self, lookup: LegLookup, ctx: ServiceContext) -> None:
        self._lookup = lookup
        self._ctx = ctx

    def _call(self, request: Callable[[], _T]) -> _T:
        tries = self._ctx.inline_attempts
        for attempt in range(1, tries):
            try:
                return request()
            except GatewayError as exc:
                if not exc.retryable:
                    raise
                self._ctx.pause_before_retry(attempt)
        return request()

    def list_conferences(self, friendly_name: str, status: str | None = None) -> Sequence[Any]:
        """Conferences with this FriendlyName (see LegLookup)."""
        return self._call(lambda: self._lookup.list_conferences(friendly_name, status))

    def list_participants(self, conference_sid: str) -> Sequence[Any]:
        """The legs still in a conference (see LegLookup)."""
        return self._call(lambda: self._lookup.list_participants(conference_sid))

    def fetch_call(self, call_sid: str) -> Any:
        """One call leg (see LegLookup)."""
        return self._call(lambda: self._lookup.fetch_call(call_sid))


def _reservations_without_leg(session: Session, task_sid: str) -> list[str]:
    """The task's open reservations whose agent leg is not known yet."""
    return list(
        session.scalars(
            select(ReservationRecord.sid).where(
                ReservationRecord.task_sid == task_sid,
                ReservationRecord.status.in_(OPEN_RESERVATION_STATUSES),
                ReservationRecord.worker_call_sid.is_(None),
            )
        ).all()
    )


# A search's reads, prepared (flexrec.db.prepared): it runs on every poll of a ringing leg.
_TASK = Prepared(
    select(
        TaskRecord.status,
        TaskRecord.customer_call_sid,
        TaskRecord.conference_sid,
        TaskRecord.attributes,
    ).where(TaskRecord.sid == bindparam("task"))
)
_RESERVATION_WITHOUT_LEG = Prepared(
    select(ReservationRecord.sid)
    .where(
        ReservationRecord.task_sid == bindparam("task"),
        one_of(ReservationRecord.status, OPEN_RESERVATION_STATUSES),
        ReservationRecord.worker_call_sid.is_(None),
    )
    .limit(1)
)
_JOINED = (
    select(
        ConferenceParticipantRecord.call_sid,
        ConferenceParticipantRecord.label,
        ConferenceParticipantRecord.conference_sid,
    )
    .where(ConferenceParticipantRecord.joined.is_(True))
    .order_by(ConferenceParticipantRecord.id)
)
_JOINED_OF_TASK = Prepared(
    _JOINED.where(ConferenceParticipantRecord.friendly_name == bindparam("task"))
)
_JOINED_OF_TASK_OR_CONFERENCE = Prepared(
    _JOINED.where(
        or_(
            ConferenceParticipantRecord.friendly_name == bindparam("task"),
            ConferenceParticipantRecord.conference_sid == bindparam("conference"),
        )
    )
)
_AGENT_LEGS = Prepared(
    select(ReservationRecord.worker_call_sid).where(
        ReservationRecord.task_sid == bindparam("task"),
        ReservationRecord.worker_call_sid.is_not(None),
    )
)
