"""Word-level ground truth of a recording: every word each channel holds, and every number.

Times are media milliseconds (from the recording's start, pauses that cut audio out removed),
so they index the downloaded file directly. A word under a pause that writes silence is listed
with `audible: false`: it was spoken but is not in the audio.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from flexsim.audio.plan import LegPlan, SpeechPiece, plan_leg
from flexsim.speech.render import utterance_words
from flexsim.words import CARD_KINDS, SpokenNumber, Word
from flexsim.world import Recording, World

Span = tuple[float, float]
AUDIBLE_SHARE = 0.5  # a word counts as heard when at least half of it is in the audio


def _media_ms(plan: LegPlan, t: float) -> int:
    removed = sum(max(0.0, min(e, t) - s) for s, e in plan.skipped if s < t)
    return round((t - plan.start - removed) * 1000)


def _covered(start: float, end: float, spans: Iterable[Span]) -> float:
    return sum(max(0.0, min(end, e) - max(start, s)) for s, e in spans)


def _heard_words(plan: LegPlan, pieces: list[SpeechPiece]) -> list[tuple[Word, str, bool]]:
    """(word, speaker, audible) for every word whose larger part falls in a piece."""
    out: list[tuple[Word, str, bool]] = []
    for piece in pieces:
        words = utterance_words(
            plan.seed,
            plan.voice_key(piece.speaker),
            piece.utterance_start,
            piece.utterance_end,
            piece.words,
        )
        for word in words:
            length = max(word.end - word.start, 1e-6)
            if _covered(word.start, word.end, [(piece.start, piece.end)]) / length < AUDIBLE_SHARE:
                continue
            cut = _covered(word.start, word.end, plan.silenced + plan.skipped) / length
            out.append((word, piece.speaker, cut < AUDIBLE_SHARE))
    out.sort(key=lambda item: item[0].start)
    return out


def recording_words(world: World, recording: Recording) -> dict[str, list[dict[str, Any]]]:
    """Per channel ("channel1", "channel2"): the words spoken, in order, media ms."""
    plan = plan_leg(world, recording)
    result: dict[str, list[dict[str, Any]]] = {}
    for name, pieces in (("channel1", plan.channel1), ("channel2", plan.channel2)):
        result[name] = [
            {
                "word": word.text,
                "start_ms": _media_ms(plan, word.start),
                "end_ms": _media_ms(plan, word.end),
                "speaker": speaker,
                "digits": word.digits,
                "number_id": word.number_id,
                "audible": audible,
            }
            for word, speaker, audible in _heard_words(plan, pieces)
            if not _skipped(plan, word)
        ]
    return result


def _skipped(plan: LegPlan, word: Word) -> bool:
    length = max(word.end - word.start, 1e-6)
    return _covered(word.start, word.end, plan.skipped) / length >= AUDIBLE_SHARE


def recording_numbers(
    world: World, recording: Recording, scripted: Iterable[SpokenNumber] = ()
) -> list[dict[str, Any]]:
    """Every number spoken in the recording's channels: kind, digits, and per digit word its
    media span and whether it is audible (card data when `kind` is card, expiry or code)."""
    words = recording_words(world, recording)
    known = {n.number_id: n for n in scripted}
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for channel, listed in words.items():
        for entry in listed:
            number_id = entry["number_id"]
            if not number_id or not entry["digits"]:
                continue
            spoken = known.get(number_id) or SpokenNumber(
                number_id, number_id.split(":", 1)[0], "", entry["speaker"], "reading"
            )
            item = out.setdefault(
                (channel, number_id),
                {
                    "number_id": number_id,
                    "kind": spoken.kind,
                    "card_data": spoken.kind in CARD_KINDS,
                    "role": spoken.role,
                    "speaker": entry["speaker"],
                    "channel": channel,
                    "spoken_digits": spoken.digits,
                    "digits": [],
                },
            )
            item["digits"].append(
                {
                    "digits": entry["digits"],
                    "start_ms": entry["start_ms"],
                    "end_ms": entry["end_ms"],
                    "audible": entry["audible"],
                }
            )
    for item in out.values():
        if not item["spoken_digits"]:  # a distractor: what its words said
            item["spoken_digits"] = "".join(d["digits"] for d in item["digits"])
    return list(out.values())


def word_truth(world: World, recording_sid: str) -> dict[str, Any] | None:
    """`{"channels": {"channel1": [word...], "channel2": [...]}, "numbers": [...]}` for a
    recording (media ms), None for one the account does not have."""
    with world.lock:
        recording = world.recordings.get(recording_sid)
        call = world.calls.get(recording.call_sid) if recording is not None else None
        timeline = world.timelines.get(call.interaction_id or "") if call is not None else None
    if recording is None:
        return None
    scripted = timeline.scripted_numbers() if timeline is not None else []
    return {
        "channels": recording_words(world, recording),
        "numbers": recording_numbers(world, recording, scripted),
    }
