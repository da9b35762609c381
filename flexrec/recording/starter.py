"""Starting the recording of a call leg; safe to repeat.

A start: claim the row (one conditional UPDATE) → list the leg's recordings and adopt a live
one, else create → commit while still holding the claim. Errors: 21220 → fetch the call (ended
→ `ended`, else retry: the leg is ringing); 429/5xx/timeouts → retry with backoff; other 4xx →
`failed`. A timeout after Twilio created the recording is covered by the listing on the next
attempt, so no second recording is made. What a start sets off (a pause kept for it, the task
links, callbacks parked meanwhile) is for its caller to run (flexrec.recording.planner).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy.orm import Session

from flexrec.db.models import RecordingRecord, RecordingTarget
from flexrec.recording import metrics, transitions
from flexrec.recording.context import JOB_START, ServiceContext
from flexrec.recording.links import mark_target_links
from flexrec.recording.memory import InFlight, RecentSet
from flexrec.recording.rows import RecordingFacts, new_recording_row, store_recording
from flexrec.recording.store import insert_ignore, write_connection, write_session
from flexrec.recording.transitions import StartedRecording, TargetRow
from flexrec.twilio.gateway import (
    CALL_NOT_RECORDABLE,
    CreateRecordingRequest,
    GatewayError,
    RecordingInfo,
)
from flexrec.webhooks.arrival import seconds_since_arrival

log = structlog.get_logger(__name__)

TOO_MANY_REQUESTS = 429  # Twilio refused the request before doing anything (20429)


@dataclass(frozen=True)
class Claim:
    """A start attempt's claim on a target: its token and what the attempt needs to know."""

    token: str
    call_sid: str
    attempts: int
    event_ms: int | None
    owner: str | None = None  # the owner id it was taken under
    # Whether the leg may already carry a recording of ours or someone else's, so it is listed
    # before creating: an earlier claim on this start (a crash, a lost answer) or a hint of
    # another recorder. Otherwise the create is the one round trip.
    may_exist: bool = True


@dataclass(frozen=True)
class StartOutcome:
    """What one start attempt did: recording | ended | failed | retry | not-claimed; for a
    recording, whether an agent asked for a pause before it began (the caller applies it)."""

    outcome: str
    recording_sid: str | None = None
    pause_wanted: bool = False


