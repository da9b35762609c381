"""Recording status callbacks applied: a recording's lifecycle on its target and its row.

`handle` stores a status (in one write transaction), identifies a recording whose create's
answer is still in flight or was lost (adopted by its leg), and then applies a pause kept for
it and links it. What an end sets off (settling it, the archive's completion hooks) is returned
to the caller (flexrec.recording.intake): this room never plans or starts anything.
An `in-progress` callback of a recording this process stores itself is answered from memory
(`is_known_progress`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from flexrec.db.models import RecordingRecord, RecordingTarget
from flexrec.db.prepared import Prepared, attached
from flexrec.recording import transitions
from flexrec.recording.context import ServiceContext
from flexrec.recording.links import LinkWriter, mark_target_links
from flexrec.recording.rows import RecordingFacts, store_recording
from flexrec.recording.settle import SETTLED_STATES
from flexrec.recording.starter import CONFERENCE_SOURCES, RecordingStarter
from flexrec.recording.states import NO_MEDIA_STATES
from flexrec.recording.store import write_session
from flexrec.recording.system_pauses import SystemPauses
from flexrec.recording.views import RecordingView, recording_view
from flexrec.webhooks.events import RecordingStatusEvent

# Every status callback loads its recording's row (prepared, then attached: flexrec.db.prepared).
_RECORDING = Prepared(
    select(*RecordingRecord.__table__.columns).where(RecordingRecord.sid == bindparam("sid"))
)


@dataclass(frozen=True)
class StatusApplied:
    """What a stored status leaves its caller to do: settle the target's end (`ended`: the
    state it ended in, or `final` when the call is over and only its link entry must go), and
    hand a completed recording (`view`) to the completion hooks."""

    target_id: int | None = None
    ended: str | None = None
    view: RecordingView | None = None


class RecordingStatuses:
    """Stores recording status callbacks on their targets and rows."""

    def __init__(
        self,
        ctx: ServiceContext,
        starter: RecordingStarter,
        links: LinkWriter,
        pauses: SystemPauses,
    ) -> None:
        self.ctx = ctx
        self.starter = starter
        self.links = links
        self.pauses = pauses

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

    def handle(
        self,
        event: RecordingStatusEvent,
        *,
        view: bool = False,
        notes: Sequence[Callable[[Session, RecordingView], None]] = (),
    ) -> StatusApplied:
        """Store the status (unless answered from memory), apply a kept pause to a recording
        it identified and link that one; what the end sets off is returned (`view`: read the
        completed recording's view for the completion hooks; `notes`: written with it, in
        this transaction)."""
        if self.is_known_progress(event):
            return StatusApplied()
        if event.status != "in-progress":
            # It ran, so its in-progress callback is long past (one this late is stored as any).
            self.starter.known_live.discard(event.recording_sid)
        ctx = self.ctx
        now = ctx.now()
        newly_known: int | None = None
        ended: str | None = None
        completed: RecordingView | None = None
        with write_session(ctx.sessions) as session:
            target = transitions.target_of_recording(session, event.recording_sid)
            row = _RECORDING.execute(session, {"sid": event.recording_sid}).first()
            known = attached(session, RecordingRecord, row._asdict()) if row else None
            past = known is not None and known.target_id is not None
            if target is None and not past and event.call_sid and _may_be_ours(event):
                # Our create's response may still be in flight (or was lost): adopt by leg.
                target = session.scalars(
                    select(RecordingTarget)
                    .where(RecordingTarget.call_sid == event.call_sid)
                    .where(RecordingTarget.recording_sid.is_(None))
                    .order_by(RecordingTarget.id)
                ).first()
                if target is not None:
                    transitions.identify(target, event)
                    newly_known = target.id
            if target is not None:
                before = target.state
                transitions.apply_status(target, event, now)
                if target.state != before and target.state in SETTLED_STATES:
                    if target.call_ended_at is None:
                        ended = target.state
                    elif target.state in NO_MEDIA_STATES:
                        ended = "final"  # the call is over: only its entry to remove
                if target.state != before and target.state in NO_MEDIA_STATES:
                    for task_sid in mark_target_links(session, target.id):  # its entry must go
                        ctx.memos.unsettle(task_sid)
            store_recording(
                session,
                RecordingFacts.of_event(event),
                target.id if target is not None else None,
                ctx.recordings.account_sid,
                now,
            )
            if event.status == "completed" and view:
                # Read here, where the rows it is made of are already loaded.
                completed = recording_view(session, event.recording_sid)
                if completed is not None:
                    for note in notes:
                        note(session, completed)
        if newly_known is not None:
            self.pauses.apply_pending_pause(newly_known)
            self.links.after_commit(newly_known)
        return StatusApplied(target.id if target is not None else None, ended, completed)


def _may_be_ours(event: RecordingStatusEvent) -> bool:
    """A status callback of an unknown recording on a leg we record may be our own create's
    (dual, a call recording); a mono or conference recording there is someone else's."""
    return event.channels != 1 and event.source not in CONFERENCE_SOURCES
