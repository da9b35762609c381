"""Archive tables: archived recordings, their analyses, the manifest (the audit log's two
tables live with the rule that links them, flexrec.archive.audit_chain).

An `archived_recordings` row walks this state machine (each step is committed before the next
starts, so a crash resumes from the last committed state):

    downloading ──> stored ──> verified ──> deleted_from_twilio
         │             │           │
         └─────────────┴───────────┴──> failed   (attempts exhausted; a manual retry resets)

`downloading` means "not stored yet": a restart re-downloads from scratch. `stored` means the
object is visible under `storage_key`; `verified` means it was read back and its sha256 matched.
Retention marks rows `purged_at` (the object is gone) without forgetting the metadata.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

# The audit log's tables are defined with the hook that links their rows; imported here so every
# user of the archive's tables has them on `Base.metadata` (and the hook installed).
from flexrec.archive import audit_chain as _audit_chain  # noqa: F401
from flexrec.db.base import Base

# CORE's type: stored in UTC, always read back time-zone aware (SQLite drops the zone).
from flexrec.db.models import UTCDateTime

ARCHIVE_STATES = ("downloading", "stored", "verified", "deleted_from_twilio", "failed")
"""Every value `ArchivedRecording.state` may hold, in the order the job reaches them."""

DONE_STATES = frozenset({"verified", "deleted_from_twilio"})
"""States in which the media is safely in the archive."""

ANALYSIS_STATES = ("pending", "done", "mono", "failed")
"""Every value `RecordingAnalysis.state` may hold: `done` (both sides measured), `mono` (one
channel: talk and silence only, nobody to tell apart), `failed` (`last_error` says why)."""

ANALYSIS_SETTLED = frozenset({"done", "mono", "failed"})
"""Analysis states nothing will change by itself (the reconciler does not retry them)."""


class ArchivedRecording(Base):
    """One Twilio recording copied into flexrec's archive, and where the copy lives."""

    __tablename__ = "archived_recordings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    recording_sid: Mapped[str] = mapped_column(String(34), unique=True, index=True)
    call_sid: Mapped[str | None] = mapped_column(String(34), index=True, default=None)
    account_sid: Mapped[str | None] = mapped_column(String(34), default=None)
    # A transferred call can span several tasks; kept as a JSON list of WT SIDs.
    task_sids: Mapped[list[str]] = mapped_column(JSON, default=list)
    media_url: Mapped[str | None] = mapped_column(Text, default=None)
    storage_key: Mapped[str | None] = mapped_column(String(255), default=None)
    size_bytes: Mapped[int | None] = mapped_column(BigInteger, default=None)
    sha256: Mapped[str | None] = mapped_column(String(64), default=None)
    duration_ms: Mapped[int | None] = mapped_column(Integer, default=None)
    # Twilio's own RecordingDuration (seconds), compared with the WAV's length on verify.
    twilio_duration_s: Mapped[int | None] = mapped_column(Integer, default=None)
    channels: Mapped[int | None] = mapped_column(Integer, default=None)
    sample_rate_hz: Mapped[int | None] = mapped_column(Integer, default=None)
    # Labels of the two channels as written to Insights, e.g. ["customer", "others"].
    channel_labels: Mapped[list[str] | None] = mapped_column(JSON, default=None)
    # Paused intervals [[start_ms, end_ms], ...] from the recording's start, for analysis.
    paused_ms: Mapped[list[list[int]] | None] = mapped_column(JSON, default=None)
    encrypted: Mapped[bool] = mapped_column(Boolean, default=False)
    # Fingerprint of the key that encrypted the object (never the key itself).
    key_id: Mapped[str | None] = mapped_column(String(32), default=None)
    state: Mapped[str] = mapped_column(String(24), default="downloading", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    recording_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    deleted_from_twilio_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    legal_hold: Mapped[bool] = mapped_column(Boolean, default=False)
    # Who set the hold in force, when and why (cleared with it; the audit log keeps history).
    legal_hold_by: Mapped[str | None] = mapped_column(String(255), default=None)
    legal_hold_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    legal_hold_reason: Mapped[str | None] = mapped_column(Text, default=None)
    retain_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None, index=True)
    # Set when retention removed the stored object; the row stays as a record of it.
    purged_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    queue_name: Mapped[str | None] = mapped_column(String(128), default=None, index=True)
    direction: Mapped[str | None] = mapped_column(String(16), default=None)
    worker_sid: Mapped[str | None] = mapped_column(String(34), default=None, index=True)
    agent_identity: Mapped[str | None] = mapped_column(String(255), default=None)
    customer_number: Mapped[str | None] = mapped_column(String(64), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class RecordingAnalysis(Base):
    """Conversation metrics and waveform peaks computed from one archived recording."""

    __tablename__ = "recording_analyses"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    recording_sid: Mapped[str] = mapped_column(String(34), unique=True, index=True)
    duration_ms: Mapped[int | None] = mapped_column(Integer, default=None)
    customer_talk_ms: Mapped[int | None] = mapped_column(Integer, default=None)
    agent_talk_ms: Mapped[int | None] = mapped_column(Integer, default=None)
    silence_ms: Mapped[int | None] = mapped_column(Integer, default=None)
    cross_talk_ms: Mapped[int | None] = mapped_column(Integer, default=None)
    interruptions_by_agent: Mapped[int | None] = mapped_column(Integer, default=None)
    interruptions_by_customer: Mapped[int | None] = mapped_column(Integer, default=None)
    longest_agent_monologue_ms: Mapped[int | None] = mapped_column(Integer, default=None)
    longest_customer_monologue_ms: Mapped[int | None] = mapped_column(Integer, default=None)
    # Agent talk time divided by customer talk time (None when the customer never spoke).
    talk_to_listen_ratio: Mapped[float | None] = mapped_column(Float, default=None)
    time_to_first_agent_words_ms: Mapped[int | None] = mapped_column(Integer, default=None)
    # Every metric the analysis returned, by name (new metrics appear here first).
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # [{"channel": "agent", "start_ms": 0, "end_ms": 1200}, ...]
    segments: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    vad_config_version: Mapped[str | None] = mapped_column(String(64), default=None)
    # The console's waveform: a uint8 peak (v2) or int8 max/min (v1) per 20 ms bucket, compressed.
    waveform: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    state: Mapped[str] = mapped_column(String(16), default="done")
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    analysed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


AUDIT_ACTIONS = (
    "play",
    "download",
    "url_issued",
    "legal_hold_set",
    "legal_hold_cleared",
    "purge",
    "sealed",
    "purge_refused",
    "exported",
    "erasure",
)
"""Actions written to `audit_log.action` by the archive; the console may add its own."""


class SealedObject(Base):
    """The manifest: one row per object flexrec stored for a recording, sealed at archive time.

    Its hashes are also written into the hash-chained audit log (action `sealed`), so a row
    changed here afterwards disagrees with the chain (`flexrec verify` compares them).
    """

    __tablename__ = "sealed_objects"
    __table_args__ = (UniqueConstraint("recording_sid", "kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    recording_sid: Mapped[str] = mapped_column(String(34), index=True)
    # audio (what is played: the redacted copy where redaction ran), transcript, analysis
    kind: Mapped[str] = mapped_column(String(16))
    call_sid: Mapped[str | None] = mapped_column(String(34), default=None)
    storage_key: Mapped[str] = mapped_column(String(255))
    # The object version sealed (versioned stores); reads and deletes name it.
    version_id: Mapped[str | None] = mapped_column(String(128), default=None)
    stored_sha256: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    # Of the plaintext before encryption (equal to the stored ones when not encrypted).
    plain_sha256: Mapped[str] = mapped_column(String(64))
    plain_size_bytes: Mapped[int] = mapped_column(BigInteger)
    encrypted: Mapped[bool] = mapped_column(Boolean, default=False)
    key_id: Mapped[str | None] = mapped_column(String(32), default=None)
    duration_ms: Mapped[int | None] = mapped_column(Integer, default=None)
    channels: Mapped[int | None] = mapped_column(Integer, default=None)
    # A redacted copy: the hash of the audio it was made from and what was removed.
    source_sha256: Mapped[str | None] = mapped_column(String(64), default=None)
    redaction: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    # The Object Lock written with the version, and whether the policy called it a legal duty.
    lock_mode: Mapped[str | None] = mapped_column(String(16), default=None)
    retain_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    legal_obligation: Mapped[bool] = mapped_column(Boolean, default=False)
    # The legal hold last applied to the stored version (converged with the recording's).
    object_legal_hold: Mapped[bool] = mapped_column(Boolean, default=False)
    sealed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Set when the object was deleted on purpose (retention, erasure), with why.
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    removed_reason: Mapped[str | None] = mapped_column(String(32), default=None)


class AuditAnchor(Base):
    """A head of the audit chain written to storage and the log (flexrec.custody.anchors).

    Only a list for convenience: `flexrec verify` trusts the stored objects, not this table.
    """

    __tablename__ = "audit_anchors"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    seq: Mapped[int] = mapped_column(BigInteger, index=True)
    row_hash: Mapped[str] = mapped_column(String(64))
    anchored_at: Mapped[datetime] = mapped_column(UTCDateTime())
    storage_key: Mapped[str | None] = mapped_column(String(255), default=None)
    version_id: Mapped[str | None] = mapped_column(String(128), default=None)


class VerifyRun(Base):
    """The outcome of one `flexrec verify` run (the scheduled ones feed /metrics)."""

    __tablename__ = "verify_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    seconds: Mapped[float] = mapped_column(Float)
    objects: Mapped[int] = mapped_column(Integer)
    bytes_read: Mapped[int] = mapped_column(BigInteger)
    problems: Mapped[int] = mapped_column(Integer)
    unanchored_rows: Mapped[int] = mapped_column(Integer, default=0)
    # {"altered": 1, ...} and the first problem lines, for the console and the alert.
    summary: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class ErasedRecording(Base):
    """A recording erased on a data subject's request (flexrec.custody.erasure).

    Read by the recording service: a recording listed here is never linked into a task's
    `conversations.media` again, whatever the link repair finds missing.
    """

    __tablename__ = "erased_recordings"

    recording_sid: Mapped[str] = mapped_column(String(34), primary_key=True)
    call_sid: Mapped[str | None] = mapped_column(String(34), default=None, index=True)
    task_sids: Mapped[list[str]] = mapped_column(JSON, default=list)
    request_id: Mapped[str] = mapped_column(String(36))
    erased_at: Mapped[datetime] = mapped_column(UTCDateTime())