class RecordingStarter:
    """Runs start attempts against the gateway and the database."""

    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        # Recordings this process stored as running with everything their in-progress status
        # callback would tell: that callback then changes nothing and is answered from memory.
        self.known_live = RecentSet()
        # Legs this process is starting right now, with the callbacks parked for them (the
        # caller that runs the attempt begins and ends it, flexrec.recording.planner).
        self.in_flight = InFlight()

    # -- starting -----------------------------------------------------------------------------
    def claim_in(
        self, session: Session, target: TargetRow, now: datetime, *, other_recorder: bool = False
    ) -> Claim | None:
        """Claim a due target inside the caller's transaction (the planner's), or None.

        Saves the start attempt a transaction of its own. If the process dies before the
        attempt, its owner is reaped and the target started again. `other_recorder`: something
        suggests another recorder on the leg (Studio's entry in the task's media).
        """
        token, owner = uuid.uuid4().hex, self.ctx.owner_id
        if not transitions.claim(session, target.id, token, now, self.ctx.visibility, owner):
            return None
        attempts = target.attempts + 1
        may_exist = self._may_exist(attempts, other_recorder)
        return Claim(token, target.call_sid, attempts, target.event_ms, owner, may_exist)

    def _may_exist(self, attempts: int, other_recorder: bool = False) -> bool:
        """Whether a start must list the leg's recordings first (see `Claim.may_exist`)."""
        return attempts > 1 or other_recorder or self.ctx.policy.list_before_create == "always"

    def claim(self, target_id: int) -> Claim | None:
        """Claim a due target in a transaction of its own (a queued start), or None."""
        ctx = self.ctx
        token, owner = uuid.uuid4().hex, ctx.owner_id
        with write_session(ctx.sessions) as session:
            if not transitions.claim(session, target_id, token, ctx.now(), ctx.visibility, owner):
                return None
            target = session.get(RecordingTarget, target_id)
            if target is None:  # pragma: no cover - claimed rows exist
                return None
            attempts = target.attempts
            may_exist = self._may_exist(attempts)
            return Claim(token, target.call_sid, attempts, target.event_ms, owner, may_exist)

    def attempt(self, target_id: int, claim: Claim) -> StartOutcome:
        """One attempt at getting the target's leg recorded, under a claim won for it."""
        ctx = self.ctx
        token, call_sid, attempts = claim.token, claim.call_sid, claim.attempts
        bound = log.bind(call_sid=call_sid, target_id=target_id, attempt=attempts)
        # The claim is ours for `visibility`; after that a reconciler may take it over. Stay
        # well inside it, so two claimants can never both list nothing and both create.
        began = time.monotonic()
        budget_s = ctx.visibility.total_seconds()
        unsure = claim.may_exist
        for inline in range(1, ctx.inline_attempts + 1):
            try:
                info, source, created_ms = self._adopt_or_create(claim, unsure, began, budget_s / 2)
                break
            except GatewayError as exc:
                # A try after a failed one lists first, as the failed create may have worked,
                # unless Twilio refused it unprocessed: a 429 (too many requests at once) is
                # answered before anything is done, and listing would add to the crowd.
                unsure = unsure or exc.status != TOO_MANY_REQUESTS
                # A blip (429/5xx/timeout) is retried at once, then after a few tens of ms,
                # before the attempt's backoff; a create that may have worked is adopted by the
                # next try's list.
                in_budget = time.monotonic() - began < budget_s / 3
                if exc.retryable and inline < ctx.inline_attempts and in_budget:
                    metrics.RECORDING_START_FAILURES.labels(reason=_reason(exc)).inc()
                    bound.info("recording start blip", error=str(exc), inline=inline)
                    ctx.pause_before_retry(inline)
                    continue
                return self._failed_attempt(target_id, token, call_sid, attempts, exc)
        pause_wanted = self._commit_started(target_id, token, info, source, created_ms)
        metrics.RECORDINGS_STARTED.labels(source=source).inc()
        bound.info("recording started", recording_sid=info.sid, source=source)
        return StartOutcome("recording", info.sid, pause_wanted)

    def _adopt_or_create(
        self, claim: Claim, list_first: bool, began: float, create_deadline_s: float
    ) -> tuple[RecordingInfo, str, tuple[int, int] | None]:
        """The recording now on the leg, how it got there, and for one this call created, when
        the create was sent and answered (epoch ms): the recording began between the two."""
        ctx = self.ctx
        call_sid, event_ms = claim.call_sid, claim.event_ms
        if list_first:
            live = [r for r in ctx.recordings.list_recordings(call_sid) if adoptable(r)]
            if live:
                # The oldest: the one that covers the most.
                live.sort(key=lambda r: r.start_time_ms or 0)
                return live[0], "adopted", None
        if time.monotonic() - began > create_deadline_s:
            # Too slow to be sure the claim is still ours: give it back rather than risk a twin.
            raise GatewayError("claim time spent before create", status=None)
        if ctx.lease is not None and not ctx.lease.holds(claim.owner):
            # Our heartbeats stopped getting through: others may already count us as gone.
            raise GatewayError("claim owner lease lapsed before create", status=None)
        sent_ms = _epoch_ms(ctx.now())
        info = ctx.recordings.create_recording(
            CreateRecordingRequest(call_sid, ctx.status_callback_url)
        )
        answered_ms = _epoch_ms(ctx.now())
        if event_ms is not None:
            delay = ctx.now().timestamp() - event_ms / 1000
            metrics.WEBHOOK_TO_API_SECONDS.observe(max(0.0, delay))
        since_arrival = seconds_since_arrival()
        if since_arrival is not None:
            metrics.START_SECONDS.observe(since_arrival)
        # A create that timed out before this one may have made a recording too, but then the
        # next try lists first and adopts it: a created one is this request's own.
        return info, "created", (sent_ms, answered_ms)

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
                    transitions.call_over_at_start(
                        session, target_id, token, now=ctx.now(), error=str(exc)
                    )
                bound.info("call ended before recording", call_status=call.status)
                return StartOutcome("ended")
            return self._retry(target_id, token, attempts, "ringing", exc)
        if exc.retryable:
            return self._retry(target_id, token, attempts, _reason(exc), exc)
        metrics.RECORDING_START_FAILURES.labels(reason=f"http_{exc.status}").inc()
        with write_session(ctx.sessions) as session:
            transitions.start_refused(session, target_id, token, now=ctx.now(), error=str(exc))
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
            released = transitions.retry_due(
                session, target_id, token, now=now, delay_s=delay, error=f"{reason}: {exc}"
            )
        if released:
            ctx.schedule(JOB_START, target_id, delay_s=delay)
        log.info("recording start retry", target_id=target_id, reason=reason, delay_s=delay)
        return StartOutcome("retry")

    def _commit_started(
        self,
        target_id: int,
        token: str,
        info: RecordingInfo,
        source: str,
        created_ms: tuple[int, int] | None = None,
    ) -> bool:
        """Store the started recording (`created_ms`: when its create was sent and answered);
        True when an agent asked for a pause before it began."""
        ctx = self.ctx
        now = ctx.now()
        paused = info.status == "paused"
        started = StartedRecording(info.sid, source, info.start_time_ms, paused)
        facts = RecordingFacts.of_info(info)
        new_row = new_recording_row(facts, target_id, ctx.recordings.account_sid, now)
        if created_ms is not None:
            new_row["create_sent_ms"], new_row["create_answered_ms"] = created_ms
        try:
            # The usual start: the claim still ours, no replacement, the row not stored yet.
            # Two prepared statements on a bare connection, the first a write (no BEGIN).
            with write_connection(ctx.sessions, writes_first=True) as connection:
                released = transitions.started_while_claimed(
                    connection, target_id, token, started, now
                )
                if released is None or released[1]:
                    raise _NotTheUsualStart
                if not insert_ignore(connection, RecordingRecord, new_row, ["sid"]):
                    raise _NotTheUsualStart
            held, wanted = True, released[0]
        except _NotTheUsualStart:
            # Rolled back: the ORM path below does all of it in one transaction.
            held, wanted = self._commit_started_in_session(
                target_id, token, started, facts, new_row, created_ms, now
            )
        if not paused and info.channels and info.start_time_ms and held:
            self.known_live.add(info.sid)
        return wanted == "paused"

    def _commit_started_in_session(
        self,
        target_id: int,
        token: str,
        started: StartedRecording,
        facts: RecordingFacts,
        new_row: dict[str, Any],
        created_ms: tuple[int, int] | None,
        now: datetime,
    ) -> tuple[bool, str | None]:
        """`_commit_started` when the claim was lost (a status callback or a reclaim came
        first), the start is a replacement, or the recording's row exists: (claim held, the
        pause wish)."""
        ctx = self.ctx
        with write_session(ctx.sessions) as session:
            held, wanted, replacements = transitions.started(
                session, target_id, token, started, now
            )
            if replacements:  # a replacement's entry joins the media
                for task_sid in mark_target_links(session, target_id):
                    ctx.memos.unsettle(task_sid)
            if not insert_ignore(session, RecordingRecord, new_row, ["sid"]):
                # A status callback stored it first: fill in what it could not know.
                row = store_recording(session, facts, target_id, ctx.recordings.account_sid, now)
                if created_ms is not None and row.create_sent_ms is None:
                    row.create_sent_ms, row.create_answered_ms = created_ms
        return held, wanted


class _NotTheUsualStart(Exception):
    """The started recording needs the ORM path (`_commit_started_in_session`)."""


# Recording sources of a conference recording (OAI `call_recording.source` enum): Flex's own
# "Call Recording" records the conference, and Twilio associates that recording with a leg.
CONFERENCE_SOURCES = frozenset({"Conference", "StartConferenceRecordingAPI"})


def adoptable(recording: RecordingInfo) -> bool:
    """True for a running recording that records this leg as flexrec would: the leg's own
    call recording (not a conference's), in dual channel. A mono one (the Recording API's and
    a Studio widget's default can be mono) is left running and a dual one made beside it."""
    return (
        recording.status in ("in-progress", "paused")
        and recording.channels == 2
        and not recording.conference_sid
        and recording.source not in CONFERENCE_SOURCES
    )


def _epoch_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _reason(exc: GatewayError) -> str:
    if exc.status is None:
        return "timeout"
    if exc.status == 429:
        return "rate_limited"
    return f"http_{exc.status}"
