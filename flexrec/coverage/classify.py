"""One leg's verdict: Twilio's facts (the leg, its recordings) beside flexrec's. Pure, no I/O.

The talk window of a customer leg runs from the moment both the customer and an agent were on
the line (the later of the leg's start and the agent's) to the leg's end. Recordings with media
cover stretches of it; what no recording covers is unrecorded, split into the start gap (until
the first recording attempt) and spans after it, each named by what happened at its start.
Times are Twilio's (whole seconds), so stretches shorter than `TOLERANCE_MS` are not reported.

An unrecorded stretch during which flexrec answered for less than the start budget (the 10 s a
start or replacement may take once flexrec learns of the leg) because it was down is named
`service_down`, with the outage's window; any other stretch an outage touched says so in its
detail.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from itertools import pairwise

from flexrec.coverage.facts import KnownLeg, KnownRecording
from flexrec.coverage.outages import Outage, down_ms, overlapping
from flexrec.coverage.outcomes import LegCoverage, RecordingFacts, Span
from flexrec.recording.legs import names_customer
from flexrec.twilio.resources import TERMINAL_CALL_STATUSES, CallInfo, RecordingInfo

TOLERANCE_MS = 2_000  # Twilio's start times and durations are whole seconds
LATE_START_S = 10.0  # a start gap longer than this is an unrecorded span of its own
START_BUDGET_MS = 10_000  # a start or replacement is due this soon after flexrec learns of it
NOT_ANSWERED = frozenset({"busy", "no-answer", "failed", "canceled"})
LIVE_RECORDING = frozenset({"in-progress", "paused"})
NO_MEDIA = frozenset({"absent", "failed"})
REASON_AGENT = "the agent's side, on channel 2 of the customer's recording"


@dataclass(frozen=True)
class LegContext:
    """What the report knows around a leg: when its task's agent connected, the policy's leg."""

    agent_start_ms: int | None = None
    policy_leg: str = "customer"  # customer | worker (the policy's `leg`)
    outages: tuple[Outage, ...] = ()  # when flexrec was down (Twilio's clock)


def _is_client(number: str | None) -> bool:
    return bool(number) and str(number).startswith("client:")


def _leg_recordings(recordings: Sequence[RecordingInfo], known: KnownLeg) -> list[RecordingFacts]:
    out = []
    for rec in sorted(recordings, key=lambda r: (r.start_time_ms or 0, r.sid)):
        if rec.conference_sid or rec.source in ("Conference", "StartConferenceRecordingAPI"):
            continue  # Flex's conference recording is not the leg's (docs/design.md)
        mine = known.recordings.get(rec.sid)
        out.append(
            RecordingFacts(
                sid=rec.sid,
                status=rec.status,
                channels=rec.channels,
                source=rec.source,
                start_time_ms=rec.start_time_ms,
                duration_s=rec.duration_s,
                error_code=rec.error_code or (mine.error_code if mine else None) or None,
                by_flexrec=bool(mine and mine.by_flexrec),
            )
        )
    return out


def _role(call: CallInfo, known: KnownLeg) -> str:
    if known.role in ("customer", "agent"):
        return known.role
    if _is_client(call.to) or _is_client(call.from_):
        return "agent"  # a Flex agent's leg is a Twilio Client leg
    if known.role == "participant":
        # An unlabelled leg of the task's conference: the customer's when the task's attributes
        # name its number, as the service's own leg search judges (a search cut short by a
        # restart, or Twilio errors, leaves the task without its customer leg), else a third
        # party's.
        task = known.task
        if task is not None and names_customer(task.attributes, call):
            return "customer"
        return "third_party"
    return "unknown"


def _merge(intervals: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _covered(recordings: list[RecordingFacts], leg_end_ms: int) -> list[tuple[int, int]]:
    intervals = []
    for rec in recordings:
        if rec.channels != 2 or rec.start_time_ms is None:
            continue
        if rec.status == "completed" and rec.duration_s is not None:
            intervals.append((rec.start_time_ms, rec.start_time_ms + rec.duration_s * 1000))
        elif rec.status in ("processing", *LIVE_RECORDING):
            intervals.append((rec.start_time_ms, leg_end_ms))  # media still being made
    return _merge(intervals)


def _uncovered(window: tuple[int, int], covered: list[tuple[int, int]]) -> list[tuple[int, int]]:
    start, end = window
    gaps = []
    cursor = start
    for a, b in covered:
        if b <= cursor:
            continue
        if a > cursor:
            gaps.append((cursor, min(a, end)))
        cursor = max(cursor, b)
        if cursor >= end:
            break
    if cursor < end:
        gaps.append((cursor, end))
    return [(a, b) for a, b in gaps if b - a >= TOLERANCE_MS]


def _no_media(rec: RecordingFacts) -> str:
    code = f"Twilio error {rec.error_code}: " if rec.error_code else ""
    return f"{code}recording {rec.sid} ended {rec.status}, without media"


def _span_reason(gap: tuple[int, int], recordings: list[RecordingFacts]) -> Span:
    start, end = gap
    # Latest first: of two recordings without media begun at the span's start (one absent
    # within a second, then its replacement that failed much later), the later one is what
    # ran while the span went unrecorded.
    for rec in sorted(recordings, key=lambda r: r.start_time_ms or 0, reverse=True):
        if rec.status in NO_MEDIA and rec.start_time_ms is not None:
            if start - TOLERANCE_MS <= rec.start_time_ms < start + TOLERANCE_MS:
                return Span(start, end, "twilio_error", _no_media(rec), rec.sid)
    for rec in recordings:
        if rec.status == "completed" and rec.start_time_ms is not None and rec.duration_s:
            if abs(rec.start_time_ms + rec.duration_s * 1000 - start) <= TOLERANCE_MS:
                detail = f"recording {rec.sid} stopped while the call went on"
                return Span(start, end, "stopped", detail, rec.sid)
    return Span(start, end, "uncovered", "no recording ran")


def _named_spans(gap: tuple[int, int], recordings: list[RecordingFacts]) -> list[Span]:
    """The gap cut where each recording without media began (a replacement that also failed
    starts a span of its own), each part named by what happened at its start."""
    start, end = gap
    cuts = sorted(
        rec.start_time_ms
        for rec in recordings
        if rec.status in NO_MEDIA
        and rec.start_time_ms is not None
        and start + TOLERANCE_MS <= rec.start_time_ms <= end - TOLERANCE_MS
    )
    bounds = [start, *cuts, end]
    return [_span_reason((a, b), recordings) for a, b in pairwise(bounds) if b - a >= TOLERANCE_MS]


def _pauses_ms(
    rec: RecordingFacts, mine: KnownRecording | None, end_ms: int
) -> list[tuple[int, int]]:
    """The recording's pauses on Twilio's clock.

    Pauses are taken on flexrec's clock; the recording's start and end are known on both
    clocks (Twilio's start time and length; when flexrec stored it and learnt it ended), so the
    pauses are placed on the recording's timeline by those two anchors. The rate is 1 on a real
    account; on a simulator whose clock runs faster it is that speed.
    """
    if mine is None or not mine.pauses or rec.start_time_ms is None or mine.stored_at is None:
        return []
    start_ms = rec.start_time_ms
    if rec.status == "completed" and rec.duration_s is not None:
        end_ms = start_ms + rec.duration_s * 1000
    stored = mine.stored_at
    rate = 1.0
    if mine.ended_at is not None and mine.ended_at > stored and end_ms > start_ms:
        measured = (end_ms - start_ms) / ((mine.ended_at - stored).total_seconds() * 1000)
        rate = measured if 0.5 <= measured <= 100 else 1.0  # a late-learnt end says nothing

    def place(moment: datetime) -> float:
        return start_ms + (moment - stored).total_seconds() * 1000 * rate

    out = []
    for pause in mine.pauses:
        a = max(place(pause.start), start_ms)
        b = min(place(pause.end) if pause.end is not None else end_ms, end_ms)
        if b > a:
            out.append((int(a), int(b)))
    return out


def _down_note(outages: list[Outage]) -> str:
    return "flexrec was down " + " and ".join(o.describe() for o in outages)


def _with_outages(span: Span, outages: tuple[Outage, ...], *, whole_leg: bool = False) -> Span:
    """`span` named `service_down` when flexrec answered for less than the start budget of it
    because it was down; else with the outages it overlapped in its detail. A span begun by a
    recording Twilio ended keeps that reason unless it is the leg's whole talk (`whole_leg`):
    no flexrec could have recorded a call it was down for."""
    during = overlapping(outages, span.start_ms, span.end_ms)
    if not during:
        return span
    length = span.end_ms - span.start_ms
    up_s = (length - down_ms(during, span.start_ms, span.end_ms)) / 1000.0
    named_by_wait = whole_leg or span.reason in ("late_start", "uncovered")
    if named_by_wait and up_s * 1000 < START_BUDGET_MS:
        detail = (
            f"{_down_note(during)}; it answered for {up_s:.0f} s of these {length / 1000:.0f} s"
        )
        return Span(span.start_ms, span.end_ms, "service_down", detail)
    return replace(span, detail=f"{span.detail}; {_down_note(during)}")


def _overlap_ms(a: list[tuple[int, int]], b: list[tuple[int, int]]) -> int:
    return sum(max(0, min(x1, y1) - max(x0, y0)) for x0, x1 in a for y0, y1 in b)


def _not_eligible(leg: LegCoverage, reason: str, detail: str) -> LegCoverage:
    leg.eligible, leg.outcome, leg.reason, leg.detail = False, "not_eligible", reason, detail
    return leg


def _eligibility(leg: LegCoverage, call: CallInfo, known: KnownLeg, ctx: LegContext) -> bool:
    """Sets the verdict of a leg that is not a call to record; True when it is one."""
    task = known.task
    recorded_leg = "agent" if ctx.policy_leg == "worker" else "customer"
    if leg.role == "third_party":
        detail = "a third party in the task's conference, heard on the customer's recording"
        return not _not_eligible(leg, "third_party", detail)
    if task is not None and task.internal:
        return not _not_eligible(leg, "internal", f"agent-to-agent call (task {task.sid})")
    if leg.role == "unknown":
        leg.eligible, leg.outcome, leg.reason = None, "not_seen", "not_seen"
        leg.detail = "no webhook, search or reconciliation ever named this leg"
        return False
    if leg.role != recorded_leg:
        detail = "the policy records the agents' legs" if leg.role == "customer" else ""
        reason = "policy" if leg.role == "customer" else "agent_leg"
        return not _not_eligible(leg, reason, detail or REASON_AGENT)
    if task is not None and task.policy_excluded:
        return not _not_eligible(leg, "policy", task.policy_rule)
    if call.status in NOT_ANSWERED or (call.start_time_ms is None and leg.ended_ms is not None):
        return not _not_eligible(leg, "not_answered", f"the leg ended {call.status}")
    if task is not None and not task.answered and not known.targets:
        if call.status in TERMINAL_CALL_STATUSES or task.status in ("canceled", "completed"):
            if task.direction == "outbound":
                return not _not_eligible(leg, "not_answered", "no agent was connected")
            detail = f"the caller hung up in the queue (task {task.sid} {task.status})"
            return not _not_eligible(leg, "abandoned", detail)
    return True


def _not_recorded(leg: LegCoverage, known: KnownLeg, window: tuple[int, int]) -> Span:
    """The one span of a leg no recording covered, named by the first thing that went wrong."""
    for rec in leg.recordings:
        if rec.status in NO_MEDIA:
            capped = [t for t in known.targets if t.capped]
            cap = f"; {capped[0].last_error}" if capped else ""
            return Span(*window, "twilio_error", _no_media(rec) + cap, rec.sid)
    for target in known.targets:
        if target.error_code is not None:
            detail = f"the call ended before a recording started ({target.last_error})"
            return Span(*window, "not_started", detail)
    for rec in leg.recordings:
        if rec.status == "completed" and rec.channels == 2:
            detail = f"recording {rec.sid} was stopped before the talk began"
            return Span(*window, "stopped", detail, rec.sid)
    states = ", ".join(sorted({t.state for t in known.targets})) or "none"
    return Span(*window, "not_started", f"no recording was started (flexrec target: {states})")


def classify_leg(
    call: CallInfo,
    recordings: Sequence[RecordingInfo],
    known: KnownLeg,
    ctx: LegContext,
    now_ms: int,
) -> LegCoverage:
    """The leg's outcome with its figures and, when not recorded, the reason."""
    task = known.task
    leg = LegCoverage(
        call_sid=call.sid,
        started_ms=call.start_time_ms,
        ended_ms=call.end_time_ms,
        status=call.status,
        direction=call.direction,
        from_=call.from_,
        to=call.to,
        role=_role(call, known),
        task_sid=task.sid if task else None,
        eligible=True,
        outcome="in_progress",
        duration_s=call.duration_s,
        recordings=_leg_recordings(recordings, known),
    )
    if not _eligibility(leg, call, known, ctx):
        return leg
    live = call.status not in TERMINAL_CALL_STATUSES or any(
        r.status in LIVE_RECORDING for r in leg.recordings
    )
    if live or call.start_time_ms is None:
        leg.outcome, leg.detail = "in_progress", "judged once the call has ended"
        return leg
    end_ms = call.end_time_ms or now_ms
    talk_start = max(call.start_time_ms, ctx.agent_start_ms or call.start_time_ms)
    talk_start = min(talk_start, end_ms)
    leg.talk_s = (end_ms - talk_start) / 1000.0
    leg.outages = overlapping(ctx.outages, talk_start, end_ms)
    covered = _covered(leg.recordings, end_ms)
    talk = [(talk_start, end_ms)]
    in_window_ms = _overlap_ms(covered, talk)
    pauses = _merge(
        [
            span
            for r in leg.recordings
            if r.sid in leg.recording_sids
            for span in _pauses_ms(r, known.recordings.get(r.sid), end_ms)
        ]
    )
    paused_ms = min(_overlap_ms(pauses, talk), in_window_ms)
    leg.paused_s = paused_ms / 1000.0
    leg.recorded_s = (in_window_ms - paused_ms) / 1000.0
    attempts = [r.start_time_ms for r in leg.recordings if r.start_time_ms is not None]
    if in_window_ms == 0:
        span = _with_outages(_not_recorded(leg, known, (talk_start, end_ms)), ctx.outages,
                             whole_leg=True)  # fmt: skip
        leg.outcome, leg.reason, leg.detail, leg.unrecorded = (
            "not_recorded", span.reason, span.detail, [span]
        )  # fmt: skip
        return leg
    first_attempt = min(attempts)
    leg.start_gap_s = max(0.0, (first_attempt - talk_start) / 1000.0)
    for gap in _uncovered((talk_start, end_ms), covered):
        if gap[0] == talk_start and gap[1] <= first_attempt + TOLERANCE_MS:
            if leg.start_gap_s > LATE_START_S:
                leg.unrecorded.append(Span(*gap, "late_start", f"{leg.start_gap_s:.0f} s late"))
            continue
        if gap[0] == talk_start and first_attempt > talk_start:
            gap = (first_attempt, gap[1])  # the wait for the first attempt is the start gap
        leg.unrecorded.extend(_named_spans(gap, leg.recordings))
    leg.unrecorded = [_with_outages(span, ctx.outages) for span in leg.unrecorded]
    if leg.unrecorded:
        leg.outcome = "partly_recorded"
        first = leg.unrecorded[0]
        leg.reason = first.reason
        leg.detail = "; ".join(f"{s.seconds:.0f} s {s.reason}: {s.detail}" for s in leg.unrecorded)
    else:
        leg.outcome = "recorded"
    return leg
