"""Ground truth: what really happened in each simulated interaction, to score the service with.

The engine keeps an `InteractionRecord` per interaction (keyed by the customer leg's call SID;
an internal agent-to-agent call by its first leg). `interaction_truth` joins it with the world
(timeline, recordings on every leg, final task attributes) into plain JSON.

Eligibility under the default view "record every external customer voice call": a call is
eligible when a customer leg was answered and an agent was connected to it. Not eligible:
abandoned in queue, outbound not answered / busy, and internal agent-to-agent calls (no
customer on the line; the service's default policy records customers only).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flexsim.world import EARLY_END_REASONS, Recording, Task, World

MS = 1000.0


@dataclass
class InteractionRecord:
    """What the engine did in one interaction (the parts the world does not keep)."""

    interaction_id: str
    index: int
    scenario: str
    direction: str  # "inbound" | "outbound" | "internal"
    started_at: float
    customer_call_sid: str | None = None
    call_sids: list[str] = field(default_factory=list)
    worker_sids: list[str] = field(default_factory=list)
    task_sids: list[str] = field(default_factory=list)
    conference_sids: list[str] = field(default_factory=list)
    # Every attribute patch Flex wrote (deep-merged into the task attributes).
    flex_writes: list[dict[str, Any]] = field(default_factory=list)
    notes: dict[str, Any] = field(default_factory=dict)
    # The account variants this call ran with (the axes that applied; flexsim.variants).
    variants: dict[str, str] = field(default_factory=dict)
    finished: bool = False


def _ms(value: float | None) -> int | None:
    return None if value is None else round(value * MS)


def _leaf_paths(
    patch: dict[str, Any], prefix: tuple[str, ...] = ()
) -> list[tuple[tuple[str, ...], Any]]:
    out: list[tuple[tuple[str, ...], Any]] = []
    for key, value in patch.items():
        if isinstance(value, dict) and value:
            out.extend(_leaf_paths(value, (*prefix, key)))
        else:
            out.append(((*prefix, key), value))
    return out


def _lookup(attributes: Any, path: tuple[str, ...]) -> tuple[bool, Any]:
    node = attributes
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return False, None
        node = node[key]
    return True, node


def flex_writes_lost(attributes: dict[str, Any], writes: list[dict[str, Any]]) -> list[str]:
    """Dotted paths of values Flex wrote that the final attributes no longer hold."""
    lost = []
    for patch in writes:
        for path, value in _leaf_paths(patch):
            found, current = _lookup(attributes, path)
            if not found or current != value:
                lost.append(".".join(path))
    return sorted(set(lost))


def _recording_truth(
    world: World, recording: Recording, expected_start: float | None
) -> dict[str, Any]:
    call = world.calls.get(recording.call_sid)
    gap_ms = None
    if expected_start is not None:
        gap_ms = round((recording.start_time - expected_start) * MS)
    return {
        "sid": recording.sid,
        "call_sid": recording.call_sid,
        "conference_sid": recording.conference_sid,
        "party": call.party if call else None,
        "worker_sid": call.worker_sid if call else None,
        "status": recording.status,
        "channels": recording.channels,
        "track": recording.track,
        "source": recording.source,
        "start_time_ms": _ms(recording.start_time),
        "end_time_ms": _ms(recording.end_time),
        "start_gap_ms": gap_ms,
        "duration_s": recording.duration_s,
        "error_code": recording.error_code,
        "deleted": recording.deleted,
        "pauses": [
            {"start_ms": _ms(p.start), "end_ms": _ms(p.end), "behavior": p.behavior}
            for p in recording.pauses
        ],
        "origin": recording.origin,
        "end_reason": recording.end_reason,
        "recorded_spans": [
            [_ms(a), _ms(b)] for a, b in recording.recorded_spans(world.clock.now())
        ],
    }


# Early ends named as fault kinds (flexsim.interference).
_EARLY_KINDS = {
    "early-absent": "recording_absent",
    "early-failed": "recording_failed",
    "stopped-by-other-client": "recording_stopped",
}


def _early_end_fault(world: World, recording: Recording) -> dict[str, Any]:
    """One recording that interference ended while its call was live, and what followed on
    the same leg: the next recording started there (by anyone) and how long after."""
    call = world.calls.get(recording.call_sid)
    end = recording.end_time if recording.end_time is not None else recording.start_time
    following = [
        r
        for r in (world.recordings[sid] for sid in (call.recordings if call else []))
        if r.sid != recording.sid and r.conference_sid is None and r.start_time >= end
    ]
    nxt = min(following, key=lambda r: r.start_time, default=None)
    return {
        "kind": _EARLY_KINDS[str(recording.end_reason)],
        "at_ms": _ms(end),
        "recording_sid": recording.sid,
        "call_sid": recording.call_sid,
        "party": call.party if call else None,
        "status": recording.status,
        "error_code": recording.error_code,
        "next_recording": None
        if nxt is None
        else {"sid": nxt.sid, "gap_ms": round((nxt.start_time - end) * MS)},
    }


def _blind_write_faults(task: Task) -> list[dict[str, Any]]:
    return [
        {
            "kind": "blind_write",
            "at_ms": _ms(write["at"]),
            "task_sid": task.sid,
            "by": write["by"],
            "revision": write["revision"],
            "dropped": write["dropped"],
            "added": write["added"],
        }
        for write in task.blind_writes
    ]


def _sid_of(entry: dict[str, Any]) -> str | None:
    url = str(entry.get("url") or "")
    return url.rstrip("/").rsplit("/", 1)[-1].split(".", 1)[0] if url else None


def _media_truth(
    world: World, attributes: dict[str, Any], customer_call_sid: str | None
) -> dict[str, Any]:
    """How the task's `conversations.media` links its call's recordings.

    The rule (docs/design.md, "Links"): one VoiceRecording entry per customer-leg dual call
    recording that stored media, each with its own start time; none for a recording that
    stored nothing (absent, failed); other writers' entries may stay, after ours: Insights
    plays the first VoiceRecording, which must be the customer leg's own dual recording.
    """
    conversations = attributes.get("conversations")
    media = conversations.get("media") if isinstance(conversations, dict) else None
    voice = [
        m
        for m in (media if isinstance(media, list) else [])
        if isinstance(m, dict) and m.get("type") == "VoiceRecording"
    ]
    sids = [_sid_of(m) for m in voice]

    def customer_dual(sid: str | None) -> bool:
        # The customer leg's own dual-channel recording: not a mono one, and not Flex's
        # conference recording (whose call_sid may be the customer's leg).
        recording = world.recordings.get(sid or "")
        return (
            recording is not None
            and recording.call_sid == customer_call_sid
            and recording.conference_sid is None
            and recording.channels == 2
        )

    call = world.calls.get(customer_call_sid or "")
    with_media = [
        sid
        for sid in (call.recordings if call else [])
        if customer_dual(sid) and world.recordings[sid].status not in ("absent", "failed")
    ]
    without_media = [
        sid
        for sid in sids
        if sid in world.recordings
        and world.recordings[sid].status in ("absent", "failed")
        and customer_dual(sid)
    ]
    first_ok = bool(sids) and customer_dual(sids[0])
    missing = [sid for sid in with_media if sid not in sids]
    return {
        "voice_recordings": len(voice),
        "exactly_one": len(voice) == 1,
        "recording_sid": sids[0] if sids else None,
        "recording_sids": sids,
        # What Insights plays (the first VoiceRecording) is the customer leg's dual recording.
        "url_is_customer_leg": first_ok,
        "missing": missing,  # customer-leg dual recordings with media and no entry
        "without_media": without_media,  # entries naming a recording that stored nothing
        "linked": first_ok and not missing and not without_media,
        "media": voice,
    }


def interaction_truth(world: World, record: InteractionRecord) -> dict[str, Any]:
    """The ground truth of one interaction as JSON-able data."""
    with world.lock:
        timeline = world.timelines.get(record.interaction_id)
        answered = timeline.customer_answered_at if timeline else None
        connected = timeline.agent_connected_at if timeline else None
        ended = timeline.ended_at if timeline else None
        eligible = bool(timeline.eligible) if timeline else False
        expected_start = connected if connected is not None else answered
        legs = []
        recordings = []
        conference_recordings = []  # Flex's own: of the conference, not of a leg
        faults: list[dict[str, Any]] = []
        for sid in record.call_sids:
            call = world.calls.get(sid)
            if call is None:
                continue
            legs.append(
                {
                    "call_sid": sid,
                    "party": call.party,
                    "direction": call.direction,
                    "worker_sid": call.worker_sid,
                    "status": call.status,
                    "start_time_ms": _ms(call.start_time),
                    "end_time_ms": _ms(call.end_time),
                }
            )
            for rec_sid in call.recordings:
                recording = world.recordings.get(rec_sid)
                if recording is None:
                    continue
                found = _recording_truth(world, recording, expected_start)
                if recording.end_reason in EARLY_END_REASONS:
                    faults.append(_early_end_fault(world, recording))
                if recording.conference_sid:
                    conference_recordings.append(found)
                else:
                    recordings.append(found)
        tasks = []
        for task_sid in record.task_sids:
            task = world.tasks.get(task_sid)
            if task is None:
                continue
            faults.extend(_blind_write_faults(task))
            tasks.append(
                {
                    "task_sid": task.sid,
                    "assignment_status": task.assignment_status,
                    "reason": task.reason,
                    "revision": task.revision,
                    "attributes": task.attributes,
                    "media": _media_truth(world, task.attributes, record.customer_call_sid),
                    "flex_writes_lost": flex_writes_lost(task.attributes, record.flex_writes),
                }
            )
        speech: dict[str, list[list[int | None]]] = {}
        holds: list[list[int | None]] = []
        presences: list[dict[str, Any]] = []
        if timeline is not None:
            for utterance in timeline.utterances:
                speech.setdefault(utterance.speaker, []).append(
                    [_ms(utterance.start), _ms(utterance.end)]
                )
            holds = [[_ms(a), _ms(b)] for a, b in timeline.holds]
            presences = [
                {
                    "speaker": p.speaker,
                    "call_sid": p.call_sid,
                    "start_ms": _ms(p.start),
                    "end_ms": _ms(p.end),
                }
                for p in timeline.presences
            ]
        return {
            "interaction_id": record.interaction_id,
            "scenario": record.scenario,
            "direction": record.direction,
            "eligible": eligible,
            "finished": record.finished,
            "customer_call_sid": record.customer_call_sid,
            "worker_sids": list(record.worker_sids),
            "conference_sids": list(record.conference_sids),
            "legs": legs,
            "customer_answered_at_ms": _ms(answered),
            "agent_connected_at_ms": _ms(connected),
            "ended_at_ms": _ms(ended),
            # Recording may start once the customer answered and an agent is connected
            # (the "answer" policy); it cannot outlast the customer leg.
            "expected_window": {"start_ms": _ms(expected_start), "end_ms": _ms(ended)}
            if eligible
            else None,
            "speech": speech,
            "holds": holds,
            "presences": presences,
            "recordings": recordings,
            "conference_recordings": conference_recordings,
            "tasks": tasks,
            # Interference that hit this call (flexsim.interference), oldest first.
            "faults": sorted(faults, key=lambda f: (f["at_ms"] or 0, f["kind"])),
            "notes": dict(record.notes),
            "variants": dict(record.variants),
            # A card payment taken in the call (card, expiry, code, the agent's pause plan);
            # where each digit was heard is per recording: `SimRunner.word_truth(RE)`.
            "card_payment": timeline.payment.truth()
            if timeline is not None and timeline.payment is not None
            else None,
        }


def all_truth(world: World, records: list[InteractionRecord]) -> list[dict[str, Any]]:
    """Ground truth of every interaction, oldest first."""
    return [interaction_truth(world, record) for record in records]
