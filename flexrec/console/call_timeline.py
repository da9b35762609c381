"""Who was on a recorded call and when: each agent's span, the holds, and the transfers.

Read from the recording service's rows: reservations (accepted → first wrap-up or completion:
`accepted_ms`, `ended_ms`) of every task the recording is linked into, and the hold and unhold
callbacks of the customer's leg (`hold_events`, only where the account's conference status
callback reaches flexrec). Times are ms from the recording's start (the archive row's, else the
recording service's), clipped to it; an end of None means "until the recording ends".

A later agent's arrival is a transfer: warm when the agent before was still on the call, cold
when they had left (the customer then waited, usually on hold, for the gap between them).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from flexrec.archive.models import ArchivedRecording
from flexrec.db.models import HoldEvent, RecordingRecord, ReservationRecord, TaskRecord


@dataclass(frozen=True)
class AgentSpan:
    """One agent's time on the call."""

    name: str
    worker_sid: str | None
    start_ms: int
    end_ms: int | None


@dataclass(frozen=True)
class Span:
    """A stretch of the call (a hold)."""

    start_ms: int
    end_ms: int | None


@dataclass(frozen=True)
class Transfer:
    """The call handed from one agent to the next."""

    at_ms: int
    from_name: str | None
    to_name: str
    warm: bool  # the agent before was still on the call
    waited_ms: int | None  # cold: how long the customer had no agent


def _base_ms(session: Session, rec: ArchivedRecording) -> int | None:
    # The archive row's start when it has one, else the recording service's (its callback's
    # RecordingStartTime): the archive does not always copy it.
    started = rec.recording_started_at
    if started is not None:
        return int(started.timestamp() * 1000)
    return session.scalar(
        select(RecordingRecord.start_time_ms).where(RecordingRecord.sid == rec.recording_sid)
    )


def _clip(value_ms: int, duration_ms: int | None) -> int:
    value_ms = max(0, value_ms)
    return min(value_ms, duration_ms) if duration_ms else value_ms


def agent_spans(session: Session, rec: ArchivedRecording) -> list[AgentSpan]:
    """Every agent who accepted a task of the call, in the order they joined."""
    base = _base_ms(session, rec)
    tasks = list(rec.task_sids or [])
    if base is None or not tasks:
        return []
    rows = session.scalars(
        select(ReservationRecord)
        .where(ReservationRecord.task_sid.in_(tasks), ReservationRecord.accepted_ms.is_not(None))
        .order_by(ReservationRecord.accepted_ms, ReservationRecord.sid)
    ).all()
    spans: list[AgentSpan] = []
    for row in rows:
        assert row.accepted_ms is not None  # noqa: S101 - filtered above
        if row.ended_ms is not None and row.ended_ms <= base:
            continue  # left before this recording began (a recording replaced mid-call)
        end = _clip(row.ended_ms - base, rec.duration_ms) if row.ended_ms is not None else None
        start = _clip(row.accepted_ms - base, rec.duration_ms)
        spans.append(
            AgentSpan(row.worker_name or row.worker_sid or "agent", row.worker_sid, start, end)
        )
    return spans


def hold_spans(session: Session, rec: ArchivedRecording) -> list[Span]:
    """The customer's holds during the recording, from the conference's hold callbacks."""
    base = _base_ms(session, rec)
    if base is None:
        return []
    legs = {rec.call_sid} if rec.call_sid else set()
    tasks = list(rec.task_sids or [])
    if tasks:
        legs |= {
            sid
            for sid in session.scalars(
                select(TaskRecord.customer_call_sid).where(TaskRecord.sid.in_(tasks))
            )
            if sid
        }
    if not legs:
        return []
    events = session.execute(
        select(HoldEvent.at_ms, HoldEvent.hold)
        .where(HoldEvent.call_sid.in_(sorted(legs)))
        .order_by(HoldEvent.at_ms, HoldEvent.hold)
    ).all()
    spans: list[Span] = []
    opened: int | None = None
    for at_ms, hold in events:
        if hold and opened is None:
            opened = at_ms
        elif not hold and opened is not None:
            spans.append(
                Span(_clip(opened - base, rec.duration_ms), _clip(at_ms - base, rec.duration_ms))
            )
            opened = None
    if opened is not None:
        spans.append(Span(_clip(opened - base, rec.duration_ms), None))
    return [s for s in spans if s.end_ms is None or s.end_ms > s.start_ms]


def transfers(agents: list[AgentSpan]) -> list[Transfer]:
    """Each agent after the first: who handed the call over, warm or cold."""
    out: list[Transfer] = []
    for index, agent in enumerate(agents[1:], start=1):
        before = agents[:index]
        still_on = [a for a in before if a.end_ms is None or a.end_ms > agent.start_ms]
        if still_on:
            out.append(Transfer(agent.start_ms, still_on[-1].name, agent.name, True, None))
            continue
        last = max(before, key=lambda a: a.end_ms or 0)
        waited = agent.start_ms - (last.end_ms or agent.start_ms)
        out.append(Transfer(agent.start_ms, last.name, agent.name, False, max(0, waited)))
    return out


def call_timeline(session: Session, rec: ArchivedRecording) -> dict[str, Any]:
    """The player's `agents`, `holds` and `transfers` (JSON-ready)."""
    agents = agent_spans(session, rec)
    return {
        "agents": [asdict(a) for a in agents],
        "holds": [asdict(h) for h in hold_spans(session, rec)],
        "transfers": [asdict(t) for t in transfers(agents)],
    }
