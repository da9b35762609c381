"""What a recording's end means while its leg may still be live: replace, respect, or close.

Twilio ends a recording `completed`, `absent` (silent or too short, not stored: error 16101 /
16102) or `failed`. Whether the call was still live then decides what the service does:

- the call is over: the target is final (`leg_over`); a recording that completed because the
  call ended is never restarted;
- `absent`/`failed` mid-call: the leg is recorded again (`replaced`), at once for the first
  replacement and after a short backoff for the next ones, up to the policy's cap
  (`max_replacements`, default 3); at the cap the leg is left unrecorded and reported
  (`gave_up`, a warning and `flexrec_recording_replacements_total{outcome="capped"}`);
- `completed` mid-call: another API client stopped it on purpose (older payment integrations
  stop and restart instead of pausing). Like a pause, it is not undone (`stopped_by_other`); the
  span until the call ends is unrecorded and reported (a warning, and
  `flexrec_recordings_stopped_by_others_total`, which an alert rule watches).

When the service does not know yet whether the call ended it asks Twilio (one call fetch); a
call status callback that arrived first saves the fetch. `Settler.settle` returns its decision
and leaves acting on it (starting the replacement) to its caller.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Final

import structlog
from sqlalchemy import bindparam, select

from flexrec.db.models import RecordingTarget
from flexrec.db.prepared import Prepared
from flexrec.recording import metrics, transitions
from flexrec.recording.context import ServiceContext
from flexrec.recording.rows import mark_recording_end
from flexrec.recording.states import NO_MEDIA_STATES
from flexrec.recording.store import read_connection, write_session
from flexrec.twilio.gateway import CallInfo, GatewayError

log = structlog.get_logger(__name__)

# Each replacement's delay in units of the policy's `replacement_backoff_s` (the first starts
# at once): 0, 2, 5, 8 s by default, every one inside the 10 s a compliance officer allows
# between losing a recording and the next, yet a silent leg is not re-recorded in a tight loop.
REPLACEMENT_STEPS: Final = (0.0, 1.0, 2.5, 4.0)
# A `completed` recording is settled this long after its callback: the call's own status
# callback usually arrives meanwhile and saves asking Twilio.
COMPLETED_SETTLE_DELAY_S: Final = 5.0
SETTLED_STATES: Final = ("completed", *NO_MEDIA_STATES)


def replacement_delay_s(replacements_done: int, backoff_s: float = 2.0) -> float:
    """Seconds to wait before replacement number `replacements_done + 1`."""
    return backoff_s * REPLACEMENT_STEPS[min(replacements_done, len(REPLACEMENT_STEPS) - 1)]


@dataclass(frozen=True)
class Settled:
    """A settle's decision: `replaced` (start `target_id` after `delay_s`), `held` (replaced,
    waiting for the pause to end), `stopped`, `final`, `capped`, `retry` (Twilio failed: ask
    again later) or `none` (nothing to settle)."""

    outcome: str
    target_id: int
    delay_s: float = 0.0


# Read by every completed recording's settle (most find the call over already): prepared, on
# a bare connection, not through a session and SQLAlchemy's execution.
_UNSETTLED = Prepared(
    select(
        RecordingTarget.state,
        RecordingTarget.call_sid,
        RecordingTarget.recording_sid,
        RecordingTarget.replacements,
        RecordingTarget.desired_state,
        RecordingTarget.call_ended_at,
    ).where(RecordingTarget.id == bindparam("target"))
)


def fetch_call(ctx: ServiceContext, call_sid: str) -> CallInfo:
    """The call's status, asked again at once after a blip (429, 5xx, timeout): a replacement
    waits on this answer, and a settle deferred by the backoff would leave the leg unrecorded
    for seconds. Raises GatewayError when Twilio does not say."""
    for inline in range(1, ctx.inline_attempts):
        try:
            return ctx.recordings.fetch_call(call_sid)
        except GatewayError as exc:
            if not exc.retryable:
                raise
            log.info("call status blip", call_sid=call_sid, error=str(exc), inline=inline)
            ctx.pause_before_retry(inline)
    return ctx.recordings.fetch_call(call_sid)


class Settler:
    """Settles ended recordings of live legs (see the module docstring)."""

    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    @property
    def cap(self) -> int:
        """How many replacements a leg may have."""
        return self.ctx.policy.max_replacements

    def settle(self, target_id: int) -> Settled:
        """Decide what the end of the target's current recording means (one call fetch at
        most) and write it; the caller starts a replacement."""
        ctx = self.ctx
        with read_connection(ctx.sessions) as connection:
            row = _UNSETTLED.execute(connection, {"target": target_id}).first()
        if row is None or row.state not in SETTLED_STATES or row.call_ended_at is not None:
            return Settled("none", target_id)
        if row.state in NO_MEDIA_STATES and row.replacements >= self.cap:
            return self._capped(target_id, row.call_sid, row.replacements)
        try:
            call = fetch_call(ctx, row.call_sid)
        except GatewayError as exc:
            log.info("call status unknown, settling later", call_sid=row.call_sid, error=str(exc))
            return Settled("retry", target_id, ctx.backoff_s(1))
        now = ctx.now()
        with write_session(ctx.sessions) as session:
            if call.ended:
                transitions.leg_over(session, row.call_sid, now)
                mark_recording_end(session, row.recording_sid, live=False)
                return Settled("final", target_id)
            mark_recording_end(session, row.recording_sid, live=True)
            if row.state == "completed":
                stopped = transitions.stopped_by_other(session, target_id, now)
            else:
                held = row.desired_state == "paused"
                delay = replacement_delay_s(row.replacements, ctx.policy.replacement_backoff_s)
                due = None if held else now + timedelta(seconds=delay)
                error = f"recording {row.recording_sid} {row.state} while the call was live"
                replaced = transitions.replace(
                    session, target_id, cap=self.cap, due_at=due, now=now, error=error
                )
        if row.state == "completed":
            if stopped:
                metrics.RECORDINGS_STOPPED_BY_OTHERS.inc()
                log.warning(
                    "recording stopped by another client; the rest of the call is unrecorded",
                    call_sid=row.call_sid, recording_sid=row.recording_sid,
                )  # fmt: skip
                return Settled("stopped", target_id)
            return Settled("none", target_id)
        if not replaced:
            return Settled("none", target_id)
        metrics.RECORDING_REPLACEMENTS.labels(outcome="held" if held else "started").inc()
        log.warning(
            "recording ended without media mid-call; replacing it",
            call_sid=row.call_sid, recording_sid=row.recording_sid, status=row.state,
            replacement=row.replacements + 1, held_for_pause=held, delay_s=delay,
        )  # fmt: skip
        return Settled("held" if held else "replaced", target_id, delay)

    def _capped(self, target_id: int, call_sid: str, replacements: int) -> Settled:
        error = f"replacement cap reached ({replacements} of {self.cap}): leg left unrecorded"
        with write_session(self.ctx.sessions) as session:
            first = transitions.give_up(session, target_id, now=self.ctx.now(), error=error)
        if first:
            metrics.RECORDING_REPLACEMENTS.labels(outcome="capped").inc()
            log.warning("recording replacements capped", call_sid=call_sid, cap=self.cap)
        return Settled("capped", target_id)
