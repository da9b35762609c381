"""SQLAlchemy models of the recording service; the rows are the source of truth, not the queue.

`recording_targets` (one row per recorded call leg) is written only through
flexrec.recording.transitions, which also holds its state diagram.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from flexrec.db.base import Base

SID = String(34)


class UTCDateTime(TypeDecorator[datetime]):
    """Timestamps stored in UTC and always returned time-zone aware (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# What each channel of a dual-channel recording holds, by the leg it was made on (design.md,
# "Dual-channel channel order": channel 1 is what Twilio hears from that leg).
CHANNEL_LABELS: dict[str, tuple[str, str]] = {
    "customer": ("customer", "others"),
    "worker": ("others", "customer"),
}


class RecordingTarget(Base):
    """One call leg that must be recorded exactly once (key: customer call SID, or
    `<reservation SID>:<worker call SID>` for worker-leg recordings)."""

    __tablename__ = "recording_targets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    leg_key: Mapped[str] = mapped_column(String(80), unique=True)
    call_sid: Mapped[str] = mapped_column(SID, index=True)
    leg: Mapped[str] = mapped_column(String(16))  # customer | worker
    task_sid: Mapped[str] = mapped_column(SID, index=True)  # the task that created it
    reservation_sid: Mapped[str | None] = mapped_column(SID, nullable=True)
    state: Mapped[str] = mapped_column(String(16), index=True, default="pending")
    recording_sid: Mapped[str | None] = mapped_column(SID, nullable=True, index=True)
    source: Mapped[str | None] = mapped_column(String(16), nullable=True)  # created|adopted|studio
    start_time_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    claim_token: Mapped[str | None] = mapped_column(String(32), nullable=True)
    # The process (service_owners.owner_id) holding the claim: a dead owner's claim is taken
    # back at once instead of after the visibility window. NULL: claimed before owners existed.
    claim_owner: Mapped[str | None] = mapped_column(String(32), nullable=True, index=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    event_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)  # revealing event
    # A pause asked for before the recording existed, applied as soon as it does.
    desired_state: Mapped[str | None] = mapped_column(String(16), nullable=True)
    desired_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    desired_worker_sid: Mapped[str | None] = mapped_column(SID, nullable=True)
    # Recordings started after the current one ended without media while the call was live.
    replacements: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # When the service learnt the leg's call is over: from then on an ended target is final.
    call_ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    @property
    def channel_labels(self) -> tuple[str, str] | None:
        """The Insights channel labels of a dual-channel recording on this leg (None: unknown)."""
        return CHANNEL_LABELS.get(self.leg)


class ServiceOwner(Base):
    """A running process that may hold claims, kept alive by its heartbeats.

    `host` names the machine and PID namespace, so a process on the same one can tell at once
    that `pid` (started at `pid_started`, in clock ticks since boot) is gone.
    """

    __tablename__ = "service_owners"

    owner_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    pid_started: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    heartbeat_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ServiceRun(Base):
    """One run of a flexrec process, kept for good (unlike its `service_owners` row): when it
    began answering webhooks and when it was last known alive, so the coverage report can say
    when the service was down (flexrec.coverage.outages)."""

    __tablename__ = "service_runs"

    run_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    pid_started: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # When it began taking webhooks; NULL for a process that never does (queue worker, CLI).
    answering_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    alive_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)  # latest heartbeat
    # A clean stop; or, for a process that vanished (kill -9, crash), its last sign of life as
    # the process that found it gone saw it. NULL while it runs.
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class TaskRecord(Base):
    """What we last saw of a TaskRouter task (newest event wins; terminal states stick)."""

    __tablename__ = "tasks"

    sid: Mapped[str] = mapped_column(SID, primary_key=True)
    direction: Mapped[str | None] = mapped_column(String(16), nullable=True, index=True)
    channel: Mapped[str | None] = mapped_column(String(32), nullable=True)
    queue_sid: Mapped[str | None] = mapped_column(SID, nullable=True)
    queue_name: Mapped[str | None] = mapped_column(String(200), nullable=True, index=True)
    workflow_sid: Mapped[str | None] = mapped_column(SID, nullable=True)
    workflow_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    customer_call_sid: Mapped[str | None] = mapped_column(SID, nullable=True, index=True)
    conference_sid: Mapped[str | None] = mapped_column(SID, nullable=True, index=True)
    status: Mapped[str | None] = mapped_column(String(16), nullable=True, index=True)
    attributes: Mapped[dict[str, object] | None] = mapped_column(JSON, nullable=True)
    last_event_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    policy_decision: Mapped[str | None] = mapped_column(String(200), nullable=True)
    recording_sid: Mapped[str | None] = mapped_column(SID, nullable=True)  # linked recording
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ReservationRecord(Base):
    """A reservation of a task for a worker, kept for pause authorization and worker legs."""

    __tablename__ = "reservations"

    sid: Mapped[str] = mapped_column(SID, primary_key=True)
    task_sid: Mapped[str] = mapped_column(SID, index=True)
    worker_sid: Mapped[str | None] = mapped_column(SID, nullable=True, index=True)
    worker_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    status: Mapped[str] = mapped_column(String(16))
    worker_call_sid: Mapped[str | None] = mapped_column(SID, nullable=True)
    accepted_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    # When the agent's work on the call ended (the first wrap-up, completion or cancellation):
    # with `accepted_ms`, the span this agent was on the call (the console's timeline).
    ended_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    last_event_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class HoldEvent(Base):
    """A conference leg put on hold or taken off it, when (kept to draw holds on a timeline).

    One row per callback, duplicates ignored; holds are paired up when read, so callbacks
    delivered out of order still give the right spans. Only accounts whose conference status
    callback reaches flexrec send these (README, real account step 4).
    """

    __tablename__ = "hold_events"
    __table_args__ = (UniqueConstraint("call_sid", "at_ms", "hold"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    conference_sid: Mapped[str] = mapped_column(SID, index=True)
    call_sid: Mapped[str] = mapped_column(SID, index=True)
    hold: Mapped[bool] = mapped_column(Boolean)  # True: put on hold; False: taken off
    at_ms: Mapped[int] = mapped_column(BigInteger)


class ConferenceParticipantRecord(Base):
    """A leg seen in a conference callback, kept until the task that owns it is known."""

    __tablename__ = "conference_participants"
    __table_args__ = (UniqueConstraint("conference_sid", "call_sid"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    conference_sid: Mapped[str] = mapped_column(SID, index=True)
    friendly_name: Mapped[str | None] = mapped_column(String(200), nullable=True, index=True)
    call_sid: Mapped[str] = mapped_column(SID)
    label: Mapped[str | None] = mapped_column(String(32), nullable=True)
    joined: Mapped[bool] = mapped_column(Boolean, default=True)
    hold: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class RecordingRecord(Base):
    """A Twilio recording we created or adopted, updated from status callbacks."""

    __tablename__ = "recordings"

    sid: Mapped[str] = mapped_column(SID, primary_key=True)
    call_sid: Mapped[str | None] = mapped_column(SID, nullable=True, index=True)
    target_id: Mapped[int | None] = mapped_column(
        ForeignKey("recording_targets.id"), nullable=True, index=True
    )
    status: Mapped[str] = mapped_column(String(16), index=True)
    start_time_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    duration_s: Mapped[int | None] = mapped_column(Integer, nullable=True)
    channels: Mapped[int | None] = mapped_column(Integer, nullable=True)
    track: Mapped[str | None] = mapped_column(String(16), nullable=True)
    source: Mapped[str | None] = mapped_column(String(40), nullable=True)
    media_url: Mapped[str | None] = mapped_column(String(400), nullable=True)
    error_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # Whether its call was still live when it ended: True for a recording stopped by another
    # API client or ended absent/failed mid-call (replaced); False once the call was over;
    # NULL while running or not settled yet.
    ended_while_live: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    # When flexrec sent the create that made it and had Twilio's answer (epoch ms, flexrec's
    # clock, the clock pause events are written on): the recording began between the two, a
    # tighter bound than StartTime's whole second. NULL: adopted, or made by someone else.
    create_sent_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    create_answered_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    # The send of the earliest pause or resume on it whose answer is not written yet (epoch ms):
    # a process killed after such a request leaves it here, so the next answer's event is not
    # bounded as if the change could not have been applied before its own send.
    change_sent_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class PauseEvent(Base):
    """Audit of every pause/resume request: who, when, what, and how it ended."""

    __tablename__ = "pause_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    task_sid: Mapped[str] = mapped_column(SID, index=True)
    recording_sid: Mapped[str | None] = mapped_column(SID, nullable=True)
    actor: Mapped[str] = mapped_column(String(200))
    worker_sid: Mapped[str | None] = mapped_column(SID, nullable=True)
    action: Mapped[str] = mapped_column(String(16))  # pause | resume
    result: Mapped[str] = mapped_column(String(32))  # paused | recording | ended | error | noop
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Twilio applied the change between these two (flexrec's clock): the request's send (or an
    # earlier unanswered one's) and its answer. NULL for rows no request of ours bounds (a
    # kept wish, a no-op, an error, an end): their time is `created_at`, written after.
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class ProcessedEvent(Base):
    """Webhook de-duplication keys (an optimisation: handling is idempotent anyway)."""

    __tablename__ = "processed_events"

    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class AttributeWrite(Base):
    """A recording to link into a task's attributes; one row per (task, target)."""

    __tablename__ = "attribute_writes"
    __table_args__ = (UniqueConstraint("task_sid", "target_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    task_sid: Mapped[str] = mapped_column(SID, index=True)
    target_id: Mapped[int] = mapped_column(ForeignKey("recording_targets.id"), index=True)
    reservation_sid: Mapped[str | None] = mapped_column(SID, nullable=True)
    recording_sid: Mapped[str | None] = mapped_column(SID, nullable=True)
    status: Mapped[str] = mapped_column(
        String(16), index=True, default="pending"
    )  # done|gone|failed
    # Moves on each time the link needs writing again; a write marks only what it read done.
    generation: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    written_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class TaskChange(Base):
    """A task whose agent-visible state may have moved, announced by the database's triggers
    (migration 0015_task_changes_announced) on SQLite; long polls read them once per tick
    (flexrec.recording.changes). PostgreSQL announces by NOTIFY and leaves this table empty."""

    __tablename__ = "task_changes"
    __table_args__ = {"sqlite_autoincrement": True}  # noqa: RUF012 - SQLAlchemy's own form

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    task_sid: Mapped[str] = mapped_column(SID)
    at_s: Mapped[int] = mapped_column(BigInteger)  # epoch seconds, for pruning
