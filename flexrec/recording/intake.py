"""Webhook events in: conference, call status and recording status callbacks (TaskRouter
events: flexrec.recording.task_events).

Every event updates what we know (tasks, reservations, conference participants, recordings) in
one write transaction that also plans the task's recordings (flexrec.recording.planner); the
webhook is answered once it commits, and the plan's Twilio calls run right after, in this
process (the plan's intents are committed rows). Events may come twice, late or out of order:
rows only move forward (flexrec.recording.rows), so a redelivery changes nothing and needs no
seen-mark (only a wrap-up that undoes a pause keeps one, flexrec.recording.dedup).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from datetime import datetime

import structlog
from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from flexrec.db.models import ConferenceParticipantRecord, RecordingTarget, TaskRecord
from flexrec.db.prepared import Prepared
from flexrec.recording import transitions
from flexrec.recording.context import JOB_SETTLE, JOB_START, Jobs, ServiceContext
from flexrec.recording.dedup import retry_contention
from flexrec.recording.links import LinkWriter
from flexrec.recording.planner import Plan, Planner
from flexrec.recording.recording_status import RecordingStatuses
from flexrec.recording.recovery import Recovery, live_target_ids
from flexrec.recording.rows import task_for_update, upsert_participant_event
from flexrec.recording.settle import COMPLETED_SETTLE_DELAY_S, Settler
from flexrec.recording.store import read_connection, write_connection, write_session
from flexrec.recording.views import RecordingView
from flexrec.twilio.gateway import TERMINAL_CALL_STATUSES
from flexrec.webhooks.events import (
    CallStatusEvent,
    ConferenceEvent,
    RecordingStatusEvent,
)

log = structlog.get_logger(__name__)

_TASK_SID = re.compile(r"^WT[0-9a-fA-F]{32}$")
CompletedCallback = Callable[[RecordingView], None]
# Written with a completed recording's own rows, in its status callback's write transaction.
CompletionNote = Callable[[Session, RecordingView], None]
_HAS_TARGET = Prepared(
    select(RecordingTarget.id).where(RecordingTarget.call_sid == bindparam("call")).limit(1)
)
_HAS_PARTICIPANT = Prepared(
    select(ConferenceParticipantRecord.id).where(
        ConferenceParticipantRecord.conference_sid == bindparam("conference"),
        ConferenceParticipantRecord.call_sid == bindparam("call"),
    )
)


class EventIntake:
    """Applies each kind of webhook event to the database and runs what it sets off."""

    def __init__(
        self,
        ctx: ServiceContext,
        planner: Planner,
        recovery: Recovery,
        statuses: RecordingStatuses,
        links: LinkWriter,
    ) -> None:
        self.ctx = ctx
        self.planner = planner
        self.recovery = recovery
        self.statuses = statuses
        self.links = links
        self.settler = Settler(ctx)
        self.completed_callbacks: list[CompletedCallback] = []
        self.completion_notes: list[CompletionNote] = []

    def on_recording_completed(self, callback: CompletedCallback) -> None:
        """Register a callback run for every `completed` recording status callback.

        It runs inside the webhook, once per callback delivery (so possibly more than once per
        recording): it must be quick and idempotent, e.g. enqueue an archive job. If it raises,
        the webhook fails and Twilio redelivers the callback.
        """
        self.completed_callbacks.append(callback)

    def note_recording_completed(self, note: CompletionNote) -> None:
        """Register a note written for every `completed` recording status callback inside
        that callback's own write transaction, with the recording's rows: both commit or
        neither does (a failure answers 500 and Twilio redelivers), and the call change costs
        one write transaction, not one per room. It must be a few statements, idempotent
        (deliveries repeat), and do no I/O but the database; what needs the commit (a queue
        job) belongs in `on_recording_completed`, which runs after it."""
        self.completion_notes.append(note)

    @retry_contention
    def handle_conference_event(self, event: ConferenceEvent) -> None:
        """Apply a conference callback: participant labels reveal the customer and worker legs."""
        now = self.ctx.now()
        name = event.friendly_name if event.friendly_name else None
        task_sid = name if name and _TASK_SID.match(name) else None
        if task_sid is not None and self._legs_settled(task_sid, event.conference_sid):
            self._participant_only(event, now)
            return
        fetch_task = False
        plan = Plan()
        with write_session(self.ctx.sessions) as session:
            # No seen-mark: the participant upsert and the plan take a redelivery idempotently.
            # Lock the task row before writing anything else: every planner takes the task lock
            # first, so two webhooks about one task serialise instead of deadlocking.
            if task_sid:
                task = task_for_update(session, task_sid)
            else:
                task = session.scalars(
                    select(TaskRecord)
                    .where(TaskRecord.conference_sid == event.conference_sid)
                    .with_for_update()
                ).first()
            upsert_participant_event(session, event, now)
            if task is not None:
                if task.conference_sid is None:
                    task.conference_sid = event.conference_sid
                task.updated_at = now  # what a memo of this row knew no longer holds
                plan = self.planner.plan(session, task, now, event.timestamp)
                if event.event == "participant-join" and plan.search:
                    # A leg joined that no label names: look at it now, not at the next poll.
                    plan.search = [(task.sid, True)]
            else:
                fetch_task = task_sid is not None and event.event == "participant-join"
            # The mark commits with these changes: what they leave to do is durable, and
            # reconcile finds live tasks and quiet recordings if the steps below are cut short.
            leaving = (
                live_target_ids(session, event.call_sid)
                if event.event == "participant-leave" and event.call_sid
                else []
            )
        if task is not None:
            self.ctx.memos.refresh(task, settled=plan.settled)
        self.recovery.schedule_refresh(leaving)
        if fetch_task and task_sid is not None:
            # The conference told us first (events raced): ask TaskRouter about the task.
            plan.extend(self.recovery.refresh_task(task_sid))
        self.planner.execute(plan)

    def _legs_settled(self, task_sid: str, conference_sid: str) -> bool:
        """Whether the task's memo says its customer leg is known, recorded and linked in this
        conference: then a conference callback changes nothing the planner reads."""
        memo = self.ctx.memos.get(task_sid)
        return (
            memo is not None
            and memo.settled
            and self.ctx.policy.leg == "customer"
            and memo.state.customer_call_sid is not None
            and memo.state.conference_sid == conference_sid
        )

    def _participant_only(self, event: ConferenceEvent, now: datetime) -> None:
        """A callback of a settled task: its leg's row takes it (nothing for the conference's
        own start and end); a leg that left has its live recording looked at later."""
        if event.call_sid is None:
            return
        if event.event == "participant-leave":
            # A leave only clears the row's `joined`, which a leg search and the worker-leg
            # policy read: this task never searches again (its customer leg is known, and legs
            # once known never change) and plans for the customer leg. So it is not written:
            # the leg's live recordings are read, and looked at later, as before. A leg with
            # no row yet (its join was lost) gets it, for the coverage report's roles.
            with read_connection(self.ctx.sessions) as connection:
                key = {"conference": event.conference_sid, "call": event.call_sid}
                known = _HAS_PARTICIPANT.execute(connection, key).first() is not None
                left = live_target_ids(connection, event.call_sid) if known else []
            if known:
                self.recovery.schedule_refresh(left)
                return
        with write_connection(self.ctx.sessions, writes_first=True) as connection:
            upsert_participant_event(connection, event, now)
            leaving = (
                live_target_ids(connection, event.call_sid)
                if event.event == "participant-leave"
                else []
            )
        self.recovery.schedule_refresh(leaving)

    def is_known_progress(self, event: RecordingStatusEvent) -> bool:
        """True for an `in-progress` callback this process stores itself: answered from memory
        (flexrec.recording.recording_status), no I/O."""
        return self.statuses.is_known_progress(event)

    def note_call(self, event: CallStatusEvent) -> None:
        """Keep the leg's numbers for leg searches (flexrec.recording.seen_calls). No I/O."""
        self.ctx.calls.note(event.call_sid, event.to, event.from_)

    @staticmethod
    def call_status_is_news(event: CallStatusEvent) -> bool:
        """Whether a call status callback may change anything here: only a leg's end does.
        No I/O (the web layer answers the others on its event loop)."""
        return event.call_status in TERMINAL_CALL_STATUSES

    @retry_contention
    def handle_call_status(self, event: CallStatusEvent) -> None:
        """A leg that ended before its recording started will never be recorded: say so."""
        self.note_call(event)
        if not self.call_status_is_news(event):
            return
        self.ctx.calls.ended(event.call_sid)
        now = self.ctx.now()
        with read_connection(self.ctx.sessions) as connection:
            # Most legs that end (agents', third parties', the ringing ones) were never to be
            # recorded: one read, and no write transaction, for those.
            if _HAS_TARGET.execute(connection, {"call": event.call_sid}).first() is None:
                return
        # Writes first (no BEGIN IMMEDIATE): the legs' live recordings are read after, which
        # neither write changes (call_over ends only targets that never started).
        with write_connection(self.ctx.sessions, writes_first=True) as connection:
            transitions.call_over(connection, event.call_sid, event.call_status, now)
            transitions.leg_over(connection, event.call_sid, now)
            ended = live_target_ids(connection, event.call_sid)
        self.recovery.schedule_refresh(ended)

    @retry_contention
    def handle_recording_status(self, event: RecordingStatusEvent) -> None:
        """Track a recording's lifecycle (flexrec.recording.recording_status); completed
        recordings go to the registered callbacks.

        An end (completed, absent, failed) of a leg's current recording is settled once the
        call's state is known (flexrec.recording.settle): at once for one without media, a
        few seconds later for a completed one (the call's own status callback usually comes
        meanwhile and saves asking Twilio)."""
        applied = self.statuses.handle(
            event,
            view=bool(self.completed_callbacks or self.completion_notes),
            notes=self.completion_notes,
        )
        if applied.target_id is not None and applied.ended is not None:
            self._settle_after(applied.target_id, applied.ended)
        if applied.view is not None:
            for callback in self.completed_callbacks:
                callback(applied.view)

    def _settle_after(self, target_id: int, ended: str) -> None:
        if ended == "completed":
            self.ctx.schedule(JOB_SETTLE, target_id, delay_s=COMPLETED_SETTLE_DELAY_S)
        elif ended == "final":
            self.links.after_commit(target_id)  # the call is over: only the entry
        else:
            self.ctx.after(functools.partial(self.settle, target_id))

    def settle(self, target_id: int) -> str:
        """Settle the end of a target's recording and act on the decision (start the
        replacement, ask again later, or write the links); returns the decision."""
        decision = self.settler.settle(target_id)
        if decision.outcome == "replaced":
            if decision.delay_s <= 0:
                self.planner.execute(Plan(start=[target_id]))
            else:
                self.ctx.schedule(JOB_START, target_id, delay_s=decision.delay_s)
        elif decision.outcome == "retry":
            self.ctx.schedule(JOB_SETTLE, target_id, delay_s=decision.delay_s)
        else:
            self.links.link_pending(target_id)
            if decision.outcome == "held":
                # The agent's resume may have come between the settle's read and its write:
                # then it starts now (the claim refuses a replacement still held for a pause).
                self.ctx.schedule(JOB_START, target_id)
        return decision.outcome

    def jobs(self) -> Jobs:
        """This room's queue jobs by name (their arguments are row ids and SIDs)."""
        return {JOB_SETTLE: lambda target_id: self.settle(int(target_id))}
