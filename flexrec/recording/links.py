"""Keeping every recording of a leg linked in its tasks' attributes, and writing it back when lost.

A link (`attribute_writes`, one row per task and target) wants the task's media list to hold
one VoiceRecording per recording of the target that has media (its own `start_time` and
channels) and none for one of ours that ended without media (absent, failed). It goes
`pending` (its `generation` moves on) whenever that changes (a replacement started, a
recording ended without media) or when the service sees the task's attributes without what it
wants (a webhook, an Event Streams event, a fetch during reconciliation): another integration
wrote them from a stale copy. A pending link is written at once after the webhook is
answered: GET, merge, POST with If-Match (flexrec.recording.attributes), so the other
writer's keys stay. A write only marks the generation it read `done`.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import structlog
from sqlalchemy import bindparam, column, exists, select, table, update
from sqlalchemy.orm import Session

from flexrec.db.models import AttributeWrite, RecordingRecord, RecordingTarget, TaskRecord
from flexrec.db.prepared import Prepared
from flexrec.recording import metrics
from flexrec.recording.attributes import (
    TaskAttributesWriter,
    WriteResult,
    media_recording_sids,
    voice_recording_entry,
)
from flexrec.recording.context import JOB_LINK, Jobs, ServiceContext
from flexrec.recording.states import MEDIA_STATUSES, NO_MEDIA_STATES
from flexrec.recording.store import Executor, read_connection, write_connection, write_session
from flexrec.recording.task_memo import TaskMemo, WrittenMedia, attributes_digest
from flexrec.twilio.gateway import GatewayError

log = structlog.get_logger(__name__)

# A task TaskRouter keeps refusing (4xx other than 404/412) stops being retried after this.
MAX_LINK_ATTEMPTS: Final = 10
# Writes of one link in a row when its recordings keep changing under it (then the queue).
_REWRITES: Final = 3
# An event whose timestamp is this much before the link's last write showed older attributes.
_EVENT_PRECISION_MS: Final = 1000

_LINK_COLUMNS = (
    AttributeWrite.id,
    AttributeWrite.status,
    AttributeWrite.generation,
    AttributeWrite.task_sid,
    AttributeWrite.reservation_sid,
    AttributeWrite.target_id,
    RecordingTarget.leg,
)
# Each write of a link runs these (prepared: flexrec.db.prepared), about once a call.
_PENDING_LINKS = Prepared(
    select(*_LINK_COLUMNS)
    .join(RecordingTarget, RecordingTarget.id == AttributeWrite.target_id)
    .where(AttributeWrite.target_id == bindparam("target"), AttributeWrite.status == "pending")
)
_LINK_BY_ID = Prepared(
    select(*_LINK_COLUMNS)
    .join(RecordingTarget, RecordingTarget.id == AttributeWrite.target_id)
    .where(AttributeWrite.id == bindparam("write"))
)
# The archive's list of recordings erased on a data subject's request (flexrec.custody): named
# here as a bare table, since the recording core sits below the archive. An erased recording's
# entry is unwanted, so the link repair removes it rather than writing it back.
_ERASED = table("erased_recordings", column("recording_sid"))
_TARGET_RECORDINGS = Prepared(
    select(
        RecordingRecord.sid,
        RecordingRecord.status,
        RecordingRecord.start_time_ms,
        RecordingRecord.created_at,
        exists().where(_ERASED.c.recording_sid == RecordingRecord.sid).label("erased"),
    )
    .where(RecordingRecord.target_id == bindparam("target"))
    .order_by(RecordingRecord.created_at, RecordingRecord.sid)
)
_LINK_DONE = Prepared(
    update(AttributeWrite)
    .where(
        AttributeWrite.id == bindparam("write"),
        AttributeWrite.status == "pending",
        AttributeWrite.generation == bindparam("b_generation"),
    )
    .values(
        status="done",
        recording_sid=bindparam("recording_sid"),
        attempts=AttributeWrite.attempts + bindparam("tries"),
        written_at=bindparam("now"),
        last_error=None,
    )
)
_TASK_RECORDING = Prepared(
    update(TaskRecord)
    .where(TaskRecord.sid == bindparam("task"))
    .values(recording_sid=bindparam("recording_sid"))
)
# The attributes a link wrote, into a task row that still holds what the write read (the row as
# the task's memo knows it): TaskRouter's echo of the write, task.updated with these very
# attributes, then changes nothing the row holds and is answered from memory.
_TASK_ATTRIBUTES = Prepared(
    update(TaskRecord)
    .where(
        TaskRecord.sid == bindparam("task"),
        TaskRecord.updated_at == bindparam("b_was"),
        TaskRecord.last_event_ms.is_not_distinct_from(bindparam("b_last")),
        TaskRecord.status.is_not_distinct_from(bindparam("b_status")),
    )
    .values(attributes=bindparam("attributes"), updated_at=bindparam("now"))
    .execution_options(synchronize_session=False)
)
_DIRTY = dict(status="pending", generation=AttributeWrite.generation + 1)
_TARGET_LINKS_DIRTY = (
    update(AttributeWrite)
    .where(
        AttributeWrite.target_id == bindparam("target"),
        AttributeWrite.status.in_(("pending", "done")),
    )
    .values(**_DIRTY)
    .returning(AttributeWrite.task_sid)
    .execution_options(synchronize_session=False)
)
_LINK_DIRTY = (
    update(AttributeWrite)
    .where(AttributeWrite.id == bindparam("write"), AttributeWrite.status == "done")
    .values(**_DIRTY)
    .execution_options(synchronize_session=False)
)


@dataclass(frozen=True)
class LinkFacts:
    """What writing one link needs (a row of _PENDING_LINKS or _LINK_BY_ID)."""

    write_id: int
    generation: int
    task_sid: str
    reservation_sid: str | None
    target_id: int
    leg: str

    @classmethod
    def of(cls, row: Any) -> LinkFacts:
        """From a row of the link queries."""
        return cls(
            row.id, row.generation, row.task_sid, row.reservation_sid, row.target_id, row.leg
        )


@dataclass(frozen=True)
class Wanted:
    """A target's recordings as its tasks' media should show them."""

    with_media: tuple[tuple[str, int], ...]  # (recording SID, start ms), oldest first
    without_media: frozenset[str]  # ours that ended absent/failed: their entries go

    @property
    def sids(self) -> tuple[str, ...]:
        """The SIDs whose entries must lead the media list, in order."""
        return tuple(sid for sid, _ in self.with_media)

    def missing_from(self, present: tuple[str, ...]) -> bool:
        """True when the VoiceRecordings naming `present` (in order) do not start with ours
        (Insights plays the first) or hold one of ours without media."""
        wanted = self.sids
        return present[: len(wanted)] != wanted or bool(self.without_media.intersection(present))


def wanted_media(executor: Executor, target_id: int) -> Wanted:
    """The target's recordings split into those whose entries are wanted and those not."""
    with_media: list[tuple[str, int]] = []
    without: set[str] = set()
    for row in _TARGET_RECORDINGS.execute(executor, {"target": target_id}):
        if row.erased:
            without.add(row.sid)
        elif row.status in MEDIA_STATUSES:
            start_ms = row.start_time_ms or int(row.created_at.timestamp() * 1000)
            with_media.append((row.sid, start_ms))
        elif row.status in NO_MEDIA_STATES:
            without.add(row.sid)
    return Wanted(tuple(with_media), frozenset(without))


