"""The safety net, run periodically and at start-up: whatever webhooks and the queue lost.

`reconcile` re-enqueues due or stale targets and links, plans live voice tasks with no target,
applies pauses never applied, resumes recordings still paused when the work ended, asks Twilio
about quiet live recordings (flexrec.recording.recovery) and applies the ends it finds as if
their status callbacks had come (flexrec.recording.intake), and forgets old seen-marks.
`recover_claims` takes back what processes that are gone had claimed.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import timedelta
from typing import TypeVar

import structlog
from sqlalchemy import or_, select

from flexrec.db.models import AttributeWrite, RecordingTarget, TaskRecord
from flexrec.recording.context import (
    JOB_LINK,
    JOB_REFRESH,
    JOB_SETTLE,
    JOB_START,
    Jobs,
    ServiceContext,
)
from flexrec.recording.dedup import forget_old_events
from flexrec.recording.intake import EventIntake
from flexrec.recording.planner import Plan, Planner
from flexrec.recording.recovery import REFRESH_ATTEMPTS, REFRESH_DELAY_S, Recovery
from flexrec.recording.search import cut_short
from flexrec.recording.settle import COMPLETED_SETTLE_DELAY_S, SETTLED_STATES
from flexrec.recording.states import LIVE_STATES, LIVE_TASK_STATUSES, WORK_OVER_TASK_STATUSES
from flexrec.recording.system_pauses import SystemPauses
from flexrec.twilio.gateway import GatewayError, TaskSnapshot

log = structlog.get_logger(__name__)
_K = TypeVar("_K")

# A live task with links whose attributes were not seen for this long is fetched by reconcile.
RECHECK_S = 55.0
SETTLE_GRACE_S = 2 * COMPLETED_SETTLE_DELAY_S  # the settle job's own delay, and then some
# Ended targets whose call's end nobody reported are settled by reconcile (asking Twilio once)
# when they ended this recently; older ones are left as they are.
UNSETTLED_WINDOW = timedelta(hours=12)
UNSETTLED_BATCH = 200
# A live recording with no news for this long is asked about (at most once per period each);
# a run asks about the longest-quiet ones first, a batch at a time.
QUIET_LIVE_S = REFRESH_DELAY_S * 4
QUIET_LIVE_BATCH = 500


class Reconciler:
    """Finds what is due, stale or lost and sets it going again (see the module docstring)."""

    def __init__(
        self,
        ctx: ServiceContext,
        planner: Planner,
        recovery: Recovery,
        intake: EventIntake,
        pauses: SystemPauses,
    ) -> None:
        self.ctx = ctx
        self.planner = planner
        self.recovery = recovery
        self.intake = intake
        self.pauses = pauses
        self._reconciling = threading.Lock()
        # When this process began: a recording it has heard nothing of since may have ended
        # while the service was down (its status callback lost with the killed process).
        self._started = ctx.now()

    def refresh(self, target_id: int, attempt: int = 1) -> str:
        """Queue job: ask Twilio how a quiet live recording ended and apply the end it found
        as if its status callback had come. Returns the target's state."""
        refreshed = self.recovery.refresh_target(target_id, attempt)
        if refreshed.ended is not None:
            self.intake.handle_recording_status(refreshed.ended)
        return refreshed.state

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
        # From the database, before anything asks Twilio: it may refuse the task list (a
        # 429 at start-up), and a call whose customer leg a killed process was looking for
        # ends unrecorded within seconds.
        for task_sid in searches:
            self.planner.search.request(task_sid)
        _each("apply pause", wishing, self.pauses.apply_pending_pause)
        for target_id in unsettled:
            ctx.schedule(JOB_SETTLE, target_id)
        # Starts are queued as they are found: after a restart, a call that began while the
        # service was down starts recording before the re-checks of the calls it recorded
        # already (every request ahead of it is call time unrecorded).
        queued = ctx.queue is not None
        plan = Plan(start=list(target_ids), link=list(link_ids))
        self._start_now(plan.start)
        count = len(target_ids)
        for snapshot in self._with_attributes(self._list_live_tasks()):
            try:
                found = self.recovery.apply_snapshot(snapshot, claim=not queued)
            except Exception:
                # One task that cannot be stored (bad data) must not stop the others.
                log.exception("reconcile skipped a task", task_sid=snapshot.sid)
                continue
            new = [t for t in found.start if t not in plan.start]
            count += len(new)
            plan.start.extend(new)
            self._start_now(new)
            plan.link.extend(w for w in found.link if w not in plan.link)
        if queued:
            for write_id in plan.link:
                ctx.schedule(JOB_LINK, write_id)
        else:
            self.planner.execute(plan)
        # Quiet recordings last: each is a request to Twilio about a call recorded already.
        refresh = functools.partial(self.refresh, attempt=REFRESH_ATTEMPTS)
        _each("refresh", dict.fromkeys(quiet_live), refresh)
        _each("auto-resume", set(paused_tasks), lambda t: self.pauses.auto_resume(t, None))
        forget_old_events(ctx.sessions, now)
        # Every minute: an INFO line only when the safety net found something to do.
        report = log.info if count or plan.link else log.debug
        report("reconciled", targets=count, links=len(plan.link))
        return count

    def _start_now(self, target_ids: Sequence[int]) -> None:
        """Queue the starts of these targets (with no queue, the plan runs them at the end)."""
        if self.ctx.queue is not None:
            for target_id in target_ids:
                self.ctx.schedule(JOB_START, target_id)

    # -- what the safety net asks TaskRouter ----------------------------------------------------
    def _with_attributes(self, listed: Sequence[TaskSnapshot]) -> Iterator[TaskSnapshot]:
        """Live voice tasks with attributes to plan on. List Tasks answers `attributes: null`
        (spec: shown only on FETCH), so a task whose attributes we do not hold yet is fetched;
        one we hold keeps ours (a list never overwrites them). A task with links whose
        attributes this process has not seen for a while (any, after a restart) is fetched
        too, so a link another writer dropped meanwhile is written back (at most one fetch per
        live task per reconcile). In that order: what needs no request, then the tasks new to
        flexrec (calls to record), then the re-checks of linked ones."""
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
        new: list[str] = []
        stale: list[str] = []
        for snapshot in voice:
            if snapshot.attributes is not None:
                yield snapshot
            elif snapshot.sid not in held:
                new.append(snapshot.sid)
            elif snapshot.sid in linked and not seen.seen_within(snapshot.sid, RECHECK_S):
                stale.append(snapshot.sid)
            else:
                yield snapshot
        for task_sid in (*new, *stale):
            fetched = self._fetch_task(task_sid)
            if fetched is not None:  # else the next reconcile tries again
                yield fetched

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

    def jobs(self) -> Jobs:
        """This room's queue jobs by name (their arguments are row ids and SIDs)."""
        return {
            JOB_REFRESH: lambda target_id, attempt=1: self.refresh(int(target_id), int(attempt))
        }


def _each(what: str, items: Iterable[_K], work: Callable[[_K], object]) -> None:
    """Run `work` on every item; one that fails is logged and the rest still run."""
    for item in items:
        try:
            work(item)
        except Exception:
            log.exception("reconcile step failed", step=what, item=item)
