"""Card data silenced in a call, as the console shows it: the transcript beside the player, the
call's marks ("card number spoken while recording, agent alice, 02:31-02:44, silenced"), the
list a supervisor coaches from, and the pause lane without the silenced stretches.

Read-only over the card-data stage's rows (flexrec.pci: transcripts, card_detections) and the
archive's manifest (the spans actually silenced); nothing here holds or shows a digit. Who may
see a call is the one rule of flexrec.archive.visibility, applied by the caller (one call) or
in the list's SQL (`visibility_clause`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from flexrec.archive.models import ArchivedRecording, SealedObject
from flexrec.archive.pauses import PauseGap
from flexrec.console.call_timeline import AgentSpan, agent_spans
from flexrec.console.queries import channel_roles
from flexrec.pci.findings import Finding, describe, group_findings
from flexrec.pci.models import CardDetection, Transcript

DEFAULT_MARGIN_MS = 250
"""Around a detection when the manifest does not say what was silenced (the stage's default)."""
SILENCE_SLACK_MS = 60
"""The analysis finds digital silence on 20 ms frames: a pause gap this close to a silenced span
is the same silence."""
MIN_GAP_MS = 300
"""What is left of a pause gap once the silenced spans are taken out, below which it is none."""


def _agent_at(agents: Sequence[AgentSpan], at_ms: int) -> AgentSpan | None:
    """The agent on the call at `at_ms` (the latest to join of those on it), else None."""
    on = [a for a in agents if a.start_ms <= at_ms and (a.end_ms is None or at_ms < a.end_ms)]
    return on[-1] if on else None


def marks(
    findings: Sequence[Finding], roles: Sequence[str], agents: Sequence[AgentSpan]
) -> list[dict[str, Any]]:
    """Each finding JSON-ready, with the agent on the call when it began and its sentence."""
    out = []
    for finding in findings:
        agent = _agent_at(agents, finding.start_ms)
        out.append(
            {
                **finding.public(roles),
                "agent": agent.name if agent else None,
                "worker_sid": agent.worker_sid if agent else None,
                "text": describe(finding, agent.name if agent else None),
            }
        )
    return out


def _detections(session: Session, recording_sid: str) -> list[CardDetection]:
    return list(
        session.scalars(
            select(CardDetection)
            .where(CardDetection.recording_sid == recording_sid)
            .order_by(CardDetection.start_ms, CardDetection.id)
        )
    )


def silenced_spans(
    session: Session, recording_sid: str, detections: Sequence[CardDetection]
) -> list[tuple[int, int]]:
    """The spans silenced in the kept audio: the manifest's record, else each detection with
    the stage's default margin (rows written before the manifest kept spans)."""
    report = session.scalar(
        select(SealedObject.redaction).where(
            SealedObject.recording_sid == recording_sid, SealedObject.kind == "audio"
        )
    )
    spans = (report or {}).get("spans_ms") if isinstance(report, dict) else None
    if isinstance(spans, list) and spans:
        return [(int(a), int(b)) for a, b in spans]
    merged: list[tuple[int, int]] = []
    for start, end in sorted(
        (max(0, d.start_ms - DEFAULT_MARGIN_MS), d.end_ms + DEFAULT_MARGIN_MS) for d in detections
    ):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def without_silenced(gaps: Sequence[PauseGap], spans: Sequence[tuple[int, int]]) -> list[PauseGap]:
    """Pause gaps less the silenced spans: the analysis reads any digital silence as a pause,
    and a silenced card number is digital silence the agent did not ask for."""
    if not spans:
        return list(gaps)
    cut = sorted((a - SILENCE_SLACK_MS, b + SILENCE_SLACK_MS) for a, b in spans)
    out: list[PauseGap] = []
    for gap in gaps:
        if gap.end_ms == gap.start_ms:  # a skip-mode point: no audio of its own to be silence
            out.append(gap)
            continue
        pieces = [(gap.start_ms, gap.end_ms)]
        for a, b in cut:
            pieces = [
                part
                for start, end in pieces
                for part in ((start, min(end, a)), (max(start, b), end))
                if part[1] > part[0]
            ]
        out.extend(PauseGap(s, e, e - s) for s, e in pieces if e - s >= MIN_GAP_MS)
    return out


def pauses_outside_card_data(
    session: Session, rec: ArchivedRecording, gaps: Sequence[PauseGap]
) -> list[PauseGap]:
    """The call's pause gaps without the stretches silenced for card data (see
    `without_silenced`); unchanged for a call with none."""
    detections = _detections(session, rec.recording_sid)
    if not detections:
        return list(gaps)
    return without_silenced(gaps, silenced_spans(session, rec.recording_sid, detections))


def transcript_view(session: Session, rec: ArchivedRecording) -> dict[str, Any]:
    """One call's transcript per channel and its card-data marks (the player's side panel).

    `words` are `[word, start_ms, end_ms]` triples (compact: an hour's call holds ~10,000);
    a silenced stretch is one marker word such as `[card number]`. `checked` says whether the
    card-data stage ran on the call at all.
    """
    roles = channel_roles(rec)
    row = session.scalars(
        select(Transcript).where(Transcript.recording_sid == rec.recording_sid)
    ).one_or_none()
    detections = _detections(session, rec.recording_sid)
    findings = group_findings(detections)
    channels = []
    for key, words in sorted((row.words if row else {}).items(), key=lambda kv: int(kv[0])):
        channel = int(key)
        channels.append(
            {
                "channel": channel,
                "role": roles[channel - 1] if channel <= len(roles) else f"channel {channel}",
                "words": [[str(w), int(a), int(b)] for w, a, b in words],
            }
        )
    return {
        "recording_sid": rec.recording_sid,
        "checked": row is not None,
        "engine": row.engine if row else None,
        "channels": channels,
        "card_data": marks(findings, roles, agent_spans(session, rec) if findings else []),
        "silenced": [list(s) for s in silenced_spans(session, rec.recording_sid, detections)]
        if detections
        else [],
    }


SUMMARY_CALLS = 200
"""The count per agent covers the latest calls with card data, this many at most."""


@dataclass(frozen=True)
class CardDataPage:
    """Calls with card data silenced, newest first, and per agent the readings of the latest
    `SUMMARY_CALLS` calls (for coaching)."""

    calls: list[dict[str, Any]]
    total: int
    per_agent: list[dict[str, Any]]
    summary_calls: int


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    aware = value if value.tzinfo else value.replace(tzinfo=UTC)
    return aware.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _call(session: Session, recording_sid: str, silenced_at: datetime) -> dict[str, Any]:
    rec = session.scalars(
        select(ArchivedRecording).where(ArchivedRecording.recording_sid == recording_sid)
    ).one()
    findings = group_findings(_detections(session, recording_sid))
    return {
        "recording_sid": recording_sid,
        "call_sid": rec.call_sid,
        "started_at": _iso(rec.recording_started_at or rec.created_at),
        "silenced_at": _iso(silenced_at),
        "agent": rec.agent_identity,
        "worker_sid": rec.worker_sid,
        "queue": rec.queue_name,
        "direction": rec.direction,
        "marks": marks(findings, channel_roles(rec), agent_spans(session, rec)),
    }


def call_card_data(session: Session, recording_sid: str) -> dict[str, Any] | None:
    """One call's card data as the list shows it (its marks naming the agent on the call);
    None when it has none or has left the archive (the card-data webhook's body)."""
    silenced_at = session.scalar(
        select(func.max(CardDetection.silenced_at)).where(
            CardDetection.recording_sid == recording_sid
        )
    )
    known = session.scalar(
        select(ArchivedRecording.id).where(ArchivedRecording.recording_sid == recording_sid)
    )
    if silenced_at is None or known is None:
        return None
    return _call(session, recording_sid, silenced_at)


def card_data_calls(
    session: Session, visible: ColumnElement[bool], *, limit: int = 25, offset: int = 0
) -> CardDataPage:
    """The calls the caller may see (`visible`, on ArchivedRecording) with card data silenced,
    each with its marks, the newest silencing first; readings per agent on the call then."""
    newest = func.max(CardDetection.silenced_at)
    base = (
        select(CardDetection.recording_sid, newest.label("silenced_at"))
        .join(ArchivedRecording, ArchivedRecording.recording_sid == CardDetection.recording_sid)
        .where(visible)
        .group_by(CardDetection.recording_sid)
        .order_by(newest.desc(), CardDetection.recording_sid)
    )
    total = session.scalar(select(func.count()).select_from(base.order_by(None).subquery())) or 0
    latest = session.execute(base.limit(max(SUMMARY_CALLS, offset + limit))).all()
    built: dict[str, dict[str, Any]] = {}

    def call(index: int) -> dict[str, Any]:
        sid, silenced_at = latest[index]
        if sid not in built:
            built[sid] = _call(session, sid, silenced_at)
        return built[sid]

    page = [call(i) for i in range(offset, min(len(latest), offset + limit))]
    counted = min(len(latest), SUMMARY_CALLS)
    readings: dict[tuple[str | None, str | None], list[int]] = {}
    for index in range(counted):
        for mark in call(index)["marks"]:
            tally = readings.setdefault((mark["agent"], mark["worker_sid"]), [0, 0])
            tally[0] += 1
        for key in {(m["agent"], m["worker_sid"]) for m in call(index)["marks"]}:
            readings[key][1] += 1
    per_agent = [
        {"agent": agent, "worker_sid": worker, "readings": n, "calls": calls}
        for (agent, worker), (n, calls) in sorted(
            readings.items(), key=lambda kv: (-kv[1][0], kv[0][0] or "")
        )
    ]
    return CardDataPage(page, total, per_agent, counted)
