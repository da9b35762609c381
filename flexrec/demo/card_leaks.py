"""A card digit the demo found audible, kept so the decision can be replayed (issue 19).

Under load a demo run now and then keeps a card digit audible, and the next run, with pauses
landing elsewhere, does not: the leak must be explained from the run it happened in. For each
kept recording with a card digit audible, `keep_leak` writes one JSON file (a "bundle") with:
the truth's numbers and words (the simulator's test data), the misses, the call's legs and the
recording's start, end and pauses against the call (simulated clock), flexrec's pause events and
the pauses the stage is given, the stored detections and the sealed copy's redaction, and the
stage's inputs replayed: each channel's words as the engine gives them, the file's silences and
speech regions, with the replay's own detections and whether they equal the stored ones.

No unredacted audio is written anywhere: the recording is rendered again by the simulator in
memory (its SHA-256 is checked against the one the sealed copy names), transcribed again with
the run's engine (each channel's words depend on its audio alone: pocketsphinx decodes each
region afresh, faster-whisper is seeded per channel), and only the stage's inputs are kept.
`python -m flexrec.demo.card_leaks BUNDLE` re-runs the rules on a bundle without any audio.
"""

from __future__ import annotations

import hashlib
import json
import sys
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from flexrec.archive.models import ArchivedRecording, SealedObject
from flexrec.archive.pauses import downloaded_pause_spans
from flexrec.config import CardDataSettings
from flexrec.db.models import PauseEvent, RecordingRecord
from flexrec.pci.detect import Detection, DetectorConfig
from flexrec.pci.models import CardDetection
from flexrec.pci.redact import wav_duration_ms
from flexrec.pci.stage import CardDataStage, Pause, StageInputs
from flexrec.transcription.base import Word
from flexrec.transcription.factory import build_transcriber
from flexrec.transcription.feed import Region
from flexsim import SimRunner, render_media

BUNDLE_VERSION = 1


def leak_stage(service_env: dict[str, str]) -> CardDataStage:
    """The stage as the demo's service built it: its engine from the service's environment,
    every other card setting at its default (the demo's service gets no other)."""
    model = service_env.get("FLEXREC_TRANSCRIPTION_MODEL")
    # Not validated from this shell's environment: the service got none of its FLEXREC_ vars.
    values: dict[str, Any] = {
        "card_data": True,
        "transcription_engine": service_env.get("FLEXREC_TRANSCRIPTION_ENGINE", "pocketsphinx"),
        "transcription_model": Path(model) if model else None,
    }
    config = CardDataSettings.model_construct(**values)
    return CardDataStage(
        build_transcriber(config),
        DetectorConfig.with_patterns(config.card_extra_rules),
        mode=config.card_redaction,
        margin_ms=config.card_margin_ms,
    )


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _sim_facts(sim: SimRunner, recording_sid: str) -> tuple[dict[str, Any], bytes | None]:
    """The recording and its call's legs on the simulated clock (epoch s, and s from the
    recording's start), and its audio as the archive downloaded it (memory only)."""
    world = sim.world
    with world.lock:
        rec = world.recordings.get(recording_sid)
        if rec is None:
            return {}, None
        call = world.calls.get(rec.call_sid)
        legs = [
            c
            for c in world.calls.values()
            if call is not None and c.interaction_id and c.interaction_id == call.interaction_id
        ]
        start = rec.start_time

        def rel(value: float | None) -> float | None:
            return None if value is None else round(value - start, 3)

        facts: dict[str, Any] = {
            "recording": {
                "call_sid": rec.call_sid,
                "track": rec.track,
                "source": rec.source,
                "status": rec.status,
                "start_time": rec.start_time,
                "end_time": rec.end_time,
                "duration_s": rec.duration_s,
                "pauses": [
                    {
                        "behavior": p.behavior,
                        "start_s_in_recording": rel(p.start),
                        "end_s_in_recording": rel(p.end),
                    }
                    for p in rec.pauses
                ],
            },
            "legs": [
                {
                    "sid": c.sid,
                    "direction": c.direction,
                    "this_recording": c.sid == rec.call_sid,
                    "status": c.status,
                    "created_s_from_recording": rel(c.date_created),
                    "start_s_from_recording": rel(c.start_time),
                    "end_s_from_recording": rel(c.end_time),
                }
                for c in sorted(legs, key=lambda c: c.ordinal)
            ],
        }
    try:
        wav = render_media(world, rec, "wav", 2)
    except Exception as exc:  # a recording the simulator cannot render again: say so
        facts["render_error"] = repr(exc)
        return facts, None
    return facts, wav


