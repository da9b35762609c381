"""Transcripts for the sample calls (sandbox and console tests), kept as the card-data stage
keeps them: words per channel with their times, card data replaced by markers, detections and
their audit rows written by the stage's own writer (`flexrec.pci.store.save_result`).

Words are scripted lines spread over each scripted turn; a call with `silenced_ms` gets the
customer's card reading as `[card number]` / `[security code]` inside that span, which the
sample audio holds as digital silence.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from flexrec.app.samples import SampleCall, Turn
from flexrec.pci.detect import CARD_NUMBER, SECURITY_CODE, Detection
from flexrec.pci.redact import MARKERS
from flexrec.pci.stage import StageResult
from flexrec.pci.store import save_result
from flexrec.transcription.base import Word

SAMPLE_ENGINE = "sample-script"
MARGIN_MS = 250
CHANNEL = {"customer": 1, "agent": 2}  # a customer-leg recording: customer first

LINES = {
    "agent": (
        "thank you for calling how can i help you today",
        "let me pull up your account",
        "i can see the order here",
        "that should arrive by friday",
        "is there anything else i can help with",
        "i am sorry about the delay",
        "let me check that with billing",
        "i have refunded the delivery charge",
    ),
    "customer": (
        "hi i am calling about my parcel",
        "it has not arrived yet",
        "the order number is on the email",
        "i was charged twice for delivery",
        "okay that is great thanks",
        "can you send me a confirmation",
        "no that is everything",
        "my postcode changed last month",
    ),
}
BEFORE_CARD = {
    "agent": "can i take the long number on the front of the card please",
    "customer": "yes i have the card here",
}
AFTER_CARD = "thank you that payment has gone through"


def _spread(line: str, turn: Turn) -> list[Word]:
    words = line.split()
    step = (turn.end_ms - turn.start_ms) / len(words)
    return [
        Word(w, round(turn.start_ms + i * step), round(turn.start_ms + (i + 0.8) * step))
        for i, w in enumerate(words)
    ]


def _card_detections(span: tuple[int, int]) -> list[Detection]:
    """The customer reads a 16-digit number then, for a long enough span, its code."""
    start, end = span[0] + MARGIN_MS, span[1] - MARGIN_MS
    if end - start < 6000:
        return [Detection(CARD_NUMBER, CHANNEL["customer"], start, end, "luhn", 16)]
    code_start = end - 1000
    return [
        Detection(CARD_NUMBER, CHANNEL["customer"], start, code_start - 500, "luhn", 16),
        Detection(SECURITY_CODE, CHANNEL["customer"], code_start, end, "near_card", 3),
    ]


def sample_transcript(call: SampleCall) -> StageResult:
    """What the card-data stage would have kept of the call (see the module docstring)."""
    words: dict[int, list[Word]] = {1: [], 2: []}
    turns: Sequence[Turn] = call.turns
    special: dict[int, str] = {}
    for start, end in call.silenced_ms:
        before = [i for i, t in enumerate(turns) if t.end_ms <= start]
        after = [i for i, t in enumerate(turns) if t.start_ms >= end and t.speaker == "agent"]
        if before:
            special[before[-1]] = BEFORE_CARD[turns[before[-1]].speaker]
        if after:
            special[after[0]] = AFTER_CARD
    said = {"agent": 0, "customer": 0}
    for index, turn in enumerate(turns):
        lines = LINES[turn.speaker]
        line = special.get(index, lines[said[turn.speaker] % len(lines)])
        said[turn.speaker] += 1
        words[CHANNEL[turn.speaker]].extend(_spread(line, turn))
    detections = [d for span in call.silenced_ms for d in _card_detections(span)]
    for d in detections:
        words[d.channel].append(Word(MARKERS[d.kind], d.start_ms, d.end_ms))
    for channel_words in words.values():
        channel_words.sort(key=lambda w: (w.start_ms, w.end_ms))
    return StageResult(
        kept_wav=b"",
        source_sha256="0" * 64,
        spans_ms=tuple(call.silenced_ms),
        detections=tuple(detections),
        transcript=words,
        engine=SAMPLE_ENGINE,
        mode="silence",
        margin_ms=MARGIN_MS,
        audio_s=call.duration_ms / 1000,
    )


def store_sample_transcript(session: Session, call: SampleCall) -> None:
    """Write the call's transcript, detections and audit rows (flushed, not committed)."""
    save_result(session, call.recording_sid, sample_transcript(call))
    session.flush()