def mark_target_links(session: Session, target_id: int) -> list[str]:
    """The target's recordings changed: every task linking it needs a write (their SIDs)."""
    return list(session.scalars(_TARGET_LINKS_DIRTY, {"target": target_id}))


def check_seen(
    session: Session,
    *,
    write_id: int,
    written_at: datetime | None,
    target_id: int,
    reservation_sid: str | None,
    seen: Mapping[str, Any],
    seen_ms: int,
    seen_in: str,
    checked: dict[str | None, Wanted] | None = None,
) -> bool:
    """Attributes of the task were seen (`seen_ms`): True (and the link made pending) when they
    lack an entry of ours or hold one of a recording without media. Attributes older than
    the link's last write are not judged (they may predate it). `checked` collects what a link
    that holds wants, by media list, for the task's memo."""
    if written_at is not None and seen_ms + _EVENT_PRECISION_MS <= written_at.timestamp() * 1000:
        return False
    wanted = wanted_media(session, target_id)
    if not wanted.with_media and not wanted.without_media:
        return False
    if not wanted.missing_from(media_recording_sids(seen, reservation_sid)):
        if checked is not None:
            checked[reservation_sid] = wanted
        return False
    session.execute(_LINK_DIRTY, {"write": write_id})
    metrics.LINKS_REPAIRED.labels(seen_in=seen_in).inc()
    log.warning(
        "recording link missing from the task's attributes; writing it back", write_id=write_id
    )
    return True


def _echo_known(memo: TaskMemo | None, result: WriteResult) -> bool:
    """Whether the task row holds what the link's write read (as its memo says), so the row may
    take what it wrote: no event applied the write's attributes yet, nor any newer ones."""
    if memo is None or result.base is None or result.written is None:
        return False
    return memo.attributes_digest == attributes_digest(result.base)