def _flexrec_facts(session: Session, row: ArchivedRecording) -> dict[str, Any]:
    """What flexrec knew: its pause events, the recording's create bounds, the stored
    detections and the sealed copy's redaction report."""
    match = PauseEvent.recording_sid == row.recording_sid
    if row.task_sids:
        match = or_(
            match, PauseEvent.recording_sid.is_(None) & PauseEvent.task_sid.in_(row.task_sids)
        )
    events = session.scalars(select(PauseEvent).where(match).order_by(PauseEvent.id)).all()
    record = session.get(RecordingRecord, row.recording_sid)
    sealed = session.scalars(
        select(SealedObject).where(
            SealedObject.recording_sid == row.recording_sid, SealedObject.kind == "audio"
        )
    ).first()
    stored = session.scalars(
        select(CardDetection)
        .where(CardDetection.recording_sid == row.recording_sid)
        .order_by(CardDetection.start_ms)
    ).all()
    return {
        "recording_started_at": _iso(row.recording_started_at),
        "duration_ms": row.duration_ms,
        "paused_ms_on_row": row.paused_ms,
        "create_sent_ms": record.create_sent_ms if record else None,
        "create_answered_ms": record.create_answered_ms if record else None,
        "start_time_ms": record.start_time_ms if record else None,
        "pause_events": [
            {
                "action": e.action,
                "result": e.result,
                "actor": e.actor,
                "created_at": _iso(e.created_at),
                "sent_at": _iso(e.sent_at),
                "answered_at": _iso(e.answered_at),
            }
            for e in events
        ],
        "source_sha256": sealed.source_sha256 if sealed else None,
        "redaction": sealed.redaction if sealed else None,
        "detections": [
            {
                "kind": d.kind,
                "channel": d.channel,
                "start_ms": d.start_ms,
                "end_ms": d.end_ms,
                "rule": d.rule,
                "digit_count": d.digit_count,
            }
            for d in stored
        ],
    }


def inputs_json(inputs: StageInputs) -> dict[str, Any]:
    """The stage's inputs as JSON (`inputs_of` reads them back)."""
    return {
        "duration_ms": inputs.duration_ms,
        "silent_spans": [list(s) for s in inputs.silent_spans],
        "regions": {
            str(ch): [[r.start_ms, r.end_ms] for r in found] for ch, found in inputs.regions.items()
        },
        "pauses": [list(p) for p in inputs.pauses],
        "words": {
            str(ch): [[w.text, w.start_ms, w.end_ms] for w in said]
            for ch, said in inputs.words.items()
        },
    }


def inputs_of(data: dict[str, Any]) -> StageInputs:
    """A bundle's `stage_inputs` as the stage reads them."""
    pauses: list[Pause] = []
    for p in data["pauses"]:
        pauses.append(tuple(int(v) for v in p))  # type: ignore[arg-type]
    return StageInputs(
        duration_ms=int(data["duration_ms"]),
        silent_spans=tuple((int(a), int(b)) for a, b in data["silent_spans"]),
        regions={
            int(ch): tuple(Region(int(a), int(b)) for a, b in found)
            for ch, found in data["regions"].items()
        },
        pauses=tuple(pauses),
        words={
            int(ch): [Word(str(t), int(a), int(b)) for t, a, b in said]
            for ch, said in data["words"].items()
        },
    )


