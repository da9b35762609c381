"""What flexrec knows about call legs, read from its own tables: the coverage report's one query.

Everything the report needs from the database comes through `known_legs` (tasks, reservations,
conference participants, recording targets, recordings, pauses) and `service_runs` (when the
service's processes answered), so when the recording core's tables change only this module
changes. Reads are batched by call SID (a few statements per
500 legs, whatever the engine), never one query per leg.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from flexrec.coverage.outages import RunSpan
from flexrec.db.models import (
    ConferenceParticipantRecord,
    PauseEvent,
    RecordingRecord,
    RecordingTarget,
    ReservationRecord,
    ServiceRun,
    TaskRecord,
)
from flexrec.recording.attributes import attribute_facts
from flexrec.recording.policy import RECORDED
from flexrec.recording.states import ACTIVE_RESERVATION_STATUSES

# Runs are read from this long before the period (flexrec's clock may be behind a simulator's)
# and the last one before that: an outage that began long before the period still covers it.
RUNS_LOOKBACK = timedelta(days=2)
CHUNK = 500  # SIDs per IN (...) list: far inside SQLite's and PostgreSQL's parameter limits
_TWILIO_CODE = re.compile(r"\b(\d{5})\b")


@dataclass(frozen=True)
class KnownTask:
    """A TaskRouter task as flexrec saw it."""

    sid: str
    direction: str | None
    status: str | None
    queue_name: str | None
    policy_decision: str | None  # "recorded", or the policy's reason for not recording
    internal: bool  # an agent-to-agent call (`client_call`): no customer on the line
    answered: bool  # an agent accepted one of its reservations
    agent_connected_ms: int | None  # the first accepted reservation, on Twilio's clock
    customer_call_sid: str | None
    worker_call_sid: str | None = None  # the agent's leg Flex named in the attributes
    workflow_name: str | None = None
    # The task's attributes: they name the customer's number, by which an unlabelled leg of the
    # task's conference is the customer's (a search the service never finished), not a third
    # party's.
    attributes: Mapping[str, Any] = field(default_factory=dict)

    @property
    def policy_rule(self) -> str:
        """The policy's decision with the queue or workflow it matched, for a person to read."""
        decision = self.policy_decision or ""
        named = {"queue": self.queue_name, "workflow": self.workflow_name}
        context = [f"{k} {v}" for k, v in named.items() if v and decision.startswith(k)]
        return f"{decision} ({', '.join(context)})" if context else decision

    @property
    def policy_excluded(self) -> bool:
        """True when the policy decided not to record the task's call."""
        decision = self.policy_decision
        return decision is not None and decision != RECORDED and not self.internal


@dataclass(frozen=True)
class KnownTarget:
    """A leg flexrec set out to record (`recording_targets`)."""

    leg: str  # customer | worker
    state: str
    task_sid: str
    last_error: str | None
    replacements: int = 0  # recordings started again after one ended without media

    @property
    def capped(self) -> bool:
        """True when the recording core stopped replacing at its cap (it says so in last_error)."""
        return (self.last_error or "").startswith("replacement cap reached")

    @property
    def error_code(self) -> int | None:
        """The Twilio error code in the last error, if any (e.g. 21220)."""
        found = _TWILIO_CODE.search(self.last_error or "")
        return int(found.group(1)) if found else None


@dataclass(frozen=True)
class PauseSpan:
    """A pause of a recording on the service's clock (end None: never resumed)."""

    start: datetime
    end: datetime | None


@dataclass(frozen=True)
class KnownRecording:
    """A recording flexrec made, adopted or heard of."""

    sid: str
    status: str
    error_code: int | None
    by_flexrec: bool  # started or adopted for one of flexrec's targets
    pauses: tuple[PauseSpan, ...] = ()
    # When flexrec stored it and learnt it ended, on flexrec's clock: anchors that place
    # pauses (taken on flexrec's clock) on the recording's own timeline (Twilio's clock).
    stored_at: datetime | None = None
    ended_at: datetime | None = None
    # True when it ended while its call was live (stopped by another client, or no media and
    # replaced); False when the call was over; None while running or not settled.
    ended_while_live: bool | None = None