class LinkWriter:
    """Writes pending links into task attributes (see the module docstring)."""

    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self.writer = TaskAttributesWriter(ctx.tasks, ctx.attribute_attempts, ctx.revisions)

    def link_pending(self, target_id: int) -> None:
        """Write every pending link of a target."""
        with read_connection(self.ctx.sessions) as connection:
            rows = _PENDING_LINKS.execute(connection, {"target": target_id}).rows
        for row in rows:
            self.link_or_queue(row.id, LinkFacts.of(row))

    def link_or_queue(self, write_id: int, facts: LinkFacts | None = None) -> None:
        """Write one link (with `facts` already read, if given), handing it to the queue if it
        breaks unexpectedly."""
        try:
            if facts is None or self._link(facts) == "changed":
                self.link(write_id)
        except Exception:
            log.exception("attribute write failed", write_id=write_id)
            self.ctx.schedule(JOB_LINK, write_id, delay_s=self.ctx.base_backoff_s)

    def after_commit(self, target_id: int) -> None:
        """Write the target's pending links once the current webhook is answered."""
        self.ctx.after(functools.partial(self.link_pending, target_id))

    def link(self, write_id: int) -> str:
        """Merge the target's recordings into the task: done | waiting | retry | gone | failed."""
        for _ in range(_REWRITES):
            with read_connection(self.ctx.sessions) as connection:
                row = _LINK_BY_ID.execute(connection, {"write": write_id}).first()
            if row is None or row.status != "pending":
                return "done"
            outcome = self._link(LinkFacts.of(row))
            if outcome != "changed":
                return outcome
        self.ctx.schedule(JOB_LINK, write_id, delay_s=self.ctx.base_backoff_s)
        return "retry"

    def _link(self, facts: LinkFacts) -> str:
        ctx = self.ctx
        with read_connection(ctx.sessions) as connection:
            wanted = wanted_media(connection, facts.target_id)
        if not wanted.with_media and not wanted.without_media:
            return "waiting"  # linked once the recording exists
        account = ctx.recordings.account_sid
        entries = [
            voice_recording_entry(account, sid, start_ms, facts.leg)
            for sid, start_ms in wanted.with_media
        ]
        newest = wanted.with_media[-1][0] if wanted.with_media else None
        bound = log.bind(task_sid=facts.task_sid, recording_sid=newest)
        try:
            result = self.writer.link(
                facts.task_sid, entries, wanted.without_media, facts.reservation_sid
            )
        except GatewayError as exc:
            return self._failed(facts.write_id, exc)
        memos = ctx.memos
        # The task's memo lock, as its webhook handlers take it: the memo and the row move
        # together (task_events); taken before the write lock, in the handlers' order. Never
        # waited for: a handler holding it may be running this very write inline (no
        # background threads, or while closing); then the echo is written as it comes.
        lock = memos.lock(facts.task_sid)
        locked = lock.acquire(blocking=False)
        try:
            memo = memos.get(facts.task_sid) if locked else None
            echo = _echo_known(memo, result)
            now = ctx.now()
            with write_connection(ctx.sessions, writes_first=True) as connection:
                # Tasks row first: the same lock order as the planners (tasks → targets → links).
                if newest is not None:
                    _TASK_RECORDING.execute(
                        connection, {"task": facts.task_sid, "recording_sid": newest}
                    )
                stored = (
                    memo is not None
                    and echo
                    and _TASK_ATTRIBUTES.execute(
                        connection,
                        {
                            "task": facts.task_sid,
                            "b_was": memo.updated_at,
                            "b_last": memo.written_clock,
                            "b_status": memo.state.status,
                            "attributes": result.written,
                            "now": now,
                        },
                    ).rowcount
                    == 1
                )
                done = _LINK_DONE.execute(
                    connection,
                    {
                        "write": facts.write_id,
                        "b_generation": facts.generation,
                        "recording_sid": newest,
                        "tries": result.attempts,
                        "now": now,
                    },
                )
            if stored and memo is not None and result.written is not None:
                memos.note_attributes(facts.task_sid, memo.updated_at, result.written, now)
        finally:
            if locked:
                lock.release()
        if not done.rowcount:
            return "changed"  # the recordings changed while we wrote: write again
        written = WrittenMedia(
            tuple(sid for sid, _ in wanted.with_media),
            wanted.without_media,
            int(ctx.now().timestamp() * 1000),
        )
        ctx.memos.note_media(facts.task_sid, facts.reservation_sid, written)
        bound.info("recording linked", outcome=result.outcome, entries=len(entries))
        return "done"

    def _failed(self, write_id: int, exc: GatewayError) -> str:
        ctx = self.ctx
        bound = log.bind(write_id=write_id)
        gone = exc.status == 404
        with write_session(ctx.sessions) as session:
            write = session.get(AttributeWrite, write_id)
            if write is not None:
                write.attempts += 1
                write.last_error = str(exc)
                if gone:
                    write.status = "gone"
        if gone:
            bound.warning("task gone before recording was linked")
            return "gone"
        attempts = write.attempts if write is not None else 1
        if not exc.retryable and exc.status != 412 and attempts >= MAX_LINK_ATTEMPTS:
            with write_session(ctx.sessions) as session:
                write = session.get(AttributeWrite, write_id)
                if write is not None:
                    write.status = "failed"
            bound.error("attribute write failed for good", error=str(exc))
            return "failed"
        delay = ctx.backoff_s(attempts)
        ctx.schedule(JOB_LINK, write_id, delay_s=delay)
        bound.info("attribute write retry", error=str(exc), delay_s=delay)
        return "retry"

    def jobs(self) -> Jobs:
        """This room's queue jobs by name (their arguments are row ids and SIDs)."""
        return {JOB_LINK: lambda write_id: self.link(int(write_id))}