def _detection_json(d: Detection) -> dict[str, Any]:
    return d.public()


def still_audible(truth: dict[str, Any], silent: list[tuple[int, int]]) -> list[str]:
    """Card digit words of the truth that `silent` spans (silenced or already silent) do not
    cover whole: what the kept audio would still say (each digit's truth span, one line each)."""
    lines = []
    for number in truth["numbers"]:
        if not number["card_data"]:
            continue
        channel = number["channel"]
        for d in number["digits"]:
            if not d["audible"]:
                continue
            covered = any(a <= d["start_ms"] and d["end_ms"] <= b for a, b in silent)
            if not covered:
                lines.append(
                    f"{number['kind']} {channel} {d['digits']} {d['start_ms']}-{d['end_ms']} ms"
                )
    return lines


def keep_leak(
    folder: Path,
    sim: SimRunner,
    session: Session,
    row: ArchivedRecording,
    truth: dict[str, Any],
    misses: list[str],
    stage: CardDataStage | None,
) -> Path:
    """Write the bundle of one recording that kept card digits audible; returns its path."""
    folder.mkdir(parents=True, exist_ok=True)
    sim_facts, wav = _sim_facts(sim, row.recording_sid)
    flexrec = _flexrec_facts(session, row)
    bundle: dict[str, Any] = {
        "version": BUNDLE_VERSION,
        "recording_sid": row.recording_sid,
        "misses": misses,
        "truth": truth,
        "simulator": sim_facts,
        "flexrec": flexrec,
    }
    if wav is not None and stage is not None:
        source = hashlib.sha256(wav).hexdigest()
        behavior = next((p["behavior"] for p in sim_facts["recording"]["pauses"]), "silence")
        pauses = downloaded_pause_spans(session, row.recording_sid, behavior, wav_duration_ms(wav))
        result, inputs = stage.trace(wav, None, pauses)
        replayed = [_detection_json(d) for d in result.detections]
        bundle["replay"] = {
            "engine": result.engine,
            "source_sha256": source,
            "same_audio_as_archived": source == flexrec["source_sha256"],
            "pause_behavior": behavior,
            "detections": replayed,
            "spans_ms": [list(s) for s in result.spans_ms],
            "same_detections_as_stored": replayed == flexrec["detections"],
            "still_audible": still_audible(truth, [*result.spans_ms, *inputs.silent_spans]),
        }
        bundle["stage_inputs"] = inputs_json(inputs)
    path = folder / f"{row.recording_sid}.json"
    path.write_text(json.dumps(bundle, indent=1, default=str))
    return path


def replay(bundle: dict[str, Any], stage: CardDataStage | None = None) -> dict[str, Any]:
    """The rules re-run on a bundle's stage inputs (no audio, no engine): the detections and
    the truth's card digit words they leave audible."""
    stage = stage or CardDataStage(None)
    inputs = inputs_of(bundle["stage_inputs"])
    detections, spans = stage.decide(inputs)
    return {
        "detections": [asdict(d) for d in detections],
        "spans_ms": spans,
        "still_audible": still_audible(bundle["truth"], [*spans, *inputs.silent_spans]),
    }


def main(argv: list[str]) -> int:
    """`python -m flexrec.demo.card_leaks BUNDLE...`: each bundle's rules re-run, printed."""
    for name in argv:
        bundle = json.loads(Path(name).read_text())
        out = replay(bundle)
        print(f"== {name}")
        for d in out["detections"]:
            print(
                f"  {d['kind']:14} ch{d['channel']} {d['start_ms']}-{d['end_ms']} ms "
                f"{d['rule']} ({d['digit_count']} digits)"
            )
        print(f"  still audible: {len(out['still_audible'])}")
        for line in out["still_audible"]:
            print(f"    {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