@dataclass
class KnownLeg:
    """Everything flexrec knows about one call leg (`seen` False: nothing at all)."""

    call_sid: str
    role: str | None = None  # customer | agent | participant (of a task's conference) | None
    task: KnownTask | None = None
    targets: list[KnownTarget] = field(default_factory=list)
    recordings: dict[str, KnownRecording] = field(default_factory=dict)

    @property
    def seen(self) -> bool:
        """True when any webhook, search or reconciliation told flexrec of this leg."""
        return self.role is not None or bool(self.targets) or bool(self.recordings)


def _chunks(values: Sequence[str]) -> Iterable[list[str]]:
    for i in range(0, len(values), CHUNK):
        yield list(values[i : i + CHUNK])


def _tasks(session: Session, sids: set[str]) -> dict[str, KnownTask]:
    rows: dict[str, TaskRecord] = {}
    for chunk in _chunks(sorted(sids)):
        for row in session.scalars(select(TaskRecord).where(TaskRecord.sid.in_(chunk))):
            rows[row.sid] = row
    accepted: dict[str, list[int | None]] = defaultdict(list)
    for chunk in _chunks(sorted(rows)):
        for task_sid, status, accepted_ms in session.execute(
            select(
                ReservationRecord.task_sid, ReservationRecord.status, ReservationRecord.accepted_ms
            ).where(ReservationRecord.task_sid.in_(chunk))
        ):
            if status in ACTIVE_RESERVATION_STATUSES or accepted_ms is not None:
                accepted[task_sid].append(accepted_ms)
    out = {}
    for sid, row in rows.items():
        attrs: dict[str, Any] = row.attributes or {}
        moments = [m for m in accepted.get(sid, []) if m is not None]
        out[sid] = KnownTask(
            sid=sid,
            direction=row.direction,
            status=row.status,
            queue_name=row.queue_name,
            policy_decision=row.policy_decision,
            internal=attrs.get("client_call") is True,
            answered=sid in accepted,
            agent_connected_ms=min(moments) if moments else None,
            customer_call_sid=row.customer_call_sid,
            worker_call_sid=attribute_facts(attrs).worker_call_sid,
            workflow_name=row.workflow_name,
            attributes=attrs,
        )
    return out


def _pauses(session: Session, recording_sids: list[str]) -> dict[str, tuple[PauseSpan, ...]]:
    events: dict[str, list[PauseEvent]] = defaultdict(list)
    for chunk in _chunks(recording_sids):
        for event in session.scalars(
            select(PauseEvent)
            .where(PauseEvent.recording_sid.in_(chunk))
            .order_by(PauseEvent.created_at, PauseEvent.id)
        ):
            events[str(event.recording_sid)].append(event)
    out: dict[str, tuple[PauseSpan, ...]] = {}
    for sid, rows in events.items():
        spans: list[PauseSpan] = []
        paused_at: datetime | None = None
        for event in rows:
            if event.action == "pause" and event.result == "paused" and paused_at is None:
                paused_at = event.created_at
            elif event.action == "resume" and event.result == "recording" and paused_at:
                spans.append(PauseSpan(paused_at, event.created_at))
                paused_at = None
        if paused_at is not None:
            spans.append(PauseSpan(paused_at, None))
        out[sid] = tuple(spans)
    return out


