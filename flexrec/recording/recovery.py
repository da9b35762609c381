"""Finding what webhooks and the queue lost: ask Twilio, re-enqueue, refresh quiet recordings.

- `refresh_target`: how did a live recording end? For recordings whose status callbacks do not
  come to us (Studio's) or got lost.
- `catch_up_task`: re-read a task and its reservations from TaskRouter (lost TaskRouter events).
- `reconcile`: the safety net run periodically and at startup: due or stale targets and links,
  live voice tasks with no target, pauses never applied, recordings still paused when the work
  ended, old seen-marks.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterable, Sequence
from datetime import timedelta
from typing import TypeVar

import structlog
from sqlalchemy import bindparam, or_, select

from flexrec.db.models import AttributeWrite, RecordingTarget, ReservationRecord, TaskRecord
from flexrec.recording import transitions
from flexrec.recording.context import (
    JOB_LINK,
    JOB_REFRESH,
    JOB_SETTLE,
    JOB_START,
    Jobs,
    ServiceContext,
)
from flexrec.recording.dedup import forget_old_events
from flexrec.recording.pause import PauseController
from flexrec.recording.planner import Plan, Planner, Seen
from flexrec.recording.rows import TaskFields, merge_reservation_info, upsert_task
from flexrec.recording.search import cut_short
from flexrec.recording.settle import COMPLETED_SETTLE_DELAY_S, SETTLED_STATES
from flexrec.recording.states import (
    LIVE_STATES,
    LIVE_TASK_STATUSES,
    RECORDING_OUTCOMES,
    WORK_OVER_TASK_STATUSES,
)
from flexrec.recording.store import Executor, insert_ignore, write_session
from flexrec.twilio.gateway import GatewayError, TaskSnapshot
from flexrec.webhooks.events import RecordingStatusEvent

log = structlog.get_logger(__name__)
_K = TypeVar("_K")

REFRESH_DELAY_S = 30.0
# A live task with links whose attributes were not seen for this long is fetched by reconcile.
RECHECK_S = 55.0
SETTLE_GRACE_S = 2 * COMPLETED_SETTLE_DELAY_S  # the settle job's own delay, and then some
# Ended targets whose call's end nobody reported are settled by reconcile (asking Twilio once)
# when they ended this recently; older ones are left as they are.
UNSETTLED_WINDOW = timedelta(hours=12)
UNSETTLED_BATCH = 200
REFRESH_ATTEMPTS = 10
# A live recording with no news for this long is asked about (at most once per period each);
# a run asks about the longest-quiet ones first, a batch at a time.
QUIET_LIVE_S = REFRESH_DELAY_S * 4
QUIET_LIVE_BATCH = 500


_LIVE_TARGETS = select(RecordingTarget.id).where(
    RecordingTarget.call_sid == bindparam("call"), RecordingTarget.state.in_(LIVE_STATES)
)


def live_target_ids(executor: Executor, call_sid: str) -> Sequence[int]:
    """Targets on the leg whose recording may still be running (to ask Twilio later)."""
    return list(executor.execute(_LIVE_TARGETS, {"call": call_sid}).scalars())


class Recovery:
    """Asks Twilio what webhooks and the queue did not tell, and re-enqueues what is due."""

    def __init__(self, ctx: ServiceContext, planner: Planner, pauses: PauseController) -> None:
        self.ctx = ctx
        self.planner = planner
        self.pauses = pauses
        self._reconciling = threading.Lock()
        # When this process began: a recording it has heard nothing of since may have ended
        # while the service was down (its status callback lost with the killed process).
        self._started = ctx.now()
        # Set by the service: applies a recording status as if Twilio had posted it.
        self.on_status: Callable[[RecordingStatusEvent], object] | None = None

    # -- recordings ---------------------------------------------------------------------------
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
        if info is not None and info.status in RECORDING_OUTCOMES:
            if self.on_status is not None:
                self.on_status(
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
            return RECORDING_OUTCOMES[info.status]
        with write_session(self.ctx.sessions) as session:
            # Touched, so reconcile() looks at this one again only after a quiet period.
            transitions.touch(session, target_id, self.ctx.now())
        if attempt < REFRESH_ATTEMPTS:  # still in progress or processing: look again later
            self.ctx.schedule(JOB_REFRESH, target_id, attempt + 1, delay_s=REFRESH_DELAY_S)
        return "recording"

    def schedule_refresh(self, target_ids: Sequence[int]) -> None:
        """Ask Twilio about these live recordings a little later (their leg ended)."""
        for target_id in target_ids:
            self.ctx.schedule(JOB_REFRESH, target_id, 1, delay_s=REFRESH_DELAY_S)

    # -- tasks --------------------------------------------------------------------------------
    def catch_up_task(self, task_sid: str) -> None:
        """Re-read a task and its reservations from TaskRouter and act on them (lost webhooks)."""
        self._sync_reservations(task_sid)
        self.planner.execute(self.refresh_task(task_sid))

    def refresh_task(self, task_sid: str) -> Plan:
        """Fetch the task from TaskRouter and plan it; an empty plan if TaskRouter fails."""
        try:
            snapshot = self.ctx.tasks.fetch_task(task_sid)
        except GatewayError as exc:
            log.warning("task fetch failed", task_sid=task_sid, error=str(exc))
            return Plan()
        return self._apply_snapshot(snapshot)

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
                if row is not None:  # inserted above unless it existed
                    merge_reservation_info(row, info, now, now_ms)
        self.ctx.memos.forget(task_sid)

    def _with_attributes(self, listed: Sequence[TaskSnapshot]) -> list[TaskSnapshot]:
        """Live voice tasks with attributes to plan on. List Tasks answers `attributes: null`
        (spec: shown only on FETCH), so a task whose attributes we do not hold yet is fetched;
        one we hold keeps ours (a list never overwrites them). A task with links whose
        attributes this process has not seen for a while (any, after a restart) is fetched
        too, so a link another writer dropped meanwhile is written back (at most one fetch per
        live task per reconcile)."""
        voice = [s for s in listed if s.channel in (None, "voice")]
        unknown = [s.sid for s in voice if s.attributes is None]
        held: set[str] = set()
        linked: set[str] = set()
        if unknown:
            with self.ctx.sessions() as session:
                held = set(
                    session.scalars(
                        select(TaskRecord.sid)
                        .where(TaskRecord.sid.in_(unknown))
                        .where(TaskRecord.attributes.is_not(None))
                    )
                )
                linked = set(
                    session.scalars(
                        select(AttributeWrite.task_sid)
                        .where(AttributeWrite.task_sid.in_(unknown))
                        .where(AttributeWrite.status == "done")
                    )
                )
        seen = self.ctx.attributes_seen
        out: list[TaskSnapshot] = []
        for snapshot in voice:
            stale = snapshot.sid in linked and not seen.seen_within(snapshot.sid, RECHECK_S)
            if snapshot.attributes is None and (snapshot.sid not in held or stale):
                fetched = self._fetch_task(snapshot.sid)
                if fetched is None:
                    continue  # the next reconcile tries again
                snapshot = fetched
            out.append(snapshot)
        return out

    def _list_live_tasks(self) -> list[TaskSnapshot]:
        """The live tasks, one assignment status at a time, each with a few quick tries: after
        a restart this list is how calls that began while the service was down are found, and
        one blip among its requests (one per status) would leave them all unrecorded for a
        whole reconcile period. A status that keeps failing is left to the next run."""
        ctx = self.ctx
        live: list[TaskSnapshot] = []
        for status in LIVE_TASK_STATUSES:
            for tries in range(1, ctx.inline_attempts + 1):
                try:
                    live.extend(ctx.tasks.list_tasks((status,)))
                    break
                except GatewayError as exc:
                    log.warning("reconcile could not list tasks", status=status,
                                attempt=tries, error=str(exc))  # fmt: skip
                    if not exc.retryable:
                        break
                    if tries < ctx.inline_attempts:
                        ctx.pause_before_retry(tries)
        return live

    def _fetch_task(self, task_sid: str, attempts: int = 3) -> TaskSnapshot | None:
        """The task, fetched with a few quick tries (a failed fetch delays a recovery a whole
        reconcile period)."""
        for attempt in range(1, attempts + 1):
            try:
                return self.ctx.tasks.fetch_task(task_sid)
            except GatewayError as exc:
                log.warning("reconcile could not fetch task", task_sid=task_sid,
                            attempt=attempt, error=str(exc))  # fmt: skip
                if not exc.retryable:
                    return None
        return None

    def _apply_snapshot(self, snapshot: TaskSnapshot, *, claim: bool = True) -> Plan:
        now = self.ctx.now()
        # A view without attributes (a list) is partial: it must not count as newer than an
        # event whose attributes we have not applied yet, or that event would be dropped as
        # stale. A fetch is the whole current task.
        event_ms = int(now.timestamp() * 1000) if snapshot.attributes is not None else 0
        fields = TaskFields(
            attributes=snapshot.attributes,
            status=snapshot.assignment_status,
            queue_sid=snapshot.queue_sid,
            queue_name=snapshot.queue_name,
            workflow_sid=snapshot.workflow_sid,
            workflow_name=snapshot.workflow_name,
            channel=snapshot.channel,
        )
        seen = (
            Seen(snapshot.attributes, event_ms, "fetch")
            if snapshot.attributes is not None
            else None
        )
        with write_session(self.ctx.sessions) as session:
            task = upsert_task(session, snapshot.sid, fields, now=now, event_ms=event_ms)
            plan = self.planner.plan(session, task, now, None, claim=claim, seen=seen)
        self.ctx.memos.forget(snapshot.sid)
        return plan

    # -- the safety net -----------------------------------------------------------------------
    def recover_claims(self) -> list[int]:
        """Take back the claims of processes that are gone and start their targets again."""
        lease = self.ctx.lease
        if lease is None:
            return []
        released = lease.reap()
        if self.ctx.queue is not None:
            for target_id in released:
                self.ctx.schedule(JOB_START, target_id)
        else:
            self.planner.execute(Plan(start=released))
        return released

    def reconcile(self) -> int:
        """Safety net: re-enqueue due/stale targets and links, and find live tasks with no target.

        Returns how many targets were re-enqueued or created. One run at a time per process:
        a run asked for while one is under way (start-up recovery, the ticker and the queue's
        schedule can meet) is skipped, not stacked: the running one does the same work.
        """
        if not self._reconciling.acquire(blocking=False):
            log.debug("reconcile already running here; skipped")
            return 0
        try:
            return self._reconcile()
        finally:
            self._reconciling.release()

    def _reconcile(self) -> int:
        ctx = self.ctx
        if ctx.lease is not None:
            try:  # what gone processes held is due again, and so picked up below
                ctx.lease.reap()
            except Exception:
                log.exception("reaping gone claim owners failed")
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
                .where(TaskRecord.status.in_(WORK_OVER_TASK_STATUSES))
            ).all()
            # Every recording we believe live and have heard nothing of for a quiet period is
            # checked against Twilio, whatever we think of its task: the callback that would
            # have ended it, and the task's events, may have been lost (the service was down).
            # A check touches the target, so a long call costs one request per quiet period.
            quiet_live = session.scalars(
                select(RecordingTarget.id)
                .where(RecordingTarget.state.in_(LIVE_STATES))
                .where(RecordingTarget.recording_sid.is_not(None))
                .where(RecordingTarget.updated_at < now - timedelta(seconds=QUIET_LIVE_S))
                .order_by(RecordingTarget.updated_at)
                .limit(QUIET_LIVE_BATCH)
            ).all()
            wishing = session.scalars(
                select(RecordingTarget.id)
                .where(RecordingTarget.desired_state == "paused")
                .where(RecordingTarget.state.in_(LIVE_STATES))
            ).all()
            # Recording ends nobody settled (a crash before the settle job ran): replace,
            # respect a stop, or close them now.
            unsettled = session.scalars(
                select(RecordingTarget.id)
                .where(RecordingTarget.state.in_(SETTLED_STATES))
                .where(RecordingTarget.call_ended_at.is_(None))
                .where(RecordingTarget.updated_at < now - timedelta(seconds=SETTLE_GRACE_S))
                .where(RecordingTarget.updated_at > now - UNSETTLED_WINDOW)
                .order_by(RecordingTarget.updated_at.desc())
                .limit(UNSETTLED_BATCH)
            ).all()
            searches = cut_short(session, now, worker_policy=ctx.policy.leg == "worker")
            # After a restart, every recording believed live that this process has not heard
            # of is asked about at once, not after the quiet period: one that ended absent or
            # failed while the service was down is replaced only once flexrec knows, and the
            # call may be minutes from its end (a soak lost a call talking 92 s more). Each
            # answer touches the target, so this is once per recording per restart.
            unheard = session.scalars(
                select(RecordingTarget.id)
                .where(RecordingTarget.state.in_(LIVE_STATES))
                .where(RecordingTarget.recording_sid.is_not(None))
                .where(RecordingTarget.updated_at < self._started)
                .where(RecordingTarget.updated_at >= now - timedelta(seconds=QUIET_LIVE_S))
                .limit(QUIET_LIVE_BATCH)
            ).all()
        for target_id in unheard:  # in the background: the task list below must not wait
            ctx.schedule(JOB_REFRESH, target_id, REFRESH_ATTEMPTS)
        if self.planner.search is not None:
            # From the database, before anything asks Twilio: it may refuse the task list (a
            # 429 at start-up), and a call whose customer leg a killed process was looking for
            # ends unrecorded within seconds.
            for task_sid in searches:
                self.planner.search.request(task_sid)
        refresh = functools.partial(self.refresh_target, attempt=REFRESH_ATTEMPTS)
        _each("refresh", dict.fromkeys(quiet_live), refresh)
        _each("apply pause", wishing, self.pauses.apply_pending_pause)
        for target_id in unsettled:
            ctx.schedule(JOB_SETTLE, target_id)
        plan = Plan(start=list(target_ids), link=list(link_ids))
        count = len(target_ids)
        for snapshot in self._with_attributes(self._list_live_tasks()):
            try:
                found = self._apply_snapshot(snapshot, claim=ctx.queue is None)
            except Exception:
                # One task that cannot be stored (bad data) must not stop the others.
                log.exception("reconcile skipped a task", task_sid=snapshot.sid)
                continue
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
            self.planner.execute(plan)
        _each("auto-resume", set(paused_tasks), lambda t: self.pauses.auto_resume(t, None))
        forget_old_events(ctx.sessions, now)
        # Every minute: an INFO line only when the safety net found something to do.
        report = log.info if count or plan.link else log.debug
        report("reconciled", targets=count, links=len(plan.link))
        return count

    def jobs(self) -> Jobs:
        """This room's queue jobs by name (their arguments are row ids and SIDs)."""
        return {
            JOB_REFRESH: lambda target_id, attempt=1: self.refresh_target(
                int(target_id), int(attempt)
            )
        }


def _each(what: str, items: Iterable[_K], work: Callable[[_K], object]) -> None:
    """Run `work` on every item; one that fails is logged and the rest still run."""
    for item in items:
        try:
            work(item)
        except Exception:
            log.exception("reconcile step failed", step=what, item=item)
