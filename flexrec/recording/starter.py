"""Starting the one recording of a call leg, and linking it into tasks; both safe to repeat.

start_target: claim the row (one conditional UPDATE) → list the leg's recordings and adopt a
live one, else create → commit while still holding the claim. Errors: 21220 → fetch the call
(ended → `ended`, else retry: the leg is ringing); 429/5xx/timeouts → retry with backoff;
other 4xx → `failed`. A timeout after Twilio created the recording is covered by the listing on
the next attempt, so no second recording is made.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from flexrec.db.models import AttributeWrite, RecordingRecord, RecordingTarget, TaskRecord
from flexrec.recording import metrics
from flexrec.recording.attributes import TaskAttributesWriter, voice_recording_entry
from flexrec.recording.context import JOB_LINK, JOB_START, ServiceContext
from flexrec.recording.store import claim_target, release_claim, write_session
from flexrec.twilio.gateway import (
    CALL_NOT_RECORDABLE,
    CreateRecordingRequest,
    GatewayError,
    RecordingInfo,
    recording_media_url,
)

log = structlog.get_logger(__name__)

# A task TaskRouter keeps refusing (4xx other than 404/412) stops being retried after this.
MAX_LINK_ATTEMPTS = 10
# Built once with bound parameters (building statements per call cost more than running them).
_PENDING_LINKS = select(AttributeWrite.id).where(
    AttributeWrite.target_id == bindparam("target"), AttributeWrite.status == "pending"
)
_TASK_RECORDING = (
    update(TaskRecord)
    .where(TaskRecord.sid == bindparam("task"))
    .execution_options(synchronize_session=False)
)  # SET recording_sid from the execute parameters


@dataclass(frozen=True)
class StartOutcome:
    """What one start attempt did: recording | ended | failed | retry | not-claimed."""

    outcome: str
    recording_sid: str | None = None


class RecordingStarter:
    """Runs start attempts and attribute links against the gateways and the database."""

    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self.writer = TaskAttributesWriter(ctx.tasks, ctx.attribute_attempts)
        # Set by the service: runs once a target's recording exists (applies deferred pauses).
        self.on_started: Callable[[int], object] | None = None

    # -- starting -----------------------------------------------------------------------------
    def start_target(self, target_id: int) -> StartOutcome:
        """One attempt at getting the target's leg recorded (no-op unless we win the claim)."""
        ctx = self.ctx
        token = uuid.uuid4().hex
        with write_session(ctx.sessions) as session:
            if not claim_target(session, target_id, token, ctx.now(), ctx.visibility):
                return StartOutcome("not-claimed")
            target = session.get(RecordingTarget, target_id)
            if target is None:  # pragma: no cover - claimed rows exist
                return StartOutcome("not-claimed")
            call_sid, attempts, event_ms = target.call_sid, target.attempts, target.event_ms
        bound = log.bind(call_sid=call_sid, target_id=target_id, attempt=attempts)
        # The claim is ours for `visibility`; after that a reconciler may take it over. Stay
        # well inside it, so two claimants can never both list nothing and both create.
        began = time.monotonic()
        budget_s = ctx.visibility.total_seconds()
        for inline in range(1, ctx.inline_attempts + 1):
            try:
                info, source = self._adopt_or_create(call_sid, event_ms, began, budget_s / 2)
                break
            except GatewayError as exc:
                # A blip (429/5xx/timeout) is retried at once, still inside the webhook, before
                # the queue's backoff: every try lists first, so a lost create is adopted.
                in_budget = time.monotonic() - began < budget_s / 3
                if exc.retryable and inline < ctx.inline_attempts and in_budget:
                    metrics.RECORDING_START_FAILURES.labels(reason=_reason(exc)).inc()
                    bound.info("recording start blip", error=str(exc), inline=inline)
                    ctx.sleep(ctx.inline_pause_s * inline)
                    continue
                return self._failed_attempt(target_id, token, call_sid, attempts, exc)
        self._commit_started(target_id, token, info, source)
        metrics.RECORDINGS_STARTED.labels(source=source).inc()
        bound.info("recording started", recording_sid=info.sid, source=source)
        if self.on_started is not None:
            self.on_started(target_id)
        self.link_pending(target_id)
        return StartOutcome("recording", info.sid)

    def _adopt_or_create(
        self, call_sid: str, event_ms: int | None, began: float, create_deadline_s: float
    ) -> tuple[RecordingInfo, str]:
        ctx = self.ctx
        live = [
            r
            for r in ctx.recordings.list_recordings(call_sid)
            if r.status in ("in-progress", "paused")
        ]
        if live:
            # Prefer a dual-channel one, then the oldest: the one that covers the most.
            live.sort(key=lambda r: (r.channels != 2, r.start_time_ms or 0))
            return live[0], "adopted"
        if time.monotonic() - began > create_deadline_s:
            # Too slow to be sure the claim is still ours: give it back rather than risk a twin.
            raise GatewayError("claim time spent before create", status=None)
        info = ctx.recordings.create_recording(
            CreateRecordingRequest(call_sid, ctx.status_callback_url)
        )
        if event_ms is not None:
            delay = ctx.now().timestamp() - event_ms / 1000
            metrics.WEBHOOK_TO_API_SECONDS.observe(max(0.0, delay))
        return info, "created"

    def _failed_attempt(
        self, target_id: int, token: str, call_sid: str, attempts: int, exc: GatewayError
    ) -> StartOutcome:
        ctx = self.ctx
        bound = log.bind(call_sid=call_sid, target_id=target_id)
        if exc.code == CALL_NOT_RECORDABLE:
            try:
                call = ctx.recordings.fetch_call(call_sid)
            except GatewayError as fetch_exc:
                return self._retry(target_id, token, attempts, "fetch_call", fetch_exc)
            if call.ended:
                metrics.RECORDING_START_FAILURES.labels(reason="call_ended").inc()
                with write_session(ctx.sessions) as session:
                    release_claim(
                        session,
                        target_id,
                        token,
                        {"state": "ended", "last_error": str(exc), "updated_at": ctx.now()},
                    )
                bound.info("call ended before recording", call_status=call.status)
                return StartOutcome("ended")
            return self._retry(target_id, token, attempts, "ringing", exc)
        if exc.retryable:
            return self._retry(target_id, token, attempts, _reason(exc), exc)
        metrics.RECORDING_START_FAILURES.labels(reason=f"http_{exc.status}").inc()
        with write_session(ctx.sessions) as session:
            release_claim(
                session,
                target_id,
                token,
                {"state": "failed", "last_error": str(exc), "updated_at": ctx.now()},
            )
        bound.warning("recording start failed", error=str(exc))
        return StartOutcome("failed")

    def _retry(
        self, target_id: int, token: str, attempts: int, reason: str, exc: GatewayError
    ) -> StartOutcome:
        ctx = self.ctx
        metrics.RECORDING_START_FAILURES.labels(reason=reason).inc()
        delay = ctx.backoff_s(attempts)
        now = ctx.now()
        with write_session(ctx.sessions) as session:
            released = release_claim(
                session,
                target_id,
                token,
                {
                    "state": "pending",
                    "next_attempt_at": now + timedelta(seconds=delay),
                    "last_error": f"{reason}: {exc}",
                    "updated_at": now,
                },
            )
        if released:
            ctx.schedule(JOB_START, target_id, delay_s=delay)
        log.info("recording start retry", target_id=target_id, reason=reason, delay_s=delay)
        return StartOutcome("retry")

    def _commit_started(self, target_id: int, token: str, info: RecordingInfo, source: str) -> None:
        ctx = self.ctx
        now = ctx.now()
        state = "paused" if info.status == "paused" else "recording"
        with write_session(ctx.sessions) as session:
            held = release_claim(
                session,
                target_id,
                token,
                {
                    "state": state,
                    "recording_sid": info.sid,
                    "source": source,
                    "start_time_ms": info.start_time_ms,
                    "last_error": None,
                    "updated_at": now,
                },
            )
            if not held:
                # A status callback (or a reclaim after a stall) got there first: keep its state,
                # only fill in what it could not know.
                target = session.get(RecordingTarget, target_id)
                if target is not None:
                    if target.recording_sid is None:
                        target.recording_sid = info.sid
                    if target.recording_sid == info.sid:
                        target.source = target.source or source
                        target.start_time_ms = target.start_time_ms or info.start_time_ms
                    target.updated_at = now
            record_recording(session, info, target_id, ctx.recordings.account_sid, now)

    # -- linking into task attributes ---------------------------------------------------------
    def link_pending(self, target_id: int) -> None:
        """Write every pending link of a target whose recording is known."""
        with self.ctx.sessions() as session:
            ids = session.scalars(_PENDING_LINKS, {"target": target_id}).all()
        for write_id in ids:
            self.link(write_id)

    def link(self, write_id: int) -> str:
        """Merge the target's VoiceRecording into the task: done | waiting | retry | gone."""
        ctx = self.ctx
        with ctx.sessions() as session:
            write = session.get(AttributeWrite, write_id)
            if write is None or write.status != "pending":
                return "done"
            target = session.get(RecordingTarget, write.target_id)
            if target is None or target.recording_sid is None:
                return "waiting"  # linked once the recording exists
            task_sid, reservation_sid = write.task_sid, write.reservation_sid
            recording_sid, leg = target.recording_sid, target.leg
            start_ms = target.start_time_ms or int(target.created_at.timestamp() * 1000)
        entry = voice_recording_entry(ctx.recordings.account_sid, recording_sid, start_ms, leg)
        bound = log.bind(task_sid=task_sid, recording_sid=recording_sid)
        try:
            result = self.writer.link(task_sid, entry, reservation_sid)
        except GatewayError as exc:
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
        with write_session(ctx.sessions) as session:
            # Tasks row first: the same lock order as the planners (tasks → targets → links).
            session.execute(_TASK_RECORDING, {"task": task_sid, "recording_sid": recording_sid})
            write = session.get(AttributeWrite, write_id)
            if write is not None:
                write.status = "done"
                write.recording_sid = recording_sid
                write.attempts += result.attempts
                write.written_at = ctx.now()
                write.last_error = None
        bound.info("recording linked", outcome=result.outcome)
        return "done"


def record_recording(
    session: Session, info: RecordingInfo, target_id: int | None, account_sid: str, now: datetime
) -> None:
    """Insert the recordings row if missing; never moves a known status backwards."""
    row = session.get(RecordingRecord, info.sid)
    if row is None:
        session.add(
            RecordingRecord(
                sid=info.sid,
                call_sid=info.call_sid,
                target_id=target_id,
                status=info.status,
                start_time_ms=info.start_time_ms,
                duration_s=info.duration_s,
                channels=info.channels,
                track=info.track,
                source=info.source,
                media_url=recording_media_url(account_sid, info.sid),
                error_code=info.error_code,
                created_at=now,
                updated_at=now,
            )
        )
        return
    row.target_id = row.target_id or target_id
    row.start_time_ms = row.start_time_ms or info.start_time_ms
    row.channels = row.channels or info.channels


def _reason(exc: GatewayError) -> str:
    if exc.status is None:
        return "timeout"
    if exc.status == 429:
        return "rate_limited"
    return f"http_{exc.status}"