def known_legs(session: Session, call_sids: Iterable[str]) -> dict[str, KnownLeg]:
    """What flexrec knows about each of `call_sids` (every SID gets an entry)."""
    sids = sorted(set(call_sids))
    legs = {sid: KnownLeg(sid) for sid in sids}
    task_of: dict[str, str] = {}
    conference_of: dict[str, str] = {}  # leg -> conference SID, for legs only a conference names
    for chunk in _chunks(sids):
        for task_sid, call_sid in session.execute(
            select(TaskRecord.sid, TaskRecord.customer_call_sid).where(
                TaskRecord.customer_call_sid.in_(chunk)
            )
        ):
            legs[str(call_sid)].role = "customer"
            task_of.setdefault(str(call_sid), task_sid)
        for task_sid, call_sid in session.execute(
            select(ReservationRecord.task_sid, ReservationRecord.worker_call_sid).where(
                ReservationRecord.worker_call_sid.in_(chunk)
            )
        ):
            leg = legs[str(call_sid)]
            leg.role = leg.role or "agent"
            task_of.setdefault(leg.call_sid, task_sid)
        for target in session.scalars(
            select(RecordingTarget).where(RecordingTarget.call_sid.in_(chunk))
        ):
            leg = legs[target.call_sid]
            known = KnownTarget(
                target.leg, target.state, target.task_sid, target.last_error,
                target.replacements or 0,
            )  # fmt: skip
            leg.targets.append(known)
            leg.role = leg.role or ("customer" if target.leg == "customer" else "agent")
            task_of.setdefault(target.call_sid, target.task_sid)
        for part in session.scalars(
            select(ConferenceParticipantRecord).where(
                ConferenceParticipantRecord.call_sid.in_(chunk)
            )
        ):
            leg = legs[part.call_sid]
            label_role = {"customer": "customer", "worker": "agent"}.get(part.label or "")
            leg.role = leg.role or label_role or "participant"
            if part.friendly_name and part.friendly_name.startswith("WT"):
                task_of.setdefault(part.call_sid, part.friendly_name)  # Flex names it so
            else:
                conference_of.setdefault(part.call_sid, part.conference_sid)
    if conference_of:
        by_conference: dict[str, str] = {}
        for chunk in _chunks(sorted(set(conference_of.values()))):
            for task_sid, conference_sid in session.execute(
                select(TaskRecord.sid, TaskRecord.conference_sid).where(
                    TaskRecord.conference_sid.in_(chunk)
                )
            ):
                by_conference[str(conference_sid)] = task_sid
        for call_sid, conference_sid in conference_of.items():
            if conference_sid in by_conference:
                task_of.setdefault(call_sid, by_conference[conference_sid])
    recordings: list[RecordingRecord] = []
    for chunk in _chunks(sids):
        recordings.extend(
            session.scalars(select(RecordingRecord).where(RecordingRecord.call_sid.in_(chunk)))
        )
    pauses = _pauses(session, [r.sid for r in recordings])
    for rec in recordings:
        legs[str(rec.call_sid)].recordings[rec.sid] = KnownRecording(
            sid=rec.sid,
            status=rec.status,
            error_code=rec.error_code,
            by_flexrec=rec.target_id is not None,
            pauses=pauses.get(rec.sid, ()),
            stored_at=rec.created_at,
            ended_at=rec.completed_at,
            ended_while_live=rec.ended_while_live,
        )
    tasks = _tasks(session, set(task_of.values()))
    for call_sid, task_sid in task_of.items():
        legs[call_sid].task = tasks.get(task_sid)
    for task in tasks.values():
        # Flex names the agent's leg in the task's conference attributes; in customer-leg mode
        # no reservation row holds it, yet it tells when the agent came on the line.
        agent_leg = legs.get(task.worker_call_sid or "")
        if agent_leg is not None and agent_leg.task is None:
            agent_leg.task = task
            agent_leg.role = agent_leg.role or "agent"
    return legs


def service_runs(session: Session, since: datetime) -> list[RunSpan]:
    """The service's process runs alive since `since` (flexrec's clock), and the one before."""
    bound = since - RUNS_LOOKBACK
    columns = (ServiceRun.answering_at, ServiceRun.alive_at, ServiceRun.ended_at)
    rows = list(session.execute(select(*columns).where(ServiceRun.alive_at >= bound)))
    before = session.execute(
        select(*columns)
        .where(ServiceRun.alive_at < bound, ServiceRun.answering_at.is_not(None))
        .order_by(ServiceRun.alive_at.desc())
        .limit(1)
    ).first()
    if before is not None:
        rows.append(before)
    return [RunSpan(answering_at=a, alive_at=b, ended_at=c) for a, b, c in rows]
